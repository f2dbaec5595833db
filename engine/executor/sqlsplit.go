package executor

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/opsbook/opsbook/engine"
)

// dialect is what the statement splitter needs to know about a database.
type dialect int

const (
	dialectSQLite dialect = iota
	dialectPostgres
)

// statement is one statement of a sql cell, ready for its driver.
type statement struct {
	Text   string // with the driver's placeholders in place of the markers
	Params []int  // the Request.Params index bound to each placeholder, in order
	Line   int    // where it starts in the cell, from 1
}

// splitStatements splits src on the semicolons that end statements:
// those outside quotes ('…', "…", and `…`, […] for SQLite, $tag$…$tag$ for
// PostgreSQL), comments (--, /* */) and, for SQLite, CREATE TRIGGER bodies.
// It replaces each engine.ParamMarker with the dialect's placeholder. Empty
// statements (only blanks and comments) are left out. A marker inside a
// quoted string is an error: a value there would not be bound.
func splitStatements(src string, d dialect) ([]statement, error) {
	var (
		out     []statement
		b       strings.Builder
		params  []int
		line    = 1
		start   = 1     // line where the current statement starts
		content = false // the statement has more than blanks and comments
		words   []string
		depth   int // nesting of /* */ (PostgreSQL nests them)
	)
	finish := func() {
		if content {
			out = append(out, statement{Text: strings.TrimSpace(b.String()), Params: params, Line: start})
		}
		b.Reset()
		params, content, words = nil, false, words[:0]
	}
	errAt := func(i int, format string, args ...any) error {
		col := utf8.RuneCountInString(src[strings.LastIndexByte(src[:i], '\n')+1:i]) + 1
		return engine.Errorf(engine.Pos{Line: line, Col: col}, format, args...)
	}
	markerError := func(i int, where string) error {
		return errAt(i, "a {{ }} value inside %s: remove the quotes around it, the value is bound as a parameter", where)
	}

	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '\n':
			line++
			b.WriteByte(c)
			i++
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			b.WriteByte(c)
			i++
		case c == 0: // a parameter marker: \x00p<n>\x00
			j := strings.IndexByte(src[i+1:], 0)
			if j < 0 || j < 2 || src[i+1] != 'p' {
				return nil, errAt(i, "malformed parameter marker")
			}
			n, err := strconv.Atoi(src[i+2 : i+1+j])
			if err != nil || n < 0 {
				return nil, errAt(i, "malformed parameter marker")
			}
			params = append(params, n)
			if d == dialectPostgres {
				b.WriteString("$" + strconv.Itoa(len(params)))
			} else {
				b.WriteByte('?')
			}
			content = true
			words = append(words, "?")
			i += j + 2
		case c == '-' && i+1 < len(src) && src[i+1] == '-':
			j := strings.IndexByte(src[i:], '\n')
			if j < 0 {
				j = len(src) - i
			}
			b.WriteString(strings.ReplaceAll(src[i:i+j], "\x00", " "))
			i += j
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			depth = 1
			j := i + 2
			for j < len(src) && depth > 0 {
				switch {
				case src[j] == '*' && j+1 < len(src) && src[j+1] == '/':
					depth--
					j += 2
				case d == dialectPostgres && src[j] == '/' && j+1 < len(src) && src[j+1] == '*':
					depth++
					j += 2
				default:
					j++
				}
			}
			text := src[i:j]
			line += strings.Count(text, "\n")
			b.WriteString(strings.ReplaceAll(text, "\x00", " "))
			i = j
		case c == '\'' || c == '"' || (d == dialectSQLite && (c == '`' || c == '[')):
			closer := c
			if c == '[' {
				closer = ']'
			}
			// E'…' strings take backslash escapes in PostgreSQL.
			backslash := d == dialectPostgres && c == '\'' && i > 0 && (src[i-1] == 'E' || src[i-1] == 'e') &&
				(i < 2 || !isIdentByte(src[i-2]))
			j := i + 1
			for j < len(src) {
				if backslash && src[j] == '\\' {
					j += 2
					continue
				}
				if src[j] == closer {
					if closer != ']' && j+1 < len(src) && src[j+1] == closer {
						j += 2 // a doubled quote stands for itself
						continue
					}
					break
				}
				j++
			}
			j = min(j+1, len(src))
			text := src[i:j]
			if strings.IndexByte(text, 0) >= 0 {
				return nil, markerError(i, "a quoted string")
			}
			line += strings.Count(text, "\n")
			b.WriteString(text)
			content = true
			words = append(words, "'")
			i = j
		case c == '$' && d == dialectPostgres && (i == 0 || !isIdentByte(src[i-1])) && dollarTag(src[i:]) != "":
			tag := dollarTag(src[i:])
			k := strings.Index(src[i+len(tag):], tag)
			j := len(src)
			if k >= 0 {
				j = i + len(tag) + k + len(tag)
			}
			text := src[i:j]
			if strings.IndexByte(text, 0) >= 0 {
				return nil, markerError(i, "a $-quoted string")
			}
			line += strings.Count(text, "\n")
			b.WriteString(text)
			content = true
			words = append(words, "'")
			i = j
		case c == ';':
			if d == dialectSQLite && inTriggerBody(words) {
				b.WriteByte(c)
				words = append(words, ";")
				i++
				continue
			}
			i++
			finish()
			start = line
		case isIdentByte(c):
			j := i + 1
			for j < len(src) && isIdentByte(src[j]) {
				j++
			}
			b.WriteString(src[i:j])
			words = append(words, strings.ToUpper(src[i:j]))
			content = true
			i = j
		default:
			b.WriteByte(c)
			content = true
			words = append(words, string(c))
			i++
		}
		if !content {
			// The statement has not begun: it starts on the next line with code.
			start = line
		}
	}
	finish()
	return out, nil
}

// inTriggerBody reports whether a ; ends a statement inside the body of a
// SQLite CREATE TRIGGER rather than the trigger itself, which ends at END;.
func inTriggerBody(words []string) bool {
	k := 0
	if len(words) > k && words[k] == "CREATE" {
		k++
	} else {
		return false
	}
	if len(words) > k && (words[k] == "TEMP" || words[k] == "TEMPORARY") {
		k++
	}
	if len(words) <= k || words[k] != "TRIGGER" {
		return false
	}
	return words[len(words)-1] != "END"
}

// dollarTag is the $tag$ or $$ that starts s, or "".
func dollarTag(s string) string {
	for j := 1; j < len(s); j++ {
		c := s[j]
		if c == '$' {
			return s[:j+1]
		}
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80 || (j > 1 && c >= '0' && c <= '9')) {
			return ""
		}
	}
	return ""
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// leadingVerb is the statement's first keyword, skipping comments and
// opening parentheses; for WITH it is the verb of the main statement.
func leadingVerb(text string) (verb string, returning bool) {
	var words []string
	depth := 0
	for i := 0; i < len(text); {
		c := text[i]
		switch {
		case c == '-' && i+1 < len(text) && text[i+1] == '-':
			j := strings.IndexByte(text[i:], '\n')
			if j < 0 {
				return finishVerb(words, returning)
			}
			i += j
		case c == '/' && i+1 < len(text) && text[i+1] == '*':
			j := strings.Index(text[i+2:], "*/")
			if j < 0 {
				return finishVerb(words, returning)
			}
			i += j + 4
		case c == '\'' || c == '"' || c == '`':
			j := strings.IndexByte(text[i+1:], c)
			if j < 0 {
				return finishVerb(words, returning)
			}
			i += j + 2
		case c == '(':
			depth++
			i++
		case c == ')':
			depth--
			i++
		case isIdentByte(c) && c != '$':
			j := i + 1
			for j < len(text) && isIdentByte(text[j]) {
				j++
			}
			w := strings.ToUpper(text[i:j])
			if depth <= 0 || len(words) == 0 {
				if w == "RETURNING" && depth <= 0 {
					returning = true
				}
				words = append(words, w)
			}
			i = j
		default:
			i++
		}
	}
	return finishVerb(words, returning)
}

func finishVerb(words []string, returning bool) (string, bool) {
	if len(words) == 0 {
		return "", returning
	}
	if words[0] != "WITH" {
		return words[0], returning
	}
	for _, w := range words[1:] {
		switch w {
		case "SELECT", "INSERT", "UPDATE", "DELETE", "REPLACE", "MERGE", "VALUES":
			return w, returning
		}
	}
	return "WITH", returning
}
