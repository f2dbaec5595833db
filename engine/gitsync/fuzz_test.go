package gitsync

import (
	"strings"
	"testing"
)

// FuzzTrailers checks that the Co-authored-by trailers Commit writes are
// read back by Pull as the same people, whatever their names hold.
func FuzzTrailers(f *testing.F) {
	f.Add("Fix the report", "Grace Hopper", "grace@example.com", "Linus", "")
	f.Add("", "a <b>", "c>d@e", "\n", "x\ny@z")
	f.Add("Title\n\nCo-authored-by: Old <old@example.com>", "Co-authored-by: X <y>", "e@f", "\x01", "g@h")
	f.Fuzz(func(t *testing.T, msg, name1, email1, name2, email2 string) {
		co := []Signature{{Name: name1, Email: email1}, {Name: name2, Email: email2}}
		out := commitMessage(msg, "flow", ada, co)
		if !strings.HasSuffix(out, "\n") || strings.Contains(out, "\r\n") {
			t.Fatalf("message %q", out)
		}
		var want []Signature
		seen := map[string]bool{strings.ToLower(email(ada)): true}
		for _, c := range co {
			if clean(c.Name) == "" || seen[strings.ToLower(email(c))] {
				continue
			}
			seen[strings.ToLower(email(c))] = true
			want = append(want, Signature{Name: clean(c.Name), Email: email(c)})
		}
		got := coauthorsOf(out)
		if len(got) < len(want) {
			t.Fatalf("read back %v from %q, want at least %v", got, out, want)
		}
		got = got[len(got)-len(want):]
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("read back %v from %q, want %v", got, out, want)
			}
		}
	})
}
