package views

import "github.com/opsbook/opsbook/engine"

// DefaultMaxLines is how many of a cell's last lines a page renders; the
// browser continues live from there and the whole log is a download.
const DefaultMaxLines = 1000

// OutputsFromEvents folds one run's events into each cell's output as a page
// first shows it, keeping each cell's last maxLines lines (DefaultMaxLines
// when maxLines <= 0). It also returns the last seq seen, for `since`.
func OutputsFromEvents(events []engine.Event, maxLines int) (map[string]*CellOutput, int64) {
	if maxLines <= 0 {
		maxLines = DefaultMaxLines
	}
	outs := map[string]*CellOutput{}
	var since int64
	get := func(name string) *CellOutput {
		o := outs[name]
		if o == nil {
			o = &CellOutput{Status: string(engine.CellPending)}
			outs[name] = o
		}
		return o
	}
	for i := range events {
		ev := &events[i]
		since = max(since, ev.Seq)
		switch ev.Type {
		case engine.EventRunStarted:
			for _, c := range ev.Cells {
				get(c)
			}
		case engine.EventCellStarted:
			o := get(ev.Cell)
			o.Status = string(engine.CellRunning)
			o.Attempts = ev.Attempt
			if o.StartedAt.IsZero() {
				o.StartedAt = ev.At
			}
			if ev.Attempt > 1 {
				o.Lines = append(o.Lines, Line{Stream: engine.StreamStderr, Text: "── attempt " + itoa(ev.Attempt) + " ──"})
			}
		case engine.EventCellLog:
			o := get(ev.Cell)
			for _, l := range ev.Lines {
				o.Lines = append(o.Lines, Line{Stream: ev.Stream, Text: l})
			}
			// Trim in chunks so a long log costs linear time.
			if len(o.Lines) > 2*maxLines {
				cut := len(o.Lines) - maxLines
				o.Omitted += cut
				o.Lines = append(o.Lines[:0:0], o.Lines[cut:]...)
			}
		case engine.EventCellFinished:
			o := get(ev.Cell)
			o.Status = ev.Status
			o.Attempts = ev.Attempts
			o.DurationMS = ev.DurationMS
			o.FinishedAt = ev.At
			if o.StartedAt.IsZero() {
				o.StartedAt = ev.At.Add(-msDuration(ev.DurationMS))
			}
			o.Result = ev.Result
			o.Error = ev.Error
		}
	}
	for _, o := range outs {
		if len(o.Lines) > maxLines {
			cut := len(o.Lines) - maxLines
			o.Omitted += cut
			o.Lines = o.Lines[cut:]
		}
	}
	return outs, since
}
