package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/clock"
	"github.com/opsbook/opsbook/engine/secret"
	"github.com/opsbook/opsbook/engine/store"
)

const base = "https://ops.example.com"

type fixture struct {
	st    *store.Store
	box   *secret.Box
	ws    store.Workspace
	flow  store.FlowSummary
	clock *clock.Fake
	n     *Notifier
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	if os.Getenv("OPSBOOK_TEST_DB") == "postgres" {
		t.Skip("the store's suite covers PostgreSQL; this tests the sender")
	}
	st, err := store.Open(ctx, store.Config{Data: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	box, err := secret.NewBox(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(ctx, "ada", "Ada", "x")
	if err != nil {
		t.Fatal(err)
	}
	ws, err := st.CreateWorkspace(ctx, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	fl, err := st.CreateFlow(ctx, ws.ID, "deploy", &engine.Flow{Name: "Deploy"}, u.ID, nil, "h")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, box: box, ws: ws, flow: fl, clock: clock.NewFake(time.Now().UTC())}
	f.n = New(Config{Store: st, Box: box, BaseURL: base + "/", Clock: f.clock, MaxAttempts: 4, Backoff: 10 * time.Second})
	f.secret(t, "API_TOKEN", "tok-9f8e7d6c5b")
	return f
}

func (f *fixture) secret(t *testing.T, name, value string) {
	t.Helper()
	if _, err := f.st.SetSecret(context.Background(), f.ws.ID, name, f.box.Seal(value, secret.Context(f.ws.ID, name)), ""); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) dest(t *testing.T, d store.Destination) {
	t.Helper()
	d.WorkspaceID = f.ws.ID
	if _, err := f.st.CreateDestination(context.Background(), d); err != nil {
		t.Fatal(err)
	}
}

// run stores a run of a flow whose flow.yaml is manifest, ended with
// status and reason ("" status: left running).
func (f *fixture) run(t *testing.T, manifest string, status engine.RunStatus, reason string) store.Run {
	t.Helper()
	ctx := context.Background()
	r, err := f.st.CreateRun(ctx, store.Run{WorkspaceID: f.ws.ID, FlowID: f.flow.ID, Status: engine.RunRunning,
		Files: []store.File{{Name: "flow.yaml", Data: []byte(manifest)}}})
	if err != nil {
		t.Fatal(err)
	}
	if status != "" {
		if _, err := f.st.EndRun(ctx, r.ID, status, reason); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func (f *fixture) pass(t *testing.T) Result {
	t.Helper()
	res, err := f.n.Pass(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (f *fixture) log(t *testing.T, runID string) []store.Delivery {
	t.Helper()
	ds, err := f.st.RunDeliveries(context.Background(), runID)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// hookServer records the bodies it receives and answers with the codes
// given, then 200.
type hookServer struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
	codes  []int
}

func newHookServer(t *testing.T, codes ...int) *hookServer {
	h := &hookServer{codes: codes}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.bodies = append(h.bodies, b)
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

func (h *hookServer) received() [][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([][]byte(nil), h.bodies...)
}

// TestWebhookBodies: a failed run tells a generic and a Slack webhook,
// both with the run's link on the base URL and the error masked.
func TestWebhookBodies(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	gen, slack := newHookServer(t), newHookServer(t)
	f.secret(t, "OPS_HOOK", gen.URL+"/in")
	f.secret(t, "SLACK_HOOK", slack.URL+"/services/x")
	f.dest(t, store.Destination{Name: "ops", Kind: store.DestWebhook, SecretName: "OPS_HOOK", Format: store.FormatGeneric, Events: []engine.NotifyEvent{engine.NotifyFailed}})
	f.dest(t, store.Destination{Name: "chat", Kind: store.DestWebhook, SecretName: "SLACK_HOOK", Format: store.FormatSlack, Events: []engine.NotifyEvent{engine.NotifyFailed}})
	r := f.run(t, "name: Deploy\n", engine.RunFailed, "login refused for tok-9f8e7d6c5b")
	if res := f.pass(t); res.Queued != 1 || res.Sent != 2 {
		t.Fatalf("pass %+v, want 1 run queued, 2 sent", res)
	}
	link := base + "/runs/" + r.ID
	g := gen.received()
	if len(g) != 1 {
		t.Fatalf("generic webhook got %d bodies", len(g))
	}
	var m map[string]any
	if err := json.Unmarshal(g[0], &m); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"event": "failed", "workspace": "acme", "flow": "Deploy", "run": r.ID, "status": "failed", "url": link, "error": "login refused for ***"} {
		if m[k] != want {
			t.Errorf("generic body %s = %v, want %v\n%s", k, m[k], want, g[0])
		}
	}
	if m["finished_at"] == nil || m["started_at"] != nil {
		t.Errorf("times: %s", g[0])
	}
	s := slack.received()
	if len(s) != 1 || !bytes.Contains(s[0], []byte(link)) || !bytes.Contains(s[0], []byte(`"blocks"`)) || !bytes.Contains(s[0], []byte(`"text"`)) {
		t.Fatalf("slack bodies %q", s)
	}
	for _, b := range append(g, s...) {
		if bytes.Contains(b, []byte("tok-9f8e7d6c5b")) {
			t.Errorf("a secret went out: %s", b)
		}
	}
	log := f.log(t, r.ID)
	if len(log) != 2 || log[0].Status != store.DeliverySent || log[0].Attempts != 1 || log[1].Status != store.DeliverySent {
		t.Errorf("log %+v", log)
	}
	// Another pass sends nothing again.
	if res := f.pass(t); res.Queued+res.Sent != 0 {
		t.Errorf("second pass %+v", res)
	}
}

// TestRetryBackoff: a failing endpoint is tried again after 10 s, then
// 20 s (the fake clock), and the log shows the attempts; one that never
// answers well is given up after MaxAttempts.
func TestRetryBackoff(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := newHookServer(t, 500, 503)
	f.secret(t, "OPS_HOOK", h.URL)
	f.dest(t, store.Destination{Name: "ops", Kind: store.DestWebhook, SecretName: "OPS_HOOK", Format: store.FormatGeneric, Events: []engine.NotifyEvent{engine.NotifySucceeded}})
	r := f.run(t, "name: Deploy\n", engine.RunSucceeded, "")
	f.pass(t)
	log := f.log(t, r.ID)
	if len(log) != 1 || log[0].Status != store.DeliveryPending || log[0].Attempts != 1 || !strings.Contains(log[0].LastError, "500") {
		t.Fatalf("after the first attempt %+v", log)
	}
	f.clock.Advance(9 * time.Second)
	if f.pass(t); len(h.received()) != 1 {
		t.Fatalf("retried before the back-off: %d", len(h.received()))
	}
	f.clock.Advance(time.Second)
	f.pass(t)
	if log = f.log(t, r.ID); log[0].Attempts != 2 || !strings.Contains(log[0].LastError, "503") {
		t.Fatalf("after the second attempt %+v", log)
	}
	f.clock.Advance(19 * time.Second)
	if f.pass(t); len(h.received()) != 2 {
		t.Fatalf("retried before the doubled back-off: %d", len(h.received()))
	}
	f.clock.Advance(time.Second)
	f.pass(t)
	if log = f.log(t, r.ID); log[0].Status != store.DeliverySent || log[0].Attempts != 3 || log[0].LastError != "" {
		t.Fatalf("after the third attempt %+v", log)
	}

	// Given up after 4 attempts.
	bad := newHookServer(t, 500, 500, 500, 500, 500)
	f.secret(t, "BAD_HOOK", bad.URL)
	f.dest(t, store.Destination{Name: "bad", Kind: store.DestWebhook, SecretName: "BAD_HOOK", Format: store.FormatGeneric, Events: []engine.NotifyEvent{engine.NotifyFailed}})
	r2 := f.run(t, "name: Deploy\n", engine.RunFailed, "boom")
	for range 6 {
		f.pass(t)
		f.clock.Advance(time.Hour)
	}
	log = f.log(t, r2.ID)
	if len(log) != 1 || log[0].Status != store.DeliveryFailed || log[0].Attempts != 4 || len(bad.received()) != 4 {
		t.Fatalf("given up: %+v, %d requests", log, len(bad.received()))
	}
}

// TestFlowRules: a flow's notify: picks destinations and events; a name
// the workspace lacks fails at once in the log; waiting carries the
// decision link.
func TestFlowRules(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := newHookServer(t)
	f.secret(t, "OPS_HOOK", h.URL)
	f.dest(t, store.Destination{Name: "ops", Kind: store.DestWebhook, SecretName: "OPS_HOOK", Format: store.FormatGeneric, Events: []engine.NotifyEvent{engine.NotifyFailed}})
	f.dest(t, store.Destination{Name: "other", Kind: store.DestWebhook, SecretName: "OPS_HOOK", Format: store.FormatGeneric, Events: []engine.NotifyEvent{engine.NotifyFailed, engine.NotifyWaiting}})
	manifest := "name: Deploy\nnotify:\n  - {to: ops, on: [waiting, succeeded]}\n  - {to: gone}\n"
	r := f.run(t, manifest, "", "")
	decide := base + "/d/abc123"
	if err := f.n.Waiting(context.Background(), r, "approve", decide); err != nil {
		t.Fatal(err)
	}
	if err := f.n.Waiting(context.Background(), r, "approve", decide); err != nil {
		t.Fatal(err)
	}
	f.pass(t)
	got := h.received()
	if len(got) != 1 || !bytes.Contains(got[0], []byte(`"decision_url":"`+decide+`"`)) || !bytes.Contains(got[0], []byte(`"event":"waiting"`)) || !bytes.Contains(got[0], []byte(`"cell":"approve"`)) {
		t.Fatalf("waiting bodies %q", got)
	}
	log := f.log(t, r.ID)
	if len(log) != 2 {
		t.Fatalf("log %+v", log)
	}
	for _, d := range log {
		switch d.Destination {
		case "ops":
			if d.Status != store.DeliverySent || d.Event != engine.NotifyWaiting {
				t.Errorf("ops %+v", d)
			}
		case "gone":
			if d.Status != store.DeliveryFailed || d.Attempts != 1 || !strings.Contains(d.LastError, `no destination "gone"`) {
				t.Errorf("gone %+v", d)
			}
		default:
			t.Errorf("unexpected %+v", d)
		}
	}
	// The run fails: ops is not told (its on: omits failed), other is not
	// named by the flow.
	if _, err := f.st.EndRun(context.Background(), r.ID, engine.RunFailed, "x"); err != nil {
		t.Fatal(err)
	}
	f.pass(t)
	if n := len(h.received()); n != 1 {
		t.Errorf("%d bodies after the failure, want still 1", n)
	}
}

// mailBackend keeps the messages a go-smtp server receives.
type mailBackend struct {
	mu   sync.Mutex
	msgs []string
	rcpt []string
	auth string
}

func (b *mailBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return &mailSession{b: b}, nil }

type mailSession struct{ b *mailBackend }

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		s.b.mu.Lock()
		s.b.auth = user + ":" + pass
		s.b.mu.Unlock()
		return nil
	}), nil
}
func (s *mailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.b.rcpt = append(s.b.rcpt, to)
	return nil
}
func (s *mailSession) Reset()        {}
func (s *mailSession) Logout() error { return nil }
func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, string(b))
	s.b.mu.Unlock()
	return err
}

// TestEmail: an e-mail destination sends through the workspace's SMTP
// server (a go-smtp server of the test) with the run's link.
func TestEmail(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	be := &mailBackend{}
	srv := smtp.NewServer(be)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	ctx := context.Background()
	f.secret(t, "SMTP_PASSWORD", "pw")
	if err := f.st.SetSMTP(ctx, store.SMTP{WorkspaceID: f.ws.ID, Host: "127.0.0.1", Port: port, Username: "bot", PasswordSecret: "SMTP_PASSWORD", From: "opsbook@example.com", TLS: "none"}); err != nil {
		t.Fatal(err)
	}
	f.dest(t, store.Destination{Name: "oncall", Kind: store.DestEmail, Recipients: []string{"ana@example.com", "bo@example.com"}, Events: []engine.NotifyEvent{engine.NotifyCanceled}})
	r := f.run(t, "name: Deploy\n", engine.RunCanceled, "canceled by ada")
	if res := f.pass(t); res.Sent != 1 {
		t.Fatalf("pass %+v, log %+v", res, f.log(t, r.ID))
	}
	be.mu.Lock()
	defer be.mu.Unlock()
	if len(be.msgs) != 1 || len(be.rcpt) != 2 {
		t.Fatalf("messages %d, recipients %v", len(be.msgs), be.rcpt)
	}
	if be.auth != "bot:pw" {
		t.Errorf("authenticated as %q, want bot with the secret's password", be.auth)
	}
	msg := be.msgs[0]
	for _, want := range []string{"Subject: [Opsbook] Deploy: run " + r.ID + " canceled", base + "/runs/" + r.ID, "From: <opsbook@example.com>"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
}

// TestOneSender: while one process holds the lease, another's pass sends
// nothing.
func TestOneSender(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := newHookServer(t)
	f.secret(t, "OPS_HOOK", h.URL)
	f.dest(t, store.Destination{Name: "ops", Kind: store.DestWebhook, SecretName: "OPS_HOOK", Format: store.FormatGeneric, Events: []engine.NotifyEvent{engine.NotifyFailed}})
	f.pass(t) // takes the lease
	other := New(Config{Store: f.st, Box: f.box, Clock: f.clock, Holder: "other-replica"})
	f.run(t, "name: Deploy\n", engine.RunFailed, "x")
	res, err := other.Pass(context.Background())
	if err != nil || !res.Skipped || len(h.received()) != 0 {
		t.Fatalf("the other replica's pass %+v, %v, %d sent", res, err, len(h.received()))
	}
	if res := f.pass(t); res.Sent != 1 {
		t.Fatalf("the holder's pass %+v", res)
	}
}

// TestWebhookTransportErrors: a webhook that gets no answer says why in the
// delivery log without quoting where it went (the URL is a secret; the
// client's errors name its host and port).
func TestWebhookTransportErrors(t *testing.T) {
	t.Parallel()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + closed.Addr().String() + "/hook-path-7f3a"
	closed.Close()
	plain := newHookServer(t)
	selfSigned := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(selfSigned.Close)
	for _, tc := range []struct {
		name, url, want string
	}{
		{"refused", closedURL, "connection refused"},
		{"not-tls", strings.Replace(plain.URL, "http://", "https://", 1) + "/hook-path-7f3a", "does not speak TLS"},
		{"untrusted", selfSigned.URL + "/hook-path-7f3a", "certificate is not trusted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.secret(t, "OPS_HOOK", tc.url)
			f.dest(t, store.Destination{Name: "ops", Kind: store.DestWebhook, SecretName: "OPS_HOOK", Format: store.FormatGeneric, Events: []engine.NotifyEvent{engine.NotifyFailed}})
			r := f.run(t, "name: Deploy\n", engine.RunFailed, "boom")
			f.pass(t)
			log := f.log(t, r.ID)
			if len(log) != 1 {
				t.Fatalf("deliveries %+v", log)
			}
			msg := log[0].LastError
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, "OPS_HOOK") {
				t.Errorf("error %q: want it to say %q and name the secret", msg, tc.want)
			}
			u, _ := url.Parse(tc.url)
			for _, leak := range []string{u.Host, u.Port(), "127.0.0.1", "hook-path"} {
				if strings.Contains(msg, leak) {
					t.Errorf("error %q quotes %q from the secret URL", msg, leak)
				}
			}
		})
	}
}
