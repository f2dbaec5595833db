package server

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// expect lists the status each principal gets, in the order owner, editor,
// runner, viewer, outsider (a member of another workspace), anonymous. A
// share-link holder (an anonymous visitor who also sends a share link's
// token as cookie and bearer token) always gets the anonymous answer.
type expect [6]int

// TestPermissions tries every route as every role and checks each answer.
// Routes of the table are matched against the server's route table so a
// new route without a row fails the test.
func TestPermissions(t *testing.T) {
	for _, dialect := range []string{testDB} {
		t.Run(dialect, func(t *testing.T) { testPermissions(t, dialect) })
	}
}

func testPermissions(t *testing.T, dialect string) {
	f := setup(t, dialect)
	run := f.run
	const (
		ok  = http.StatusOK
		see = http.StatusSeeOther
		bad = http.StatusBadRequest
		una = http.StatusUnauthorized
		fbd = http.StatusForbidden
		nf  = http.StatusNotFound
		unp = http.StatusUnprocessableEntity
		cnf = http.StatusConflict
		crt = http.StatusCreated
	)
	pageGet := expect{ok, ok, ok, ok, nf, see}
	rows := []struct {
		method, path, body string
		want               expect
	}{
		{"GET", "/", "", expect{see, see, see, see, see, see}},
		{"GET", "/setup", "", expect{see, see, see, see, see, see}},
		{"POST", "/setup", "name=x&password=y", expect{fbd, fbd, fbd, fbd, fbd, fbd}},
		{"GET", "/signin", "", expect{ok, ok, ok, ok, ok, ok}},
		{"GET", "/account", "", expect{ok, ok, ok, ok, ok, see}},
		{"GET", "/guide/cells", "", expect{ok, ok, ok, ok, ok, ok}},
		{"POST", "/account/password", "current=wrong&password=x", expect{unp, unp, unp, unp, unp, una}},
		{"POST", "/signin", "name=owner&password=wrong", expect{una, una, una, una, una, una}},
		{"GET", "/w/acme", "", pageGet},
		{"POST", "/w/acme/flows", "name=", expect{unp, unp, fbd, fbd, nf, una}},
		{"POST", "/w/acme/flows/import", "", expect{unp, unp, fbd, fbd, nf, una}},
		{"GET", "/w/acme/flows/hello", "", pageGet},
		{"GET", "/w/acme/flows/nope", "", expect{nf, nf, nf, nf, nf, see}},
		{"GET", "/w/acme/flows/hello/ws", "", expect{bad, bad, bad, bad, nf, una}},
		{"POST", "/w/acme/flows/hello/markdown", "# hi", expect{ok, ok, ok, ok, nf, una}},
		{"POST", "/w/acme/flows/nope/markdown", "# hi", expect{nf, nf, nf, nf, nf, una}},
		{"GET", "/w/acme/flows/hello/versions", "", pageGet},
		{"GET", "/w/acme/flows/nope/versions", "", expect{nf, nf, nf, nf, nf, see}},
		{"POST", "/w/acme/flows/hello/versions/import", "", expect{unp, unp, fbd, fbd, nf, una}},
		{"POST", "/w/acme/flows/hello/versions/9/restore", "", expect{nf, nf, fbd, fbd, nf, una}},
		{"POST", "/w/acme/flows/hello/versions/9/publish", "", expect{nf, nf, fbd, fbd, nf, una}},
		{"GET", "/w/acme/flows/hello/versions/1/export?format=zip", "", expect{ok, ok, ok, ok, nf, see}},
		{"GET", "/w/acme/flows/hello/versions/1/export?format=rar", "", expect{bad, bad, bad, bad, nf, see}},
		{"GET", "/w/acme/flows/hello/diff?from=1&to=draft", "", pageGet},
		{"GET", "/w/acme/flows/hello/diff?from=x", "", expect{bad, bad, bad, bad, nf, see}},
		// The draft is v1's content: an editor's save is let through and
		// answers that nothing changed (409), a viewer's is refused.
		{"POST", "/w/acme/flows/hello/versions", "message=", expect{cnf, cnf, fbd, fbd, nf, una}},
		{"POST", "/w/acme/flows/hello/versions/1/restore", "", expect{see, see, fbd, fbd, nf, una}},
		{"POST", "/w/acme/flows/hello/versions/1/publish", "", expect{see, see, fbd, fbd, nf, una}},
		// Archive and delete (owner); rows that change nothing: an unknown
		// flow, unarchiving a flow that is not archived, a wrong slug typed.
		{"GET", "/w/acme/flows/hello/delete", "", expect{ok, fbd, fbd, fbd, nf, see}},
		{"GET", "/w/acme/flows/nope/delete", "", expect{nf, fbd, fbd, fbd, nf, see}},
		{"POST", "/w/acme/flows/hello/delete", "confirm=wrong", expect{unp, fbd, fbd, fbd, nf, una}},
		{"POST", "/w/acme/flows/nope/archive", "", expect{nf, fbd, fbd, fbd, nf, una}},
		{"POST", "/w/acme/flows/hello/unarchive", "", expect{see, fbd, fbd, fbd, nf, una}},
		{"GET", "/w/acme/runs", "", pageGet},
		{"GET", "/w/acme/settings", "", pageGet},
		{"POST", "/w/acme/members", "name=&role=viewer", expect{unp, fbd, fbd, fbd, nf, una}},
		{"POST", "/w/acme/members/outsider/remove", "", expect{nf, fbd, fbd, fbd, nf, una}},
		{"POST", "/w/acme/members/outsider/role", "role=viewer", expect{nf, fbd, fbd, fbd, nf, una}},
		{"POST", "/w/acme/tokens", "name=&role=viewer", expect{unp, unp, unp, unp, nf, una}},
		{"POST", "/w/acme/tokens/tk_nope/revoke", "", expect{nf, nf, nf, nf, nf, una}},
		{"GET", "/runs/" + run, "", pageGet},
		{"GET", "/runs/r_nope", "", expect{nf, nf, nf, nf, nf, see}},
		{"GET", "/runs/" + run + "/ws", "", expect{bad, bad, bad, bad, nf, una}},
		{"GET", "/runs/" + run + "/log?cell=greet", "", expect{ok, ok, ok, ok, nf, una}},
		{"POST", "/runs/" + run + "/markdown", "# hi", expect{ok, ok, ok, ok, nf, una}},
		{"POST", "/runs/r_nope/markdown", "# hi", expect{nf, nf, nf, nf, nf, una}},
		{"POST", "/runs/" + run + "/cancel", "", expect{see, see, see, fbd, nf, una}},
		// The run asked no approval: members are told so; who may decide
		// is the approval's approvers (TestApprovalFromTheStudio).
		{"POST", "/runs/" + run + "/approvals/approve", "decision=approve", expect{nf, nf, nf, nf, nf, una}},
		{"POST", "/runs/" + run + "/approvals/approve/link", "", expect{nf, nf, fbd, fbd, nf, una}},
		{"GET", "/a/nope", "", expect{nf, nf, nf, nf, nf, nf}},
		{"POST", "/a/nope", "decision=approve", expect{nf, nf, nf, nf, nf, nf}},
		{"GET", "/a/nope/log?cell=hello", "", expect{nf, nf, nf, nf, nf, nf}},
		// The fixture's run succeeded: a re-run is refused for what the run
		// is (409) to whoever may run the flow, for who asks to the others.
		{"POST", "/runs/" + run + "/rerun", "", expect{cnf, cnf, cnf, fbd, nf, una}},
		{"POST", "/runs/r_nope/rerun", "", expect{nf, nf, nf, nf, nf, una}},
		{"GET", "/api/v1/flows", "", expect{ok, ok, ok, ok, ok, una}},
		{"POST", "/api/v1/flows", "not an archive", expect{bad, bad, fbd, fbd, bad, una}},
		{"GET", "/api/v1/flows/hello", "", expect{ok, ok, ok, ok, nf, una}},
		{"GET", "/api/v1/flows/hello/versions", "", expect{ok, ok, ok, ok, nf, una}},
		{"POST", "/api/v1/flows/hello/versions", "not an archive", expect{bad, bad, fbd, fbd, nf, una}},
		{"GET", "/api/v1/flows/hello/versions/1/export", "", expect{ok, ok, ok, ok, nf, una}},
		{"GET", "/api/v1/flows/hello/versions/9/export?format=zip", "", expect{nf, nf, nf, nf, nf, una}},
		{"POST", "/api/v1/flows/hello/versions/1/publish", "", expect{ok, ok, fbd, fbd, nf, una}},
		{"POST", "/api/v1/flows/hello/versions/9/publish", "", expect{nf, nf, fbd, fbd, nf, una}},
		{"POST", "/api/v1/flows/hello/runs", `{"inputs":{"who":"api"}}`, expect{crt, crt, crt, fbd, nf, una}},
		{"GET", "/api/v1/runs/" + run, "", expect{ok, ok, ok, ok, nf, una}},
		{"GET", "/api/v1/runs/" + run + "/events", "", expect{ok, ok, ok, ok, nf, una}},
		{"GET", "/api/v1/runs/" + run + "/log?cell=greet", "", expect{ok, ok, ok, ok, nf, una}},
		{"POST", "/api/v1/runs/" + run + "/cancel", "", expect{cnf, cnf, cnf, fbd, nf, una}},
		{"POST", "/api/v1/runs/" + run + "/approvals/approve", `{"approve":true}`, expect{nf, nf, nf, nf, nf, una}},
		{"POST", "/api/v1/runs/" + run + "/approvals/approve/link", "", expect{nf, nf, fbd, fbd, nf, una}},
		{"POST", "/api/v1/runs/" + run + "/rerun", "", expect{cnf, cnf, cnf, fbd, nf, una}},
		{"GET", "/api/v1/nope", "", expect{nf, nf, nf, nf, nf, nf}},
		{"GET", "/healthz", "", expect{ok, ok, ok, ok, ok, ok}},
		{"GET", "/favicon.ico", "", expect{ok, ok, ok, ok, ok, ok}},
		{"GET", "/readyz", "", expect{ok, ok, ok, ok, ok, ok}},
		// /metrics is not gated by role but by token or address (TestMetricsGate): the test's client is loopback.
		{"GET", "/metrics", "", expect{ok, ok, ok, ok, ok, ok}},
	}
	rows = append(rows, gitPermissionRows()...)
	rows = append(rows, permRow{"POST", "/w/acme/sandbox", "procs=512&files=4096&file_size=1024&memory=0", expect{ok, fbd, fbd, fbd, nf, una}})
	rows = append(rows, permRow{"POST", "/w/acme/retention", "keep_runs_days=0&keep_logs_days=30", expect{ok, fbd, fbd, fbd, nf, una}})
	rows = append(rows, notifyPermissionRows()...)
	rows = append(rows, hookPermissionRows(f)...)
	rows = append(rows, triggerPermissionRows(f)...)
	rows = append(rows, sharingPermissionRows(f)...) // last: it signs everyone out
	checkRoutesCovered(t, rows)
	who := append(append([]string{}, testRoles...), "", shareHolder)
	for _, row := range rows {
		for i, role := range who {
			name := role
			if name == "" {
				name = "anonymous"
			}
			i = min(i, len(row.want)-1) // the holder gets the anonymous answer
			t.Run(fmt.Sprintf("%s %s as %s", row.method, row.path, name), func(t *testing.T) {
				resp := f.do(role, row.method, row.path, row.body)
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != row.want[i] {
					t.Errorf("status %d; want %d\n%.300s", resp.StatusCode, row.want[i], b)
				}
				if resp.StatusCode == http.StatusNotFound && role == "outsider" && strings.Contains(string(b), "hello") {
					t.Errorf("a 404 for another workspace's member leaks the flow: %.200s", b)
				}
			})
		}
	}
}

// TestCrossSiteRefused checks that a state-changing request from another
// site is refused, whoever sends it.
func TestCrossSiteRefused(t *testing.T) {
	f := setup(t, testDB)
	for _, path := range append([]string{"/w/acme/flows", "/signout", "/w/acme/tokens", "/setup", "/signin", "/w/acme/flows/hello/markdown", "/runs/" + f.run + "/markdown"}, sharingPostPaths(f)...) {
		resp := f.do("owner", "POST", path, "name=evil", "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-site POST %s: status %d; want 403", path, resp.StatusCode)
		}
	}
}
