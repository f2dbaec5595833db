package cli

import (
	"os"
	"strings"
	"testing"
)

// TestParseFlags: the opening every command shares: flags anywhere,
// OPSBOOK_<NAME> for the ones not given, -h ends well, a bad flag or
// variable ends as invalid.
func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		pos  []string
		code int
		ok   bool
		n    int
		say  string
	}{
		{name: "flags before and after", args: []string{"a", "--count", "3", "b", "--", "--c"}, pos: []string{"a", "b", "--c"}, code: ExitOK, ok: true, n: 3},
		{name: "from the environment", args: []string{"a"}, env: map[string]string{"OPSBOOK_COUNT": "7"}, pos: []string{"a"}, code: ExitOK, ok: true, n: 7},
		{name: "the flag wins", args: []string{"--count=2"}, env: map[string]string{"OPSBOOK_COUNT": "7"}, code: ExitOK, ok: true, n: 2},
		{name: "help", args: []string{"-h"}, code: ExitOK, say: "usage: opsbook test"},
		{name: "bad flag", args: []string{"--nope"}, code: ExitInvalid, say: "not defined"},
		{name: "bad variable", env: map[string]string{"OPSBOOK_COUNT": "many"}, code: ExitInvalid, say: "opsbook test: OPSBOOK_COUNT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("OPSBOOK_COUNT", "") // restored after the test
			os.Unsetenv("OPSBOOK_COUNT")
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var out strings.Builder
			fs := NewFlagSet("test", &out, "usage: opsbook test\n")
			n := fs.Int("count", 1, "a number")
			pos, code, ok := ParseFlags(fs, tc.args, &out)
			if code != tc.code || ok != tc.ok || strings.Join(pos, "|") != strings.Join(tc.pos, "|") {
				t.Errorf("got %q, %d, %v; want %q, %d, %v (said %q)", pos, code, ok, tc.pos, tc.code, tc.ok, out.String())
			}
			if ok && *n != tc.n {
				t.Errorf("count %d; want %d", *n, tc.n)
			}
			if !strings.Contains(out.String(), tc.say) {
				t.Errorf("said %q; want %q in it", out.String(), tc.say)
			}
		})
	}
}
