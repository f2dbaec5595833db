package server

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserWebhook: an editor makes a webhook on the flow's share page,
// the URL shows once (with a copy button and a curl example), a POST to
// it starts a run; the page, loaded again, lists the hook without its URL,
// and revoking it turns the URL away.
func TestBrowserWebhook(t *testing.T) {
	f := setup(t, testDB)
	fs := f.addFlow("hooked", hookedFlow(0))
	b := browser(t)
	base := f.ts.URL

	// A flow without the trigger says how to add one.
	must(t, chromedp.Do(b, chromedp.Navigate(base+"/signin?next=/w/acme/flows/hello/shares"),
		chromedp.SetValue(chromedp.CSS(`input[name="name"]`), "editor"),
		chromedp.SetValue(chromedp.CSS(`input[name="password"]`), "correct horse battery"),
		chromedp.Submit(chromedp.CSS(`input[name="password"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-webhooks]`)),
	))
	if s := evalStr(t, b, `document.querySelector('[data-no-webhook-trigger]')?.innerText || ''`); !strings.Contains(s, "triggers: [{webhook: true}]") {
		t.Fatalf("no hint for a flow without the trigger: %q", s)
	}

	// The flow with the trigger: make one from the notebook's link.
	must(t, chromedp.Do(b, chromedp.Navigate(base+"/w/acme/flows/hooked"),
		chromedp.Click(chromedp.CSS(`a[data-shares-link]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-webhooks] input[name="name"]`)),
		chromedp.SetValue(chromedp.CSS(`[data-webhooks] input[name="name"]`), "from the browser"),
		chromedp.Click(chromedp.CSS(`button[data-action="make-hook"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-hook-url]`)),
	))
	if evalStr(t, b, `document.querySelector('[data-no-webhook-trigger]') ? 'hint' : ''`) != "" {
		t.Error("the hint shows for a flow that has the trigger")
	}
	url := evalStr(t, b, `document.querySelector('[data-hook-url]').value`)
	if !strings.HasPrefix(url, base+"/hooks/"+hookTokenPrefix) {
		t.Fatalf("webhook URL %q", url)
	}
	if curl := evalStr(t, b, `document.querySelector('[data-hook-curl]').innerText`); !strings.Contains(curl, "curl -X POST") || !strings.Contains(curl, url) {
		t.Errorf("curl example %q", curl)
	}
	must(t, chromedp.Do(b, chromedp.Click(chromedp.CSS(`button[data-copy]`))))
	waitJS(t, b, `document.querySelector('button[data-copy]').textContent === 'Copied'`, 5*time.Second)

	// A POST to it starts a run, started by the editor.
	out, _ := f.hookPost(strings.TrimPrefix(url, base)+"?wait=30s", `{"who":"browser"}`, http.StatusOK)
	r := f.waitRun(out["id"].(string))
	if r.FlowID != fs.ID || r.StartedBy != f.users["editor"].ID || !strings.Contains(string(r.Inputs), "browser") {
		t.Fatalf("run %+v", r)
	}

	// Shown once: the page again lists it, used, without the URL.
	token := strings.TrimPrefix(url, base+"/hooks/")
	must(t, chromedp.Do(b, chromedp.Navigate(base+"/w/acme/flows/hooked/shares"), chromedp.WaitVisible(chromedp.CSS(`[data-hook-id]`))))
	page := evalStr(t, b, `document.documentElement.outerHTML`)
	if strings.Contains(page, token) || !strings.Contains(page, "from the browser") || strings.Contains(evalStr(t, b, `document.querySelector('[data-hook-id]').innerText`), "never") {
		t.Fatalf("the page again: token shown, or the hook not listed as used:\n%.3000s", evalStr(t, b, `document.querySelector('[data-webhooks]').innerText`))
	}
	must(t, chromedp.Do(b, chromedp.Click(chromedp.CSS(`button[data-action="revoke-hook"]`)),
		chromedp.WaitNotPresent(chromedp.CSS(`[data-hook-id]`))))
	body(t, f.do("", "POST", "/hooks/"+token, `{}`), http.StatusNotFound)
}
