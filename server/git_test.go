package server

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine/store"
)

// The git tests run against real bare repositories in t.TempDir(); the
// engineers' commits are made with the git command line, as a person
// would from an editor.

// gitRun runs git in dir, with the user's and the system's configuration
// kept out, as Eve Engineer, and returns its standard output.
func gitRun(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"HOME="+dir, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+filepath.Join(dir, ".no-gitconfig"),
		"GIT_AUTHOR_NAME=Eve Engineer", "GIT_AUTHOR_EMAIL=eve@example.com",
		"GIT_COMMITTER_NAME=Eve Engineer", "GIT_COMMITTER_EMAIL=eve@example.com")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// bareRepo makes an empty bare repository whose default branch is main.
func bareRepo(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("the git command is needed for local remotes")
	}
	dir := filepath.Join(t.TempDir(), "ops.git")
	gitRun(t, filepath.Dir(dir), "init", "--quiet", "--bare", "--initial-branch=main", dir)
	return dir
}

// engineerClone is a person's clone of the remote.
type engineerClone struct {
	t   testing.TB
	dir string
}

func cloneOf(t testing.TB, remote string) *engineerClone {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "work")
	gitRun(t, filepath.Dir(dir), "clone", "--quiet", remote, dir)
	gitRun(t, dir, "checkout", "--quiet", "-B", "main")
	return &engineerClone{t: t, dir: dir}
}

func (e *engineerClone) pull() {
	gitRun(e.t, e.dir, "fetch", "--quiet", "origin")
	gitRun(e.t, e.dir, "reset", "--quiet", "--hard", "origin/main")
}

func (e *engineerClone) write(name, data string) {
	e.t.Helper()
	p := filepath.Join(e.dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func (e *engineerClone) read(name string) string {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.dir, filepath.FromSlash(name)))
	if err != nil {
		e.t.Fatal(err)
	}
	return string(b)
}

func (e *engineerClone) commitPush(msg string) string {
	e.t.Helper()
	gitRun(e.t, e.dir, "add", "-A")
	gitRun(e.t, e.dir, "commit", "--quiet", "-m", msg)
	gitRun(e.t, e.dir, "push", "--quiet", "origin", "HEAD:main")
	return strings.TrimSpace(gitRun(e.t, e.dir, "rev-parse", "HEAD"))
}

// configureGit saves the workspace's git settings as the owner.
func (f *fixture) configureGit(remote, folder string) string {
	f.t.Helper()
	resp := f.do("owner", "POST", "/w/acme/git", "remote="+url.QueryEscape(remote)+"&branch=main&folder="+url.QueryEscape(folder))
	return body(f.t, resp, http.StatusOK)
}

// waitGit waits until the flow's last sync moved off commit, or recorded
// an error, and returns it.
func (f *fixture) waitGit(flowID, commit string) store.FlowGit {
	f.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		fg, err := f.st.FlowGitOf(context.Background(), flowID)
		if err == nil && (fg.Commit != commit || fg.Error != "") {
			return fg
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.t.Fatalf("flow %s: no git sync in 30s", flowID)
	return store.FlowGit{}
}

// gitDrain returns once the workspace's git jobs queued so far have run: a
// job queued now runs after them. Versions tell their hooks before the
// request that saved them answers, so every push those requests caused
// has run by then, and a test can assert that none happened.
func (f *fixture) gitDrain() {
	f.t.Helper()
	done := make(chan struct{})
	f.srv.git.enqueue(f.ws.ID, func(context.Context) { close(done) })
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		f.t.Fatal("the workspace's git jobs did not run in 30s")
	}
}

// editCell changes a cell's source as role, recorded as their edit.
func (f *fixture) editCell(role string, i int, source string) {
	f.t.Helper()
	ctx := context.Background()
	d, err := f.st.Draft(ctx, f.flow.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.st.UpdateCellSource(ctx, f.flow.ID, d.Cells[i].ID, source, f.users[role].ID); err != nil {
		f.t.Fatal(err)
	}
}

// gitStatusOn reads the status chip of a flow on the flows page.
func (f *fixture) gitStatusOn(slug string) string {
	f.t.Helper()
	_, b := f.get("viewer", "/w/acme")
	page := string(b)
	i := strings.Index(page, `data-flow="`+slug+`"`)
	if i < 0 {
		f.t.Fatalf("flow %s is not on the flows page", slug)
	}
	row := page[i:]
	if j := strings.Index(row, "</tr>"); j >= 0 {
		row = row[:j]
	}
	const attr = `data-git-status="`
	k := strings.Index(row, attr)
	if k < 0 {
		f.t.Fatalf("flow %s has no git status chip: %s", slug, row)
	}
	rest := row[k+len(attr):]
	return rest[:strings.IndexByte(rest, '"')]
}

// exportFiles downloads version n of a flow as a .tar.gz and reads it.
func (f *fixture) exportFiles(slug string, n int) map[string][]byte {
	f.t.Helper()
	code, b := f.get("viewer", "/w/acme/flows/"+slug+"/versions/"+itoa(n)+"/export?format=tar.gz")
	if code != http.StatusOK {
		f.t.Fatalf("export %s v%d: %d %s", slug, n, code, b)
	}
	files, _, err := readArchive(b, "application/gzip")
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, file := range files {
		out[file.Name] = file.Data
	}
	return out
}

// TestGitSaveCommits: configure git in the settings, save a version in the
// studio: the bare repository gets a commit by the person who saved, with
// the version's message and a Co-authored-by trailer per co-author.
func TestGitSaveCommits(t *testing.T) {
	for _, dialect := range []string{testDB} {
		t.Run(dialect, func(t *testing.T) {
			f := setup(t, dialect)
			remote := bareRepo(t)
			page := f.configureGit(remote, "flows")
			if !strings.Contains(page, "data-git-saved") {
				t.Fatalf("settings saved without a word: %.500s", page)
			}
			if got := f.gitStatusOn("hello"); got != "missing" {
				t.Fatalf("status before the first save = %q, want missing", got)
			}
			f.editCell("editor", 0, "echo hello there {{ inputs.who }}\n")
			if n := f.saveVersion("owner", "Greet politely"); n != 2 {
				t.Fatalf("versions = %d", n)
			}
			fg := f.waitGit(f.flow.ID, "")
			if fg.Error != "" || fg.Commit == "" {
				t.Fatalf("git sync = %+v", fg)
			}
			log := gitRun(t, remote, "log", "-1", "--format=%H%n%an%n%B", "main")
			want := fg.Commit + "\nOwner\nGreet politely\n\nCo-authored-by: Editor <editor@opsbook.invalid>\n"
			if strings.TrimRight(log, "\n") != strings.TrimRight(want, "\n") {
				t.Fatalf("git log:\n%s\nwant:\n%s", log, want)
			}
			if got := gitRun(t, remote, "show", "main:flows/hello/greet.sh"); got != "echo hello there {{ inputs.who }}\n" {
				t.Fatalf("greet.sh in git = %q", got)
			}
			if got := f.gitStatusOn("hello"); got != "in_sync" {
				t.Fatalf("status after the save = %q, want in_sync", got)
			}
			_, nb := f.get("viewer", "/w/acme/flows/hello")
			if !strings.Contains(string(nb), `data-git-status="in_sync"`) {
				t.Fatal("the notebook shows no git status")
			}
			a := f.apiJSON("owner", "GET", "/api/v1/audit?action=git.configured", "", http.StatusOK)
			if b, _ := json.Marshal(a); !strings.Contains(string(b), "git.configured") {
				t.Fatalf("no git.configured in the audit log: %s", b)
			}
		})
	}
}

// TestGitPull: an engineer changes a flow and adds one in git; Pull makes
// a new version and a new flow whose exports are git's exact bytes, and
// commits nothing back.
func TestGitPull(t *testing.T) {
	f := setup(t, testDB)
	remote := bareRepo(t)
	f.configureGit(remote, "flows")
	f.editCell("owner", 0, "echo hello, git {{ inputs.who }}\n") // a save needs a change since v1
	f.saveVersion("owner", "First in git")
	f.waitGit(f.flow.ID, "")

	eve := cloneOf(t, remote)
	eve.write("flows/hello/greet.sh", "# from my editor\necho hi {{ inputs.who }}\n")
	disk := map[string][]byte{}
	src := filepath.Join("..", "testdata", "flows", "disk-cleanup")
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		disk[e.Name()] = b
		eve.write("flows/disk-cleanup/"+e.Name(), string(b))
	}
	head := eve.commitPush("Say hi, add disk cleanup")

	// The pull button is the editors'; the page lists what it did.
	page := body(t, f.do("editor", "POST", "/w/acme/git/pull", ""), http.StatusOK)
	for _, want := range []string{`data-pulled-flow="hello" data-result="version"`, `data-pulled-flow="disk-cleanup" data-result="new"`} {
		if !strings.Contains(page, want) {
			t.Fatalf("pull page lacks %s:\n%.2000s", want, page)
		}
	}
	hello := f.exportFiles("hello", 3)
	if got := string(hello["greet.sh"]); got != eve.read("flows/hello/greet.sh") {
		t.Fatalf("greet.sh of v3 = %q", got)
	}
	if got := string(hello["flow.yaml"]); got != eve.read("flows/hello/flow.yaml") {
		t.Fatalf("flow.yaml of v3 = %q", got)
	}
	got := f.exportFiles("disk-cleanup", 1)
	if len(got) != len(disk) {
		t.Fatalf("disk-cleanup v1 has %d files, git %d", len(got), len(disk))
	}
	for name, b := range disk {
		if !bytes.Equal(got[name], b) {
			t.Fatalf("disk-cleanup v1 %s differs from git's bytes:\n%q\n%q", name, got[name], b)
		}
	}
	vs, _ := f.st.Versions(context.Background(), f.flow.ID)
	if !strings.Contains(vs[0].Message, "Pulled from git "+head[:7]+": Say hi, add disk cleanup") {
		t.Fatalf("the pulled version's message = %q", vs[0].Message)
	}
	d, _ := f.st.Draft(context.Background(), f.flow.ID)
	if d.Flow.Cells[0].Source != "# from my editor\necho hi {{ inputs.who }}\n" {
		t.Fatalf("draft after the pull = %q", d.Flow.Cells[0].Source)
	}
	if got := f.gitStatusOn("hello"); got != "in_sync" {
		t.Fatalf("hello after the pull = %q", got)
	}
	if got := f.gitStatusOn("disk-cleanup"); got != "in_sync" {
		t.Fatalf("disk-cleanup after the pull = %q", got)
	}
	// Nothing went back to git, and a second pull finds nothing.
	f.gitDrain()
	if now := strings.TrimSpace(gitRun(t, remote, "rev-parse", "main")); now != head {
		t.Fatalf("the pull committed back: main is %s, want %s", now, head)
	}
	out := f.apiJSON("editor", "POST", "/api/v1/git/pull", "", http.StatusOK)
	if ch, _ := out["changes"].([]any); len(ch) != 0 {
		t.Fatalf("a second pull found %v", out)
	}
	f.apiJSON("runner", "POST", "/api/v1/git/pull", "", http.StatusForbidden)

	// An invalid folder is listed with its error, and nothing is stored.
	eve.pull()
	eve.write("flows/broken/flow.yaml", "name: Broken\ncells:\n  - name: x\n    kind: nope\n    file: x.sh\n")
	eve.write("flows/broken/x.sh", "echo\n")
	eve.commitPush("Broken flow")
	out = f.apiJSON("editor", "POST", "/api/v1/git/pull", "", http.StatusOK)
	ch, _ := out["changes"].([]any)
	if len(ch) != 1 || ch[0].(map[string]any)["result"] != pulledInvalid || !strings.Contains(ch[0].(map[string]any)["message"].(string), "flow.yaml") {
		t.Fatalf("pull of a broken flow = %v", out)
	}
	if _, err := f.st.FlowBySlug(context.Background(), f.ws.ID, "broken"); err == nil {
		t.Fatal("a broken flow was stored")
	}
}

// TestGitConflict: both sides change a flow; the status shows a conflict,
// nothing is lost on either side, and a person resolves it either way.
func TestGitConflict(t *testing.T) {
	f := setup(t, testDB)
	ctx := context.Background()
	remote := bareRepo(t)
	f.configureGit(remote, "")
	f.editCell("owner", 0, "echo hello, git {{ inputs.who }}\n") // a save needs a change since v1
	f.saveVersion("owner", "Into git")
	synced := f.waitGit(f.flow.ID, "")

	conflict := func(gitText, hereText string) (string, store.FlowGit) {
		t.Helper()
		eve := cloneOf(t, remote)
		eve.write("hello/greet.sh", gitText)
		head := eve.commitPush("Eve's greeting")
		f.editCell("editor", 0, hereText)
		n := f.saveVersion("editor", "Our greeting")
		fg := f.waitGit(f.flow.ID, synced.Commit)
		if !strings.HasPrefix(fg.Error, "conflict") || fg.Commit != synced.Commit {
			t.Fatalf("git sync after both sides changed = %+v", fg)
		}
		// Nothing lost: our version is here, Eve's commit is git's.
		v, err := f.st.Version(ctx, f.flow.ID, n)
		if err != nil || !strings.Contains(string(v.Files[1].Data), hereText) {
			t.Fatalf("our version v%d: %v %q", n, err, v.Files)
		}
		if got := gitRun(t, remote, "show", "main:hello/greet.sh"); got != gitText {
			t.Fatalf("git's greet.sh = %q", got)
		}
		if got := f.gitStatusOn("hello"); got != "conflict" {
			t.Fatalf("status = %q, want conflict", got)
		}
		page := body(t, f.do("editor", "GET", "/w/acme/flows/hello/git", ""), http.StatusOK)
		for _, want := range []string{`data-commit="` + head + `"`, `data-cell="greet"`, html.EscapeString(strings.TrimSpace(gitText)), html.EscapeString(strings.TrimSpace(hereText)), `data-keep="git"`, `data-keep="here"`} {
			if !strings.Contains(page, want) {
				t.Fatalf("the compare page lacks %s:\n%.3000s", want, page)
			}
		}
		return head, fg
	}

	// Keep git's side: a new version with git's bytes; ours stays in the
	// history.
	head, _ := conflict("echo from git {{ inputs.who }}\n", "echo from here {{ inputs.who }}\n")
	resp := f.do("editor", "POST", "/w/acme/flows/hello/git/resolve", "side=git&commit=0000000000000000000000000000000000000001")
	if b := body(t, resp, http.StatusConflict); !strings.Contains(b, "git changed again") {
		t.Fatalf("a stale resolution: %.500s", b)
	}
	resp = f.do("editor", "POST", "/w/acme/flows/hello/git/resolve", "side=git&commit="+head)
	body(t, resp, http.StatusSeeOther)
	fs, _ := f.st.FlowByID(ctx, f.flow.ID)
	files := f.exportFiles("hello", fs.Versions)
	if string(files["greet.sh"]) != "echo from git {{ inputs.who }}\n" {
		t.Fatalf("kept git's side: %q", files["greet.sh"])
	}
	if prev := f.exportFiles("hello", fs.Versions-1); string(prev["greet.sh"]) != "echo from here {{ inputs.who }}\n" {
		t.Fatalf("our side is lost: %q", prev["greet.sh"])
	}
	if got := f.gitStatusOn("hello"); got != "in_sync" {
		t.Fatalf("after keeping git's side: %q", got)
	}
	synced, _ = f.st.FlowGitOf(ctx, f.flow.ID)

	// Keep this side: it is committed over git's, whose commit stays in
	// git's history.
	head, _ = conflict("echo git again {{ inputs.who }}\n", "echo here again {{ inputs.who }}\n")
	resp = f.do("editor", "POST", "/w/acme/flows/hello/git/resolve", "side=here&commit="+head)
	body(t, resp, http.StatusSeeOther)
	if got := gitRun(t, remote, "show", "main:hello/greet.sh"); got != "echo here again {{ inputs.who }}\n" {
		t.Fatalf("git after keeping this side = %q", got)
	}
	gitRun(t, remote, "merge-base", "--is-ancestor", head, "main")
	if got := f.gitStatusOn("hello"); got != "in_sync" {
		t.Fatalf("after keeping this side: %q", got)
	}
	a := f.apiJSON("owner", "GET", "/api/v1/audit?action=git.resolved", "", http.StatusOK)
	if b, _ := json.Marshal(a); strings.Count(string(b), "git.resolved") != 2 {
		t.Fatalf("audit of the resolutions: %s", b)
	}
}

// TestGitBadRemote: a remote that cannot be opened is not kept, and its
// error is shown beside the field as gitsync says it.
func TestGitBadRemote(t *testing.T) {
	f := setup(t, testDB)
	missing := filepath.Join(t.TempDir(), "nowhere.git")
	resp := f.do("owner", "POST", "/w/acme/git", "remote="+url.QueryEscape(missing)+"&branch=main")
	page := body(t, resp, http.StatusUnprocessableEntity)
	i := strings.Index(page, `id="err-remote"`)
	if i < 0 || !strings.Contains(page[i:], "check that the remote URL or path is right") {
		t.Fatalf("no error beside the remote:\n%.3000s", page)
	}
	if _, err := f.st.GitSettings(context.Background(), f.ws.ID); err == nil {
		t.Fatal("a remote that cannot be opened was kept")
	}
	resp = f.do("owner", "POST", "/w/acme/git", "remote="+url.QueryEscape(bareRepo(t))+"&branch=no..branch")
	if page := body(t, resp, http.StatusUnprocessableEntity); !strings.Contains(page, `id="err-branch"`) {
		t.Fatalf("no error beside the branch:\n%.3000s", page)
	}
	resp = f.do("owner", "POST", "/w/acme/git", "remote="+url.QueryEscape("https://bot:ghp_inurl@example.com/ops.git"))
	if page := body(t, resp, http.StatusUnprocessableEntity); !strings.Contains(page, "GIT_TOKEN") {
		t.Fatalf("a token in the URL was not refused:\n%.3000s", page)
	}
	if code, _ := f.get("editor", "/w/acme/flows/hello/git"); code != http.StatusConflict {
		t.Fatalf("compare page without git: %d", code)
	}
}

// TestGitTokenNeverShown: the git token secret appears on no page and in
// no API answer, even when the remote refuses it.
func TestGitTokenNeverShown(t *testing.T) {
	f := setup(t, testDB)
	const token = "ghp_tok3n_that_must_never_show_9f8e7d"
	body(t, f.do("owner", "POST", "/w/acme/secrets", "name=GIT_TOKEN&value="+token), http.StatusOK)
	body(t, f.do("owner", "POST", "/w/acme/secrets", "name=GIT_USERNAME&value=bot"), http.StatusOK)
	// An HTTPS remote that refuses: its error is shown, without the token.
	bad := f.do("owner", "POST", "/w/acme/git", "remote="+url.QueryEscape("http://127.0.0.1:1/ops.git"))
	pages := []string{body(t, bad, http.StatusUnprocessableEntity)}
	remote := bareRepo(t)
	pages = append(pages, f.configureGit(remote, "flows"))
	f.editCell("owner", 0, "echo hello, git {{ inputs.who }}\n") // a save needs a change since v1
	f.saveVersion("owner", "Into git")
	f.waitGit(f.flow.ID, "")
	pages = append(pages, body(t, f.do("editor", "POST", "/w/acme/git/pull", ""), http.StatusOK))
	for _, p := range []string{"/w/acme", "/w/acme/settings", "/w/acme/flows/hello", "/w/acme/flows/hello/git", "/w/acme/activity", "/w/acme/flows/hello/versions"} {
		pages = append(pages, body(t, f.do("owner", "GET", p, ""), http.StatusOK))
	}
	for _, p := range []string{"/api/v1/secrets", "/api/v1/audit", "/api/v1/flows", "/api/v1/flows/hello"} {
		pages = append(pages, body(t, f.do("owner", "GET", p, ""), http.StatusOK))
	}
	pages = append(pages, body(t, f.do("owner", "POST", "/api/v1/git/pull", ""), http.StatusOK))
	for i, p := range pages {
		if strings.Contains(p, token) || strings.Contains(p, "tok3n") {
			t.Fatalf("answer %d shows the git token:\n%.2000s", i, p)
		}
	}
	if !strings.Contains(pages[4], `<code>GIT_TOKEN</code>: set<`) {
		t.Fatal("the settings do not say the token is set")
	}
}

// gitPermissionRows are the permission rows of the git routes, in a
// workspace that keeps no flows in git.
func gitPermissionRows() []permRow {
	const (
		ok  = http.StatusOK
		see = http.StatusSeeOther
		una = http.StatusUnauthorized
		fbd = http.StatusForbidden
		nf  = http.StatusNotFound
		unp = http.StatusUnprocessableEntity
		cnf = http.StatusConflict
	)
	return []permRow{
		{"POST", "/w/acme/git", "remote=", expect{ok, fbd, fbd, fbd, nf, una}},
		{"POST", "/w/acme/git/pull", "", expect{cnf, cnf, fbd, fbd, nf, una}},
		{"GET", "/w/acme/flows/hello/git", "", expect{cnf, cnf, fbd, fbd, nf, see}},
		{"GET", "/w/acme/flows/nope/git", "", expect{nf, nf, fbd, fbd, nf, see}},
		{"POST", "/w/acme/flows/hello/git/resolve", "side=neither", expect{unp, unp, fbd, fbd, nf, una}},
		{"POST", "/api/v1/git/pull", "", expect{cnf, cnf, fbd, fbd, cnf, una}},
	}
}

// TestGitPermissionsConfigured: with git set up, the routes answer each
// role as they should, and a cross-site POST is refused.
func TestGitPermissionsConfigured(t *testing.T) {
	f := setup(t, testDB)
	f.configureGit(bareRepo(t), "flows")
	rows := []permRow{
		{"POST", "/w/acme/git/pull", "", expect{http.StatusOK, http.StatusOK, http.StatusForbidden, http.StatusForbidden, http.StatusNotFound, http.StatusUnauthorized}},
		{"GET", "/w/acme/flows/hello/git", "", expect{http.StatusOK, http.StatusOK, http.StatusForbidden, http.StatusForbidden, http.StatusNotFound, http.StatusSeeOther}},
		{"POST", "/w/acme/flows/hello/git/resolve", "side=git&commit=", expect{http.StatusUnprocessableEntity, http.StatusUnprocessableEntity, http.StatusForbidden, http.StatusForbidden, http.StatusNotFound, http.StatusUnauthorized}},
		{"POST", "/api/v1/git/pull", "", expect{http.StatusOK, http.StatusOK, http.StatusForbidden, http.StatusForbidden, http.StatusConflict, http.StatusUnauthorized}},
	}
	for _, row := range rows {
		for i, role := range append(append([]string{}, testRoles...), "") {
			resp := f.do(role, row.method, row.path, row.body)
			resp.Body.Close()
			if resp.StatusCode != row.want[i] {
				t.Errorf("%s %s as %q: %d, want %d", row.method, row.path, role, resp.StatusCode, row.want[i])
			}
		}
	}
	for _, p := range []string{"/w/acme/git", "/w/acme/git/pull", "/w/acme/flows/hello/git/resolve"} {
		resp := f.do("owner", "POST", p, "remote=/tmp/evil", "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-site POST %s: %d, want 403", p, resp.StatusCode)
		}
	}
	if g, err := f.st.GitSettings(context.Background(), f.ws.ID); err != nil || g.Remote == "/tmp/evil" {
		t.Fatalf("settings after a cross-site POST: %+v %v", g, err)
	}
}
