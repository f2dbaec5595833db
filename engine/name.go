package engine

import "strings"

// MaxSlug is the longest slug.
const MaxSlug = 63

// IsSlug reports whether s is a slug, the name of a workspace or a flow in
// URLs and of a flow's folder in a git repository: lower-case letters,
// digits and dashes, starting with a letter or digit, at most 63 bytes.
func IsSlug(s string) bool {
	if s == "" || len(s) > MaxSlug || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Slugify turns a name into a slug: lower case, a dash for each run of
// other characters, at most 63 bytes. It is "" when the name has no letter
// or digit of ASCII.
func Slugify(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case b.Len() > 0 && !dash:
			b.WriteByte('-')
			dash = true
		}
	}
	s := strings.TrimRight(b.String(), "-")
	if len(s) > MaxSlug {
		s = strings.TrimRight(s[:MaxSlug], "-")
	}
	return s
}

// IsIdentifier reports whether s may name a cell or an input: a lower-case
// letter, then lower-case letters, digits and _.
func IsIdentifier(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
