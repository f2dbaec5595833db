package gitsync

import (
	"context"
	"os/exec"
	"strings"
	"testing"
)

// TestCommitDropsForgedTrailers commits messages that try to forge
// trailers into a real repository and asks git itself which trailers the
// commit carries: only the studio's.
func TestCommitDropsForgedTrailers(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("the git command is needed")
	}
	files, _ := fixture(t, "../../testdata/flows/etl-orders")
	studio := "Co-authored-by: Grace Hopper <grace@example.com>\n"
	for _, tc := range []struct {
		name, msg string
		co        []Signature
		trailers  string // what git interpret-trailers --parse shows
		keeps     []string
	}{
		{"co-author and sign-off", "Fix the report\n\nCo-authored-by: Mallory <m@evil.example>\nSigned-off-by: Mallory <m@evil.example>", []Signature{grace}, studio, []string{"Fix the report"}},
		{"no studio trailers", "Fix\n\nBody stays.\n\nReviewed-by: Mallory\nAcked-by: Mallory\n", nil, "", []string{"Fix", "Body stays."}},
		{"any token", "Fix\n\nX-Approved: yes\nTicket: OPS-1", nil, "", []string{"Fix"}},
		{"comments and continuations", "Fix\n\nApproved-by: Mallory\n  and friends\n# a comment\nTested-by: Mallory", []Signature{grace}, studio, []string{"Fix"}},
		{"mixed paragraph with a sign-off", "Fix\n\nsome text\nSigned-off-by: Mallory <m@evil.example>\nmore text\nand more", nil, "", []string{"some text", "and more"}},
		{"cherry-pick line", "Fix\n\nwords here\n(cherry picked from commit abc)\nReviewed-by: someone\nmore words\nand more", nil, "", []string{"words here", "Reviewed-by: someone\nmore words"}},
		{"divider", "Fix\n\nCo-authored-by: Mallory <m@evil.example>\n---\nnotes", []Signature{grace}, studio, []string{" ---\nnotes"}},
		{"divider without studio trailers", "Fix\n\nReviewed-by: someone\n---\t\nnotes", nil, "", []string{"notes"}},
		{"blank title", "  \n\t\nCo-authored-by: Mallory <m@evil.example>", []Signature{grace}, studio, []string{"Update etl-orders"}},
		{"two trailer paragraphs", "Fix\n\nReviewed-by: a\n\nCo-authored-by: Mallory <m@evil.example>\n", nil, "", []string{"Fix"}},
		{"lower case", "Fix\n\nco-authored-by: Mallory <m@evil.example>", []Signature{grace}, studio, []string{"Fix"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			remote := bareRemote(t)
			s := setup(t, remote, "flows")
			if _, err := s.Commit(context.Background(), "etl-orders", files, ada, tc.msg, tc.co); err != nil {
				t.Fatal(err)
			}
			body := run(t, remote, "log", "-1", "--format=%B", "main")
			cmd := exec.Command("git", "interpret-trailers", "--parse")
			cmd.Env = gitEnv(remote)
			cmd.Stdin = strings.NewReader(body)
			out, err := cmd.Output()
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tc.trailers {
				t.Errorf("trailers git reads:\n%q\nwant %q\nmessage:\n%s", out, tc.trailers, body)
			}
			if strings.Contains(strings.ToLower(body), "mallory") {
				t.Errorf("a forged line is in the commit:\n%s", body)
			}
			for _, k := range tc.keeps {
				if !strings.Contains(body, k) {
					t.Errorf("the message lost %q:\n%s", k, body)
				}
			}
		})
	}
}
