package server

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/clock"
	"github.com/opsbook/opsbook/engine/flow"
	"github.com/opsbook/opsbook/engine/sandbox"
	"github.com/opsbook/opsbook/engine/secret"
	"github.com/opsbook/opsbook/engine/store"
)

// notifyPermissionRows are the notification settings' routes: owners only.
func notifyPermissionRows() []permRow {
	const (
		see = http.StatusSeeOther
		una = http.StatusUnauthorized
		fbd = http.StatusForbidden
		nf  = http.StatusNotFound
		unp = http.StatusUnprocessableEntity
	)
	return []permRow{
		{"POST", "/w/acme/notify/destinations", "name=ops&kind=email&recipients=ana@example.com&events=failed", expect{see, fbd, fbd, fbd, nf, una}},
		{"POST", "/w/acme/notify/destinations/nope/delete", "", expect{nf, fbd, fbd, fbd, nf, una}},
		{"POST", "/w/acme/notify/smtp", "host=&port=x", expect{unp, fbd, fbd, fbd, nf, una}},
	}
}

// hookRecorder is a webhook endpoint of a test: it answers the codes
// given, then 200, and keeps the bodies.
type hookRecorder struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []string
	codes  []int
}

func newHookRecorder(t *testing.T, codes ...int) *hookRecorder {
	h := &hookRecorder{codes: codes}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.bodies = append(h.bodies, string(b))
		code := http.StatusOK
		if len(h.codes) > 0 {
			code, h.codes = h.codes[0], h.codes[1:]
		}
		h.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookRecorder) received() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.bodies...)
}

func sealSecret(t *testing.T, st *store.Store, box *secret.Box, wsID, name, value string) {
	t.Helper()
	if _, err := st.SetSecret(context.Background(), wsID, name, box.Seal(value, secret.Context(wsID, name)), ""); err != nil {
		t.Fatal(err)
	}
}

// TestNotifySettingsAndLog: an owner adds a webhook destination and an
// e-mail one through the settings forms (bad values answered 422, the
// webhook's URL never shown); the setup's finished run is told of; the
// run's API answer and studio page show the delivery log, and its share
// page does not.
func TestNotifySettingsAndLog(t *testing.T) {
	f := setupWith(t, testDB, Config{NotifyEvery: -1})
	ctx := context.Background()
	h := newHookRecorder(t, http.StatusInternalServerError)
	sealSecret(t, f.st, f.srv.box, f.ws.ID, "OPS_HOOK", h.URL+"/hook-path-x")
	f.srv.SetPublicOrigin("https://studio.test")

	for _, tt := range []struct{ body, want string }{
		{"name=ops&kind=webhook&secret=&format=generic&events=succeeded", "the secret holding the webhook"},
		{"name=ops&kind=webhook&secret=OPS_HOOK&format=teams&events=succeeded", "choose generic or slack"},
		{"name=Bad Name&kind=email&recipients=a@example.com", "name the destination"},
		{"name=mail&kind=email&recipients=not-an-address", "is not an e-mail address"},
		{"name=mail&kind=email&recipients=a@example.com&events=done", `unknown event`},
	} {
		resp := f.do("owner", "POST", "/w/acme/notify/destinations", tt.body)
		if b := body(t, resp, http.StatusUnprocessableEntity); !strings.Contains(b, tt.want) {
			t.Errorf("%s: page lacks %q", tt.body, tt.want)
		}
	}
	resp := f.do("owner", "POST", "/w/acme/notify/destinations", "name=ops&kind=webhook&secret=OPS_HOOK&format=generic&events=succeeded&events=failed")
	body(t, resp, http.StatusSeeOther)
	resp = f.do("owner", "POST", "/w/acme/notify/destinations", "name=ops&kind=email&recipients=a@example.com")
	body(t, resp, http.StatusConflict)
	resp = f.do("owner", "POST", "/w/acme/notify/destinations", "name=mail&kind=email&recipients=ana@example.com,+Bo+<bo@example.com>&events=waiting")
	if b := body(t, resp, http.StatusUnprocessableEntity); !strings.Contains(b, "is not an e-mail address") {
		t.Errorf("a named address is refused: %.200s", b)
	}
	resp = f.do("owner", "POST", "/w/acme/notify/destinations", "name=mail&kind=email&recipients=ana@example.com,+bo@example.com&events=waiting")
	body(t, resp, http.StatusSeeOther)
	ds, err := f.st.Destinations(ctx, f.ws.ID)
	if err != nil || len(ds) != 2 || ds[0].Name != "mail" || len(ds[0].Recipients) != 2 || ds[1].SecretName != "OPS_HOOK" || len(ds[1].Events) != 2 {
		t.Fatalf("destinations %+v, %v", ds, err)
	}
	resp = f.do("owner", "POST", "/w/acme/notify/smtp", "host=smtp.example.com&port=587&tls=starttls&username=bot&password_secret=SMTP_PASSWORD&from=opsbook@example.com")
	body(t, resp, http.StatusSeeOther)
	if c, err := f.st.SMTPOf(ctx, f.ws.ID); err != nil || c.Host != "smtp.example.com" || c.Port != 587 || c.PasswordSecret != "SMTP_PASSWORD" {
		t.Fatalf("smtp %+v, %v", c, err)
	}
	code, page := f.get("owner", "/w/acme/settings?notify=smtp")
	if code != http.StatusOK || !strings.Contains(string(page), `data-destination="ops"`) || !strings.Contains(string(page), "data-notify-saved") {
		t.Fatalf("settings %d", code)
	}
	if strings.Contains(string(page), "hook-path-x") || strings.Contains(string(page), h.URL) {
		t.Error("the settings show a webhook's URL")
	}
	if _, page := f.get("editor", "/w/acme/settings"); strings.Contains(string(page), `id="notifications"`) {
		t.Error("an editor sees the notification settings")
	}

	// The API says [] before anything is queued.
	out := f.apiJSON("viewer", "GET", "/api/v1/runs/"+f.run, "", http.StatusOK)
	if n, ok := out["notifications"].([]any); !ok || len(n) != 0 {
		t.Fatalf("notifications before a pass: %v", out["notifications"])
	}
	if _, err := f.srv.notifier.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	got := h.received()
	if len(got) != 1 || !strings.Contains(got[0], `"url":"https://studio.test/runs/`+f.run+`"`) || !strings.Contains(got[0], `"event":"succeeded"`) {
		t.Fatalf("webhook bodies %q", got)
	}
	out = f.apiJSON("viewer", "GET", "/api/v1/runs/"+f.run, "", http.StatusOK)
	n, _ := out["notifications"].([]any)
	if len(n) != 1 {
		t.Fatalf("notifications %v", out["notifications"])
	}
	d := n[0].(map[string]any)
	if d["destination"] != "ops" || d["event"] != "succeeded" || d["status"] != "pending" || d["attempts"] != float64(1) || !strings.Contains(d["last_error"].(string), "500") {
		t.Errorf("notification %v", d)
	}
	_, page = f.get("viewer", "/runs/"+f.run)
	if !strings.Contains(string(page), `data-delivery="ops/succeeded"`) || !strings.Contains(string(page), "webhook answered 500") {
		t.Errorf("the run page lacks the delivery log")
	}
	_, share := f.shareRun(f.run, true)
	if _, page := f.get("", share); strings.Contains(string(page), "data-deliveries") || strings.Contains(string(page), "webhook answered") {
		t.Error("a share page shows the delivery log")
	}

	resp = f.do("owner", "POST", "/w/acme/notify/destinations/mail/delete", "")
	body(t, resp, http.StatusSeeOther)
	if ds, _ := f.st.Destinations(ctx, f.ws.ID); len(ds) != 1 {
		t.Errorf("after removing: %+v", ds)
	}
}

// newNotifyStudio is newStudio with the notification sender under the
// test's hand (no background passes, a fake clock).
func newNotifyStudio(t *testing.T, c clock.Clock) *studio {
	t.Helper()
	st, data := openStore(t, testDB)
	srv := New(Config{Store: st, DataDir: data, Sandbox: &sandbox.Config{}, NotifyEvery: -1, NotifyClock: c})
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		srv.CloseSockets()
		ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Stop(ctx)
	})
	return &studio{t: t, st: st, srv: srv, url: ts.URL}
}

// TestNotifyBrowser: an owner adds a webhook destination in Settings; a
// flow naming it in notify: fails; its endpoint fails once and is retried
// after the back-off (fake clock); the run page shows the attempts, and
// the body carries the run's link.
func TestNotifyBrowser(t *testing.T) {
	fake := clock.NewFake(time.Now())
	s := newNotifyStudio(t, fake)
	s.workspace()
	owner, tok := s.member("owner", "Owner", engine.RoleOwner)
	h := newHookRecorder(t, http.StatusBadGateway)
	sealSecret(t, s.st, s.srv.box, s.ws.ID, "OPS_HOOK", h.URL)
	sealSecret(t, s.st, s.srv.box, s.ws.ID, "API_TOKEN", "tok-5d4c3b2a19")
	s.srv.SetPublicOrigin(s.url)

	b := newBrowser(t, s)
	b.signIn(tok)
	b.open("/w/acme/settings", "#notifications [data-destination-form]")
	b.do("fill the destination",
		chromedp.SetValue(`[data-destination-form] input[name="name"]`, "ops"),
		chromedp.SetValue(`[data-destination-form] input[name="secret"]`, "OPS_HOOK"))
	b.submit(`[data-destination-form] button[type="submit"]`)
	b.wait("the destination is listed", `document.querySelector('[data-destination="ops"]') !== null && document.querySelector('[data-notify-saved]') !== null`)
	if eval[bool](b, `document.body.textContent.includes(`+jsString(h.URL)+`)`) {
		t.Fatal("the settings show the webhook's URL")
	}

	ctx := context.Background()
	fl := &engine.Flow{Name: "Deploy", Notify: []engine.Notify{{To: "ops"}}, Cells: []engine.Cell{
		{Name: "push", Kind: engine.KindShell, File: "push.sh", Source: "echo pushing; exit 3\n"}}}
	files, err := flow.Files(fl)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := s.st.CreateFlow(ctx, s.ws.ID, "deploy", fl, owner.ID, storeFiles(files), flow.Hash(fl))
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.srv.runs.Start(ctx, StartRequest{Workspace: s.ws, FlowID: fs.ID, FlowSlug: "deploy", Flow: fl, Version: 1, StartedBy: owner})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := s.st.Run(ctx, r.ID)
		if err == nil && got.Status.Done() {
			if got.Status != engine.RunFailed {
				t.Fatalf("run %s", got.Status)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the run did not end")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := s.srv.notifier.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	b.open("/runs/"+r.ID, "[data-deliveries]")
	row := `document.querySelector('[data-delivery="ops/failed"]')`
	if got := eval[string](b, row+`.querySelector('[data-delivery-status]').textContent + '/' + `+row+`.querySelector('[data-delivery-attempts]').textContent`); got != "pending/1" {
		t.Fatalf("after the first attempt: %s", got)
	}
	if !eval[bool](b, row+`.textContent.includes('502')`) {
		t.Error("the log does not say why")
	}
	fake.Advance(10 * time.Second)
	if _, err := s.srv.notifier.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	b.open("/runs/"+r.ID, "[data-deliveries]")
	if got := eval[string](b, row+`.querySelector('[data-delivery-status]').textContent + '/' + `+row+`.querySelector('[data-delivery-attempts]').textContent`); got != "sent/2" {
		t.Fatalf("after the retry: %s", got)
	}
	got := h.received()
	if len(got) != 2 || !strings.Contains(got[1], `"url":"`+s.url+`/runs/`+r.ID+`"`) || !strings.Contains(got[1], `"status":"failed"`) {
		t.Fatalf("bodies %q", got)
	}
}

// TestNotifyUnknownDestinationAtSave: saving a flow whose notify: names a
// destination the workspace lacks is refused, saying which; once an owner
// adds it, the save goes through.
func TestNotifyUnknownDestinationAtSave(t *testing.T) {
	f := setupWith(t, testDB, Config{NotifyEvery: -1})
	ctx := context.Background()
	d, err := f.st.Draft(ctx, f.flow.ID)
	if err != nil {
		t.Fatal(err)
	}
	fl := d.Flow
	fl.Notify = []engine.Notify{{To: "ops", On: []engine.NotifyEvent{engine.NotifyFailed}}}
	if err := f.st.ReplaceDraft(ctx, f.flow.ID, fl, f.users["editor"].ID); err != nil {
		t.Fatal(err)
	}
	code, m := f.saveJSON("editor", "hello", "notify ops")
	e, _ := m["error"].(map[string]any)
	if msg, _ := e["message"].(string); code != http.StatusUnprocessableEntity || !strings.Contains(msg, `notify entry 1 names destination "ops", which this workspace does not have`) {
		t.Fatalf("save: %d %v", code, m)
	}
	body(t, f.do("owner", "POST", "/w/acme/notify/destinations", "name=ops&kind=email&recipients=ana@example.com&events=failed"), http.StatusSeeOther)
	if code, m := f.saveJSON("editor", "hello", "notify ops"); code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("save after adding the destination: %d %v", code, m)
	}
	v, err := f.st.Versions(ctx, f.flow.ID)
	if err != nil || len(v) != 2 {
		t.Fatalf("versions %d, %v", len(v), err)
	}
	v2, err := f.st.Version(ctx, f.flow.ID, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range v2.Files {
		if file.Name == "flow.yaml" && !strings.Contains(string(file.Data), "notify:\n  - {to: ops, on: [failed]}\n") {
			t.Errorf("flow.yaml of v2:\n%s", file.Data)
		}
	}
}

// TestNotifyOrigin: without --base-url, links are built on the address
// the studio listens on, "every address" read as localhost.
func TestNotifyOrigin(t *testing.T) {
	st, data := openStore(t, testDB)
	srv := New(Config{Store: st, DataDir: data, Sandbox: &sandbox.Config{}, NotifyEvery: -1})
	t.Cleanup(func() { srv.Stop(context.Background()) })
	for in, want := range map[string]string{"http://[::]:8080": "http://localhost:8080", "http://0.0.0.0:80": "http://localhost:80", "https://127.0.0.1:8443": "https://127.0.0.1:8443"} {
		srv.SetPublicOrigin(in)
		if got := srv.notifier.BaseURL(); got != want {
			t.Errorf("SetPublicOrigin(%s): links on %s, want %s", in, got, want)
		}
	}
}
