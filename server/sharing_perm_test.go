package server

import (
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opsbook/opsbook/account"
	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
)

// shareHolder is the principal who holds a share link and nothing else.
const shareHolder = "holder"

// makeShare stores a link to the fixture's flow (kind run: its finished
// run) and returns it with its token.
func (f *fixture) makeShare(kind string, mod func(*store.Share)) (store.Share, string) {
	f.t.Helper()
	tok, hash := account.NewToken(shareTokenPrefix)
	sh := store.Share{WorkspaceID: f.ws.ID, FlowID: f.flow.ID, Kind: kind, Hash: hash, ExpiresAt: time.Now().Add(time.Hour), CreatedBy: f.users["owner"].ID}
	if kind == store.ShareRun {
		sh.RunID = f.run
	}
	if mod != nil {
		mod(&sh)
	}
	sh, err := f.st.CreateShare(context.Background(), sh)
	if err != nil {
		f.t.Fatal(err)
	}
	return sh, tok
}

type permRow = struct {
	method, path, body string
	want               expect
}

// sharingPermissionRows are the permission rows of the sharing routes.
func sharingPermissionRows(f *fixture) []permRow {
	const (
		ok   = http.StatusOK
		see  = http.StatusSeeOther
		bad  = http.StatusBadRequest
		una  = http.StatusUnauthorized
		fbd  = http.StatusForbidden
		nf   = http.StatusNotFound
		unp  = http.StatusUnprocessableEntity
		crt  = http.StatusCreated
		gone = http.StatusNoContent
	)
	_, runTok := f.makeShare(store.ShareRun, nil)
	f.holder = runTok
	_, formTok := f.makeShare(store.ShareForm, nil)
	toRevoke, _ := f.makeShare(store.ShareRun, nil)
	toDelete, _ := f.makeShare(store.ShareRun, nil)
	guess, _ := account.NewToken(shareTokenPrefix)
	all := func(code int) expect { return expect{code, code, code, code, code, code} }
	return []permRow{
		{"POST", "/runs/" + f.run + "/shares", "expires_in=168h", expect{crt, crt, fbd, fbd, nf, una}},
		{"POST", "/runs/r_nope/shares", "", expect{nf, nf, nf, nf, nf, una}},
		{"GET", "/w/acme/flows/hello/shares", "", expect{ok, ok, ok, ok, nf, see}},
		{"POST", "/w/acme/flows/hello/shares", "expires_in=forever&runs_per_hour=1", expect{unp, unp, fbd, fbd, nf, una}},
		{"POST", "/w/acme/shares/" + toRevoke.ID + "/revoke", "", expect{see, see, fbd, fbd, nf, una}},
		{"POST", "/w/other/shares/" + toRevoke.ID + "/revoke", "", expect{nf, nf, nf, nf, nf, una}},
		{"POST", "/w/acme/secrets", "name=&value=", expect{unp, fbd, fbd, fbd, nf, una}},
		{"POST", "/w/acme/secrets/NOPE/delete", "", expect{nf, fbd, fbd, fbd, nf, una}},
		{"GET", "/w/acme/activity", "", expect{ok, fbd, fbd, fbd, nf, see}},
		{"GET", "/s/" + runTok, "", all(ok)},
		{"GET", "/s/" + formTok, "", all(ok)},
		{"GET", "/s/" + guess, "", all(nf)},
		{"POST", "/s/" + formTok, "in.who=form", all(see)},
		{"POST", "/s/" + formTok, "in.nobody=1", all(unp)},
		{"POST", "/s/" + runTok, "in.who=x", all(nf)},
		{"GET", "/s/" + runTok + "/ws", "", all(bad)},
		{"GET", "/s/" + formTok + "/ws", "", all(nf)},
		{"GET", "/s/" + runTok + "/log?cell=greet", "", all(ok)},
		{"GET", "/s/" + guess + "/log?cell=greet", "", all(nf)},
		{"POST", "/s/" + runTok + "/markdown", "# hi", all(ok)},
		{"POST", "/s/" + formTok + "/markdown", "# hi", all(nf)},
		{"POST", "/s/" + guess + "/markdown", "# hi", all(nf)},
		{"POST", "/api/v1/runs/" + f.run + "/shares", `{"expires_in":"1h"}`, expect{crt, crt, fbd, fbd, nf, una}},
		{"POST", "/api/v1/runs/" + f.run + "/shares", `{"expires_in":"1y"}`, expect{unp, unp, fbd, fbd, nf, una}},
		{"DELETE", "/api/v1/shares/" + toDelete.ID, "", expect{gone, gone, fbd, fbd, nf, una}},
		{"DELETE", "/api/v1/shares/s_nope", "", expect{nf, nf, nf, nf, nf, una}},
		{"GET", "/api/v1/flows/hello/shares", "", expect{ok, ok, ok, ok, nf, una}},
		{"POST", "/api/v1/flows/hello/forms", `{"expires_in":"1h","runs_per_hour":3}`, expect{crt, crt, fbd, fbd, nf, una}},
		{"GET", "/api/v1/secrets", "", expect{ok, fbd, fbd, fbd, ok, una}},
		{"PUT", "/api/v1/secrets/PERM_TEST", `{"value":"v4lue-long-enough"}`, expect{crt, fbd, fbd, fbd, crt, una}},
		{"PUT", "/api/v1/secrets/bad-name", `{"value":"v"}`, expect{unp, fbd, fbd, fbd, unp, una}},
		{"DELETE", "/api/v1/secrets/NOPE", "", expect{nf, fbd, fbd, fbd, nf, una}},
		{"GET", "/api/v1/audit", "", expect{ok, fbd, fbd, fbd, ok, una}},
		{"GET", "/api/v1/audit?since=yesterday", "", expect{bad, fbd, fbd, fbd, bad, una}},
		// Last: it ends each role's session.
		{"POST", "/signout", "", all(see)},
	}
}

// sharingPostPaths are POST paths that a cross-site request must not
// reach: state-changing ones, and a link's markdown route.
func sharingPostPaths(f *fixture) []string {
	_, formTok := f.makeShare(store.ShareForm, nil)
	sh, runTok := f.makeShare(store.ShareRun, nil)
	return []string{"/runs/" + f.run + "/shares", "/w/acme/flows/hello/shares", "/w/acme/shares/" + sh.ID + "/revoke",
		"/w/acme/secrets", "/w/acme/secrets/X/delete", "/s/" + formTok, "/s/" + runTok + "/markdown"}
}

// checkRoutesCovered fails when a route of routes.go has no row in the
// permission table, so a new route cannot go untested.
func checkRoutesCovered(t *testing.T, rows []permRow) {
	t.Helper()
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, "routes.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	ast.Inspect(file, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || (sel.Sel.Name != "Handle" && sel.Sel.Name != "HandleFunc") {
			return true
		}
		if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
			p, _ := strconv.Unquote(lit.Value)
			patterns = append(patterns, p)
		}
		return true
	})
	if len(patterns) < 10 {
		t.Fatalf("found only %d routes in routes.go", len(patterns))
	}
	for _, p := range patterns {
		method, path, ok := strings.Cut(p, " ")
		if !ok || strings.HasSuffix(path, "/") && path != "/" && !strings.HasSuffix(path, "{$}") {
			continue // a prefix route: static files, the API's 404
		}
		covered := false
		for _, row := range rows {
			if row.method == method && pathMatches(path, strings.SplitN(row.path, "?", 2)[0]) {
				covered = true
				break
			}
		}
		if !covered {
			t.Errorf("route %q has no row in the permission table", p)
		}
	}
}

func pathMatches(pattern, path string) bool {
	pattern = strings.TrimSuffix(pattern, "{$}")
	ps, xs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(xs) {
		return false
	}
	for i := range ps {
		if !strings.HasPrefix(ps[i], "{") && ps[i] != xs[i] {
			return false
		}
	}
	return true
}

// TestNotebookSocketMessageRoles sends every notebook socket message type
// as every role and checks that exactly the roles below the message's need
// are refused; other principals cannot open the socket at all.
func TestNotebookSocketMessageRoles(t *testing.T) {
	f := setup(t, testDB)
	_, tok := f.makeShare(store.ShareRun, nil)
	f.holder = tok
	msgs := map[string]string{
		"ping":           `{"t":"ping"}`,
		"source":         `{"t":"source","cell":"c_nope","source":"echo hi"}`,
		"cell.add":       `{"t":"cell.add","kind":"shell","name":"added"}`,
		"cell.delete":    `{"t":"cell.delete","cell":"c_nope"}`,
		"cell.duplicate": `{"t":"cell.duplicate","cell":"c_nope"}`,
		"cell.move":      `{"t":"cell.move","cell":"c_nope","to":0}`,
		"cell.update":    `{"t":"cell.update","cell":"c_nope","name":"x"}`,
		"flow.update":    `{"t":"flow.update","description":"changed"}`,
		"run":            `{"t":"run","mode":"all","inputs":{"who":"socket"}}`,
		"cancel":         `{"t":"cancel","run":"r_nope"}`,
		"collab.push":    `{"t":"collab.push","cell":"c_nope","version":0,"updates":[{"changes":[0,[0,"x"]],"clientID":"k"}]}`,
		"collab.pull":    `{"t":"collab.pull","cell":"c_nope","version":0}`,
		"collab.doc":     `{"t":"collab.doc","cell":"c_nope"}`,
		"presence":       `{"t":"presence","cell":"c_nope","sel":[{"anchor":0,"head":0}]}`,
		"cell.restore":   `{"t":"cell.restore","cell":"c_nope"}`,
		"check":          `{"t":"check"}`,
	}
	for typ := range notebookMsgs {
		if _, ok := msgs[typ]; !ok {
			t.Fatalf("message type %q has no case in this test", typ)
		}
	}
	for _, role := range []string{"owner", "editor", "runner", "viewer"} {
		t.Run(role, func(t *testing.T) {
			c, err := f.dial(role, "/w/acme/flows/hello/ws")
			if err != nil {
				t.Fatal(err)
			}
			readUntil(t, c, isType("hello"))
			n := 0
			for typ, raw := range msgs {
				n++
				var m map[string]any
				json.Unmarshal([]byte(raw), &m)
				m["id"] = n
				if err := c.WriteJSON(m); err != nil {
					t.Fatal(err)
				}
				got := readUntil(t, c, func(m map[string]any) bool {
					id, _ := m["id"].(float64)
					return int(id) == n && (m["t"] == "ack" || m["t"] == "error")
				})
				last := got[len(got)-1]
				msg, _ := last["message"].(string)
				denied := last["t"] == "error" && strings.Contains(msg, "does not allow")
				if want := !engine.Role(role).AtLeast(notebookMsgs[typ].need); denied != want {
					t.Errorf("%s as %s: denied=%v, want %v (%v)", typ, role, denied, want, last)
				}
			}
		})
	}
	for _, who := range []struct {
		role string
		want int
	}{{"outsider", http.StatusNotFound}, {"", http.StatusUnauthorized}, {shareHolder, http.StatusUnauthorized}} {
		resp := f.do(who.role, "GET", "/w/acme/flows/hello/ws", "", "Connection", "Upgrade", "Upgrade", "websocket",
			"Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==", "Origin", f.ts.URL)
		resp.Body.Close()
		if resp.StatusCode != who.want {
			t.Errorf("notebook socket as %q: status %d, want %d", who.role, resp.StatusCode, who.want)
		}
	}
}
