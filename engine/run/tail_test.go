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
	x39999 := strings.Repeat("x", 39999)
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
		{"past the bound, the end is kept within a quarter of it", 20, func(o *cellOutput) {
			o.Lines("stdout", []string{"aaaa", "bbbb", "cccc", "dddd"})
			o.Lines("stderr", []string{"e1", "e2", "e3"})
		}, []string{"stdout: aaaa", "stdout: bbbb", "stdout: cccc", "stdout: dddd", "stderr: e3"}, true},
		{"the last TailLines lines", 40000, func(o *cellOutput) {
			o.Lines("stdout", []string{x39999})
			for i := range 1500 {
				o.Lines("stdout", []string{fmt.Sprintf("n%d", i)})
			}
		}, append([]string{"stdout: " + x39999}, ring...), true},
		{"streams keep their order, masked at the end", 400, func(o *cellOutput) {
			o.Lines("stdout", []string{x399, "ab", "cd"})
			o.Lines("stderr", []string{"e " + secret})
			o.Lines("stdout", []string{"gh"})
		}, []string{"stdout: " + x399, "stdout: ab", "stdout: cd", "stderr: e ***", "stdout: gh"}, false},
		{"one huge line keeps its masked start", 400, func(o *cellOutput) {
			o.Lines("stdout", []string{x399})
			o.Lines("stdout", []string{secret + strings.Repeat("y", 500)})
		}, []string{"stdout: " + x399, "stdout: ***" + strings.Repeat("y", 96)}, false},
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
