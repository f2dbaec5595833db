package views

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

var (
	ansiClass = regexp.MustCompile(`^(a-fg([0-9]|1[0-5])|a-bg([0-9]|1[0-5])|a-[bdiu])$`)
	ansiStyle = regexp.MustCompile(`^((background-)?color:rgb\((25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9]),(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9]),(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])\);)*$`)
)

// FuzzAnsiSegments: a cell's output is untrusted and its style goes into
// the page as templ.SafeCSS. Whatever the line, every style is only rgb()
// colours of numbers 0–255, every class one of the themed ones, and the
// segments hold the line's text (as last redrawn, cut to its bound) in
// order without the escape sequences, nothing lost or doubled.
func FuzzAnsiSegments(f *testing.F) {
	for _, s := range []string{
		"plain",
		"\x1b[1;31mred\x1b[0m plain \x1b[38;5;208morange\x1b[48;2;1;2;3mbg",
		"\x1b[38;2;999;-1;300mx\x1b[38;5mshort\x1b[38:2:1:2:3my",
		"progress 10%\rprogress 100%\r",
		"\x1b]0;title\x07after\x1b]8;;http://x\x1b\\link",
		"\x1b[;;mz\x1b[99999999999999999999mw\x1b",
		"x" + strings.Repeat("é", 2100),
		"\x1b[31m" + strings.Repeat("x", 5000),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		segs := ansiSegments(line)
		var text strings.Builder
		for _, s := range segs {
			if s.Class == "ln-more" {
				text.WriteString(s.Text)
				continue
			}
			if s.Class != "" {
				for _, c := range strings.Split(s.Class, " ") {
					if !ansiClass.MatchString(c) {
						t.Fatalf("class %q in %q", c, s.Class)
					}
				}
			}
			if !ansiStyle.MatchString(string(s.Style)) {
				t.Fatalf("style %q", s.Style)
			}
			text.WriteString(s.Text)
		}
		drawn := lastDrawn(line)
		if n := utf8.RuneCountInString(drawn); n > maxLineChars {
			// Cut to the bound in characters (never half of one), with the
			// count of the rest.
			end := 0
			for k := 0; k < maxLineChars; k++ {
				_, w := utf8.DecodeRuneInString(drawn[end:])
				end += w
			}
			more, word := n-maxLineChars, " more characters"
			if more == 1 {
				word = " more character"
			}
			drawn = drawn[:end] + " … " + strconv.Itoa(more) + word
		}
		if text.String() != drawn {
			t.Fatalf("segments hold %q, want %q", text.String(), drawn)
		}
		if utf8.ValidString(line) && !utf8.ValidString(text.String()) {
			t.Fatalf("valid UTF-8 in, invalid out: %q", text.String())
		}
	})
}

// lastDrawn is what a terminal shows of line: its text without escape
// sequences, from the last carriage return that has text after it.
func lastDrawn(line string) string {
	parts := strings.Split(escRe().ReplaceAllString(line, ""), "\r")
	for i := len(parts) - 1; i >= 0; i-- {
		if parts[i] != "" {
			return parts[i]
		}
	}
	return ""
}
