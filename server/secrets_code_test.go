package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/secret"
)

const codeSecret = "tok-Very-Secret-9"

// secretRefusal checks a 422 answer naming the secret and its place, and
// never the value.
func secretRefusal(t *testing.T, what string, code int, b []byte, secretName, cell string, line int) {
	t.Helper()
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("%s: status %d, want 422: %s", what, code, b)
	}
	var out struct {
		Error struct {
			Code, Message, Field, Cell string
			Line                       int
		}
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: %v: %s", what, err, b)
	}
	e := out.Error
	if e.Code != "secret_in_code" || e.Cell != cell || e.Line != line || !strings.Contains(e.Message, secretName) {
		t.Fatalf("%s: error %+v, want secret_in_code naming %s at cell %q line %d", what, e, secretName, cell, line)
	}
	if cell != "" && (e.Field != "cells."+cell || !strings.Contains(e.Message, "cell "+cell)) {
		t.Fatalf("%s: error %+v does not name cell %s", what, e, cell)
	}
	if strings.Contains(string(b), codeSecret) || strings.Contains(string(b), "pw-Secret-77") {
		t.Fatalf("%s: the answer echoes the secret: %s", what, b)
	}
}

// TestSecretInCodeRefused: every path that stores a version refuses code
// holding a workspace secret's value, and stores nothing.
func TestSecretInCodeRefused(t *testing.T) {
	for _, dialect := range []string{testDB} {
		t.Run(dialect, func(t *testing.T) {
			f := setup(t, dialect)
			ctx := context.Background()
			f.apiJSON("owner", "PUT", "/api/v1/secrets/TOKEN", `{"value":`+toJSON(codeSecret)+`}`, http.StatusCreated)
			f.apiJSON("owner", "PUT", "/api/v1/secrets/GIT_USERNAME", `{"value":"opsbot-user"}`, http.StatusCreated)
			f.apiJSON("owner", "PUT", "/api/v1/secrets/CONNECTION_WH", `{"value":"postgres://wh:pw-Secret-77@db.example/wh"}`, http.StatusCreated)
			versions := func() int {
				fs, err := f.st.FlowByID(ctx, f.flow.ID)
				if err != nil {
					t.Fatal(err)
				}
				return fs.Versions
			}
			before := versions()
			save := func(accept string) (int, []byte) {
				req, _ := http.NewRequest("POST", f.ts.URL+"/w/acme/flows/hello/versions", strings.NewReader("message=x"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if accept != "" {
					req.Header.Set("Accept", accept)
				}
				req.AddCookie(&http.Cookie{Name: sessionCookie, Value: f.cookies["editor"]})
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var b strings.Builder
				buf := make([]byte, 4096)
				for {
					n, err := resp.Body.Read(buf)
					b.WriteString(string(buf[:n]))
					if err != nil {
						break
					}
				}
				return resp.StatusCode, []byte(b.String())
			}

			// The notebook's save (Ctrl/Cmd+S fetches with Accept: JSON).
			f.editCell("editor", 0, "echo start\ncurl -H 'Authorization: Bearer "+codeSecret+"' https://api.example\n")
			code, b := save("application/json")
			secretRefusal(t, "notebook save", code, b, "TOKEN", "greet", 2)
			// The history page's form.
			code, b = save("")
			if code != http.StatusUnprocessableEntity || !strings.Contains(string(b), "TOKEN") || strings.Contains(string(b), codeSecret) {
				t.Fatalf("form save: %d %.400s", code, b)
			}
			// A connection's password alone.
			f.editCell("editor", 0, "psql 'postgres://wh:pw-Secret-77@db.example/wh' -c 'select 1'\n")
			code, b = save("application/json")
			secretRefusal(t, "connection password", code, b, "CONNECTION_WH", "greet", 1)
			if n := versions(); n != before {
				t.Fatalf("versions %d after refusals, want %d", n, before)
			}
			// A setting kept with the secrets is not one.
			f.editCell("editor", 0, "echo hello opsbot-user\n")
			if code, b := save("application/json"); code != http.StatusCreated {
				t.Fatalf("save with GIT_USERNAME's value: %d %s", code, b)
			}
			before = versions()

			// The versions API (what opsbook import uses): the value in the
			// manifest, an input's default.
			manifest := "name: Hello\ninputs:\n  - name: who\n    type: string\n    default: " + codeSecret + "\ncells:\n  - name: greet\n    kind: shell\n    file: greet.sh\n"
			arc := targz(t, map[string]string{"hello/flow.yaml": manifest, "hello/greet.sh": "echo hi\n"})
			code, b = f.post("editor", "/api/v1/flows/hello/versions", "application/gzip", arc)
			secretRefusal(t, "API import", code, b, "TOKEN", "", 5)
			if !strings.Contains(string(b), "flow.yaml") {
				t.Fatalf("API import: the place is not named: %s", b)
			}
			// A new flow through the API.
			arc = targz(t, map[string]string{
				"leak/flow.yaml": "name: Leak\ncells:\n  - name: call\n    kind: shell\n    file: call.sh\n",
				"leak/call.sh":   "# token\n\necho " + codeSecret + "\n",
			})
			code, b = f.post("editor", "/api/v1/flows", "application/gzip", arc)
			secretRefusal(t, "API create", code, b, "TOKEN", "call", 3)
			if _, err := f.st.FlowBySlug(ctx, f.ws.ID, "leak"); err == nil {
				t.Fatal("the refused flow was stored")
			}
			// The history page's upload.
			code2, page := f.upload("editor", "/w/acme/flows/hello/versions/import", "hello.tar.gz", targz(t, map[string]string{"hello/flow.yaml": manifest, "hello/greet.sh": "echo hi\n"}))
			if code2 != http.StatusUnprocessableEntity || !strings.Contains(page, "TOKEN") || strings.Contains(page, codeSecret) {
				t.Fatalf("upload: %d %.400s", code2, page)
			}
			if n := versions(); n != before {
				t.Fatalf("versions %d after refused imports, want %d", n, before)
			}
		})
	}
}

// TestSecretInCodeNotPushed: a version saved before its value became a
// secret is not pushed to git; the flow's git status says why.
func TestSecretInCodeNotPushed(t *testing.T) {
	f := setup(t, testDB)
	ctx := context.Background()
	const later = "later-Secret-42"
	f.editCell("editor", 0, "echo "+later+"\n")
	if n := f.saveVersion("editor", "before the secret"); n != 2 {
		t.Fatalf("versions = %d", n)
	}
	f.apiJSON("owner", "PUT", "/api/v1/secrets/LATER", `{"value":"`+later+`"}`, http.StatusCreated)
	remote := bareRepo(t)
	f.configureGit(remote, "flows")
	v, err := f.st.Version(ctx, f.flow.ID, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.srv.git.versionSaved(ctx, VersionEvent{Workspace: f.ws, Flow: f.flow, Version: v, By: f.users["editor"], Source: VersionFromStudio}); err != nil {
		t.Fatal(err)
	}
	fg := f.waitGit(f.flow.ID, "")
	if !strings.Contains(fg.Error, "not pushed") || !strings.Contains(fg.Error, "LATER") || strings.Contains(fg.Error, later) {
		t.Fatalf("git error %q", fg.Error)
	}
	if refs := gitRun(t, remote, "for-each-ref"); refs != "" {
		if log := gitRun(t, remote, "log", "--all", "-p"); strings.Contains(log, later) {
			t.Fatal("the secret's value reached git")
		}
	}
}

// TestBrowserSecretInCodeMarked: saving a version from the notebook with a
// secret's value in a cell says which secret and marks the line.
func TestBrowserSecretInCodeMarked(t *testing.T) {
	s := newStudio(t)
	ws := s.workspace()
	u, tok := s.member("ed", "Ed Editor", engine.RoleEditor)
	fl := s.flow("report", "Report", u,
		engine.Cell{Name: "fetch", Kind: engine.KindShell, Source: "echo start\ncurl -H 'Authorization: Bearer " + codeSecret + "' https://api.example\necho done\n"})
	if _, err := s.st.SetSecret(context.Background(), ws.ID, "TOKEN", s.srv.box.Seal(codeSecret, secret.Context(ws.ID, "TOKEN")), ""); err != nil {
		t.Fatal(err)
	}
	before := s.versions(fl.ID)
	b := newBrowser(t, s)
	b.signIn(tok)
	b.open("/w/acme/flows/report", `section[data-cell="fetch"] .cm-content`)
	b.wait("the notebook's socket", `document.querySelector('[data-conn]')?.dataset.conn === 'open'`)
	b.do("save a version", chromedp.Click(chromedp.CSS(`[data-action="save-version"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#version-dialog input[name="message"]`)),
		chromedp.SendKeys(chromedp.CSS(`#version-dialog input[name="message"]`), "add the call"),
		chromedp.Click(chromedp.CSS(`#version-dialog button[type="submit"]`)))
	b.wait("the refusal", `(document.querySelector('#version-dialog [data-error-for="message"]')?.textContent ?? '').includes('TOKEN')`)
	b.wait("the marked line", jsCell("fetch", ".cm-marked-line")+`?.textContent.includes('curl')`)
	if n := eval[int](b, `document.querySelectorAll(`+jsString(cellSel("fetch", ".cm-marked-line"))+`).length`); n != 1 {
		t.Fatalf("%d marked lines, want 1", n)
	}
	if msg := eval[string](b, `document.querySelector('#version-dialog [data-error-for="message"]').textContent`); strings.Contains(msg, codeSecret) || !strings.Contains(msg, "fetch") {
		t.Fatalf("message %q", msg)
	}
	if n := s.versions(fl.ID); n != before {
		t.Fatalf("versions %d, want %d", n, before)
	}
	// Typing in the cell clears the mark.
	b.do("close the dialog", chromedp.Click(chromedp.CSS(`#version-dialog button[type="button"]`)))
	b.typeInto("fetch", "x")
	b.wait("the mark cleared", jsCell("fetch", ".cm-marked-line")+` === null`)
}
