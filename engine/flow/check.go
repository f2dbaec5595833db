package flow

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/opsbook/opsbook/engine"
)

// Validate checks the structure of a flow built in memory, as Parse checks a
// folder: names, kinds, types, options, defaults, files, durations, needs.
// It does not look at expressions or templates. Errors carry the position
// the flow holds, if any, and name the cell or input they are about.
func Validate(f *engine.Flow) engine.Errors {
	if f == nil {
		return engine.Errors{engine.Errorf(engine.Pos{}, "no flow given")}
	}
	c := &checker{}
	c.flow(f)
	return c.errs
}

// checker runs the structural checks shared by Parse and Validate. When
// parsing, pos maps paths such as "cells.2.kind" to places in flow.yaml and
// bad marks the paths whose YAML was already reported as wrong.
type checker struct {
	pos  map[string]engine.Pos
	bad  map[string]bool
	errs engine.Errors
}

// at finds the closest known position of path, walking up to its parents.
func (c *checker) at(path string) engine.Pos {
	if c.pos == nil {
		return engine.Pos{}
	}
	for {
		if p, ok := c.pos[path]; ok {
			return p
		}
		i := strings.LastIndexByte(path, '.')
		if i < 0 {
			return c.pos[""]
		}
		path = path[:i]
	}
}

// add reports a problem at path; subject names the thing it is about and
// prefixes the message when there is no position to show.
func (c *checker) add(path, subject, format string, args ...any) {
	for q := path; ; {
		if c.bad[q] {
			return
		}
		i := strings.LastIndexByte(q, '.')
		if i < 0 {
			break
		}
		q = q[:i]
	}
	if c.bad[""] {
		return
	}
	pos := c.at(path)
	msg := fmt.Sprintf(format, args...)
	if pos.File == "" && subject != "" {
		msg = subject + ": " + msg
	}
	c.errs = append(c.errs, &engine.Error{Pos: pos, Msg: msg})
}

func (c *checker) flow(f *engine.Flow) {
	c.text("name", "", "the flow name", f.Name)
	switch {
	case strings.TrimSpace(f.Name) == "":
		c.add("name", "", "the flow has no name; add a display name, like name: Nightly report")
	case strings.ContainsAny(f.Name, "\r\n"):
		c.add("name", "", "the flow name must be one line; move the rest to description")
	}
	c.text("description", "", "the description", f.Description)
	switch f.Order {
	case "", engine.OrderNotebook, engine.OrderGraph:
	default:
		c.add("order", "", "unknown order %q; use notebook or graph", f.Order)
	}

	seen := map[string]int{}
	for i := range f.Inputs {
		c.input(i, &f.Inputs[i], seen)
	}
	for i, t := range f.Triggers {
		c.trigger(i, t)
	}
	c.concurrency(f.Concurrency)
	c.notify(f.Notify)

	names := map[string]int{}
	for i := range f.Cells {
		if n := f.Cells[i].Name; n != "" {
			if _, dup := names[n]; !dup {
				names[n] = i
			}
		}
	}
	files := map[string]int{}
	folded := map[string]int{}
	for i := range f.Cells {
		c.cell(f, i, names, files, folded)
	}
}

// maxLabel bounds an input's label and placeholder, in characters: they
// sit on one line of a form that must fit a phone.
const maxLabel = 120

func (c *checker) input(i int, in *engine.Input, seen map[string]int) {
	subject := fmt.Sprintf("input %d", i+1)
	if in.Name != "" {
		subject = fmt.Sprintf("input %q", in.Name)
	}
	c.inputAt(fmt.Sprintf("inputs.%d", i), subject, i, in, seen)
}

// inputAt checks an input of the flow, or of an approval cell's form, at
// path p.
func (c *checker) inputAt(p, subject string, i int, in *engine.Input, seen map[string]int) {
	c.text(p+".name", subject, "the name", in.Name)
	c.text(p+".label", subject, "the label", in.Label)
	c.text(p+".description", subject, "the description", in.Description)
	c.text(p+".placeholder", subject, "the placeholder", in.Placeholder)
	if strings.ContainsAny(in.Label, "\n\r") {
		c.add(p+".label", subject, "the label is one line; move the rest into description")
	}
	if strings.ContainsAny(in.Placeholder, "\n\r") {
		c.add(p+".placeholder", subject, "the placeholder is one line; shorten it")
	}
	if n := utf8.RuneCountInString(in.Label); n > maxLabel {
		c.add(p+".label", subject, "the label has %d characters, more than %d; shorten it and move the rest into description", n, maxLabel)
	}
	if n := utf8.RuneCountInString(in.Placeholder); n > maxLabel {
		c.add(p+".placeholder", subject, "the placeholder has %d characters, more than %d; shorten it", n, maxLabel)
	}
	switch {
	case in.Name == "":
		c.add(p+".name", subject, "input has no name; add name: with an identifier, like name: day")
	case !engine.IsIdentifier(in.Name):
		c.add(p+".name", subject, "input name %q is not an identifier; use lower-case letters, digits and _, starting with a letter (like %s)", in.Name, suggestIdent(in.Name))
	default:
		if j, dup := seen[in.Name]; dup {
			c.add(p+".name", subject, "duplicate input name %q (input %d has it too); rename one", in.Name, j+1)
		} else {
			seen[in.Name] = i
		}
	}

	typ := in.Type
	switch typ {
	case "":
		typ = engine.InputString
	case engine.InputString, engine.InputNumber, engine.InputBoolean, engine.InputDate, engine.InputSelect:
	default:
		c.add(p+".type", subject, "unknown input type %q; use one of %s", in.Type, joinTypes())
		typ = ""
	}

	opts := map[string]bool{}
	for j, o := range in.Options {
		op := fmt.Sprintf("%s.options.%d", p, j)
		c.text(op, subject, "an option", o)
		if opts[o] {
			c.add(op, subject, "option %q is listed twice; remove one", o)
		}
		opts[o] = true
	}
	if typ == engine.InputSelect && len(in.Options) == 0 {
		c.add(p+".type", subject, "select input %q has no options; add options: [first, second]", in.Name)
	}
	if typ != engine.InputSelect && typ != "" && len(in.Options) > 0 {
		c.add(p+".options", subject, "options are only for select inputs; set type: select or remove options")
	}

	if in.Default == nil || typ == "" {
		return
	}
	dp := p + ".default"
	switch typ {
	case engine.InputString:
		s, ok := in.Default.(string)
		if !ok {
			c.add(dp, subject, "the default of a string input must be a string; quote it, like default: \"%v\"", in.Default)
			return
		}
		c.text(dp, subject, "the default", s)
	case engine.InputNumber:
		switch v := in.Default.(type) {
		case int, int64:
		case float64:
			if math.IsNaN(v) || math.IsInf(v, 0) {
				c.add(dp, subject, "the default of a number input must be a finite number, like 3 or 2.5")
			}
		default:
			c.add(dp, subject, "the default of a number input must be a number, like 3 or 2.5 (without quotes)")
		}
	case engine.InputBoolean:
		if _, ok := in.Default.(bool); !ok {
			c.add(dp, subject, "the default of a boolean input must be true or false (without quotes)")
		}
	case engine.InputDate:
		s, ok := in.Default.(string)
		if !ok || !isDate(s) {
			c.add(dp, subject, "the default of a date input must be a date written YYYY-MM-DD, like \"2025-01-31\"")
		}
	case engine.InputSelect:
		s, ok := in.Default.(string)
		switch {
		case !ok:
			c.add(dp, subject, "the default of a select input must be one of its options, as a string")
		case len(in.Options) > 0 && !opts[s]:
			c.add(dp, subject, "the default %q is not one of the options (%s); pick one of them", s, strings.Join(in.Options, ", "))
		default:
			c.text(dp, subject, "the default", s)
		}
	}
}

func (c *checker) trigger(i int, t engine.Trigger) {
	p := fmt.Sprintf("triggers.%d", i)
	subject := fmt.Sprintf("trigger %d", i+1)
	switch {
	case t.Cron == "" && !t.Webhook:
		c.add(p, subject, "the trigger does nothing; write cron: \"0 6 * * *\" or webhook: true, or remove it")
	case t.Cron != "" && t.Webhook:
		c.add(p, subject, "a trigger is either cron or webhook; split it into two triggers")
	}
	switch {
	case t.Rate < 0:
		c.add(p+".rate", subject, "rate must be 1 or more (runs a second per webhook token); remove it for the default, %d", engine.DefaultWebhookRate)
	case t.Rate > engine.MaxWebhookRate:
		c.add(p+".rate", subject, "rate %d is more than %d runs a second; lower it", t.Rate, engine.MaxWebhookRate)
	case t.Rate > 0 && !t.Webhook:
		c.add(p+".rate", subject, "rate is only for webhook triggers; remove it, or write webhook: true in this trigger instead of cron")
	}
	if t.Timezone != "" {
		switch {
		case t.Cron == "":
			c.add(p+".timezone", subject, "timezone is only for cron triggers; remove it")
		case !engine.KnownZone(t.Timezone):
			c.add(p+".timezone", subject, "timezone %q is not a known zone; write an IANA name such as Europe/Paris or America/New_York, or remove it for UTC", t.Timezone)
		}
	}
	if t.Cron == "" {
		return
	}
	c.text(p+".cron", subject, "the cron schedule", t.Cron)
	fields := strings.Fields(t.Cron)
	if strings.HasPrefix(t.Cron, "@") {
		if msg := CronDescriptorProblem(t.Cron); msg != "" {
			c.add(p+".cron", subject, "%s", msg)
		}
		return
	}
	if len(fields) != 5 && len(fields) != 6 {
		c.add(p+".cron", subject, "cron %q has %d fields; write minute hour day-of-month month day-of-week, like \"0 6 * * *\"", t.Cron, len(fields))
	}
}

func (c *checker) concurrency(cc engine.Concurrency) {
	const p = "concurrency"
	if cc.Limit < 0 {
		c.add(p+".limit", "concurrency", "limit must be 1 or more (runs of this flow at once); remove concurrency for no limit")
	}
	switch cc.Overlap {
	case "", engine.OverlapQueue, engine.OverlapSkip, engine.OverlapCancel:
		if cc.Overlap != "" && cc.Limit == 0 && !c.bad[p+".limit"] {
			c.add(p+".overlap", "concurrency", "overlap has no effect without a limit; add limit: 1 (or more) to concurrency, or remove overlap")
		}
	default:
		c.text(p+".overlap", "concurrency", "the overlap", string(cc.Overlap))
		c.add(p+".overlap", "concurrency", "unknown overlap %q; use queue (wait for a slot), skip (end the new run skipped) or cancel (cancel the oldest run)", cc.Overlap)
	}
}

// notify checks the shape of `notify:`; whether each destination exists
// is the workspace's to say when the flow is saved.
func (c *checker) notify(ns []engine.Notify) {
	seen := map[string]bool{}
	for i, n := range ns {
		p := fmt.Sprintf("notify.%d", i)
		subject := fmt.Sprintf("notify entry %d", i+1)
		switch {
		case n.To == "":
			c.add(p+".to", subject, "to is missing; name a destination from the workspace's settings, like to: ops")
		case seen[n.To]:
			c.add(p+".to", subject, "destination %q is named twice; list its events once: on: [failed, waiting]", n.To)
		default:
			c.text(p+".to", subject, "to", n.To)
		}
		seen[n.To] = true
		if n.On != nil && len(n.On) == 0 {
			c.add(p+".on", subject, "on is empty; list events (failed, succeeded, canceled, waiting) or remove on for the destination's defaults")
		}
		for j, e := range n.On {
			if !e.Valid() {
				c.text(fmt.Sprintf("%s.on.%d", p, j), subject, "the event", string(e))
				c.add(fmt.Sprintf("%s.on.%d", p, j), subject, "unknown event %q; use failed, succeeded, canceled or waiting", e)
			}
		}
	}
}

func (c *checker) cell(f *engine.Flow, i int, names map[string]int, files, folded map[string]int) {
	cl := &f.Cells[i]
	p := fmt.Sprintf("cells.%d", i)
	subject := fmt.Sprintf("cell %d", i+1)
	if cl.Name != "" {
		subject = fmt.Sprintf("cell %q", cl.Name)
	}

	c.text(p+".name", subject, "the name", cl.Name)
	switch {
	case cl.Name == "":
		c.add(p+".name", subject, "cell has no name; add name: with an identifier, like name: fetch_orders")
	case !engine.IsIdentifier(cl.Name):
		c.add(p+".name", subject, "cell name %q is not an identifier; use lower-case letters, digits and _, starting with a letter (like %s)", cl.Name, suggestIdent(cl.Name))
	case names[cl.Name] != i:
		c.add(p+".name", subject, "duplicate cell name %q (cell %d has it too); rename one", cl.Name, names[cl.Name]+1)
	}

	switch {
	case cl.Kind == "":
		c.add(p+".kind", subject, "cell has no kind; add kind: with one of %s", joinKinds())
	case !cl.Kind.Valid():
		c.text(p+".kind", subject, "the kind", string(cl.Kind))
		c.add(p+".kind", subject, "unknown kind %q; use one of %s", cl.Kind, joinKinds())
	}

	c.file(p, subject, cl, i, files, folded)

	c.expectStatus(p, subject, cl)
	c.approval(p, subject, cl)

	if cl.Timeout < 0 {
		c.add(p+".timeout", subject, "timeout must be more than 0; remove it to have no timeout")
	}
	if cl.Retries < 0 {
		c.add(p+".retries", subject, "retries must be 0 or more")
	}
	if cl.RetryDelay < 0 {
		c.add(p+".retry_delay", subject, "retry_delay must be more than 0; remove it to retry at once")
	}
	c.text(p+".if", subject, "the if expression", cl.If)
	c.text(p+".connection", subject, "the connection", cl.Connection)
	if cl.Connection != "" && cl.Kind != engine.KindSQL && cl.Kind.Valid() {
		c.add(p+".connection", subject, "connection is only for sql cells; remove it or set kind: sql")
	}
	if cl.Kind == engine.KindMarkdown {
		// Nothing runs in a markdown cell, so these settings would be ignored.
		for _, o := range []struct {
			key string
			set bool
		}{{"timeout", cl.Timeout != 0}, {"retries", cl.Retries != 0}, {"retry_delay", cl.RetryDelay != 0}, {"env", len(cl.Env) > 0}} {
			if o.set {
				c.add(p+"."+o.key, subject, "%s has no effect on a markdown cell, which does not run; remove it", o.key)
			}
		}
	}

	listed := map[string]bool{}
	for j, n := range cl.Needs {
		np := fmt.Sprintf("%s.needs.%d", p, j)
		c.text(np, subject, "a needs entry", n)
		_, known := names[n]
		switch {
		case n == cl.Name && n != "":
			c.add(np, subject, "cell %q needs itself; remove it from needs", n)
		case !known:
			c.add(np, subject, "needs names unknown cell %q%s", n, didYouMean(n, cellNames(f)))
		case listed[n]:
			c.add(np, subject, "cell %q is listed twice in needs; remove one", n)
		}
		listed[n] = true
	}

	envs := map[string]bool{}
	for j, e := range cl.Env {
		ep := fmt.Sprintf("%s.env.%d", p, j)
		c.text(ep, subject, "an env name", e.Name)
		c.text(ep+".value", subject, "an env value", e.Value)
		switch {
		case !isEnvName(e.Name):
			c.add(ep, subject, "env name %q is not valid; use letters, digits and _, not starting with a digit (like %s)", e.Name, suggestEnv(e.Name))
		case strings.HasPrefix(strings.ToUpper(e.Name), "OPSBOOK_"):
			c.add(ep, subject, "env name %q is reserved: Opsbook sets the OPSBOOK_ variables itself; pick another name", e.Name)
		case envs[e.Name]:
			c.add(ep, subject, "env name %q is set twice; remove one", e.Name)
		}
		envs[e.Name] = true
	}

	if len(cl.Source) > MaxFileSize {
		c.add(p+".file", subject, "the source is %s; a cell file may be at most 1 MiB; keep large data outside the flow and read it at run time", engine.FormatBytes(int64(len(cl.Source))))
	} else if !utf8.ValidString(cl.Source) {
		c.add(p+".file", subject, "the source is not UTF-8 text; save it as UTF-8")
	}
}

func (c *checker) file(p, subject string, cl *engine.Cell, i int, files, folded map[string]int) {
	fp := p + ".file"
	name := cl.File
	if name == "" {
		ext := cl.Kind.Ext()
		if ext == "" {
			ext = ".sh"
		}
		example := "cell" + ext
		if engine.IsIdentifier(cl.Name) {
			example = cl.Name + ext
		}
		c.add(fp, subject, "cell has no file; add file: with the name of its source file, like file: %s", example)
		return
	}
	if msg := badFileName(name); msg != "" {
		c.add(fp, subject, "%s", msg)
		return
	}
	if j, dup := files[name]; dup {
		c.add(fp, subject, "file %q is already used by cell %d; give each cell its own file", name, j+1)
		return
	}
	files[name] = i
	low := strings.ToLower(name)
	if j, dup := folded[low]; dup {
		c.add(fp, subject, "file %q differs only in case from the file of cell %d, and some file systems treat them as one file; rename it", name, j+1)
		return
	}
	folded[low] = i
}

// badFileName says what is wrong with a cell's file name, or "". Cell files
// are flat names inside the flow folder, so that an exported folder can be
// written anywhere without reaching outside it.
func badFileName(name string) string {
	switch {
	case !utf8.ValidString(name):
		return "the file name is not UTF-8; rename the file"
	case name == "." || slices.Contains(strings.FieldsFunc(name, isSlash), ".."):
		return fmt.Sprintf("file %q leaves the flow folder; put the file in the flow folder and write its bare name", name)
	case strings.HasPrefix(name, "/") || (len(name) >= 2 && name[1] == ':' && isASCIILetter(name[0])):
		return fmt.Sprintf("file %q is an absolute path; put the file in the flow folder and write its bare name", name)
	case strings.Contains(name, "\\"):
		return fmt.Sprintf("file %q contains a backslash; write the bare file name, without directories", name)
	case strings.Contains(name, "/"):
		return fmt.Sprintf("file %q is in a subdirectory; cell files sit directly in the flow folder, so write the bare name", name)
	case name == ManifestFile:
		return fmt.Sprintf("file %q is the manifest; give the cell its own file", name)
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return fmt.Sprintf("file %q contains a control character; rename the file", name)
	case strings.TrimSpace(name) != name:
		return fmt.Sprintf("file %q starts or ends with a space; rename the file", name)
	}
	return ""
}

// text reports a string that cannot be written as YAML (not UTF-8).
func (c *checker) text(path, subject, what, s string) {
	if !utf8.ValidString(s) {
		c.add(path, subject, "%s is not UTF-8 text; fix its encoding", what)
	}
}

func isSlash(r rune) bool { return r == '/' || r == '\\' }

func isEnvName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(isASCIILetter(b) || b >= '0' && b <= '9' || b == '_') {
			return false
		}
	}
	return true
}

func isASCIILetter(b byte) bool { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }

func isDate(s string) bool {
	if len(s) != len("2006-01-02") {
		return false
	}
	_, err := time.Parse(time.DateOnly, s)
	return err == nil
}

// suggestIdent turns s into a valid identifier, for hints.
func suggestIdent(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_':
			b.WriteRune(r)
		case b.Len() > 0:
			b.WriteByte('_')
		}
	}
	out := strings.Trim(b.String(), "_")
	if out == "" || out[0] < 'a' || out[0] > 'z' {
		out = "x_" + out
	}
	return strings.TrimSuffix(out, "_")
}

func suggestEnv(s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		if r < utf8.RuneSelf && (isASCIILetter(byte(r)) || r >= '0' && r <= '9' || r == '_') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	out := b.String()
	if out == "" || out[0] >= '0' && out[0] <= '9' {
		out = "_" + out
	}
	return out
}

func joinKinds() string {
	s := make([]string, len(engine.Kinds))
	for i, k := range engine.Kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

func joinTypes() string {
	s := make([]string, len(engine.InputTypes))
	for i, t := range engine.InputTypes {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

func cellNames(f *engine.Flow) []string {
	var s []string
	for _, c := range f.Cells {
		if c.Name != "" {
			s = append(s, c.Name)
		}
	}
	return s
}

// didYouMean returns a hint naming the closest of the candidates.
func didYouMean(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := distance(s, c); d < bestD && d < len(s) {
			best, bestD = c, d
		}
	}
	switch {
	case best != "":
		return fmt.Sprintf("; did you mean %q?", best)
	case len(candidates) == 0:
		return ""
	default:
		return "; use one of " + strings.Join(candidates, ", ")
	}
}

// distance is the Levenshtein distance, for "did you mean" hints on short
// names; long strings are never close.
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// expectStatus checks an http cell's expect_status: codes from 100 to 599
// and classes 1xx to 5xx, each once.
func (c *checker) expectStatus(p, subject string, cl *engine.Cell) {
	if cl.ExpectStatus == nil {
		return
	}
	key := p + ".expect_status"
	switch {
	case cl.Kind != engine.KindHTTP && cl.Kind.Valid():
		c.add(key, subject, "expect_status is only for http cells; remove it or set kind: http")
		return
	case len(cl.ExpectStatus) == 0:
		c.add(key, subject, "expect_status is empty, so no answer would succeed; list codes or classes like [200, 404] or [2xx], or remove it for the default 2xx")
		return
	case len(cl.ExpectStatus) > engine.MaxExpectStatus:
		c.add(key, subject, "expect_status lists %d entries; at most %d (use classes like 4xx)", len(cl.ExpectStatus), engine.MaxExpectStatus)
		return
	}
	seen := map[string]bool{}
	for j, s := range cl.ExpectStatus {
		ep := fmt.Sprintf("%s.%d", key, j)
		switch {
		case !engine.ValidStatusPattern(s):
			c.add(ep, subject, "expect_status entry %.40q is not an HTTP status: write a code from 100 to 599 (like 404) or a class from 1xx to 5xx (like 4xx)", s)
		case seen[s]:
			c.add(ep, subject, "expect_status lists %s twice; remove one", s)
		}
		seen[s] = true
	}
}

// cronDescriptors are the @ shorthands a cron trigger may use; each is a
// time of the day, week, month or year, read on the trigger's zone like
// the five fields it stands for.
var cronDescriptors = map[string]string{
	"@yearly":   "0 0 1 1 *",
	"@annually": "0 0 1 1 *",
	"@monthly":  "0 0 1 * *",
	"@weekly":   "0 0 * * 0",
	"@daily":    "0 0 * * *",
	"@midnight": "0 0 * * *",
	"@hourly":   "0 * * * *",
}

// CronDescriptorProblem says what is wrong with a cron written as an @
// descriptor, and what to write instead, or "" when it is one the
// scheduler fires. @every is refused: it counts from when a process
// started, so it would fire at a different minute on every server and
// after every restart.
func CronDescriptorProblem(spec string) string {
	spec = strings.TrimSpace(spec)
	if _, ok := cronDescriptors[spec]; ok {
		return ""
	}
	if spec == "@every" || strings.HasPrefix(spec, "@every ") {
		return fmt.Sprintf("cron %q: @every is not supported (a schedule fires at set minutes); write five fields instead, like \"0 * * * *\" for every hour or \"*/15 * * * *\" for every 15 minutes", spec)
	}
	return fmt.Sprintf("cron %q is not a schedule; write five fields (minute hour day-of-month month day-of-week, like \"0 6 * * *\") or one of @hourly, @daily, @weekly, @monthly, @yearly", spec)
}

// approval checks an approval cell's options, and that the other kinds
// set none of them. An approval cell runs nothing, so what tunes a process
// (retries, env, a connection) would be ignored.
func (c *checker) approval(p, subject string, cl *engine.Cell) {
	if cl.Kind != engine.KindApproval {
		if !cl.Kind.Valid() {
			return
		}
		for _, o := range []struct {
			key string
			set bool
		}{{"approvers", cl.Approvers != nil}, {"approvals", cl.Approvals != 0}, {"on_timeout", cl.OnTimeout != ""}, {"inputs", len(cl.Inputs) > 0}} {
			if o.set {
				c.add(p+"."+o.key, subject, "%s is only for approval cells; remove it or set kind: approval", o.key)
			}
		}
		return
	}
	for _, o := range []struct {
		key string
		set bool
	}{{"retries", cl.Retries != 0}, {"retry_delay", cl.RetryDelay != 0}, {"env", len(cl.Env) > 0}} {
		if o.set {
			c.add(p+"."+o.key, subject, "%s has no effect on an approval cell, which runs nothing; remove it", o.key)
		}
	}
	ap := p + ".approvers"
	users := 0
	switch {
	case len(cl.Approvers) == 0:
		c.add(ap, subject, "an approval cell needs approvers; list roles (owner, editor, runner), \"user:NAME\" or link, like approvers: [editor]")
	case len(cl.Approvers) > engine.MaxApprovers:
		c.add(ap, subject, "approvers lists %d entries; at most %d (name a role instead of many people)", len(cl.Approvers), engine.MaxApprovers)
	default:
		seen := map[string]bool{}
		for j, a := range cl.Approvers {
			ep := fmt.Sprintf("%s.%d", ap, j)
			c.text(ep, subject, "an approvers entry", a)
			name, isUser := strings.CutPrefix(a, engine.ApproverUserPrefix)
			_, isRole := engine.ApproverRole(a)
			switch {
			case a == string(engine.RoleViewer):
				c.add(ep, subject, "a viewer may not decide; use owner, editor or runner, \"user:NAME\" or link")
			case isUser && (name == "" || len(name) > 64 || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f })):
				c.add(ep, subject, "approvers entry %.70q names no user; write \"user:\" and the user's name, like \"user:ana\"", a)
			case !isUser && !isRole && a != engine.ApproverLink:
				c.add(ep, subject, "unknown approvers entry %.70q; use owner, editor, runner, \"user:NAME\" or link", a)
			case seen[a]:
				c.add(ep, subject, "approvers lists %q twice; remove one", a)
			case isUser:
				users++
			}
			seen[a] = true
		}
	}
	switch n := cl.Approvals; {
	case n < 0:
		c.add(p+".approvals", subject, "approvals must be 1 or more (the approvals the run waits for); remove it for 1")
	case n > engine.MaxApprovals:
		c.add(p+".approvals", subject, "approvals is %d; at most %d", n, engine.MaxApprovals)
	case users > 0 && users == len(cl.Approvers) && n > users:
		c.add(p+".approvals", subject, "approvals is %d but only %d people may decide; lower it or add approvers", n, users)
	}
	switch cl.OnTimeout {
	case "", engine.OnTimeoutReject, engine.OnTimeoutApprove:
		if cl.OnTimeout != "" && cl.Timeout == 0 {
			c.add(p+".on_timeout", subject, "on_timeout has no effect without a timeout; add timeout: 24h (or another duration), or remove on_timeout")
		}
	default:
		c.text(p+".on_timeout", subject, "on_timeout", string(cl.OnTimeout))
		c.add(p+".on_timeout", subject, "unknown on_timeout %.40q; use reject (the default) or approve", cl.OnTimeout)
	}
	if len(cl.Inputs) > engine.MaxApprovalInput {
		c.add(p+".inputs", subject, "the form has %d inputs; at most %d", len(cl.Inputs), engine.MaxApprovalInput)
		return
	}
	seen := map[string]int{}
	for j := range cl.Inputs {
		in := &cl.Inputs[j]
		sub := fmt.Sprintf("%s, input %d", subject, j+1)
		if in.Name != "" {
			sub = fmt.Sprintf("%s, input %q", subject, in.Name)
		}
		c.inputAt(fmt.Sprintf("%s.inputs.%d", p, j), sub, j, in, seen)
	}
}
