package views

import (
	"net/url"
	"strings"
)

// expiryOptions are the share links' lifetimes offered: value, label.
var expiryOptions = [][2]string{{"24h", "1 day"}, {"168h", "7 days"}, {"720h", "30 days"}, {"2160h", "90 days"}}

// cellLog is where a cell's whole log is: the studio's run log, or the
// share link's.
func cellLog(p RunProps, cell string) string {
	if p.LogBase == "" {
		return logPath(p.Run.ID, cell)
	}
	return p.LogBase + "?cell=" + url.QueryEscape(cell)
}

// maxChartJSON bounds the result a page hands its chart code.
const maxChartJSON = 64 << 10

// chartSource is a cell's result for static/src/chart.js, which draws it
// when it is a series; "" when there is none or it is too large.
func chartSource(c RunCell) string {
	if c.Kind == "markdown" || len(c.Output.Result) == 0 || len(c.Output.Result) > maxChartJSON {
		return ""
	}
	return string(c.Output.Result)
}

// runSentence says how the run went in one plain sentence.
func runSentence(p RunProps) string {
	done, total := doneCells(p), len(p.Cells)
	switch p.Run.Status {
	case "succeeded":
		return "This run finished successfully in " + duration(p.Run.DurationMS) + "."
	case "failed":
		// The run's error names the step that failed it ("cell NAME: …");
		// a failed step with continue_on_error did not.
		if rest, ok := strings.CutPrefix(p.Error, "cell "); ok {
			if name, _, ok := strings.Cut(rest, ":"); ok {
				return "This run failed at step “" + name + "” after " + duration(p.Run.DurationMS) + "."
			}
		}
		for i := len(p.Cells) - 1; i >= 0; i-- {
			if c := p.Cells[i]; c.Output.Status == "failed" {
				return "This run failed at step “" + c.Name + "” after " + duration(p.Run.DurationMS) + "."
			}
		}
		return "This run failed after " + duration(p.Run.DurationMS) + "."
	case "canceled":
		return "This run was stopped before it finished."
	case "queued":
		return "This run is waiting to start."
	}
	return "This run is in progress: " + itoa(done) + " of " + itoa(total) + " steps done."
}
