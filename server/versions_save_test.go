package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// saveJSON saves a version as the notebook does (Accept: application/json)
// and returns the status and the decoded answer.
func (f *fixture) saveJSON(role, slug, message string) (int, map[string]any) {
	f.t.Helper()
	resp := f.do(role, http.MethodPost, "/w/acme/flows/"+slug+"/versions", "message="+url.QueryEscape(message), "Accept", "application/json")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		f.t.Fatalf("save answer is not JSON: %d %s", resp.StatusCode, b)
	}
	return resp.StatusCode, m
}

// TestNewFlowFirstSaveIsV1: a flow made in the studio has no version; it
// runs its draft until its first save, which is v1. Saving again with
// nothing changed makes no version and says since which one.
func TestNewFlowFirstSaveIsV1(t *testing.T) {
	f := setup(t, testDB)
	ctx := context.Background()
	body(t, f.do("editor", http.MethodPost, "/w/acme/flows", "name=Fresh"), http.StatusSeeOther)
	fs, err := f.st.FlowBySlug(ctx, f.ws.ID, "fresh")
	if err != nil {
		t.Fatal(err)
	}
	if fs.Versions != 0 {
		t.Fatalf("a new flow has %d versions, want none", fs.Versions)
	}
	if got := f.apiJSON("viewer", "GET", "/api/v1/flows/fresh", "", http.StatusOK); got["versions"] != float64(0) {
		t.Fatalf("API flow: versions = %v", got["versions"])
	}
	// With no version, a run runs the draft.
	code, b := f.post("runner", "/api/v1/flows/fresh/runs", "application/json", []byte(`{"wait":"30s"}`))
	if code != http.StatusCreated || !strings.Contains(string(b), `"version":"draft"`) {
		t.Fatalf("run of a flow with no version: %d %s", code, b)
	}
	if _, page := f.get("editor", "/w/acme/flows/fresh/shares"); !strings.Contains(string(page), "the draft (no version is saved yet)") || strings.Contains(string(page), "v0") {
		t.Fatalf("the webhooks panel of a flow with no version does not say it runs the draft: %.3000s", page)
	}
	code, ans := f.saveJSON("editor", "fresh", "first")
	if code != http.StatusCreated || ans["number"] != float64(1) {
		t.Fatalf("first save: %d %v, want v1", code, ans)
	}
	// Nothing changed since v1: no v2, and the answer says so.
	code, ans = f.saveJSON("editor", "fresh", "again")
	e, _ := ans["error"].(map[string]any)
	if code != http.StatusConflict || e["code"] != "unchanged" || e["number"] != float64(1) || !strings.Contains(e["message"].(string), "nothing changed since v1") {
		t.Fatalf("save of unchanged content: %d %v", code, ans)
	}
	resp := f.do("editor", http.MethodPost, "/w/acme/flows/fresh/versions", "message=again")
	if page := body(t, resp, http.StatusConflict); !strings.Contains(page, "nothing changed since v1") {
		t.Fatalf("the history page does not say nothing changed: %.800s", page)
	}
	if fs, _ := f.st.FlowBySlug(ctx, f.ws.ID, "fresh"); fs.Versions != 1 {
		t.Fatalf("versions after saving unchanged content = %d, want 1", fs.Versions)
	}
}

// TestRestoreAsksAboutUnsavedDraft: restoring over a draft with edits no
// version holds asks first; save_first=1 keeps them as a version, then
// restores; discard=1 lets them go; with nothing unsaved it restores at
// once (TestRestoreAndPublish).
func TestRestoreAsksAboutUnsavedDraft(t *testing.T) {
	f := setup(t, testDB)
	ctx := context.Background()
	answer := func() string {
		d, err := f.st.Draft(ctx, f.flow.ID)
		if err != nil {
			t.Fatal(err)
		}
		return d.Flow.Cells[1].Source
	}
	versions := func() int {
		fs, _ := f.st.FlowByID(ctx, f.flow.ID)
		return fs.Versions
	}
	_, page := f.get("editor", "/w/acme/flows/hello/versions")
	if strings.Contains(string(page), "data-restore-confirm") {
		t.Fatal("the history asks before a restore with nothing unsaved")
	}
	f.editCell("editor", 1, "40 + 3\n")
	_, page = f.get("editor", "/w/acme/flows/hello/versions")
	if !strings.Contains(string(page), `data-restore-confirm="1"`) || !strings.Contains(string(page), "data-restore-save-first") {
		t.Fatalf("the history does not ask before restoring over unsaved edits: %.3000s", page)
	}

	// Neither answer: nothing restored, and the page says why.
	resp := f.do("editor", http.MethodPost, "/w/acme/flows/hello/versions/1/restore", "")
	if b := body(t, resp, http.StatusConflict); !strings.Contains(b, "save them as a version first") {
		t.Fatalf("restore over unsaved edits: %.800s", b)
	}
	if got := answer(); got != "40 + 3\n" || versions() != 1 {
		t.Fatalf("after a refused restore: draft %q, %d versions", got, versions())
	}

	// Save first: v2 holds the edit, the draft is v1 again.
	resp = f.do("editor", http.MethodPost, "/w/acme/flows/hello/versions/1/restore", "save_first=1")
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "saved=2") {
		t.Fatalf("restore with save_first: %d %s", resp.StatusCode, loc)
	}
	resp.Body.Close()
	v2, err := f.st.Version(ctx, f.flow.ID, 2)
	if err != nil || !strings.Contains(string(v2.Files[2].Data)+string(v2.Files[1].Data)+string(v2.Files[0].Data), "40 + 3") {
		t.Fatalf("v2 does not hold the draft's edit: %v %q", err, v2.Files)
	}
	if got := answer(); got != "40 + 2\n" {
		t.Fatalf("draft after the restore = %q", got)
	}
	_, page = f.get("editor", "/w/acme/flows/hello/versions?done=restored&v=1&saved=2")
	if !strings.Contains(string(page), "Saved the draft as v2 first.") {
		t.Fatal("the history does not say the draft was saved first")
	}

	// Discard: restored, no new version.
	f.editCell("editor", 1, "40 + 4\n")
	resp = f.do("editor", http.MethodPost, "/w/acme/flows/hello/versions/2/restore", "discard=1")
	body(t, resp, http.StatusSeeOther)
	if got := answer(); got != "40 + 3\n" || versions() != 2 {
		t.Fatalf("after restore with discard: draft %q, %d versions", got, versions())
	}
}

// TestGitSaveSaysWhatGitDid: the notebook's save answers what the push
// did, and every open notebook of the flow gets the new chip at once: in
// sync after a commit, conflict when git changed the flow meanwhile.
func TestGitSaveSaysWhatGitDid(t *testing.T) {
	f := setup(t, testDB)
	remote := bareRepo(t)
	f.configureGit(remote, "")
	viewer, err := f.dial("viewer", "/w/acme/flows/hello/ws")
	if err != nil {
		t.Fatal(err)
	}
	readUntil(t, viewer, isType("hello"))
	chip := func() map[string]any {
		t.Helper()
		m := readUntil(t, viewer, isType("git"))
		return m[len(m)-1]["git"].(map[string]any)
	}

	f.editCell("editor", 0, "echo into git {{ inputs.who }}\n")
	code, ans := f.saveJSON("editor", "hello", "Into git")
	g, _ := ans["git"].(map[string]any)
	if code != http.StatusCreated || g["outcome"] != "committed" || g["status"] != "in_sync" {
		t.Fatalf("save with git: %d %v", code, ans)
	}
	if c := chip(); c["status"] != "in_sync" || c["label"] != "in sync" {
		t.Fatalf("chip after a commit: %v", c)
	}

	eve := cloneOf(t, remote)
	eve.write("hello/greet.sh", "echo from git {{ inputs.who }}\n")
	eve.commitPush("Eve's greeting")
	f.editCell("editor", 0, "echo from here {{ inputs.who }}\n")
	code, ans = f.saveJSON("editor", "hello", "Ours")
	g, _ = ans["git"].(map[string]any)
	if code != http.StatusCreated || ans["number"] != float64(3) || g["outcome"] != "conflict" || g["status"] != "conflict" ||
		!strings.HasPrefix(g["message"].(string), "conflict") {
		t.Fatalf("save that hit a conflict: %d %v", code, ans)
	}
	if c := chip(); c["status"] != "conflict" || c["error"] == "" {
		t.Fatalf("chip after a conflict: %v", c)
	}
}

// TestUploadUnchangedArchive: an archive of the latest version's content,
// uploaded on the history page or through the API, makes no version and
// leaves the draft's edits alone; the answer says which version holds it.
func TestUploadUnchangedArchive(t *testing.T) {
	f := setup(t, testDB)
	ctx := context.Background()
	code, tgz := f.get("viewer", "/api/v1/flows/hello/versions/1/export?format=tar.gz")
	if code != http.StatusOK {
		t.Fatalf("export v1: %d %s", code, tgz)
	}
	code, zip := f.get("viewer", "/api/v1/flows/hello/versions/1/export?format=zip")
	if code != http.StatusOK {
		t.Fatalf("export v1 as zip: %d %s", code, zip)
	}
	d, err := f.st.Draft(ctx, f.flow.ID)
	if err != nil {
		t.Fatal(err)
	}
	edited := d.Flow.Cells[0].Source + "echo edited\n"
	if err := f.st.UpdateCellSource(ctx, f.flow.ID, d.Cells[0].ID, edited, f.users["editor"].ID); err != nil {
		t.Fatal(err)
	}

	code, page := f.upload("editor", "/w/acme/flows/hello/versions/import", "hello.tar.gz", tgz)
	if code != http.StatusConflict || !strings.Contains(page, "this archive holds the same flow as v1; no new version was made") {
		t.Fatalf("page upload of v1's archive: %d %.800s", code, page)
	}
	code, b := f.post("editor", "/api/v1/flows/hello/versions", "application/zip", zip)
	if code != http.StatusConflict || !strings.Contains(string(b), `"code":"unchanged"`) || !strings.Contains(string(b), `"number":1`) {
		t.Fatalf("API upload of v1's zip: %d %s, want 409 unchanged of v1", code, b)
	}
	if fs, _ := f.st.FlowBySlug(ctx, f.ws.ID, "hello"); fs.Versions != 1 {
		t.Errorf("versions after uploading unchanged content = %d, want 1", fs.Versions)
	}
	if d, _ := f.st.Draft(ctx, f.flow.ID); d.Flow.Cells[0].Source != edited {
		t.Errorf("the unchanged upload replaced the draft's edit: %q", d.Flow.Cells[0].Source)
	}
}
