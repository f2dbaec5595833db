package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
)

// testHooks: webhook tokens are made, found by hash (touching
// last_used_at at most once a minute), listed per flow and revoked.
func testHooks(t *testing.T, s *Store) {
	ctx := context.Background()
	clk := setClock(s)
	fx := setup(t, s)
	h, err := s.CreateHook(ctx, Hook{WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID, Name: "ci", Hash: "hh1", CreatedBy: fx.user.ID})
	ok(t, err)
	if !strings.HasPrefix(h.ID, "h_") || h.Name != "ci" || h.CreatedBy != fx.user.ID || !h.CreatedAt.Equal(s.timeNow()) || !h.LastUsedAt.IsZero() || !h.RevokedAt.IsZero() {
		t.Fatalf("CreateHook = %+v", h)
	}
	_, err = s.CreateHook(ctx, Hook{WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID, Hash: "hh1"})
	isErr(t, err, ErrAlreadyExists)
	_, err = s.CreateHook(ctx, Hook{WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID})
	isErr(t, err, ErrInvalid)
	_, err = s.CreateHook(ctx, Hook{WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID, Hash: "hh9", Name: strings.Repeat("n", MaxHookName+1)})
	isErr(t, err, ErrInvalid)
	_, err = s.CreateHook(ctx, Hook{WorkspaceID: fx.ws.ID, FlowID: "f_nowhere", Hash: "hh9"})
	if err == nil {
		t.Fatal("a hook of no flow was stored")
	}
	clk.add(time.Second)
	h2, err := s.CreateHook(ctx, Hook{WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID, Hash: "hh2"})
	ok(t, err)

	// Found by hash, and touched.
	clk.add(time.Second)
	got, err := s.HookByHash(ctx, "hh1")
	ok(t, err)
	if got.ID != h.ID || !got.LastUsedAt.Equal(s.timeNow()) {
		t.Fatalf("HookByHash = %+v", got)
	}
	used := got.LastUsedAt
	clk.add(30 * time.Second)
	got, err = s.HookByHash(ctx, "hh1")
	ok(t, err)
	if !got.LastUsedAt.Equal(used) {
		t.Fatalf("touched again within a minute: %v, then %v", used, got.LastUsedAt)
	}
	clk.add(time.Minute)
	got, err = s.HookByHash(ctx, "hh1")
	ok(t, err)
	if !got.LastUsedAt.Equal(s.timeNow()) {
		t.Fatalf("not touched after a minute: %v", got.LastUsedAt)
	}
	stored, err := s.Hook(ctx, h.ID)
	ok(t, err)
	if !stored.LastUsedAt.Equal(got.LastUsedAt) {
		t.Fatalf("Hook = %+v", stored)
	}
	_, err = s.HookByHash(ctx, "nope")
	isErr(t, err, ErrNotFound)

	list, err := s.HooksOfFlow(ctx, fx.flow.ID)
	ok(t, err)
	if len(list) != 2 || list[0].ID != h2.ID || list[1].ID != h.ID {
		t.Fatalf("HooksOfFlow = %+v", list)
	}

	// Revoked: gone at once and from the list; revoking twice is fine.
	ok(t, s.RevokeHook(ctx, h.ID))
	_, err = s.HookByHash(ctx, "hh1")
	isErr(t, err, ErrNotFound)
	first, err := s.Hook(ctx, h.ID)
	ok(t, err)
	clk.add(time.Minute)
	ok(t, s.RevokeHook(ctx, h.ID))
	again, err := s.Hook(ctx, h.ID)
	ok(t, err)
	if first.RevokedAt.IsZero() || !again.RevokedAt.Equal(first.RevokedAt) {
		t.Fatalf("revoked at %v, then %v", first.RevokedAt, again.RevokedAt)
	}
	list, err = s.HooksOfFlow(ctx, fx.flow.ID)
	ok(t, err)
	if len(list) != 1 || list[0].ID != h2.ID {
		t.Fatalf("HooksOfFlow after revoke = %+v", list)
	}
	isErr(t, s.RevokeHook(ctx, "h_nope"), ErrNotFound)
	_, err = s.Hook(ctx, "h_nope")
	isErr(t, err, ErrNotFound)
}

// testDraftSettings: a draft keeps network: false, concurrency and a
// webhook's rate (migration 0011's flows.settings), through creation, a
// settings change, an import, and into the version saved from it.
func testDraftSettings(t *testing.T, s *Store) {
	ctx := context.Background()
	fx := setup(t, s)
	f := sampleFlow()
	f.NoNetwork = true
	f.Concurrency = engine.Concurrency{Limit: 2, Overlap: engine.OverlapSkip}
	f.Triggers = []engine.Trigger{{Webhook: true, Rate: 20}}
	fs, err := s.CreateFlow(ctx, fx.ws.ID, "limited", f, fx.user.ID, nil, "")
	ok(t, err)
	check := func(when string, noNet bool, c engine.Concurrency, rate int) {
		t.Helper()
		d, err := s.Draft(ctx, fs.ID)
		ok(t, err)
		if d.Flow.NoNetwork != noNet || d.Flow.Concurrency != c || len(d.Flow.Triggers) != 1 || d.Flow.Triggers[0].Rate != rate {
			t.Fatalf("%s: draft has network off %v, %+v, %+v", when, d.Flow.NoNetwork, d.Flow.Concurrency, d.Flow.Triggers)
		}
	}
	check("created", true, f.Concurrency, 20)
	ok(t, s.UpdateFlowSettings(ctx, fs.ID, FlowSettings{Name: "Limited", Triggers: f.Triggers}))
	check("settings changed", true, f.Concurrency, 20)
	var exported *engine.Flow
	_, err = s.SaveVersion(ctx, fs.ID, fx.user.ID, "v2", func(d *engine.Flow) ([]File, string, error) {
		exported = d
		return nil, "h2", nil
	})
	ok(t, err)
	if exported == nil || !exported.NoNetwork || exported.Concurrency != f.Concurrency {
		t.Fatalf("saved version from %+v", exported)
	}
	g := sampleFlow()
	g.Triggers = []engine.Trigger{{Webhook: true}}
	g.Concurrency = engine.Concurrency{Limit: 1}
	_, err = s.ImportVersion(ctx, fs.ID, g, Version{Author: fx.user.ID, Hash: "h3"})
	ok(t, err)
	check("imported", false, engine.Concurrency{Limit: 1}, 0)
}
