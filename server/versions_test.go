package server

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/archive"
	"github.com/opsbook/opsbook/engine/collab"
	"github.com/opsbook/opsbook/engine/flow"
)

// post sends body as role with a content type, over the API.
func (f *fixture) post(role, path, contentType string, body []byte) (int, []byte) {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.ts.URL+path, bytes.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+f.tokens[role])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (f *fixture) get(role, path string) (int, []byte) {
	f.t.Helper()
	resp := f.do(role, http.MethodGet, path, "")
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// diskArchive packs a flow folder of testdata/flows as it is on disk.
func diskArchive(t *testing.T, dir string, format archive.Format) ([]byte, map[string][]byte) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	disk := map[string][]byte{}
	var files []flow.File
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		disk[e.Name()] = b
		files = append(files, flow.File{Name: e.Name(), Data: b})
	}
	var buf bytes.Buffer
	if err := archive.Write(&buf, format, filepath.Base(dir), files); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), disk
}

// TestExportImportRoundTrip: for every flow in testdata/flows, through the
// API on SQLite, export → import → export gives identical bytes, in both
// formats, and the files are those on disk.
func TestExportImportRoundTrip(t *testing.T) {
	f := setup(t, testDB)
	root := filepath.Join("..", "testdata", "flows")
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		n++
		slug := e.Name()
		t.Run(slug, func(t *testing.T) {
			f.t = t
			data, disk := diskArchive(t, filepath.Join(root, slug), archive.TarGz)
			if code, b := f.post("editor", "/api/v1/flows", "application/gzip", data); code != http.StatusCreated {
				t.Fatalf("create: %d %s", code, b)
			}
			export := func(n int, format string) []byte {
				code, b := f.get("viewer", fmt.Sprintf("/api/v1/flows/%s/versions/%d/export?format=%s", slug, n, format))
				if code != http.StatusOK {
					t.Fatalf("export v%d %s: %d %s", n, format, code, b)
				}
				return b
			}
			tgz1, zip1 := export(1, "tar.gz"), export(1, "zip")
			// The export holds exactly the files on disk.
			files, top, err := archive.Read(tgz1, "", archive.DefaultLimits)
			if err != nil || top != slug || len(files) != len(disk) {
				t.Fatalf("export v1: %d files, top %q, %v", len(files), top, err)
			}
			for _, fl := range files {
				if !bytes.Equal(fl.Data, disk[fl.Name]) {
					t.Errorf("%s differs from the file on disk", fl.Name)
				}
			}
			// v1's own archive is v1's content: no new version.
			code, b := f.post("editor", "/api/v1/flows/"+slug+"/versions", "application/gzip", tgz1)
			if code != http.StatusConflict || !strings.Contains(string(b), `"code":"unchanged"`) || !strings.Contains(string(b), `"number":1`) {
				t.Fatalf("import of v1's tar.gz over v1: %d %s, want 409 unchanged", code, b)
			}
			// After another version, v1's archives come back byte for byte.
			fs, err := f.st.FlowBySlug(context.Background(), f.ws.ID, slug)
			if err != nil {
				t.Fatal(err)
			}
			d, _ := f.st.Draft(context.Background(), fs.ID)
			if err := f.st.UpdateCellSource(context.Background(), fs.ID, d.Cells[0].ID, d.Flow.Cells[0].Source+"\n", f.users["editor"].ID); err != nil {
				t.Fatal(err)
			}
			if code, b := f.saveJSON("editor", slug, "edited"); code != http.StatusCreated {
				t.Fatalf("save an edit: %d %v", code, b)
			}
			code, b = f.post("editor", "/api/v1/flows/"+slug+"/versions?message="+url.QueryEscape("round trip"), "application/gzip", tgz1)
			if code != http.StatusCreated || !strings.Contains(string(b), `"number":3`) {
				t.Fatalf("import tar.gz: %d %s", code, b)
			}
			code, b = f.post("editor", "/api/v1/flows/"+slug+"/versions", "application/zip", zip1)
			if code != http.StatusConflict || !strings.Contains(string(b), `"number":3`) {
				t.Fatalf("import of the same flow as a zip: %d %s, want 409 unchanged of v3", code, b)
			}
			for _, v := range []int{3} {
				if !bytes.Equal(export(v, "tar.gz"), tgz1) {
					t.Errorf("v%d .tar.gz differs from v1's", v)
				}
				if !bytes.Equal(export(v, "zip"), zip1) {
					t.Errorf("v%d .zip differs from v1's", v)
				}
			}
			// The draft is the import.
			d, _ = f.st.Draft(context.Background(), fs.ID)
			v1, _ := f.st.Version(context.Background(), fs.ID, 1)
			if flow.Hash(d.Flow) != v1.Hash {
				t.Errorf("draft after import does not hash as v1")
			}
		})
	}
	if n < 9 {
		t.Fatalf("only %d flows in testdata/flows", n)
	}
}

// counts is what an import could store.
type counts struct{ flows, versions, cells int }

func (f *fixture) counts() counts {
	ctx := context.Background()
	fls, err := f.st.Flows(ctx, f.ws.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	var c counts
	for _, fl := range fls {
		c.flows++
		c.versions += fl.Versions
		c.cells += fl.Cells
	}
	return c
}

func hostileTar(t *testing.T, extra ...*tar.Header) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	good := map[string]string{"hello/flow.yaml": "name: Evil\ncells:\n  - name: a\n    kind: shell\n    file: a.sh\n", "hello/a.sh": "echo\n"}
	for _, name := range []string{"hello/flow.yaml", "hello/a.sh"} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(good[name])), Typeflag: tar.TypeReg})
		tw.Write([]byte(good[name]))
	}
	for _, h := range extra {
		tw.WriteHeader(h)
		if h.Typeflag == tar.TypeReg {
			tw.Write(bytes.Repeat([]byte("x"), int(h.Size)))
		}
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// TestHostileArchives: each is refused with a message, and nothing is
// stored: not a version, not a cell, not a flow.
func TestHostileArchives(t *testing.T) {
	f := setup(t, testDB)
	var many []*tar.Header
	for i := range 10000 {
		many = append(many, &tar.Header{Name: fmt.Sprintf("hello/c%05d.sh", i), Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
	}
	var bomb bytes.Buffer
	zw := zip.NewWriter(&bomb)
	w, _ := zw.Create("hello/flow.yaml")
	w.Write(bytes.Repeat([]byte{'\n'}, 10<<20))
	zw.Close()
	var zipLink bytes.Buffer
	zw = zip.NewWriter(&zipLink)
	h := &zip.FileHeader{Name: "hello/flow.yaml"}
	h.SetMode(os.ModeSymlink | 0o777)
	w, _ = zw.CreateHeader(h)
	w.Write([]byte("/etc/passwd"))
	zw.Close()
	badRef := func() []byte {
		var buf bytes.Buffer
		archive.Write(&buf, archive.TarGz, "hello", []flow.File{
			{Name: "flow.yaml", Data: []byte("name: Bad\ncells:\n  - name: a\n    kind: expr\n    file: a.expr\n")},
			{Name: "a.expr", Data: []byte("cells.nowhere.value + 1\n")},
		})
		return buf.Bytes()
	}()
	tests := []struct {
		name, ct string
		data     []byte
		status   int
		msg      string
	}{
		{"path traversal", "application/gzip", hostileTar(t, &tar.Header{Name: "hello/../../etc/cron.d/x", Mode: 0o644, Size: 1, Typeflag: tar.TypeReg}), 400, "leaves the folder"},
		{"absolute path", "application/gzip", hostileTar(t, &tar.Header{Name: "/etc/passwd", Mode: 0o644, Size: 1, Typeflag: tar.TypeReg}), 400, "not a relative path"},
		{"tar symlink", "application/gzip", hostileTar(t, &tar.Header{Name: "hello/b.sh", Linkname: "/etc/shadow", Typeflag: tar.TypeSymlink}), 400, "symbolic link"},
		{"zip symlink", "application/zip", zipLink.Bytes(), 400, "symbolic link"},
		{"10,000 files", "application/gzip", hostileTar(t, many...), 400, "more than 500 files"},
		{"zip bomb", "application/zip", bomb.Bytes(), 400, "zip bomb"},
		{"reference to an unknown cell", "application/gzip", badRef, 422, "nowhere"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.t = t
			before := f.counts()
			d0, _ := f.st.Draft(context.Background(), f.flow.ID)
			for _, path := range []string{"/api/v1/flows/hello/versions", "/api/v1/flows?slug=evil"} {
				code, b := f.post("editor", path, tt.ct, tt.data)
				var e struct {
					Error struct{ Message string } `json:"error"`
				}
				json.Unmarshal(b, &e)
				if code != tt.status || !strings.Contains(e.Error.Message, tt.msg) {
					t.Errorf("POST %s: %d %s; want %d saying %q", path, code, b, tt.status, tt.msg)
				}
			}
			if after := f.counts(); after != before {
				t.Errorf("stored something: %+v → %+v", before, after)
			}
			d1, _ := f.st.Draft(context.Background(), f.flow.ID)
			if flow.Hash(d0.Flow) != flow.Hash(d1.Flow) {
				t.Error("the draft changed")
			}
		})
	}
	// The history page's upload says so beside the field, too.
	f.t = t
	status, body := f.upload("editor", "/w/acme/flows/hello/versions/import", "evil.zip", bomb.Bytes())
	if status != http.StatusBadRequest || !strings.Contains(body, "zip bomb") {
		t.Errorf("upload: %d %.300s", status, body)
	}
}

// upload posts a multipart archive as a signed-in role.
func (f *fixture) upload(role, path, filename string, data []byte) (int, string) {
	f.t.Helper()
	var buf bytes.Buffer
	mw := newMultipart(&buf, filename, data)
	req, _ := http.NewRequest(http.MethodPost, f.ts.URL+path, &buf)
	req.Header.Set("Content-Type", mw)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: f.cookies[role]})
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// saveVersion saves the draft as a version through the studio's form, as
// role, and returns the flow's number of versions.
func (f *fixture) saveVersion(role, message string) int {
	f.t.Helper()
	resp := f.do(role, http.MethodPost, "/w/acme/flows/hello/versions", "message="+url.QueryEscape(message))
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		f.t.Fatalf("save version: %d", resp.StatusCode)
	}
	fs, _ := f.st.FlowByID(context.Background(), f.flow.ID)
	return fs.Versions
}

// TestRunPageShowsItsVersion: a run's page shows the code that ran and
// links to its version, after later versions changed that code.
func TestRunPageShowsItsVersion(t *testing.T) {
	f := setup(t, testDB)
	ctx := context.Background()
	code, b := f.post("runner", "/api/v1/flows/hello/runs", "application/json", []byte(`{"version":1,"wait":"30s"}`))
	if code != http.StatusCreated {
		t.Fatalf("run: %d %s", code, b)
	}
	var run struct{ ID string }
	json.Unmarshal(b, &run)
	f.waitRun(run.ID)

	d, _ := f.st.Draft(ctx, f.flow.ID)
	if err := f.st.UpdateCellSource(ctx, f.flow.ID, d.Cells[0].ID, "echo goodbye {{ inputs.who }}\n", f.users["editor"].ID); err != nil {
		t.Fatal(err)
	}
	if n := f.saveVersion("editor", "say goodbye"); n != 2 {
		t.Fatalf("versions = %d", n)
	}
	_, page := f.get("viewer", "/runs/"+run.ID)
	if !strings.Contains(string(page), "echo hello {{ inputs.who }}") || strings.Contains(string(page), "goodbye") {
		t.Errorf("run page does not show the code of v1:\n%.2000s", page)
	}
	if !strings.Contains(string(page), `data-version-link="1"`) {
		t.Errorf("run page does not link v1")
	}

	// A run of the draft (pinned by hash) links the version with its content.
	d, _ = f.st.Draft(ctx, f.flow.ID)
	r, err := f.srv.runs.Start(ctx, StartRequest{Workspace: f.ws, FlowID: f.flow.ID, FlowSlug: "hello", Flow: d.Flow, StartedBy: f.users["editor"]})
	if err != nil {
		t.Fatal(err)
	}
	f.waitRun(r.ID)
	_, page = f.get("viewer", "/runs/"+r.ID)
	if !strings.Contains(string(page), `data-version-link="2"`) || !strings.Contains(string(page), "echo goodbye") {
		t.Errorf("draft run page does not link v2")
	}
}

// TestDiffPage renders added, removed and changed cells, line by line,
// and option and order changes as such.
func TestDiffPage(t *testing.T) {
	f := setup(t, testDB)
	ctx := context.Background()
	d, _ := f.st.Draft(ctx, f.flow.ID)
	ed := f.users["editor"].ID
	f.st.UpdateCellSource(ctx, f.flow.ID, d.Cells[0].ID, "echo hi {{ inputs.who }}\necho more\n", ed)
	if err := f.st.DeleteCell(ctx, f.flow.ID, d.Cells[1].ID); err != nil {
		t.Fatal(err)
	}
	c := d.Flow.Cells[0]
	c.Timeout = 30e9
	if err := f.st.UpdateCell(ctx, f.flow.ID, d.Cells[0].ID, c, ed); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.InsertCell(ctx, f.flow.ID, 0, flowCell("fresh", "1 + 1\n"), ed); err != nil {
		t.Fatal(err)
	}
	f.saveVersion("editor", "v2")
	code, page := f.get("viewer", "/w/acme/flows/hello/diff?from=1&to=2")
	if code != http.StatusOK {
		t.Fatalf("diff: %d %s", code, page)
	}
	for _, want := range []string{
		`data-cell="fresh" data-change="added"`, `data-cell="answer" data-change="removed"`, `data-cell="greet" data-change="changed"`,
		`<tr class="dl dl-del" data-op="-">`, `<tr class="dl dl-add" data-op="+">`, "echo more",
		`data-field="timeout"`, "1 added, 1 removed, 1 changed",
	} {
		if !strings.Contains(string(page), want) {
			t.Errorf("diff page lacks %s", want)
		}
	}
	// A version against the draft; nothing changed since v2.
	_, page = f.get("viewer", "/w/acme/flows/hello/diff?from=2&to=draft")
	if !strings.Contains(string(page), "No changes.") {
		t.Errorf("v2 → draft should show no changes")
	}
	if code, _ := f.get("viewer", "/w/acme/flows/hello/diff?from=9&to=draft"); code != http.StatusNotFound {
		t.Errorf("diff from a missing version: %d", code)
	}
}

// TestCoauthorsFromTwoEditors: two people edit through their notebooks;
// the version names one as author and the other as co-author, and the next
// version, with no edits, none.
func TestCoauthorsFromTwoEditors(t *testing.T) {
	f := setup(t, testDB)
	owner, err := f.dial("owner", "/w/acme/flows/hello/ws")
	if err != nil {
		t.Fatal(err)
	}
	editor, err := f.dial("editor", "/w/acme/flows/hello/ws")
	if err != nil {
		t.Fatal(err)
	}
	hello := readUntil(t, owner, isType("hello"))[0]
	readUntil(t, editor, isType("hello"))
	cells := hello["draft"].(map[string]any)["cells"].([]any)
	greet := cells[0].(map[string]any)["id"].(string)
	answer := cells[1].(map[string]any)["id"].(string)
	owner.WriteJSON(map[string]any{"t": "source", "id": 1, "cell": greet, "source": "echo owner\n"})
	readUntil(t, owner, isType("ack"))
	editor.WriteJSON(map[string]any{"t": "cell.delete", "id": 2, "cell": answer})
	readUntil(t, editor, isType("ack"))

	hooked := make(chan VersionEvent, 4)
	f.srv.OnVersionSaved(func(_ context.Context, e VersionEvent) error { hooked <- e; return nil })
	f.t = t
	if n := f.saveVersion("editor", "two hands"); n != 2 {
		t.Fatalf("versions = %d", n)
	}
	code, b := f.get("viewer", "/api/v1/flows/hello/versions")
	var list struct{ Versions []apiVersion }
	json.Unmarshal(b, &list)
	if code != http.StatusOK || len(list.Versions) != 2 {
		t.Fatalf("versions: %d %s", code, b)
	}
	v2 := list.Versions[0]
	if v2.Number != 2 || v2.Author != "editor" || !slices.Equal(v2.Coauthors, []string{"owner"}) || v2.Message != "two hands" || len(v2.Hash) != 64 {
		t.Fatalf("v2 = %+v", v2)
	}
	e := <-hooked
	if e.Version.Number != 2 || e.By.Name != "editor" || e.Source != VersionFromStudio || e.Workspace.Slug != "acme" ||
		e.Flow.Slug != "hello" || len(e.Version.Files) != 2 || !slices.Equal(e.Version.Coauthors, []string{f.users["owner"].ID}) {
		t.Fatalf("hook got %+v", e)
	}
	_, page := f.get("viewer", "/w/acme/flows/hello/versions")
	if !strings.Contains(string(page), "with Owner") {
		t.Errorf("history page does not name the co-author")
	}
	f.editCell("owner", 0, "echo owner again\n")
	if n := f.saveVersion("owner", "again"); n != 3 {
		t.Fatalf("versions = %d", n)
	}
	v3, _ := f.st.Version(context.Background(), f.flow.ID, 3)
	if len(v3.Coauthors) != 0 {
		t.Fatalf("v3 co-authors = %v", v3.Coauthors)
	}
	if e := <-hooked; e.Version.Number != 3 {
		t.Fatalf("hook got v%d", e.Version.Number)
	}
}

// TestRestoreAndPublish: restoring a version makes it the draft and tells
// open notebooks; publishing makes API runs use it.
func TestRestoreAndPublish(t *testing.T) {
	f := setup(t, testDB)
	ctx := context.Background()
	d, _ := f.st.Draft(ctx, f.flow.ID)
	f.st.UpdateCellSource(ctx, f.flow.ID, d.Cells[1].ID, "40 + 3\n", f.users["editor"].ID)
	f.saveVersion("editor", "43")
	viewer, err := f.dial("viewer", "/w/acme/flows/hello/ws")
	if err != nil {
		t.Fatal(err)
	}
	readUntil(t, viewer, isType("hello"))

	resp := f.do("editor", http.MethodPost, "/w/acme/flows/hello/versions/1/restore", "")
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("restore: %d", resp.StatusCode)
	}
	m := readUntil(t, viewer, isType("draft"))
	got := m[len(m)-1]
	cells := got["draft"].(map[string]any)["cells"].([]any)
	if got["by"] != "editor" || cells[1].(map[string]any)["source"] != "40 + 2\n" || cells[1].(map[string]any)["id"] != d.Cells[1].ID {
		t.Fatalf("draft message = %v", got)
	}

	// Publish v2 over the API; a run with no version runs v2.
	code, b := f.post("editor", "/api/v1/flows/hello/versions/2/publish", "application/json", nil)
	if code != http.StatusOK || !strings.Contains(string(b), `"published_version":2`) {
		t.Fatalf("publish: %d %s", code, b)
	}
	code, b = f.post("runner", "/api/v1/flows/hello/runs", "application/json", []byte(`{"wait":"30s"}`))
	if code != http.StatusCreated || !strings.Contains(string(b), `"version":2`) {
		t.Fatalf("run: %d %s", code, b)
	}
	if code, _ := f.post("editor", "/api/v1/flows/hello/versions/7/publish", "application/json", nil); code != http.StatusNotFound {
		t.Fatalf("publish a missing version: %d", code)
	}
	_, page := f.get("viewer", "/w/acme/flows/hello/versions")
	if !strings.Contains(string(page), `data-version="2"`) || strings.Count(string(page), "data-published") != 1 {
		t.Errorf("history page does not mark v2 published")
	}
}

// TestSaveInvalidDraft: a draft that does not compile is not saved.
func TestSaveInvalidDraft(t *testing.T) {
	f := setup(t, testDB)
	ctx := context.Background()
	d, _ := f.st.Draft(ctx, f.flow.ID)
	f.st.UpdateCellSource(ctx, f.flow.ID, d.Cells[1].ID, "cells.missing.value\n", f.users["editor"].ID)
	resp := f.do("editor", http.MethodPost, "/w/acme/flows/hello/versions", "message=broken")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(b), "missing") {
		t.Fatalf("save of a broken draft: %d %.500s", resp.StatusCode, b)
	}
	if fs, _ := f.st.FlowByID(ctx, f.flow.ID); fs.Versions != 1 {
		t.Fatalf("versions = %d", fs.Versions)
	}
	// The notebook's fetch gets JSON.
	resp = f.do("editor", http.MethodPost, "/w/acme/flows/hello/versions", "message=broken", "Accept", "application/json")
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(b), `"error"`) {
		t.Fatalf("JSON save: %d %s", resp.StatusCode, b)
	}
}

func flowCell(name, src string) engine.Cell {
	return engine.Cell{Name: name, Kind: engine.KindExpr, File: name + ".expr", Source: src}
}

func newMultipart(w io.Writer, filename string, data []byte) string {
	mw := multipart.NewWriter(w)
	fw, _ := mw.CreateFormFile("archive", filename)
	fw.Write(data)
	mw.WriteField("message", "upload")
	mw.Close()
	return mw.FormDataContentType()
}

// TestRestoreWhileEditing: an editor has a cell open and has typed into it
// when someone restores an older version. The editor gets the restored text
// as collaboration updates, its document stays in step with the server's
// (its next edit is accepted), and the stored text is the one it sees.
func TestRestoreWhileEditing(t *testing.T) {
	for _, dialect := range []string{testDB} {
		t.Run(dialect, func(t *testing.T) {
			f := setup(t, dialect)
			ctx := context.Background()
			ed, err := f.dial("editor", "/w/acme/flows/hello/ws")
			if err != nil {
				t.Fatal(err)
			}
			hello := readUntil(t, ed, isType("hello"))[0]
			cell := hello["draft"].(map[string]any)["cells"].([]any)[1].(map[string]any)
			id, version := cell["id"].(string), int(cell["version"].(float64))
			if cell["source"] != "40 + 2\n" {
				t.Fatalf("answer starts as %q", cell["source"])
			}
			// Type "7" at the end: "40 + 2\n7".
			push := func(v int, changes string) map[string]any {
				ed.WriteJSON(map[string]any{"t": "collab.push", "cell": id, "version": v,
					"updates": []any{map[string]any{"changes": json.RawMessage(changes), "clientID": "me"}}})
				got := readUntil(t, ed, func(m map[string]any) bool {
					return m["cell"] == id && (m["t"] == "collab.ack" || m["t"] == "collab.pull-needed" || m["t"] == "collab.error")
				})
				return got[len(got)-1]
			}
			if m := push(version, `[7,[0,"7"]]`); m["t"] != "collab.ack" {
				t.Fatalf("first push: %v", m)
			}
			version++

			resp := f.do("editor", http.MethodPost, "/w/acme/flows/hello/versions/1/restore", "discard=1")
			resp.Body.Close()
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("restore: %d", resp.StatusCode)
			}
			// The restore reaches the editor as updates that apply to its text.
			text := "40 + 2\n7"
			for text != "40 + 2\n" {
				m := readUntil(t, ed, func(m map[string]any) bool { return m["t"] == "collab.updates" && m["cell"] == id })
				u := m[len(m)-1]
				start := int(u["version"].(float64))
				for i, up := range u["updates"].([]any) {
					if start+i < version {
						continue
					}
					raw, _ := json.Marshal(up.(map[string]any)["changes"])
					cs, err := collab.ParseChangeSet(raw)
					if err != nil {
						t.Fatal(err)
					}
					next, err := cs.Apply(collab.TextOf(text))
					if err != nil {
						t.Fatalf("update %d does not apply to the editor's text %q: %v", start+i, text, err)
					}
					text = next.String()
					version++
				}
			}
			// The editor's next edit, at its version, is accepted.
			if m := push(version, `[7,[0,"!"]]`); m["t"] != "collab.ack" {
				t.Fatalf("push after the restore: %v", m)
			}
			d, err := f.st.Draft(ctx, f.flow.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got := d.Flow.Cells[1].Source; got != "40 + 2\n!" {
				t.Fatalf("stored text %q; want the restored text plus the new edit", got)
			}
		})
	}
}
