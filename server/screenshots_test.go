package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/opsbook/opsbook/account"
	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/flow"
	"github.com/opsbook/opsbook/engine/store"
)

// screenSizes are the viewports every page is taken at: a laptop and a
// phone (390x844 CSS pixels, drawn at twice the density as a phone does).
var screenSizes = []struct {
	name          string
	width, height int64
	mobile        bool
}{
	{"desktop", 1280, 800, false},
	{"mobile", 390, 844, true},
}

// TestScreenshots saves a PNG of each page of the studio — flows, notebook
// (after a run, and with a problem in a cell's options), run page, run share
// link, form link, settings — at each of screenSizes,
// into the folder OPSBOOK_SCREENSHOTS names (`make screenshots`), so that a
// reviewer sees every page with one command. The flow is a realistic one:
// markdown, shell, http against a local server, sql, an expr charted, and a
// cell that fails.
func TestScreenshots(t *testing.T) {
	dir := os.Getenv("OPSBOOK_SCREENSHOTS")
	if dir == "" {
		t.Skip("screenshots are taken only when OPSBOOK_SCREENSHOTS names a folder to write them to: run `make screenshots`")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("the screenshots folder: %v", err)
	}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"service": "billing", "status": "ok", "latency_ms": [42, 38, 51, 47, 120, 44, 39, 41, 45, 40, 37, 43]}`)
	}))
	t.Cleanup(api.Close)

	s := newStudio(t)
	s.workspace()
	ada, tok := s.member("ada", "Ada Lovelace", engine.RoleOwner)
	s.member("bob", "Bob Builder", engine.RoleEditor)
	fs := s.flow("nightly-report", "Nightly report", ada,
		engine.Cell{Name: "intro", Kind: engine.KindMarkdown, Source: "# Nightly report\n\nChecks the **billing** service, counts the week's orders and cleans up old exports. Runs every night at 02:00.\n"},
		engine.Cell{Name: "host", Kind: engine.KindShell, Source: "echo \"host: $(hostname)\"\necho \"checked at $(date -u +%H:%M) UTC\"\nfor s in api worker scheduler; do echo \"$s: running\"; done\n"},
		engine.Cell{Name: "health", Kind: engine.KindHTTP, Source: "GET " + api.URL + "/health\nAccept: application/json\n"},
		engine.Cell{Name: "orders", Kind: engine.KindSQL, Source: "WITH week(day, orders, refunds) AS (\n  VALUES ('mon', 128, 4), ('tue', 142, 6), ('wed', 131, 3), ('thu', 167, 9), ('fri', 190, 7), ('sat', 96, 2), ('sun', 88, 1)\n)\nSELECT day, orders, refunds FROM week\n"},
		engine.Cell{Name: "latency", Kind: engine.KindExpr, Source: "cells.health.body.latency_ms\n"},
		engine.Cell{Name: "cleanup", Kind: engine.KindShell, Source: "echo 'removing exports older than 30 days'\necho 'rm: cannot remove /exports/2026-10: permission denied' >&2\nexit 1\n"},
	)
	form := s.formFlow(ada)
	// A flow being written: a problem in a cell's options, shown at its field.
	s.flow("half-written", "Half written", ada,
		engine.Cell{Name: "disk", Kind: engine.KindShell, Source: "df -h /\n"},
		engine.Cell{Name: "alert", Kind: engine.KindShell, Source: "echo \"disk at $USED\"\n", If: "cells.disk.outputs.used > 90",
			Env: []engine.EnvVar{{Name: "USED", Value: "{{ cells.dsk.outputs.used }}"}}},
	)

	b := newBrowser(t, s)
	b.signIn(tok)
	b.open("/w/acme/flows/nightly-report", cellSel("cleanup", ".cm-content"))
	b.wait("the notebook's socket", `document.querySelector('[data-conn]')?.dataset.conn === 'open'`)
	b.do("run all", chromedp.Click(chromedp.CSS(`.toolbar [data-action="run-all"]`)))
	b.wait("the run's end", statusIs("cleanup", "failed")+` && `+statusIs("latency", "succeeded"))
	run := s.lastRun(fs.ID)
	if run.Status != engine.RunFailed {
		t.Fatalf("the run ended %s (%s), want failed at cleanup", run.Status, run.Error)
	}

	runLink := s.share(store.Share{FlowID: fs.ID, RunID: run.ID, Kind: store.ShareRun, CreatedBy: ada.ID})
	formLink := s.share(store.Share{FlowID: form.ID, Kind: store.ShareForm, CreatedBy: ada.ID})
	charted := `document.querySelectorAll('[data-chart] .chart-svg').length >= 2`
	// then, when set, is clicked once the page is ready, and drawn is
	// waited for before the picture is taken.
	pages := []struct{ name, path, sel, ready, then, drawn string }{
		{name: "flows", path: "/w/acme", sel: "table.flows", ready: "true"},
		{name: "notebook", path: "/w/acme/flows/nightly-report", sel: cellSel("cleanup", ".cm-content"), ready: charted + ` && document.querySelector('[data-conn]')?.dataset.conn === 'open'`},
		{name: "notebook-problems", path: "/w/acme/flows/half-written", sel: cellSel("alert", ".cm-content"),
			ready: jsCell("alert", `[data-action="options"]`) + `?.dataset.optionProblems === '1'`,
			then:  cellSel("alert", `[data-action="options"]`), drawn: `(` + jsCell("alert", `[data-problem-for="env"]`) + `?.textContent ?? '') !== ''`},
		{name: "run", path: "/runs/" + run.ID, sel: "#run", ready: charted},
		{name: "share-run", path: "/s/" + runLink, sel: "#run", ready: charted},
		{name: "share-form", path: "/s/" + formLink, sel: "form.run-form", ready: "true"},
		{name: "settings", path: "/w/acme/settings", sel: "main", ready: "true"},
	}
	for _, size := range screenSizes {
		opts := []chromedp.EmulateViewportOption{}
		if size.mobile {
			opts = append(opts, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch)
		}
		b.do("the "+size.name+" viewport", chromedp.EmulateViewport(size.width, size.height, opts...))
		for _, p := range pages {
			b.open(p.path, p.sel)
			b.wait(p.name+" ready", p.ready+` && document.fonts.status === 'loaded'`)
			// Let the page's scripts draw their animation frame.
			eval[bool](b, `new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(() => done(true))))`)
			if p.then != "" {
				b.do(p.name+": "+p.then, chromedp.Click(chromedp.CSS(p.then)))
				b.wait(p.name+" drawn", p.drawn)
			}
			ctx, cancel := context.WithTimeout(b.ctx, browserWait)
			png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			cancel()
			if err != nil {
				t.Fatalf("screenshot of %s (%s): %v", p.name, size.name, err)
			}
			file := filepath.Join(dir, p.name+"-"+size.name+".png")
			if err := os.WriteFile(file, png, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s (%d KiB)", file, len(png)>>10)
		}
	}
}

// formFlow stores a flow with inputs, whose form link the screenshots show.
func (s *studio) formFlow(author store.User) store.FlowSummary {
	s.t.Helper()
	fl := &engine.Flow{Name: "Restart a service", Description: "Restarts one service on one environment and says how it came back.", Inputs: []engine.Input{
		{Name: "service", Type: engine.InputSelect, Options: []string{"api", "worker", "scheduler"}, Default: "api", Description: "Which service"},
		{Name: "env", Type: engine.InputSelect, Options: []string{"staging", "prod"}, Default: "staging"},
		{Name: "reason", Type: engine.InputString, Required: true, Description: "Why, for the audit log"},
		{Name: "drain", Type: engine.InputBoolean, Default: true, Description: "Wait for open requests first"},
		{Name: "wait", Type: engine.InputNumber, Default: 30.0, Description: "Seconds to wait for it to come back"},
	}, Cells: []engine.Cell{
		{Name: "restart", Kind: engine.KindShell, File: "restart.sh", Source: "echo restarting {{ inputs.service }} on {{ inputs.env }}\n"},
	}}
	files, err := flow.Files(fl)
	if err != nil {
		s.t.Fatal(err)
	}
	fs, err := s.st.CreateFlow(context.Background(), s.ws.ID, "restart-service", fl, author.ID, storeFiles(files), flow.Hash(fl))
	if err != nil {
		s.t.Fatal(err)
	}
	return fs
}

// share stores a link of the workspace, valid for a day, and returns its
// token.
func (s *studio) share(sh store.Share) string {
	s.t.Helper()
	tok, hash := account.NewToken(shareTokenPrefix)
	sh.WorkspaceID, sh.Hash, sh.ExpiresAt = s.ws.ID, hash, time.Now().Add(24*time.Hour)
	if _, err := s.st.CreateShare(context.Background(), sh); err != nil {
		s.t.Fatal(err)
	}
	return tok
}
