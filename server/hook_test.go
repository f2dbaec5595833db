package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/opsbook/opsbook/account"
	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/flow"
	"github.com/opsbook/opsbook/engine/store"
)

// hookedFlow has a webhook trigger of the given rate (0: the default) and
// inputs of three types.
func hookedFlow(rate int) *engine.Flow {
	return &engine.Flow{
		Name: "Hooked",
		Inputs: []engine.Input{
			{Name: "who", Type: engine.InputString, Default: "world"},
			{Name: "n", Type: engine.InputNumber, Default: int64(1)},
			{Name: "loud", Type: engine.InputBoolean},
		},
		Triggers: []engine.Trigger{{Webhook: true, Rate: rate}},
		Cells: []engine.Cell{
			{Name: "greet", Kind: engine.KindShell, File: "greet.sh", Source: "echo hi {{ inputs.who }}\n"},
			{Name: "twice", Kind: engine.KindExpr, File: "twice.expr", Source: "inputs.n * 2\n"},
		},
	}
}

// makeHook stores a webhook of a flow made by a user and returns its token.
func (f *fixture) makeHook(wsID, flowID, userID string) (store.Hook, string) {
	f.t.Helper()
	tok, hash := account.NewToken(hookTokenPrefix)
	h, err := f.st.CreateHook(context.Background(), store.Hook{WorkspaceID: wsID, FlowID: flowID, Hash: hash, CreatedBy: userID})
	if err != nil {
		f.t.Fatal(err)
	}
	return h, tok
}

// hookPermissionRows are the permission rows of the webhook routes.
func hookPermissionRows(f *fixture) []permRow {
	const (
		ok   = http.StatusOK
		see  = http.StatusSeeOther
		una  = http.StatusUnauthorized
		fbd  = http.StatusForbidden
		nf   = http.StatusNotFound
		cnf  = http.StatusConflict
		crt  = http.StatusCreated
		acc  = http.StatusAccepted
		gone = http.StatusNoContent
	)
	fs := f.addFlow("hooked", hookedFlow(0))
	_, tok := f.makeHook(f.ws.ID, fs.ID, f.users["editor"].ID)
	toRevoke, _ := f.makeHook(f.ws.ID, fs.ID, f.users["editor"].ID)
	toDelete, _ := f.makeHook(f.ws.ID, fs.ID, f.users["editor"].ID)
	guess, _ := account.NewToken(hookTokenPrefix)
	all := func(code int) expect { return expect{code, code, code, code, code, code} }
	return []permRow{
		{"POST", "/api/v1/flows/hooked/hooks", `{"name":"ci"}`, expect{crt, crt, fbd, fbd, nf, una}},
		{"POST", "/api/v1/flows/hello/hooks", ``, expect{cnf, cnf, fbd, fbd, nf, una}},
		{"GET", "/api/v1/flows/hooked/hooks", "", expect{ok, ok, fbd, fbd, nf, una}},
		{"DELETE", "/api/v1/hooks/" + toDelete.ID, "", expect{gone, gone, fbd, fbd, nf, una}},
		{"DELETE", "/api/v1/hooks/h_nope", "", expect{nf, nf, nf, nf, nf, una}},
		{"POST", "/w/acme/flows/hooked/hooks", "name=ci", expect{crt, crt, fbd, fbd, nf, una}},
		{"POST", "/w/acme/flows/hello/hooks", "name=ci", expect{cnf, cnf, fbd, fbd, nf, una}},
		{"POST", "/w/acme/hooks/" + toRevoke.ID + "/revoke", "", expect{see, see, fbd, fbd, nf, una}},
		{"POST", "/w/other/hooks/" + toRevoke.ID + "/revoke", "", expect{nf, nf, nf, nf, nf, una}},
		// The token is the credential, whoever sends it.
		{"POST", "/hooks/" + tok, `{"who":"matrix"}`, all(acc)},
		{"POST", "/hooks/" + guess, `{}`, all(nf)},
	}
}

// hookPost calls a webhook with a JSON body and decodes the answer.
func (f *fixture) hookPost(path, reqBody string, want int) (map[string]any, *http.Response) {
	f.t.Helper()
	resp := f.do("", "POST", path, reqBody, "Content-Type", "application/json")
	b := body(f.t, resp, want)
	var out map[string]any
	if err := json.Unmarshal([]byte(b), &out); err != nil {
		f.t.Fatalf("POST %s: not JSON: %.300s", path, b)
	}
	return out, resp
}

func apiErr(m map[string]any) (code, field, msg string) {
	e, _ := m["error"].(map[string]any)
	code, _ = e["code"].(string)
	field, _ = e["field"].(string)
	msg, _ = e["message"].(string)
	return
}

func (f *fixture) countRuns(flowID string) int {
	f.t.Helper()
	runs, err := f.st.RunsOfFlow(context.Background(), flowID, 1000)
	if err != nil {
		f.t.Fatal(err)
	}
	return len(runs)
}

// TestWebhooks makes, lists, calls and revokes webhooks through the API,
// and tries what a caller could get wrong or try on purpose.
func TestWebhooks(t *testing.T) {
	for _, dialect := range []string{testDB} {
		t.Run(dialect, func(t *testing.T) { testWebhooks(t, dialect) })
	}
}

func testWebhooks(t *testing.T, dialect string) {
	f := setup(t, dialect)
	ctx := context.Background()
	// The highest rate: these subtests post in quick succession, and the
	// rate (tested on its own flow below) would answer 429 before a bad
	// body could be answered.
	fs := f.addFlow("hooked", hookedFlow(engine.MaxWebhookRate))

	// Made by an editor: the token and URL once, stored hashed.
	made := f.apiJSON("editor", "POST", "/api/v1/flows/hooked/hooks", `{"name":"deploys from CI"}`, http.StatusCreated)
	token, _ := made["token"].(string)
	id, _ := made["id"].(string)
	if !strings.HasPrefix(token, hookTokenPrefix) || len(token) != len(hookTokenPrefix)+43 || made["url"] != f.ts.URL+"/hooks/"+token ||
		!strings.HasPrefix(id, "h_") || made["name"] != "deploys from CI" || made["created_by"] != "editor" {
		t.Fatalf("made %v", made)
	}
	stored, err := f.st.Hook(ctx, id)
	if err != nil || stored.Hash != account.TokenHash(token) || stored.CreatedBy != f.users["editor"].ID {
		t.Fatalf("stored %+v, %v", stored, err)
	}
	f.apiJSON("editor", "POST", "/api/v1/flows/hooked/hooks", `{"name":"a\nb"}`, http.StatusUnprocessableEntity)
	f.apiJSON("editor", "POST", "/api/v1/flows/hooked/hooks", `{"nam":"x"}`, http.StatusBadRequest)
	list := body(t, f.do("editor", "GET", "/api/v1/flows/hooked/hooks", ""), http.StatusOK)
	if strings.Contains(list, token) || strings.Contains(list, stored.Hash) || strings.Contains(list, `"token"`) || !strings.Contains(list, id) {
		t.Fatalf("list shows too much or too little: %s", list)
	}
	hookPath := "/hooks/" + token

	t.Run("run", func(t *testing.T) {
		out, _ := f.hookPost(hookPath, `{"who":"hook","n":4,"loud":true}`, http.StatusAccepted)
		run, _ := out["run"].(map[string]any)
		rid, _ := run["id"].(string)
		if rid == "" || run["url"] != f.ts.URL+"/runs/"+rid {
			t.Fatalf("answer %v", out)
		}
		r := f.waitRun(rid)
		if r.StartedBy != f.users["editor"].ID || r.FlowID != fs.ID || r.Version != 1 || r.Status != engine.RunSucceeded {
			t.Fatalf("run %+v", r)
		}
		var in map[string]any
		json.Unmarshal(r.Inputs, &in)
		if in["who"] != "hook" || in["n"] != float64(4) || in["loud"] != true {
			t.Fatalf("inputs %s", r.Inputs)
		}
		// With ?wait, the finished run; an empty body is the defaults.
		done, _ := f.hookPost(hookPath+"?wait=30s", ``, http.StatusOK)
		if done["status"] != "succeeded" || done["started_by"] != "editor" || !strings.Contains(string(mustJSON(t, done["cells"])), `"value":2`) {
			t.Fatalf("waited answer %v", done)
		}
		f.hookPost(hookPath+"?wait=forever", `{}`, http.StatusBadRequest)
		f.hookPost(hookPath+"?wait=11m", `{}`, http.StatusBadRequest)
		// A session or API token sent along changes nothing.
		resp := f.do("owner", "POST", hookPath, `{}`, "Authorization", "Bearer "+f.tokens["viewer"])
		body(t, resp, http.StatusAccepted)
	})

	t.Run("bad bodies", func(t *testing.T) {
		before := f.countRuns(fs.ID)
		for _, tc := range []struct {
			body, code, field string
			status            int
		}{
			{`{"who":`, "bad_json", "", http.StatusBadRequest},
			{`[1, 2]`, "bad_json", "", http.StatusBadRequest},
			{`"who"`, "bad_json", "", http.StatusBadRequest},
			{`{} {}`, "bad_json", "", http.StatusBadRequest},
			{`{"n":"many"}`, "invalid", "n", http.StatusUnprocessableEntity},
			{`{"loud":3}`, "invalid", "loud", http.StatusUnprocessableEntity},
			{`{"who":{"a":1}}`, "invalid", "who", http.StatusUnprocessableEntity},
			{`{"nobody":1}`, "invalid", "nobody", http.StatusUnprocessableEntity},
		} {
			out, _ := f.hookPost(hookPath, tc.body, tc.status)
			if code, field, msg := apiErr(out); code != tc.code || field != tc.field || msg == "" {
				t.Errorf("%s: error %v; want code %s, field %q", tc.body, out, tc.code, tc.field)
			}
		}
		// Over 1 MiB: with a Content-Length, and streamed without one.
		big := `{"who":"` + strings.Repeat("x", 1<<20) + `"}`
		out, _ := f.hookPost(hookPath, big, http.StatusRequestEntityTooLarge)
		if code, _, _ := apiErr(out); code != "too_large" {
			t.Errorf("over 1 MiB: %v", out)
		}
		req, _ := http.NewRequest("POST", f.ts.URL+hookPath, io.MultiReader(strings.NewReader(big)))
		req.ContentLength = -1
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		b := body(t, resp, http.StatusRequestEntityTooLarge)
		if json.Unmarshal([]byte(b), &m) != nil || m["error"] == nil {
			t.Errorf("streamed over 1 MiB: %s", b)
		}
		if n := f.countRuns(fs.ID); n != before {
			t.Errorf("bad bodies started %d runs", n-before)
		}
	})

	t.Run("unknown and revoked", func(t *testing.T) {
		guess, _ := account.NewToken(hookTokenPrefix)
		unknown := body(t, f.do("", "POST", "/hooks/"+guess, `{}`), http.StatusNotFound)
		body(t, f.do("", "POST", "/hooks/"+strings.Repeat("x", 500), `{}`), http.StatusNotFound)
		_, tok := f.makeHook(f.ws.ID, fs.ID, f.users["editor"].ID)
		h2 := f.apiJSON("owner", "GET", "/api/v1/flows/hooked/hooks", "", http.StatusOK)["hooks"].([]any)[0].(map[string]any)["id"].(string)
		f.hookPost("/hooks/"+tok, `{}`, http.StatusAccepted)
		f.apiJSON("editor", "DELETE", "/api/v1/hooks/"+h2, "", http.StatusNoContent)
		revoked := body(t, f.do("", "POST", "/hooks/"+tok, `{}`), http.StatusNotFound)
		if revoked != unknown {
			t.Errorf("a revoked token answers\n%s\nan unknown one\n%s", revoked, unknown)
		}
		f.apiJSON("editor", "DELETE", "/api/v1/hooks/"+h2, "", http.StatusNoContent) // again
		for _, h := range f.apiJSON("editor", "GET", "/api/v1/flows/hooked/hooks", "", http.StatusOK)["hooks"].([]any) {
			if h.(map[string]any)["id"] == h2 {
				t.Errorf("a revoked hook is listed")
			}
		}
	})

	t.Run("without the trigger", func(t *testing.T) {
		out := f.apiJSON("editor", "POST", "/api/v1/flows/hello/hooks", `{}`, http.StatusConflict)
		if code, _, msg := apiErr(out); code != "no_webhook_trigger" || !strings.Contains(msg, "triggers: [{webhook: true}]") {
			t.Errorf("hello: %v", out)
		}
		// A flow whose newer version dropped the trigger refuses its hooks,
		// until a version with it is published.
		gone := f.addFlow("dropped", hookedFlow(0))
		_, tok := f.makeHook(f.ws.ID, gone.ID, f.users["editor"].ID)
		f.hookPost("/hooks/"+tok, `{}`, http.StatusAccepted)
		v2 := hookedFlow(0)
		v2.Triggers = nil
		files, _ := flow.Files(v2)
		if _, err := f.st.ImportVersion(ctx, gone.ID, v2, store.Version{Files: storeFiles(files), Hash: flow.Hash(v2)}); err != nil {
			t.Fatal(err)
		}
		out, _ = f.hookPost("/hooks/"+tok, `{}`, http.StatusConflict)
		if code, _, msg := apiErr(out); code != "no_webhook_trigger" || !strings.Contains(msg, "version 2, the latest") {
			t.Errorf("dropped: %v", out)
		}
		if err := f.st.Publish(ctx, gone.ID, 1); err != nil {
			t.Fatal(err)
		}
		out, _ = f.hookPost("/hooks/"+tok+"?wait=30s", `{}`, http.StatusOK)
		if out["version"] != float64(1) {
			t.Errorf("published v1 did not run: %v", out)
		}
	})

	t.Run("rate", func(t *testing.T) {
		slow := f.addFlow("slowhook", hookedFlow(1))
		_, tok := f.makeHook(f.ws.ID, slow.ID, f.users["editor"].ID)
		f.hookPost("/hooks/"+tok, `{}`, http.StatusAccepted)
		out, resp := f.hookPost("/hooks/"+tok, `{}`, http.StatusTooManyRequests)
		if code, _, _ := apiErr(out); code != "rate_limited" || resp.Header.Get("Retry-After") != "1" {
			t.Errorf("429: %v, Retry-After %q", out, resp.Header.Get("Retry-After"))
		}
		// Another token of the flow has its own budget.
		_, other := f.makeHook(f.ws.ID, slow.ID, f.users["editor"].ID)
		f.hookPost("/hooks/"+other, `{}`, http.StatusAccepted)
		time.Sleep(1100 * time.Millisecond)
		f.hookPost("/hooks/"+tok, `{}`, http.StatusAccepted)
	})

	t.Run("other workspace", func(t *testing.T) {
		other, err := f.st.WorkspaceBySlug(ctx, "other")
		if err != nil {
			t.Fatal(err)
		}
		fl := hookedFlow(0)
		files, _ := flow.Files(fl)
		theirs, err := f.st.CreateFlow(ctx, other.ID, "hooked", fl, f.users["outsider"].ID, storeFiles(files), flow.Hash(fl))
		if err != nil {
			t.Fatal(err)
		}
		h, tok := f.makeHook(other.ID, theirs.ID, f.users["outsider"].ID)
		ours := f.countRuns(fs.ID)
		out, _ := f.hookPost("/hooks/"+tok+"?wait=30s", `{"who":"them"}`, http.StatusOK)
		r, err := f.st.Run(ctx, out["id"].(string))
		if err != nil || r.WorkspaceID != other.ID || r.FlowID != theirs.ID || f.countRuns(fs.ID) != ours {
			t.Fatalf("their token ran %+v (%v)", r, err)
		}
		f.apiJSON("editor", "DELETE", "/api/v1/hooks/"+h.ID, "", http.StatusNotFound)
		f.apiJSON("owner", "DELETE", "/api/v1/hooks/"+id, "", http.StatusNoContent)
		f.apiJSON("outsider", "DELETE", "/api/v1/hooks/"+id, "", http.StatusNotFound)
		if list := body(t, f.do("outsider", "GET", "/api/v1/flows/hooked/hooks", ""), http.StatusOK); strings.Contains(list, id) {
			t.Errorf("their list shows our hook: %s", list)
		}
	})

	t.Run("maker without the right to run", func(t *testing.T) {
		_, tok := f.makeHook(f.ws.ID, fs.ID, f.users["viewer"].ID)
		out, _ := f.hookPost("/hooks/"+tok, `{}`, http.StatusForbidden)
		if _, _, msg := apiErr(out); !strings.Contains(msg, "may no longer run flows") {
			t.Errorf("viewer's hook: %v", out)
		}
	})

	t.Run("audit", func(t *testing.T) {
		entries := f.apiJSON("owner", "GET", "/api/v1/audit?limit=1000", "", http.StatusOK)["entries"].([]any)
		seen := map[string]bool{}
		for _, e := range entries {
			m := e.(map[string]any)
			switch {
			case m["action"] == actHookCreated && m["target"] == "hook "+id && m["user"] == "editor":
				seen["created"] = true
			case m["action"] == actHookRevoked && m["target"] == "hook "+id && m["user"] == "owner":
				seen["revoked"] = true
			case m["action"] == actRunStarted && strings.Contains(m["detail"].(string), "via webhook "+id) && m["user"] == "editor":
				seen["run"] = true
				// A bearer token sent along to the webhook is not its credential.
				if strings.Contains(m["detail"].(string), "API token") {
					t.Errorf("a webhook run is put down to an API token: %v", m)
				}
			}
		}
		if len(seen) != 3 {
			t.Errorf("audit log has %v of created, revoked, run", seen)
		}
	})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHookRate: a webhook token's budget is its rate a second, kept in the
// database (shared by replicas).
func TestHookRate(t *testing.T) {
	f := setup(t, testDB)
	ctx := context.Background()
	for i := range 3 {
		if ok, _ := f.srv.hookAllowed(ctx, "h_x", 3); !ok {
			t.Fatalf("run %d of 3 refused", i+1)
		}
	}
	ok, wait := f.srv.hookAllowed(ctx, "h_x", 3)
	if ok || wait <= 0 || wait > time.Second/3+10*time.Millisecond {
		t.Fatalf("4th run: %v, wait %v", ok, wait)
	}
	if ok, _ := f.srv.hookAllowed(ctx, "h_y", 3); !ok {
		t.Fatal("another token's budget was spent")
	}
}

// TestWebhookCrossSite: a cross-site POST from a browser reaches neither
// the studio's webhook form nor a webhook (servers send no such headers).
func TestWebhookCrossSite(t *testing.T) {
	f := setup(t, testDB)
	fs := f.addFlow("hooked", hookedFlow(0))
	h, tok := f.makeHook(f.ws.ID, fs.ID, f.users["editor"].ID)
	for _, path := range []string{"/w/acme/flows/hooked/hooks", "/w/acme/hooks/" + h.ID + "/revoke", "/hooks/" + tok} {
		resp := f.do("editor", "POST", path, "name=evil", "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-site POST %s: status %d; want 403", path, resp.StatusCode)
		}
	}
	if hooks, _ := f.st.HooksOfFlow(context.Background(), fs.ID); len(hooks) != 1 || f.countRuns(fs.ID) != 0 {
		t.Errorf("cross-site POSTs changed something: %d hooks, %d runs", len(hooks), f.countRuns(fs.ID))
	}
}

// TestWebhookSectionForEditors: the share page's Webhooks section is for
// editors; viewers and runners do not see it.
func TestWebhookSectionForEditors(t *testing.T) {
	f := setup(t, testDB)
	fs := f.addFlow("hooked", hookedFlow(7))
	f.makeHook(f.ws.ID, fs.ID, f.users["editor"].ID)
	for role, want := range map[string]bool{"owner": true, "editor": true, "runner": false, "viewer": false} {
		page := body(t, f.do(role, "GET", "/w/acme/flows/hooked/shares", ""), http.StatusOK)
		if got := strings.Contains(page, "data-webhooks"); got != want {
			t.Errorf("%s sees the webhooks section: %v, want %v", role, got, want)
		}
		if want && (!strings.Contains(page, "At most 7 runs a second") || !strings.Contains(page, "data-hook-id")) {
			t.Errorf("%s: the section lacks the rate or the hook", role)
		}
	}
}

// TestHookURLOnBaseURL: webhook URLs are built on --base-url when set.
func TestHookURLOnBaseURL(t *testing.T) {
	t.Parallel()
	base, _ := ParseBaseURL("https://ops.example.com/")
	for _, tc := range []struct {
		hc   HTTPConfig
		want string
	}{
		{HTTPConfig{}, "http://studio.internal:8080/hooks/obh_x"},
		{HTTPConfig{BaseURL: base}, "https://ops.example.com/hooks/obh_x"},
	} {
		s := &Server{http: tc.hc.withDefaults()}
		var got string
		h := s.withClient(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = hookURL(r, "obh_x") }))
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "http://studio.internal:8080/x", nil))
		if got != tc.want {
			t.Errorf("hook URL %q; want %q", got, tc.want)
		}
	}
}
