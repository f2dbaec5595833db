package engine

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"
)

// EventType names a run event.
type EventType string

// Run event types (docs/API.md, "Run events").
const (
	EventRunStarted   EventType = "run.started"
	EventCellStarted  EventType = "cell.started"
	EventCellLog      EventType = "cell.log"
	EventCellFinished EventType = "cell.finished"
	EventRunFinished  EventType = "run.finished"
	// EventApprovalRequested: an approval cell waits for people (status
	// "waiting"); the run stops here and holds no worker until they
	// decide.
	EventApprovalRequested EventType = "approval.requested"
	// EventApprovalDecided: an approval cell was decided (status
	// "approved" or "rejected"); its cell.finished follows.
	EventApprovalDecided EventType = "approval.decided"
	// EventRunResumed: a run that waited goes on (status "running"), its
	// first event in that part; run.started is sent once per run.
	EventRunResumed EventType = "run.resumed"
)

// Streams of a cell.log event.
const (
	StreamStdout = "stdout"
	StreamStderr = "stderr"
	// StreamPruned marks the one cell.log event that stands, at its first
	// seq, for a cell's log lines pruned by the workspace's retention.
	StreamPruned = "pruned"
)

// TimeFormat is RFC 3339 with milliseconds, the form of every event's `at`.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// Event is one run event. One model serves the WebSocket, the API and
// `opsbook run --json`; fields not used by a type are left zero and omitted.
type Event struct {
	Type EventType `json:"type"`
	Run  string    `json:"run"`
	Seq  int64     `json:"seq"`
	At   time.Time `json:"at"`

	// run.started
	Flow    string         `json:"flow,omitempty"`
	Version int            `json:"version,omitempty"`
	Hash    string         `json:"hash,omitempty"`
	Inputs  map[string]any `json:"inputs,omitempty"`
	Cells   []string       `json:"cells,omitempty"` // the cells that will be scheduled, in order

	// cell.*
	Cell     string   `json:"cell,omitempty"`
	Attempt  int      `json:"attempt,omitempty"`
	Stream   string   `json:"stream,omitempty"`
	Lines    []string `json:"lines,omitempty"`
	Attempts int      `json:"attempts,omitempty"`

	// cell.finished and run.finished
	Status     string          `json:"status,omitempty"`
	DurationMS int64           `json:"duration_ms"`
	Result     json.RawMessage `json:"result,omitempty"` // masked JSON of the cell's result
	Error      string          `json:"error,omitempty"`
}

// AppendJSON appends the event as one line of JSON (without a newline).
// It is the hot path of log streaming, so it is written out by hand; its
// output decodes with encoding/json into Event.
func (e *Event) AppendJSON(b []byte) []byte {
	b = append(b, `{"type":`...)
	b = AppendString(b, string(e.Type))
	b = append(b, `,"run":`...)
	b = AppendString(b, e.Run)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, e.Seq, 10)
	b = append(b, `,"at":"`...)
	b = e.At.UTC().AppendFormat(b, TimeFormat)
	b = append(b, '"')
	if e.Flow != "" {
		b = append(b, `,"flow":`...)
		b = AppendString(b, e.Flow)
	}
	if e.Type == EventRunStarted {
		b = append(b, `,"version":`...)
		b = strconv.AppendInt(b, int64(e.Version), 10)
	}
	if e.Hash != "" {
		b = append(b, `,"hash":`...)
		b = AppendString(b, e.Hash)
	}
	if e.Inputs != nil {
		if raw, err := json.Marshal(e.Inputs); err == nil {
			b = append(b, `,"inputs":`...)
			b = append(b, raw...)
		}
	}
	if e.Cells != nil {
		b = append(b, `,"cells":[`...)
		for i, c := range e.Cells {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendString(b, c)
		}
		b = append(b, ']')
	}
	if e.Cell != "" {
		b = append(b, `,"cell":`...)
		b = AppendString(b, e.Cell)
	}
	if e.Attempt != 0 {
		b = append(b, `,"attempt":`...)
		b = strconv.AppendInt(b, int64(e.Attempt), 10)
	}
	if e.Stream != "" {
		b = append(b, `,"stream":`...)
		b = AppendString(b, e.Stream)
	}
	if e.Type == EventCellLog {
		b = append(b, `,"lines":[`...)
		for i, l := range e.Lines {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendString(b, l)
		}
		b = append(b, ']')
	}
	if e.Status != "" {
		b = append(b, `,"status":`...)
		b = AppendString(b, e.Status)
	}
	if e.Type == EventCellFinished {
		b = append(b, `,"attempts":`...)
		b = strconv.AppendInt(b, int64(e.Attempts), 10)
	}
	if e.Type == EventCellFinished || e.Type == EventRunFinished {
		b = append(b, `,"duration_ms":`...)
		b = strconv.AppendInt(b, e.DurationMS, 10)
	}
	if len(e.Result) > 0 {
		b = append(b, `,"result":`...)
		b = append(b, e.Result...)
	}
	if e.Error != "" {
		b = append(b, `,"error":`...)
		b = AppendString(b, e.Error)
	}
	return append(b, '}')
}

// MarshalJSON encodes the event as AppendJSON does.
func (e Event) MarshalJSON() ([]byte, error) { return e.AppendJSON(nil), nil }

const hex = "0123456789abcdef"

// jsonSafe marks the ASCII bytes that go into a JSON string as they are.
var jsonSafe = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// AppendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, so
// a cell printing binary bytes still yields valid JSON.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if jsonSafe[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				// control characters and <, >, & (safe inside HTML)
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
