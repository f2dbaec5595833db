// Package cli holds the commands of the opsbook binary that work without a
// server: run and check, with their flags and their terminal output.
package cli

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// pairs is a repeatable NAME=VALUE flag.
type pairs struct {
	keys []string
	vals map[string]string
}

func (p *pairs) String() string { return strings.Join(p.keys, ",") }

func (p *pairs) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not NAME=VALUE", s)
	}
	if p.vals == nil {
		p.vals = map[string]string{}
	}
	if _, dup := p.vals[k]; !dup {
		p.keys = append(p.keys, k)
	}
	p.vals[k] = v
	return nil
}

// ParseInterleaved parses flags that may come before or after positional
// arguments (`opsbook run DIR --input a=1`), which flag.Parse alone stops at.
func ParseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// EnvDefaults sets each flag not given on the command line from its
// OPSBOOK_<NAME> variable (dashes become underscores).
func EnvDefaults(fs *flag.FlagSet) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		name := "OPSBOOK_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s: %w", name, e)
			}
		}
	})
	return err
}
