package expr

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"mvdan.cc/sh/v3/syntax"
)

// ShellVarPrefix starts the names of the environment variables that carry a
// shell cell's values: {{ x }} becomes "${OPSBOOK_VALUE_1}" in the script and
// OPSBOOK_VALUE_1=<value> in its environment. flow.yaml cannot set OPSBOOK_
// names, and a script that names them itself is refused.
const ShellVarPrefix = "OPSBOOK_VALUE_"

// sentinelPrefix starts the word that stands for a placeholder in the script
// the parser reads: an identifier, so it is one plain word wherever a
// placeholder may stand, a name where a name stands, a variable where
// arithmetic reads one.
const sentinelPrefix = "__opsbook_ph_"

func sentinel(i int) string { return sentinelPrefix + strconv.Itoa(i) + "_" }

// ShellVar is the environment variable that carries the value of the n-th
// (from 0) placeholder of a shell script.
func ShellVar(n int) string { return ShellVarPrefix + strconv.Itoa(n+1) }

const (
	msgShellSingle   = `a placeholder inside '…' quotes: the shell expands nothing there; write it outside the quotes or inside "…", e.g. echo 'Hello, '{{ inputs.name }} or echo "Hello, {{ inputs.name }}"`
	msgShellAnsi     = `a placeholder inside $'…' or $"…" quotes: write it outside them or inside plain "…", e.g. echo "Hello, {{ inputs.name }}"`
	msgShellQHeredoc = `a placeholder in a here-document whose delimiter is quoted (<<'EOF'): the shell expands nothing there; write the delimiter unquoted (<<EOF), where the value is inserted as text`
	msgShellDelim    = "a placeholder in a here-document's delimiter: write the delimiter as plain text, e.g. <<EOF"
	msgShellBacktick = "a placeholder inside `…`: the shell reads that text twice; use $(…) instead, e.g. $(basename {{ inputs.path }})"
	msgShellDollar   = "a placeholder right after $: put a space or other text between them, or write the placeholder alone"
	msgShellBackslsh = "a placeholder right after a backslash: remove the backslash, or put the placeholder inside \"…\""
	msgShellCommand  = "a placeholder as a command name would let a value choose what runs; name the command in the script and pass the value as an argument, e.g. echo {{ inputs.name }}"
	msgShellDynamic  = "a placeholder as an argument of a command whose name is computed (it could be eval or another command that runs its arguments); name the command in the script"
	msgShellExtGlob  = "a placeholder inside an extended glob @(…), +(…), …: set a variable first (NAME={{ inputs.x }}) and use \"$NAME\" there"
	msgShellFuncName = "a placeholder as the name of a function or coprocess: name it in the script"
	msgShellIntDecl  = "this script declares integer or reference variables (declare -i, local -n, …) with names computed at run time, so where bash evaluates values cannot be decided; name those variables in the script"
	msgShellReserved = "the script names " + ShellVarPrefix + "…, which Opsbook uses to pass values; rename it"
	msgShellSentinel = "the script contains " + sentinelPrefix + ", which Opsbook uses to check placeholders; rename it"
	msgShellUnsure   = "a placeholder here is not one shell word that a parser can place; put it where a word may stand, e.g. echo {{ inputs.name }}"
	msgShellPrompt   = "a placeholder whose value becomes a prompt (PS0–PS4, PROMPT_COMMAND, ${v@P}) or a startup file (BASH_ENV, ENV), which bash runs as code; set it in the script"
)

// How a command runs some of its arguments as code.
const (
	codeNone    = iota
	codeAll     // every argument (eval, trap, source)
	codeDashC   // the argument after -c (bash -c)
	codeDashE   // the argument after -c or -e (python -c, perl -e)
	codeProgram // the first argument that is not an option, or after -e (awk, sed)
	codeRemote  // everything after the host (ssh)
)

// codeCmds run some of their arguments as code: a placeholder there, or a
// variable that holds a value, is refused.
var codeCmds = map[string]int{
	"eval": codeAll, "trap": codeAll, "source": codeAll, ".": codeAll, "alias": codeAll, "watch": codeAll,
	"complete": codeAll, "compgen": codeAll, "bind": codeAll, "fc": codeAll,
	"bash": codeDashC, "sh": codeDashC, "dash": codeDashC, "zsh": codeDashC, "ksh": codeDashC, "mksh": codeDashC,
	"ash": codeDashC, "busybox": codeDashC, "su": codeDashC, "script": codeDashC, "runuser": codeDashC,
	"python": codeDashE, "python3": codeDashE, "perl": codeDashE, "ruby": codeDashE, "node": codeDashE, "php": codeDashE,
	"awk": codeProgram, "gawk": codeProgram, "mawk": codeProgram, "nawk": codeProgram, "sed": codeProgram, "jq": codeProgram,
	"ssh": codeRemote,
}

// wrappers run their arguments as a command; the command they run is found
// after their options (and, for some, one more argument).
var wrappers = map[string]int{
	"command": 0, "builtin": 0, "exec": 0, "nohup": 0, "nice": 0, "env": 0, "sudo": 0, "doas": 0,
	"setsid": 0, "stdbuf": 0, "ionice": 0, "xargs": 0, "time": 0, "unbuffer": 0, "flock": 1,
	"timeout": 1, "chroot": 1, "chrt": 1, "taskset": 1, "strace": 0, "ltrace": 0,
}

// nameArgCmds take variable names as arguments, where bash evaluates a
// subscript a[…] as arithmetic: only numbers may stand there. The value
// lists the options whose argument is text, not a name.
var nameArgCmds = map[string][]string{
	"read": {"-d", "-i", "-p", "-t", "-n", "-N", "-u"}, "mapfile": {"-d", "-n", "-O", "-s", "-u", "-c"},
	"readarray": {"-d", "-n", "-O", "-s", "-u", "-c"}, "unset": nil,
}

// promptVars are expanded as code whenever bash shows a prompt or traces,
// or name a file a starting bash runs.
var promptVars = map[string]bool{"PS0": true, "PS1": true, "PS2": true, "PS3": true, "PS4": true, "PROMPT_COMMAND": true, "BASH_ENV": true, "ENV": true}

// parsers are reusable bash parsers; making one costs more than a short
// script's parse.
var parsers = sync.Pool{New: func() any {
	return syntax.NewParser(syntax.Variant(syntax.LangBash), syntax.KeepComments(true))
}}

const msgOpaque = "a variable of a script that runs eval or source, whose code may declare it integer (declare -i) where the parser cannot see; use the placeholder directly where the value is needed instead of assigning it"

type regionKind uint8

const (
	rQuoted regionKind = iota // inside "…" or an unquoted here-document: ${NAME}
	rFresh                    // a new quoting level ($(…), ${x:-…}): "${NAME}"
	rNumber                   // evaluated, written bare: names, let, [[ -eq ]], declare -i values
	rArith                    // an arithmetic expression: a negative number in parentheses
	rRefuse                   // no placeholder here
	rCode                     // run as code: no placeholder, no variable that holds one
)

type region struct {
	start, end int
	kind       regionKind
	msg        string // rRefuse, rCode
	why        string // rNumber, rArith: where bash evaluates it
	line       uint
	// only: the region decides where a placeholder inside it stands, but
	// the variables it mentions are not evaluated (the name in $name).
	only bool
}

type varRef struct {
	name string
	off  int
}

// assignment is a variable that receives the text of [start,end) of the
// script (an assignment's value, read's input, a for loop's words).
type assignment struct {
	name       string
	start, end int
}

type shellScan struct {
	src     string
	regions []region
	lits    []*syntax.Lit
	leaves  []region // single-quoted strings: refused
	comment [][2]int
	params  []varRef // $x, ${x…}: the variables a stretch of script reads
	substs  [][2]int // $(…), `…`, <(…): what bash uses of them is a command's output
	assigns []assignment
	ints    map[string]bool // declare -i names: values evaluated
	refs    map[string]bool // declare -n names: values are names
	funcs   map[string]bool
	aliases map[string]bool
	calls   [][]*syntax.Word // arguments of calls to the script's functions or set: positional parameters
	shifts  bool             // positions move (shift, set): any positional parameter may be any argument
	dynamic bool             // an integer or reference declaration with a computed name
	opaque  bool             // eval or source: code the parser cannot read may declare any variable integer
	names   bool             // the first pass: only function names and declarations
}

func span2(n syntax.Node) (int, int) {
	return int(n.Pos().Offset()), int(n.End().Offset())
}

func (s *shellScan) add(n syntax.Node, kind regionKind, msg string) {
	if absent(n) || !n.Pos().IsValid() {
		return
	}
	a, b := span2(n)
	s.addSpan(a, b, kind, msg, n.Pos().Line())
}

// addOnly adds a name that is written in the script: a placeholder there
// is a number, and the name itself is no read of a variable.
func (s *shellScan) addOnly(n syntax.Node, why string) {
	k := len(s.regions)
	s.add(n, rNumber, why)
	if len(s.regions) > k {
		s.regions[k].only = true
	}
}

func (s *shellScan) addSpan(a, b int, kind regionKind, msg string, line uint) {
	r := region{start: a, end: b, kind: kind, line: line}
	if kind == rRefuse || kind == rCode {
		r.msg = msg
	} else {
		r.why = msg
	}
	s.regions = append(s.regions, r)
}

// absent reports a node that is not there: a nil interface, a nil pointer
// in one, or a word without parts.
func absent(n syntax.Node) bool {
	if n == nil {
		return true
	}
	if v := reflect.ValueOf(n); v.Kind() == reflect.Pointer && v.IsNil() {
		return true
	}
	w, ok := n.(*syntax.Word)
	return ok && len(w.Parts) == 0
}

// arith adds an arithmetic expression, which may be absent.
func (s *shellScan) arith(x syntax.ArithmExpr, kind regionKind, why string) {
	if x != nil {
		s.add(x, kind, why)
	}
}

// shellAnalysis decides, with a bash parser, how each placeholder of src is
// written into the script: a quoted reference to an environment variable,
// a bare number where bash evaluates the text (arithmetic, variable names),
// or an error where neither is safe. skip marks placeholders that are not
// analysed (raw(x)).
func shellAnalysis(src string, spans []span, skip []bool) (ctxs []context, msgs, whys []string) {
	n := len(spans)
	ctxs = make([]context, n)
	msgs = make([]string, n)
	whys = make([]string, n)
	analyse := false
	for i := range spans {
		ctxs[i] = ctxShellVar
		analyse = analyse || !skip[i]
	}
	if !analyse {
		return ctxs, msgs, whys
	}
	refuseAll := func(msg string) ([]context, []string, []string) {
		for i := range msgs {
			if !skip[i] {
				msgs[i] = msg
			}
		}
		return ctxs, msgs, whys
	}
	// The skeleton: src with each placeholder replaced by its sentinel.
	var b strings.Builder
	offs := make([]int, n)
	prev := 0
	for i, sp := range spans {
		static := src[prev:sp.start]
		if strings.Contains(static, ShellVarPrefix) {
			return refuseAll(msgShellReserved)
		}
		if strings.Contains(static, sentinelPrefix) {
			return refuseAll(msgShellSentinel)
		}
		b.WriteString(static)
		offs[i] = b.Len()
		b.WriteString(sentinel(i))
		prev = sp.end
	}
	if strings.Contains(src[prev:], ShellVarPrefix) {
		return refuseAll(msgShellReserved)
	}
	if strings.Contains(src[prev:], sentinelPrefix) {
		return refuseAll(msgShellSentinel)
	}
	b.WriteString(src[prev:])
	sk := b.String()

	s, err := scanShell(sk)
	if err != nil {
		return refuseAll(err.Error() + ", so where its placeholders land cannot be decided; fix the script")
	}
	if s.dynamic {
		return refuseAll(msgShellIntDecl)
	}

	number := make([]bool, n)
	arithm := make([]bool, n)
	for i := range spans {
		if skip[i] {
			continue
		}
		a, e := offs[i], offs[i]+len(sentinel(i))
		msg, num, ar, why, quoted := s.place(a, e)
		msgs[i], number[i], arithm[i], whys[i] = msg, num, ar, why
		if quoted {
			ctxs[i] = ctxShellVarDQ
		}
	}

	// Values that reach an evaluated place through variables.
	sources := s.taint(offs, n, nil)
	mark := func(vars map[string]string, kind regionKind, msg string) {
		for _, v := range slices.Sorted(maps.Keys(vars)) {
			why := vars[v]
			for _, i := range sources[v] {
				if skip[i] {
					continue
				}
				switch {
				case kind == rCode && msgs[i] == "":
					msgs[i] = msg + " (through $" + v + ")"
				case kind != rCode && !number[i]:
					number[i] = true
					whys[i] = why + " through $" + v
				}
			}
		}
	}
	for _, r := range s.regions {
		if r.only {
			continue
		}
		switch r.kind {
		case rNumber, rArith:
			mark(s.readsIn(r), r.kind, "")
		case rCode:
			mark(s.readsIn(r), rCode, r.msg)
		}
	}
	byName := func(set map[string]bool, why string) map[string]string {
		m := map[string]string{}
		for v := range set {
			m[v] = why
		}
		return m
	}
	mark(byName(s.ints, "a variable declared integer (declare -i), whose values bash evaluates as arithmetic"), rNumber, "")
	if s.opaque {
		assigned := map[string]bool{}
		for _, a := range s.assigns {
			assigned[a.name] = true
		}
		mark(byName(assigned, msgOpaque), rNumber, "")
	}
	mark(byName(s.refs, "a reference variable (declare -n), whose value bash reads as a variable name"), rNumber, "")
	mark(byName(promptVars, ""), rCode, msgShellPrompt)

	for i := range spans {
		switch {
		case skip[i] || msgs[i] != "":
		case arithm[i]:
			ctxs[i] = ctxShellArith
		case number[i]:
			ctxs[i] = ctxShellNumber
		}
	}
	return ctxs, msgs, whys
}

// scanShell parses a script (placeholders replaced by sentinels) and
// records where bash evaluates text.
func scanShell(sk string) (*shellScan, error) {
	parser := parsers.Get().(*syntax.Parser)
	f, err := parser.Parse(strings.NewReader(sk), "")
	parsers.Put(parser)
	if err != nil {
		msg := err.Error()
		if e, ok := err.(syntax.ParseError); ok {
			msg = e.Text
		}
		return nil, fmt.Errorf("the script does not parse as bash (%s)", msg)
	}
	// Function names and declarations first: a function may assign a
	// variable that a later line declares integer, and calls may come
	// before the definition in the text but run after it.
	s := &shellScan{src: sk, ints: map[string]bool{}, refs: map[string]bool{}, funcs: map[string]bool{}, aliases: map[string]bool{}, names: true}
	syntax.Walk(f, s.visit)
	s.names = false
	syntax.Walk(f, s.visit)
	return s, nil
}

// ShellEnvUse says how a shell script uses a variable of its environment
// whose value comes from a template (a cell's env in flow.yaml): Code when
// the script runs it as code (eval "$X", a prompt such as PS4, bash -c
// "$X"), else Number when bash evaluates it (arithmetic, a variable name),
// so that only a whole number may be its value; Why says where.
type ShellEnvUse struct {
	Code, Number bool
	Why          string
}

// ShellEnv finds how the script of t, a LangShell template, uses each of
// the environment variables names. An error means the script cannot be
// analysed (it does not parse, or declares integers with computed names).
func (t *Template) ShellEnv(names []string) (map[string]ShellEnvUse, error) {
	out := map[string]ShellEnvUse{}
	if len(names) == 0 {
		return out, nil
	}
	var b strings.Builder
	k := 0
	for _, sg := range t.segs {
		if sg.expr == nil {
			b.WriteString(sg.text)
			continue
		}
		b.WriteString(sentinel(k))
		k++
	}
	s, err := scanShell(b.String())
	if err != nil {
		return nil, err
	}
	if s.dynamic {
		return nil, errors.New(msgShellIntDecl)
	}
	seed := map[string][]int{}
	for j, n := range names {
		seed[n] = append(seed[n], j)
	}
	sources := s.taint(nil, 0, seed)
	note := func(v string, code bool, why string) {
		for _, j := range sources[v] {
			name := names[j]
			if v != name {
				why += " through $" + v
			}
			u := out[name]
			switch {
			case code && !u.Code:
				out[name] = ShellEnvUse{Code: true, Why: why}
			case !code && !u.Code && !u.Number:
				out[name] = ShellEnvUse{Number: true, Why: why}
			}
		}
	}
	for _, r := range s.regions {
		if r.only {
			continue
		}
		switch r.kind {
		case rNumber, rArith:
			reads := s.readsIn(r)
			for _, v := range slices.Sorted(maps.Keys(reads)) {
				note(v, false, reads[v])
			}
		case rCode:
			for _, v := range slices.Sorted(maps.Keys(s.readsIn(r))) {
				note(v, true, fmt.Sprintf("%s (line %d)", r.msg, r.line))
			}
		}
	}
	for _, v := range slices.Sorted(maps.Keys(s.ints)) {
		note(v, false, "a variable declared integer (declare -i), whose values bash evaluates as arithmetic")
	}
	for _, v := range slices.Sorted(maps.Keys(s.refs)) {
		note(v, false, "a reference variable (declare -n), whose value bash reads as a variable name")
	}
	for v := range promptVars {
		note(v, true, msgShellPrompt)
	}
	return out, nil
}

// IsShellNumber reports whether s may stand where bash evaluates text: a
// whole number in decimal.
func IsShellNumber(s string) bool { return isInteger(s) }

// place decides the sentinel at [a,e): an error, or a number (and whether
// inside an arithmetic expression), or text (and whether inside "…").
func (s *shellScan) place(a, e int) (msg string, number, arith bool, why string, quoted bool) {
	leaf := false
	for _, l := range s.lits {
		la, le := span2(l)
		if la <= a && e <= le {
			leaf = true
			break
		}
	}
	for _, q := range s.leaves {
		if q.start <= a && e <= q.end {
			return q.msg, false, false, "", false
		}
	}
	for _, c := range s.comment {
		if c[0] <= a && e <= c[1] {
			return "", false, false, "", false // inert: the reference is text in a comment
		}
	}
	if !leaf {
		return msgShellUnsure, false, false, "", false
	}
	bs := 0
	for k := a - 1; k >= 0 && s.src[k] == '\\'; k-- {
		bs++
	}
	if bs%2 == 1 {
		return msgShellBackslsh, false, false, "", false
	}
	if a > 0 && s.src[a-1] == '$' {
		return msgShellDollar, false, false, "", false
	}
	var num, quote *region
	for k := range s.regions {
		r := &s.regions[k]
		if !(r.start <= a && e <= r.end) {
			continue
		}
		switch r.kind {
		case rRefuse, rCode:
			return r.msg, false, false, "", false
		case rNumber, rArith:
			if num == nil || r.start >= num.start && r.end <= num.end {
				num = r
			}
		case rQuoted, rFresh:
			if quote == nil || r.start >= quote.start && r.end <= quote.end {
				quote = r
			}
		}
	}
	if num != nil {
		return "", true, num.kind == rArith, fmt.Sprintf("%s (line %d)", num.why, num.line), false
	}
	return "", false, false, "", quote != nil && quote.kind == rQuoted
}

// reads reports whether a variable read at off, inside [a,e), gives its
// value to that stretch of script: not when a command substitution inside
// the stretch holds it, since then what the stretch gets is the command's
// output (the limit of this analysis: values are followed through
// variables and parameters, not through what commands print or write).
func (s *shellScan) reads(off, a, e int) bool {
	if off < a || off >= e {
		return false
	}
	for _, c := range s.substs {
		if a <= c[0] && c[1] <= e && c[0] <= off && off < c[1] {
			return false
		}
	}
	return true
}

// readsIn lists the variables whose values bash evaluates in region r, with
// why: every $x and ${x…} in it and, in arithmetic, every bare name.
func (s *shellScan) readsIn(r region) map[string]string {
	out := map[string]string{}
	why := fmt.Sprintf("%s (line %d)", r.why, r.line)
	for _, p := range s.params {
		if s.reads(p.off, r.start, r.end) {
			out[p.name] = why
		}
	}
	if r.kind != rArith && r.kind != rNumber {
		return out
	}
	for _, l := range s.lits {
		la, le := span2(l)
		if la < r.start || le > r.end || !s.reads(la, r.start, r.end) {
			continue
		}
		v := l.Value
		if r.kind == rNumber {
			// A name is a name; only a subscript in it is evaluated.
			k := strings.IndexByte(v, '[')
			if k < 0 {
				continue
			}
			v = v[k:]
		}
		for _, w := range identifiers(v) {
			out[w] = why
		}
	}
	return out
}

// identifiers are the words of s that bash arithmetic reads as variables.
func identifiers(s string) []string {
	var out []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			for i < len(s) && isWordByte(s[i]) {
				i++ // a number, 0x1f or 16#ff: no name
			}
		case isWordByte(c):
			j := i
			for j < len(s) && isWordByte(s[j]) {
				j++
			}
			out = append(out, s[i:j])
			i = j
		default:
			i++
		}
	}
	return out
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// taint maps each variable to the placeholders whose values it may hold,
// following assignments from variable to variable (flow-insensitively:
// anywhere in the script, any function).
//
// seed gives variables that hold values from the start (the environment).
func (s *shellScan) taint(offs []int, n int, seed map[string][]int) map[string][]int {
	in := func(a, e int) []int {
		var out []int
		for i := 0; i < n; i++ {
			if a <= offs[i] && offs[i] < e {
				out = append(out, i)
			}
		}
		return out
	}
	src := map[string][]int{}
	for v, is := range seed {
		src[v] = slices.Clone(is)
	}
	deps := map[string][]string{}
	addSrc := func(v string, is []int) {
		for _, i := range is {
			if !slices.Contains(src[v], i) {
				src[v] = append(src[v], i)
			}
		}
	}
	for _, as := range s.assigns {
		addSrc(as.name, in(as.start, as.end))
		for _, p := range s.params {
			if s.reads(p.off, as.start, as.end) && p.name != as.name {
				deps[as.name] = append(deps[as.name], p.name)
			}
		}
	}
	// Argument i of a call of the script's functions (or set) is $i there,
	// and part of $@; after a shift it may be any of them.
	for _, args := range s.calls {
		for i, w := range args {
			a, e := span2(w)
			names := []string{"@", "@" + strconv.Itoa(i+1)}
			if s.shifts {
				names = names[:1]
			}
			for _, v := range names {
				addSrc(v, in(a, e))
				for _, p := range s.params {
					if s.reads(p.off, a, e) && p.name != v {
						deps[v] = append(deps[v], p.name)
					}
				}
			}
		}
	}
	if s.shifts {
		for v := range s.paramNames() {
			if strings.HasPrefix(v, "@") && v != "@" {
				deps[v] = append(deps[v], "@")
			}
		}
	}
	for changed := true; changed; {
		changed = false
		for v, ds := range deps {
			for _, d := range ds {
				for _, i := range src[d] {
					if !slices.Contains(src[v], i) {
						src[v] = append(src[v], i)
						changed = true
					}
				}
			}
		}
	}
	return src
}

// paramNames is the set of variables the script reads.
func (s *shellScan) paramNames() map[string]bool {
	m := map[string]bool{}
	for _, p := range s.params {
		m[p.name] = true
	}
	return m
}

// paramName is the variable a parameter expansion reads; positional
// parameters are "@1", "@2", …, and "@" for all of them ($@, $*).
func paramName(p *syntax.ParamExp) string {
	if p.Param == nil {
		return ""
	}
	v := p.Param.Value
	switch {
	case v == "@" || v == "*":
		return "@"
	case v != "" && v[0] >= '0' && v[0] <= '9':
		if v == "0" {
			return ""
		}
		return "@" + v
	}
	return v
}

// litWord is the text of w when it is one plain literal, and whether it is.
func litWord(w *syntax.Word) (string, bool) {
	if w == nil || len(w.Parts) != 1 {
		return "", false
	}
	l, ok := w.Parts[0].(*syntax.Lit)
	if !ok || strings.ContainsAny(l.Value, "\\") {
		return "", false
	}
	return l.Value, true
}

func (s *shellScan) visit(nd syntax.Node) bool {
	if s.names {
		switch x := nd.(type) {
		case *syntax.FuncDecl:
			if x.Name != nil {
				s.funcs[x.Name.Value] = true
			}
		case *syntax.DeclClause:
			s.decl(x)
		case *syntax.Stmt:
			if c, ok := x.Cmd.(*syntax.CallExpr); ok {
				s.call(x, c)
			}
		}
		return true
	}
	switch x := nd.(type) {
	case *syntax.Lit:
		s.lits = append(s.lits, x)
	case *syntax.SglQuoted:
		a, e := span2(x)
		msg := msgShellSingle
		if x.Dollar {
			msg = msgShellAnsi
		}
		s.leaves = append(s.leaves, region{start: a, end: e, msg: msg})
	case *syntax.Comment:
		a, e := span2(x)
		s.comment = append(s.comment, [2]int{a, e})
	case *syntax.DblQuoted:
		if x.Dollar {
			s.add(x, rRefuse, msgShellAnsi)
		} else {
			s.add(x, rQuoted, "")
		}
	case *syntax.CmdSubst:
		a, e := span2(x)
		s.substs = append(s.substs, [2]int{a, e})
		if x.Backquotes {
			s.add(x, rRefuse, msgShellBacktick)
		} else {
			s.add(x, rFresh, "")
		}
	case *syntax.ProcSubst:
		a, e := span2(x)
		s.substs = append(s.substs, [2]int{a, e})
		s.add(x, rFresh, "")
	case *syntax.ExtGlob:
		s.add(x, rRefuse, msgShellExtGlob)
	case *syntax.ParamExp:
		if name := paramName(x); name != "" {
			s.params = append(s.params, varRef{name: name, off: int(x.Param.Pos().Offset())})
		}
		if x.Param != nil {
			if x.Excl && x.Names == 0 {
				// ${!x}: the value of x is a name.
				s.add(x.Param, rNumber, "a variable name (${!…})")
			} else {
				s.addOnly(x.Param, "a variable name")
			}
		}
		s.arith(x.Index, rArith, "an array subscript")
		if x.Slice != nil {
			s.arith(x.Slice.Offset, rArith, "a substring offset ${v:offset:length}")
			s.arith(x.Slice.Length, rArith, "a substring length ${v:offset:length}")
		}
		if x.Repl != nil {
			s.add(x.Repl.Orig, rFresh, "")
			s.add(x.Repl.With, rFresh, "")
		}
		if x.Exp != nil {
			s.add(x.Exp.Word, rFresh, "")
			if w, _ := litWord(x.Exp.Word); x.Exp.Op == syntax.OtherParamOps && w == "P" {
				// ${v@P} expands v's value as a prompt, $(…) included.
				s.add(x, rCode, msgShellPrompt)
			}
		}
		if x.NestedParam != nil {
			s.add(x.NestedParam, rRefuse, msgShellUnsure)
		}
	case *syntax.ArithmExp:
		s.add(x, rArith, "arithmetic $((…))")
	case *syntax.ArithmCmd:
		s.add(x, rArith, "arithmetic ((…))")
	case *syntax.CStyleLoop:
		s.add(x, rArith, "arithmetic for ((…))")
	case *syntax.LetClause:
		for _, e := range x.Exprs {
			s.arith(e, rNumber, "arithmetic (let)")
		}
	case *syntax.BinaryTest:
		switch x.Op {
		case syntax.TsEql, syntax.TsNeq, syntax.TsLeq, syntax.TsGeq, syntax.TsLss, syntax.TsGtr:
			s.add(x, rNumber, "an arithmetic comparison in [[ … ]]")
		}
	case *syntax.UnaryTest:
		if x.Op == syntax.TsVarSet || x.Op == syntax.TsRefVar {
			s.add(x.X, rNumber, "a variable name ([[ -v … ]])")
		}
	case *syntax.Assign:
		s.assign(x)
	case *syntax.ArrayElem:
		s.arith(x.Index, rArith, "an array subscript")
	case *syntax.Redirect:
		if x.N != nil {
			s.add(x.N, rNumber, "a variable name ({NAME}>)")
		}
		if x.Op == syntax.Hdoc || x.Op == syntax.DashHdoc {
			s.add(x.Word, rRefuse, msgShellDelim)
			if _, plain := litWord(x.Word); plain {
				s.add(x.Hdoc, rQuoted, "")
			} else {
				s.add(x.Hdoc, rRefuse, msgShellQHeredoc)
			}
		}
	case *syntax.WordIter:
		s.addOnly(x.Name, "a variable name (for NAME in …)")
		if x.Name != nil && len(x.Items) > 0 {
			a, _ := span2(x.Items[0])
			_, e := span2(x.Items[len(x.Items)-1])
			s.assigns = append(s.assigns, assignment{name: x.Name.Value, start: a, end: e})
		}
	case *syntax.FuncDecl:
		s.add(x.Name, rRefuse, msgShellFuncName)
	case *syntax.CoprocClause:
		s.add(x.Name, rRefuse, msgShellFuncName)
	case *syntax.DeclClause:
		s.decl(x)
	case *syntax.BinaryCmd:
		if x.Op == syntax.Pipe || x.Op == syntax.PipeAll {
			if c, ok := x.Y.Cmd.(*syntax.CallExpr); ok && len(c.Args) > 0 && stdinCode(c) {
				s.add(x.X, rCode, "a placeholder in what is piped into a program that runs its input as code; pass the value as data")
			}
		}
	case *syntax.Stmt:
		if c, ok := x.Cmd.(*syntax.CallExpr); ok {
			s.call(x, c)
		}
	}
	return true
}

// assign records an assignment: its name is a name, its value goes into
// the variable, and an integer variable's value is arithmetic.
func (s *shellScan) assign(a *syntax.Assign) {
	if a.Name == nil {
		return
	}
	s.addOnly(a.Name, "a variable name")
	s.arith(a.Index, rArith, "an array subscript")
	name := a.Name.Value
	var val syntax.Node
	switch {
	case a.Value != nil:
		val = a.Value
	case a.Array != nil:
		val = a.Array
	}
	if val == nil {
		return
	}
	st, en := span2(val)
	s.assigns = append(s.assigns, assignment{name: name, start: st, end: en})
	switch {
	case s.ints[name]:
		s.addSpan(st, en, rNumber, "the value of a variable declared integer (declare -i)", val.Pos().Line())
	case s.opaque:
		s.addSpan(st, en, rNumber, msgOpaque, val.Pos().Line())
	case s.refs[name]:
		s.addSpan(st, en, rNumber, "the value of a reference variable (declare -n), a variable name", val.Pos().Line())
	case promptVars[name]:
		s.addSpan(st, en, rCode, msgShellPrompt, val.Pos().Line())
	}
}

// declFlags reports whether a declare-like word list declares integer or
// reference variables; flags come as words starting with - (or + to clear).
func declFlags(words []string) (integer, ref bool) {
	for _, w := range words {
		if strings.HasPrefix(w, "-") {
			integer = integer || strings.ContainsRune(w[1:], 'i')
			ref = ref || strings.ContainsRune(w[1:], 'n')
		}
	}
	return integer, ref
}

func (s *shellScan) decl(d *syntax.DeclClause) {
	var flags []string
	for _, a := range d.Args {
		if a.Naked && a.Name == nil {
			if w, ok := litWord(a.Value); ok && strings.HasPrefix(w, "-") {
				flags = append(flags, w)
			}
		}
	}
	integer, ref := declFlags(flags)
	for _, a := range d.Args {
		switch {
		case a.Name != nil:
			// The Assign itself is visited by the walk.
			if s.names && integer {
				s.ints[a.Name.Value] = true
			}
			if s.names && ref {
				s.refs[a.Name.Value] = true
			}
		case a.Naked && a.Value != nil:
			w, ok := litWord(a.Value)
			if ok && (strings.HasPrefix(w, "-") || strings.HasPrefix(w, "+")) {
				continue
			}
			if s.names {
				if (integer || ref) && !ok {
					s.dynamic = true
				}
				continue
			}
			// A computed word: a name, or name=value, decided at run time.
			s.add(a.Value, rNumber, "a variable name ("+d.Variant.Value+")")
		}
	}
}

// interpreterScript finds the argument an interpreter runs: after -c (or
// -e for perl, ruby, node…), or else its first argument that is not an
// option (a script file, which a value must not choose). ok is false when
// it reads its program from standard input.
func interpreterScript(name string, rest callWords) (int, bool) {
	flags := "c"
	if codeCmds[name] == codeDashE {
		flags = "ce"
	}
	for i := range rest.words {
		switch {
		case rest.option(i) && !strings.HasPrefix(rest.lit[i], "--") && strings.ContainsAny(rest.lit[i][1:], flags):
			return i + 1, true
		case rest.option(i) && name != "su" && codeCmds[name] == codeDashC && strings.ContainsRune(rest.lit[i][1:], 's'):
			return 0, false // bash -s: commands from standard input
		case rest.is(i, "--"):
			return i + 1, i+1 < len(rest.words)
		case rest.option(i):
		default:
			return i, true
		}
	}
	return 0, false
}

// stdinCode reports whether a command runs what it reads on standard input
// as code: a shell or interpreter without a script, source /dev/stdin, or
// xargs running one of those.
func stdinCode(c *syntax.CallExpr) bool {
	w, k := effective(c)
	if k >= len(c.Args) || !w.plain[k] {
		return false
	}
	name := w.lit[k]
	rest := callWords{words: w.words[k+1:], lit: w.lit[k+1:], plain: w.plain[k+1:]}
	// xargs gives what it reads to the command as arguments.
	for i := 0; i < k; i++ {
		if w.is(i, "xargs") {
			_, isCode := codeCmds[name]
			return isCode
		}
	}
	switch codeCmds[name] {
	case codeDashC, codeDashE:
		_, ok := interpreterScript(name, rest)
		return !ok
	case codeAll:
		return name == "source" || name == "."
	}
	return false
}

// setsPositional reports whether set's words set positional parameters
// (set -- a b, set a b), not only options (set -euo pipefail).
func setsPositional(rest callWords) bool {
	for i := 0; i < len(rest.words); i++ {
		switch {
		case rest.is(i, "--", "-"):
			return true
		case rest.plain[i] && len(rest.lit[i]) > 1 && (rest.lit[i][0] == '-' || rest.lit[i][0] == '+'):
			if strings.ContainsRune(rest.lit[i], 'o') {
				i++ // -o NAME
			}
		default:
			return true
		}
	}
	return false
}

// callWords is a simple command's words: each one's text when it is one
// plain literal.
type callWords struct {
	words []*syntax.Word
	lit   []string
	plain []bool
}

func (c callWords) is(i int, texts ...string) bool {
	return i >= 0 && i < len(c.words) && c.plain[i] && slices.Contains(texts, c.lit[i])
}

func (c callWords) option(i int) bool {
	return i < len(c.words) && c.plain[i] && strings.HasPrefix(c.lit[i], "-")
}

// effective finds the command that runs, past wrappers such as env, sudo,
// timeout: its index in the words, len(c.Args) when there is none.
func effective(c *syntax.CallExpr) (callWords, int) {
	all := callWords{words: c.Args, lit: make([]string, len(c.Args)), plain: make([]bool, len(c.Args))}
	for i, w := range c.Args {
		all.lit[i], all.plain[i] = litWord(w)
	}
	k := 0
	for k < len(c.Args) && all.plain[k] {
		extra, ok := wrappers[all.lit[k]]
		if !ok {
			break
		}
		k++
		for k < len(c.Args) && all.plain[k] && (strings.HasPrefix(all.lit[k], "-") || strings.Contains(all.lit[k], "=")) {
			k++
		}
		k += extra
	}
	return all, k
}

// call classifies the words of a simple command: its name, the arguments of
// commands that run code or take variable names, and calls to the script's
// own functions (whose arguments become positional parameters).
func (s *shellScan) call(st *syntax.Stmt, c *syntax.CallExpr) {
	if len(c.Args) == 0 {
		return
	}
	all, k := effective(c)
	if k >= len(c.Args) {
		return
	}
	name := all.lit[k]
	rest := callWords{words: all.words[k+1:], lit: all.lit[k+1:], plain: all.plain[k+1:]}
	if s.names {
		if name == "eval" || name == "source" || name == "." {
			s.opaque = true
		}
		if name == "alias" {
			// An alias may stand for eval: its arguments are unsure.
			for i := range rest.words {
				a, _, _ := strings.Cut(rest.lit[i], "=")
				s.aliases[a] = true
			}
		}
		if slices.Contains([]string{"declare", "typeset", "local", "export", "readonly"}, name) && all.plain[k] {
			// Reached through a wrapper (builtin declare …): not a DeclClause.
			integer, ref := declFlags(rest.lit)
			for i := range rest.words {
				if rest.option(i) || rest.plain[i] && strings.HasPrefix(rest.lit[i], "+") {
					continue
				}
				if (integer || ref) && !rest.plain[i] {
					s.dynamic = true
				}
				v, _, _ := strings.Cut(rest.lit[i], "=")
				if integer && rest.plain[i] {
					s.ints[v] = true
				}
				if ref && rest.plain[i] {
					s.refs[v] = true
				}
			}
		}
		return
	}
	s.add(c.Args[0], rCode, msgShellCommand)
	s.add(c.Args[k], rCode, msgShellCommand)
	if !all.plain[k] || s.aliases[name] {
		if !wordHasSlash(c.Args[k]) {
			for _, w := range rest.words {
				s.add(w, rRefuse, msgShellDynamic)
			}
		}
		return
	}
	codeMsg := "a placeholder in what " + name + " runs as code; pass the value as data instead (as an argument after the script, or through a variable the code reads)"
	if codeCmds[name] == codeProgram {
		codeMsg = "a placeholder in the program " + name + " runs (sed's e command and awk's system() run commands); pass the value as data: awk -v name=\"$value\" '…', jq --arg name \"$value\" '…', or bash's ${text//old/new}"
	}
	code := func(i int) {
		if i < len(rest.words) {
			s.add(rest.words[i], rCode, codeMsg)
		}
	}
	switch codeCmds[name] {
	case codeAll:
		for i := range rest.words {
			code(i)
		}
	case codeDashC, codeDashE:
		if i, ok := interpreterScript(name, rest); ok {
			code(i)
		} else {
			// No script: it reads its program from standard input.
			for _, r := range st.Redirs {
				s.add(r, rCode, codeMsg)
			}
		}
	case codeProgram:
		prog := true
		for i := 0; i < len(rest.words); i++ {
			switch {
			case rest.is(i, "-e", "--expression"):
				code(i + 1)
				prog = false
				i++
			case rest.is(i, "-f", "--file", "--from-file"):
				prog = false
				i++
			case rest.is(i, "-v", "-F", "--arg", "--argjson", "-l", "-L"):
				i++ // awk -v name=value, jq --arg name value: data
				if rest.is(i-1, "--arg", "--argjson") {
					i++
				}
			case rest.option(i):
			case prog:
				code(i)
				prog = false
			}
		}
	case codeRemote:
		host := -1
		for i := range rest.words {
			switch {
			case host >= 0:
				code(i)
			case rest.option(i):
			default:
				host = i
				s.add(rest.words[i], rRefuse, "a placeholder as ssh's host could be read as an option; name the host in the script")
			}
		}
	}
	if opts, ok := nameArgCmds[name]; ok {
		for i := 0; i < len(rest.words); i++ {
			if name != "read" && name != "unset" && rest.is(i, "-C") {
				code(i + 1) // mapfile -C callback
				i++
				continue
			}
			if rest.option(i) {
				if slices.Contains(opts, rest.lit[i]) {
					i++ // its argument is text
				}
				continue
			}
			s.add(rest.words[i], rNumber, "a variable name ("+name+")")
			if name != "unset" && rest.plain[i] {
				for _, r := range st.Redirs {
					a, e := span2(r)
					s.assigns = append(s.assigns, assignment{name: rest.lit[i], start: a, end: e})
				}
			}
		}
	}
	switch name {
	case "printf":
		for i := 0; i+1 < len(rest.words); i++ {
			if rest.is(i, "-v") {
				s.add(rest.words[i+1], rNumber, "a variable name (printf -v)")
				if rest.plain[i+1] && i+2 < len(rest.words) {
					a, _ := span2(rest.words[i+2])
					_, e := span2(rest.words[len(rest.words)-1])
					s.assigns = append(s.assigns, assignment{name: rest.lit[i+1], start: a, end: e})
				}
			}
		}
	case "test", "[":
		for i := 0; i+1 < len(rest.words); i++ {
			if rest.is(i, "-v", "-R") {
				s.add(rest.words[i+1], rNumber, "a variable name (test -v)")
			}
		}
	case "getopts":
		if len(rest.words) > 1 {
			s.add(rest.words[1], rNumber, "a variable name (getopts)")
		}
	case "wait":
		for i := 1; i < len(rest.words); i++ {
			if rest.is(i-1, "-p") {
				s.add(rest.words[i], rNumber, "a variable name (wait -p)")
			}
		}
	case "declare", "typeset", "local", "export", "readonly":
		for i := range rest.words {
			if !rest.option(i) {
				s.add(rest.words[i], rNumber, "a variable name ("+name+")")
			}
		}
	}
	if s.funcs[name] || name == "set" && setsPositional(rest) {
		s.calls = append(s.calls, rest.words)
	}
	if name == "shift" || name == "set" && setsPositional(rest) {
		// Positions move (set takes options before its words): any
		// positional parameter may hold any argument.
		s.shifts = true
	}
}

func wordHasSlash(w *syntax.Word) bool {
	for _, p := range w.Parts {
		if l, ok := p.(*syntax.Lit); ok && strings.Contains(l.Value, "/") {
			return true
		}
	}
	return false
}
