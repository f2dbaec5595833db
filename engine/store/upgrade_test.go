package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/secret"
)

// TestMigrateFrom0001: a database made at migration 0001, with rows as that
// schema held them (and a secret as 0003 held it, sealed before keys had
// ids), migrated up to now: every row is there and usable through the
// store's methods, on both databases.
func TestMigrateFrom0001(t *testing.T) {
	for name, open := range map[string]func(testing.TB) *Store{"sqlite": openSQLite, "postgres": openPostgres} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testMigrateFrom0001(t, open(t))
		})
	}
}

func testMigrateFrom0001(t *testing.T, s *Store) {
	ctx := context.Background()
	all := migrationVersions(t, s.Dialect())
	ok(t, s.Migrate(ctx, "down", len(all)))
	ok(t, s.Migrate(ctx, "up", 1))
	if v, dirty, err := s.MigrateStatus(ctx); err != nil || v != 1 || dirty {
		t.Fatalf("MigrateStatus at 0001 = %d %v %v", v, dirty, err)
	}
	at := "2026-12-01 10:00:00+00:00"
	tokenHash := hex.EncodeToString(sha256.New().Sum([]byte("token")))
	files := `[{"name":"flow.yaml","data":"name: Nightly\ncells:\n  - name: fetch\n    kind: shell\n    file: fetch.sh\n"},{"name":"fetch.sh","data":"echo hi\n"}]`
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := s.db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO users (id, name, display_name, password_hash, created_at) VALUES ('u_ada', 'ada', 'Ada', 'hash', ?)`, at)
	exec(`INSERT INTO workspaces (id, slug, name, created_at) VALUES ('w_main', 'main', 'Main', ?)`, at)
	exec(`INSERT INTO members (workspace_id, user_id, role, created_at) VALUES ('w_main', 'u_ada', 'owner', ?)`, at)
	exec(`INSERT INTO api_tokens (id, user_id, workspace_id, name, hash, role, created_at) VALUES ('t_ci', 'u_ada', 'w_main', 'ci', ?, 'runner', ?)`, tokenHash, at)
	exec(`INSERT INTO flows (id, workspace_id, slug, name, description, "order", inputs, triggers, published_version, created_at, updated_at)
		VALUES ('f_nightly', 'w_main', 'nightly', 'Nightly', 'every night', 'notebook', '[]', '[]', 1, ?, ?)`, at, at)
	exec(`INSERT INTO draft_cells (flow_id, id, position, name, kind, source, options, updated_at, updated_by)
		VALUES ('f_nightly', 'c_fetch', 0, 'fetch', 'shell', 'echo hi', '{}', ?, 'u_ada')`, at)
	exec(`INSERT INTO versions (flow_id, number, message, author, coauthors, hash, files, created_at)
		VALUES ('f_nightly', 1, 'first', 'u_ada', '[]', 'h1', ?, ?)`, files, at)
	exec(`INSERT INTO runs (id, workspace_id, flow_id, version, hash, status, inputs, files, started_by, created_at, started_at, finished_at, duration_ms, error)
		VALUES ('r_old', 'w_main', 'f_nightly', 1, 'h1', 'succeeded', '{}', ?, 'u_ada', ?, ?, ?, 1500, '')`, files, at, at, at)
	exec(`INSERT INTO cell_runs (run_id, position, name, kind, status, attempts, started_at, finished_at, duration_ms, result, log_bytes, log_cut)
		VALUES ('r_old', 0, 'fetch', 'shell', 'succeeded', 1, ?, ?, 10, '{"exit_code":0}', 3, FALSE)`, at, at)
	events := []string{
		`{"seq":1,"type":"run.started","run":"r_old"}`,
		`{"seq":2,"type":"cell.log","run":"r_old","cell":"fetch","stream":"stdout","line":"hi"}`,
		`{"seq":3,"type":"run.finished","run":"r_old","status":"succeeded"}`,
	}
	for i, e := range events {
		var ev struct {
			Type string `json:"type"`
			Cell string `json:"cell"`
		}
		ok(t, json.Unmarshal([]byte(e), &ev))
		exec(`INSERT INTO run_events (run_id, seq, type, cell, data) VALUES ('r_old', ?, ?, ?, ?)`, i+1, ev.Type, ev.Cell, e)
	}

	// Secrets came with 0003; values then carried no key id.
	ok(t, s.Migrate(ctx, "up", 2))
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	box, err := secret.NewBox(key)
	ok(t, err)
	sealed := box.Seal("teal-42", secret.Context("w_main", "API_TOKEN"))
	legacy := sealed[strings.LastIndex(sealed, ":")+1:]
	exec(`INSERT INTO secrets (workspace_id, name, sealed, created_at, updated_at, updated_by) VALUES ('w_main', 'API_TOKEN', ?, ?, ?, 'u_ada')`, legacy, at, at)

	ok(t, s.Migrate(ctx, "up", 0))
	if v, dirty, err := s.MigrateStatus(ctx); err != nil || v != all[len(all)-1] || dirty {
		t.Fatalf("MigrateStatus after up = %d %v %v, want %d", v, dirty, err, all[len(all)-1])
	}

	u, err := s.UserByName(ctx, "ada")
	ok(t, err)
	if u.ID != "u_ada" || u.DisplayName != "Ada" || u.PasswordHash != "hash" || u.MustChangePassword {
		t.Errorf("user = %+v", u)
	}
	ws, err := s.WorkspaceBySlug(ctx, "main")
	ok(t, err)
	if role, err := s.Member(ctx, ws.ID, u.ID); err != nil || role != engine.RoleOwner {
		t.Errorf("Member = %q %v", role, err)
	}
	if tok, err := s.TokenByHash(ctx, tokenHash); err != nil || tok.UserID != u.ID || tok.Role != engine.RoleRunner {
		t.Errorf("TokenByHash = %+v %v", tok, err)
	}
	f, err := s.FlowBySlug(ctx, ws.ID, "nightly")
	ok(t, err)
	if f.Name != "Nightly" || f.Description != "every night" || f.PublishedVersion != 1 || f.Versions != 1 || f.Cells != 1 || f.LastRunID != "r_old" {
		t.Errorf("flow = %+v", f)
	}
	d, err := s.Draft(ctx, f.ID)
	ok(t, err)
	if len(d.Cells) != 1 || d.Cells[0].ID != "c_fetch" || d.Cells[0].UpdatedBy != "u_ada" || d.Flow.Cells[0].Name != "fetch" || d.Flow.Cells[0].Source != "echo hi" {
		t.Errorf("draft = %+v", d)
	}
	vs, err := s.Versions(ctx, f.ID)
	ok(t, err)
	if len(vs) != 1 || vs[0].Message != "first" || !vs[0].Published {
		t.Errorf("versions = %+v", vs)
	}
	v1, err := s.Version(ctx, f.ID, 1)
	ok(t, err)
	if len(v1.Files) != 2 || string(v1.Files[1].Data) != "echo hi\n" {
		t.Errorf("version 1 files = %+v", v1.Files)
	}
	r, err := s.Run(ctx, "r_old")
	ok(t, err)
	if r.Status != engine.RunSucceeded || r.DurationMS != 1500 || len(r.Files) != 2 || !r.FinishedAt.Equal(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("run = %+v", r)
	}
	crs, err := s.CellRuns(ctx, "r_old")
	ok(t, err)
	if len(crs) != 1 || crs[0].Name != "fetch" {
		t.Errorf("cell runs = %+v", crs)
	}
	evs, err := s.Events(ctx, "r_old", 0, 100)
	ok(t, err)
	if len(evs) != 3 || evs[1].Cell != "fetch" || !strings.Contains(string(evs[1].Data), `"line":"hi"`) {
		t.Errorf("events = %+v", evs)
	}
	sec, err := s.SealedSecrets(ctx, ws.ID, []string{"API_TOKEN"})
	ok(t, err)
	if got, err := box.Open(sec["API_TOKEN"], secret.Context(ws.ID, "API_TOKEN")); err != nil || got != "teal-42" {
		t.Errorf("the old secret opens to %q, %v", got, err)
	}

	// And the old rows take new ones.
	v2, err := s.CreateVersion(ctx, f.ID, Version{Message: "after the upgrade", Author: u.ID, Hash: "h2", Files: v1.Files})
	ok(t, err)
	if v2.Number != 2 {
		t.Errorf("the version after the upgrade is %d", v2.Number)
	}
	eve, err := s.CreateUser(ctx, "eve", "Eve", "")
	ok(t, err)
	ok(t, s.AddMember(ctx, ws.ID, eve.ID, engine.RoleEditor))
	ok(t, s.AppendEvents(ctx, "r_old", nil))
}
