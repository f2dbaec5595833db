package flow

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opsbook/opsbook/engine"
)

// Change says what happened to a cell or an input between two flows.
type Change string

// Changes of a cell or an input.
const (
	Unchanged Change = "unchanged"
	Added     Change = "added"
	Removed   Change = "removed"
	Changed   Change = "changed"
)

// Diff is what changed from one flow (the old one) to another (the new
// one): settings, inputs, the order of cells, and each cell.
type Diff struct {
	// Settings are changes of name, description, order, network,
	// triggers and concurrency.
	Settings []FieldChange `json:"settings,omitempty"`
	// Inputs lists the inputs that were added, removed or changed, in the
	// new flow's order, removed ones last.
	Inputs []InputDiff `json:"inputs,omitempty"`
	// InputOrder is set when inputs present in both flows changed places.
	InputOrder *OrderChange `json:"input_order,omitempty"`
	// CellOrder is set when cells present in both flows changed places.
	CellOrder *OrderChange `json:"cell_order,omitempty"`
	// Cells holds every cell: the new flow's in their order, each removed
	// cell after the cell that preceded it in the old flow.
	Cells []CellDiff `json:"cells"`
}

// FieldChange is one changed field, shown as `field: old → new`. An empty
// Old or New means the field was not set.
type FieldChange struct {
	Field string `json:"field"`
	Old   string `json:"old"`
	New   string `json:"new"`
}

func (c FieldChange) String() string {
	return c.Field + ": " + orNone(c.Old) + " → " + orNone(c.New)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// InputDiff is one input that was added, removed or changed.
type InputDiff struct {
	Name   string        `json:"name"`
	Change Change        `json:"change"`
	Fields []FieldChange `json:"fields,omitempty"`
}

// OrderChange is a reordering: the names present in both flows, in the
// old order and in the new one, and those that moved.
type OrderChange struct {
	Old   []string `json:"old"`
	New   []string `json:"new"`
	Moved []string `json:"moved"`
}

// CellDiff is one cell. Name is its name in the new flow (the old one
// for a removed cell); OldName is set when the cell was renamed.
type CellDiff struct {
	Name    string        `json:"name"`
	OldName string        `json:"old_name,omitempty"`
	Kind    engine.Kind   `json:"kind"`
	Change  Change        `json:"change"`
	Moved   bool          `json:"moved,omitempty"`
	Options []FieldChange `json:"options,omitempty"`
	// Hunks are the changed parts of the source with up to Context lines
	// around them; all of the source for added and removed cells.
	Hunks []Hunk `json:"hunks,omitempty"`
	// Added and Removed count source lines.
	Added   int `json:"added"`
	Removed int `json:"removed"`
}

// Hunk is a run of source lines around changes.
type Hunk struct {
	OldStart int    `json:"old_start"` // first old line, from 1 (0: none)
	NewStart int    `json:"new_start"` // first new line, from 1 (0: none)
	Lines    []Line `json:"lines"`
}

// LineOp marks a diff line.
type LineOp string

// Line operations.
const (
	LineSame    LineOp = " "
	LineAdded   LineOp = "+"
	LineRemoved LineOp = "-"
)

// Line is one line of a hunk. Old and New are its line numbers in the old
// and new source (0 where it does not exist).
type Line struct {
	Op   LineOp `json:"op"`
	Old  int    `json:"old,omitempty"`
	New  int    `json:"new,omitempty"`
	Text string `json:"text"`
	// NoEOL: the source ends on this line with no line end. It is a mark
	// beside the line, shown unnumbered under it, never part of its text.
	NoEOL bool `json:"no_eol,omitempty"`
}

// Context is the number of unchanged lines kept around each change.
const Context = 3

// Empty reports whether the two flows were the same.
func (d *Diff) Empty() bool {
	if len(d.Settings) > 0 || len(d.Inputs) > 0 || d.InputOrder != nil || d.CellOrder != nil {
		return false
	}
	for _, c := range d.Cells {
		if c.Change != Unchanged || c.Moved {
			return false
		}
	}
	return true
}

// Count tells how many cells were added, removed and changed.
func (d *Diff) Count() (added, removed, changed int) {
	for _, c := range d.Cells {
		switch c.Change {
		case Added:
			added++
		case Removed:
			removed++
		case Changed:
			changed++
		}
	}
	return
}

// Compare diffs two flows. Cells are matched by name; an old and a new cell
// with different names and the same non-empty source are one cell renamed.
// Either flow may be nil (an empty flow).
func Compare(old, new *engine.Flow) Diff {
	if old == nil {
		old = &engine.Flow{}
	}
	if new == nil {
		new = &engine.Flow{}
	}
	d := Diff{Cells: []CellDiff{}}
	d.Settings = settingsChanges(old, new)
	d.Inputs, d.InputOrder = inputChanges(old.Inputs, new.Inputs)

	// Match cells: by name, then renames by identical source.
	oldByName := make(map[string]int, len(old.Cells))
	for i := range old.Cells {
		oldByName[old.Cells[i].Name] = i
	}
	match := make([]int, len(new.Cells)) // new index → old index, or -1
	used := make([]bool, len(old.Cells))
	for i := range new.Cells {
		match[i] = -1
		if j, ok := oldByName[new.Cells[i].Name]; ok {
			match[i] = j
			used[j] = true
		}
	}
	bySource := map[string][]int{}
	for j := range old.Cells {
		if !used[j] && old.Cells[j].Source != "" {
			bySource[old.Cells[j].Source] = append(bySource[old.Cells[j].Source], j)
		}
	}
	for i := range new.Cells {
		if match[i] >= 0 || new.Cells[i].Source == "" {
			continue
		}
		if js := bySource[new.Cells[i].Source]; len(js) > 0 {
			match[i] = js[0]
			used[js[0]] = true
			bySource[new.Cells[i].Source] = js[1:]
		}
	}

	// Order: the matched cells in old order against new order.
	var oldSeq, newSeq []string
	newName := make(map[int]string, len(new.Cells)) // old index → new name
	for i, j := range match {
		if j >= 0 {
			newName[j] = new.Cells[i].Name
			newSeq = append(newSeq, new.Cells[i].Name)
		}
	}
	for j := range old.Cells {
		if n, ok := newName[j]; ok {
			oldSeq = append(oldSeq, n)
		}
	}
	moved := movedNames(oldSeq, newSeq)
	if len(moved) > 0 {
		d.CellOrder = &OrderChange{Old: oldSeq, New: newSeq, Moved: sortedKeys(moved)}
	}

	// Removed cells go after the old cell before them, so a removed cell
	// shows where it was.
	removedAfter := map[int][]int{} // old index of the cell before (or -1) → removed old indexes
	prevKept := -1
	for j := range old.Cells {
		if !used[j] {
			removedAfter[prevKept] = append(removedAfter[prevKept], j)
			continue
		}
		prevKept = j
	}
	emitRemoved := func(after int) {
		for _, j := range removedAfter[after] {
			c := &old.Cells[j]
			cd := CellDiff{Name: c.Name, Kind: c.Kind, Change: Removed}
			cd.Hunks, cd.Added, cd.Removed = sourceHunks(c.Source, "")
			d.Cells = append(d.Cells, cd)
		}
	}
	emitRemoved(-1)
	for i := range new.Cells {
		c := &new.Cells[i]
		j := match[i]
		if j < 0 {
			cd := CellDiff{Name: c.Name, Kind: c.Kind, Change: Added}
			cd.Hunks, cd.Added, cd.Removed = sourceHunks("", c.Source)
			d.Cells = append(d.Cells, cd)
			continue
		}
		o := &old.Cells[j]
		cd := CellDiff{Name: c.Name, Kind: c.Kind, Change: Unchanged, Moved: moved[c.Name]}
		if o.Name != c.Name {
			cd.OldName = o.Name
		}
		cd.Options = cellChanges(o, c)
		if o.Source != c.Source {
			cd.Hunks, cd.Added, cd.Removed = sourceHunks(o.Source, c.Source)
		}
		if len(cd.Options) > 0 || o.Source != c.Source {
			cd.Change = Changed
		}
		d.Cells = append(d.Cells, cd)
		emitRemoved(j)
	}
	return d
}

func settingsChanges(old, new *engine.Flow) []FieldChange {
	var out []FieldChange
	add := func(field, a, b string) {
		if a != b {
			out = append(out, FieldChange{Field: field, Old: a, New: b})
		}
	}
	add("name", old.Name, new.Name)
	add("description", old.Description, new.Description)
	add("order", string(old.EffectiveOrder()), string(new.EffectiveOrder()))
	add("network", strconv.FormatBool(!old.NoNetwork), strconv.FormatBool(!new.NoNetwork))
	add("triggers", triggersText(old.Triggers), triggersText(new.Triggers))
	add("concurrency", concurrencyText(old.Concurrency), concurrencyText(new.Concurrency))
	add("notify", notifyText(old.Notify), notifyText(new.Notify))
	return out
}

// notifyText says a flow's notifications: "ops on failed, waiting; mail".
func notifyText(ns []engine.Notify) string {
	parts := make([]string, 0, len(ns))
	for _, n := range ns {
		w := n.To
		if len(n.On) > 0 {
			on := make([]string, len(n.On))
			for i, e := range n.On {
				on[i] = string(e)
			}
			w += " on " + strings.Join(on, ", ")
		}
		parts = append(parts, w)
	}
	return strings.Join(parts, "; ")
}

// concurrencyText says a concurrency with its default overlap: "limit 1,
// overlap queue", or "" when the flow has no limit.
func concurrencyText(c engine.Concurrency) string {
	if c.Limit == 0 && c.Overlap == "" {
		return ""
	}
	return "limit " + strconv.Itoa(c.Limit) + ", overlap " + string(c.EffectiveOverlap())
}

func triggersText(ts []engine.Trigger) string {
	var parts []string
	for _, t := range ts {
		if t.Cron != "" {
			w := "cron " + t.Cron
			if t.Timezone != "" {
				w += " (" + t.Timezone + ")"
			}
			parts = append(parts, w)
		}
		if t.Webhook {
			w := "webhook"
			if t.Rate != 0 {
				w += " (rate " + strconv.Itoa(t.Rate) + "/s)"
			}
			parts = append(parts, w)
		}
	}
	return strings.Join(parts, ", ")
}

func inputChanges(old, new []engine.Input) ([]InputDiff, *OrderChange) {
	oldByName := make(map[string]*engine.Input, len(old))
	for i := range old {
		oldByName[old[i].Name] = &old[i]
	}
	newNames := make(map[string]bool, len(new))
	var out []InputDiff
	var newSeq []string
	for i := range new {
		n := &new[i]
		newNames[n.Name] = true
		o, ok := oldByName[n.Name]
		if !ok {
			out = append(out, InputDiff{Name: n.Name, Change: Added, Fields: inputFields(nil, n)})
			continue
		}
		newSeq = append(newSeq, n.Name)
		if fields := inputFields(o, n); len(fields) > 0 {
			out = append(out, InputDiff{Name: n.Name, Change: Changed, Fields: fields})
		}
	}
	var oldSeq []string
	for i := range old {
		if newNames[old[i].Name] {
			oldSeq = append(oldSeq, old[i].Name)
			continue
		}
		out = append(out, InputDiff{Name: old[i].Name, Change: Removed, Fields: inputFields(&old[i], nil)})
	}
	var order *OrderChange
	if moved := movedNames(oldSeq, newSeq); len(moved) > 0 {
		order = &OrderChange{Old: oldSeq, New: newSeq, Moved: sortedKeys(moved)}
	}
	return out, order
}

// inputFields lists the fields that differ; a nil side has every field
// unset.
func inputFields(o, n *engine.Input) []FieldChange {
	text := func(in *engine.Input) [7]string {
		if in == nil {
			return [7]string{}
		}
		typ := string(in.Type)
		if typ == "" {
			typ = string(engine.InputString)
		}
		def := ""
		if in.Default != nil {
			def = string(appendValue(nil, in.Default))
		}
		return [7]string{typ, def, boolText(in.Required), strings.Join(in.Options, ", "), in.Label, in.Description, in.Placeholder}
	}
	a, b := text(o), text(n)
	var out []FieldChange
	for i, field := range [7]string{"type", "default", "required", "options", "label", "description", "placeholder"} {
		if a[i] != b[i] {
			out = append(out, FieldChange{Field: field, Old: a[i], New: b[i]})
		}
	}
	return out
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return ""
}

// cellChanges lists a cell's changed name, kind, file and options, with
// flow.yaml's keys.
func cellChanges(o, n *engine.Cell) []FieldChange {
	text := func(c *engine.Cell) [16]string {
		dur := func(d time.Duration) string {
			if d == 0 {
				return ""
			}
			return formatDuration(d)
		}
		retries := ""
		if c.Retries != 0 {
			retries = strconv.Itoa(c.Retries)
		}
		env := make([]string, len(c.Env))
		for i, e := range c.Env {
			env[i] = e.Name + "=" + e.Value
		}
		approvals := ""
		if c.Approvals != 0 {
			approvals = strconv.Itoa(c.Approvals)
		}
		form := make([]string, len(c.Inputs))
		for i, in := range c.Inputs {
			form[i] = string(Manifest(&engine.Flow{Inputs: []engine.Input{in}}))
		}
		return [16]string{c.Name, string(c.Kind), c.File, strings.Join(c.Approvers, ", "), approvals, strings.Join(c.ExpectStatus, ", "), dur(c.Timeout), string(c.OnTimeout),
			retries, dur(c.RetryDelay), c.If, strings.Join(c.Needs, ", "), c.Connection, strings.Join(env, ", "), strings.Join(form, ""), boolText(c.ContinueOnError)}
	}
	a, b := text(o), text(n)
	var out []FieldChange
	for i, field := range cellKeys {
		if a[i] != b[i] {
			out = append(out, FieldChange{Field: field, Old: a[i], New: b[i]})
		}
	}
	return out
}

// movedNames tells which names of new are out of their old relative
// order: those not on a longest common subsequence of the two sequences,
// which hold the same names.
func movedNames(old, new []string) map[string]bool {
	ops := diffStrings(old, new)
	moved := map[string]bool{}
	for _, op := range ops {
		if op.op == LineAdded {
			moved[new[op.b]] = true
		}
	}
	return moved
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// splitLines splits a source into lines without their line ends; a final
// line end does not start another line.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	s = strings.TrimSuffix(s, "\n")
	return strings.Split(s, "\n")
}

// sourceHunks diffs two sources line by line into hunks with Context
// lines around each change, and counts added and removed lines.
func sourceHunks(a, b string) (hunks []Hunk, added, removed int) {
	al, bl := splitLines(a), splitLines(b)
	// A missing final newline is a change of the last line: it is compared
	// with a mark no source line holds, and shown as NoEOL.
	aNoEOL := a != "" && !strings.HasSuffix(a, "\n")
	bNoEOL := b != "" && !strings.HasSuffix(b, "\n")
	const mark = "\x00no-eol"
	if aNoEOL {
		al[len(al)-1] += mark
	}
	if bNoEOL {
		bl[len(bl)-1] += mark
	}
	text := func(ls []string, i int) (string, bool) {
		t, cut := strings.CutSuffix(ls[i], mark)
		return t, cut && i == len(ls)-1
	}
	ops := diffStrings(al, bl)
	lines := make([]Line, len(ops))
	for i, op := range ops {
		switch op.op {
		case LineSame:
			t, no := text(al, op.a)
			lines[i] = Line{Op: LineSame, Old: op.a + 1, New: op.b + 1, Text: t, NoEOL: no}
		case LineRemoved:
			t, no := text(al, op.a)
			lines[i] = Line{Op: LineRemoved, Old: op.a + 1, Text: t, NoEOL: no}
			removed++
		case LineAdded:
			t, no := text(bl, op.b)
			lines[i] = Line{Op: LineAdded, New: op.b + 1, Text: t, NoEOL: no}
			added++
		}
	}
	// Group changes with their context.
	for i := 0; i < len(lines); {
		if lines[i].Op == LineSame {
			i++
			continue
		}
		start := max(0, i-Context)
		end := i
		for end < len(lines) {
			if lines[end].Op != LineSame {
				end++
				continue
			}
			// A run of unchanged lines: end the hunk if it is long enough
			// to split, or reaches the end.
			run := end
			for run < len(lines) && lines[run].Op == LineSame {
				run++
			}
			if run == len(lines) || run-end > 2*Context {
				end = min(end+Context, len(lines))
				break
			}
			end = run
		}
		h := Hunk{Lines: lines[start:end]}
		for _, l := range h.Lines {
			if h.OldStart == 0 && l.Old > 0 {
				h.OldStart = l.Old
			}
			if h.NewStart == 0 && l.New > 0 {
				h.NewStart = l.New
			}
		}
		hunks = append(hunks, h)
		i = end
	}
	return hunks, added, removed
}

// edit is one step of a line diff: keep a[a] as b[b], remove a[a], or add
// b[b].
type edit struct {
	op   LineOp
	a, b int
}

// maxEdits bounds the work of one line diff: past that many differences
// the remaining middle part is shown as removed, then added.
const maxEdits = 1000

// diffStrings is Myers' O(ND) diff of two line lists, after trimming the
// common head and tail. It returns the whole script in order.
func diffStrings(a, b []string) []edit {
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	out := make([]edit, 0, max(len(a), len(b))+8)
	for i := 0; i < pre; i++ {
		out = append(out, edit{LineSame, i, i})
	}
	out = myers(out, a[pre:len(a)-suf], b[pre:len(b)-suf], pre, pre)
	for i := 0; i < suf; i++ {
		out = append(out, edit{LineSame, len(a) - suf + i, len(b) - suf + i})
	}
	return out
}

// myers appends the edit script of a to b (offsets ao and bo into the
// caller's lists) to out.
func myers(out []edit, a, b []string, ao, bo int) []edit {
	n, m := len(a), len(b)
	whole := func() []edit {
		for i := range a {
			out = append(out, edit{LineRemoved, ao + i, 0})
		}
		for j := range b {
			out = append(out, edit{LineAdded, 0, bo + j})
		}
		return out
	}
	if n == 0 || m == 0 {
		return whole()
	}
	// Compare lines as small integers.
	ids := map[string]int32{}
	id := func(s string) int32 {
		v, ok := ids[s]
		if !ok {
			v = int32(len(ids))
			ids[s] = v
		}
		return v
	}
	ai, bi := make([]int32, n), make([]int32, m)
	for i := range a {
		ai[i] = id(a[i])
	}
	for j := range b {
		bi[j] = id(b[j])
	}
	maxD := min(n+m, maxEdits)
	off := maxD + 1
	v := make([]int, 2*maxD+3)
	var trace [][]int
	found := -1
	for d := 0; d <= maxD && found < 0; d++ {
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				x = v[off+k+1]
			} else {
				x = v[off+k-1] + 1
			}
			y := x - k
			for x < n && y < m && ai[x] == bi[y] {
				x++
				y++
			}
			v[off+k] = x
			if x >= n && y >= m {
				found = d
				break
			}
		}
		// Keep only diagonals -d…d of this step: the walk back needs no more.
		trace = append(trace, append([]int(nil), v[off-d:off+d+1]...))
	}
	if found < 0 {
		return whole()
	}
	// Walk back through the trace.
	rev := make([]edit, 0, n+m)
	x, y := n, m
	for d := found; d > 0; d-- {
		pv := trace[d-1] // diagonals -(d-1)…d-1
		at := func(k int) int { return pv[k+d-1] }
		k := x - y
		var pk int
		if k == -d || (k != d && at(k-1) < at(k+1)) {
			pk = k + 1
		} else {
			pk = k - 1
		}
		px := at(pk)
		py := px - pk
		for x > px && y > py {
			x--
			y--
			rev = append(rev, edit{LineSame, ao + x, bo + y})
		}
		if x == px {
			y--
			rev = append(rev, edit{LineAdded, 0, bo + y})
		} else {
			x--
			rev = append(rev, edit{LineRemoved, ao + x, 0})
		}
	}
	for x > 0 && y > 0 {
		x--
		y--
		rev = append(rev, edit{LineSame, ao + x, bo + y})
	}
	for i := len(rev) - 1; i >= 0; i-- {
		out = append(out, rev[i])
	}
	return out
}

// String renders the diff as text, for logs, tests and the command line.
func (d *Diff) String() string {
	var b strings.Builder
	for _, c := range d.Settings {
		fmt.Fprintf(&b, "flow %s\n", c)
	}
	for _, in := range d.Inputs {
		fmt.Fprintf(&b, "input %s %s\n", in.Name, in.Change)
		for _, f := range in.Fields {
			fmt.Fprintf(&b, "  %s\n", f)
		}
	}
	if d.InputOrder != nil {
		fmt.Fprintf(&b, "input order: %s → %s\n", strings.Join(d.InputOrder.Old, ", "), strings.Join(d.InputOrder.New, ", "))
	}
	if d.CellOrder != nil {
		fmt.Fprintf(&b, "cell order: %s → %s\n", strings.Join(d.CellOrder.Old, ", "), strings.Join(d.CellOrder.New, ", "))
	}
	for _, c := range d.Cells {
		if c.Change == Unchanged && !c.Moved {
			continue
		}
		name := c.Name
		if c.OldName != "" {
			name = c.OldName + " → " + c.Name
		}
		fmt.Fprintf(&b, "cell %s %s", name, c.Change)
		if c.Moved {
			b.WriteString(" (moved)")
		}
		b.WriteByte('\n')
		for _, o := range c.Options {
			fmt.Fprintf(&b, "  %s\n", o)
		}
		for _, h := range c.Hunks {
			fmt.Fprintf(&b, "  @@ -%d +%d @@\n", h.OldStart, h.NewStart)
			for _, l := range h.Lines {
				fmt.Fprintf(&b, "  %s%s\n", l.Op, l.Text)
				if l.NoEOL {
					b.WriteString("  \\ no newline at end\n")
				}
			}
		}
	}
	return b.String()
}
