package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/migrations"
)

// runSuite is the suite every database must pass. open gives each test a
// store on a database of its own.
func runSuite(t *testing.T, open func(testing.TB) *Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s *Store)
	}{
		{"Users", testUsers},
		{"Sessions", testSessions},
		{"Workspaces", testWorkspaces},
		{"Tokens", testTokens},
		{"Flows", testFlows},
		{"DraftCells", testDraftCells},
		{"Versions", testVersions},
		{"ConcurrentVersions", testConcurrentVersions},
		{"SaveVersion", testSaveVersion},
		{"DraftFlow", testDraftFlow},
		{"ReplaceDraft", testReplaceDraft},
		{"ImportVersion", testImportVersion},
		{"Runs", testRuns},
		{"Events", testEvents},
		{"EventsRejected", testEventsRejected},
		{"ConcurrentEvents", testConcurrentEvents},
		{"LatestResults", testLatestResults},
		{"Migrate", testMigrate},
		{"CollabLog", testCollabLog},
		{"DraftWhileCheckpointing", testDraftWhileCheckpointing},
		{"CollabNotify", testCollabNotify},
		{"SandboxSettings", testSandboxSettings},
		{"Hooks", testHooks},
		{"Approvals", testApprovals},
		{"ApprovalResume", testApprovalResume},
		{"ApprovalDraft", testApprovalDraft},
		{"ApprovalLink", testApprovalLink},
		{"DraftSettings", testDraftSettings},
	}
	tests = append(tests, sharingTests...)
	tests = append(tests, gitTests...)
	tests = append(tests, credTests...)
	tests = append(tests, runPlaneTests...)
	tests = append(tests, sharedTests...)
	tests = append(tests, scheduleTests...)
	tests = append(tests, coverageTests...)
	tests = append(tests, flowArchiveTests...)
	tests = append(tests, retentionTests...)

	tests = append(tests, healthTests...)
	tests = append(tests, notifyTests...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open(t))
		})
	}
}

func isErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
}

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// clock makes the store's time move only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func setClock(s *Store) *clock {
	c := &clock{t: time.Date(2025, 1, 31, 6, 0, 0, 123456000, time.UTC)}
	s.now = func() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
	return c
}

func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func testUsers(t *testing.T, s *Store) {
	ctx := context.Background()
	n, err := s.CountUsers(ctx)
	ok(t, err)
	if n != 0 {
		t.Fatalf("CountUsers on a new database = %d", n)
	}
	u, err := s.CreateUser(ctx, "ada", "Ada Lovelace", "hash1")
	ok(t, err)
	if !strings.HasPrefix(u.ID, "u_") || u.Name != "ada" || u.CreatedAt.IsZero() {
		t.Fatalf("CreateUser = %+v", u)
	}
	_, err = s.CreateUser(ctx, "ada", "Other", "hash2")
	isErr(t, err, ErrAlreadyExists)

	got, err := s.UserByName(ctx, "ada")
	ok(t, err)
	if got != u {
		t.Fatalf("UserByName = %+v, want %+v", got, u)
	}
	got, err = s.UserByID(ctx, u.ID)
	ok(t, err)
	if got != u {
		t.Fatalf("UserByID = %+v, want %+v", got, u)
	}
	_, err = s.UserByName(ctx, "nobody")
	isErr(t, err, ErrNotFound)
	_, err = s.UserByID(ctx, "u_nobody")
	isErr(t, err, ErrNotFound)

	_, err = s.CreateUser(ctx, "bob", "", "")
	ok(t, err)
	n, err = s.CountUsers(ctx)
	ok(t, err)
	if n != 2 {
		t.Fatalf("CountUsers = %d, want 2", n)
	}
}

func testSessions(t *testing.T, s *Store) {
	ctx := context.Background()
	clk := setClock(s)
	u, err := s.CreateUser(ctx, "ada", "Ada", "h")
	ok(t, err)
	start := s.timeNow()
	sess, err := s.CreateSession(ctx, u.ID, "tokhash", start.Add(time.Hour))
	ok(t, err)
	if sess.ID != "tokhash" || sess.UserID != u.ID || !sess.ExpiresAt.Equal(start.Add(time.Hour)) {
		t.Fatalf("CreateSession = %+v", sess)
	}
	_, err = s.CreateSession(ctx, u.ID, "tokhash", start.Add(time.Hour))
	isErr(t, err, ErrAlreadyExists)
	_, err = s.CreateSession(ctx, "u_nobody", "other", start.Add(time.Hour))
	isErr(t, err, ErrNotFound)

	gu, gs, err := s.SessionUser(ctx, "tokhash")
	ok(t, err)
	if gu != u || gs != sess {
		t.Fatalf("SessionUser = %+v %+v, want %+v %+v", gu, gs, u, sess)
	}
	// Seen again two minutes later: last_seen_at moves.
	clk.add(2 * time.Minute)
	_, gs, err = s.SessionUser(ctx, "tokhash")
	ok(t, err)
	if !gs.LastSeenAt.Equal(start.Add(2 * time.Minute)) {
		t.Fatalf("LastSeenAt = %v, want %v", gs.LastSeenAt, start.Add(2*time.Minute))
	}
	_, gs, err = s.SessionUser(ctx, "tokhash")
	ok(t, err)
	if !gs.LastSeenAt.Equal(start.Add(2 * time.Minute)) {
		t.Fatalf("stored LastSeenAt = %v", gs.LastSeenAt)
	}
	_, _, err = s.SessionUser(ctx, "nope")
	isErr(t, err, ErrNotFound)

	// Expired.
	clk.add(time.Hour)
	_, _, err = s.SessionUser(ctx, "tokhash")
	isErr(t, err, ErrNotFound)

	_, err = s.CreateSession(ctx, u.ID, "fresh", s.timeNow().Add(time.Hour))
	ok(t, err)
	n, err := s.DeleteExpiredSessions(ctx)
	ok(t, err)
	if n != 1 {
		t.Fatalf("DeleteExpiredSessions = %d, want 1", n)
	}
	ok(t, s.DeleteSession(ctx, "fresh"))
	isErr(t, s.DeleteSession(ctx, "fresh"), ErrNotFound)
	_, _, err = s.SessionUser(ctx, "fresh")
	isErr(t, err, ErrNotFound)
}

func testWorkspaces(t *testing.T, s *Store) {
	ctx := context.Background()
	ws, err := s.CreateWorkspace(ctx, "ops", "Ops team")
	ok(t, err)
	if !strings.HasPrefix(ws.ID, "w_") || ws.Slug != "ops" || ws.Name != "Ops team" {
		t.Fatalf("CreateWorkspace = %+v", ws)
	}
	_, err = s.CreateWorkspace(ctx, "ops", "Again")
	isErr(t, err, ErrAlreadyExists)
	got, err := s.WorkspaceBySlug(ctx, "ops")
	ok(t, err)
	if got != ws {
		t.Fatalf("WorkspaceBySlug = %+v", got)
	}
	got, err = s.WorkspaceByID(ctx, ws.ID)
	ok(t, err)
	if got != ws {
		t.Fatalf("WorkspaceByID = %+v", got)
	}
	_, err = s.WorkspaceBySlug(ctx, "nope")
	isErr(t, err, ErrNotFound)
	_, err = s.WorkspaceByID(ctx, "w_nope")
	isErr(t, err, ErrNotFound)

	ada, err := s.CreateUser(ctx, "ada", "Ada", "")
	ok(t, err)
	bob, err := s.CreateUser(ctx, "bob", "Bob", "")
	ok(t, err)
	ws2, err := s.CreateWorkspace(ctx, "data", "Data")
	ok(t, err)

	ok(t, s.AddMember(ctx, ws.ID, ada.ID, engine.RoleOwner))
	ok(t, s.AddMember(ctx, ws.ID, bob.ID, engine.RoleViewer))
	ok(t, s.AddMember(ctx, ws.ID, bob.ID, engine.RoleEditor)) // upsert
	ok(t, s.AddMember(ctx, ws2.ID, ada.ID, engine.RoleRunner))
	isErr(t, s.AddMember(ctx, ws.ID, ada.ID, "admin"), ErrInvalid)
	isErr(t, s.AddMember(ctx, ws.ID, "u_nobody", engine.RoleViewer), ErrNotFound)
	isErr(t, s.AddMember(ctx, "w_nowhere", ada.ID, engine.RoleViewer), ErrNotFound)

	role, err := s.Member(ctx, ws.ID, bob.ID)
	ok(t, err)
	if role != engine.RoleEditor {
		t.Fatalf("Member = %q, want editor", role)
	}
	_, err = s.Member(ctx, ws2.ID, bob.ID)
	isErr(t, err, ErrNotFound)

	ms, err := s.Members(ctx, ws.ID)
	ok(t, err)
	if len(ms) != 2 || ms[0].User != ada || ms[0].Role != engine.RoleOwner || ms[1].User != bob || ms[1].Role != engine.RoleEditor {
		t.Fatalf("Members = %+v", ms)
	}
	wss, err := s.WorkspacesOf(ctx, ada.ID)
	ok(t, err)
	if len(wss) != 2 || wss[0].Workspace != ws2 || wss[0].Role != engine.RoleRunner || wss[1].Workspace != ws || wss[1].Role != engine.RoleOwner {
		t.Fatalf("WorkspacesOf = %+v", wss)
	}
	wss, err = s.WorkspacesOf(ctx, "u_nobody")
	ok(t, err)
	if len(wss) != 0 {
		t.Fatalf("WorkspacesOf(nobody) = %+v", wss)
	}
}

func testTokens(t *testing.T, s *Store) {
	ctx := context.Background()
	clk := setClock(s)
	u, err := s.CreateUser(ctx, "ada", "", "")
	ok(t, err)
	ws, err := s.CreateWorkspace(ctx, "ops", "Ops")
	ok(t, err)
	tok, err := s.CreateToken(ctx, Token{UserID: u.ID, WorkspaceID: ws.ID, Name: "ci", Hash: "h1", Role: engine.RoleEditor})
	ok(t, err)
	if !strings.HasPrefix(tok.ID, "t_") || tok.Name != "ci" || !tok.LastUsedAt.IsZero() || !tok.RevokedAt.IsZero() {
		t.Fatalf("CreateToken = %+v", tok)
	}
	_, err = s.CreateToken(ctx, Token{UserID: u.ID, WorkspaceID: ws.ID, Name: "dup", Hash: "h1", Role: engine.RoleEditor})
	isErr(t, err, ErrAlreadyExists)
	_, err = s.CreateToken(ctx, Token{UserID: u.ID, WorkspaceID: ws.ID, Hash: "h9", Role: "root"})
	isErr(t, err, ErrInvalid)
	clk.add(time.Second)
	tok2, err := s.CreateToken(ctx, Token{UserID: u.ID, WorkspaceID: ws.ID, Name: "laptop", Hash: "h2", Role: engine.RoleViewer})
	ok(t, err)

	clk.add(time.Second)
	got, err := s.TokenByHash(ctx, "h1")
	ok(t, err)
	if !got.LastUsedAt.Equal(s.timeNow()) || got.ID != tok.ID || got.Role != engine.RoleEditor {
		t.Fatalf("TokenByHash = %+v", got)
	}
	list, err := s.Tokens(ctx, u.ID)
	ok(t, err)
	if len(list) != 2 || list[0].ID != tok2.ID || list[1].ID != tok.ID || !list[1].LastUsedAt.Equal(s.timeNow()) {
		t.Fatalf("Tokens = %+v", list)
	}
	_, err = s.TokenByHash(ctx, "nope")
	isErr(t, err, ErrNotFound)

	ok(t, s.RevokeToken(ctx, tok.ID))
	isErr(t, s.RevokeToken(ctx, tok.ID), ErrNotFound)
	isErr(t, s.RevokeToken(ctx, "t_nope"), ErrNotFound)
	_, err = s.TokenByHash(ctx, "h1")
	isErr(t, err, ErrNotFound)
	list, err = s.Tokens(ctx, u.ID)
	ok(t, err)
	if list[1].RevokedAt.IsZero() || !list[0].RevokedAt.IsZero() {
		t.Fatalf("Tokens after revoke = %+v", list)
	}
}

// fixture is a workspace, a user and a flow of three cells.
type fixture struct {
	ws   Workspace
	user User
	flow FlowSummary
	def  *engine.Flow
}

func sampleFlow() *engine.Flow {
	return &engine.Flow{
		Name:        "Nightly report",
		Description: "Sales numbers",
		Order:       engine.OrderGraph,
		Inputs: []engine.Input{
			{Name: "day", Type: engine.InputString, Default: "2025-01-31", Label: "Day of the report", Description: "Day", Placeholder: "YYYY-MM-DD"},
			{Name: "n", Type: engine.InputNumber, Default: int64(3), Required: true},
			{Name: "ratio", Type: engine.InputNumber, Default: 0.5},
			{Name: "dry", Type: engine.InputBoolean, Default: false},
			{Name: "env", Type: engine.InputSelect, Options: []string{"dev", "prod"}},
		},
		Triggers: []engine.Trigger{{Cron: "0 6 * * *"}, {Webhook: true}},
		Cells: []engine.Cell{
			{Name: "intro", Kind: engine.KindMarkdown, File: "intro.md", Source: "# Hello\n"},
			{
				Name: "fetch", Kind: engine.KindHTTP, File: "fetch.http", Source: "GET https://example.com\n",
				Timeout: 30 * time.Second, Retries: 2, RetryDelay: time.Second, ExpectStatus: []string{"2xx", "404"},
			},
			{
				Name: "notify", Kind: engine.KindShell, File: "notify.sh", Source: "echo hi\n",
				If: "cells.fetch.status == 200", Needs: []string{"fetch"}, Connection: "scratch",
				Env:             []engine.EnvVar{{Name: "CHANNEL", Value: "ops"}, {Name: "A", Value: "{{ inputs.day }}"}},
				ContinueOnError: true,
			},
		},
	}
}

var sampleFiles = []File{
	{Name: "flow.yaml", Data: []byte("name: Nightly report\n")},
	{Name: "intro.md", Data: []byte("# Hello\n")},
	{Name: "blob.bin", Data: []byte{0xff, 0x00, 0xfe}},
}

func setup(t *testing.T, s *Store) fixture {
	t.Helper()
	ctx := context.Background()
	u, err := s.CreateUser(ctx, "ada", "Ada", "")
	ok(t, err)
	ws, err := s.CreateWorkspace(ctx, "ops", "Ops")
	ok(t, err)
	ok(t, s.AddMember(ctx, ws.ID, u.ID, engine.RoleOwner))
	def := sampleFlow()
	f, err := s.CreateFlow(ctx, ws.ID, "nightly", def, u.ID, sampleFiles, "hash1")
	ok(t, err)
	return fixture{ws: ws, user: u, flow: f, def: def}
}

func testFlows(t *testing.T, s *Store) {
	ctx := context.Background()
	fx := setup(t, s)
	f := fx.flow
	if !strings.HasPrefix(f.ID, "f_") || f.Slug != "nightly" || f.Name != "Nightly report" || f.Versions != 1 || f.PublishedVersion != 0 {
		t.Fatalf("CreateFlow = %+v", f)
	}
	_, err := s.CreateFlow(ctx, fx.ws.ID, "nightly", sampleFlow(), fx.user.ID, nil, "")
	isErr(t, err, ErrAlreadyExists)
	_, err = s.CreateFlow(ctx, "w_nowhere", "x", sampleFlow(), fx.user.ID, nil, "")
	isErr(t, err, ErrNotFound)

	// Two cells with one name: nothing of the flow is kept.
	dup := sampleFlow()
	dup.Cells[1].Name = "intro"
	_, err = s.CreateFlow(ctx, fx.ws.ID, "dup", dup, fx.user.ID, nil, "")
	isErr(t, err, ErrAlreadyExists)
	_, err = s.FlowBySlug(ctx, fx.ws.ID, "dup")
	isErr(t, err, ErrNotFound)

	big := sampleFlow()
	big.Cells[0].Source = strings.Repeat("x", MaxSourceSize+1)
	_, err = s.CreateFlow(ctx, fx.ws.ID, "big", big, fx.user.ID, nil, "")
	isErr(t, err, ErrTooLarge)

	d, err := s.Draft(ctx, f.ID)
	ok(t, err)
	if !reflect.DeepEqual(d.Flow, fx.def) {
		t.Fatalf("Draft:\n got %#v\nwant %#v", d.Flow, fx.def)
	}
	if len(d.Cells) != 3 || !strings.HasPrefix(d.Cells[0].ID, "c_") || d.Cells[0].UpdatedBy != fx.user.ID {
		t.Fatalf("Draft cells = %+v", d.Cells)
	}
	_, err = s.Draft(ctx, "f_nope")
	isErr(t, err, ErrNotFound)

	got, err := s.FlowBySlug(ctx, fx.ws.ID, "nightly")
	ok(t, err)
	if got != f {
		t.Fatalf("FlowBySlug =\n %+v\nwant %+v", got, f)
	}
	got, err = s.FlowByID(ctx, f.ID)
	ok(t, err)
	if got != f {
		t.Fatalf("FlowByID = %+v", got)
	}
	_, err = s.FlowBySlug(ctx, fx.ws.ID, "nope")
	isErr(t, err, ErrNotFound)
	_, err = s.FlowByID(ctx, "f_nope")
	isErr(t, err, ErrNotFound)

	f2, err := s.CreateFlow(ctx, fx.ws.ID, "adhoc", &engine.Flow{Name: "Ad hoc"}, "", nil, "h")
	ok(t, err)
	run, err := s.CreateRun(ctx, Run{WorkspaceID: fx.ws.ID, FlowID: f.ID, Version: 1})
	ok(t, err)
	list, err := s.Flows(ctx, fx.ws.ID)
	ok(t, err)
	if len(list) != 2 || list[0].ID != f2.ID || list[1].ID != f.ID {
		t.Fatalf("Flows = %+v", list)
	}
	if list[0].LastRunID != "" || list[1].LastRunID != run.ID || list[1].LastRunStatus != engine.RunQueued || !list[1].LastRunAt.Equal(run.CreatedAt) {
		t.Fatalf("Flows last runs = %+v", list)
	}

	// Settings.
	in := []engine.Input{{Name: "x", Type: engine.InputDate, Default: "2025-02-01", Label: "Start day", Placeholder: "YYYY-MM-DD"}}
	ok(t, s.UpdateFlowSettings(ctx, f.ID, FlowSettings{Name: "Renamed", Description: "New", Order: engine.OrderNotebook, Inputs: in}))
	isErr(t, s.UpdateFlowSettings(ctx, "f_nope", FlowSettings{}), ErrNotFound)
	d, err = s.Draft(ctx, f.ID)
	ok(t, err)
	if d.Flow.Name != "Renamed" || d.Flow.Description != "New" || d.Flow.Order != engine.OrderNotebook ||
		!reflect.DeepEqual(d.Flow.Inputs, in) || d.Flow.Triggers != nil || len(d.Flow.Cells) != 3 {
		t.Fatalf("Draft after settings = %#v", d.Flow)
	}
}

func cellNames(t *testing.T, s *Store, flowID string) string {
	t.Helper()
	d, err := s.Draft(context.Background(), flowID)
	ok(t, err)
	var names []string
	for _, c := range d.Flow.Cells {
		names = append(names, c.Name)
	}
	return strings.Join(names, ",")
}

func testDraftCells(t *testing.T, s *Store) {
	ctx := context.Background()
	fx := setup(t, s)
	fid := fx.flow.ID
	d, err := s.Draft(ctx, fid)
	ok(t, err)
	intro, fetch, notify := d.Cells[0].ID, d.Cells[1].ID, d.Cells[2].ID

	ok(t, s.UpdateCellSource(ctx, fid, fetch, "GET https://example.org\n", fx.user.ID))
	isErr(t, s.UpdateCellSource(ctx, fid, "c_nope", "x", ""), ErrNotFound)
	isErr(t, s.UpdateCellSource(ctx, "f_nope", fetch, "x", ""), ErrNotFound)
	isErr(t, s.UpdateCellSource(ctx, fid, fetch, strings.Repeat("y", MaxSourceSize+1), ""), ErrTooLarge)
	ok(t, s.UpdateCellSource(ctx, fid, fetch, strings.Repeat("y", MaxSourceSize), ""))
	ok(t, s.UpdateCellSource(ctx, fid, fetch, "GET https://example.org\n", fx.user.ID))
	d, err = s.Draft(ctx, fid)
	ok(t, err)
	if d.Flow.Cells[1].Source != "GET https://example.org\n" || d.Flow.Cells[1].Timeout != 30*time.Second {
		t.Fatalf("after UpdateCellSource: %+v", d.Flow.Cells[1])
	}

	// Insert at the top, in the middle, past the end (clamped).
	a, err := s.InsertCell(ctx, fid, 0, engine.Cell{Name: "a", Kind: engine.KindExpr, Source: "1"}, fx.user.ID)
	ok(t, err)
	_, err = s.InsertCell(ctx, fid, 2, engine.Cell{Name: "b", Kind: engine.KindExpr, Source: "2"}, "")
	ok(t, err)
	_, err = s.InsertCell(ctx, fid, 99, engine.Cell{Name: "z", Kind: engine.KindPython, Source: "print(1)"}, "")
	ok(t, err)
	if got := cellNames(t, s, fid); got != "a,intro,b,fetch,notify,z" {
		t.Fatalf("after inserts: %s", got)
	}
	_, err = s.InsertCell(ctx, fid, 0, engine.Cell{Name: "fetch", Kind: engine.KindExpr}, "")
	isErr(t, err, ErrAlreadyExists)
	_, err = s.InsertCell(ctx, "f_nope", 0, engine.Cell{Name: "q", Kind: engine.KindExpr}, "")
	isErr(t, err, ErrNotFound)
	_, err = s.InsertCell(ctx, fid, 0, engine.Cell{Name: "huge", Kind: engine.KindExpr, Source: strings.Repeat("x", MaxSourceSize+1)}, "")
	isErr(t, err, ErrTooLarge)

	// Moves, down and up, clamped.
	ok(t, s.MoveCell(ctx, fid, a, 3))
	if got := cellNames(t, s, fid); got != "intro,b,fetch,a,notify,z" {
		t.Fatalf("after move down: %s", got)
	}
	ok(t, s.MoveCell(ctx, fid, notify, 0))
	if got := cellNames(t, s, fid); got != "notify,intro,b,fetch,a,z" {
		t.Fatalf("after move up: %s", got)
	}
	ok(t, s.MoveCell(ctx, fid, intro, 100))
	if got := cellNames(t, s, fid); got != "notify,b,fetch,a,z,intro" {
		t.Fatalf("after move to end: %s", got)
	}
	ok(t, s.MoveCell(ctx, fid, intro, 5)) // no-op
	isErr(t, s.MoveCell(ctx, fid, "c_nope", 0), ErrNotFound)

	ok(t, s.DeleteCell(ctx, fid, fetch))
	if got := cellNames(t, s, fid); got != "notify,b,a,z,intro" {
		t.Fatalf("after delete: %s", got)
	}
	isErr(t, s.DeleteCell(ctx, fid, fetch), ErrNotFound)

	// Positions stay dense after all that.
	var pos []int
	ok(t, s.rdb.NewSelect().Model((*cellModel)(nil)).Column("position").Where("flow_id = ?", fid).Order("position").Scan(ctx, &pos))
	if !slices.Equal(pos, []int{0, 1, 2, 3, 4}) {
		t.Fatalf("positions = %v", pos)
	}

	// UpdateCell: rename, change kind and options; the source stays.
	ok(t, s.UpdateCell(ctx, fid, a, engine.Cell{Name: "total", Kind: engine.KindPython, Retries: 3, Needs: []string{"b"}, Source: "ignored"}, fx.user.ID))
	isErr(t, s.UpdateCell(ctx, fid, a, engine.Cell{Name: "b", Kind: engine.KindExpr}, ""), ErrAlreadyExists)
	isErr(t, s.UpdateCell(ctx, fid, "c_nope", engine.Cell{Name: "q", Kind: engine.KindExpr}, ""), ErrNotFound)
	d, err = s.Draft(ctx, fid)
	ok(t, err)
	c := d.Flow.Cells[2]
	if c.Name != "total" || c.Kind != engine.KindPython || c.Retries != 3 || !slices.Equal(c.Needs, []string{"b"}) || c.Source != "1" || d.Cells[2].ID != a {
		t.Fatalf("after UpdateCell: %+v %+v", c, d.Cells[2])
	}
}

func testVersions(t *testing.T, s *Store) {
	ctx := context.Background()
	fx := setup(t, s)
	fid := fx.flow.ID
	v1, err := s.Version(ctx, fid, 1)
	ok(t, err)
	if v1.Number != 1 || v1.Author != fx.user.ID || v1.Hash != "hash1" || !reflect.DeepEqual(v1.Files, sampleFiles) || v1.Published || len(v1.Coauthors) != 0 {
		t.Fatalf("version 1 = %+v", v1)
	}
	bob, err := s.CreateUser(ctx, "bob", "", "")
	ok(t, err)
	files2 := []File{{Name: "flow.yaml", Data: []byte("name: v2\n")}}
	v2, err := s.CreateVersion(ctx, fid, Version{Message: "second", Author: fx.user.ID, Coauthors: []string{bob.ID}, Hash: "hash2", Files: files2})
	ok(t, err)
	if v2.Number != 2 || v2.Message != "second" {
		t.Fatalf("CreateVersion = %+v", v2)
	}
	_, err = s.CreateVersion(ctx, "f_nope", Version{Hash: "x"})
	isErr(t, err, ErrNotFound)

	ok(t, s.Publish(ctx, fid, 1))
	isErr(t, s.Publish(ctx, fid, 9), ErrNotFound)
	isErr(t, s.Publish(ctx, "f_nope", 1), ErrNotFound)

	vs, err := s.Versions(ctx, fid)
	ok(t, err)
	if len(vs) != 2 || vs[0].Number != 2 || vs[1].Number != 1 || vs[0].Published || !vs[1].Published ||
		vs[0].Files != nil || !slices.Equal(vs[0].Coauthors, []string{bob.ID}) || vs[0].Hash != "hash2" || vs[0].CreatedAt.IsZero() {
		t.Fatalf("Versions = %+v", vs)
	}
	got, err := s.Version(ctx, fid, 2)
	ok(t, err)
	if !reflect.DeepEqual(got.Files, files2) || got.Published || got.Message != "second" {
		t.Fatalf("Version(2) = %+v", got)
	}
	got, err = s.Version(ctx, fid, 1)
	ok(t, err)
	if !got.Published {
		t.Fatal("version 1 not published")
	}
	_, err = s.Version(ctx, fid, 3)
	isErr(t, err, ErrNotFound)
	f, err := s.FlowByID(ctx, fid)
	ok(t, err)
	if f.PublishedVersion != 1 || f.Versions != 2 {
		t.Fatalf("flow after publish = %+v", f)
	}
}

func testConcurrentVersions(t *testing.T, s *Store) {
	ctx := context.Background()
	fx := setup(t, s)
	const n = 10
	nums := make(chan int, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			v, err := s.CreateVersion(ctx, fx.flow.ID, Version{Message: fmt.Sprint("v", i), Author: fx.user.ID, Hash: "h", Files: sampleFiles})
			if err != nil {
				errs <- err
				return
			}
			nums <- v.Number
		})
	}
	wg.Wait()
	close(errs)
	close(nums)
	for err := range errs {
		t.Error(err)
	}
	var got []int
	for n := range nums {
		got = append(got, n)
	}
	slices.Sort(got)
	if want := []int{2, 3, 4, 5, 6, 7, 8, 9, 10, 11}; !slices.Equal(got, want) {
		t.Fatalf("numbers = %v, want %v", got, want)
	}
}

func testRuns(t *testing.T, s *Store) {
	ctx := context.Background()
	clk := setClock(s)
	fx := setup(t, s)
	r1, err := s.CreateRun(ctx, Run{
		WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID, Version: 1, Hash: "hash1",
		Inputs: json.RawMessage(`{"day":"2025-01-31"}`), Files: sampleFiles, StartedBy: fx.user.ID,
	})
	ok(t, err)
	if !strings.HasPrefix(r1.ID, "r_") || r1.Status != engine.RunQueued || r1.CreatedAt.IsZero() {
		t.Fatalf("CreateRun = %+v", r1)
	}
	got, err := s.Run(ctx, r1.ID)
	ok(t, err)
	if !reflect.DeepEqual(got, r1) {
		t.Fatalf("Run =\n %+v\nwant %+v", got, r1)
	}
	_, err = s.CreateRun(ctx, Run{ID: r1.ID, WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID})
	isErr(t, err, ErrAlreadyExists)
	_, err = s.CreateRun(ctx, Run{WorkspaceID: fx.ws.ID, FlowID: "f_nope"})
	isErr(t, err, ErrNotFound)
	_, err = s.Run(ctx, "r_nope")
	isErr(t, err, ErrNotFound)

	clk.add(time.Millisecond)
	r2, err := s.CreateRun(ctx, Run{ID: NewID("r"), WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID, Hash: "draft"})
	ok(t, err)
	other, err := s.CreateFlow(ctx, fx.ws.ID, "other", &engine.Flow{}, "", nil, "")
	ok(t, err)
	clk.add(time.Millisecond)
	r3, err := s.CreateRun(ctx, Run{WorkspaceID: fx.ws.ID, FlowID: other.ID})
	ok(t, err)

	rs, err := s.RunsOfFlow(ctx, fx.flow.ID, 0)
	ok(t, err)
	if len(rs) != 2 || rs[0].ID != r2.ID || rs[1].ID != r1.ID || rs[1].Files != nil || string(rs[1].Inputs) != `{"day":"2025-01-31"}` {
		t.Fatalf("RunsOfFlow = %+v", rs)
	}
	rs, err = s.RunsOfFlow(ctx, fx.flow.ID, 1)
	ok(t, err)
	if len(rs) != 1 || rs[0].ID != r2.ID {
		t.Fatalf("RunsOfFlow limit 1 = %+v", rs)
	}
	rs, err = s.RunsOfWorkspace(ctx, fx.ws.ID, 10)
	ok(t, err)
	if len(rs) != 3 || rs[0].ID != r3.ID || rs[1].ID != r2.ID || rs[2].ID != r1.ID {
		t.Fatalf("RunsOfWorkspace = %+v", rs)
	}

	start := s.timeNow()
	ok(t, s.UpdateRun(ctx, r1.ID, RunUpdate{Status: engine.RunRunning, StartedAt: start}))
	ok(t, s.UpdateRun(ctx, r1.ID, RunUpdate{Status: engine.RunFailed, FinishedAt: start.Add(time.Second), DurationMS: 1000, Error: "cell load: boom"}))
	isErr(t, s.UpdateRun(ctx, "r_nope", RunUpdate{Status: engine.RunFailed}), ErrNotFound)
	isErr(t, s.UpdateRun(ctx, r1.ID, RunUpdate{Status: "exploded"}), ErrInvalid)
	got, err = s.Run(ctx, r1.ID)
	ok(t, err)
	if got.Status != engine.RunFailed || !got.StartedAt.Equal(start) || !got.FinishedAt.Equal(start.Add(time.Second)) || got.DurationMS != 1000 || got.Error != "cell load: boom" {
		t.Fatalf("after UpdateRun = %+v", got)
	}

	cr := CellRun{
		RunID: r1.ID, Position: 1, Name: "fetch", Kind: engine.KindHTTP, Status: engine.CellSucceeded, Attempts: 2,
		StartedAt: start, FinishedAt: start.Add(42 * time.Millisecond), DurationMS: 42,
		Result: json.RawMessage(`{"status":200}`), LogBytes: 10, LogCut: true,
	}
	ok(t, s.UpsertCellRun(ctx, cr))
	ok(t, s.UpsertCellRun(ctx, CellRun{RunID: r1.ID, Position: 0, Name: "intro", Kind: engine.KindMarkdown}))
	isErr(t, s.UpsertCellRun(ctx, CellRun{RunID: "r_nope", Name: "x"}), ErrNotFound)
	crs, err := s.CellRuns(ctx, r1.ID)
	ok(t, err)
	if len(crs) != 2 || crs[0].Name != "intro" || crs[0].Status != engine.CellPending || crs[0].Result != nil || !reflect.DeepEqual(crs[1], cr) {
		t.Fatalf("CellRuns =\n %+v\nwant [intro] %+v", crs, cr)
	}
	cr.Status, cr.Result, cr.LogCut = engine.CellFailed, nil, false
	ok(t, s.UpsertCellRun(ctx, cr))
	crs, err = s.CellRuns(ctx, r1.ID)
	ok(t, err)
	if !reflect.DeepEqual(crs[1], cr) {
		t.Fatalf("after second upsert: %+v", crs[1])
	}
	crs, err = s.CellRuns(ctx, "r_nope")
	ok(t, err)
	if len(crs) != 0 {
		t.Fatalf("CellRuns(nope) = %+v", crs)
	}
}

func newRun(t *testing.T, s *Store, fx fixture) Run {
	t.Helper()
	r, err := s.CreateRun(context.Background(), Run{WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID, Version: 1})
	ok(t, err)
	return r
}

// lifecycle is the events of a run of two cells, fetch retried once.
func lifecycle(runID string, at time.Time) []engine.Event {
	ev := func(e engine.Event) engine.Event {
		e.Run = runID
		e.At = at
		at = at.Add(10 * time.Millisecond)
		return e
	}
	return []engine.Event{
		ev(engine.Event{Type: engine.EventRunStarted, Seq: 1, Flow: "nightly", Version: 1, Cells: []string{"fetch", "notify"}}),
		ev(engine.Event{Type: engine.EventCellStarted, Seq: 2, Cell: "fetch", Attempt: 1}),
		ev(engine.Event{Type: engine.EventCellLog, Seq: 3, Cell: "fetch", Stream: engine.StreamStdout, Lines: []string{"hello", "wörld"}}),
		ev(engine.Event{Type: engine.EventCellStarted, Seq: 4, Cell: "fetch", Attempt: 2}),
		ev(engine.Event{Type: engine.EventCellLog, Seq: 5, Cell: "fetch", Stream: engine.StreamStderr, Lines: []string{"<b>&"}}),
		ev(engine.Event{Type: engine.EventCellFinished, Seq: 6, Cell: "fetch", Status: "succeeded", Attempts: 2, DurationMS: 42, Result: json.RawMessage(`{"status":200}`)}),
		ev(engine.Event{Type: engine.EventCellFinished, Seq: 7, Cell: "notify", Status: "skipped"}),
		ev(engine.Event{Type: engine.EventRunFinished, Seq: 8, Status: "succeeded", DurationMS: 70}),
	}
}

func testEvents(t *testing.T, s *Store) {
	ctx := context.Background()
	fx := setup(t, s)
	r := newRun(t, s, fx)
	at := time.Date(2025, 1, 31, 6, 0, 0, 0, time.UTC)
	evs := lifecycle(r.ID, at)

	n, err := s.LastSeq(ctx, r.ID)
	ok(t, err)
	if n != 0 {
		t.Fatalf("LastSeq before = %d", n)
	}
	// Two batches: the first leaves the run mid-way.
	ok(t, s.AppendEvents(ctx, r.ID, evs[:3]))
	got, err := s.Run(ctx, r.ID)
	ok(t, err)
	if got.Status != engine.RunRunning || !got.StartedAt.Equal(at) {
		t.Fatalf("run after run.started = %+v", got)
	}
	crs, err := s.CellRuns(ctx, r.ID)
	ok(t, err)
	if len(crs) != 2 || crs[0].Name != "fetch" || crs[0].Status != engine.CellRunning || crs[0].Attempts != 1 ||
		crs[0].LogBytes != int64(len("hello\nwörld\n")) || crs[1].Name != "notify" || crs[1].Status != engine.CellPending {
		t.Fatalf("cell runs mid-way = %+v", crs)
	}
	ok(t, s.AppendEvents(ctx, r.ID, evs[3:]))

	got, err = s.Run(ctx, r.ID)
	ok(t, err)
	if got.Status != engine.RunSucceeded || !got.FinishedAt.Equal(at.Add(70*time.Millisecond)) || got.DurationMS != 70 || got.Error != "" {
		t.Fatalf("run after run.finished = %+v", got)
	}
	crs, err = s.CellRuns(ctx, r.ID)
	ok(t, err)
	fetch := crs[0]
	if fetch.Status != engine.CellSucceeded || fetch.Attempts != 2 || fetch.DurationMS != 42 || string(fetch.Result) != `{"status":200}` ||
		!fetch.StartedAt.Equal(at.Add(10*time.Millisecond)) || !fetch.FinishedAt.Equal(at.Add(50*time.Millisecond)) ||
		fetch.LogBytes != int64(len("hello\nwörld\n<b>&\n")) || fetch.Position != 0 {
		t.Fatalf("fetch = %+v", fetch)
	}
	if crs[1].Status != engine.CellSkipped || crs[1].Position != 1 {
		t.Fatalf("notify = %+v", crs[1])
	}

	all, err := s.Events(ctx, r.ID, 0, 0)
	ok(t, err)
	if len(all) != len(evs) {
		t.Fatalf("Events = %d, want %d", len(all), len(evs))
	}
	for i, se := range all {
		want := evs[i].AppendJSON(nil)
		if string(se.Data) != string(want) || se.Seq != evs[i].Seq || se.Type != evs[i].Type || se.Cell != evs[i].Cell {
			t.Fatalf("event %d = %d %s %q %s\nwant %s", i, se.Seq, se.Type, se.Cell, se.Data, want)
		}
		var back engine.Event
		ok(t, json.Unmarshal(se.Data, &back))
		if back.Seq != evs[i].Seq || !back.At.Equal(evs[i].At) {
			t.Fatalf("event %d decodes to %+v", i, back)
		}
	}
	since, err := s.Events(ctx, r.ID, 5, 0)
	ok(t, err)
	if len(since) != 3 || since[0].Seq != 6 || since[2].Seq != 8 {
		t.Fatalf("Events since 5 = %+v", since)
	}
	lim, err := s.Events(ctx, r.ID, 2, 2)
	ok(t, err)
	if len(lim) != 2 || lim[0].Seq != 3 || lim[1].Seq != 4 {
		t.Fatalf("Events since 2 limit 2 = %+v", lim)
	}
	none, err := s.Events(ctx, r.ID, 8, 0)
	ok(t, err)
	if len(none) != 0 {
		t.Fatalf("Events since 8 = %+v", none)
	}
	logs, err := s.LogEvents(ctx, r.ID, "fetch", 0, 0)
	ok(t, err)
	if len(logs) != 2 || logs[0].Seq != 3 || logs[1].Seq != 5 {
		t.Fatalf("LogEvents = %+v", logs)
	}
	n, err = s.LastSeq(ctx, r.ID)
	ok(t, err)
	if n != 8 {
		t.Fatalf("LastSeq = %d", n)
	}

	// Seq 0 is numbered after the last one, in place.
	r2 := newRun(t, s, fx)
	batch := []engine.Event{
		{Type: engine.EventRunStarted, At: at},
		{Type: engine.EventCellLog, At: at, Cell: "a", Lines: []string{"x"}},
	}
	ok(t, s.AppendEvents(ctx, r2.ID, batch))
	ok(t, s.AppendEvents(ctx, r2.ID, []engine.Event{{Type: engine.EventCellLog, At: at, Cell: "a", Lines: []string{"yz"}}}))
	if batch[0].Seq != 1 || batch[1].Seq != 2 || batch[0].Run != r2.ID {
		t.Fatalf("numbered batch = %+v", batch)
	}
	n, err = s.LastSeq(ctx, r2.ID)
	ok(t, err)
	if n != 3 {
		t.Fatalf("LastSeq after numbering = %d", n)
	}
	crs, err = s.CellRuns(ctx, r2.ID)
	ok(t, err)
	if len(crs) != 1 || crs[0].Name != "a" || crs[0].LogBytes != 5 {
		t.Fatalf("cell runs from log only = %+v", crs)
	}
	ok(t, s.AppendEvents(ctx, r2.ID, nil))
}

func testEventsRejected(t *testing.T, s *Store) {
	ctx := context.Background()
	fx := setup(t, s)
	r := newRun(t, s, fx)
	at := time.Now()
	ok(t, s.AppendEvents(ctx, r.ID, []engine.Event{{Type: engine.EventRunStarted, Seq: 1, At: at}}))

	// A seq stored before: the whole batch is refused, run untouched.
	err := s.AppendEvents(ctx, r.ID, []engine.Event{
		{Type: engine.EventCellLog, Seq: 2, At: at, Cell: "a", Lines: []string{"x"}},
		{Type: engine.EventRunFinished, Seq: 1, At: at, Status: "failed"},
	})
	isErr(t, err, ErrAlreadyExists)
	n, err := s.LastSeq(ctx, r.ID)
	ok(t, err)
	if n != 1 {
		t.Fatalf("LastSeq after refused batch = %d", n)
	}
	got, err := s.Run(ctx, r.ID)
	ok(t, err)
	if got.Status != engine.RunRunning {
		t.Fatalf("run after refused batch = %+v", got)
	}
	err = s.AppendEvents(ctx, "r_nope", []engine.Event{{Type: engine.EventRunStarted, Seq: 1, At: at}})
	isErr(t, err, ErrNotFound)
	err = s.AppendEvents(ctx, r.ID, []engine.Event{{Type: engine.EventRunStarted, Run: "r_other", Seq: 5, At: at}})
	if err == nil {
		t.Fatal("event of another run accepted")
	}
}

// testConcurrentEvents appends from many goroutines at once: on SQLite,
// writers queue on the one write connection and none sees SQLITE_BUSY.
func testConcurrentEvents(t *testing.T, s *Store) {
	ctx := context.Background()
	fx := setup(t, s)
	const runs, batches, size = 6, 15, 20
	ids := make([]string, runs)
	for i := range ids {
		ids[i] = newRun(t, s, fx).ID
	}
	shared := newRun(t, s, fx).ID
	var wg sync.WaitGroup
	errs := make(chan error, runs*batches*2)
	for g := range runs {
		wg.Go(func() {
			for b := range batches {
				evs := make([]engine.Event, size)
				shEvs := make([]engine.Event, size)
				for i := range evs {
					evs[i] = engine.Event{Type: engine.EventCellLog, Seq: int64(b*size + i + 1), At: time.Now(), Cell: "c", Lines: []string{"line"}}
					// On the shared run each goroutine owns a range of seqs.
					seq := int64(g*batches*size + b*size + i + 1)
					shEvs[i] = engine.Event{Type: engine.EventCellLog, Seq: seq, At: time.Now(), Cell: fmt.Sprint("c", g), Lines: []string{"l"}}
				}
				if err := s.AppendEvents(ctx, ids[g], evs); err != nil {
					errs <- err
				}
				if err := s.AppendEvents(ctx, shared, shEvs); err != nil {
					errs <- err
				}
				// Readers run beside the writers.
				if _, err := s.Events(ctx, ids[g], int64(b*size), 0); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, id := range ids {
		n, err := s.LastSeq(ctx, id)
		ok(t, err)
		if n != batches*size {
			t.Fatalf("run %s: LastSeq = %d, want %d", id, n, batches*size)
		}
		crs, err := s.CellRuns(ctx, id)
		ok(t, err)
		if len(crs) != 1 || crs[0].LogBytes != batches*size*5 {
			t.Fatalf("run %s: cell runs = %+v", id, crs)
		}
	}
	evs, err := s.Events(ctx, shared, 0, 0)
	ok(t, err)
	if len(evs) != runs*batches*size {
		t.Fatalf("shared run: %d events, want %d", len(evs), runs*batches*size)
	}
	for i, e := range evs {
		if e.Seq != int64(i+1) {
			t.Fatalf("shared run: event %d has seq %d", i, e.Seq)
		}
	}
}

func testLatestResults(t *testing.T, s *Store) {
	ctx := context.Background()
	fx := setup(t, s)
	at := time.Date(2025, 1, 31, 6, 0, 0, 0, time.UTC)
	finish := func(runID string, seq int64, cell, status, result string, at time.Time) engine.Event {
		e := engine.Event{Type: engine.EventCellFinished, Run: runID, Seq: seq, At: at, Cell: cell, Status: status, Attempts: 1}
		if result != "" {
			e.Result = json.RawMessage(result)
		}
		return e
	}
	res, err := s.LatestResults(ctx, fx.flow.ID)
	ok(t, err)
	if len(res) != 0 {
		t.Fatalf("LatestResults of a new flow = %v", res)
	}
	r1 := newRun(t, s, fx)
	ok(t, s.AppendEvents(ctx, r1.ID, []engine.Event{
		finish(r1.ID, 1, "fetch", "succeeded", `{"status":200}`, at),
		finish(r1.ID, 2, "clean", "succeeded", `{"value":1}`, at.Add(time.Second)),
	}))
	r2 := newRun(t, s, fx)
	ok(t, s.AppendEvents(ctx, r2.ID, []engine.Event{
		finish(r2.ID, 1, "fetch", "succeeded", `{"status":201}`, at.Add(time.Minute)),
		finish(r2.ID, 2, "clean", "failed", `{"value":2}`, at.Add(time.Minute+time.Second)),
	}))
	// Another flow's results stay out.
	other, err := s.CreateFlow(ctx, fx.ws.ID, "other", &engine.Flow{}, "", nil, "")
	ok(t, err)
	r3, err := s.CreateRun(ctx, Run{WorkspaceID: fx.ws.ID, FlowID: other.ID})
	ok(t, err)
	ok(t, s.AppendEvents(ctx, r3.ID, []engine.Event{finish(r3.ID, 1, "other", "succeeded", `{"x":1}`, at)}))

	res, err = s.LatestResults(ctx, fx.flow.ID)
	ok(t, err)
	want := map[string]string{"fetch": `{"status":201}`, "clean": `{"value":1}`}
	if len(res) != len(want) {
		t.Fatalf("LatestResults = %v", res)
	}
	for k, v := range want {
		if string(res[k]) != v {
			t.Fatalf("LatestResults[%s] = %s, want %s", k, res[k], v)
		}
	}
}

func testMigrate(t *testing.T, s *Store) {
	ctx := context.Background()
	all := migrationVersions(t, s.Dialect())
	latest := all[len(all)-1]
	v, dirty, err := s.MigrateStatus(ctx)
	ok(t, err)
	if v != latest || dirty {
		t.Fatalf("MigrateStatus = %d %v, want %d false", v, dirty, latest)
	}
	_, err = s.CreateUser(ctx, "ada", "", "")
	ok(t, err)
	ok(t, s.Migrate(ctx, "up", 0)) // nothing to do
	ok(t, s.Migrate(ctx, "down", 1))
	v, _, err = s.MigrateStatus(ctx)
	ok(t, err)
	if want := uint(0); len(all) > 1 {
		want = all[len(all)-2]
		if v != want {
			t.Fatalf("version after down 1 = %d, want %d", v, want)
		}
	} else if v != want {
		t.Fatalf("version after down 1 = %d", v)
	}
	ok(t, s.Migrate(ctx, "down", len(all)))
	v, _, err = s.MigrateStatus(ctx)
	ok(t, err)
	if v != 0 {
		t.Fatalf("version after down = %d", v)
	}
	if _, err := s.CountUsers(ctx); err == nil {
		t.Fatal("users table still there after down")
	}
	ok(t, s.Migrate(ctx, "up", len(all)+5)) // more steps than there are
	v, _, err = s.MigrateStatus(ctx)
	ok(t, err)
	if v != latest {
		t.Fatalf("version after up = %d", v)
	}
	n, err := s.CountUsers(ctx)
	ok(t, err)
	if n != 0 {
		t.Fatalf("CountUsers after down and up = %d", n)
	}
	ok(t, s.Migrate(ctx, "down", 1))
	ok(t, s.Migrate(ctx, "up", 0))
	_, err = s.CreateUser(ctx, "ada", "", "")
	ok(t, err)
	if err := s.Migrate(ctx, "sideways", 1); err == nil {
		t.Fatal("Migrate sideways accepted")
	}
}

// migrationVersions lists the versions of the embedded migrations, in order.
func migrationVersions(t *testing.T, dialect string) []uint {
	t.Helper()
	entries, err := fs.ReadDir(migrations.FS, dialect)
	ok(t, err)
	var out []uint
	for _, e := range entries {
		var n uint
		if _, err := fmt.Sscanf(e.Name(), "%04d_", &n); err == nil && strings.HasSuffix(e.Name(), ".up.sql") {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

func testDraftFlow(t *testing.T, s *Store) {
	ctx := context.Background()
	fx := setup(t, s)
	_, err := s.CreateDraftFlow(ctx, fx.ws.ID, "nightly", sampleFlow(), fx.user.ID)
	isErr(t, err, ErrAlreadyExists)

	// A flow made in the studio has a draft and no version: its first
	// saved version is v1.
	fresh, err := s.CreateDraftFlow(ctx, fx.ws.ID, "fresh", sampleFlow(), fx.user.ID)
	ok(t, err)
	if fresh.Versions != 0 {
		t.Fatalf("CreateDraftFlow = %+v, want no version", fresh)
	}
	if vs, err := s.Versions(ctx, fresh.ID); err != nil || len(vs) != 0 {
		t.Fatalf("versions of a new draft flow = %v, %v", vs, err)
	}
	if got, err := s.FlowBySlug(ctx, fx.ws.ID, "fresh"); err != nil || got.Versions != 0 {
		t.Fatalf("FlowBySlug(fresh) = %+v, %v", got, err)
	}
	v1, err := s.SaveVersion(ctx, fresh.ID, fx.user.ID, "first", testExport)
	ok(t, err)
	if v1.Number != 1 {
		t.Fatalf("first saved version of a new flow = v%d, want v1", v1.Number)
	}
}
