package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/clock"
	"github.com/opsbook/opsbook/engine/notify"
	"github.com/opsbook/opsbook/engine/store"
)

const linkSecret = "s3cr3t-deploy-key-4471"

// linkFlow is deployFlow decided by link, with a later cell whose code
// holds a workspace secret.
func linkFlow() *engine.Flow {
	fl := deployFlow([]string{engine.ApproverLink}, 1)
	fl.Cells = append(fl.Cells, engine.Cell{Name: "push", Kind: engine.KindExpr, File: "push.expr", Source: `"key ` + linkSecret + `"`})
	return fl
}

// decisionToken waits for the waiting notification of run id and returns
// the token of the decision link it carries.
func decisionToken(t *testing.T, h *hookRecorder, id string) string {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		for _, b := range h.received() {
			var m notify.Message
			if json.Unmarshal([]byte(b), &m) == nil && m.Run == id && m.Event == engine.NotifyWaiting {
				tok, ok := strings.CutPrefix(m.DecisionURL, "https://studio.test/a/")
				if !ok || len(tok) < 43 {
					t.Fatalf("the waiting notification's decision_url is %q, want https://studio.test/a/TOKEN", m.DecisionURL)
				}
				return tok
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no waiting notification for %s: %q", id, h.received())
		}
	}
}

// TestBrowserDecisionLink: a run waits at an approval whose approvers
// include link; the waiting webhook carries the decision link (built on
// the base URL, stored hashed); a private browser window on a 390 px phone
// sees the message, the dry run done, the rest's code with the secret
// masked, approves with a comment and a form value; the run finishes; the
// decision is "link holder" with the address, on the run page's trail and
// in the audit log; a second visit says who decided and when.
func TestBrowserDecisionLink(t *testing.T) {
	f := setupWith(t, testDB, Config{NotifyEvery: 50 * time.Millisecond})
	ctx := context.Background()
	h := newHookRecorder(t)
	sealSecret(t, f.st, f.srv.box, f.ws.ID, "OPS_HOOK", h.URL)
	sealSecret(t, f.st, f.srv.box, f.ws.ID, "DEPLOY_KEY", linkSecret)
	f.srv.SetPublicOrigin("https://studio.test")
	if _, err := f.st.CreateDestination(ctx, store.Destination{WorkspaceID: f.ws.ID, Name: "ops", Kind: store.DestWebhook, SecretName: "OPS_HOOK", Format: store.FormatGeneric, Events: []engine.NotifyEvent{engine.NotifyWaiting}}); err != nil {
		t.Fatal(err)
	}
	f.addFlow("deploy", linkFlow())
	id := f.startRun("deploy", "{}", "")
	f.waitStatus(id, engine.RunWaiting)
	token := decisionToken(t, h, id)

	ap, err := f.st.RunApproval(ctx, id, "approve")
	if err != nil || ap.LinkHash == token || ap.LinkHash != notify.DecisionTokenHash(token) {
		t.Fatalf("stored link hash %q for token %q, %v", ap.LinkHash, token, err)
	}
	ds, err := f.st.RunDeliveries(ctx, id)
	if err != nil || len(ds) != 1 || ds[0].Status != store.DeliverySent || strings.Contains(ds[0].Link, token) {
		t.Fatalf("deliveries %+v, %v (the link is kept only until sent)", ds, err)
	}

	b := private(t, browser(t))
	must(t, chromedp.Do(b, chromedp.EmulateViewport(390, 844), chromedp.Navigate(f.ts.URL+"/a/"+token), chromedp.WaitVisible(chromedp.CSS(`main#decision`))))
	if msg := evalStr(t, b, `document.querySelector('[data-approval-message]').textContent`); !strings.Contains(msg, "Restart 3 hosts?") {
		t.Errorf("message %q", msg)
	}
	if got := evalStr(t, b, `String(!!document.querySelector('[data-cell="dry"]'))`); got != "true" {
		t.Error("the dry run is not shown as done")
	}
	code := evalStr(t, b, `document.querySelector('[data-remaining-cell="push"] code').textContent`)
	if !strings.Contains(code, `"key ***"`) || strings.Contains(evalStr(t, b, `document.documentElement.outerHTML`), linkSecret) {
		t.Errorf("the remaining code %q is not masked", code)
	}
	if evalStr(t, b, `String(document.querySelector('[data-remaining-cell="push"]').open)`) != "false" {
		t.Error("the remaining code is not folded")
	}
	if w := evalStr(t, b, `String(document.documentElement.scrollWidth)`); w != "390" {
		t.Errorf("the page is %s px wide on a 390 px screen", w)
	}
	must(t, chromedp.Do(b,
		chromedp.SendKeys(chromedp.CSS(`input[name="input.ticket"]`), "OPS-9"),
		chromedp.SendKeys(chromedp.CSS(`textarea[name="comment"]`), "dry run is fine"),
		chromedp.Click(chromedp.CSS(`[data-approve]`)),
	))
	must(t, chromedp.Do(b, chromedp.WaitVisible(chromedp.CSS(`main.page-narrow`))))
	waitJS(t, b, `document.body.innerText.includes('approved by link holder at ')`, 30*time.Second)
	r := f.waitRun(id)
	if r.Status != engine.RunSucceeded {
		t.Fatalf("run %s: %s", r.Status, r.Error)
	}
	page := body(t, f.do("editor", "GET", "/runs/"+id, ""), http.StatusOK)
	if !strings.Contains(page, "link holder (127.0.0.1)") || !strings.Contains(page, "dry run is fine") {
		t.Error("the run page's trail lacks the link holder's decision with its address")
	}
	// A second visit says who decided and when.
	again := body(t, f.do("", "GET", "/a/"+token, ""), http.StatusGone)
	if !strings.Contains(again, "approved by link holder at ") {
		t.Errorf("second visit: %.500s", again)
	}
	body(t, f.do("", "POST", "/a/"+token, "decision=reject"), http.StatusGone)
	entries, err := f.st.Audit(ctx, store.AuditQuery{WorkspaceID: f.ws.ID, Action: actApprovalDecided})
	if err != nil || len(entries) != 1 || entries[0].ActorName != "link holder" || entries[0].IP == "" || !strings.Contains(entries[0].Detail, "dry run is fine") {
		b, _ := json.Marshal(entries)
		t.Errorf("audit %s, %v", b, err)
	}
}

// TestDecisionLinkRejectAndGone: an editor mints a decision link on the
// run page (the old one stops working; a viewer may not); the form is
// checked; a rejection with a comment fails the run; unknown and replaced
// tokens answer the share pages' 404 without telling which.
func TestDecisionLinkRejectAndGone(t *testing.T) {
	f := setup(t, testDB)
	ctx := context.Background()
	sealSecret(t, f.st, f.srv.box, f.ws.ID, "DEPLOY_KEY", linkSecret)
	f.addFlow("deploy", linkFlow())
	id := f.startRun("deploy", "{}", "")
	f.waitStatus(id, engine.RunWaiting)
	path := "/runs/" + id + "/approvals/approve/link"
	if page := body(t, f.do("editor", "GET", "/runs/"+id, ""), http.StatusOK); !strings.Contains(page, `action="`+path+`"`) {
		t.Error("the editor's run page has no Copy decision link")
	}
	if page := body(t, f.do("viewer", "GET", "/runs/"+id, ""), http.StatusOK); strings.Contains(page, path) {
		t.Error("a viewer is offered a decision link")
	}
	body(t, f.do("viewer", "POST", path, ""), http.StatusForbidden)
	linkOf := func(page string) string {
		t.Helper()
		_, rest, ok := strings.Cut(page, `data-decision-link`)
		i := strings.Index(page, `/a/`)
		if !ok || i < 0 {
			t.Fatalf("no decision link shown: %.300s", rest)
		}
		tok := page[i+3:]
		return tok[:strings.IndexByte(tok, '"')]
	}
	minted := body(t, f.do("editor", "POST", path, ""), http.StatusOK)
	if !strings.Contains(minted, `id="decision-link-approve"`) || !strings.Contains(minted, `data-copy="#decision-link-approve"`) {
		t.Error("the new decision link has no Copy button for its field")
	}
	first := linkOf(minted)
	out := f.apiJSON("editor", "POST", "/api/v1"+path, "", http.StatusOK)
	u, _ := url.Parse(out["url"].(string))
	second := strings.TrimPrefix(u.Path, "/a/")
	if first == second || len(second) < 43 {
		t.Fatalf("tokens %q %q", first, second)
	}
	gone := body(t, f.do("", "GET", "/a/"+first, ""), http.StatusNotFound)
	unknown := body(t, f.do("", "GET", "/a/nope", ""), http.StatusNotFound)
	if gone != unknown || !strings.Contains(gone, "does not exist") {
		t.Errorf("replaced and unknown links differ:\n%s\n%s", gone, unknown)
	}
	body(t, f.do("", "POST", "/a/"+first, "decision=approve&input.ticket=X"), http.StatusNotFound)
	page := body(t, f.do("", "GET", "/a/"+second, ""), http.StatusOK)
	if !strings.Contains(page, "Restart <strong>3</strong> hosts?") || strings.Contains(page, linkSecret) {
		i := max(strings.Index(page, linkSecret)-300, 0)
		rest := page[i:]
		t.Errorf("decision page: %.600s", rest)
	}
	// Approving needs the form's required field.
	if page := body(t, f.do("", "POST", "/a/"+second, "decision=approve"), http.StatusUnprocessableEntity); !strings.Contains(page, "data-decision-error") {
		t.Error("no form error")
	}
	body(t, f.do("", "POST", "/a/"+second, "decision=reject&comment=not+today"), http.StatusSeeOther)
	r := f.waitRun(id)
	if r.Status != engine.RunFailed || !strings.Contains(r.Error, "not today") {
		t.Fatalf("run %s: %q", r.Status, r.Error)
	}
	if page := body(t, f.do("", "GET", "/a/"+second, ""), http.StatusGone); !strings.Contains(page, "rejected by link holder at ") {
		t.Errorf("decided: %.500s", page)
	}
	body(t, f.do("editor", "POST", path, ""), http.StatusConflict)
	entries, err := f.st.Audit(ctx, store.AuditQuery{WorkspaceID: f.ws.ID, Action: actApprovalLink})
	if err != nil || len(entries) != 2 || entries[0].ActorName != "editor" {
		b, _ := json.Marshal(entries)
		t.Errorf("audit of new links %s, %v", b, err)
	}
}

// TestDecisionLinkExpired: once the approval's timeout passed its link
// answers 410 saying so, and takes no decision.
func TestDecisionLinkExpired(t *testing.T) {
	clk := clock.NewFake(time.Now())
	f := setupWith(t, testDB, Config{Clock: clk})
	fl := linkFlow()
	fl.Cells[1].Timeout = time.Hour
	f.addFlow("deploy", fl)
	id := f.startRun("deploy", "{}", "")
	f.waitStatus(id, engine.RunWaiting)
	out := f.apiJSON("editor", "POST", "/api/v1/runs/"+id+"/approvals/approve/link", "", http.StatusOK)
	u, _ := url.Parse(out["url"].(string))
	body(t, f.do("", "GET", u.Path, ""), http.StatusOK)
	clk.Advance(2 * time.Hour)
	page := body(t, f.do("", "GET", u.Path, ""), http.StatusGone)
	if !strings.Contains(page, "time ran out at ") && !strings.Contains(page, "rejected by timeout at ") {
		t.Errorf("expired: %.600s", page)
	}
	body(t, f.do("", "POST", u.Path, "decision=approve&input.ticket=T"), http.StatusGone)
	if r := f.waitRun(id); r.Status != engine.RunFailed {
		t.Fatalf("run %s", r.Status)
	}
}

// TestLinksOpenedInALoop: a share link or a decision link opened over and
// over writes one "opened" audit entry per client an hour (the audit log
// is never pruned), and a decision page opened past its hourly budget is
// refused with when to come back, then opens again an hour later.
func TestLinksOpenedInALoop(t *testing.T) {
	clk := clock.NewFake(time.Now())
	f := setupWith(t, testDB, Config{Clock: clk})
	f.addFlow("deploy", linkFlow())
	id := f.startRun("deploy", "{}", "")
	f.waitStatus(id, engine.RunWaiting)
	_, share := f.shareRun(id, false)
	out := f.apiJSON("editor", "POST", "/api/v1/runs/"+id+"/approvals/approve/link", "", http.StatusOK)
	u, _ := url.Parse(out["url"].(string))
	opened := func() int {
		t.Helper()
		out := f.apiJSON("owner", "GET", "/api/v1/audit?action=share.opened&limit=1000", "", http.StatusOK)
		return len(out["entries"].([]any))
	}
	for range 5 {
		body(t, f.do("", "GET", share, ""), http.StatusOK)
	}
	if n := opened(); n != 1 {
		t.Fatalf("5 views of a share link from one address: %d audit entries, want 1", n)
	}
	for range decisionViewsPerHour {
		body(t, f.do("", "GET", u.Path, ""), http.StatusOK)
	}
	if n := opened(); n != 2 {
		t.Fatalf("after %d views of the decision page: %d audit entries, want 2", decisionViewsPerHour, n)
	}
	page := body(t, f.do("", "GET", u.Path, ""), http.StatusTooManyRequests)
	if !strings.Contains(page, "opened too often; try again in ") {
		t.Errorf("past the budget: %.300s", page)
	}
	clk.Advance(time.Hour + time.Minute)
	body(t, f.do("", "GET", u.Path, ""), http.StatusOK)
	body(t, f.do("", "GET", share, ""), http.StatusOK)
	if n := opened(); n != 4 {
		t.Errorf("an hour later, one more entry per link: %d, want 4", n)
	}
}
