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

// runSentence says how the run went in one plain sentence, with no run
// id and no kinds: "Finished in 4 s — all 3 steps succeeded.", "Failed at
// step “load” after 2 s.". static/src/runpage.js writes the same words
// live (runSentence there).
func runSentence(p RunProps) string {
	done, total := doneCells(p), len(p.Cells)
	d := duration(p.Run.DurationMS)
	switch p.Run.Status {
	case "succeeded":
		return "Finished in " + d + " — " + stepsOutcome(p) + "."
	case "failed":
		// The run's error names the step that failed it ("cell NAME: …");
		// a failed step with continue_on_error did not.
		if rest, ok := strings.CutPrefix(p.Error, "cell "); ok {
			if name, _, ok := strings.Cut(rest, ":"); ok {
				return "Failed at step “" + name + "” after " + d + "."
			}
		}
		for i := len(p.Cells) - 1; i >= 0; i-- {
			if c := p.Cells[i]; c.Output.Status == "failed" {
				return "Failed at step “" + c.Name + "” after " + d + "."
			}
		}
		return "Failed after " + d + "."
	case "canceled":
		return "Stopped before it finished."
	case "skipped":
		return "Skipped: another run of this flow was still going."
	case "queued":
		return "Waiting to start."
	case "waiting":
		return "Waiting for a decision: " + itoa(done) + " of " + itoa(total) + " steps done."
	}
	return "In progress: " + itoa(done) + " of " + itoa(total) + " steps done."
}

// stepsOutcome counts a finished run's steps: "all 3 steps succeeded",
// "2 of 3 steps succeeded, 1 skipped".
func stepsOutcome(p RunProps) string {
	var ok, skipped, failed int
	for _, c := range p.Cells {
		switch c.Output.Status {
		case "succeeded":
			ok++
		case "skipped":
			skipped++
		case "failed":
			failed++
		}
	}
	return stepsWords(ok, skipped, failed, len(p.Cells))
}

func stepsWords(ok, skipped, failed, total int) string {
	switch {
	case total == 0:
		return "there were no steps"
	case ok == total && total == 1:
		return "its one step succeeded"
	case ok == total:
		return "all " + itoa(total) + " steps succeeded"
	}
	s := itoa(ok) + " of " + itoa(total) + " steps succeeded"
	if skipped > 0 {
		s += ", " + itoa(skipped) + " skipped"
	}
	if failed > 0 {
		s += ", " + itoa(failed) + " failed"
	}
	return s
}

// isResult tells a step whose output people who do not read code care
// about (prose, tables, values, charts) from one whose output is a log or
// a response; the plain page shows the first kind and folds the second
// away.
func isResult(c RunCell) bool {
	switch c.Kind {
	case "markdown", "sql", "expr":
		return true
	case "shell", "python":
		// The outputs a script chose to give (its $OPSBOOK_OUTPUT), not its log.
		return chartSource(c.Kind, &c.Output) != ""
	}
	return false // http: a status, headers and a body are for the details
}

// stepTitle is a step's name as a heading: "load_orders" → "Load orders".
func stepTitle(name string) string {
	s := strings.ReplaceAll(name, "_", " ")
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// askedValue says an input's value as people read it.
func askedValue(a AskedInput) string {
	if a.Type == "boolean" {
		switch a.Value {
		case "true":
			return "Yes"
		case "false":
			return "No"
		}
	}
	if a.Value == "" {
		return "—"
	}
	return a.Value
}

func hasResults(p RunProps) bool {
	for _, c := range p.Cells {
		if isResult(c) {
			return true
		}
	}
	return false
}

// fieldLabel is what a form shows above a field: its label, else its name.
func fieldLabel(f FormField) string {
	if f.Label != "" {
		return f.Label
	}
	return f.Name
}

func anyRequired(fs []FormField) bool {
	for _, f := range fs {
		if f.Required {
			return true
		}
	}
	return false
}

// maskedAsked names the asked inputs Run again leaves out, by label, or
// is "" when there are none.
func maskedAsked(asked []AskedInput) string {
	var out []string
	for _, a := range asked {
		if a.Masked {
			out = append(out, a.Label)
		}
	}
	return strings.Join(out, ", ")
}
