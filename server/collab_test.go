package server

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/opsbook/opsbook/engine/collab"
	"github.com/opsbook/opsbook/engine/store"
)

func storeOpen(ctx context.Context, dsn string) (*store.Store, error) {
	return store.Open(ctx, store.Config{DB: dsn})
}

// editor is a simulated notebook page editing one cell over the socket,
// with the same rebase logic as @codemirror/collab (collab.Client): it
// keeps editing while disconnected, and pulls, rebases and pushes when back.
type editor struct {
	t      testing.TB
	url    string
	cookie string
	cell   string

	mu       sync.Mutex
	cl       *collab.Client
	conn     *websocket.Conn
	online   bool
	inflight bool
	pulling  bool
	helloed  chan struct{}
	sent     map[string]time.Time // update key → when it was pushed
	onRemote func(key string, at time.Time)
	err      error
}

func newEditor(t testing.TB, url, cookie, cell, id string) *editor {
	return &editor{t: t, url: url, cookie: cookie, cell: cell, cl: collab.NewClient(id, nil, -1), sent: map[string]time.Time{}}
}

func updateKey(u collab.Update) string {
	b, _ := u.Changes.MarshalJSON()
	return u.ClientID + "|" + string(b)
}

// connect dials and waits for hello.
func (e *editor) connect() error {
	h := http.Header{}
	h.Set("Origin", "http"+strings.TrimPrefix(e.url[:strings.Index(e.url, "/w/")], "ws"))
	h.Set("Cookie", sessionCookie+"="+e.cookie)
	conn, resp, err := websocket.DefaultDialer.Dial(e.url, h)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.conn, e.online, e.inflight, e.pulling = conn, true, false, false
	e.helloed = make(chan struct{})
	hello := e.helloed
	e.mu.Unlock()
	go e.read(conn)
	select {
	case <-hello:
		return nil
	case <-time.After(20 * time.Second):
		return fmt.Errorf("no hello")
	}
}

// drop loses the connection (the editor goes on offline).
func (e *editor) drop() {
	e.mu.Lock()
	c := e.conn
	e.online = false
	e.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

func (e *editor) fail(err error) {
	if e.err == nil {
		e.err = err
	}
}

func (e *editor) send(v any) {
	if !e.online {
		return
	}
	e.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := e.conn.WriteJSON(v); err != nil {
		e.online = false
	}
}

type serverMsg struct {
	T       string          `json:"t"`
	Cell    string          `json:"cell"`
	Version int             `json:"version"`
	Updates []collab.Update `json:"updates"`
	Message string          `json:"message"`
	Draft   *struct {
		Cells []struct {
			ID      string `json:"id"`
			Source  string `json:"source"`
			Version int    `json:"version"`
		} `json:"cells"`
	} `json:"draft"`
}

func (e *editor) read(conn *websocket.Conn) {
	defer func() {
		e.mu.Lock()
		if e.conn == conn {
			e.online = false
		}
		e.mu.Unlock()
	}()
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		var m serverMsg
		if err := json.Unmarshal(data, &m); err != nil {
			e.mu.Lock()
			e.fail(fmt.Errorf("bad message %s: %v", data, err))
			e.mu.Unlock()
			return
		}
		now := time.Now()
		e.mu.Lock()
		if e.conn != conn {
			e.mu.Unlock()
			return
		}
		e.handle(m, now)
		e.mu.Unlock()
	}
}

// handle runs with e.mu held.
func (e *editor) handle(m serverMsg, now time.Time) {
	switch m.T {
	case "hello":
		for _, c := range m.Draft.Cells {
			if c.ID != e.cell {
				continue
			}
			if e.cl.Version < 0 {
				e.cl = collab.NewClient(e.cl.ID, collab.TextOf(c.Source), c.Version)
			} else if c.Version > e.cl.Version {
				e.pull()
			}
		}
		close(e.helloed)
	case "collab.updates":
		if m.Cell != e.cell {
			return
		}
		if m.Version <= e.cl.Version {
			e.pulling = false
		}
		var foreign []collab.Update
		if skip := e.cl.Version - m.Version; skip >= 0 && skip < len(m.Updates) {
			for _, u := range m.Updates[skip:] {
				if u.ClientID != e.cl.ID {
					foreign = append(foreign, u)
				}
			}
		}
		ok, err := e.cl.ReceiveFrom(m.Version, m.Updates)
		if err != nil {
			e.fail(err)
			return
		}
		if !ok {
			e.pull()
			return
		}
		if e.onRemote != nil {
			for _, u := range foreign {
				e.onRemote(updateKey(u), now)
			}
		}
	case "collab.ack":
		e.inflight = false
		if e.cl.Version < m.Version {
			e.pull() // the broadcast of our own change was lost
		}
	case "collab.pull-needed":
		e.inflight = false
		if e.cl.Version < m.Version {
			e.pull()
		}
	case "collab.error", "collab.gone":
		e.fail(fmt.Errorf("%s: %s", m.T, m.Message))
	}
	e.push()
}

func (e *editor) pull() {
	if e.pulling {
		return
	}
	e.pulling = true
	e.send(map[string]any{"t": "collab.pull", "cell": e.cell, "version": e.cl.Version})
}

func (e *editor) push() {
	ups := e.cl.Sendable()
	if e.inflight || e.pulling || len(ups) == 0 || !e.online {
		return
	}
	now := time.Now()
	for _, u := range ups {
		e.sent[updateKey(u)] = now
	}
	e.inflight = true
	e.send(map[string]any{"t": "collab.push", "cell": e.cell, "version": e.cl.Version, "updates": ups})
}

// edit makes a random insert or delete and pushes it when it can.
func (e *editor) edit(r *rand.Rand) {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := len(e.cl.Text)
	var cs collab.ChangeSet
	if n > 0 && r.IntN(3) == 0 {
		from := r.IntN(n)
		to := min(n, from+1+r.IntN(3))
		from, to = avoidSplit(e.cl.Text, from), avoidSplit(e.cl.Text, to)
		cs, _ = collab.Replace(n, from, to, nil)
	} else {
		pos := avoidSplit(e.cl.Text, r.IntN(n+1))
		cs, _ = collab.Replace(n, pos, pos, collab.TextOf([]string{"a", "bc", "😀", "\n", "é", e.cl.ID[:2]}[r.IntN(6)]))
	}
	if err := e.cl.Edit(cs); err != nil {
		e.fail(err)
		return
	}
	e.push()
}

func avoidSplit(t collab.Text, p int) int {
	if p > 0 && p < len(t) && t[p] >= 0xDC00 && t[p] < 0xE000 {
		return p - 1
	}
	return p
}

// settled reports whether the editor is online with nothing unsent, at v.
func (e *editor) settled(v int) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.online {
		return false
	}
	if len(e.cl.Unconfirmed) > 0 {
		e.push()
		return false
	}
	if e.cl.Version < v {
		e.pull()
		return false
	}
	return e.cl.Version == v
}

func (e *editor) state() (string, int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cl.Text.String(), e.cl.Version, e.err
}

func (f *fixture) wsURL(path string) string {
	return "ws" + strings.TrimPrefix(f.ts.URL, "http") + path
}

func firstCell(t testing.TB, f *fixture) string {
	d, err := f.st.Draft(context.Background(), f.flow.ID)
	if err != nil {
		t.Fatal(err)
	}
	return d.Cells[0].ID
}

// waitSettled waits until every editor has everything, then checks that all
// texts equal the server's.
func waitSettled(t *testing.T, srv *Server, flowID, cell string, eds []*editor) string {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	for {
		v, text, err := srv.collab.Doc(ctx, flowID, cell)
		if err != nil {
			t.Fatal(err)
		}
		all := true
		for _, e := range eds {
			if !e.settled(v) {
				all = false
			}
		}
		if all {
			if v2, _, _ := srv.collab.Doc(ctx, flowID, cell); v2 == v {
				for i, e := range eds {
					got, gv, err := e.state()
					if err != nil {
						t.Fatalf("editor %d: %v", i, err)
					}
					if got != text || gv != v {
						t.Fatalf("editor %d has v%d %q; the server v%d %q", i, gv, got, v, text)
					}
				}
				return text
			}
		}
		if time.Now().After(deadline) {
			for i, e := range eds {
				s, v, err := e.state()
				t.Logf("editor %d: v%d unconfirmed %d online %v err %v %.40q", i, v, len(e.cl.Unconfirmed), e.online, err, s)
			}
			t.Fatalf("editors did not settle at v%d", v)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCollabConverge: many editors make random inserts and deletes with
// random delays, losing their connections now and then and editing offline;
// all end with the server's text, which is also what the store keeps.
func TestCollabConverge(t *testing.T) {
	for _, dialect := range []string{testDB} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			f := setup(t, dialect)
			cell := firstCell(t, f)
			url := f.wsURL("/w/acme/flows/hello/ws")
			const n = 8
			eds := make([]*editor, n)
			for i := range eds {
				eds[i] = newEditor(t, url, f.cookies["editor"], cell, fmt.Sprintf("e%d-%d", i, rand.IntN(1000)))
				if err := eds[i].connect(); err != nil {
					t.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			var drops atomic.Int64
			for i, e := range eds {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := rand.New(rand.NewPCG(uint64(i), 9))
					for step := 0; step < 60; step++ {
						time.Sleep(time.Duration(r.IntN(15)) * time.Millisecond)
						e.edit(r)
						if r.IntN(25) == 0 {
							e.drop()
							drops.Add(1)
							for k := r.IntN(4); k >= 0; k-- { // typing offline
								time.Sleep(time.Duration(r.IntN(10)) * time.Millisecond)
								e.edit(r)
							}
							if err := e.connect(); err != nil {
								e.mu.Lock()
								e.fail(err)
								e.mu.Unlock()
								return
							}
						}
					}
				}()
			}
			wg.Wait()
			text := waitSettled(t, f.srv, f.flow.ID, cell, eds)
			v, _, _ := f.srv.collab.Doc(context.Background(), f.flow.ID, cell)
			t.Logf("%d editors converged at version %d (%d units) after %d dropped connections", n, v, len(collab.TextOf(text)), drops.Load())
			if v < n*30 {
				t.Fatalf("only %d changes accepted", v)
			}
			if drops.Load() == 0 {
				t.Fatal("no connection was dropped")
			}
			// Restart: what was acknowledged is in the store.
			ctx := context.Background()
			if err := f.srv.collab.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			d, err := f.st.Draft(ctx, f.flow.ID)
			if err != nil || d.Flow.Cells[0].Source != text {
				t.Fatalf("stored %q, %v; want %q", d.Flow.Cells[0].Source, err, text)
			}
			fresh := New(Config{Store: f.st})
			if _, got, err := fresh.collab.Doc(ctx, f.flow.ID, cell); err != nil || got != text {
				t.Fatalf("a new server reads %q, %v", got, err)
			}
		})
	}
}

// TestCollabRejects: malformed, stale, oversized and out-of-range change
// sets are refused, the connection stays usable, and the stored document is
// untouched.
func TestCollabRejects(t *testing.T) {
	t.Parallel()
	f := setup(t, testDB)
	cell := firstCell(t, f)
	ctx := context.Background()
	v0, text0, err := f.srv.collab.Doc(ctx, f.flow.ID, cell)
	if err != nil {
		t.Fatal(err)
	}
	n := len(collab.TextOf(text0))
	ed, err := f.dial("editor", "/w/acme/flows/hello/ws")
	if err != nil {
		t.Fatal(err)
	}
	readUntil(t, ed, isType("hello"))
	big := strings.Repeat("x", 1<<20)
	for _, tc := range []struct {
		name    string
		version int
		updates string
		want    string
	}{
		{"malformed", v0, `[{"changes":"nope","clientID":"k"}]`, "collab.error"},
		{"negative", v0, `[{"changes":[-1],"clientID":"k"}]`, "collab.error"},
		{"not a list", v0, `{"changes":[1]}`, "collab.error"},
		{"no client id", v0, fmt.Sprintf(`[{"changes":[%d]}]`, n), "collab.error"},
		{"too short", v0, fmt.Sprintf(`[{"changes":[%d,[0,"x"]],"clientID":"k"}]`, n-1), "collab.error"},
		{"out of range", v0, fmt.Sprintf(`[{"changes":[%d,[5,"x"]],"clientID":"k"}]`, n), "collab.error"},
		{"oversized", v0, fmt.Sprintf(`[{"changes":[[0,%q],%d],"clientID":"k"}]`, big, n), "collab.error"},
		{"ahead", v0 + 3, fmt.Sprintf(`[{"changes":[%d,[0,"x"]],"clientID":"k"}]`, n), "collab.error"},
		{"stale", v0, fmt.Sprintf(`[{"changes":[%d,[0,"x"]],"clientID":"k"}]`, n), "collab.ack"}, // accepted: v0+1
		{"then stale", v0, fmt.Sprintf(`[{"changes":[%d,[0,"y"]],"clientID":"k"}]`, n), "collab.pull-needed"},
	} {
		msg := fmt.Sprintf(`{"t":"collab.push","cell":%q,"version":%d,"updates":%s}`, cell, tc.version, tc.updates)
		if err := ed.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		got := readUntil(t, ed, func(m map[string]any) bool {
			return strings.HasPrefix(m["t"].(string), "collab.") && m["t"] != "collab.updates"
		})
		if last := got[len(got)-1]; last["t"] != tc.want {
			t.Errorf("%s: got %v, want %s", tc.name, last, tc.want)
		}
	}
	v, text, _ := f.srv.collab.Doc(ctx, f.flow.ID, cell)
	if v != v0+1 || text != text0+"x" {
		t.Fatalf("document v%d %q, want v%d %q", v, text, v0+1, text0+"x")
	}
	rows, err := f.st.DocChangesSince(ctx, f.flow.ID, cell, 0)
	if err != nil || len(rows) != v0+1 {
		t.Fatalf("stored %d changes, %v", len(rows), err)
	}
	// A pull from a version that does not exist is refused too.
	ed.WriteJSON(map[string]any{"t": "collab.pull", "cell": cell, "version": 99})
	if got := readUntil(t, ed, isType("collab.error")); len(got) == 0 {
		t.Fatal("no error")
	}
}

// TestCollabDeletedCell: an edit to a cell someone else deleted is not
// dropped silently: the editor is told who deleted it and can restore it,
// with its text, and push again.
func TestCollabDeletedCell(t *testing.T) {
	t.Parallel()
	f := setup(t, testDB)
	cell := firstCell(t, f)
	ed, _ := f.dial("editor", "/w/acme/flows/hello/ws")
	owner, _ := f.dial("owner", "/w/acme/flows/hello/ws")
	hello := readUntil(t, ed, isType("hello"))[0]
	readUntil(t, owner, isType("hello"))
	c0 := hello["draft"].(map[string]any)["cells"].([]any)[0].(map[string]any)
	src, v := c0["source"].(string), int(c0["version"].(float64))
	n := len(collab.TextOf(src))

	owner.WriteJSON(map[string]any{"t": "cell.delete", "id": 1, "cell": cell})
	readUntil(t, owner, isType("ack"))
	ed.WriteJSON(map[string]any{"t": "collab.push", "cell": cell, "version": v, "updates": []any{map[string]any{"changes": []any{n, []any{0, "!"}}, "clientID": "k"}}})
	gone := readUntil(t, ed, isType("collab.gone"))
	if g := gone[len(gone)-1]; g["by"] != "owner" || g["name"] != "greet" {
		t.Fatalf("collab.gone = %v", g)
	}
	ed.WriteJSON(map[string]any{"t": "cell.restore", "id": 2, "cell": cell})
	readUntil(t, ed, isType("ack"))
	ed.WriteJSON(map[string]any{"t": "collab.push", "cell": cell, "version": v, "updates": []any{map[string]any{"changes": []any{n, []any{0, "!"}}, "clientID": "k"}}})
	readUntil(t, ed, isType("collab.ack"))
	d, _ := f.st.Draft(context.Background(), f.flow.ID)
	if d.Cells[0].ID != cell || d.Flow.Cells[0].Source != src+"!" {
		t.Fatalf("after restore and push: %q", d.Flow.Cells[0].Source)
	}
}

// TestCollabPresence: people in a flow see each other arrive, move and leave.
func TestCollabPresence(t *testing.T) {
	t.Parallel()
	f := setup(t, testDB)
	a, _ := f.dial("editor", "/w/acme/flows/hello/ws")
	readUntil(t, a, isType("hello"))
	b, _ := f.dial("viewer", "/w/acme/flows/hello/ws")
	h := readUntil(t, b, isType("hello"))
	if peers := h[len(h)-1]["peers"].([]any); len(peers) != 1 || peers[0].(map[string]any)["name"] != "editor" {
		t.Fatalf("peers in hello: %v", peers)
	}
	got := readUntil(t, a, func(m map[string]any) bool { return m["t"] == "presence" && m["name"] == "viewer" })
	if p := got[len(got)-1]; p["initials"] != "V" || p["color"] == "" {
		t.Fatalf("presence %v", p)
	}
	b.WriteJSON(map[string]any{"t": "presence", "cell": "c_x", "sel": []any{map[string]any{"anchor": 1, "head": 3}}})
	readUntil(t, a, func(m map[string]any) bool { return m["t"] == "presence" && m["cell"] == "c_x" })
	b.Close()
	readUntil(t, a, isType("presence.leave"))
}

// TestCollabTwoProcesses: two servers (two processes' worth: stores, hubs,
// authorities) on one PostgreSQL schema, an editor on each, typing into
// the same cell at once: the database decides each version, LISTEN/NOTIFY
// carries the changes across, and everyone ends with the same text.
func TestCollabTwoProcesses(t *testing.T) {
	t.Parallel()
	f := setup(t, "postgres")
	ctx := context.Background()
	dsn, _ := storeDSN.Load(f.st)
	st2, err := storeOpen(ctx, dsn.(string))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st2.Close() })
	srv2 := New(Config{Store: st2, DataDir: t.TempDir(), Logger: testLogger(t)})
	if err := srv2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ts2 := httptest.NewServer(srv2.Handler())
	t.Cleanup(func() {
		srv2.CloseSockets()
		ts2.Close()
		srv2.Stop(context.Background())
	})
	cell := firstCell(t, f)
	path := "/w/acme/flows/hello/ws"
	urls := []string{f.wsURL(path), "ws" + strings.TrimPrefix(ts2.URL, "http") + path}
	var eds []*editor
	for i := range 4 {
		e := newEditor(t, urls[i%2], f.cookies["editor"], cell, fmt.Sprintf("p%d", i))
		if err := e.connect(); err != nil {
			t.Fatal(err)
		}
		eds = append(eds, e)
	}
	var wg sync.WaitGroup
	for i, e := range eds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 3))
			for range 40 {
				time.Sleep(time.Duration(r.IntN(8)) * time.Millisecond)
				e.edit(r)
			}
		}()
	}
	wg.Wait()
	text := waitSettled(t, f.srv, f.flow.ID, cell, eds)
	if _, text2, _ := srv2.collab.Doc(ctx, f.flow.ID, cell); text2 != text {
		t.Fatalf("the second process has %q, the first %q", text2, text)
	}
	// A structure change on one process reaches the other's editors.
	c, _, _ := websocket.DefaultDialer.Dial(urls[1], http.Header{"Origin": {ts2.URL}, "Cookie": {sessionCookie + "=" + f.cookies["editor"]}})
	defer c.Close()
	readUntil(t, c, isType("hello"))
	a, _ := f.dial("editor", path)
	readUntil(t, a, isType("hello"))
	a.WriteJSON(map[string]any{"t": "cell.add", "id": 1, "kind": "shell", "name": "added"})
	readUntil(t, c, func(m map[string]any) bool {
		return m["t"] == "draft" && strings.Contains(fmt.Sprint(m["draft"]), "added")
	})
}
