package collab

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

// memLog is a Log in memory, shared by authorities as a database would be.
type memLog struct {
	mu      sync.Mutex
	source  map[string]string
	cp      map[string]int
	changes map[string][]Stored
	gone    map[string]bool
	appends int
}

func newMemLog() *memLog {
	return &memLog{source: map[string]string{}, cp: map[string]int{}, changes: map[string][]Stored{}, gone: map[string]bool{}}
}

func (m *memLog) LoadDoc(ctx context.Context, flowID, cellID string) (Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gone[cellID] {
		return Snapshot{}, ErrGone
	}
	s := Snapshot{Source: m.source[cellID], Version: m.cp[cellID]}
	for _, c := range m.changes[cellID] {
		if c.Version > s.Version {
			s.Changes = append(s.Changes, c)
		}
	}
	return s, nil
}

func (m *memLog) AppendDoc(ctx context.Context, flowID, cellID string, rows []Stored, cp *Checkpoint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gone[cellID] {
		return ErrGone
	}
	if len(m.changes[cellID]) != rows[0].Version-1 {
		return ErrConflict
	}
	m.changes[cellID] = append(m.changes[cellID], rows...)
	m.appends++
	if cp != nil && cp.Version > m.cp[cellID] {
		m.source[cellID], m.cp[cellID] = cp.Source, cp.Version
	}
	return nil
}

func (m *memLog) DocChangesSince(ctx context.Context, flowID, cellID string, version int) ([]Stored, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Stored
	for _, c := range m.changes[cellID] {
		if c.Version > version {
			out = append(out, c)
		}
	}
	return out, nil
}

func (m *memLog) CheckpointDoc(ctx context.Context, flowID, cellID string, cp Checkpoint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cp.Version > m.cp[cellID] {
		m.source[cellID], m.cp[cellID] = cp.Source, cp.Version
	}
	return nil
}

func push(t *testing.T, a *Authority, version int, json string) error {
	t.Helper()
	cs, err := ParseChangeSet([]byte(json))
	if err != nil {
		t.Fatalf("parse %s: %v", json, err)
	}
	_, err = a.Push(context.Background(), "f", "c", "u", version, []Update{{Changes: cs, ClientID: "k"}})
	return err
}

func TestAuthorityRefuses(t *testing.T) {
	t.Parallel()
	log := newMemLog()
	log.source["c"] = "héllo 😀"
	a := NewAuthority(log, Options{MaxBytes: 64})
	ctx := context.Background()
	if err := push(t, a, 0, `[8,[0,"!"]]`); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		version int
		json    string
		want    error
	}{
		{"stale", 0, `[9,[0,"!"]]`, ErrStale},
		{"ahead", 5, `[9,[0,"!"]]`, ErrInvalid},
		{"too short", 1, `[8,[0,"!"]]`, ErrInvalid},
		{"too long", 1, `[10,[0,"!"]]`, ErrInvalid},
		{"out of range", 1, `[9,[3,"!"]]`, ErrInvalid},
		{"splits a character", 1, `[7,[1],1]`, ErrInvalid},
		{"inserts a lone surrogate", 1, `[[0,"\ud83d"],9]`, ErrInvalid},
		{"oversized", 1, fmt.Sprintf(`[[0,"%0100d"],9]`, 0), ErrTooLarge},
	} {
		err := push(t, a, tc.version, tc.json)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	v, text, err := a.Doc(ctx, "f", "c")
	if err != nil || v != 1 || text != "héllo 😀!" || len(log.changes["c"]) != 1 {
		t.Fatalf("document touched by refused pushes: v%d %q %v, log %d", v, text, err, len(log.changes["c"]))
	}
	var se *StaleError
	if err := push(t, a, 0, `[8,[0,"?"]]`); !errors.As(err, &se) || se.Version != 1 {
		t.Fatalf("stale push: %v", err)
	}
	// A multi-update push is all or nothing.
	good, _ := ParseChangeSet([]byte(`[9,[0,"a"]]`))
	bad, _ := ParseChangeSet([]byte(`[9,[0,"a"]]`))
	if _, err := a.Push(ctx, "f", "c", "u", 1, []Update{{good, "k"}, {bad, "k"}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("half-bad push: %v", err)
	}
	if v, _, _ := a.Doc(ctx, "f", "c"); v != 1 {
		t.Fatalf("half of a push was kept: version %d", v)
	}
}

// TestAuthoritiesShareALog: two authorities on one log (two processes on
// one database) keep one history; a loser of a race is told to pull, and
// the other's change reaches it.
func TestAuthoritiesShareALog(t *testing.T) {
	t.Parallel()
	log := newMemLog()
	var seen sync.Map
	mk := func(name string) *Authority {
		return NewAuthority(log, Options{OnUpdates: func(f, c string, start int, ups []Update) {
			seen.Store(fmt.Sprint(name, start), len(ups))
		}})
	}
	a, b := mk("a"), mk("b")
	ctx := context.Background()
	if _, _, err := b.Doc(ctx, "f", "c"); err != nil {
		t.Fatal(err)
	}
	if err := push(t, a, 0, `[[0,"x"]]`); err != nil {
		t.Fatal(err)
	}
	// b has not heard of it: its push at 0 loses on the log's key.
	if err := push(t, b, 0, `[[0,"y"]]`); !errors.Is(err, ErrStale) {
		t.Fatalf("b's push: %v, want stale", err)
	}
	if _, ok := seen.Load("b0"); !ok {
		t.Fatal("b did not announce a's change after losing")
	}
	if err := push(t, b, 1, `[1,[0,"y"]]`); err != nil {
		t.Fatal(err)
	}
	if err := a.Sync(ctx, "f", "c", 2); err != nil {
		t.Fatal(err)
	}
	for _, x := range []*Authority{a, b} {
		if v, text, _ := x.Doc(ctx, "f", "c"); v != 2 || text != "xy" {
			t.Fatalf("v%d %q", v, text)
		}
	}
}

// TestConverge: clients editing at random, pushing stale versions and
// pulling, end with the server's text.
func TestConverge(t *testing.T) {
	t.Parallel()
	log := newMemLog()
	a := NewAuthority(log, Options{CheckpointEvery: 7})
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	clients := make([]*Client, 5)
	for i := range clients {
		clients[i] = NewClient(fmt.Sprint("c", i), nil, 0)
	}
	sync := func(c *Client) {
		ups, err := a.Pull(ctx, "f", "c", c.Version)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Receive(ups); err != nil {
			t.Fatal(err)
		}
	}
	for step := 0; step < 3000; step++ {
		c := clients[r.IntN(len(clients))]
		switch r.IntN(4) {
		case 0, 1:
			n := len(c.Text)
			from := r.IntN(n + 1)
			to := min(n, from+r.IntN(3))
			if from > 0 && from < n && isLow(c.Text[from]) {
				from--
			}
			if to > 0 && to < n && isLow(c.Text[to]) {
				to++
			}
			ins := TextOf([]string{"", "a", "😀", "\n", "xyz"}[r.IntN(5)])
			cs, _ := Replace(n, from, to, ins)
			if err := c.Edit(cs); err != nil {
				t.Fatal(err)
			}
		case 2:
			if len(c.Sendable()) == 0 {
				continue
			}
			_, err := a.Push(ctx, "f", "c", "u", c.Version, c.Sendable())
			if err != nil && !errors.Is(err, ErrStale) {
				t.Fatalf("push: %v", err)
			}
		case 3:
			sync(c)
		}
	}
	for round := 0; round < 3; round++ {
		for _, c := range clients {
			sync(c)
			if len(c.Sendable()) > 0 {
				if _, err := a.Push(ctx, "f", "c", "u", c.Version, c.Sendable()); err != nil {
					t.Fatal(err)
				}
				sync(c)
			}
		}
	}
	v, text, _ := a.Doc(ctx, "f", "c")
	for _, c := range clients {
		sync(c)
		if c.Text.String() != text || c.Version != v || len(c.Unconfirmed) > 0 {
			t.Fatalf("client %s: v%d %q, server v%d %q", c.ID, c.Version, c.Text.String(), v, text)
		}
	}
	// A fresh authority reads the same text back from checkpoint and log.
	v2, text2, err := NewAuthority(log, Options{}).Doc(ctx, "f", "c")
	if err != nil || v2 != v || text2 != text {
		t.Fatalf("reloaded v%d %q %v", v2, text2, err)
	}
	if v < 100 {
		t.Fatalf("only %d changes accepted", v)
	}
}
