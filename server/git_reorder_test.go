package server

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// reorderedHello is the fixture's flow.yaml with its keys in another
// order: the same flow.
const reorderedHello = `cells:
  - file: greet.sh
    name: greet
    kind: shell
  - {kind: expr, file: answer.expr, name: answer}
inputs:
  - type: string
    default: world
    name: who
name: Hello
`

// TestGitReorderedKeysAreNoChange: someone reorders the keys of flow.yaml
// in git. The next save here commits on top of it (no conflict), a pull
// finds nothing to store (not an invalid folder, not a new version), and
// the status stays in sync: statuses compare content, not bytes.
func TestGitReorderedKeysAreNoChange(t *testing.T) {
	f := setup(t, testDB)
	ctx := context.Background()
	remote := bareRepo(t)
	f.configureGit(remote, "")
	f.editCell("owner", 0, "echo hello, git {{ inputs.who }}\n") // a save needs a change since v1
	f.saveVersion("owner", "Into git")
	synced := f.waitGit(f.flow.ID, "")
	if synced.Error != "" {
		t.Fatalf("first save: %s", synced.Error)
	}

	eve := cloneOf(t, remote)
	eve.write("hello/flow.yaml", reorderedHello)
	sorted := eve.commitPush("Sort the keys")

	f.editCell("editor", 0, "echo sorted {{ inputs.who }}\n")
	n := f.saveVersion("editor", "After the sort")
	fg := f.waitGit(f.flow.ID, synced.Commit)
	if fg.Error != "" || fg.Commit == synced.Commit {
		t.Fatalf("a save after keys were reordered in git = %+v; want a commit, no conflict", fg)
	}
	if got := gitRun(t, remote, "show", "main:hello/greet.sh"); got != "echo sorted {{ inputs.who }}\n" {
		t.Fatalf("git's greet.sh = %q", got)
	}
	if parent := strings.TrimSpace(gitRun(t, remote, "log", "-1", "--format=%P", "main")); parent != sorted {
		t.Fatalf("the save's parent is %s, want the reordering %s", parent, sorted)
	}
	if got := f.gitStatusOn("hello"); got != "in_sync" {
		t.Fatalf("status after the save = %q, want in_sync", got)
	}

	// Reordered again: a pull stores nothing and calls nothing invalid.
	eve.pull()
	eve.write("hello/flow.yaml", reorderedHello)
	eve.commitPush("Sort the keys again")
	out := f.apiJSON("editor", "POST", "/api/v1/git/pull", "", http.StatusOK)
	if ch, _ := out["changes"].([]any); len(ch) != 0 {
		t.Fatalf("pull of a flow only reordered in git = %v; want nothing to store", out)
	}
	if fs, _ := f.st.FlowByID(ctx, f.flow.ID); fs.Versions != n {
		t.Fatalf("the pull made v%d; the latest must stay v%d", fs.Versions, n)
	}
	if got := f.gitStatusOn("hello"); got != "in_sync" {
		t.Fatalf("status after the pull = %q, want in_sync", got)
	}
}
