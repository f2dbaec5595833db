package server

import (
	"context"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/flow"
)

func TestCronDue(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		spec, minute string
		want         bool
	}{
		{"0 6 * * *", "2026-11-27T06:00:00Z", true},
		{"0 6 * * *", "2026-11-27T06:01:00Z", false},
		{"*/5 * * * *", "2026-11-27T10:35:00Z", true},
		{"*/5 * * * *", "2026-11-27T10:36:00Z", false},
		{"@daily", "2026-11-28T00:00:00Z", true},
		{"30 3 * * 0", "2026-11-29T03:30:00Z", true}, // a Sunday
		{"30 3 * * 0", "2026-11-28T03:30:00Z", false},
		{"not a cron", "2026-11-27T06:00:00Z", false},
	} {
		if got := cronDue(tc.spec, at(tc.minute)); got != tc.want {
			t.Errorf("cronDue(%q, %s) = %v; want %v", tc.spec, tc.minute, got, tc.want)
		}
	}
}

// TestScheduledRuns: the published version's cron starts a run once per
// due minute, even when asked twice (two servers on one database); a flow
// with no published version, or a minute that is not due, starts nothing.
func TestScheduledRuns(t *testing.T) {
	f := setup(t, testDB)
	ctx := context.Background()
	fl := &engine.Flow{Name: "Nightly", Triggers: []engine.Trigger{{Cron: "0 6 * * *"}}, Cells: []engine.Cell{
		{Name: "hi", Kind: engine.KindShell, File: "hi.sh", Source: "echo scheduled\n"},
	}}
	files, err := flow.Files(fl)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := f.st.CreateFlow(ctx, f.ws.ID, "nightly", fl, f.users["owner"].ID, storeFiles(files), flow.Hash(fl))
	if err != nil {
		t.Fatal(err)
	}
	six := time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)
	if n := f.srv.fireDue(ctx, six); n != 0 {
		t.Fatalf("%d runs started for a flow with no published version", n)
	}
	if err := f.st.Publish(ctx, fs.ID, 1); err != nil {
		t.Fatal(err)
	}
	if n := f.srv.fireDue(ctx, six.Add(time.Minute)); n != 0 {
		t.Fatalf("%d runs started at 06:01", n)
	}
	if n := f.srv.fireDue(ctx, six); n != 1 {
		t.Fatalf("%d runs started at 06:00; want 1", n)
	}
	if n := f.srv.fireDue(ctx, six); n != 0 {
		t.Fatalf("the same minute fired again (%d runs)", n)
	}
	runs, err := f.st.RunsOfFlow(ctx, fs.ID, 10)
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs %v, %v", runs, err)
	}
	if r := f.waitRun(runs[0].ID); r.Status != engine.RunSucceeded || r.Version != 1 || r.StartedBy != "" {
		t.Fatalf("scheduled run %+v", r)
	}
}
