package expr

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// encode writes v into b as the context wants it; why says where a shell
// number stands.
func encode(b *strings.Builder, ctx context, v any, why string) error {
	n, err := normalize(v)
	if err != nil {
		return err
	}
	switch ctx {
	case ctxShellNumber, ctxShellArith:
		// bash evaluates the text here, where even a quoted value runs the
		// $(…) inside a[…]: only a whole number may stand here.
		s, err := text(n)
		if err != nil {
			return err
		}
		if !isInteger(s) {
			return fmt.Errorf("the value %.40q stands where bash evaluates text: %s; only a whole number may stand there. Declare the input as a number, or keep the value out of arithmetic and variable names (compare text with == in [[ ]])", s, why)
		}
		if ctx == ctxShellArith && strings.HasPrefix(s, "-") {
			s = "(" + s + ")" // so that x-{{ n }} is not x--5
		}
		b.WriteString(s)
	case ctxMarkdown:
		s, err := text(n)
		if err != nil {
			return err
		}
		b.WriteString(MarkdownText(s))
	case ctxPython:
		return appendPython(b, n, 0)
	case ctxURL:
		s, err := text(n)
		if err != nil {
			return err
		}
		b.WriteString(PercentEncode(s))
	case ctxHeader:
		s, err := text(n)
		if err != nil {
			return err
		}
		b.WriteString(headerText(s))
	case ctxJSON:
		j, err := jsonText(n)
		if err != nil {
			return err
		}
		b.WriteString(j)
	case ctxJSONString:
		s, err := text(n)
		if err != nil {
			return err
		}
		j, err := jsonStringBody(s)
		if err != nil {
			return err
		}
		b.WriteString(j)
	case ctxForm:
		s, err := text(n)
		if err != nil {
			return err
		}
		b.WriteString(url.QueryEscape(s))
	default:
		s, err := text(n)
		if err != nil {
			return err
		}
		b.WriteString(s)
	}
	return nil
}

// maxShellVar is the longest NAME=value pair Linux passes in a process's
// environment (MAX_ARG_STRLEN, 32 pages, with its NUL).
const maxShellVar = 128<<10 - 1

// maxShellEnv bounds the values of one script together, well inside the
// room Linux gives a process's arguments and environment (ARG_MAX).
const maxShellEnv = 1 << 20

var errShellEnvTotal = fmt.Errorf("the values of this script add up to more than %d KiB, more than a process's environment safely holds; write large values to a file in an earlier cell (OPSBOOK_OUTPUT) and read the file here", maxShellEnv>>10)

// shellEnv is the environment entry NAME=value that carries v into a shell
// cell.
func shellEnv(name string, v any) (string, error) {
	n, err := normalize(v)
	if err != nil {
		return "", err
	}
	s, err := text(n)
	if err != nil {
		return "", err
	}
	if strings.IndexByte(s, 0) >= 0 {
		return "", errors.New("the value holds a NUL byte, which a shell variable cannot hold")
	}
	pair := name + "=" + s
	if len(pair) > maxShellVar {
		return "", fmt.Errorf("the value is %d KiB, more than a shell cell can receive (%d KiB, the limit of one environment variable); write it to a file in an earlier cell (OPSBOOK_OUTPUT) and read the file here", len(s)>>10, maxShellVar>>10)
	}
	return pair, nil
}

// MarkdownText writes s so that markdown shows it as the text it is:
// every ASCII punctuation character is backslash-escaped (CommonMark lets
// any of them be), so no heading, link, emphasis, HTML tag, entity or
// autolink can form, and line breaks become spaces, so the text cannot
// start a block of its own.
func MarkdownText(s string) string {
	var b strings.Builder
	b.Grow(len(s) + len(s)/4)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\r' || c == '\n':
			b.WriteByte(' ')
		case c >= '!' && c <= '/' || c >= ':' && c <= '@' || c >= '[' && c <= '`' || c >= '{' && c <= '~':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// PythonLiteral writes v as a Python literal: None, True, False, numbers,
// strings, lists and dicts (keys sorted). Structs go through their JSON form.
func PythonLiteral(v any) (string, error) {
	n, err := normalize(v)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := appendPython(&b, n, 0); err != nil {
		return "", err
	}
	return b.String(), nil
}

// PercentEncode percent-encodes every byte but the unreserved characters
// of RFC 3986 (A-Z a-z 0-9 - . _ ~), as Python's quote(v, safe=""), curl
// --data-urlencode and jq's @uri do; url.QueryEscape and url.PathEscape
// leave some of those bytes alone or write a space as +.
func PercentEncode(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0xF])
	}
	return b.String()
}

// headerText is s as it may stand on an HTTP header line: without CR and LF.
func headerText(s string) string { return strings.NewReplacer("\r", "", "\n", "").Replace(s) }

// jsonStringBody is s as the content of a JSON string, without its quotes.
func jsonStringBody(s string) (string, error) {
	j, err := jsonText(s)
	if err != nil {
		return "", err
	}
	return j[1 : len(j)-1], nil
}

// Encodings are the forms in which the encoder writes the string s into a
// template, whatever the context: as it is (text, shell variables, SQL
// parameters), and escaped for markdown, Python, URLs, HTTP headers, JSON
// and form bodies, without the quotes around a literal. The masker masks
// each of them (engine/run), so a secret put into a template is masked
// wherever the text goes; a context that writes a string some other way
// must add its form here (TestEncodingsCoverEveryContext fails otherwise).
func Encodings(s string) []string {
	var py strings.Builder
	appendPythonString(&py, s)
	forms := []string{
		s,
		MarkdownText(s),
		py.String()[1 : py.Len()-1],
		PercentEncode(s),
		headerText(s),
		url.QueryEscape(s),
	}
	if j, err := jsonStringBody(s); err == nil {
		forms = append(forms, j)
	}
	return forms
}

// sqlParam is the bind value of v: scalars as they are, anything composite
// as its JSON text.
func sqlParam(v any) (any, error) {
	switch v.(type) {
	case nil, string, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64,
		float32, float64, []byte, time.Time:
		return v, nil
	}
	n, err := normalize(v)
	if err != nil {
		return nil, err
	}
	switch n.(type) {
	case []any, map[string]any:
		return jsonText(n)
	}
	return n, nil
}

// text is the plain-text form of a normalized value: nil is empty, strings
// are themselves, numbers are formatted plainly, lists and maps are JSON.
func text(n any) (string, error) {
	switch n := n.(type) {
	case nil:
		return "", nil
	case string:
		return n, nil
	case bool:
		return strconv.FormatBool(n), nil
	case int64:
		return strconv.FormatInt(n, 10), nil
	case uint64:
		return strconv.FormatUint(n, 10), nil
	case float64:
		return formatFloat(n), nil
	}
	return jsonText(n)
}

// formatFloat writes an integral float without exponent (3, not 3e+00),
// and negative zero as 0, as JavaScript and Python's int() do.
func formatFloat(f float64) string {
	switch {
	case f == 0:
		return "0"
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case f == math.Trunc(f) && math.Abs(f) < 1e21:
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func jsonText(n any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(n); err != nil {
		return "", fmt.Errorf("cannot write the value as JSON: %v", err)
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

const maxDepth = 200

// normalize turns any Go value into nil, bool, string, int64, uint64,
// float64, []any or map[string]any, the values every encoder knows. Structs
// and other JSON marshalers go through their JSON form, so their json tags
// name their fields.
func normalize(v any) (any, error) { return norm(v, 0) }

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

func norm(v any, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errors.New("the value is nested too deeply")
	}
	switch v := v.(type) {
	case nil, string, bool, int64, uint64, float64:
		return v, nil
	case int:
		return int64(v), nil
	case []byte:
		return string(v), nil
	case time.Time:
		return v.Format(time.RFC3339Nano), nil
	case time.Duration:
		return v.String(), nil
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i, nil
		}
		f, err := v.Float64()
		if err != nil {
			return string(v), nil
		}
		return f, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			n, err := norm(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			n, err := norm(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	}
	rv := reflect.ValueOf(v)
	t := rv.Type()
	if t.Implements(jsonMarshaler) || t.Implements(textMarshaler) || t.Kind() == reflect.Struct {
		return viaJSON(v, depth)
	}
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return nil, nil
		}
		return norm(rv.Elem().Interface(), depth+1)
	case reflect.Bool:
		return rv.Bool(), nil
	case reflect.String:
		return rv.String(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return rv.Uint(), nil
	case reflect.Float32, reflect.Float64:
		return rv.Float(), nil
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return nil, nil
		}
		if t.Elem().Kind() == reflect.Uint8 && rv.Kind() == reflect.Slice {
			return string(rv.Bytes()), nil
		}
		out := make([]any, rv.Len())
		for i := range out {
			n, err := norm(rv.Index(i).Interface(), depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case reflect.Map:
		if rv.IsNil() {
			return nil, nil
		}
		out := make(map[string]any, rv.Len())
		it := rv.MapRange()
		for it.Next() {
			k, err := norm(it.Key().Interface(), depth+1)
			if err != nil {
				return nil, err
			}
			ks, err := text(k)
			if err != nil {
				return nil, err
			}
			n, err := norm(it.Value().Interface(), depth+1)
			if err != nil {
				return nil, err
			}
			out[ks] = n
		}
		return out, nil
	}
	return nil, fmt.Errorf("cannot put a %s into a template", t)
}

func viaJSON(v any, depth int) (any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("cannot write the value as JSON: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("cannot read the value's JSON: %v", err)
	}
	return normJSON(out, depth)
}

// normJSON turns json.Number into int64 or float64 throughout.
func normJSON(v any, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errors.New("the value is nested too deeply")
	}
	switch v := v.(type) {
	case json.Number:
		return norm(v, depth)
	case []any:
		for i, e := range v {
			n, err := normJSON(e, depth+1)
			if err != nil {
				return nil, err
			}
			v[i] = n
		}
	case map[string]any:
		for k, e := range v {
			n, err := normJSON(e, depth+1)
			if err != nil {
				return nil, err
			}
			v[k] = n
		}
	}
	return v, nil
}

func appendPython(b *strings.Builder, n any, depth int) error {
	if depth > maxDepth {
		return errors.New("the value is nested too deeply")
	}
	switch n := n.(type) {
	case nil:
		b.WriteString("None")
	case bool:
		if n {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case int64:
		writeSigned(b, strconv.FormatInt(n, 10))
	case uint64:
		b.WriteString(strconv.FormatUint(n, 10))
	case float64:
		switch {
		case math.IsNaN(n):
			b.WriteString("float('nan')")
		case math.IsInf(n, 1):
			b.WriteString("float('inf')")
		case math.IsInf(n, -1):
			b.WriteString("float('-inf')")
		default:
			// An integral float is a Python int, as json.loads reads it.
			writeSigned(b, formatFloat(n))
		}
	case string:
		appendPythonString(b, n)
	case []any:
		b.WriteByte('[')
		for i, e := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			if err := appendPython(b, e, depth+1); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(n))
		for k := range n {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			appendPythonString(b, k)
			b.WriteString(": ")
			if err := appendPython(b, n[k], depth+1); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		return fmt.Errorf("cannot write a %T as Python", n)
	}
	return nil
}

// writeSigned parenthesizes negative numbers, so -3 ** 2 cannot come out
// of {{ x }} ** 2.
func writeSigned(b *strings.Builder, s string) {
	if strings.HasPrefix(s, "-") {
		b.WriteByte('(')
		b.WriteString(s)
		b.WriteByte(')')
		return
	}
	b.WriteString(s)
}

// appendPythonString writes s as a single-quoted Python str literal with
// only printable characters in it; invalid UTF-8 becomes U+FFFD.
func appendPythonString(b *strings.Builder, s string) {
	const hexDigits = "0123456789abcdef"
	b.WriteByte('\'')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\ufffd`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\'':
			b.WriteString(`\'`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < utf8.RuneSelf && r >= 0x20 && r < 0x7f:
			b.WriteByte(byte(r))
		case r >= utf8.RuneSelf && unicode.IsPrint(r):
			b.WriteRune(r)
		case r < 0x100:
			b.WriteString(`\x`)
			b.WriteByte(hexDigits[r>>4])
			b.WriteByte(hexDigits[r&0xF])
		case r < 0x10000:
			b.WriteString(`\u`)
			for sh := 12; sh >= 0; sh -= 4 {
				b.WriteByte(hexDigits[(r>>sh)&0xF])
			}
		default:
			b.WriteString(`\U`)
			for sh := 28; sh >= 0; sh -= 4 {
				b.WriteByte(hexDigits[(r>>sh)&0xF])
			}
		}
	}
	b.WriteByte('\'')
}

// isInteger reports whether s is a whole number in decimal: an optional
// minus sign and digits.
func isInteger(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" || len(s) > 19 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
