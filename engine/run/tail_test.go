package run

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
)

// TestCellLogTail: past Options.MaxCellLog a cell's lines go to a ring of
// its last lines, emitted when it ends after a line that counts what was
// dropped; what is emitted is masked, streams keep their order, and one
// huge line keeps its (masked) start.
func TestCellLogTail(t *testing.T) {
	const secret = "s3cr3t-value"
	x399 := strings.Repeat("x", 399) // with its line end, 400 bytes
	x79999 := strings.Repeat("x", 79999)
	var ring []string
	for i := 500; i < 1500; i++ {
		ring = append(ring, fmt.Sprintf("stdout: n%d", i))
	}
	tests := []struct {
		name  string
		max   int64
		feed  func(o *cellOutput)
		want  []string // "stream: line" of every emitted line, in order
		noted bool     // a line counts dropped lines
	}{
		{"under the bound, all live", 1000, func(o *cellOutput) {
			o.Lines("stdout", []string{"a", "b"})
		}, []string{"stdout: a", "stdout: b"}, false},
		{"past the bound, each stream's end within its share of a quarter", 40, func(o *cellOutput) {
			o.Lines("stdout", []string{"a000", "a001", "a002", "a003", "a004", "a005", "a006", "a007"})
			o.Lines("stderr", []string{"e1", "e2", "e3"})
		}, []string{"stdout: a000", "stdout: a001", "stdout: a002", "stdout: a003", "stdout: a004", "stdout: a005", "stdout: a006", "stdout: a007", "stderr: e3"}, true},
		{"a flood on stdout does not push out the error before it", 40, func(o *cellOutput) {
			o.Lines("stdout", []string{"a000", "a001", "a002", "a003", "a004", "a005", "a006", "a007"})
			o.Lines("stderr", []string{"oops"})
			for i := range 50 {
				o.Lines("stdout", []string{fmt.Sprint(i % 10)})
			}
		}, []string{"stdout: a000", "stdout: a001", "stdout: a002", "stdout: a003", "stdout: a004", "stdout: a005", "stdout: a006", "stdout: a007", "stderr: oops", "stdout: 8", "stdout: 9"}, true},
		{"the last TailLines lines", 80000, func(o *cellOutput) {
			o.Lines("stdout", []string{x79999})
			for i := range 1500 {
				o.Lines("stdout", []string{fmt.Sprintf("n%d", i)})
			}
		}, append([]string{"stdout: " + x79999}, ring...), true},
		{"streams keep their order, masked at the end", 400, func(o *cellOutput) {
			o.Lines("stdout", []string{x399, "ab", "cd"})
			o.Lines("stderr", []string{"e " + secret})
			o.Lines("stdout", []string{"gh"})
		}, []string{"stdout: " + x399, "stdout: ab", "stdout: cd", "stderr: e ***", "stdout: gh"}, false},
		{"one huge line keeps its masked start", 400, func(o *cellOutput) {
			o.Lines("stdout", []string{x399})
			o.Lines("stdout", []string{secret + strings.Repeat("y", 500)})
		}, []string{"stdout: " + x399, "stdout: ***" + strings.Repeat("y", 46)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			noted := false
			r := &runner{o: Options{MaxCellLog: tt.max, Now: time.Now, Sink: SinkFunc(func(e *engine.Event) {
				for _, l := range e.Lines {
					if strings.Contains(l, "not kept") {
						noted = true
						continue
					}
					got = append(got, e.Stream+": "+l)
				}
			})}, masker: NewMasker([]string{secret})}
			o := &cellOutput{r: r, cell: "c"}
			tt.feed(o)
			o.flush()
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("emitted\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if noted != tt.noted {
				t.Errorf("a line counting the dropped lines: %v, want %v", noted, tt.noted)
			}
		})
	}
}
