package engine

import (
	"regexp"
	"strings"
	"testing"
)

func TestNames(t *testing.T) {
	t.Parallel()
	// The rules as they were written where they were used, as patterns.
	slug := regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	ident := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	for _, s := range []string{
		"", "a", "0", "-", "a-", "-a", "a-b", "ab_c", "a_b", "A", "aB", "é", "a b", "a\n", "a.b", "fetch_orders", "_x", "x1", "1x",
		strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("a", 62) + "-", "a/b", "a\x00",
	} {
		if got, want := IsSlug(s), slug.MatchString(s); got != want {
			t.Errorf("IsSlug(%q) = %v; want %v", s, got, want)
		}
		if got, want := IsIdentifier(s), ident.MatchString(s); got != want {
			t.Errorf("IsIdentifier(%q) = %v; want %v", s, got, want)
		}
		if sl := Slugify(s); sl != "" && !IsSlug(sl) {
			t.Errorf("Slugify(%q) = %q, not a slug", s, sl)
		}
	}
	for in, want := range map[string]string{
		"Deploy the API!":         "deploy-the-api",
		"  --Ops / Nightly  ":     "ops-nightly",
		"Café":                    "caf",
		"日本":                      "",
		strings.Repeat("ab ", 40): strings.TrimRight(strings.Repeat("ab-", 21), "-"),
	} {
		if got := Slugify(in); got != want {
			t.Errorf("Slugify(%q) = %q; want %q", in, got, want)
		}
	}
}
