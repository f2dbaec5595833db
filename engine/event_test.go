package engine

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestAppendJSONDecodes(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
	for _, e := range []Event{
		{Type: EventRunStarted, Run: "r_1", Seq: 1, At: at, Flow: "f", Version: 3, Hash: "h", Inputs: map[string]any{"a": 1.0}, Cells: []string{"a", "b"}},
		{Type: EventCellStarted, Run: "r_1", Seq: 2, At: at, Cell: "a", Attempt: 1},
		{Type: EventCellLog, Run: "r_1", Seq: 3, At: at, Cell: "a", Stream: StreamStdout, Lines: []string{"plain", `"quoted" \ back`, "<script>&", "tab\tnl\r", "\x00\x1f", "é ✓ 🚀", "\u2028\u2029"}},
		{Type: EventCellFinished, Run: "r_1", Seq: 4, At: at, Cell: "a", Status: "failed", Attempts: 2, DurationMS: 0, Result: json.RawMessage(`{"exit_code":1}`), Error: "exit status 1"},
		{Type: EventRunFinished, Run: "r_1", Seq: 5, At: at, Status: "failed", DurationMS: 900, Error: "cell a: exit status 1"},
	} {
		line := e.AppendJSON(nil)
		var got Event
		if err := json.Unmarshal(line, &got); err != nil {
			t.Fatalf("%s does not decode: %v", line, err)
		}
		if !strings.Contains(string(line), `"at":"2026-01-02T03:04:05.678Z"`) {
			t.Errorf("at not RFC 3339 with milliseconds: %s", line)
		}
		if got.Type != e.Type || got.Seq != e.Seq || strings.Join(got.Lines, "|") != strings.Join(e.Lines, "|") || got.Error != e.Error {
			t.Errorf("round trip of %s:\n got %+v\nwant %+v", line, got, e)
		}
		if strings.ContainsAny(string(line), "<>&\n") {
			t.Errorf("line is not safe to embed in HTML or one-per-line: %s", line)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "abc", "\xff\xfe", `"\`, "\u2028", "é\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := AppendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q encodes to invalid JSON %s: %v", s, b, err)
		}
		if want := strings.ToValidUTF8(s, "\ufffd"); got != want && utf8.ValidString(s) {
			t.Fatalf("round trip %q → %q", s, got)
		}
	})
}
