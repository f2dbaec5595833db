package store

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
)

var notifyTests = []struct {
	name string
	fn   func(t *testing.T, s *Store)
}{
	{"NotifyDestinations", testNotifyDestinations},
	{"NotifyOutbox", testNotifyOutbox},
	{"FlowSettingsNotify", testFlowSettingsNotify},
}

// testFlowSettingsNotify: UpdateFlowSettings sets and clears a draft's
// notify: (a destination without on: keeps its defaults, nil), leaves the
// other keys of flows.settings alone, and the version saved from the
// draft has it.
func testFlowSettingsNotify(t *testing.T, s *Store) {
	ctx := context.Background()
	fx := setup(t, s)
	f := sampleFlow()
	f.NoNetwork = true
	f.Concurrency = engine.Concurrency{Limit: 1, Overlap: engine.OverlapSkip}
	f.Notify = []engine.Notify{{To: "ops", On: []engine.NotifyEvent{engine.NotifyFailed}}}
	fs, err := s.CreateFlow(ctx, fx.ws.ID, "told", f, fx.user.ID, nil, "")
	ok(t, err)
	draft := func() *engine.Flow {
		t.Helper()
		d, err := s.Draft(ctx, fs.ID)
		ok(t, err)
		if !d.Flow.NoNetwork || d.Flow.Concurrency != f.Concurrency {
			t.Fatalf("the draft lost network: false or its concurrency: %v, %+v", d.Flow.NoNetwork, d.Flow.Concurrency)
		}
		return d.Flow
	}
	if got := draft().Notify; !reflect.DeepEqual(got, f.Notify) {
		t.Fatalf("created with notify %+v; want %+v", got, f.Notify)
	}

	want := []engine.Notify{{To: "ops", On: []engine.NotifyEvent{engine.NotifyFailed, engine.NotifyWaiting}}, {To: "team-mail"}}
	settings := FlowSettings{Name: f.Name, Description: f.Description, Order: f.Order, Inputs: f.Inputs, Triggers: f.Triggers, Notify: want}
	ok(t, s.UpdateFlowSettings(ctx, fs.ID, settings))
	if got := draft().Notify; !reflect.DeepEqual(got, want) {
		t.Fatalf("notify after the update = %+v; want %+v", got, want)
	}
	var saved *engine.Flow
	_, err = s.SaveVersion(ctx, fs.ID, fx.user.ID, "told", func(d *engine.Flow) ([]File, string, error) {
		saved = d
		return nil, "h-told", nil
	})
	ok(t, err)
	if saved == nil || !reflect.DeepEqual(saved.Notify, want) {
		t.Fatalf("the version was saved from %+v", saved)
	}

	settings.Notify = nil
	ok(t, s.UpdateFlowSettings(ctx, fs.ID, settings))
	if got := draft().Notify; got != nil {
		t.Fatalf("notify after clearing it = %+v", got)
	}
	isErr(t, s.UpdateFlowSettings(ctx, "f_nope", settings), ErrNotFound)
}

func testNotifyDestinations(t *testing.T, s *Store) {
	ctx := context.Background()
	fx := setup(t, s)
	d, err := s.CreateDestination(ctx, Destination{WorkspaceID: fx.ws.ID, Name: "ops", Kind: DestWebhook, SecretName: "OPS_HOOK", Format: FormatSlack,
		Events: []engine.NotifyEvent{engine.NotifyFailed, engine.NotifyWaiting}})
	ok(t, err)
	if d.ID == "" {
		t.Fatal("no id")
	}
	_, err = s.CreateDestination(ctx, Destination{WorkspaceID: fx.ws.ID, Name: "ops", Kind: DestEmail})
	isErr(t, err, ErrAlreadyExists)
	_, err = s.CreateDestination(ctx, Destination{WorkspaceID: fx.ws.ID, Name: "mail", Kind: DestEmail, Recipients: []string{"a@example.com", "b@example.com"}})
	ok(t, err)
	ds, err := s.Destinations(ctx, fx.ws.ID)
	ok(t, err)
	if len(ds) != 2 || ds[0].Name != "mail" || len(ds[0].Recipients) != 2 || ds[0].Events != nil ||
		ds[1].Format != FormatSlack || ds[1].SecretName != "OPS_HOOK" || len(ds[1].Events) != 2 || ds[1].Events[1] != engine.NotifyWaiting {
		t.Fatalf("destinations %+v", ds)
	}
	ok(t, s.DeleteDestination(ctx, fx.ws.ID, "mail"))
	isErr(t, s.DeleteDestination(ctx, fx.ws.ID, "mail"), ErrNotFound)

	_, err = s.SMTPOf(ctx, fx.ws.ID)
	isErr(t, err, ErrNotFound)
	c := SMTP{WorkspaceID: fx.ws.ID, Host: "smtp.example.com", Port: 587, Username: "bot", PasswordSecret: "SMTP_PASSWORD", From: "o@example.com", TLS: "starttls"}
	ok(t, s.SetSMTP(ctx, c))
	c.Port = 465
	c.TLS = "tls"
	ok(t, s.SetSMTP(ctx, c))
	got, err := s.SMTPOf(ctx, fx.ws.ID)
	ok(t, err)
	got.UpdatedAt = time.Time{}
	if got != c {
		t.Fatalf("smtp %+v, want %+v", got, c)
	}

	// A draft keeps its flow's notify: (flows.settings).
	f := sampleFlow()
	f.Notify = []engine.Notify{{To: "ops", On: []engine.NotifyEvent{engine.NotifyWaiting}}, {To: "mail"}}
	fl, err := s.CreateFlow(ctx, fx.ws.ID, "notified", f, fx.user.ID, nil, "h")
	ok(t, err)
	dr, err := s.Draft(ctx, fl.ID)
	ok(t, err)
	if len(dr.Flow.Notify) != 2 || dr.Flow.Notify[0].On[0] != engine.NotifyWaiting || dr.Flow.Notify[1].On != nil {
		t.Fatalf("draft notify %+v", dr.Flow.Notify)
	}
}

func testNotifyOutbox(t *testing.T, s *Store) {
	ctx := context.Background()
	fx := setup(t, s)
	r := newRun(t, s, fx)
	list, err := s.RunsToNotify(ctx, 10)
	ok(t, err)
	if len(list) != 0 {
		t.Fatalf("an unfinished run is to notify: %+v", list)
	}
	_, err = s.EndRun(ctx, r.ID, engine.RunFailed, "boom")
	ok(t, err)
	list, err = s.RunsToNotify(ctx, 10)
	ok(t, err)
	if len(list) != 1 || list[0].ID != r.ID || list[0].Status != engine.RunFailed {
		t.Fatalf("runs to notify %+v", list)
	}
	d := Delivery{RunID: r.ID, WorkspaceID: fx.ws.ID, Destination: "ops", Event: engine.NotifyFailed}
	ok(t, s.MarkRunNotified(ctx, r.ID, []Delivery{d, d}))
	list, err = s.RunsToNotify(ctx, 10)
	ok(t, err)
	if len(list) != 0 {
		t.Fatalf("a notified run is still to notify: %+v", list)
	}
	w := Delivery{RunID: r.ID, WorkspaceID: fx.ws.ID, Destination: "ops", Event: engine.NotifyWaiting, Cell: "approve", Link: "https://x/d/tok"}
	ok(t, s.AddDeliveries(ctx, []Delivery{w}))
	ok(t, s.AddDeliveries(ctx, []Delivery{w}))
	due, err := s.DueDeliveries(ctx, time.Now().Add(time.Minute), 10)
	ok(t, err)
	if len(due) != 2 || due[1].Link != "https://x/d/tok" || due[0].Status != DeliveryPending {
		t.Fatalf("due %+v", due)
	}
	due[1].Status, due[1].Attempts = DeliverySent, 1
	ok(t, s.UpdateDelivery(ctx, due[1]))
	due[0].Attempts, due[0].LastError, due[0].NextAt = 1, "answered 500", time.Now().Add(time.Hour)
	ok(t, s.UpdateDelivery(ctx, due[0]))
	if due, err := s.DueDeliveries(ctx, time.Now().Add(time.Minute), 10); err != nil || len(due) != 0 {
		t.Fatalf("due after the attempts %+v, %v", due, err)
	}
	log, err := s.RunDeliveries(ctx, r.ID)
	ok(t, err)
	if len(log) != 2 {
		t.Fatalf("log %+v", log)
	}
	for _, l := range log {
		if l.Link != "" {
			t.Errorf("the log carries a decision link: %+v", l)
		}
		if l.Event == engine.NotifyFailed && (l.Attempts != 1 || l.LastError != "answered 500" || l.Status != DeliveryPending) {
			t.Errorf("failed %+v", l)
		}
	}
	if err := s.UpdateDelivery(ctx, Delivery{ID: "nv_nope", Status: DeliverySent}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update of nothing: %v", err)
	}
	// Deleting the run deletes its log.
	ok(t, s.DeleteRun(ctx, r.ID, nil))
	log, err = s.RunDeliveries(ctx, r.ID)
	ok(t, err)
	if len(log) != 0 {
		t.Fatalf("log of a deleted run %+v", log)
	}
}
