package server

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
)

// triggerPermissionRows are the routes of trigger_pause.go in the route ×
// role matrix: editors and owners pause and resume.
func triggerPermissionRows(f *fixture) []permRow {
	const (
		ok  = http.StatusOK
		see = http.StatusSeeOther
		una = http.StatusUnauthorized
		fbd = http.StatusForbidden
		nf  = http.StatusNotFound
	)
	f.addFlow("timed", &engine.Flow{Name: "Timed", Triggers: []engine.Trigger{{Cron: "0 6 * * *", Timezone: "Europe/Paris"}}})
	key := "key=" + url.QueryEscape("cron 0 6 * * * Europe/Paris")
	jkey := `{"key":"cron 0 6 * * * Europe/Paris"}`
	return []permRow{
		{"POST", "/w/acme/flows/timed/triggers/pause", key, expect{see, see, fbd, fbd, nf, una}},
		{"POST", "/w/acme/flows/timed/triggers/resume", key, expect{see, see, fbd, fbd, nf, una}},
		{"POST", "/w/acme/flows/nope/triggers/pause", key, expect{nf, nf, fbd, fbd, nf, una}},
		{"POST", "/api/v1/flows/timed/triggers/pause", jkey, expect{ok, ok, fbd, fbd, nf, una}},
		{"POST", "/api/v1/flows/timed/triggers/resume", jkey, expect{ok, ok, fbd, fbd, nf, una}},
		{"POST", "/api/v1/flows/nope/triggers/pause", jkey, expect{nf, nf, fbd, fbd, nf, una}},
	}
}

// TestTriggerPause: an editor pauses a flow's cron trigger and its webhook
// by key (the trigger of the draft, whatever its place in the list); the
// webhook answers 409 while paused and starts runs again once resumed; an
// unknown or missing key is refused at the field; each pause and resume is
// in the audit log.
func TestTriggerPause(t *testing.T) {
	t.Parallel()
	f := setup(t, testDB)
	ctx := context.Background()
	fl := hookedFlow(0)
	fl.Triggers = append([]engine.Trigger{{Cron: "0 6 * * *", Timezone: "Europe/Paris"}}, fl.Triggers...)
	fs := f.addFlow("hooked", fl)
	_, tok := f.makeHook(f.ws.ID, fs.ID, f.users["editor"].ID)
	post := func(action, key string, want int) string {
		t.Helper()
		return body(t, f.do("editor", "POST", "/w/acme/flows/hooked/triggers/"+action, "key="+url.QueryEscape(key)), want)
	}
	post("pause", "cron 0 6 * * * Europe/Paris", http.StatusSeeOther)
	post("pause", "webhook", http.StatusSeeOther)
	paused, err := f.st.TriggerPauses(ctx, fs.ID)
	if err != nil || len(paused) != 2 || paused["webhook"].PausedBy != f.users["editor"].ID {
		t.Fatalf("paused %+v, %v", paused, err)
	}
	f.hookPost("/hooks/"+tok, `{}`, http.StatusConflict)
	post("resume", "webhook", http.StatusSeeOther)
	f.hookPost("/hooks/"+tok, `{}`, http.StatusAccepted)
	if b := post("pause", "cron 0 7 * * * UTC", http.StatusNotFound); !strings.Contains(b, "no trigger") {
		t.Fatalf("an unknown key: %s", b)
	}
	post("pause", "", http.StatusUnprocessableEntity)
	entries, err := f.st.Audit(ctx, store.AuditQuery{WorkspaceID: f.ws.ID, Action: "trigger."})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Action+" "+e.Target+" "+e.Detail+" by "+e.ActorName)
	}
	if len(got) != 3 {
		t.Fatalf("audit %q; want two pauses and a resume", got)
	}

	// The same through the API, with a token.
	out := f.apiJSON("editor", "POST", "/api/v1/flows/hooked/triggers/pause", `{"key":"webhook"}`, http.StatusOK)
	if out["paused"] != true || out["key"] != "webhook" {
		t.Errorf("API pause answered %v", out)
	}
	f.hookPost("/hooks/"+tok, `{}`, http.StatusConflict)
	f.apiJSON("editor", "POST", "/api/v1/flows/hooked/triggers/resume", `{"key":"webhook"}`, http.StatusOK)
	f.hookPost("/hooks/"+tok, `{}`, http.StatusAccepted)
	f.apiJSON("editor", "POST", "/api/v1/flows/hooked/triggers/pause", `{"key":"cron 0 7 * * * UTC"}`, http.StatusNotFound)
	f.apiJSON("editor", "POST", "/api/v1/flows/hooked/triggers/pause", `{}`, http.StatusUnprocessableEntity)
	f.apiJSON("editor", "POST", "/api/v1/flows/hooked/triggers/pause", `nope`, http.StatusBadRequest)
}
