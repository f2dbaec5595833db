package views

import (
	"fmt"
	"time"

	"github.com/a-h/templ"
)

func runSocket(p RunProps) string {
	if p.Socket != "" {
		return p.Socket
	}
	return runPath(p.Run.ID) + "/ws?since=" + i64toa(p.Since)
}

func doneCells(p RunProps) int {
	n := 0
	for _, c := range p.Cells {
		if final(c.Output.Status) {
			n++
		}
	}
	return n
}

func pct(n, total int) templ.SafeCSS {
	if total == 0 {
		return "width:0%"
	}
	return templ.SafeCSS(fmt.Sprintf("width:%.2f%%", 100*float64(n)/float64(total)))
}

func tlStatus(c RunCell) string {
	if c.Output.Status == "" {
		return "pending"
	}
	return c.Output.Status
}

// barStyle places a cell's Gantt bar on the run's time axis.
func barStyle(p RunProps, c RunCell) templ.SafeCSS {
	o := c.Output
	if o.StartedAt.IsZero() || p.Run.StartedAt.IsZero() {
		return "width:0"
	}
	end := p.FinishedAt
	if end.IsZero() {
		end = p.Page.now()
	}
	total := end.Sub(p.Run.StartedAt)
	if total <= 0 {
		total = time.Millisecond
	}
	cellEnd := o.FinishedAt
	if cellEnd.IsZero() {
		cellEnd = end
	}
	left := 100 * float64(max(0, o.StartedAt.Sub(p.Run.StartedAt))) / float64(total)
	width := 100 * float64(max(0, cellEnd.Sub(o.StartedAt))) / float64(total)
	return templ.SafeCSS(fmt.Sprintf("margin-left:%.2f%%;width:max(2px, %.2f%%)", min(left, 100), min(width, 100-min(left, 100))))
}
