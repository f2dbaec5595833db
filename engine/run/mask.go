package run

import (
	"encoding/base64"
	"encoding/json"
	"html"
	"net/url"
	"sort"
	"strings"

	"github.com/opsbook/opsbook/engine/expr"
)

// Masker replaces every occurrence of a secret's value, and of its base64,
// URL-encoded and JSON-escaped forms, with ***. Base64 is covered also when
// the value sits inside longer encoded data (`echo -n "user:$TOKEN" |
// base64`): at each of the three byte offsets, the characters that depend
// only on the value are masked.
type Masker struct {
	r *strings.Replacer
}

// NewMasker builds a Masker for these secret values. Empty values are ignored.
func NewMasker(values []string) *Masker {
	seen := map[string]bool{}
	var forms []string
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			forms = append(forms, s)
		}
	}
	for _, v := range values {
		if v == "" {
			continue
		}
		add(v)
		b := []byte(v)
		add(base64.StdEncoding.EncodeToString(b))
		add(base64.RawStdEncoding.EncodeToString(b))
		add(base64.URLEncoding.EncodeToString(b))
		add(base64.RawURLEncoding.EncodeToString(b))
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			for _, inner := range base64Inner(enc, b) {
				add(inner)
			}
		}
		// As HTML shows it (a secret pasted into a markdown note).
		add(html.EscapeString(v))
		add(strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(v))
		add(url.PathEscape(v))
		// encoding/json escapes <, > and & in HTML-safe mode (json.Marshal).
		add(string(mustJSON(v)))
		// Every form the template encoder writes (percent-encoded, form
		// encoding, JSON and Python string bodies, markdown…): a secret put
		// into a template is masked wherever the rendered text goes.
		for _, f := range expr.Encodings(v) {
			add(f)
		}
	}
	if len(forms) == 0 {
		return &Masker{}
	}
	// Longest first, so a value is replaced whole before any part of it.
	sort.Slice(forms, func(i, j int) bool { return len(forms[i]) > len(forms[j]) })
	pairs := make([]string, 0, 2*len(forms))
	for _, f := range forms {
		pairs = append(pairs, f, "***")
	}
	return &Masker{r: strings.NewReplacer(pairs...)}
}

// minInner is the shortest inner base64 form masked: shorter ones would
// mask ordinary text.
const minInner = 8

// base64Inner returns, for the value placed at byte offset 0, 1 and 2 of a
// longer input, the base64 characters that depend on the value's bytes
// alone: whole 3-byte groups, none shared with the bytes around it.
func base64Inner(enc *base64.Encoding, v []byte) []string {
	var out []string
	for shift := 0; shift < 3; shift++ {
		skip := (3 - shift) % 3 // value bytes in the group it shares with what comes before
		if len(v) <= skip {
			continue
		}
		rest := v[skip:]
		whole := len(rest) / 3 * 3
		if whole == 0 {
			continue
		}
		s := enc.EncodeToString(rest[:whole])
		if len(s) >= minInner {
			out = append(out, s)
		}
	}
	return out
}

func mustJSON(v string) []byte {
	j, _ := json.Marshal(v)
	return j[1 : len(j)-1]
}

// Active reports whether there is anything to mask.
func (m *Masker) Active() bool { return m != nil && m.r != nil }

// String masks s.
func (m *Masker) String(s string) string {
	if !m.Active() {
		return s
	}
	return m.r.Replace(s)
}

// Lines masks each line in place of a copy.
func (m *Masker) Lines(lines []string) []string {
	out := make([]string, len(lines))
	if !m.Active() {
		copy(out, lines)
		return out
	}
	for i, l := range lines {
		out[i] = m.r.Replace(l)
	}
	return out
}
