package run

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/executor"
	"github.com/opsbook/opsbook/engine/expr"
)

func TestMaskerForms(t *testing.T) {
	t.Parallel()
	const secret = `pa$$ w0rd/<&>"x`
	m := NewMasker([]string{secret, ""})
	jsonForm, _ := json.Marshal(secret)
	cases := map[string]string{
		"plain":           "token=" + secret + ";",
		"json":            string(jsonForm),
		"json in object":  `{"a":` + string(jsonForm) + `}`,
		"query":           "?q=" + url.QueryEscape(secret),
		"path":            "/p/" + url.PathEscape(secret),
		"base64":          base64.StdEncoding.EncodeToString([]byte(secret)),
		"base64 raw url":  base64.RawURLEncoding.EncodeToString([]byte(secret)),
		"base64 offset 1": base64.StdEncoding.EncodeToString([]byte("u:" + secret + "!")),
		"base64 offset 2": base64.StdEncoding.EncodeToString([]byte("user:" + secret + "!!")),
		"base64 offset 0": base64.StdEncoding.EncodeToString([]byte("abc" + secret + "tail")),
		"basic auth":      "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("ada:"+secret)),
	}
	for name, in := range cases {
		out := m.String(in)
		if !strings.Contains(out, "***") {
			t.Errorf("%s: %q not masked: %q", name, in, out)
		}
		// What is left must not decode to anything holding the secret's core.
		for _, part := range strings.Fields(strings.NewReplacer("***", " ", ":", " ").Replace(out)) {
			for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding} {
				if b, err := enc.DecodeString(part); err == nil && strings.Contains(string(b), "w0rd") {
					t.Errorf("%s: %q still decodes to %q", name, out, b)
				}
			}
		}
		if strings.Contains(out, "w0rd") {
			t.Errorf("%s: %q leaks", name, out)
		}
	}
	// Short values do not mask ordinary text through their inner forms.
	short := NewMasker([]string{"abc"})
	if got := short.String("the abc of it, YWJj"); got != "the *** of it, ***" {
		t.Errorf("short secret: %q", got)
	}
	if got := NewMasker(nil).String("nothing " + secret); got != "nothing "+secret {
		t.Errorf("empty masker changed text: %q", got)
	}
}

// TestMaskAlso masks values no cell was given (a workspace's other
// secrets) in lines, results and errors.
func TestMaskAlso(t *testing.T) {
	t.Parallel()
	const other = "not-given-but-secret"
	leak := func(ctx context.Context, req *executor.Request) (any, error) {
		req.Output.Lines(engine.StreamStdout, []string{"found " + other})
		return &engine.ShellResult{Stdout: other}, fmt.Errorf("failed near %s", other)
	}
	f := &engine.Flow{Cells: []engine.Cell{cell("a", engine.KindShell, "echo hi")}}
	_, rec := runFlow(t, f, leak, func(o *Options) { o.MaskAlso = []string{other} })
	n := 0
	for _, e := range rec.events {
		line := string(e.AppendJSON(nil))
		n += strings.Count(line, "***")
		if strings.Contains(line, other) {
			t.Errorf("value leaked in %s", line)
		}
	}
	if n < 3 {
		t.Errorf("masked %d times; want the line, the result and the error", n)
	}
}

// TestMaskerEncodings: every encoding of a secret a careless script might
// print is masked.
func TestMaskerEncodings(t *testing.T) {
	t.Parallel()
	const v = "p@ss w0rd&x=1/y+z~"
	m := NewMasker([]string{v})
	for name, form := range map[string]string{
		"plain":           v,
		"base64":          base64.StdEncoding.EncodeToString([]byte(v)),
		"base64 raw":      base64.RawStdEncoding.EncodeToString([]byte(v)),
		"base64url":       base64.URLEncoding.EncodeToString([]byte(v)),
		"base64url raw":   base64.RawURLEncoding.EncodeToString([]byte(v)),
		"query":           url.QueryEscape(v),
		"path":            url.PathEscape(v),
		"percent-encoded": "p%40ss%20w0rd%26x%3D1%2Fy%2Bz~",
		"json":            `p@ss w0rd\u0026x=1/y+z~`,
	} {
		if got := m.String("a " + form + " b"); got != "a *** b" {
			t.Errorf("%s form %q: masked to %q", name, form, got)
		}
	}
	if got := m.Lines([]string{"x", v}); strings.Join(got, ",") != "x,***" {
		t.Errorf("Lines: %q", got)
	}
}

// TestMaskerHTML: a secret with HTML's special characters is masked in the
// escaped form a rendered markdown note shows.
func TestMaskerHTML(t *testing.T) {
	t.Parallel()
	const v = `p<a>ss&"w0rd'`
	m := NewMasker([]string{v})
	for _, form := range []string{`p&lt;a&gt;ss&amp;&#34;w0rd&#39;`, `p&lt;a&gt;ss&amp;&quot;w0rd'`} {
		if got := m.String("<p>" + form + "</p>"); got != "<p>***</p>" {
			t.Errorf("%q masked to %q", form, got)
		}
	}
}

// TestMaskerMasksTemplateEncodings: a secret put into a template comes out
// masked in every form the template encoder writes, the form encoding and
// percent-encoding of HTTP requests included. With the encoder's own test
// (expr.TestEncodingsCoverEveryContext), no context can write a secret in a
// form the masker does not know.
func TestMaskerMasksTemplateEncodings(t *testing.T) {
	t.Parallel()
	secrets := []string{"p@ss w0rd&x=1/y+z~%", `a<b>"c'd\e`, "é ✓ 🚀 \u2028", "[link](http://x) *em* #h `code`", "tab\tnew\nline"}
	for _, s := range secrets {
		m := NewMasker([]string{s})
		for _, f := range expr.Encodings(s) {
			if got := m.String("a " + f + " b"); got != "a *** b" {
				t.Errorf("secret %q, encoder's form %q: masked to %q", s, f, got)
			}
		}
	}
	// And end to end, through rendered templates of each language.
	const s = "p@ss w0rd&x=1/y+z~%<é>"
	env := expr.NewEnv(nil, nil, map[string]string{"tok": s}, engine.RunInfo{})
	for _, tc := range []struct {
		lang expr.Lang
		src  string
	}{
		{expr.LangText, "v={{ secrets.tok }}"},
		{expr.LangMarkdown, "The token: {{ secrets.tok }}"},
		{expr.LangPython, "tok = {{ secrets.tok }}\nprint(tok)"},
		{expr.LangHTTP, "GET https://example.com/a/{{ secrets.tok }}?q={{ secrets.tok }}\nAuthorization: Bearer {{ secrets.tok }}\n"},
		{expr.LangHTTP, "POST https://example.com/\nContent-Type: application/json\n\n{\"a\": {{ secrets.tok }}, \"b\": \"x{{ secrets.tok }}y\"}"},
		{expr.LangHTTP, "POST https://example.com/\nContent-Type: application/x-www-form-urlencoded\n\na={{ secrets.tok }}&b=2"},
	} {
		tpl, err := expr.ParseTemplate(tc.src, "t", tc.lang)
		if err != nil {
			t.Fatalf("%s: %v", tc.src, err)
		}
		out, _, err := tpl.Render(env)
		if err != nil {
			t.Fatalf("render %s: %v", tc.src, err)
		}
		masked := NewMasker([]string{s}).String(out)
		if !strings.Contains(masked, "***") || strings.Contains(masked, "w0rd") {
			t.Errorf("%v template %q rendered to %q, masked to %q", tc.lang, tc.src, out, masked)
		}
	}
}
