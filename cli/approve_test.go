package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// deployFolder writes a deploy-like flow: a dry run, an approval with a
// form, and the step that deploys and says what the approval gave it.
func deployFolder(t *testing.T, approval string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"flow.yaml": "name: Deploy\ncells:\n  - name: dry_run\n    kind: shell\n    file: dry_run.sh\n" +
			"  - name: approve\n    kind: approval\n    file: approve.md\n    approvers: [editor]\n" + approval +
			"  - name: deploy\n    kind: shell\n    file: deploy.sh\n",
		"dry_run.sh": "echo 'would restart 3 hosts'\n",
		"approve.md": "Deploy? The dry run says: {{ cells.dry_run.stdout }}\n",
		"deploy.sh":  "echo \"deploying: approved={{ cells.approve.approved }} by={{ cells.approve.by }} comment={{ cells.approve.comment }}\"\n",
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// runWith runs `opsbook run` with stdin as a terminal answering in.
func runWith(t *testing.T, in string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(context.Background(), args, Stdio{Out: &out, Err: &errb, In: strings.NewReader(in), InTerminal: true})
	return result{code: code, out: out.String(), err: errb.String()}
}

func TestApprovalFlags(t *testing.T) {
	t.Parallel()
	dir := deployFolder(t, "")
	res := runCLI(t, dir, "--approve", "approve", "--comment", "approve=looks right")
	if res.code != ExitOK {
		t.Fatalf("exit %d\n%s%s", res.code, res.out, res.err)
	}
	for _, want := range []string{
		"  │ Deploy? The dry run says: would restart 3 hosts",
		"(--approve) (looks right)",
		"  │ deploying: approved=true by=",
		" (--approve) comment=looks right",
	} {
		if !strings.Contains(res.out, want) {
			t.Errorf("output lacks %q:\n%s", want, res.out)
		}
	}

	res = runCLI(t, dir, "--reject", "approve", "--comment", "approve=not today")
	if res.code != ExitFailed || !strings.Contains(res.out, "✗ approve failed after") || !strings.Contains(res.out, "(--reject): not today") || strings.Contains(res.out, "deploying") {
		t.Errorf("--reject: exit %d\n%s", res.code, res.out)
	}

	// Headless with no flag: the cell fails and says which flag to pass.
	res = runCLI(t, dir)
	if res.code != ExitFailed || !strings.Contains(res.out, "there is no terminal to ask; pass --approve approve or --reject approve") {
		t.Errorf("no terminal: exit %d\n%s", res.code, res.out)
	}

	for _, bad := range [][]string{
		{"--approve", "deploy"},
		{"--approve", "approve", "--reject", "approve"},
		{"--approval-input", "approve.nope=1"},
	} {
		res = runCLI(t, append([]string{dir}, bad...)...)
		if res.code != ExitInvalid || !strings.Contains(res.err, "opsbook run: --") {
			t.Errorf("%v: exit %d\n%s", bad, res.code, res.err)
		}
	}
}

func TestApprovalTerminal(t *testing.T) {
	t.Parallel()
	dir := deployFolder(t, "    inputs:\n      - name: ticket\n        label: Ticket\n        required: true\n")
	res := runWith(t, "y\nafter the dry run\nOPS-7\n", dir)
	if res.code != ExitOK {
		t.Fatalf("exit %d\n%s%s", res.code, res.out, res.err)
	}
	for _, want := range []string{"Approve approve? [y/N] ", "Comment (optional): ", "Ticket (string): "} {
		if !strings.Contains(res.err, want) {
			t.Errorf("the terminal was not asked %q:\n%s", want, res.err)
		}
	}
	if !strings.Contains(res.out, "comment=after the dry run") {
		t.Errorf("output:\n%s", res.out)
	}

	// Anything but y rejects; an answer missing from the form fails.
	res = runWith(t, "\n\n", dir)
	if res.code != ExitFailed || !strings.Contains(res.out, "✗ approve failed") {
		t.Errorf("enter: exit %d\n%s", res.code, res.out)
	}
	res = runWith(t, "yes\n\n\n", dir)
	if res.code != ExitFailed || !strings.Contains(res.out, "form field ticket is required") {
		t.Errorf("no ticket: exit %d\n%s", res.code, res.out)
	}
	// With a flag given, the terminal is not asked.
	res = runWith(t, "", dir, "--approve", "approve", "--approval-input", "approve.ticket=OPS-8")
	if res.code != ExitOK || strings.Contains(res.err, "[y/N]") {
		t.Errorf("flag with terminal: exit %d\n%s%s", res.code, res.out, res.err)
	}
}
