package views

import "github.com/opsbook/opsbook/engine"

// DefaultMaxLines is how many of a cell's last lines a page renders; the
// browser continues live from there and the whole log is a download.
const DefaultMaxLines = 1000

// HeadLines is how many of a cell's first lines a page keeps: a long
// output shows its head, a marker counting the lines not shown, and its
// last DefaultMaxLines lines. The live page (static/src/output.js) keeps
// the same, read from the data-head and data-tail of the lines' element.
const HeadLines = 1000

// OutputsFromEvents folds one run's events into each cell's output as a page
// first shows it, keeping each cell's first HeadLines lines and its last
// maxLines lines (DefaultMaxLines when maxLines <= 0), and counting those
// between. It also returns the last seq seen, for `since`.
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
				o.add(Line{Stream: engine.StreamStderr, Text: "── attempt " + itoa(ev.Attempt) + " ──"})
			}
		case engine.EventApprovalRequested:
			get(ev.Cell).Status = string(engine.CellWaiting)
		case engine.EventCellLog:
			o := get(ev.Cell)
			for _, l := range ev.Lines {
				o.add(Line{Stream: ev.Stream, Text: l})
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

// add appends a line: to the head until it holds HeadLines, then to the
// tail (Lines), which OutputsFromEvents trims.
func (o *CellOutput) add(l Line) {
	if len(o.Head) < HeadLines && len(o.Lines) == 0 && o.Omitted == 0 {
		o.Head = append(o.Head, l)
		return
	}
	o.Lines = append(o.Lines, l)
}

// gapText says how many lines a long output does not show.
func gapText(n int) string {
	if n == 1 {
		return "1 line not shown"
	}
	return itoa(n) + " lines not shown"
}

// outRow is one row of a cell's rendered output: a line, or the gap of
// gap lines not shown.
type outRow struct {
	line Line
	gap  int
}

// outRows lists a cell's output rows: head, gap, tail.
func outRows(o *CellOutput) []outRow {
	if o == nil {
		return nil
	}
	rows := make([]outRow, 0, len(o.Head)+1+len(o.Lines))
	for _, l := range o.Head {
		rows = append(rows, outRow{line: l})
	}
	if o.Omitted > 0 {
		rows = append(rows, outRow{gap: o.Omitted})
	}
	for _, l := range o.Lines {
		rows = append(rows, outRow{line: l})
	}
	return rows
}

// maxChartJSON bounds the result a page hands its chart code.
const maxChartJSON = 64 << 10

// chartSource is a cell's result for static/src/chart.js, which draws it
// when it is a series; "" when there is none or it is too large. Every page
// that shows a cell's output (the notebook, run and share pages) carries it
// in cellOutput, and output.js draws it, live and after a reload.
func chartSource(kind string, o *CellOutput) string {
	if o == nil || kind == "markdown" || len(o.Result) == 0 || len(o.Result) > maxChartJSON {
		return ""
	}
	return string(o.Result)
}
