package flow

import (
	"bytes"
	"fmt"
	"sort"

	"github.com/opsbook/opsbook/engine"
)

// SecretFinding is a secret's value found in a flow's files.
type SecretFinding struct {
	Secret string // the secret's name, never its value
	File   string // the file holding it: flow.yaml or a cell's file
	Cell   string // the cell whose file it is; "" for flow.yaml
	Line   int    // from 1
}

func (s SecretFinding) String() string {
	if s.Cell == "" {
		return fmt.Sprintf("%s, line %d, holds the value of the secret %s", s.File, s.Line, s.Secret)
	}
	return fmt.Sprintf("cell %s (line %d) holds the value of the secret %s", s.Cell, s.Line, s.Secret)
}

// FindSecrets finds the values of secrets (name → value) in a flow's
// files — every cell's code and the manifest with its inputs and env
// values — the first place of each secret in each file, in the order of
// files (those of Files(f)); f names the cell of each file. The caller
// leaves out values too short to tell from ordinary text.
func FindSecrets(f *engine.Flow, files []File, secrets map[string]string) []SecretFinding {
	names := make([]string, 0, len(secrets))
	for name, v := range secrets {
		if v != "" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	cells := map[string]string{}
	if f != nil {
		for _, c := range f.Cells {
			cells[c.File] = c.Name
		}
	}
	var out []SecretFinding
	for _, f := range files {
		for _, name := range names {
			i := bytes.Index(f.Data, []byte(secrets[name]))
			if i < 0 {
				continue
			}
			out = append(out, SecretFinding{Secret: name, File: f.Name, Cell: cells[f.Name], Line: 1 + bytes.Count(f.Data[:i], []byte("\n"))})
		}
	}
	return out
}
