package server

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opsbook/opsbook/account"
	"github.com/opsbook/opsbook/engine"
)

func decode(t *testing.T, resp *http.Response) map[string]any {
	t.Helper()
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("answer is not JSON: %v", err)
	}
	return m
}

func TestAPIStartRunWaitsAndValidates(t *testing.T) {
	f := setup(t, testDB)
	for _, tc := range []struct {
		name, body string
		status     int
		check      func(t *testing.T, m map[string]any)
	}{
		{"wait for the end", `{"inputs":{"who":"api"},"wait":"30s"}`, 201, func(t *testing.T, m map[string]any) {
			if m["status"] != "succeeded" || m["version"] != float64(1) {
				t.Fatalf("run %v", m)
			}
			cells := m["cells"].([]any)
			greet := cells[0].(map[string]any)
			if greet["kind"] != "shell" || greet["result"].(map[string]any)["stdout"] != "hello api\n" {
				t.Fatalf("greet %v", greet)
			}
		}},
		{"draft", `{"version":"draft","wait":"30s"}`, 201, func(t *testing.T, m map[string]any) {
			if m["version"] != "draft" || m["status"] != "succeeded" {
				t.Fatalf("run %v", m)
			}
		}},
		{"undeclared input", `{"inputs":{"nope":1}}`, 422, func(t *testing.T, m map[string]any) {
			e := m["error"].(map[string]any)
			if e["field"] != "inputs.nope" || !strings.Contains(e["message"].(string), "unknown input") {
				t.Fatalf("error %v", e)
			}
		}},
		{"no such version", `{"version":7}`, 404, nil},
		{"no published version", `{"version":"published"}`, 409, nil},
		{"not JSON", `{"inputs":`, 400, nil},
		{"bad wait", `{"wait":"forever"}`, 400, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := f.do("runner", "POST", "/api/v1/flows/hello/runs", tc.body)
			if resp.StatusCode != tc.status {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d; want %d: %s", resp.StatusCode, tc.status, b)
			}
			m := decode(t, resp)
			if tc.check != nil {
				tc.check(t, m)
			}
			if tc.status >= 400 {
				if e, ok := m["error"].(map[string]any); !ok || e["code"] == "" || e["message"] == "" {
					t.Fatalf("error body %v lacks code and message", m)
				}
			}
		})
	}
}

func TestAPIEventsServerSent(t *testing.T) {
	f := setup(t, testDB)
	resp := f.do("viewer", "GET", "/api/v1/runs/"+f.run+"/events?since=1", "")
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	want := 2
	last := ""
	for sc.Scan() {
		line := sc.Text()
		if id, ok := strings.CutPrefix(line, "id: "); ok {
			if id != itoa(want) {
				t.Fatalf("id %s; want %d", id, want)
			}
			want++
		}
		if ev, ok := strings.CutPrefix(line, "event: "); ok {
			last = ev
		}
	}
	if last != "run.finished" || want < 5 {
		t.Fatalf("stream ended after %d events with %q", want-2, last)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func targz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, data := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
		tw.Write([]byte(data))
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

func TestAPICreateFlowValidatesFirst(t *testing.T) {
	f := setup(t, testDB)
	good := map[string]string{
		"report/flow.yaml": "name: Report\ncells:\n  - name: a\n    kind: shell\n    file: a.sh\n",
		"report/a.sh":      "echo ok\n",
	}
	bad := map[string]string{
		"broken/flow.yaml": "name: Broken\ncells:\n  - name: a\n    kind: shell\n    file: a.sh\n  - name: b\n    kind: expr\n    file: b.expr\n",
		"broken/a.sh":      "echo {{ cells.b.value }}\n",
		"broken/b.expr":    "1\n",
	}
	for _, tc := range []struct {
		name   string
		body   []byte
		ct     string
		status int
		want   string
	}{
		{"folder", targz(t, good), "application/gzip", 201, `"slug":"report"`},
		{"again", targz(t, good), "application/gzip", 409, "already exists"},
		{"later cell", targz(t, bad), "application/gzip", 422, "a.sh:1:"},
		{"traversal", targz(t, map[string]string{"../evil/flow.yaml": "x"}), "application/gzip", 400, "leaves the folder"},
		{"not an archive", []byte("hello"), "application/zip", 400, "zip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := f.do("editor", "POST", "/api/v1/flows", string(tc.body), "Content-Type", tc.ct)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.want) {
				t.Fatalf("status %d body %s; want %d containing %q", resp.StatusCode, b, tc.status, tc.want)
			}
		})
	}
	flows, _ := f.st.Flows(t.Context(), f.ws.ID)
	if len(flows) != 2 {
		t.Fatalf("%d flows stored; want hello and report only", len(flows))
	}
}

// TestAPIEventsSlowClientMissesNothing: with a queue of one message, a
// streaming client falls behind at once; it is caught up from storage and
// still gets every event once, in order.
func TestAPIEventsSlowClientMissesNothing(t *testing.T) {
	f := setupWith(t, testDB, Config{SSEQueue: 1})
	fl := &engine.Flow{Name: "Chatty", Cells: []engine.Cell{
		{Name: "chatty", Kind: engine.KindShell, File: "chatty.sh", Source: "for i in $(seq 1 400); do echo line $i; done\n"},
	}}
	r, err := f.srv.runs.Start(t.Context(), StartRequest{Workspace: f.ws, FlowID: f.flow.ID, FlowSlug: "hello", Flow: fl, StartedBy: f.users["owner"]})
	if err != nil {
		t.Fatal(err)
	}
	resp := f.do("viewer", "GET", "/api/v1/runs/"+r.ID+"/events", "")
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	want, lines := int64(1), 0
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var ev engine.Event
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Seq != want {
			t.Fatalf("seq %d; want %d (nothing missed, nothing doubled)", ev.Seq, want)
		}
		want++
		lines += len(ev.Lines)
	}
	if lines != 400 {
		t.Fatalf("%d lines; want 400", lines)
	}
}

// TestSignInThrottled: after many failed sign-ins for a name from one
// address, even the right password is refused for a while, with a message
// saying so; the same name from elsewhere and other names from here are not.
func TestSignInThrottled(t *testing.T) {
	f := setup(t, testDB)
	try := func(pw string) (int, string) {
		resp := f.do("", "POST", "/signin", "name=owner&password="+pw)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	for i := 0; i < pairBackoff.free; i++ {
		if code, _ := try("wrong"); code != http.StatusUnauthorized {
			t.Fatalf("failed sign-in %d: status %d", i, code)
		}
	}
	code, page := try("correct horse battery")
	if code != http.StatusTooManyRequests || !strings.Contains(page, "too many failed sign-ins") {
		t.Fatalf("after %d failures: status %d", pairBackoff.free, code)
	}
	if w, _ := f.srv.signins.wait(t.Context(), time.Now(), "192.0.2.1", "owner"); w != 0 {
		t.Fatalf("the same name from another address waits %s", w)
	}
	if w, _ := f.srv.signins.wait(t.Context(), time.Now(), "127.0.0.1", "editor"); w != 0 {
		t.Fatalf("another name from the same address waits %s", w)
	}
}

// TestChangePassword: the current password is needed; the new one works,
// the old one no longer does, and other browsers are signed out.
func TestChangePassword(t *testing.T) {
	f := setup(t, testDB)
	other, hash := account.NewToken("")
	if _, err := f.st.CreateSession(t.Context(), f.users["editor"].ID, hash, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	resp := f.do("editor", "POST", "/account/password", "current=wrong&password=new-password-1&password_again=new-password-1")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(b), "not your current password") {
		t.Fatalf("wrong current password: %d", resp.StatusCode)
	}
	resp = f.do("editor", "POST", "/account/password", "current=correct+horse+battery&password=new-password-1&password_again=new-password-1")
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("change: %d", resp.StatusCode)
	}
	for pw, want := range map[string]int{"correct+horse+battery": http.StatusUnauthorized, "new-password-1": http.StatusSeeOther} {
		resp := f.do("", "POST", "/signin", "name=editor&password="+pw)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("sign in with %s: %d; want %d", pw, resp.StatusCode, want)
		}
	}
	// The browser that changed it stays signed in; another one is out.
	if _, _, err := f.st.SessionUser(t.Context(), account.TokenHash(f.cookies["editor"])); err != nil {
		t.Errorf("the changing browser was signed out: %v", err)
	}
	if _, _, err := f.st.SessionUser(t.Context(), account.TokenHash(other)); err == nil {
		t.Error("another browser of the user is still signed in")
	}
}

// TestChangePasswordGuessesLimited: the current-password check of the
// account page shares the sign-in limits, so a stolen session cannot guess
// the password there without end.
func TestChangePasswordGuessesLimited(t *testing.T) {
	f := setup(t, testDB)
	form := "current=wrong&password=new-password-1&password_again=new-password-1"
	limited := false
	for i := 0; i < 40 && !limited; i++ {
		resp := f.do("editor", "POST", "/account/password", form)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusUnprocessableEntity:
		case http.StatusTooManyRequests:
			limited = true
			if resp.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		default:
			t.Fatalf("guess %d: status %d", i, resp.StatusCode)
		}
	}
	if !limited {
		t.Fatal("40 wrong current passwords were all checked")
	}
	// While limited, even the right one waits; sign-in for the name too.
	resp := f.do("editor", "POST", "/account/password", "current=correct+horse+battery&password=new-password-1&password_again=new-password-1")
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("right password while limited: %d; want 429", resp.StatusCode)
	}
}
