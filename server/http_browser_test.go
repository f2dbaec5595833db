package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/opsbook/opsbook/engine"
)

// TestBrowserHTTPStatus: an http cell answered 404 fails (it expects 200),
// shows the body once (live and after a reload), and a later cell still
// sees the status; expect_status set in the options panel then makes the
// same answer a success.
func TestBrowserHTTPStatus(t *testing.T) {
	const body = "no such item 7f3a"
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"error": %q}`, body)
	}))
	t.Cleanup(api.Close)

	s := newStudio(t)
	s.workspace()
	ada, tok := s.member("ada", "Ada Lovelace", engine.RoleOwner)
	fs := s.flow("probe", "Probe", ada,
		engine.Cell{Name: "call", Kind: engine.KindHTTP, Source: "GET " + api.URL + "/item\n", ExpectStatus: []string{"200"}, ContinueOnError: true},
		engine.Cell{Name: "seen", Kind: engine.KindExpr, Source: "cells.call.status"},
	)
	b := newBrowser(t, s)
	b.signIn(tok)
	b.open("/w/acme/flows/probe", cellSel("seen", ".cm-content"))
	b.wait("the notebook's socket", `document.querySelector('[data-conn]')?.dataset.conn === 'open'`)

	// bodyCount counts the body in the cell's output: log, result and error.
	bodyCount := `(` + jsCell("call", "[data-output]") + `?.textContent ?? '').split(` + jsString(body) + `).length - 1`
	// chip is the class of the call's "HTTP 404" chip.
	chip := `(` + jsCell("call", ".http-status .chip") + `?.className ?? '')`
	b.do("run all", chromedp.Click(chromedp.CSS(`.toolbar [data-action="run-all"]`)))
	b.wait("the call failed, the later cell saw 404", statusIs("call", "failed")+` && `+statusIs("seen", "succeeded")+` && `+outputHas("seen", "404"))
	b.wait("the result shown", outputHas("call", body)+` && `+outputHas("call", "the cell expects 200"))
	if n := eval[int](b, bodyCount); n != 1 {
		t.Errorf("the live output shows the body %d times, want once%s", n, b.state())
	}
	if c := eval[string](b, chip); !strings.Contains(c, "chip-failed") {
		t.Errorf("a refused 404's chip is %q, want chip-failed", c)
	}
	b.do("reload", chromedp.Reload(), chromedp.WaitReady(chromedp.CSS(cellSel("seen", ".cm-content"))))
	b.wait("the last run's output", statusIs("call", "failed")+` && `+outputHas("call", body))
	if n := eval[int](b, bodyCount); n != 1 {
		t.Errorf("after a reload the output shows the body %d times, want once%s", n, b.state())
	}
	b.wait("the notebook's socket", `document.querySelector('[data-conn]')?.dataset.conn === 'open'`)

	// The options panel shows expect_status and changes it.
	b.do("open the options", chromedp.Click(chromedp.CSS(cellSel("call", `[data-action="options"]`))))
	field := cellSel("call", `[data-options] input[name="expect_status"]`)
	b.wait("expect_status in the panel", `document.querySelector(`+jsString(field)+`)?.value === '200'`)
	b.do("set expect_status",
		chromedp.SetValue(chromedp.CSS(field), "200, 4XX"),
		chromedp.Click(chromedp.CSS(cellSel("call", `[data-options] button[type="submit"]`))),
	)
	deadline := time.Now().Add(browserWait)
	for {
		d, err := s.st.Draft(context.Background(), fs.ID)
		if err == nil && slices.Equal(d.Flow.Cells[0].ExpectStatus, []string{"200", "4xx"}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stored expect_status is %v, want [200 4xx]%s", d.Flow.Cells[0].ExpectStatus, b.state())
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.do("run all again", chromedp.Click(chromedp.CSS(`.toolbar [data-action="run-all"]`)))
	b.wait("the 404 accepted", statusIs("call", "succeeded")+` && `+outputHas("call", body))
	if n := eval[int](b, bodyCount); n != 1 {
		t.Errorf("a succeeded call shows the body %d times, want once%s", n, b.state())
	}
	// An accepted 404 is not shown red, live or after a reload.
	if c := eval[string](b, chip); !strings.Contains(c, "chip-succeeded") {
		t.Errorf("an accepted 404's chip is %q live, want chip-succeeded%s", c, b.state())
	}
	b.do("reload", chromedp.Reload(), chromedp.WaitReady(chromedp.CSS(cellSel("seen", ".cm-content"))))
	b.wait("the accepted run's output", statusIs("call", "succeeded")+` && `+outputHas("call", body))
	if c := eval[string](b, chip); !strings.Contains(c, "chip-succeeded") {
		t.Errorf("an accepted 404's chip is %q after a reload, want chip-succeeded%s", c, b.state())
	}
}
