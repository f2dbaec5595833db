package expr

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/opsbook/opsbook/engine"
)

// Lang is the language a template renders into; it decides how each value
// is encoded.
type Lang int

// The languages of templates.
const (
	LangText     Lang = iota // no encoding: env values
	LangShell                // a reference to an environment variable, or a number
	LangPython               // a Python literal
	LangSQL                  // a bind parameter
	LangHTTP                 // by place: URL, header, JSON or form body
	LangMarkdown             // text: markup characters escaped
)

var langNames = [...]string{"text", "shell", "python", "sql", "http", "markdown"}

func (l Lang) String() string {
	if l >= 0 && int(l) < len(langNames) {
		return langNames[l]
	}
	return fmt.Sprintf("Lang(%d)", int(l))
}

// LangOf is the language of a cell kind's source.
func LangOf(k engine.Kind) Lang {
	switch k {
	case engine.KindShell:
		return LangShell
	case engine.KindPython:
		return LangPython
	case engine.KindSQL:
		return LangSQL
	case engine.KindHTTP:
		return LangHTTP
	case engine.KindMarkdown, engine.KindApproval:
		return LangMarkdown
	}
	return LangText
}

// Template is a cell source (or env value) with {{ expr }} placeholders.
// It is immutable and safe for concurrent Render.
type Template struct {
	src  string
	lang Lang
	segs []segment
	refs []Ref
}

// segment is literal text, or a placeholder when expr is set.
type segment struct {
	text string
	expr *Expr
	pos  engine.Pos // of the {{
	ctx  context
	raw  bool
	why  string // a shell number: where bash evaluates it
	n    int    // a shell value: its environment variable is ShellVar(n)
}

// span is a placeholder found in the source: byte offsets of "{{" and of the
// end of "}}".
type span struct {
	start, end int
}

// ParseTemplate parses src, the content of file, for lang. It reports, as
// engine.Errors, every unclosed {{, empty {{ }}, expression that does not
// compile and placeholder that stands where its value cannot be encoded
// safely (inside shell or Python quotes).
func ParseTemplate(src, file string, lang Lang) (*Template, error) {
	origin := engine.Pos{File: file, Line: 1, Col: 1}
	spans, errs := scan(src, origin)
	t := &Template{src: src, lang: lang}
	exprs := make([]*Expr, len(spans))
	raw := make([]bool, len(spans))
	bad := make([]bool, len(spans))
	for i, sp := range spans {
		pos := advanceBytes(origin, src, sp.start)
		inner := src[sp.start+2 : sp.end-2]
		if strings.TrimSpace(inner) == "" {
			errs = append(errs, engine.Errorf(pos, `empty {{ }}: write an expression inside, e.g. {{ inputs.day }}, or {{ "{{" }} for literal braces`))
			bad[i] = true
			continue
		}
		e, err := Compile(inner, advanceBytes(origin, src, sp.start+2))
		if err != nil {
			errs = append(errs, err.(*engine.Error))
			bad[i] = true
			continue
		}
		exprs[i], raw[i] = e, e.c.raw
	}
	// Placeholders that do not compile are left out of the analysis, like
	// raw ones: their errors are reported already.
	skip := make([]bool, len(spans))
	for i := range spans {
		skip[i] = raw[i] || bad[i]
	}
	ctxs, cerrs, whys := contexts(src, spans, lang, skip)
	prev := 0
	vars := 0
	for i, sp := range spans {
		if sp.start > prev {
			t.segs = append(t.segs, segment{text: src[prev:sp.start]})
		}
		prev = sp.end
		if bad[i] {
			continue
		}
		pos := advanceBytes(origin, src, sp.start)
		if msg := cerrs[i]; msg != "" {
			errs = append(errs, &engine.Error{Pos: pos, Msg: msg})
			continue
		}
		e := exprs[i]
		seg := segment{expr: e, pos: pos, ctx: ctxs[i], raw: raw[i], why: whys[i]}
		if !seg.raw && (seg.ctx == ctxShellVar || seg.ctx == ctxShellVarDQ) {
			seg.n = vars
			vars++
		}
		t.segs = append(t.segs, seg)
		t.refs = append(t.refs, e.Refs()...)
	}
	if prev < len(src) {
		t.segs = append(t.segs, segment{text: src[prev:]})
	}
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool {
			a, b := errs[i].Pos, errs[j].Pos
			return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
		})
		return nil, errs
	}
	return t, nil
}

// Refs lists the references of every placeholder, in source order.
func (t *Template) Refs() []Ref { return append([]Ref(nil), t.refs...) }

// Static reports whether the template has no placeholders.
func (t *Template) Static() bool {
	for _, s := range t.segs {
		if s.expr != nil {
			return false
		}
	}
	return true
}

// Source is the template's text.
func (t *Template) Source() string { return t.src }

// Render evaluates every placeholder and writes its value encoded for the
// template's language. Values that stay out of the code come back in
// params: for LangSQL each placeholder becomes engine.ParamMarker(i) and its
// value is params[i]; for LangShell a placeholder that is text becomes
// "${OPSBOOK_VALUE_n}" (see ShellVar) and params holds the string
// "OPSBOOK_VALUE_n=value" for the process's environment; other languages
// give no params. Errors are *engine.Error at the placeholder's {{.
func (t *Template) Render(env Env) (text string, params []any, err error) {
	defer func() {
		if r := recover(); r != nil {
			text, params = "", nil
			err = fmt.Errorf("rendering template: internal error: %v", r)
		}
	}()
	var b strings.Builder
	b.Grow(len(t.src))
	envBytes := 0
	for _, s := range t.segs {
		if s.expr == nil {
			b.WriteString(s.text)
			continue
		}
		v, err := runProgram(s.expr.c.prog, env)
		if err != nil {
			return "", nil, &engine.Error{Pos: s.pos, Msg: "{{" + s.expr.src + "}}: " + s.expr.evalError(err).Msg}
		}
		if t.lang == LangSQL && !s.raw {
			p, err := sqlParam(v)
			if err != nil {
				return "", nil, &engine.Error{Pos: s.pos, Msg: "{{" + s.expr.src + "}}: " + err.Error()}
			}
			b.WriteString(engine.ParamMarker(len(params)))
			params = append(params, p)
			continue
		}
		ctx := s.ctx
		if s.raw {
			ctx = ctxText
		}
		if ctx == ctxShellVar || ctx == ctxShellVarDQ {
			pair, err := shellEnv(ShellVar(s.n), v)
			if err != nil {
				return "", nil, &engine.Error{Pos: s.pos, Msg: "{{" + s.expr.src + "}}: " + err.Error()}
			}
			envBytes += len(pair)
			if envBytes > maxShellEnv {
				return "", nil, &engine.Error{Pos: s.pos, Msg: "{{" + s.expr.src + "}}: " + errShellEnvTotal.Error()}
			}
			ref := "${" + ShellVar(s.n) + "}"
			if ctx == ctxShellVar {
				ref = `"` + ref + `"`
			}
			b.WriteString(ref)
			params = append(params, pair)
			continue
		}
		if err := encode(&b, ctx, v, s.why); err != nil {
			return "", nil, &engine.Error{Pos: s.pos, Msg: "{{" + s.expr.src + "}}: " + err.Error()}
		}
	}
	return b.String(), params, nil
}

// scan finds the placeholders of src. The closing }} is searched for
// outside expr-lang string literals ("…", '…', `…`) and outside braces
// the expression opens itself (map literals), so {{ "}}" }} and
// {{ {"a": {"b": 1}} }} are one placeholder each.
func scan(src string, origin engine.Pos) ([]span, engine.Errors) {
	var spans []span
	var errs engine.Errors
	i := 0
	for {
		j := strings.Index(src[i:], "{{")
		if j < 0 {
			return spans, errs
		}
		start := i + j
		end, openStr := closing(src, start+2)
		if end < 0 {
			msg := "unclosed {{: end the placeholder with }}"
			if openStr >= 0 {
				p := advanceBytes(origin, src, openStr)
				msg = fmt.Sprintf("unclosed {{: the string that starts at %d:%d is not closed", p.Line, p.Col)
			}
			errs = append(errs, &engine.Error{Pos: advanceBytes(origin, src, start), Msg: msg})
			return spans, errs
		}
		spans = append(spans, span{start: start, end: end})
		i = end
	}
}

// closing returns the offset just past the }} that closes a placeholder
// whose expression starts at k, or -1 and the offset of a string literal
// left open (or -1).
func closing(src string, k int) (end, openStr int) {
	depth := 0
	for k < len(src) {
		switch c := src[k]; c {
		case '"', '\'':
			q := k
			k++
			for k < len(src) && src[k] != c {
				if src[k] == '\\' {
					k++
				}
				k++
			}
			if k >= len(src) {
				return -1, q
			}
		case '`':
			n := strings.IndexByte(src[k+1:], '`')
			if n < 0 {
				return -1, k
			}
			k += n + 1
		case '{':
			depth++
		case '}':
			if depth == 0 && k+1 < len(src) && src[k+1] == '}' {
				return k + 2, -1
			}
			if depth > 0 {
				depth--
			}
		}
		k++
	}
	return -1, -1
}

// advanceBytes maps a byte offset in src, which starts at pos, onto its
// file. Columns count runes.
func advanceBytes(pos engine.Pos, src string, off int) engine.Pos {
	if off > len(src) {
		off = len(src)
	}
	line, col := pos.Line, pos.Col
	if line <= 0 {
		line = 1
	}
	if col <= 0 {
		col = 1
	}
	ls := strings.LastIndexByte(src[:off], '\n')
	if ls >= 0 {
		line += strings.Count(src[:ls], "\n") + 1
		col = 1
	}
	col += utf8.RuneCountInString(src[ls+1 : off])
	return engine.Pos{File: pos.File, Line: line, Col: col}
}
