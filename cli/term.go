package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/executor"
)

// jsonSink writes each event as one line of JSON.
type jsonSink struct {
	mu  sync.Mutex
	w   *bufio.Writer
	buf []byte
}

func newJSONSink(w io.Writer) *jsonSink { return &jsonSink{w: bufio.NewWriterSize(w, 64<<10)} }

func (s *jsonSink) Emit(e *engine.Event) {
	s.mu.Lock()
	s.buf = e.AppendJSON(s.buf[:0])
	s.buf = append(s.buf, '\n')
	s.w.Write(s.buf)
	s.w.Flush()
	s.mu.Unlock()
}

// termSink prints a run for people: a header per cell, its lines, a
// closing status line with durations; colour only on a terminal.
type termSink struct {
	w      *bufio.Writer
	color  bool
	graph  bool
	kinds  map[string]engine.Kind
	total  int
	counts map[string]int
	last   string // cell of the previous log line, to re-label interleaved output
}

func newTermSink(w io.Writer, color, graph bool, kinds map[string]engine.Kind) *termSink {
	return &termSink{w: bufio.NewWriterSize(w, 64<<10), color: color, graph: graph, kinds: kinds, counts: map[string]int{}}
}

// isTerminal reports whether f is a character device and NO_COLOR is unset.
func isTerminal(f *os.File) bool {
	if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	return isCharDevice(f)
}

// isCharDevice reports whether f is a terminal (or another character
// device), whatever NO_COLOR says.
func isCharDevice(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

const (
	cReset  = "\x1b[0m"
	cBold   = "\x1b[1m"
	cDim    = "\x1b[2m"
	cRed    = "\x1b[31m"
	cGreen  = "\x1b[32m"
	cYellow = "\x1b[33m"
	cBlue   = "\x1b[34m"
)

func (t *termSink) c(code, s string) string {
	if !t.color {
		return s
	}
	return code + s + cReset
}

func (t *termSink) Emit(e *engine.Event) {
	switch e.Type {
	case engine.EventRunStarted:
		t.total = len(e.Cells)
		fmt.Fprintf(t.w, "%s %s\n", t.c(cBold, "Running "+e.Flow), t.c(cDim, fmt.Sprintf("(%d cells, run %s)", len(e.Cells), e.Run)))
	case engine.EventCellStarted:
		t.last = ""
		if e.Attempt > 1 {
			fmt.Fprintf(t.w, "%s %s %s\n", t.c(cYellow, "↻"), t.c(cBold, e.Cell), t.c(cDim, fmt.Sprintf("attempt %d", e.Attempt)))
		} else {
			fmt.Fprintf(t.w, "%s %s %s\n", t.c(cBlue, "▶"), t.c(cBold, e.Cell), t.c(cDim, string(t.kinds[e.Cell])))
		}
	case engine.EventCellLog:
		prefix := "  │ "
		if t.graph {
			prefix = "  " + e.Cell + " │ "
		}
		prefix = t.c(cDim, prefix)
		for _, l := range e.Lines {
			if e.Stream == engine.StreamStderr {
				l = t.c(cRed, l)
			}
			t.w.WriteString(prefix)
			t.w.WriteString(l)
			t.w.WriteByte('\n')
		}
	case engine.EventCellFinished:
		t.counts[e.Status]++
		d := human(time.Duration(e.DurationMS) * time.Millisecond)
		if t.kinds[e.Cell] == engine.KindHTTP {
			t.httpBody(e)
		}
		switch engine.CellStatus(e.Status) {
		case engine.CellSucceeded:
			if t.kinds[e.Cell] == engine.KindMarkdown {
				var m engine.MarkdownResult
				json.Unmarshal(e.Result, &m)
				fmt.Fprintf(t.w, "%s %s\n", t.c(cDim, "¶"), t.c(cBold, e.Cell))
				for _, l := range strings.Split(strings.TrimRight(m.Text, "\n"), "\n") {
					fmt.Fprintf(t.w, "  %s\n", t.c(cDim, l))
				}
				break
			}
			extra := ""
			if t.kinds[e.Cell] == engine.KindApproval {
				extra = approvalNote(e.Result)
			}
			if t.kinds[e.Cell] == engine.KindExpr {
				var x struct{ Value json.RawMessage }
				if json.Unmarshal(e.Result, &x) == nil {
					extra = " = " + clip(string(x.Value), 200)
				}
			}
			fmt.Fprintf(t.w, "%s %s %s%s\n", t.c(cGreen, "✓"), e.Cell, t.c(cDim, "succeeded in "+d+attemptsNote(e.Attempts)), extra)
		case engine.CellFailed:
			fmt.Fprintf(t.w, "%s %s %s: %s\n", t.c(cRed, "✗"), t.c(cBold, e.Cell), t.c(cRed, "failed after "+d+attemptsNote(e.Attempts)), e.Error)
		case engine.CellSkipped:
			fmt.Fprintf(t.w, "%s %s %s\n", t.c(cDim, "○"), e.Cell, t.c(cDim, "skipped: "+e.Error))
		case engine.CellCanceled:
			fmt.Fprintf(t.w, "%s %s %s\n", t.c(cYellow, "■"), e.Cell, t.c(cYellow, "canceled"))
		}
	case engine.EventRunFinished:
		var parts []string
		for _, st := range []string{"succeeded", "failed", "skipped", "canceled"} {
			if n := t.counts[st]; n > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", n, st))
			}
		}
		code := cGreen
		if e.Status != string(engine.RunSucceeded) {
			code = cRed
		}
		line := fmt.Sprintf("Run %s in %s", e.Status, human(time.Duration(e.DurationMS)*time.Millisecond))
		if len(parts) > 0 {
			line += " · " + strings.Join(parts, " · ")
		}
		fmt.Fprintln(t.w, t.c(cBold+code, line))
		if e.Error != "" && e.Status != string(engine.RunSucceeded) {
			fmt.Fprintln(t.w, t.c(code, e.Error))
		}
	}
	t.w.Flush()
}

// approvalNote says who approved an approval cell, and why.
func approvalNote(result []byte) string {
	var r engine.ApprovalResult
	if json.Unmarshal(result, &r) != nil || r.By == "" {
		return ""
	}
	s := ": approved by " + r.By
	if r.Comment != "" {
		s += " (" + clip(r.Comment, 200) + ")"
	}
	return s
}

func attemptsNote(n int) string {
	if n > 1 {
		return fmt.Sprintf(" (%d attempts)", n)
	}
	return ""
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// human formats a duration for people: 42ms, 1.2s, 3m04s.
func human(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// httpBody prints the start of an http cell's response body under it: the
// log holds only the request and its status, the body is in the result.
func (t *termSink) httpBody(e *engine.Event) {
	var r struct{ Body any }
	d := json.NewDecoder(bytes.NewReader(e.Result))
	d.UseNumber()
	if len(e.Result) == 0 || d.Decode(&r) != nil {
		return
	}
	prefix := "  │ "
	if t.graph {
		prefix = "  " + e.Cell + " │ "
	}
	prefix = t.c(cDim, prefix)
	for _, l := range executor.BodyPreview(r.Body) {
		t.w.WriteString(prefix)
		t.w.WriteString(l)
		t.w.WriteByte('\n')
	}
}
