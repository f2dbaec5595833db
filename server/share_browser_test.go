package server

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/opsbook/opsbook/engine"
)

// browser starts headless Chromium for a test; it fails (never skips) when
// Chromium is missing.
func browser(t *testing.T) context.Context {
	t.Helper()
	exe := os.Getenv("OPSBOOK_CHROMIUM")
	if exe == "" {
		exe = "/usr/bin/chromium"
	}
	if _, err := os.Stat(exe); err != nil {
		t.Fatalf("Chromium is needed at %s (set OPSBOOK_CHROMIUM; apt-get install chromium): %v", exe, err)
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe), chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.Flag("disable-dev-shm-usage", true),
	)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel3)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// private opens a fresh browser context of b: a private window, with no
// cookie of the studio's.
func private(t *testing.T, b context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	return ctx
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func evalStr(t *testing.T, ctx context.Context, js string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return s
}

// waitJS polls a JavaScript condition in the page.
func waitJS(t *testing.T, ctx context.Context, cond string, d time.Duration) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(d), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		t.Fatalf("waiting for %s: %v\npage: %.2000s", cond, err, evalStr(t, ctx, "document.body ? document.body.innerText : ''"))
	}
}

// TestBrowserShareAndForm is the done-when, as a new user would do
// it: share a run from the studio's run page, open the link in a private
// window and watch it finish live; open a run form, run it, read the result.
func TestBrowserShareAndForm(t *testing.T) {
	f := setup(t, testDB)
	// The gate is a file in the run's working directory, the one place of
	// the host the sandboxed cell sees.
	f.addFlow("report", &engine.Flow{Name: "Weekly report", Cells: []engine.Cell{
		{Name: "intro", Kind: engine.KindMarkdown, File: "intro.md", Source: "# Weekly report\n\nSales by day. <img src=x onerror=\"document.body.dataset.pwned=1\">\n"},
		{Name: "wait", Kind: engine.KindShell, File: "wait.sh", Source: "echo '<script>document.body.dataset.pwned=2</script>'\nfor i in $(seq 1 300); do [ -f go ] && break; echo waiting $i; sleep 0.1; done\necho done\n"},
		{Name: "sales", Kind: engine.KindExpr, File: "sales.expr", Source: `[{"day": "mon", "total": 3}, {"day": "tue", "total": 5}, {"day": "<b onclick=x>wed</b>", "total": 4}]` + "\n"},
	}})
	f.addFlow("double", formFlow())
	b := browser(t)
	base := f.ts.URL

	// The studio: sign in as the editor, open the running run, share it.
	run := f.startRun("report", "{}", "")
	defer f.srv.runs.Cancel(context.Background(), run, "")
	// The run's sandbox takes a moment to start: begin once the cell
	// writes, as the test did when cells started at once.
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		evs, _ := f.st.Events(context.Background(), run, 0, 0)
		if strings.Contains(eventsText(evs), "waiting 1") {
			break
		}
		if time.Now().After(end) {
			t.Fatal("the wait cell never wrote")
		}
	}
	must(t, chromedp.Do(b, chromedp.Navigate(base+"/signin?next=/runs/"+run),
		chromedp.SetValue(chromedp.CSS(`input[name="name"]`), "editor"),
		chromedp.SetValue(chromedp.CSS(`input[name="password"]`), "correct horse battery"),
		chromedp.Submit(chromedp.CSS(`input[name="password"]`)),
		chromedp.WaitVisible(chromedp.CSS(`main#run`)),
		chromedp.Click(chromedp.CSS(`details[data-share] > summary`)),
		chromedp.Click(chromedp.CSS(`button[data-action="share"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-share-url]`)),
	))
	link, err := chromedp.Run(b, chromedp.Evaluate[string](`document.querySelector('[data-share-url]').value`))
	must(t, err)
	if !strings.HasPrefix(link, base+"/s/") {
		t.Fatalf("share link %q", link)
	}

	// A private window: no cookies. It sees the run running, then finish.
	p := private(t, b)
	must(t, chromedp.Do(p, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(`main#run`))))
	if cookies := evalStr(t, p, `document.cookie`); cookies != "" {
		t.Fatalf("the private window has cookies: %q", cookies)
	}
	if st := evalStr(t, p, `document.querySelector('main#run').dataset.status`); st != "running" && st != "queued" {
		t.Fatalf("the run is %s before the gate opens", st)
	}
	waitJS(t, p, `document.querySelector('[data-conn]').textContent === 'live'`, 30*time.Second)
	waitJS(t, p, `document.querySelector('section[data-cell="wait"] [data-lines]').textContent.includes('waiting')`, 30*time.Second)
	must(t, os.WriteFile(filepath.Join(f.srv.runs.pool.RunDir(), run, "work", "go"), nil, 0o600))
	waitJS(t, p, `document.querySelector('main#run').dataset.status === 'succeeded'`, 20*time.Second)
	sentence := evalStr(t, p, `document.querySelector('[data-run-sentence]').textContent`)
	if !strings.HasPrefix(sentence, "Finished in ") || !strings.HasSuffix(sentence, " — all 3 steps succeeded.") {
		t.Errorf("sentence %q", sentence)
	}
	waitJS(t, p, `document.querySelectorAll('section[data-cell="sales"] .chart-svg rect').length === 3`, 5*time.Second)
	if got := evalStr(t, p, `document.querySelector('section[data-cell="sales"] table').innerText`); !strings.Contains(got, "<b onclick=x>wed</b>") {
		t.Errorf("sales table = %q", got)
	}
	if got := evalStr(t, p, `document.querySelector('section[data-cell="intro"] [data-prose] h1').textContent`); got != "Weekly report" {
		t.Errorf("intro prose h1 = %q", got)
	}
	if code := evalStr(t, p, `String(document.querySelectorAll('.code-block').length)`); code != "0" {
		t.Errorf("the private window sees %s code blocks; code is hidden by default", code)
	}
	// Nothing of the run's output ran: not on the share page, not in the studio.
	for name, ctx := range map[string]context.Context{"share page": p, "studio run page": b} {
		if ctx == b {
			must(t, chromedp.Do(b, chromedp.Navigate(base+"/runs/"+run), chromedp.WaitVisible(chromedp.CSS(`main#run`))))
		}
		if v := evalStr(t, ctx, `String(document.body.dataset.pwned)`); v != "undefined" {
			t.Errorf("%s: a script from the run ran (pwned=%s)", name, v)
		}
	}

	// A run form, in a private window: fill it, run it, read the result.
	out := f.apiJSON("editor", "POST", "/api/v1/flows/double/forms", `{}`, http.StatusCreated)
	q := private(t, b)
	must(t, chromedp.Do(q, chromedp.Navigate(out["url"].(string)),
		chromedp.WaitVisible(chromedp.CSS(`form.run-form`)),
		chromedp.Click(chromedp.CSS(`button[data-action="run-form"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#err-n`)),
	))
	if msg := evalStr(t, q, `document.querySelector('[data-field="n"] #err-n').textContent`); !strings.Contains(msg, "required") {
		t.Errorf("message beside n = %q", msg)
	}
	must(t, chromedp.Do(q,
		chromedp.SetValue(chromedp.CSS(`input[name="in.n"]`), "21"),
		chromedp.Click(chromedp.CSS(`button[data-action="run-form"]`)),
		chromedp.WaitVisible(chromedp.CSS(`main#run`)),
	))
	waitJS(t, q, `document.querySelector('main#run').dataset.status === 'succeeded'`, 20*time.Second)
	if got := evalStr(t, q, `document.querySelector('section[data-cell="double"] [data-result]').textContent`); !strings.Contains(got, "42") {
		t.Errorf("the form's run shows %q; want 42", got)
	}
}
