// Package cli holds the commands of the opsbook binary that work without a
// server: run and check, with their flags and their terminal output.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// NewFlagSet is a command's flag set: it writes its problems to w and,
// when usage is not "", prints usage and then the flags for -h.
func NewFlagSet(name string, w io.Writer, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(w)
	if usage != "" {
		fs.Usage = func() { fmt.Fprint(w, usage); fs.PrintDefaults() }
	}
	return fs
}

// ParseFlags is the opening of every command: it parses args, whose flags
// may come before or after the positional arguments (ParseInterleaved),
// then sets each flag not given from its OPSBOOK_<NAME> variable
// (EnvDefaults), saying a bad variable on w after the command's name. When
// the command should stop, ok is false and code is its exit status: ExitOK
// when help was asked for, ExitInvalid for a bad flag (which the flag set
// has said already) or variable.
func ParseFlags(fs *flag.FlagSet, args []string, w io.Writer) (pos []string, code int, ok bool) {
	pos, err := ParseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil, ExitOK, false
	}
	if err != nil {
		return nil, ExitInvalid, false
	}
	if err := EnvDefaults(fs); err != nil {
		fmt.Fprintf(w, "opsbook %s: %v\n", fs.Name(), err)
		return nil, ExitInvalid, false
	}
	return pos, ExitOK, true
}

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
