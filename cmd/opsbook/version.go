package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version is the release, set at build time (make build does):
//
//	go build -ldflags "-X main.version=v1.2.3" ./cmd/opsbook
//
// commit and date stand in for the go command's vcs.* settings, which a
// build outside a git checkout (a tarball, a git worktree, -buildvcs=false)
// does not get.
var version, commit, date = "dev", "", ""

// buildInfo is what `opsbook version` prints: the release, and the commit
// and its time as the go command recorded them (vcs.* build settings; a
// build outside a git checkout, or with -buildvcs=false, has none).
type buildInfo struct {
	Version, Commit, Date, Go string
	Modified                  bool
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, Commit: commit, Date: date, Go: runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.time":
				b.Date = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	if b.Date == "" {
		b.Date = "unknown"
	}
	return b
}

func printVersion(w io.Writer, b buildInfo) {
	commit := b.Commit
	if b.Modified {
		commit += " (with uncommitted changes)"
	}
	fmt.Fprintf(w, "opsbook %s\ncommit  %s\nbuilt   %s\ngo      %s\n", b.Version, commit, b.Date, b.Go)
}
