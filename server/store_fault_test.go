package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/opsbook/opsbook/engine/store"
)

// errDown is what the fakes below answer: a database that went away, in
// words (an address) that must reach the log and never the person.
var errDown = errors.New("read tcp 10.1.2.3:5432: connection reset by peer")

// Each fake is the real store (the handler's small interface, embedded)
// with one method failing.

type cellRunsDown struct{ apiRunStore }

func (cellRunsDown) CellRuns(context.Context, string) ([]store.CellRun, error) { return nil, errDown }

type runListDown struct{ runLister }

func (runListDown) RunsOfWorkspace(context.Context, string, int) ([]store.Run, error) {
	return nil, errDown
}

type pausesDown struct{ hookRunStore }

func (pausesDown) TriggerPauses(context.Context, string) (map[string]store.TriggerPause, error) {
	return nil, errDown
}

// TestStoreErrors: when the store fails under a handler, the handler
// answers 500 with the plain "it was logged" message, the log has the
// store's error with the request's path, and the answer does not carry
// the error's words. A webhook whose paused triggers cannot be read starts
// no run: when unsure whether it is paused, it is not started.
func TestStoreErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// fail puts the failing fake in the fixture's handler stores and
		// returns the request that reaches it.
		fail func(f *fixture) *http.Request
		// after checks what the failed request must not have done.
		after func(t *testing.T, f *fixture)
	}{
		{
			name: "API run",
			fail: func(f *fixture) *http.Request {
				f.srv.stores.apiRuns = cellRunsDown{f.srv.stores.apiRuns}
				r := httptest.NewRequest("GET", "/api/v1/runs/"+f.run, nil)
				r.Header.Set("Authorization", "Bearer "+f.tokens["viewer"])
				return r
			},
		},
		{
			name: "runs page",
			fail: func(f *fixture) *http.Request {
				f.srv.stores.runs = runListDown{f.srv.stores.runs}
				r := httptest.NewRequest("GET", "/w/acme/runs", nil)
				r.AddCookie(&http.Cookie{Name: sessionCookie, Value: f.cookies["viewer"]})
				return r
			},
		},
		{
			name: "webhook",
			fail: func(f *fixture) *http.Request {
				fs := f.addFlow("hooked", hookedFlow(0))
				_, tok := f.makeHook(f.ws.ID, fs.ID, f.users["editor"].ID)
				f.srv.stores.hookRun = pausesDown{f.srv.stores.hookRun}
				r := httptest.NewRequest("POST", "/hooks/"+tok, strings.NewReader(`{"who":"fault"}`))
				r.Header.Set("Content-Type", "application/json")
				return r
			},
			after: func(t *testing.T, f *fixture) {
				fs, err := f.st.FlowBySlug(context.Background(), f.ws.ID, "hooked")
				if err != nil {
					t.Fatal(err)
				}
				if n := f.countRuns(fs.ID); n != 0 {
					t.Errorf("the webhook started %d runs without knowing whether it is paused", n)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var logs logBuf
			f := setupWith(t, testDB, Config{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))})
			// The handler runs on this goroutine, which also swapped the
			// store in: no request of the fixture's HTTP server sees it.
			req := tc.fail(f)
			rec := httptest.NewRecorder()
			f.srv.Handler().ServeHTTP(rec, req)
			got := rec.Body.String()
			if rec.Code != http.StatusInternalServerError || !strings.Contains(got, "something went wrong on the server; it was logged") {
				t.Errorf("%s %s: %d %.300s, want 500 saying it was logged", req.Method, req.URL.Path, rec.Code, got)
			}
			if strings.Contains(got, "10.1.2.3") || strings.Contains(got, "connection reset") {
				t.Errorf("the answer carries the store's error: %.300s", got)
			}
			if l := logs.String(); !strings.Contains(l, "request failed") || !strings.Contains(l, errDown.Error()) || !strings.Contains(l, req.URL.Path) {
				t.Errorf("the log does not have the failure with its path:\n%s", l)
			}
			if tc.after != nil {
				tc.after(t, f)
			}
		})
	}
}
