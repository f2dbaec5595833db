package expr

import (
	"strings"
)

// context is where a placeholder stands, which decides its encoding.
type context uint8

const (
	ctxText        context = iota // plain text
	ctxShellVar                   // a shell word: "${OPSBOOK_VALUE_n}", the value in the environment
	ctxShellVarDQ                 // inside "…" or a here-document: ${OPSBOOK_VALUE_n}
	ctxShellNumber                // where bash evaluates text (names, let, [[ -eq ]]): a whole number only
	ctxShellArith                 // an arithmetic expression: a whole number, negative in parentheses
	ctxMarkdown                   // markdown: text, every markup character escaped
	ctxPython                     // Python code: a literal
	ctxSQL                        // a bind parameter
	ctxURL                        // an HTTP request line: percent-encoded
	ctxHeader                     // an HTTP header (or comment) line: text without CR and LF
	ctxJSON                       // a JSON body: a JSON value
	ctxJSONString                 // inside a string of a JSON body: the string's content
	ctxForm                       // a form body: form-URL-encoded

	numContexts // the number of contexts; keep it last
)

// hole stands for a placeholder in the skeleton that the context scanners
// read: it is a word character to them, and never a quote or a newline.
const hole = '\x01'

// contexts decides, from the text around them, how each placeholder of src
// is encoded; msgs[i] is non-empty when placeholder i stands where no
// encoding is safe, whys[i] says why a shell placeholder must be a number.
// Placeholders marked raw are written as they are and not analysed.
func contexts(src string, spans []span, lang Lang, raw []bool) (ctxs []context, msgs, whys []string) {
	if lang == LangShell {
		return shellAnalysis(src, spans, raw)
	}
	ctxs = make([]context, len(spans))
	msgs = make([]string, len(spans))
	whys = make([]string, len(spans))
	if len(spans) == 0 {
		return ctxs, msgs, whys
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
	case LangMarkdown:
		for i := range ctxs {
			ctxs[i] = ctxMarkdown
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
	return ctxs, msgs, whys
}

const (
	msgPythonName   = "a placeholder right after a name or number: a string prefix such as f or r would change what the literal means; put a space or an operator between them"
	msgPythonOther  = "a placeholder here (after a backslash) would not be one Python literal; put it where a value may stand"
	msgPythonString = `a placeholder inside a Python string: its value becomes a Python literal, so write it outside the quotes, e.g. "Hello, " + {{ inputs.name }}`
)

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
