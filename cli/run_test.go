package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/opsbook/opsbook/engine"
)

// flowCase is one run of an example flow and what testdata/flows/README.md
// says it gives.
type flowCase struct {
	name string
	flow string   // folder under testdata/flows
	args []string // more flags
	// serve, when set, answers the flow's HTTP calls; the test passes its
	// URL as --input base_url. after checks what the server saw.
	serve  func(t *testing.T) (h http.Handler, after func(t *testing.T, evs []engine.Event))
	code   int
	run    engine.RunStatus
	status map[string]engine.CellStatus
	// results holds, per cell, JSON that the cell's result must contain
	// (objects may have more keys).
	results map[string]string
	check   func(t *testing.T, evs []engine.Event)
}

func jsonHandler(status int, body string) func(t *testing.T) (http.Handler, func(*testing.T, []engine.Event)) {
	return func(t *testing.T) (http.Handler, func(*testing.T, []engine.Event)) {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/health" || r.Method != http.MethodGet {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			io.WriteString(w, body)
		}), nil
	}
}

const orders = `[
  {"id": "o-1", "customer": "acme", "amount": 120.5, "status": "paid"},
  {"id": "o-2", "customer": "globex", "amount": 80, "status": "paid"},
  {"id": "o-3", "customer": "acme", "amount": 30.25, "status": "refunded"},
  {"id": "o-4", "customer": "acme", "amount": 10, "status": "paid"}
]`

func ordersAPI(t *testing.T) (http.Handler, func(*testing.T, []engine.Event)) {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/orders" || r.URL.Query().Get("day") != "2025-01-31" {
			http.Error(w, `{"error":"want /orders?day=2025-01-31"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, orders)
	}), nil
}

// chatAPI answers POST /notify and keeps the body it got.
func chatAPI(t *testing.T) (http.Handler, func(*testing.T, []engine.Event)) {
	var mu sync.Mutex
	var bodies []map[string]any
	var ctypes []string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/notify" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, `{"ok": false}`, http.StatusBadRequest)
			return
		}
		mu.Lock()
		bodies = append(bodies, body)
		ctypes = append(ctypes, r.Header.Get("Content-Type"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok": true, "id": "msg-1"}`)
	})
	after := func(t *testing.T, evs []engine.Event) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if len(bodies) != 1 {
			t.Fatalf("server got %d notifications; want 1", len(bodies))
		}
		if !strings.HasPrefix(ctypes[0], "application/json") {
			t.Errorf("Content-Type %q; want application/json", ctypes[0])
		}
		want := map[string]any{
			"channel": "#ops", "text": "Nightly batch: 5 processed, 1 failed",
			"processed": 5.0, "failed": 1.0, "severity": "warning", "run": evs[0].Run,
		}
		if d := subset("body", want, bodies[0]); d != "" || len(bodies[0]) != len(want) {
			t.Errorf("notification body %v: %s", bodies[0], d)
		}
	}
	return h, after
}

var flowCases = []flowCase{
	{
		name: "service-health/healthy", flow: "service-health",
		serve: jsonHandler(200, `{"status": "ok", "version": "1.4.2"}`),
		code:  ExitOK, run: engine.RunSucceeded,
		status: map[string]engine.CellStatus{"probe": engine.CellSucceeded, "fallback": engine.CellSkipped, "summary": engine.CellSucceeded},
		results: map[string]string{
			"probe":   `{"status": 200, "body": {"status": "ok", "version": "1.4.2"}}`,
			"summary": `{"value": {"service": "billing-api", "healthy": true, "status_code": 200, "version": "1.4.2"}}`,
		},
	},
	{
		name: "service-health/503", flow: "service-health",
		serve: jsonHandler(503, `{"status": "down"}`),
		code:  ExitOK, run: engine.RunSucceeded,
		status: map[string]engine.CellStatus{"fallback": engine.CellSucceeded, "summary": engine.CellSucceeded},
		results: map[string]string{
			"fallback": `{"exit_code": 0, "outputs": {"state": "degraded"}}`,
			"summary":  `{"value": {"service": "billing-api", "healthy": false, "status_code": 503, "version": "unknown"}}`,
		},
		check: func(t *testing.T, evs []engine.Event) {
			var r struct{ Outputs map[string]any }
			json.Unmarshal(cellEnds(evs)["fallback"].Result, &r)
			if at, _ := r.Outputs["checked_at"].(string); !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`).MatchString(at) {
				t.Errorf("fallback.outputs.checked_at = %q; want a UTC time", r.Outputs["checked_at"])
			}
		},
	},
	{
		// The service does not answer at all: the probe fails (it may), the
		// fallback still runs and the summary says so.
		name: "service-health/unreachable", flow: "service-health",
		serve: func(t *testing.T) (http.Handler, func(*testing.T, []engine.Event)) {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
					conn.Close()
				}
			}), nil
		},
		code: ExitOK, run: engine.RunSucceeded,
		status: map[string]engine.CellStatus{"probe": engine.CellFailed, "fallback": engine.CellSucceeded, "summary": engine.CellSucceeded},
		results: map[string]string{
			"summary": `{"value": {"service": "billing-api", "healthy": false, "status_code": 0, "version": "unknown"}}`,
		},
	},
	{
		name: "etl-orders", flow: "etl-orders", serve: ordersAPI,
		code: ExitOK, run: engine.RunSucceeded,
		status: map[string]engine.CellStatus{"notes": engine.CellSucceeded, "fetch": engine.CellSucceeded, "load": engine.CellSucceeded, "totals": engine.CellSucceeded, "summary": engine.CellSucceeded},
		results: map[string]string{
			"fetch":   `{"status": 200}`,
			"load":    `{"rows": [{"loaded": 4}]}`,
			"totals":  `{"rows": [{"customer": "acme", "orders": 2, "revenue": 130.5}, {"customer": "globex", "orders": 1, "revenue": 80}]}`,
			"summary": `{"value": {"day": "2025-01-31", "fetched": 4, "loaded": 4, "customers": 2, "revenue": 210.5, "top_customer": "acme"}}`,
		},
	},
	{
		name: "train-model", flow: "train-model",
		code: ExitOK, run: engine.RunSucceeded,
		status: map[string]engine.CellStatus{"about": engine.CellSucceeded, "prepare": engine.CellSucceeded, "train": engine.CellSucceeded, "gate": engine.CellSucceeded, "promote": engine.CellSucceeded},
		results: map[string]string{
			"train": `{"outputs": {"accuracy": 0.9375, "loss": 0.2341, "epochs": 200, "train_rows": 320, "test_rows": 80}}`,
			"gate":  `{"value": {"promote": true, "accuracy": 0.9375, "needed": 0.85}}`,
		},
	},
	{
		name: "train-model/strict-gate", flow: "train-model", args: []string{"--input", "min_accuracy=0.99"},
		code: ExitOK, run: engine.RunSucceeded,
		status:  map[string]engine.CellStatus{"gate": engine.CellSucceeded, "promote": engine.CellSkipped},
		results: map[string]string{"gate": `{"value": {"promote": false, "needed": 0.99}}`},
	},
	{
		name: "release-checklist", flow: "release-checklist",
		code: ExitOK, run: engine.RunSucceeded,
		status: map[string]engine.CellStatus{
			"intro": engine.CellSucceeded, "build": engine.CellSucceeded, "versions_note": engine.CellSucceeded,
			"check_version": engine.CellSucceeded, "check_changelog": engine.CellSucceeded, "artifacts_note": engine.CellSucceeded,
			"check_checksums": engine.CellSucceeded, "check_toolchain": engine.CellSucceeded, "sign_off": engine.CellSucceeded,
		},
		results: map[string]string{
			"build":           `{"outputs": {"artifacts": "3"}}`,
			"check_changelog": `{"outputs": {"entries": "2"}}`,
			"check_checksums": `{"outputs": {"verified": "3"}}`,
		},
	},
	{
		name: "release-checklist/old-toolchain", flow: "release-checklist", args: []string{"--input", "min_python=99.0"},
		code: ExitFailed, run: engine.RunFailed,
		status: map[string]engine.CellStatus{"check_checksums": engine.CellSucceeded, "check_toolchain": engine.CellFailed, "sign_off": engine.CellSkipped},
	},
	{
		name: "release-checklist/bad-version", flow: "release-checklist", args: []string{"--input", "version=v2"},
		code: ExitFailed, run: engine.RunFailed,
		status: map[string]engine.CellStatus{"build": engine.CellSucceeded, "check_version": engine.CellFailed, "check_changelog": engine.CellSkipped},
	},
	{
		name: "host-fanout", flow: "host-fanout",
		code: ExitOK, run: engine.RunSucceeded,
		status: map[string]engine.CellStatus{"disk": engine.CellSucceeded, "memory": engine.CellSucceeded, "load": engine.CellSucceeded, "processes": engine.CellSucceeded, "report": engine.CellSucceeded, "summary": engine.CellSucceeded},
		results: map[string]string{
			"report":  `{"outputs": {"facts": "7"}}`,
			"summary": `{"value": {"facts": 7}}`,
		},
		check: func(t *testing.T, evs []engine.Event) {
			var r struct{ Value map[string]any }
			json.Unmarshal(cellEnds(evs)["summary"].Result, &r)
			for _, k := range []string{"disk_used_pct", "disk_warning", "mem_avail_pct", "load1", "cpus", "processes", "facts"} {
				if _, ok := r.Value[k]; !ok {
					t.Errorf("summary.value has no %s: %v", k, r.Value)
				}
			}
			// The four fact cells are independent: all start before any
			// of them finishes (they sleep 0.3 s each). This is an order
			// of events, not a timing.
			started, firstEnd := 0, -1
			for i, e := range evs {
				if e.Type == engine.EventCellStarted && e.Cell != "report" && e.Cell != "summary" && firstEnd < 0 {
					started++
				}
				if e.Type == engine.EventCellFinished && firstEnd < 0 {
					firstEnd = i
				}
			}
			if started != 4 {
				t.Errorf("%d fact cells started before the first finished; want 4 running at once", started)
			}
		},
	},
	{
		name: "disk-cleanup", flow: "disk-cleanup",
		code: ExitOK, run: engine.RunSucceeded,
		status:  map[string]engine.CellStatus{"seed": engine.CellSucceeded, "cleanup": engine.CellSucceeded, "summary": engine.CellSucceeded},
		results: map[string]string{"cleanup": `{"outputs": {"removed": "3", "freed_bytes": "49152", "kept": "1", "dry_run": "true", "report": "reports/cleanup-2025-06-01.txt"}}`},
	},
	{
		name: "disk-cleanup/scope-all", flow: "disk-cleanup", args: []string{"--input", "scope=all"},
		code: ExitOK, run: engine.RunSucceeded,
		results: map[string]string{"cleanup": `{"outputs": {"removed": "4", "freed_bytes": "114688", "kept": "2"}}`},
	},
	{
		name: "disk-cleanup/older-than-30", flow: "disk-cleanup", args: []string{"--input", "older_than_days=30"},
		code: ExitOK, run: engine.RunSucceeded,
		results: map[string]string{"cleanup": `{"outputs": {"removed": "2"}}`},
	},
	{
		name: "retry-flaky", flow: "retry-flaky",
		code: ExitOK, run: engine.RunSucceeded,
		status: map[string]engine.CellStatus{"about": engine.CellSucceeded, "flaky": engine.CellSucceeded, "check": engine.CellSucceeded},
		results: map[string]string{
			"flaky": `{"outputs": {"attempts": "2"}}`,
			"check": `{"value": {"attempts": 2, "recovered": true}}`,
		},
		check: func(t *testing.T, evs []engine.Event) {
			if n := cellEnds(evs)["flaky"].Attempts; n != 2 {
				t.Errorf("flaky attempts = %d; want 2", n)
			}
			var starts []int
			for _, e := range evs {
				if e.Type == engine.EventCellStarted && e.Cell == "flaky" {
					starts = append(starts, e.Attempt)
				}
			}
			if len(starts) != 2 || starts[0] != 1 || starts[1] != 2 {
				t.Errorf("flaky cell.started attempts %v; want [1 2]", starts)
			}
		},
	},
	{
		name: "data-quality", flow: "data-quality",
		code: ExitOK, run: engine.RunSucceeded,
		status: map[string]engine.CellStatus{"load": engine.CellSucceeded, "not_null": engine.CellSucceeded, "unique_ids": engine.CellFailed, "ranges": engine.CellSucceeded, "verdict": engine.CellSucceeded},
		results: map[string]string{
			"load":     `{"rows": [{"events": 6}]}`,
			"not_null": `{"rows": [{"missing_user": 1, "missing_kind": 0}]}`,
			"ranges":   `{"rows": [{"negative_purchases": 0, "too_large": 1, "duplicate_ids": 1}]}`,
			"verdict":  `{"value": {"events": 6, "missing_user": 1, "duplicate_ids": 1, "too_large": 1, "passed": false}}`,
		},
		check: func(t *testing.T, evs []engine.Event) {
			if msg := cellEnds(evs)["unique_ids"].Error; !strings.Contains(msg, "UNIQUE constraint failed: dq_events.id") {
				t.Errorf("unique_ids error %q; want SQLite's UNIQUE constraint message", msg)
			}
		},
	},
	{
		name: "webhook-notify", flow: "webhook-notify", serve: chatAPI,
		code: ExitOK, run: engine.RunSucceeded,
		status: map[string]engine.CellStatus{"batch": engine.CellSucceeded, "message": engine.CellSucceeded, "notify": engine.CellSucceeded, "delivered": engine.CellSucceeded},
		results: map[string]string{
			"message":   `{"value": "Nightly batch: 5 processed, 1 failed"}`,
			"notify":    `{"status": 200, "body": {"ok": true, "id": "msg-1"}}`,
			"delivered": `{"value": true}`,
		},
	},
}

// TestRunFlows runs every example flow end to end through Run (real bash,
// python3 and SQLite; HTTP against a local server) and checks the results
// testdata/flows/README.md gives.
func TestRunFlows(t *testing.T) {
	t.Parallel()
	covered := map[string]bool{}
	for _, tc := range flowCases {
		covered[tc.flow] = true
	}
	entries, err := os.ReadDir(flowsDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() && !covered[e.Name()] {
			t.Errorf("flow %s has no case in TestRunFlows", e.Name())
		}
	}
	for _, tc := range flowCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := []string{filepath.Join(flowsDir, tc.flow), "--json"}
			var after func(*testing.T, []engine.Event)
			if tc.serve != nil {
				var h http.Handler
				h, after = tc.serve(t)
				srv := httptest.NewServer(h)
				t.Cleanup(srv.Close)
				args = append(args, "--input", "base_url="+srv.URL)
			}
			args = append(args, tc.args...)
			res := runCLI(t, args...)
			if res.code != tc.code {
				t.Fatalf("exit %d; want %d\nstderr: %s\nstdout: %s", res.code, tc.code, res.err, res.out)
			}
			evs := events(t, res.out)
			if evs[0].Flow != tc.flow {
				t.Errorf("run.started flow %q; want %q", evs[0].Flow, tc.flow)
			}
			if got := evs[len(evs)-1].Status; got != string(tc.run) {
				t.Errorf("run %s; want %s (%s)", got, tc.run, evs[len(evs)-1].Error)
			}
			ends := cellEnds(evs)
			for c, want := range tc.status {
				if got := ends[c].Status; got != string(want) {
					t.Errorf("cell %s %s (%s); want %s", c, got, ends[c].Error, want)
				}
			}
			for c, want := range tc.results {
				var w, g any
				if err := json.Unmarshal([]byte(want), &w); err != nil {
					t.Fatalf("bad want for %s: %v", c, err)
				}
				if err := json.Unmarshal(ends[c].Result, &g); err != nil {
					t.Errorf("cell %s result %s: %v", c, ends[c].Result, err)
					continue
				}
				if d := subset(c, w, g); d != "" {
					t.Errorf("result of %s: %s\ngot %s", c, d, ends[c].Result)
				}
			}
			if tc.check != nil {
				tc.check(t, evs)
			}
			if after != nil {
				after(t, evs)
			}
		})
	}
}

// TestExitCodes: 0 succeeded, 1 failed, 2 invalid flow or usage — and for
// 2, nothing ran and nothing was printed on stdout.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	secretDir, secretMarker := fixture(t, "secret")
	tests := []struct {
		name string
		args []string
		code int
		err  string // stderr contains
	}{
		{"succeeded", []string{flowsDir + "/retry-flaky"}, ExitOK, ""},
		{"failed", []string{flowsDir + "/release-checklist", "--input", "min_python=99.0"}, ExitFailed, ""},
		{"no folder given", nil, ExitInvalid, "give one flow folder"},
		{"two folders", []string{flowsDir + "/retry-flaky", flowsDir + "/data-quality"}, ExitInvalid, "give one flow folder"},
		{"missing folder", []string{"testdata/no-such-flow"}, ExitInvalid, "no-such-flow"},
		{"unknown flag", []string{flowsDir + "/retry-flaky", "--colour"}, ExitInvalid, "flag provided but not defined: -colour"},
		{"input not NAME=VALUE", []string{flowsDir + "/retry-flaky", "--input", "oops"}, ExitInvalid, `"oops" is not NAME=VALUE`},
		{"number input not a number", []string{flowsDir + "/train-model", "--input", "epochs=abc"}, ExitInvalid, `input epochs: "abc" is not a number`},
		{"boolean input not a boolean", []string{flowsDir + "/disk-cleanup", "--input", "dry_run=maybe"}, ExitInvalid, `input dry_run: "maybe" is not a boolean`},
		{"date input not a date", []string{flowsDir + "/disk-cleanup", "--input", "report_day=tomorrow"}, ExitInvalid, `is not a date`},
		{"select input not an option", []string{flowsDir + "/disk-cleanup", "--input", "scope=everything"}, ExitInvalid, `is not one of the options`},
		{"undeclared input", []string{flowsDir + "/retry-flaky", "--input", "nope=1"}, ExitInvalid, `unknown input "nope"`},
		{"missing required input", []string{flowsDir + "/service-health"}, ExitInvalid, "input base_url is required"},
		{"missing secret", []string{secretDir, "--json"}, ExitInvalid, "secret TOKEN is not set"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := runCLI(t, tc.args...)
			if res.code != tc.code {
				t.Fatalf("exit %d; want %d\nstderr: %s", res.code, tc.code, res.err)
			}
			if !strings.Contains(res.err, tc.err) {
				t.Errorf("stderr %q; want it to contain %q", res.err, tc.err)
			}
			if tc.code == ExitInvalid && res.out != "" {
				t.Errorf("invalid run printed on stdout (it must not start): %q", res.out)
			}
		})
	}
	if exists(filepath.Join(secretMarker, "ran")) {
		t.Error("the secret flow ran without its secret")
	}
}

// badFlows are the fixtures under testdata/bad and the message each gives.
var badFlows = []struct {
	name string
	at   string // file:line:col relative to the flow folder
	msg  string // part of the message
}{
	{"unknown-key", "flow.yaml:9:5", `unknown key "tiemout" in cell "second"; did you mean "timeout"?`},
	{"unknown-kind", "flow.yaml:7:11", `unknown kind "ruby"; use one of shell, python, http, sql, expr, markdown`},
	{"duplicate-names", "flow.yaml:6:11", `duplicate cell name "mark"`},
	{"missing-file", "flow.yaml:8:11", `file "nothere.sh" does not exist in the flow folder`},
	{"bad-identifier", "flow.yaml:6:11", `cell name "Second-Step" is not an identifier`},
	{"unknown-cell", "second.sh:1:9", `unknown cell "nope"; the cells of this flow are mark, second`},
	{"later-cell", "second.sh:2:9", `cell second reads cell third, which comes later in notebook order`},
	{"cycle", "flow.yaml:7:5", `cells depend on each other in a cycle: second → third → second`},
	{"unclosed-template", "second.sh:2:6", `unclosed {{`},
	{"bad-if", "flow.yaml:9:31", `unexpected token EOF`},
}

// TestBadFlows: every malformed flow exits 2 with path/file:line:col:
// message, and nothing runs (its first cell would leave a marker file).
// `opsbook check` gives the same messages.
func TestBadFlows(t *testing.T) {
	t.Parallel()
	// The control: the same first cell, in a good flow, does leave the
	// marker, so its absence below means something.
	t.Run("control", func(t *testing.T) {
		t.Parallel()
		dir, marker := fixture(t, "good")
		if res := runCLI(t, dir); res.code != ExitOK {
			t.Fatalf("good flow: exit %d: %s", res.code, res.err)
		}
		if !exists(filepath.Join(marker, "ran")) {
			t.Fatal("the good flow's first cell left no marker; the bad-flow checks prove nothing")
		}
	})
	for _, tc := range badFlows {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir, marker := fixture(t, filepath.Join("bad", tc.name))
			want := filepath.Join(dir, tc.at) + ": "
			for _, args := range [][]string{{dir}, {dir, "--json"}} {
				res := runCLI(t, args...)
				if res.code != ExitInvalid {
					t.Fatalf("run %v: exit %d; want 2\nstderr: %s", args, res.code, res.err)
				}
				if !strings.HasPrefix(res.err, want) || !strings.Contains(res.err, tc.msg) {
					t.Errorf("run stderr:\n%s\nwant a line %s…%s…", res.err, want, tc.msg)
				}
				if res.out != "" {
					t.Errorf("run printed %q on stdout; nothing may start", res.out)
				}
				if exists(filepath.Join(marker, "ran")) {
					t.Fatal("the flow's first cell ran; a bad flow must not start")
				}
			}
			chk := checkCLI(t, dir)
			if chk.code != ExitInvalid {
				t.Fatalf("check: exit %d; want 2", chk.code)
			}
			if chk.err != runCLI(t, dir).err {
				t.Errorf("check and run disagree:\ncheck: %s\nrun:   %s", chk.err, runCLI(t, dir).err)
			}
			if exists(filepath.Join(marker, "ran")) {
				t.Fatal("check ran a cell")
			}
		})
	}
}

// TestCheck: every example flow is valid; a missing folder is not.
func TestCheck(t *testing.T) {
	t.Parallel()
	entries, err := os.ReadDir(flowsDir)
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(flowsDir, e.Name())
		all = append(all, dir)
		t.Run(e.Name(), func(t *testing.T) {
			t.Parallel()
			res := checkCLI(t, dir)
			if res.code != ExitOK || res.err != "" {
				t.Fatalf("check %s: exit %d\n%s", dir, res.code, res.err)
			}
			if !strings.HasPrefix(res.out, dir+": ok (") {
				t.Errorf("check output %q", res.out)
			}
		})
	}
	t.Run("all at once", func(t *testing.T) {
		t.Parallel()
		if res := checkCLI(t, all...); res.code != ExitOK || strings.Count(res.out, ": ok (") != len(all) {
			t.Fatalf("check all: exit %d\n%s%s", res.code, res.out, res.err)
		}
	})
	t.Run("one bad among good", func(t *testing.T) {
		t.Parallel()
		res := checkCLI(t, all[0], filepath.Join("testdata", "bad", "cycle"))
		if res.code != ExitInvalid || !strings.Contains(res.err, "cycle") || !strings.Contains(res.out, ": ok (") {
			t.Fatalf("exit %d\n%s%s", res.code, res.out, res.err)
		}
	})
	for _, args := range [][]string{nil, {"testdata/no-such-flow"}, {"--nope", flowsDir + "/retry-flaky"}} {
		if res := checkCLI(t, args...); res.code != ExitInvalid {
			t.Errorf("check %v: exit %d; want 2", args, res.code)
		}
	}
}

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// TestTextOutput: without --json, a header per cell, its lines and a
// closing status line with a duration; colour only on a terminal.
func TestTextOutput(t *testing.T) {
	t.Parallel()
	for _, term := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "terminal"}[term], func(t *testing.T) {
			t.Parallel()
			res := runIO(t, term, filepath.Join(flowsDir, "release-checklist"), "--input", "min_python=99.0")
			if res.code != ExitFailed {
				t.Fatalf("exit %d; want 1\n%s", res.code, res.err)
			}
			if got := ansi.MatchString(res.out); got != term {
				t.Fatalf("ANSI escapes present = %v; want %v\n%q", got, term, res.out)
			}
			if !term && strings.Contains(res.out, "\x1b") {
				t.Fatalf("an escape byte in plain output: %q", res.out)
			}
			plain := ansi.ReplaceAllString(res.out, "")
			for _, re := range []string{
				`(?m)^Running release-checklist \(9 cells, run r_\w+\)$`,
				`(?m)^▶ build shell$`,
				`(?m)^  │ built release 1\.4\.0$`,
				`(?m)^✓ build succeeded in \d+(ms|\.\ds)$`,
				`(?m)^¶ intro$`,
				`(?m)^▶ check_toolchain shell$`,
				`(?m)^✗ check_toolchain failed after \d+(ms|\.\ds): exit status 1$`,
				`(?m)^○ sign_off skipped: an earlier cell failed$`,
				`(?m)^Run failed in \d+(ms|\.\ds) · 7 succeeded · 1 failed · 1 skipped$`,
			} {
				if !regexp.MustCompile(re).MatchString(plain) {
					t.Errorf("output lacks %s:\n%s", re, plain)
				}
			}
			// Each shell cell's header comes before its lines and its
			// status line.
			h := strings.Index(plain, "▶ build shell")
			l := strings.Index(plain, "│ built release")
			s := strings.Index(plain, "✓ build succeeded")
			if h >= l || l >= s {
				t.Errorf("header %d, line %d, status %d: want that order", h, l, s)
			}
		})
	}
	t.Run("graph order labels lines", func(t *testing.T) {
		t.Parallel()
		res := runCLI(t, filepath.Join(flowsDir, "host-fanout"))
		if res.code != ExitOK {
			t.Fatalf("exit %d\n%s", res.code, res.err)
		}
		if !regexp.MustCompile(`(?m)^  (disk|memory|load|processes|report) │ `).MatchString(res.out) {
			t.Errorf("graph-order lines carry no cell name:\n%s", res.out)
		}
		if !regexp.MustCompile(`(?m)^✓ summary succeeded in \d+ms = \{`).MatchString(res.out) {
			t.Errorf("expr cell shows no value:\n%s", res.out)
		}
	})
}

// The terminal shows an http cell's body once, under the cell, whether
// the answer succeeded or failed it.
func TestHTTPBodyInTerminal(t *testing.T) {
	t.Parallel()
	h, _ := jsonHandler(503, `{"status": "down", "n": 42}`)(t)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	res := runCLI(t, filepath.Join(flowsDir, "service-health"), "--input", "base_url="+srv.URL)
	if res.code != ExitOK {
		t.Fatalf("exit %d; want %d\nstderr: %s\nstdout: %s", res.code, ExitOK, res.err, res.out)
	}
	if n := strings.Count(res.out, `"status": "down"`); n != 1 {
		t.Errorf("the body is shown %d times; want once:\n%s", n, res.out)
	}
	for _, want := range []string{"  │   \"n\": 42,\n", "→ 503 Service Unavailable", "✗ probe failed", "answered 503 Service Unavailable; the cell expects 2xx"} {
		if !strings.Contains(res.out, want) {
			t.Errorf("output lacks %q:\n%s", want, res.out)
		}
	}
}
