package server

import (
	"errors"
	"fmt"

	"github.com/opsbook/opsbook/engine/archive"
	"github.com/opsbook/opsbook/engine/flow"
)

// Limits on an uploaded flow folder (docs/API.md).
const (
	maxArchiveBytes = 16 << 20 // compressed upload
	maxArchiveFiles = 500
	maxFileBytes    = 1 << 20  // one file, as for a cell source
	maxTotalBytes   = 32 << 20 // all files, uncompressed
)

var archiveLimits = archive.Limits{Archive: maxArchiveBytes, Files: maxArchiveFiles, File: maxFileBytes, Total: maxTotalBytes, Ratio: 200}

// archiveError is a problem with an uploaded archive, said for people.
type archiveError struct{ msg string }

func (e *archiveError) Error() string { return e.msg }

func badArchive(format string, args ...any) error {
	return &archiveError{msg: fmt.Sprintf(format, args...)}
}

// readArchive reads a flow folder from a .tar.gz or .zip into memory, with
// engine/archive's checks (links, devices, absolute paths, `..`, repeated
// or case-folded names, too many or too large files, bombs). It strips one
// top-level folder, whose name it returns (the flow's slug).
func readArchive(data []byte, contentType string) ([]flow.File, string, error) {
	files, top, err := archive.Read(data, contentType, archiveLimits)
	if err != nil {
		var ae *archive.Error
		if errors.As(err, &ae) {
			return nil, "", &archiveError{msg: ae.Msg}
		}
		return nil, "", err
	}
	return files, top, nil
}

var errArchive *archiveError

func isArchiveError(err error) bool { return errors.As(err, &errArchive) }
