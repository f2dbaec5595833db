package run

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
)

// TestMaskerForms: every encoding of a secret a careless script might
// print is masked.
func TestMaskerForms(t *testing.T) {
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
