package expr

import (
	"strings"
)

// context is where a placeholder stands, which decides its encoding.
type context uint8

const (
	ctxText         context = iota // plain text
	ctxShell                       // a shell word: single-quoted
	ctxShellComment                // a shell comment: single-quoted, newlines made spaces
	ctxShellArith                  // a shell arithmetic context: a whole number only
	ctxPython                      // Python code: a literal
	ctxSQL                         // a bind parameter
	ctxURL                         // an HTTP request line: percent-encoded
	ctxHeader                      // an HTTP header (or comment) line: text without CR and LF
	ctxJSON                        // a JSON body: a JSON value
	ctxJSONString                  // inside a string of a JSON body: the string's content
	ctxForm                        // a form body: form-URL-encoded
)

// hole stands for a placeholder in the skeleton that the context scanners
// read: it is a word character to them, and never a quote or a newline.
const hole = '\x01'

// contexts decides, from the text around them, how each placeholder of src
// is encoded; msgs[i] is non-empty when placeholder i stands where no
// encoding is safe.
func contexts(src string, spans []span, lang Lang) (ctxs []context, msgs []string) {
	ctxs = make([]context, len(spans))
	msgs = make([]string, len(spans))
	if len(spans) == 0 {
		return ctxs, msgs
	}
	// The skeleton is src with each placeholder replaced by one hole byte.
	var b strings.Builder
	holes := make([]int, len(spans))
	prev := 0
	for i, sp := range spans {
		b.WriteString(src[prev:sp.start])
		holes[i] = b.Len()
		b.WriteByte(hole)
		prev = sp.end
	}
	b.WriteString(src[prev:])
	sk := b.String()
	switch lang {
	case LangShell:
		shellContexts(sk, holes, ctxs, msgs)
		for i, arith := range shellArith(sk, holes) {
			if arith && ctxs[i] == ctxShell {
				ctxs[i] = ctxShellArith
			}
		}
	case LangPython:
		pythonContexts(sk, holes, ctxs, msgs)
	case LangSQL:
		for i := range ctxs {
			ctxs[i] = ctxSQL
		}
	case LangHTTP:
		httpContexts(sk, holes, ctxs)
	}
	return ctxs, msgs
}

const (
	msgShellSingle   = "a placeholder inside '…' quotes: its value is put in single quotes for you, so write it outside the quotes, e.g. echo 'Hello, '{{ inputs.name }}"
	msgShellDouble   = `a placeholder inside "…" quotes would be expanded by the shell; write it outside the quotes (its value is single-quoted for you), e.g. echo "Hello, "{{ inputs.name }}`
	msgShellHeredoc  = `a placeholder inside a here-document could end it or be expanded; set a variable first (NAME={{ inputs.name }}) and use "$NAME" in the here-document`
	msgShellDollar   = "a placeholder right after $ would be read as $'…' with escapes; put a space or other text between them"
	msgShellBacktick = "a placeholder inside `…` could end the command substitution; use $(…) instead, e.g. $(basename {{ inputs.path }})"
	msgShellOther    = "a placeholder here (after a backslash, or in a here-document's delimiter) would not be one shell word; put it where a word may stand, e.g. echo {{ inputs.name }}"
	msgPythonName    = "a placeholder right after a name or number: a string prefix such as f or r would change what the literal means; put a space or an operator between them"
	msgPythonOther   = "a placeholder here (after a backslash) would not be one Python literal; put it where a value may stand"
	msgPythonString  = `a placeholder inside a Python string: its value becomes a Python literal, so write it outside the quotes, e.g. "Hello, " + {{ inputs.name }}`
)

// shellContexts follows bash quoting through the skeleton: quotes, $'…',
// backslash escapes, `…`, $(…) inside double quotes, comments and
// here-documents. A placeholder is allowed only where a word may start or
// continue outside any quotes, or in a comment; anywhere else the shell would
// read the value again, so it is an error. A placeholder the scan steps over
// (after a backslash, in a here-document's delimiter) keeps the error it
// starts with: when in doubt, refuse.
func shellContexts(s string, holes []int, ctxs []context, msgs []string) {
	for i := range msgs {
		msgs[i] = msgShellOther
	}
	const (
		normal = iota
		single
		double
		ansi     // $'…'
		backtick // `…`
		subst    // $(…) inside double quotes
		comment
	)
	type heredoc struct {
		delim string
		tabs  bool
	}
	var pending []heredoc
	state := normal
	depth := 0 // parentheses open in subst
	wordStart := true
	h := 0                // next hole
	skip := func(i int) { // holes before i were stepped over: they keep their error
		for h < len(holes) && holes[h] < i {
			h++
		}
	}
	set := func(ctx context, msg string) {
		ctxs[h] = ctx
		msgs[h] = msg
		h++
	}
	i := 0
	for i < len(s) {
		skip(i)
		if h < len(holes) && holes[h] == i {
			switch {
			case state == normal && i > 0 && s[i-1] == '$':
				set(0, msgShellDollar)
			case state == normal:
				set(ctxShell, "")
				wordStart = false
			case state == comment:
				set(ctxShellComment, "")
			case state == single || state == ansi:
				set(0, msgShellSingle)
			case state == backtick:
				set(0, msgShellBacktick)
			default:
				set(0, msgShellDouble)
			}
			i++
			continue
		}
		c := s[i]
		switch state {
		case normal:
			switch {
			case c == '\\':
				i += 2
				wordStart = false
				continue
			case c == '\'':
				state = single
			case c == '"':
				state = double
			case c == '`':
				state = backtick
			case c == '$' && i+1 < len(s) && s[i+1] == '\'':
				state = ansi
				i += 2
				continue
			case c == '#' && wordStart:
				state = comment
			case c == '<' && strings.HasPrefix(s[i:], "<<") && !strings.HasPrefix(s[i:], "<<<"):
				j := i + 2
				tabs := false
				if j < len(s) && s[j] == '-' {
					tabs = true
					j++
				}
				for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
					j++
				}
				var d strings.Builder
				for j < len(s) && !strings.ContainsRune(" \t\n;|&<>()", rune(s[j])) {
					if s[j] != '\'' && s[j] != '"' && s[j] != '\\' {
						d.WriteByte(s[j])
					}
					j++
				}
				if d.Len() > 0 {
					pending = append(pending, heredoc{delim: d.String(), tabs: tabs})
				}
				i = j
				wordStart = true
				continue
			case c == '\n':
				wordStart = true
				if len(pending) > 0 {
					// Skip the bodies, line by line, to their delimiters.
					i++
					for len(pending) > 0 && i < len(s) {
						e := strings.IndexByte(s[i:], '\n')
						if e < 0 {
							e = len(s)
						} else {
							e += i
						}
						skip(i)
						for h < len(holes) && holes[h] < e {
							set(0, msgShellHeredoc)
						}
						line := s[i:e]
						if pending[0].tabs {
							line = strings.TrimLeft(line, "\t")
						}
						if line == pending[0].delim {
							pending = pending[1:]
						}
						i = e + 1
					}
					continue
				}
			case c == ' ' || c == '\t' || strings.IndexByte(";|&()<>", c) >= 0:
				wordStart = true
			default:
				wordStart = false
			}
		case single:
			if c == '\'' {
				state = normal
				wordStart = false
			}
		case double, ansi, backtick:
			if c == '\\' {
				i += 2
				continue
			}
			switch {
			case state == double && c == '$' && strings.HasPrefix(s[i:], "$("):
				state, depth = subst, 1
				i += 2
				continue
			case (state == double && c == '"') || (state == ansi && c == '\'') || (state == backtick && c == '`'):
				state = normal
				wordStart = false
			}
		case subst:
			// Only to find where the substitution ends; any placeholder in
			// it is refused, so a rough count of parentheses does.
			switch c {
			case '\\':
				i += 2
				continue
			case '\'', '"':
				e := strings.IndexByte(s[i+1:], c)
				if e < 0 {
					i = len(s)
					continue
				}
				i += e + 2
				continue
			case '(':
				depth++
			case ')':
				depth--
				if depth == 0 {
					state = double
				}
			}
		case comment:
			if c == '\n' {
				state = normal
				continue // the newline ends the line in normal state too
			}
		}
		i++
	}
	// Holes past the end of a here-document that never closed.
	for skip(len(s)); h < len(holes); {
		set(0, msgShellHeredoc)
	}
}

// pythonContexts finds placeholders inside Python string literals (any
// prefix, single or triple quoted), where a literal cannot go. Comments and
// code take the literal as is: it never holds a raw newline.
func pythonContexts(s string, holes []int, ctxs []context, msgs []string) {
	for i := range msgs {
		ctxs[i] = ctxPython
		msgs[i] = msgPythonOther
	}
	var quote string // the open string's quotes, or ""
	h := 0
	for i := 0; i < len(s); {
		for h < len(holes) && holes[h] < i {
			h++ // stepped over after a backslash: keeps its error
		}
		if h < len(holes) && holes[h] == i {
			switch {
			case quote != "":
				msgs[h] = msgPythonString
			case i > 0 && isNameByte(s[i-1]):
				msgs[h] = msgPythonName
			default:
				msgs[h] = ""
			}
			h++
			i++
			continue
		}
		c := s[i]
		switch {
		case quote == "" && c == '#':
			e := strings.IndexByte(s[i:], '\n')
			if e < 0 {
				e = len(s) - i
			}
			for h < len(holes) && holes[h] < i+e {
				msgs[h] = ""
				h++
			}
			i += e
			continue
		case quote == "" && (c == '\'' || c == '"'):
			quote = string(c)
			if strings.HasPrefix(s[i:], strings.Repeat(quote, 3)) {
				quote = strings.Repeat(quote, 3)
			}
			i += len(quote)
			continue
		case quote != "" && c == '\\':
			i += 2
			continue
		case quote != "" && strings.HasPrefix(s[i:], quote):
			i += len(quote)
			quote = ""
			continue
		case len(quote) == 1 && c == '\n':
			quote = "" // an unterminated string: Python rejects it anyway
		}
		i++
	}
}

func isNameByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// httpContexts reads the skeleton as one request of the .http format: the
// request line (the first line that is neither blank nor a # or //
// comment), with continuation lines that start with whitespace and ? or &;
// header lines up to the first blank line; then the body, encoded by the
// Content-Type header written in the static text.
func httpContexts(s string, holes []int, ctxs []context) {
	const (
		pre = iota
		headers
		body
	)
	state := pre
	bodyStart := len(s)
	contentType := ""
	h := 0
	for ls := 0; ls < len(s) && state != body; {
		le := strings.IndexByte(s[ls:], '\n')
		if le < 0 {
			le = len(s)
		} else {
			le += ls
		}
		line := strings.TrimSuffix(s[ls:le], "\r")
		trimmed := strings.TrimSpace(line)
		ctx := ctxHeader
		switch state {
		case pre:
			if trimmed != "" && !strings.HasPrefix(trimmed, "#") && !strings.HasPrefix(trimmed, "//") {
				ctx = ctxURL
				state = headers
			}
		case headers:
			switch {
			case trimmed == "":
				state = body
				bodyStart = le + 1
			case (line[0] == ' ' || line[0] == '\t') && (trimmed[0] == '?' || trimmed[0] == '&'):
				ctx = ctxURL
			default:
				if name, value, ok := strings.Cut(trimmed, ":"); ok && strings.EqualFold(strings.TrimSpace(name), "content-type") {
					contentType = strings.ToLower(value)
				}
			}
		}
		for h < len(holes) && holes[h] < le {
			ctxs[h] = ctx
			h++
		}
		ls = le + 1
	}
	mode := ctxText
	switch {
	case strings.Contains(contentType, "json"):
		mode = ctxJSON
	case strings.Contains(contentType, "application/x-www-form-urlencoded"):
		mode = ctxForm
	}
	inString := false
	for i := bodyStart; i < len(s) && h < len(holes); i++ {
		for h < len(holes) && holes[h] < i {
			ctxs[h] = ctxJSONString // after a backslash in a JSON string
			h++
		}
		if h < len(holes) && holes[h] == i {
			ctxs[h] = mode
			if mode == ctxJSON && inString {
				ctxs[h] = ctxJSONString
			}
			h++
			continue
		}
		if mode != ctxJSON {
			continue
		}
		switch s[i] {
		case '\\':
			if inString {
				i++
			}
		case '"':
			inString = !inString
		}
	}
}

// shellArith marks the placeholders that bash would evaluate as arithmetic,
// where even a single-quoted word runs the $(…) inside it: (( … )),
// $(( … )), array subscripts a[…], `let` lines, and the operands of
// [[ … ]] tests that compare numbers (-eq, -ne, -lt, -le, -gt, -ge).
// Their values must be whole numbers (ctxShellArith). Quoted text is
// skipped; placeholders there are refused by shellContexts anyway.
func shellArith(s string, holes []int) []bool {
	out := make([]bool, len(holes))
	type region struct {
		start, end int
		kind       byte // 'a' arithmetic, 's' subscript, 't' [[ test ]]
	}
	var open []region
	var done []region
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			i++
		case c == '\'':
			if j := strings.IndexByte(s[i+1:], '\''); j >= 0 {
				i += j + 1
			}
		case c == '"':
			for j := i + 1; j < len(s); j++ {
				if s[j] == '\\' {
					j++
					continue
				}
				if s[j] == '"' {
					i = j
					break
				}
			}
		case strings.HasPrefix(s[i:], "(("):
			open = append(open, region{start: i, kind: 'a'})
			i++
		case strings.HasPrefix(s[i:], "))") && len(open) > 0 && open[len(open)-1].kind == 'a':
			r := open[len(open)-1]
			open = open[:len(open)-1]
			r.end = i
			done = append(done, r)
			i++
		case strings.HasPrefix(s[i:], "[["):
			open = append(open, region{start: i, kind: 't'})
			i++
		case strings.HasPrefix(s[i:], "]]") && len(open) > 0 && open[len(open)-1].kind == 't':
			r := open[len(open)-1]
			open = open[:len(open)-1]
			r.end = i
			done = append(done, r)
			i++
		case c == '[' && i > 0 && (isWordByte(s[i-1]) || s[i-1] == hole):
			open = append(open, region{start: i, kind: 's'})
		case c == ']' && len(open) > 0 && open[len(open)-1].kind == 's':
			r := open[len(open)-1]
			open = open[:len(open)-1]
			r.end = i
			done = append(done, r)
		}
	}
	// Regions left open run to the end.
	for _, r := range open {
		r.end = len(s)
		done = append(done, r)
	}
	numericTest := func(r region) bool {
		body := s[r.start:min(r.end, len(s))]
		for _, op := range []string{"-eq", "-ne", "-lt", "-le", "-gt", "-ge"} {
			if strings.Contains(body, op) {
				return true
			}
		}
		return false
	}
	for k, h := range holes {
		for _, r := range done {
			if h > r.start && h < r.end && (r.kind != 't' || numericTest(r)) {
				out[k] = true
			}
		}
		// A `let` line evaluates its words as arithmetic.
		ls := strings.LastIndexByte(s[:h], '\n') + 1
		if line := strings.TrimLeft(s[ls:h], " \t"); strings.HasPrefix(line, "let ") || strings.HasPrefix(line, "declare -i ") {
			out[k] = true
		}
	}
	return out
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
