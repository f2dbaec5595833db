package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/opsbook/opsbook/engine"
)

// dial opens a WebSocket to path as role, from the server's own origin.
func (f *fixture) dial(role, path string) (*websocket.Conn, error) {
	f.t.Helper()
	u := "ws" + strings.TrimPrefix(f.ts.URL, "http") + path
	h := http.Header{}
	h.Set("Origin", f.ts.URL)
	if role != "" {
		if strings.HasPrefix(path, "/api/") {
			h.Set("Authorization", "Bearer "+f.tokens[role])
		} else {
			h.Set("Cookie", sessionCookie+"="+f.cookies[role])
		}
	}
	c, resp, err := websocket.DefaultDialer.Dial(u, h)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err == nil {
		f.t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// readUntil reads JSON messages until pred returns true, failing after 20 s.
func readUntil(t *testing.T, c *websocket.Conn, pred func(m map[string]any) bool) []map[string]any {
	t.Helper()
	var seen []map[string]any
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		_, data, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("read after %d messages (%v): %v", len(seen), seen, err)
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("message is not JSON: %s", data)
		}
		seen = append(seen, m)
		if pred(m) {
			return seen
		}
	}
}

func isType(t string) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["t"] == t }
}

func eventType(m map[string]any) string {
	if ev, ok := m["event"].(map[string]any); ok {
		s, _ := ev["type"].(string)
		return s
	}
	if s, ok := m["type"].(string); ok {
		return s
	}
	return ""
}

func TestNotebookSocketEditAndRun(t *testing.T) {
	f := setup(t, testDB)
	ed, err := f.dial("editor", "/w/acme/flows/hello/ws")
	if err != nil {
		t.Fatal(err)
	}
	viewer, err := f.dial("viewer", "/w/acme/flows/hello/ws")
	if err != nil {
		t.Fatal(err)
	}
	hello := readUntil(t, ed, isType("hello"))[0]
	readUntil(t, viewer, isType("hello"))
	cells := hello["draft"].(map[string]any)["cells"].([]any)
	greet := cells[0].(map[string]any)["id"].(string)

	// A whole-text edit (the legacy `source` message) is stored as one
	// change of the cell's document and reaches the other viewer as such.
	ed.WriteJSON(map[string]any{"t": "source", "id": 1, "cell": greet, "source": "echo hi {{ inputs.who }}; echo second\n"})
	readUntil(t, ed, isType("ack"))
	m := readUntil(t, viewer, isType("collab.updates"))
	if got := m[len(m)-1]; got["version"] != 0.0 || len(got["updates"].([]any)) != 1 {
		t.Fatalf("viewer got %v", got)
	}
	d, err := f.st.Draft(context.Background(), f.flow.ID)
	if err != nil || d.Flow.Cells[0].Source != "echo hi {{ inputs.who }}; echo second\n" {
		t.Fatalf("stored source %q, %v", d.Flow.Cells[0].Source, err)
	}

	// A viewer may not edit or run; the refusal does not close the socket.
	viewer.WriteJSON(map[string]any{"t": "source", "id": 2, "cell": greet, "source": "rm -rf /"})
	e := readUntil(t, viewer, isType("error"))
	if msg := e[len(e)-1]["message"].(string); !strings.Contains(msg, "viewer") {
		t.Errorf("refusal %q should name the role", msg)
	}
	viewer.WriteJSON(map[string]any{"t": "run", "id": 3})
	readUntil(t, viewer, isType("error"))

	// Structure: add a cell; everyone gets the new draft.
	ed.WriteJSON(map[string]any{"t": "cell.add", "id": 4, "after": greet, "kind": "expr", "name": "double"})
	dm := readUntil(t, viewer, isType("draft"))
	names := []string{}
	for _, c := range dm[len(dm)-1]["draft"].(map[string]any)["cells"].([]any) {
		names = append(names, c.(map[string]any)["name"].(string))
	}
	if strings.Join(names, ",") != "greet,double,answer" {
		t.Fatalf("cells after add: %v", names)
	}

	// Run all: both see the events live, ending with run.finished.
	ed.WriteJSON(map[string]any{"t": "run", "id": 5, "mode": "all", "inputs": map[string]any{"who": "team"}})
	for _, c := range []*websocket.Conn{ed, viewer} {
		evs := readUntil(t, c, func(m map[string]any) bool { return eventType(m) == "run.finished" })
		var lines []string
		for _, m := range evs {
			if eventType(m) == "cell.log" {
				for _, l := range m["event"].(map[string]any)["lines"].([]any) {
					lines = append(lines, l.(string))
				}
			}
		}
		if strings.Join(lines, "|") != "hi team|second" {
			t.Errorf("lines %v", lines)
		}
	}
}

func TestNotebookSocketBadInput(t *testing.T) {
	f := setup(t, testDB)
	other, err := f.dial("editor", "/w/acme/flows/hello/ws")
	if err != nil {
		t.Fatal(err)
	}
	readUntil(t, other, isType("hello"))
	for _, tc := range []struct {
		name string
		send func(c *websocket.Conn) error
		code int
	}{
		{"not json", func(c *websocket.Conn) error { return c.WriteMessage(websocket.TextMessage, []byte("{nope")) }, websocket.ClosePolicyViolation},
		{"unknown type", func(c *websocket.Conn) error { return c.WriteJSON(map[string]any{"t": "drop.tables"}) }, websocket.ClosePolicyViolation},
		{"missing fields", func(c *websocket.Conn) error { return c.WriteJSON(map[string]any{"t": "cell.move", "cell": "x"}) }, websocket.ClosePolicyViolation},
		{"binary", func(c *websocket.Conn) error { return c.WriteMessage(websocket.BinaryMessage, []byte{1, 2}) }, websocket.CloseUnsupportedData},
		// A close reason is at most 123 bytes: a longer one was never sent,
		// and the page saw an abnormal closure without a reason.
		{"long unknown type", func(c *websocket.Conn) error { return c.WriteJSON(map[string]any{"t": strings.Repeat("é", 200)}) }, websocket.ClosePolicyViolation},
		{"long id", func(c *websocket.Conn) error {
			return c.WriteJSON(map[string]any{"t": "ping", "id": strings.Repeat("7", 65)})
		}, websocket.ClosePolicyViolation},
		{"too big", func(c *websocket.Conn) error {
			return c.WriteMessage(websocket.TextMessage, []byte(`{"t":"source","cell":"x","source":"`+strings.Repeat("a", 3<<20)+`"}`))
		}, websocket.CloseMessageTooBig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := f.dial("editor", "/w/acme/flows/hello/ws")
			if err != nil {
				t.Fatal(err)
			}
			readUntil(t, c, isType("hello"))
			tc.send(c)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			for {
				_, _, err := c.ReadMessage()
				if err == nil {
					continue
				}
				var ce *websocket.CloseError
				if !errors.As(err, &ce) || ce.Code != tc.code || (ce.Text == "" && tc.code != websocket.CloseMessageTooBig) {
					t.Fatalf("closed with %v; want code %d and a reason", err, tc.code)
				}
				break
			}
		})
	}
	// The other client and the server go on.
	other.WriteJSON(map[string]any{"t": "ping", "id": 9})
	readUntil(t, other, isType("ack"))

	// A source over 1 MiB (but under the message limit) is refused with a
	// message, and the stored source is unchanged.
	d, _ := f.st.Draft(context.Background(), f.flow.ID)
	before := d.Flow.Cells[0].Source
	other.WriteJSON(map[string]any{"t": "source", "id": 10, "cell": d.Cells[0].ID, "source": strings.Repeat("x", 1<<20+1)})
	e := readUntil(t, other, isType("error"))
	if msg := e[len(e)-1]["message"].(string); !strings.Contains(msg, "1 MiB") {
		t.Errorf("message %q should say the limit", msg)
	}
	d, _ = f.st.Draft(context.Background(), f.flow.ID)
	if d.Flow.Cells[0].Source != before {
		t.Error("the stored source changed")
	}
}

func TestWebSocketOriginChecked(t *testing.T) {
	f := setup(t, testDB)
	u := "ws" + strings.TrimPrefix(f.ts.URL, "http") + "/w/acme/flows/hello/ws"
	h := http.Header{}
	h.Set("Origin", "https://evil.example")
	h.Set("Cookie", sessionCookie+"="+f.cookies["owner"])
	_, resp, err := websocket.DefaultDialer.Dial(u, h)
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin upgrade: err %v, resp %v; want 403", err, resp)
	}
	if _, err := f.dial("", "/w/acme/flows/hello/ws"); err == nil {
		t.Fatal("an anonymous upgrade was accepted")
	}
}

// TestRunEventsSince checks that a viewer arriving mid-run gets every event
// after since exactly once: history from storage, then live.
func TestRunEventsSince(t *testing.T) {
	for _, dialect := range []string{testDB} {
		t.Run(dialect, func(t *testing.T) {
			f := setup(t, dialect)
			fl := &engine.Flow{Name: "Slow", Cells: []engine.Cell{
				{Name: "slow", Kind: engine.KindShell, File: "slow.sh", Source: "for i in $(seq 1 40); do echo line $i; sleep 0.02; done\n"},
			}}
			r, err := f.srv.runs.Start(context.Background(), StartRequest{Workspace: f.ws, FlowID: f.flow.ID, FlowSlug: "hello", Flow: fl, StartedBy: f.users["owner"]})
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond) // arrive mid-run; correctness does not depend on it
			for _, tc := range []struct{ role, path string }{
				{"viewer", "/runs/" + r.ID + "/ws?since=2"},
				{"viewer", "/api/v1/runs/" + r.ID + "/events?since=2"},
			} {
				c, err := f.dial(tc.role, tc.path)
				if err != nil {
					t.Fatal(err)
				}
				evs := readUntil(t, c, func(m map[string]any) bool { return eventType(m) == "run.finished" })
				want := int64(3)
				var lines int
				for _, m := range evs {
					ev := m
					if e, ok := m["event"].(map[string]any); ok {
						ev = e
					}
					if m["t"] == "missed" {
						continue
					}
					seq := int64(ev["seq"].(float64))
					if seq != want {
						t.Fatalf("%s: seq %d; want %d (gap-free, no doubles)", tc.path, seq, want)
					}
					want++
					if ev["type"] == "cell.log" {
						lines += len(ev["lines"].([]any))
					}
				}
				if lines != 40 {
					t.Errorf("%s: %d lines; want 40", tc.path, lines)
				}
			}
		})
	}
}

// TestNotebookSocketRoleChange: lowering a member's role, or removing
// them, takes effect on a socket that is already open: it closes with a
// reason the page shows (credwatch_test.go has the rest).
func TestNotebookSocketRoleChange(t *testing.T) {
	f := setup(t, testDB)
	ctx := context.Background()
	for _, tc := range []struct {
		change func() error
		want   string
	}{
		{func() error { return f.st.AddMember(ctx, f.ws.ID, f.users["editor"].ID, "viewer") }, "your role changed to viewer; reload the page"},
		{func() error { return f.st.RemoveMember(ctx, f.ws.ID, f.users["editor"].ID) }, reasonRemoved},
	} {
		c, err := f.dial("editor", "/w/acme/flows/hello/ws")
		if err != nil {
			t.Fatal(err)
		}
		readUntil(t, c, isType("hello"))
		if err := tc.change(); err != nil {
			t.Fatal(err)
		}
		c.WriteJSON(map[string]any{"t": "cell.add", "id": 1, "kind": "shell"})
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			_, data, err := c.ReadMessage()
			if err == nil {
				if strings.Contains(string(data), `"ack"`) {
					t.Fatalf("cell.add accepted after the change: %s", data)
				}
				continue
			}
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation || ce.Text != tc.want {
				t.Fatalf("after the change: %v; want a policy close %q", err, tc.want)
			}
			break
		}
	}
}
