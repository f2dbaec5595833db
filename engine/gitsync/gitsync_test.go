package gitsync

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/flow"
)

// The tests run against real bare repositories in t.TempDir() and make the
// engineers' commits with the git command line, as a person would from an
// editor, to prove that both sides read each other.

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// gitEnv keeps the user's and the system's git configuration out.
func gitEnv(home string) []string {
	return append(os.Environ(),
		"HOME="+home, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+filepath.Join(home, "gitconfig"),
		"GIT_AUTHOR_NAME=Eve Engineer", "GIT_AUTHOR_EMAIL=eve@example.com",
		"GIT_COMMITTER_NAME=Eve Engineer", "GIT_COMMITTER_EMAIL=eve@example.com",
	)
}

// run runs git in dir and returns its standard output.
func run(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = gitEnv(dir)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("git %s in %s: %v\n%s", strings.Join(args, " "), dir, err, errb.String())
	}
	return out.String()
}

// bareRemote makes an empty bare repository whose default branch is main.
func bareRemote(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("the git command is needed for local remotes")
	}
	dir := filepath.Join(t.TempDir(), "remote.git")
	run(t, filepath.Dir(dir), "init", "--quiet", "--bare", "--initial-branch=main", dir)
	return dir
}

// fsck checks that the remote holds every object of its history, and
// well-formed: the pushed packs are complete and the trees sorted as git
// wants them.
func fsck(t testing.TB, remote string) {
	t.Helper()
	run(t, remote, "fsck", "--strict", "--no-dangling", "--full")
}

// engineer is a person's clone of the remote, edited and pushed with git.
type engineer struct {
	t   testing.TB
	dir string
}

func newEngineer(t testing.TB, remote string) *engineer {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "work")
	run(t, filepath.Dir(dir), "clone", "--quiet", remote, dir)
	run(t, dir, "checkout", "--quiet", "-B", "main")
	return &engineer{t: t, dir: dir}
}

// pull brings the clone up to the remote's main.
func (e *engineer) pull() {
	e.t.Helper()
	run(e.t, e.dir, "fetch", "--quiet", "origin")
	run(e.t, e.dir, "reset", "--quiet", "--hard", "origin/main")
}

func (e *engineer) write(name, data string) {
	e.t.Helper()
	p := filepath.Join(e.dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// commitPush commits everything and pushes; it returns the commit.
func (e *engineer) commitPush(msg string) string {
	e.t.Helper()
	run(e.t, e.dir, "add", "-A")
	run(e.t, e.dir, "commit", "--quiet", "-m", msg)
	run(e.t, e.dir, "push", "--quiet", "origin", "HEAD:main")
	return strings.TrimSpace(run(e.t, e.dir, "rev-parse", "HEAD"))
}

// readDir reads a flow folder's files, sorted by name, as bytes.
func readDir(t testing.TB, dir string) []flow.File {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []flow.File
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, flow.File{Name: e.Name(), Data: data})
	}
	return out
}

// fixture returns the canonical files of a flow folder in testdata.
func fixture(t testing.TB, dir string) ([]flow.File, string) {
	t.Helper()
	f, err := flow.Load(dir)
	if err != nil {
		t.Fatalf("load %s: %v", dir, err)
	}
	files, err := flow.Files(f)
	if err != nil {
		t.Fatal(err)
	}
	return files, flow.Hash(f)
}

func hashOf(t testing.TB, files []flow.File) string {
	t.Helper()
	f, err := parse(folder{files: files})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return flow.Hash(f)
}

func sorted(files []flow.File) []flow.File {
	out := slices.Clone(files)
	slices.SortFunc(out, func(a, b flow.File) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func sameFiles(t testing.TB, what string, got, want []flow.File) {
	t.Helper()
	got, want = sorted(got), sorted(want)
	if len(got) != len(want) {
		t.Fatalf("%s: %d files %v, want %d %v", what, len(got), names(got), len(want), names(want))
	}
	for i := range got {
		if got[i].Name != want[i].Name || !bytes.Equal(got[i].Data, want[i].Data) {
			t.Fatalf("%s: file %d is %q %q, want %q %q", what, i, got[i].Name, got[i].Data, want[i].Name, want[i].Data)
		}
	}
}

func names(files []flow.File) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.Name)
	}
	return out
}

func setup(t testing.TB, remote, folder string) *Syncer {
	t.Helper()
	s, err := Open(context.Background(), Config{
		Remote:   remote,
		Folder:   folder,
		CacheDir: filepath.Join(t.TempDir(), "cache"),
		Logger:   quiet,
		Now:      func() time.Time { return time.Date(2025, 1, 31, 6, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

var (
	ada   = Signature{Name: "Ada Lovelace", Email: "ada@example.com"}
	grace = Signature{Name: "Grace Hopper", Email: "grace@example.com"}
)

func TestCommitAuthorMessageTrailers(t *testing.T) {
	t.Parallel()
	files, _ := fixture(t, "../../testdata/flows/etl-orders")
	for _, tc := range []struct {
		name, folder, dir string
	}{
		{"folder", "flows", "flows/etl-orders"},
		{"nested folder", "/ops/flows/", "ops/flows/etl-orders"},
		{"root", "", "etl-orders"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			remote := bareRemote(t) // empty: the first push creates main
			s := setup(t, remote, tc.folder)
			ctx := context.Background()
			linus := Signature{Name: "Linus <T>"} // no email: a stand-in
			h, err := s.Commit(ctx, "etl-orders", files, ada, "Load orders per day\n", []Signature{grace, ada, grace, linus})
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(run(t, remote, "rev-parse", "main")); got != h {
				t.Fatalf("remote main is %s, want the commit %s", got, h)
			}
			got := run(t, remote, "log", "-1", "--format=%an%n%ae%n%cn%n%B", "main")
			want := "Ada Lovelace\nada@example.com\nAda Lovelace\nLoad orders per day\n\n" +
				"Co-authored-by: Grace Hopper <grace@example.com>\n" +
				"Co-authored-by: Linus T <linus.t@opsbook.invalid>\n\n"
			if got != want {
				t.Fatalf("git log:\n%s\nwant:\n%s", got, want)
			}
			ls := strings.Fields(run(t, remote, "ls-tree", "-r", "--name-only", "main"))
			var wantLs []string
			for _, f := range files {
				wantLs = append(wantLs, tc.dir+"/"+f.Name)
			}
			slices.Sort(wantLs)
			if !slices.Equal(ls, wantLs) {
				t.Fatalf("files in git: %v, want %v", ls, wantLs)
			}
			for _, f := range files {
				if got := run(t, remote, "show", "main:"+tc.dir+"/"+f.Name); got != string(f.Data) {
					t.Fatalf("%s in git is %q, want %q", f.Name, got, f.Data)
				}
			}

			// A second save with a cell removed removes its file.
			fewer := slices.DeleteFunc(slices.Clone(files), func(f flow.File) bool { return f.Name == "notes.md" })
			fewer[0] = flow.File{Name: flow.ManifestFile, Data: bytes.Replace(files[0].Data, []byte("  - name: notes\n    kind: markdown\n    file: notes.md\n"), nil, 1)}
			h2, err := s.Commit(ctx, "etl-orders", fewer, grace, "Drop the notes", nil)
			if err != nil {
				t.Fatal(err)
			}
			if run(t, remote, "log", "-1", "--format=%P", "main") != h+"\n" {
				t.Fatal("the second commit is not on top of the first")
			}
			ls = strings.Fields(run(t, remote, "ls-tree", "-r", "--name-only", "main"))
			if slices.Contains(ls, tc.dir+"/notes.md") || len(ls) != len(files)-1 {
				t.Fatalf("after removing a cell, git holds %v", ls)
			}
			if got := run(t, remote, "log", "-1", "--format=%B", "main"); got != "Drop the notes\n\n" {
				t.Fatalf("message without co-authors: %q", got)
			}

			// Saving the same content again makes no commit.
			h3, err := s.Commit(ctx, "etl-orders", fewer, ada, "Nothing new", nil)
			if err != nil || h3 != h2 {
				t.Fatalf("same content again: %s, %v; want %s and no new commit", h3, err, h2)
			}
			if strings.TrimSpace(run(t, remote, "rev-parse", "main")) != h2 {
				t.Fatal("saving the same content made a commit")
			}
			fsck(t, remote)
		})
	}
}

func TestPullEngineerCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	remote := bareRemote(t)
	s := setup(t, remote, "flows")
	files, h1 := fixture(t, "../../testdata/flows/etl-orders")
	if _, err := s.Commit(ctx, "etl-orders", files, ada, "First", nil); err != nil {
		t.Fatal(err)
	}
	if ch, err := s.Pull(ctx); err != nil || len(ch) != 0 {
		t.Fatalf("pull right after a commit: %v, %v; want nothing", ch, err)
	}

	e := newEngineer(t, remote)
	// Edited in an editor: a cell changed, with CRLF and no final newline,
	// and a new flow next to it; an executable script.
	e.write("flows/etl-orders/summary.expr", "len(cells.load.rows)\r\n// per day")
	e.write("flows/hello/flow.yaml", "name: Hello\ncells:\n  - name: greet\n    kind: shell\n    file: greet.sh\n")
	e.write("flows/hello/greet.sh", "echo hello\n")
	if err := os.Chmod(filepath.Join(e.dir, "flows/hello/greet.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	e.write("README.md", "not a flow\n")
	// Names that sort around "flows/" in git's tree order.
	e.write("flows.txt", "x\n")
	e.write("flows-old/x.txt", "x\n")
	e.write("flows/hello.md", "x\n")
	commit := e.commitPush("Count rows, add hello\n\nCo-authored-by: Grace Hopper <grace@example.com>")

	if st, err := s.Status(ctx, "etl-orders", h1, h1); err != nil || st != InSync {
		t.Fatalf("status before fetching: %s, %v; want in sync (as of the last fetch)", st, err)
	}
	changes, err := s.Pull(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 2 || changes[0].Slug != "etl-orders" || changes[1].Slug != "hello" {
		t.Fatalf("changes: %+v", changes)
	}
	for _, c := range changes {
		if c.Err != nil || c.Deleted || c.Flow == nil {
			t.Fatalf("%s: err %v, deleted %v", c.Slug, c.Err, c.Deleted)
		}
		if c.Commit != commit || c.Author != (Signature{"Eve Engineer", "eve@example.com"}) || !strings.HasPrefix(c.Message, "Count rows, add hello\n") {
			t.Fatalf("%s: commit %s by %v, %q; want %s by Eve", c.Slug, c.Commit, c.Author, c.Message, commit)
		}
		if len(c.Coauthors) != 1 || c.Coauthors[0] != grace {
			t.Fatalf("co-authors: %v", c.Coauthors)
		}
		sameFiles(t, c.Slug, c.Files, readDir(t, filepath.Join(e.dir, "flows", c.Slug)))
		if c.Hash != flow.Hash(c.Flow) {
			t.Fatal("hash is not the flow's")
		}
	}
	ff := changes[0].FlowFiles()
	if len(ff) != 6 || ff[0].Name != "flow.yaml" || ff[5].Name != "summary.expr" || string(ff[5].Data) != "len(cells.load.rows)\r\n// per day" {
		t.Fatalf("flow files: %v", names(ff))
	}
	if st, err := s.Status(ctx, "etl-orders", h1, h1); err != nil || st != ChangedInGit {
		t.Fatalf("status: %s, %v; want changed in git", st, err)
	}
	if st, err := s.Status(ctx, "etl-orders", changes[0].Hash, h1); err != nil || st != InSync {
		t.Fatalf("status with the pulled version stored: %s, %v; want in sync", st, err)
	}

	// Stored as versions: acknowledged, they are not pulled again.
	for _, c := range changes {
		if err := s.MarkSynced(ctx, c.Slug, c.Commit); err != nil {
			t.Fatal(err)
		}
	}
	if ch, err := s.Pull(ctx); err != nil || len(ch) != 0 {
		t.Fatalf("pull after marking synced: %v, %v", ch, err)
	}

	// Saving the pulled flow again from Opsbook keeps the executable bit and
	// the engineer's commit in the history.
	hello := changes[1]
	hello.Files[1].Data = []byte("echo hello, world\n")
	h, err := s.Commit(ctx, "hello", hello.Files, ada, "Greet the world", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := run(t, remote, "log", "-1", "--format=%P", h); strings.TrimSpace(got) != commit {
		t.Fatalf("parent is %s, want the engineer's %s", got, commit)
	}
	if got := run(t, remote, "ls-tree", "main", "flows/hello/greet.sh"); !strings.HasPrefix(got, "100755 ") {
		t.Fatalf("mode after a save: %s", got)
	}
	if got := run(t, remote, "show", "main:README.md"); got != "not a flow\n" {
		t.Fatal("a file outside the flow folder was lost")
	}
	fsck(t, remote)
}

func TestConflictLosesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	remote := bareRemote(t)
	s := setup(t, remote, "flows")
	v1, h1 := fixture(t, "testdata/hello")
	if _, err := s.Commit(ctx, "hello", v1, ada, "v1", nil); err != nil {
		t.Fatal(err)
	}
	e := newEngineer(t, remote)
	e.write("flows/hello/greet.sh", "echo from git\n")
	theirs := e.commitPush("Change in git")

	v2 := slices.Clone(v1)
	v2[1] = flow.File{Name: "greet.sh", Data: []byte("echo from opsbook\n")}
	h2 := hashOf(t, v2)
	_, err := s.Commit(ctx, "hello", v2, ada, "v2", nil)
	var ce *ConflictError
	if !errors.Is(err, ErrConflict) || !errors.As(err, &ce) {
		t.Fatalf("commit over a change in git: %v; want a conflict", err)
	}
	if ce.Commit != theirs || ce.Author.Name != "Eve Engineer" || ce.Deleted {
		t.Fatalf("conflict names %s by %v, want %s by Eve", ce.Commit, ce.Author, theirs)
	}
	sameFiles(t, "git's side", ce.Remote, readDir(t, filepath.Join(e.dir, "flows/hello")))
	sameFiles(t, "our side", ce.Local, v2)
	if got := strings.TrimSpace(run(t, remote, "rev-parse", "main")); got != theirs {
		t.Fatalf("remote main moved to %s; the engineer's %s must stay", got, theirs)
	}
	if st, err := s.Status(ctx, "hello", h2, h1); err != nil || st != Conflict {
		t.Fatalf("status: %s, %v; want conflict", st, err)
	}
	side, err := s.Read(ctx, "hello")
	if err != nil || side.Commit != theirs {
		t.Fatalf("read git's side: %+v, %v", side, err)
	}
	sameFiles(t, "read", side.Files, ce.Remote)
	if c, ok := s.Synced("hello"); !ok || c == theirs {
		t.Fatal("a conflict moved the base")
	}

	// A person keeps Opsbook's side: the engineer's commit stays in the
	// history, under ours.
	if err := s.MarkSynced(ctx, "hello", ce.Commit); err != nil {
		t.Fatal(err)
	}
	h, err := s.Commit(ctx, "hello", v2, ada, "Keep ours", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(run(t, remote, "log", "-1", "--format=%P", h)); got != theirs {
		t.Fatalf("parent %s, want %s", got, theirs)
	}
	if got := run(t, remote, "show", theirs+":flows/hello/greet.sh"); got != "echo from git\n" {
		t.Fatal("the engineer's content is gone from history")
	}
}

// A flow.yaml rewritten in git without a change in meaning (keys
// reordered, as an editor or a formatter may do) is the same flow: no
// change to pull, no conflict for the next save.
func TestReorderedInGitIsNoChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	remote := bareRemote(t)
	s := setup(t, remote, "flows")
	v1, h1 := fixture(t, "testdata/hello")
	if _, err := s.Commit(ctx, "hello", v1, ada, "v1", nil); err != nil {
		t.Fatal(err)
	}
	e := newEngineer(t, remote)
	e.write("flows/hello/flow.yaml", "cells:\n  - file: greet.sh\n    kind: shell\n    name: greet\nname: Hello\n")
	reordered := e.commitPush("Sort the keys")
	if h := hashOf(t, readDir(t, filepath.Join(e.dir, "flows/hello"))); h != h1 {
		t.Fatalf("the reordered flow hashes to %s, want the same flow's %s", h, h1)
	}

	changes, err := s.Pull(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 0 {
		t.Fatalf("pull of a flow only reordered in git: %+v; want nothing to pull", changes)
	}
	if st, err := s.Status(ctx, "hello", h1, h1); err != nil || st != InSync {
		t.Fatalf("status after the reordering: %s, %v; want in sync", st, err)
	}

	// A version saved here since is changed here, and its save commits on
	// top of the reordering without a conflict.
	v2 := slices.Clone(v1)
	v2[1] = flow.File{Name: "greet.sh", Data: []byte("echo from opsbook\n")}
	h2 := hashOf(t, v2)
	if st, err := s.Status(ctx, "hello", h2, h1); err != nil || st != ChangedHere {
		t.Fatalf("status with a new version here: %s, %v; want changed here", st, err)
	}
	c2, err := s.Commit(ctx, "hello", v2, ada, "v2", nil)
	if err != nil {
		t.Fatalf("save after keys were reordered in git: %v; want a commit", err)
	}
	if got := strings.TrimSpace(run(t, remote, "log", "-1", "--format=%P", c2)); got != reordered {
		t.Fatalf("parent %s, want the reordering %s", got, reordered)
	}
	if got := run(t, remote, "show", "main:flows/hello/flow.yaml"); got != string(v2[0].Data) {
		t.Fatalf("flow.yaml in git after the save: %q, want %q", got, v2[0].Data)
	}
	if st, err := s.Status(ctx, "hello", h2, h2); err != nil || st != InSync {
		t.Fatalf("status after the save: %s, %v; want in sync", st, err)
	}

	// Reordered again, and this time changed too: that is a change to pull.
	e.pull()
	e.write("flows/hello/flow.yaml", "cells:\n  - file: greet.sh\n    name: greet\n    kind: shell\nname: Hello again\n")
	changed := e.commitPush("Rename")
	changes, err = s.Pull(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || changes[0].Commit != changed || changes[0].Err != nil || changes[0].Flow == nil || changes[0].Flow.Name != "Hello again" {
		t.Fatalf("pull of a real change after a reordering: %+v", changes)
	}
	if st, err := s.Status(ctx, "hello", h2, h2); err != nil || st != ChangedInGit {
		t.Fatalf("status: %s, %v; want changed in git", st, err)
	}
	if _, err := s.Commit(ctx, "hello", v2, ada, "v3", nil); !errors.Is(err, ErrConflict) {
		t.Fatalf("save over a real change in git: %v; want a conflict", err)
	}
	fsck(t, remote)
}

func TestDeletedInGit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	remote := bareRemote(t)
	s := setup(t, remote, "flows")
	v1, h1 := fixture(t, "testdata/hello")
	if _, err := s.Commit(ctx, "hello", v1, ada, "v1", nil); err != nil {
		t.Fatal(err)
	}
	other, _ := fixture(t, "../../testdata/flows/etl-orders")
	if _, err := s.Commit(ctx, "etl-orders", other, ada, "other", nil); err != nil {
		t.Fatal(err)
	}
	e := newEngineer(t, remote)
	run(t, e.dir, "rm", "-r", "--quiet", "flows/hello")
	gone := e.commitPush("Remove hello")

	changes, err := s.Pull(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || changes[0].Slug != "hello" || !changes[0].Deleted || changes[0].Commit != gone || changes[0].Files != nil {
		t.Fatalf("changes: %+v", changes)
	}
	if st, _ := s.Status(ctx, "hello", h1, h1); st != Missing {
		t.Fatalf("status %s, want missing", st)
	}
	if side, err := s.Read(ctx, "hello"); err != nil || !side.Deleted || side.Commit != gone || side.Author.Name != "Eve Engineer" {
		t.Fatalf("read a deleted flow: %+v, %v", side, err)
	}
	if side, err := s.Read(ctx, "never"); err != nil || !side.Deleted || side.Commit == "" {
		t.Fatalf("read a flow never in git: %+v, %v", side, err)
	}
	v2 := slices.Clone(v1)
	v2[1] = flow.File{Name: "greet.sh", Data: []byte("echo again\n")}
	_, err = s.Commit(ctx, "hello", v2, ada, "v2", nil)
	var ce *ConflictError
	if !errors.As(err, &ce) || !ce.Deleted || ce.Commit != gone || ce.Remote != nil {
		t.Fatalf("saving a flow deleted in git: %v; want a deletion conflict", err)
	}
	if err := s.MarkSynced(ctx, "hello", gone); err != nil {
		t.Fatal(err)
	}
	if ch, _ := s.Pull(ctx); len(ch) != 0 {
		t.Fatalf("an acknowledged deletion is pulled again: %+v", ch)
	}
	// Saving it again now brings the flow back, on purpose.
	if _, err := s.Commit(ctx, "hello", v2, ada, "Bring back", nil); err != nil {
		t.Fatal(err)
	}
}

func TestPushRaceUnrelatedIsRetried(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	remote := bareRemote(t)
	s := setup(t, remote, "flows")
	v1, _ := fixture(t, "testdata/hello")
	if _, err := s.Commit(ctx, "hello", v1, ada, "v1", nil); err != nil {
		t.Fatal(err)
	}
	e := newEngineer(t, remote)
	var theirs string
	var attempts []int
	s.beforePush = func(attempt int) {
		attempts = append(attempts, attempt)
		if attempt == 1 { // someone pushes between our fetch and our push
			e.write("flows/other/notes.txt", "unrelated\n")
			theirs = e.commitPush("Unrelated change")
		}
	}
	v2 := slices.Clone(v1)
	v2[1] = flow.File{Name: "greet.sh", Data: []byte("echo v2\n")}
	h, err := s.Commit(ctx, "hello", v2, ada, "v2", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(attempts, []int{1, 2}) {
		t.Fatalf("attempts %v, want a retry", attempts)
	}
	if got := strings.TrimSpace(run(t, remote, "log", "-1", "--format=%P", h)); got != theirs {
		t.Fatalf("the retried commit's parent is %s, want the other push %s", got, theirs)
	}
	if got := run(t, remote, "show", "main:flows/other/notes.txt"); got != "unrelated\n" {
		t.Fatal("the other push was lost")
	}
	if got := run(t, remote, "show", "main:flows/hello/greet.sh"); got != "echo v2\n" {
		t.Fatal("our change was not pushed")
	}
	fsck(t, remote)

	// The same race on this flow's folder is a conflict, and the other
	// push stays.
	s.beforePush = func(attempt int) {
		if attempt == 1 {
			e.pull()
			e.write("flows/hello/greet.sh", "echo racing\n")
			theirs = e.commitPush("Racing change")
		}
	}
	v3 := slices.Clone(v1)
	v3[1] = flow.File{Name: "greet.sh", Data: []byte("echo v3\n")}
	if _, err := s.Commit(ctx, "hello", v3, ada, "v3", nil); !errors.Is(err, ErrConflict) {
		t.Fatalf("race on the same flow: %v; want a conflict", err)
	}
	if got := strings.TrimSpace(run(t, remote, "rev-parse", "main")); got != theirs {
		t.Fatal("a conflict changed the remote")
	}
}

func TestInvalidInGit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	remote := bareRemote(t)
	s := setup(t, remote, "flows")
	e := newEngineer(t, remote)
	for _, f := range readDir(t, "testdata/invalid") {
		e.write("flows/broken/"+f.Name, string(f.Data))
	}
	e.write("flows/Bad Name/flow.yaml", "name: x\n")
	e.write("flows/nomanifest/a.sh", "echo\n")
	e.write("flows/linked/flow.yaml", "name: Linked\ncells:\n  - name: a\n    kind: shell\n    file: a.sh\n")
	if err := os.Symlink("/etc/passwd", filepath.Join(e.dir, "flows/linked/a.sh")); err != nil {
		t.Fatal(err)
	}
	e.write("flows/binary/flow.yaml", "name: Binary\ncells:\n  - name: a\n    kind: shell\n    file: a.sh\n")
	e.write("flows/binary/a.sh", "\xff\xfe")
	e.write("flows/gone/flow.yaml", "name: Gone\ncells:\n  - name: a\n    kind: shell\n    file: a.sh\n")
	e.write("flows/gone/a.sh", "echo\n")
	e.commitPush("Broken flows")
	e.pull()
	// A synced flow whose flow.yaml is then removed is an invalid flow.
	changes, err := s.Pull(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range changes {
		if c.Slug == "gone" {
			if err := s.MarkSynced(ctx, c.Slug, c.Commit); err != nil {
				t.Fatal(err)
			}
		}
	}
	run(t, e.dir, "rm", "--quiet", "flows/gone/flow.yaml")
	e.commitPush("Remove a manifest")

	changes, err = s.Pull(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"gone":     "flow.yaml not found",
		"Bad Name": "not a flow slug",
		"binary":   "not UTF-8",
		"broken":   `unknown key "colour"`,
		"linked":   "symbolic link",
		// nomanifest: a folder without flow.yaml is not a flow, and skipped.
	}
	if len(changes) != len(want) {
		t.Fatalf("changes: %+v", changes)
	}
	for _, c := range changes {
		if c.Err == nil || !strings.Contains(c.Err.Error(), want[c.Slug]) || c.Flow != nil || c.Hash != "" {
			t.Errorf("%s: err %v, want %q", c.Slug, c.Err, want[c.Slug])
		}
	}
	var es engine.Errors
	if !errors.As(changes[2].Err, &es) || changes[2].Slug != "broken" || es[0].Pos.File != "flow.yaml" || es[0].Pos.Line != 6 {
		t.Fatalf("broken: %v; want engine.Errors at flow.yaml:6", changes[2].Err)
	}
	sameFiles(t, "broken", changes[2].Files, readDir(t, "testdata/invalid"))
	// An invalid folder in git is never in sync with anything.
	_, h := fixture(t, "testdata/hello")
	if st, err := s.Status(ctx, "broken", h, h); err != nil || st != ChangedInGit {
		t.Fatalf("status of an invalid folder: %s, %v", st, err)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "no-such-repo.git")
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string
	}{
		{"missing local remote", Config{Remote: missing}, []string{missing, "check", "exists"}},
		{"no remote", Config{}, []string{"no remote"}},
		{"bad branch", Config{Remote: missing, Branch: "a..b"}, []string{"not a valid branch name"}},
		{"bad folder", Config{Remote: missing, Folder: "../up"}, []string{"not a plain relative path"}},
		{"ssh without key", Config{Remote: "git@example.com:org/repo.git"}, []string{"no SSH key"}},
		{"unreachable https", Config{Remote: "https://127.0.0.1:1/org/repo.git"}, []string{"127.0.0.1:1", "check"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.cfg.CacheDir = t.TempDir()
			tc.cfg.Logger = quiet
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err := Open(ctx, tc.cfg)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestReopenKeepsState(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	remote := bareRemote(t)
	cache := filepath.Join(t.TempDir(), "cache")
	cfg := Config{Remote: remote, Folder: "flows", CacheDir: cache, Logger: quiet}
	s, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if ch, err := s.Pull(ctx); err != nil || len(ch) != 0 {
		t.Fatalf("pull from an empty remote: %v, %v", ch, err)
	}
	if st, err := s.Status(ctx, "hello", "x", ""); err != nil || st != Missing {
		t.Fatalf("status on an empty remote: %s, %v", st, err)
	}
	v1, _ := fixture(t, "testdata/hello")
	h, err := s.Commit(ctx, "hello", v1, ada, "v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := s2.Synced("hello"); !ok || c != h {
		t.Fatalf("synced after reopening: %s %v, want %s", c, ok, h)
	}
	// Another folder: the bases mean nothing there.
	cfg.Folder = "other"
	s3, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s3.Synced("hello"); ok {
		t.Fatal("a base survived a change of folder")
	}
}

func TestCompare(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		local, git, synced string
		want               Status
	}{
		{"a", "a", "a", InSync},
		{"b", "b", "a", InSync},
		{"a", "a", "", InSync},
		{"b", "a", "a", ChangedHere},
		{"a", "b", "a", ChangedInGit},
		{"b", "c", "a", Conflict},
		{"a", "b", "", Conflict},
	} {
		if got := compare(tc.local, tc.git, tc.synced); got != tc.want {
			t.Errorf("compare(%q, %q, %q) = %s, want %s", tc.local, tc.git, tc.synced, got, tc.want)
		}
	}
}

func TestCommitMessage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, msg string
		co        []Signature
		want      string
	}{
		{"plain", "Fix it", nil, "Fix it\n"},
		{"empty", "  \n", nil, "Update hello\n"},
		{"crlf and trailing space", "Title\r\n\r\nBody  \r\n", nil, "Title\n\nBody\n"},
		{"trailers", "Fix", []Signature{grace, {Name: "G. Hopper", Email: "GRACE@example.com"}, ada, {Name: " "}}, "Fix\n\nCo-authored-by: Grace Hopper <grace@example.com>\n"},
		{"newline in a name", "Fix", []Signature{{Name: "Bob\nEvil: x", Email: "bob@example.com"}}, "Fix\n\nCo-authored-by: Bob Evil: x <bob@example.com>\n"},
	} {
		if got := commitMessage(tc.msg, "hello", ada, tc.co); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestCommitRefusesBadInput(t *testing.T) {
	t.Parallel()
	s := setup(t, bareRemote(t), "flows")
	v1, _ := fixture(t, "testdata/hello")
	for _, tc := range []struct {
		name  string
		slug  string
		files []flow.File
		who   Signature
		want  string
	}{
		{"slug", "../x", v1, ada, "not a flow slug"},
		{"subfolder", "hello", append(slices.Clone(v1), flow.File{Name: "a/b", Data: nil}), ada, "not a plain file name"},
		{"twice", "hello", append(slices.Clone(v1), v1[1]), ada, "given twice"},
		{"no manifest", "hello", v1[1:], ada, "no flow.yaml"},
		{"no author", "hello", v1, Signature{}, "no name"},
	} {
		if _, err := s.Commit(context.Background(), tc.slug, tc.files, tc.who, "m", nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
