package flow

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/opsbook/opsbook/engine"
)

// Load reads the flow folder dir: its flow.yaml and every cell's file. A
// flow that is not valid gives engine.Errors, each at a file, line and
// column.
func Load(dir string) (*engine.Flow, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("load flow %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("load flow %s: not a directory; give the flow's folder, which holds flow.yaml", dir)
	}
	return Parse(os.DirFS(dir))
}

// Parse reads a flow from fsys, whose root is the flow folder. It returns
// engine.Errors listing every problem it found, each at a file, line and
// column, with a message that says what to do. Expressions and templates
// are not checked here.
func Parse(fsys fs.FS) (*engine.Flow, error) {
	p := &parser{
		fsys: fsys,
		c:    checker{pos: map[string]engine.Pos{}, bad: map[string]bool{}},
	}
	src, e := p.read(ManifestFile, engine.Pos{File: ManifestFile})
	if e != nil {
		return nil, engine.Errors{e}
	}
	p.lines = strings.Split(string(src), "\n")
	root, e := decode(src)
	if e != nil {
		return nil, engine.Errors{e}
	}

	f := &engine.Flow{}
	p.c.pos[""] = p.at(root)
	p.flow(root, f)
	p.c.flow(f)
	errs := p.c.errs
	slices.SortStableFunc(errs, func(a, b *engine.Error) int {
		return cmp.Or(cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Col, b.Pos.Col))
	})

	read := map[string]bool{}
	for i := range f.Cells {
		cl := &f.Cells[i]
		low := strings.ToLower(cl.File)
		if cl.File == "" || badFileName(cl.File) != "" || read[low] {
			continue
		}
		read[low] = true
		data, e := p.read(cl.File, p.c.at(fmt.Sprintf("cells.%d.file", i)))
		if e != nil {
			errs = append(errs, e)
			continue
		}
		cl.Source = string(data)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return f, nil
}

type parser struct {
	fsys  fs.FS
	lines []string // of flow.yaml, to locate block scalars' text
	c     checker  // its errs hold the manifest's problems
}

// read reads one file of the folder; at is where a problem is reported.
func (p *parser) read(name string, at engine.Pos) ([]byte, *engine.Error) {
	what := fmt.Sprintf("file %q", name)
	if name == ManifestFile {
		what = ManifestFile
	}
	fi, err := fs.Lstat(p.fsys, name)
	switch {
	case errors.Is(err, fs.ErrNotExist) && name == ManifestFile:
		return nil, engine.Errorf(at, "flow.yaml not found; a flow folder needs a flow.yaml manifest")
	case errors.Is(err, fs.ErrNotExist):
		return nil, engine.Errorf(at, "%s does not exist in the flow folder; create it or fix the name", what)
	case err != nil:
		return nil, engine.Errorf(at, "cannot read %s: %v", what, err)
	case fi.Mode()&fs.ModeSymlink != 0:
		return nil, engine.Errorf(at, "%s is a symbolic link; flow files must be regular files inside the flow folder, so copy the file in", what)
	case fi.IsDir():
		return nil, engine.Errorf(at, "%s is a directory; it must be a regular file", what)
	case !fi.Mode().IsRegular():
		return nil, engine.Errorf(at, "%s is not a regular file; it must be a plain file inside the flow folder", what)
	case fi.Size() > MaxFileSize:
		return nil, tooBig(at, what, fi.Size())
	}
	fl, err := p.fsys.Open(name)
	if err != nil {
		return nil, engine.Errorf(at, "cannot open %s: %v", what, err)
	}
	defer fl.Close()
	data, err := io.ReadAll(io.LimitReader(fl, MaxFileSize+1))
	if err != nil {
		return nil, engine.Errorf(at, "cannot read %s: %v", what, err)
	}
	if len(data) > MaxFileSize {
		return nil, tooBig(at, what, int64(len(data)))
	}
	if !utf8.Valid(data) {
		return nil, engine.Errorf(badUTF8(name, data), "%s is not UTF-8 text (the first bad byte is here); save it as UTF-8", what)
	}
	return data, nil
}

func tooBig(at engine.Pos, what string, n int64) *engine.Error {
	return engine.Errorf(at, "%s is more than 1 MiB (%s); flow files may be at most 1 MiB, so keep large data outside the flow and read it at run time", what, engine.FormatBytes(n))
}

// badUTF8 locates the first byte of data that is not UTF-8.
func badUTF8(name string, data []byte) engine.Pos {
	pos := engine.Pos{File: name, Line: 1, Col: 1}
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n == 1 {
			return pos
		}
		if r == '\n' {
			pos.Line++
			pos.Col = 1
		} else {
			pos.Col++
		}
		i += n
	}
	return pos
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// splitYAMLError splits a yaml.v3 error into its line (1 when it has none)
// and its message.
func splitYAMLError(err error) (int, string) {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil && n > 0 {
			return n, m[2]
		}
	}
	return 1, strings.TrimPrefix(err.Error(), "yaml: ")
}

// prefixError parses src and returns its syntax error's line and message,
// or "" when it parses.
func prefixError(src string) (line int, msg string) {
	defer func() {
		if recover() != nil {
			line, msg = 0, ""
		}
	}()
	dec := yaml.NewDecoder(strings.NewReader(src))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return 0, ""
		}
		if err != nil {
			return splitYAMLError(err)
		}
	}
}

// decode parses flow.yaml into its root node. yaml.v3 reports syntax errors
// with a line only, so the column is where that line's text starts.
func decode(src []byte) (root *yaml.Node, e *engine.Error) {
	defer func() {
		// yaml.v3 is third-party code; a panic in it must not take the
		// studio down with it.
		if r := recover(); r != nil {
			root, e = nil, engine.Errorf(engine.Pos{File: ManifestFile, Line: 1, Col: 1}, "flow.yaml could not be read as YAML (%v); check its syntax", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, engine.Errorf(engine.Pos{File: ManifestFile, Line: 1, Col: 1}, "flow.yaml is empty; write at least a name: and a list of cells:")
		}
		return nil, syntaxError(src, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, syntaxError(src, err)
	default:
		n := &extra
		if len(extra.Content) > 0 {
			n = extra.Content[0]
		}
		return nil, engine.Errorf(engine.Pos{File: ManifestFile, Line: max(n.Line, 1), Col: max(n.Column, 1)},
			"flow.yaml holds more than one YAML document; keep one (remove the --- line and what follows)")
	}
	if len(doc.Content) == 0 || doc.Content[0].ShortTag() == "!!null" && doc.Content[0].Kind == yaml.ScalarNode {
		return nil, engine.Errorf(engine.Pos{File: ManifestFile, Line: 1, Col: 1}, "flow.yaml is empty; write at least a name: and a list of cells:")
	}
	return doc.Content[0], nil
}

// syntaxError places a yaml.v3 syntax error. yaml.v3 gives the line of the
// construct it was parsing (a mapping that started above, say), not of the
// problem, so for a manifest of usual size the problem line is taken to be
// the first line at which a prefix of the file fails with the same message.
func syntaxError(src []byte, err error) *engine.Error {
	line, msg := splitYAMLError(err)
	lines := strings.Split(string(src), "\n")
	if len(src) <= 32<<10 && len(lines) <= 1000 {
		for k := 1; k <= len(lines); k++ {
			prefix := strings.Join(lines[:k], "\n") + "\n"
			if _, m := prefixError(prefix); m == msg {
				line = k
				break
			}
		}
	}
	col := 1
	if line <= len(lines) {
		l := lines[line-1]
		col = utf8.RuneCountInString(l[:len(l)-len(strings.TrimLeft(l, " \t"))]) + 1
	}
	return engine.Errorf(engine.Pos{File: ManifestFile, Line: line, Col: col},
		"YAML syntax error: %s; fix the syntax (check the indentation, and quote values that contain \": \" or \" #\" or start with a special character)", msg)
}

func (p *parser) at(n *yaml.Node) engine.Pos {
	return engine.Pos{File: ManifestFile, Line: n.Line, Col: n.Column}
}

func (p *parser) setPos(path string, n *yaml.Node) { p.c.pos[path] = p.at(n) }

// errAt reports a problem at a node without marking its path.
func (p *parser) errAt(n *yaml.Node, format string, args ...any) {
	p.c.errs = append(p.c.errs, engine.Errorf(p.at(n), format, args...))
}

// fail reports a YAML problem at n and marks path, so the structural checks
// do not report the same field again.
func (p *parser) fail(path string, n *yaml.Node, format string, args ...any) {
	p.errAt(n, format, args...)
	p.c.bad[path] = true
}

// describe names what a node holds, for "must be X, not Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	switch n.ShortTag() {
	case "!!str":
		return strconv.Quote(n.Value)
	case "!!null":
		return "empty"
	case "!!bool":
		return "a boolean"
	case "!!int", "!!float":
		return "a number"
	}
	return fmt.Sprintf("%q", n.Value)
}

func (p *parser) alias(path string, n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode {
		p.fail(path, n, "aliases (*%s) are not supported in flow.yaml; write the value out", n.Value)
		return true
	}
	return false
}

type entry struct{ key, val *yaml.Node }

// fields checks that n is a mapping whose keys are all known and returns
// its entries by key. Unknown and duplicate keys are reported and skipped.
func (p *parser) fields(path string, n *yaml.Node, what string, keys []string) (map[string]entry, bool) {
	if p.alias(path, n) {
		return nil, false
	}
	if n.Kind != yaml.MappingNode {
		p.fail(path, n, "%s must be a mapping with keys like %s, not %s", what, strings.Join(keys[:min(3, len(keys))], ", "), describe(n))
		return nil, false
	}
	m := map[string]entry{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.errAt(k, "a key in %s is %s; keys are plain names, like %s", what, describe(k), keys[0])
			continue
		}
		if prev, dup := m[k.Value]; dup {
			p.errAt(k, "duplicate key %q in %s (first at line %d); remove one", k.Value, what, prev.key.Line)
			continue
		}
		if k.Value == "<<" && k.Style == 0 {
			p.errAt(k, "merge keys (<<) are not supported in flow.yaml; write the keys out")
			m[k.Value] = entry{key: k}
			continue
		}
		if !slices.Contains(keys, k.Value) {
			p.errAt(k, "unknown key %q in %s%s", k.Value, what, didYouMean(k.Value, keys))
			m[k.Value] = entry{key: k}
			continue
		}
		m[k.Value] = entry{k, v}
	}
	for k, e := range m {
		if e.val == nil {
			delete(m, k)
		}
	}
	return m, true
}

// str reads a scalar as the text written: `name: 2024` is the string "2024".
func (p *parser) str(path string, n *yaml.Node, key string) string {
	p.setPos(path, n)
	switch {
	case p.alias(path, n):
	case n.Kind != yaml.ScalarNode:
		p.fail(path, n, "%s must be a string, not %s", key, describe(n))
	case n.ShortTag() == "!!null":
		p.fail(path, n, "%s has no value; write one or remove the key", key)
	default:
		return n.Value
	}
	return ""
}

func (p *parser) boolean(path string, n *yaml.Node, key string) bool {
	p.setPos(path, n)
	if p.alias(path, n) {
		return false
	}
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		hint := ""
		if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
			hint = " (without quotes)"
		}
		p.fail(path, n, "%s must be true or false%s, not %s", key, hint, describe(n))
	}
	return b
}

func (p *parser) integer(path string, n *yaml.Node, key string) int {
	p.setPos(path, n)
	if p.alias(path, n) {
		return 0
	}
	var v int
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&v) != nil {
		p.fail(path, n, "%s must be a whole number, like 2, not %s", key, describe(n))
		return 0
	}
	return v
}

func (p *parser) duration(path string, n *yaml.Node, key, zero string) time.Duration {
	p.setPos(path, n)
	if p.alias(path, n) {
		return 0
	}
	if n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!int" || n.ShortTag() == "!!float") {
		p.fail(path, n, "%s needs a unit; write %ss, or a duration like 500ms, 5m or 1h30m", key, n.Value)
		return 0
	}
	s := p.str(path, n, key)
	if p.c.bad[path] {
		return 0
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		p.fail(path, n, "%s %q is not a duration; write a number with a unit, like 30s, 500ms, 5m or 1h30m", key, s)
	case d <= 0:
		p.fail(path, n, "%s must be more than 0; remove it %s", key, zero)
	}
	return max(d, 0)
}

// list returns the items of a sequence; `key: []` gives none.
func (p *parser) list(path string, n *yaml.Node, key, example string) []*yaml.Node {
	p.setPos(path, n)
	switch {
	case p.alias(path, n):
	case n.Kind == yaml.SequenceNode:
		return n.Content
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null":
		p.fail(path, n, "%s has no value; write %s: [] for none, or remove the key", key, key)
	default:
		p.fail(path, n, "%s must be a list, like %s, not %s", key, example, describe(n))
	}
	return nil
}

// peekName finds the name: of a mapping, to name it in messages.
func peekName(n *yaml.Node, kind string, i int) string {
	if n.Kind == yaml.MappingNode {
		for j := 0; j+1 < len(n.Content); j += 2 {
			k, v := n.Content[j], n.Content[j+1]
			if k.Value == "name" && v.Kind == yaml.ScalarNode && v.Value != "" && len(v.Value) < 100 {
				return fmt.Sprintf("%s %q", kind, v.Value)
			}
		}
	}
	return fmt.Sprintf("%s %d", kind, i+1)
}

func (p *parser) flow(n *yaml.Node, f *engine.Flow) {
	if n.Kind == yaml.SequenceNode || n.Kind == yaml.ScalarNode {
		p.fail("", n, "flow.yaml must be a mapping with the keys name, description, order, network, inputs, triggers, concurrency, notify and cells, not %s", describe(n))
		return
	}
	m, ok := p.fields("", n, "flow.yaml", flowKeys)
	if !ok {
		return
	}
	if e, ok := m["name"]; ok {
		f.Name = p.str("name", e.val, "name")
	}
	if e, ok := m["description"]; ok {
		f.Description = p.str("description", e.val, "description")
	}
	if e, ok := m["order"]; ok {
		f.Order = engine.Order(p.str("order", e.val, "order"))
	}
	if e, ok := m["network"]; ok {
		f.NoNetwork = !p.boolean("network", e.val, "network")
	}
	if e, ok := m["inputs"]; ok {
		for i, item := range p.list("inputs", e.val, "inputs", "[{name: day, type: date}]") {
			f.Inputs = append(f.Inputs, p.input(i, item))
		}
	}
	if e, ok := m["triggers"]; ok {
		for i, item := range p.list("triggers", e.val, "triggers", "[{cron: \"0 6 * * *\"}]") {
			f.Triggers = append(f.Triggers, p.trigger(i, item))
		}
	}
	if e, ok := m["concurrency"]; ok {
		f.Concurrency = p.concurrency(e.val)
	}
	if e, ok := m["notify"]; ok {
		for i, item := range p.list("notify", e.val, "notify", "[{to: ops, on: [failed]}]") {
			f.Notify = append(f.Notify, p.notify(i, item))
		}
	}
	if e, ok := m["cells"]; ok {
		for i, item := range p.list("cells", e.val, "cells", "[{name: fetch, kind: http, file: fetch.http}]") {
			f.Cells = append(f.Cells, p.cell(i, item))
		}
	}
}

func (p *parser) input(i int, n *yaml.Node) engine.Input { return p.inputAt("inputs", i, n) }

// inputAt reads the i-th entry of the inputs list at base: the flow's, or
// an approval cell's form.
func (p *parser) inputAt(base string, i int, n *yaml.Node) engine.Input {
	path := fmt.Sprintf("%s.%d", base, i)
	p.setPos(path, n)
	in := engine.Input{Pos: p.at(n)}
	m, ok := p.fields(path, n, peekName(n, "input", i), inputKeys)
	if !ok {
		return in
	}
	if e, ok := m["name"]; ok {
		in.Name = p.str(path+".name", e.val, "name")
	}
	if e, ok := m["type"]; ok {
		in.Type = engine.InputType(p.str(path+".type", e.val, "type"))
	}
	if e, ok := m["required"]; ok {
		in.Required = p.boolean(path+".required", e.val, "required")
	}
	if e, ok := m["options"]; ok {
		for j, o := range p.list(path+".options", e.val, "options", "[small, large]") {
			in.Options = append(in.Options, p.str(fmt.Sprintf("%s.options.%d", path, j), o, "an option"))
		}
	}
	if e, ok := m["label"]; ok {
		in.Label = p.str(path+".label", e.val, "label")
	}
	if e, ok := m["description"]; ok {
		in.Description = p.str(path+".description", e.val, "description")
	}
	if e, ok := m["placeholder"]; ok {
		in.Placeholder = p.str(path+".placeholder", e.val, "placeholder")
	}
	if e, ok := m["default"]; ok {
		in.Default = p.value(path+".default", e.val)
	}
	return in
}

// value reads a default by its YAML type; check decides whether that type
// fits the input's.
func (p *parser) value(path string, n *yaml.Node) any {
	p.setPos(path, n)
	if p.alias(path, n) {
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		p.fail(path, n, "default must be a single value, not %s", describe(n))
		return nil
	}
	switch n.ShortTag() {
	case "!!str", "!!timestamp":
		return n.Value
	case "!!bool":
		var b bool
		if n.Decode(&b) == nil {
			return b
		}
	case "!!int":
		var v int64
		if n.Decode(&v) == nil {
			return v
		}
		p.fail(path, n, "default %s is too large; numbers must fit in 64 bits", n.Value)
		return nil
	case "!!float":
		var v float64
		if n.Decode(&v) == nil {
			return v
		}
	case "!!null":
		p.fail(path, n, "default has no value; write one or remove the key")
		return nil
	}
	p.fail(path, n, "default %q is not a string, a number or true/false; write one of those", n.Value)
	return nil
}

func (p *parser) trigger(i int, n *yaml.Node) engine.Trigger {
	path := fmt.Sprintf("triggers.%d", i)
	p.setPos(path, n)
	var t engine.Trigger
	m, ok := p.fields(path, n, fmt.Sprintf("trigger %d", i+1), triggerKeys)
	if !ok {
		return t
	}
	if e, ok := m["cron"]; ok {
		t.Cron = p.str(path+".cron", e.val, "cron")
	}
	if e, ok := m["timezone"]; ok {
		t.Timezone = p.str(path+".timezone", e.val, "timezone")
	}
	if e, ok := m["webhook"]; ok {
		t.Webhook = p.boolean(path+".webhook", e.val, "webhook")
	}
	if e, ok := m["rate"]; ok {
		t.Rate = p.integer(path+".rate", e.val, "rate")
		if t.Rate < 1 && !p.c.bad[path+".rate"] {
			p.fail(path+".rate", e.val, "rate must be 1 or more (runs a second per webhook token); remove it for the default, %d", engine.DefaultWebhookRate)
		}
	}
	if t.Cron == "" && !t.Webhook && (p.c.bad[path+".cron"] || p.c.bad[path+".webhook"]) {
		p.c.bad[path] = true
	}
	return t
}

// concurrency reads `concurrency: {limit: N, overlap: queue|skip|cancel}`.
func (p *parser) concurrency(n *yaml.Node) engine.Concurrency {
	const path = "concurrency"
	p.setPos(path, n)
	var c engine.Concurrency
	m, ok := p.fields(path, n, "concurrency", concurrencyKeys)
	if !ok {
		return c
	}
	if e, ok := m["limit"]; ok {
		c.Limit = p.integer(path+".limit", e.val, "limit")
		if c.Limit < 1 && !p.c.bad[path+".limit"] {
			p.fail(path+".limit", e.val, "limit must be 1 or more (runs of this flow at once); remove concurrency for no limit")
		}
	}
	if e, ok := m["overlap"]; ok {
		c.Overlap = engine.Overlap(p.str(path+".overlap", e.val, "overlap"))
	}
	return c
}

// notify reads one entry of `notify: [{to: DEST, on: [failed, waiting]}]`.
// Whether DEST exists is for the save to say (the workspace knows its
// destinations), not the parser.
func (p *parser) notify(i int, n *yaml.Node) engine.Notify {
	path := fmt.Sprintf("notify.%d", i)
	p.setPos(path, n)
	var w engine.Notify
	m, ok := p.fields(path, n, fmt.Sprintf("notify entry %d", i+1), notifyKeys)
	if !ok {
		return w
	}
	if e, ok := m["to"]; ok {
		w.To = p.str(path+".to", e.val, "to")
	}
	if e, ok := m["on"]; ok {
		w.On = []engine.NotifyEvent{} // present, even when empty: the check says so
		for j, item := range p.list(path+".on", e.val, "on", "[failed, waiting]") {
			w.On = append(w.On, engine.NotifyEvent(p.str(fmt.Sprintf("%s.on.%d", path, j), item, "an event")))
		}
	}
	return w
}

func (p *parser) cell(i int, n *yaml.Node) engine.Cell {
	path := fmt.Sprintf("cells.%d", i)
	p.setPos(path, n)
	c := engine.Cell{Pos: p.at(n)}
	m, ok := p.fields(path, n, peekName(n, "cell", i), cellKeys)
	if !ok {
		return c
	}
	if e, ok := m["name"]; ok {
		c.Name = p.str(path+".name", e.val, "name")
	}
	if e, ok := m["kind"]; ok {
		c.Kind = engine.Kind(p.str(path+".kind", e.val, "kind"))
	}
	if e, ok := m["file"]; ok {
		c.File = p.str(path+".file", e.val, "file")
	}
	if e, ok := m["approvers"]; ok {
		c.Approvers = []string{} // present, even when empty: the check says so
		for j, item := range p.list(path+".approvers", e.val, "approvers", "[editor, \"user:ana\", link]") {
			c.Approvers = append(c.Approvers, p.str(fmt.Sprintf("%s.approvers.%d", path, j), item, "an approvers entry"))
		}
	}
	if e, ok := m["approvals"]; ok {
		c.Approvals = p.integer(path+".approvals", e.val, "approvals")
		if c.Approvals < 1 && !p.c.bad[path+".approvals"] {
			p.fail(path+".approvals", e.val, "approvals must be 1 or more (the approvals the run waits for); remove it for 1")
		}
	}
	if e, ok := m["on_timeout"]; ok {
		c.OnTimeout = engine.OnTimeout(p.str(path+".on_timeout", e.val, "on_timeout"))
	}
	if e, ok := m["inputs"]; ok {
		for j, item := range p.list(path+".inputs", e.val, "inputs", "[{name: reason, type: string}]") {
			c.Inputs = append(c.Inputs, p.inputAt(path+".inputs", j, item))
		}
	}
	if e, ok := m["expect_status"]; ok {
		c.ExpectStatus = []string{} // present, even when empty: the check says so
		for j, item := range p.list(path+".expect_status", e.val, "expect_status", "[200, 404] or [2xx, 4xx]") {
			c.ExpectStatus = append(c.ExpectStatus, strings.ToLower(p.str(fmt.Sprintf("%s.expect_status.%d", path, j), item, "an expect_status entry")))
		}
	}
	if e, ok := m["timeout"]; ok {
		c.Timeout = p.duration(path+".timeout", e.val, "timeout", "to have no timeout")
	}
	if e, ok := m["retries"]; ok {
		c.Retries = p.integer(path+".retries", e.val, "retries")
	}
	if e, ok := m["retry_delay"]; ok {
		c.RetryDelay = p.duration(path+".retry_delay", e.val, "retry_delay", "to retry at once")
	}
	if e, ok := m["if"]; ok {
		c.If = p.str(path+".if", e.val, "if")
		c.IfPos = p.textPos(e.val)
	}
	if e, ok := m["needs"]; ok {
		c.NeedsPos = p.at(e.val)
		for j, item := range p.list(path+".needs", e.val, "needs", "[fetch, load]") {
			c.Needs = append(c.Needs, p.str(fmt.Sprintf("%s.needs.%d", path, j), item, "a needs entry"))
		}
	}
	if e, ok := m["connection"]; ok {
		c.Connection = p.str(path+".connection", e.val, "connection")
	}
	if e, ok := m["env"]; ok {
		c.Env = p.env(path+".env", e.val)
	}
	if e, ok := m["continue_on_error"]; ok {
		c.ContinueOnError = p.boolean(path+".continue_on_error", e.val, "continue_on_error")
	}
	return c
}

func (p *parser) env(path string, n *yaml.Node) []engine.EnvVar {
	p.setPos(path, n)
	if p.alias(path, n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.fail(path, n, "env must be a mapping of NAME: value, not %s", describe(n))
		return nil
	}
	var env []engine.EnvVar
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		ep := fmt.Sprintf("%s.%d", path, len(env))
		if k.Kind != yaml.ScalarNode {
			p.errAt(k, "an env name is %s; write NAME: value", describe(k))
			continue
		}
		p.setPos(ep, k)
		env = append(env, engine.EnvVar{Name: k.Value, Value: p.str(ep+".value", v, "env "+k.Value), Pos: p.textPos(v)})
	}
	return env
}

// textPos is where the text of a scalar starts: after the quote of a quoted
// one, on the first line of content of a block one. Expression errors are
// reported relative to it.
func (p *parser) textPos(n *yaml.Node) engine.Pos {
	pos := p.at(n)
	if n.Kind != yaml.ScalarNode {
		return pos
	}
	switch {
	case n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0:
		pos.Col++
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		for l := n.Line; l >= 1 && l < len(p.lines); l++ {
			line := strings.TrimRight(p.lines[l], "\r")
			text := strings.TrimLeft(line, " ")
			if text == "" {
				continue
			}
			return engine.Pos{File: ManifestFile, Line: l + 1, Col: len(line) - len(text) + 1}
		}
	}
	return pos
}
