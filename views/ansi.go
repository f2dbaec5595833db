package views

import (
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/a-h/templ"
)

// segment is a run of text drawn in one style: classes for the 16 terminal
// colours and attributes (themed in app.css), an inline colour for 256-colour
// and truecolor values. static/src/ansi.js follows the same rules; both are
// checked against views/testdata/ansi.json (ansi_test.go).
type segment struct {
	Text  string
	Class string
	Style templ.SafeCSS // only ever "color:rgb(n,n,n);…" built from numbers
}

// escRe matches the escapes a line may hold: CSI sequences (colours, cursor
// moves; one cut off at the end of the line too), strings (OSC titles and
// links, DCS, APC…) up to BEL or ST, other escapes (ESC ( B, ESC 7, ESC c)
// and a lone ESC. Only SGR ("…m") changes what is drawn; the rest is
// dropped. static/src/ansi.js has the same expression.
var escRe = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile("\x1b\\[([0-?]*)[ -/]*([@-~]|$)|\x1b[\\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\\\)?|\x1b[ -/]*[0-~]?")
})

type color struct {
	set   bool
	index int // 0–15, or -1 for rgb
	rgb   [3]int
}

type sgr struct {
	fg, bg                       color
	bold, dim, italic, underline bool
}

func (s *sgr) plain() bool {
	return !s.fg.set && !s.bg.set && !s.bold && !s.dim && !s.italic && !s.underline
}

var cube = [6]int{0, 95, 135, 175, 215, 255}

func color256(n int) color {
	switch {
	case n < 16:
		return color{set: true, index: n}
	case n < 232:
		n -= 16
		return color{set: true, index: -1, rgb: [3]int{cube[n/36], cube[n/6%6], cube[n%6]}}
	default:
		v := 8 + (n-232)*10
		return color{set: true, index: -1, rgb: [3]int{v, v, v}}
	}
}

// maxParam is where a parameter's value stops growing (as in terminals).
const maxParam = 65535

// param is the value of one parameter: digits, "" for the default 0.
func param(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = min(n*10+int(s[i]-'0'), maxParam)
	}
	return n
}

// extColor is the colour of 38/48's arguments: 5;N (256 colours), 2;R;G;B,
// or in the colon form 2:CS:R:G:B with a colour space; unset when malformed.
func extColor(a []int, colon bool) (col color, used int) {
	switch {
	case len(a) >= 2 && a[0] == 5:
		return color256(a[1] & 255), 2
	case colon && len(a) >= 5 && a[0] == 2:
		return color{set: true, index: -1, rgb: [3]int{a[2] & 255, a[3] & 255, a[4] & 255}}, 5
	case len(a) >= 4 && a[0] == 2:
		return color{set: true, index: -1, rgb: [3]int{a[1] & 255, a[2] & 255, a[3] & 255}}, 4
	}
	return color{}, len(a)
}

// apply changes the style by an SGR's parameters: ";" separates
// parameters, ":" the sub-parameters of one (38:2::R:G:B, 4:3).
func (s *sgr) apply(params string) {
	if strings.ContainsAny(params, "<=>?") {
		return // a private sequence (xterm's CSI > 4 m), not SGR
	}
	groups := strings.Split(params, ";")
	for i := 0; i < len(groups); i++ {
		sub := strings.Split(groups[i], ":")
		c := param(sub[0])
		switch {
		case c == 0:
			*s = sgr{}
		case c == 1:
			s.bold = true
		case c == 2:
			s.dim = true
		case c == 3:
			s.italic = true
		case c == 4:
			s.underline = len(sub) < 2 || param(sub[1]) != 0 // 4:0 is "no underline"
		case c == 22:
			s.bold, s.dim = false, false
		case c == 23:
			s.italic = false
		case c == 24:
			s.underline = false
		case c >= 30 && c <= 37:
			s.fg = color{set: true, index: c - 30}
		case c >= 90 && c <= 97:
			s.fg = color{set: true, index: c - 90 + 8}
		case c == 39:
			s.fg = color{}
		case c >= 40 && c <= 47:
			s.bg = color{set: true, index: c - 40}
		case c >= 100 && c <= 107:
			s.bg = color{set: true, index: c - 100 + 8}
		case c == 49:
			s.bg = color{}
		case c == 38 || c == 48:
			var col color
			if len(sub) > 1 {
				args := make([]int, len(sub)-1)
				for j, a := range sub[1:] {
					args[j] = param(a)
				}
				col, _ = extColor(args, true)
			} else {
				args := make([]int, 0, 4)
				for _, g := range groups[i+1 : min(i+5, len(groups))] {
					args = append(args, param(strings.SplitN(g, ":", 2)[0]))
				}
				var used int
				col, used = extColor(args, false)
				if !col.set {
					used = len(groups) // malformed: ignore the rest
				}
				i += used
			}
			if c == 38 {
				s.fg = col
			} else {
				s.bg = col
			}
		}
	}
}

func rgb(c [3]int) string {
	return "rgb(" + strconv.Itoa(c[0]) + "," + strconv.Itoa(c[1]) + "," + strconv.Itoa(c[2]) + ")"
}

func (s *sgr) segment(text string) segment {
	seg := segment{Text: text}
	if s.plain() {
		return seg
	}
	var cls []string
	var style string
	if s.fg.set {
		if s.fg.index >= 0 {
			cls = append(cls, "a-fg"+strconv.Itoa(s.fg.index))
		} else {
			style += "color:" + rgb(s.fg.rgb) + ";"
		}
	}
	if s.bg.set {
		if s.bg.index >= 0 {
			cls = append(cls, "a-bg"+strconv.Itoa(s.bg.index))
		} else {
			style += "background-color:" + rgb(s.bg.rgb) + ";"
		}
	}
	for _, a := range []struct {
		on  bool
		cls string
	}{{s.bold, "a-b"}, {s.dim, "a-d"}, {s.italic, "a-i"}, {s.underline, "a-u"}} {
		if a.on {
			cls = append(cls, a.cls)
		}
	}
	seg.Class = strings.Join(cls, " ")
	seg.Style = templ.SafeCSS(style)
	return seg
}

// maxLineChars is how many characters of a line are drawn; the rest are
// counted in a last segment (the log has the line whole).
const maxLineChars = 4000

// ansiSegments splits one output line into styled runs of text. A carriage
// return starts the line again (progress bars): what is drawn after it
// replaces what was drawn before, in the style the escapes left.
func ansiSegments(line string) []segment {
	var (
		st     sgr
		out    []segment
		redraw bool // a carriage return came: the next text replaces the line
	)
	text := func(t string) {
		for {
			part, rest, cr := strings.Cut(t, "\r")
			if part != "" {
				if redraw {
					out, redraw = out[:0], false
				}
				out = append(out, st.segment(part))
			}
			if !cr {
				return
			}
			redraw, t = true, rest
		}
	}
	last := 0
	if strings.IndexByte(line, 0x1b) >= 0 {
		for _, m := range escRe().FindAllStringSubmatchIndex(line, -1) {
			text(line[last:m[0]])
			if m[4] >= 0 && line[m[4]:m[5]] == "m" {
				st.apply(line[m[2]:m[3]])
			}
			last = m[1]
		}
	}
	text(line[last:])
	return cutSegments(out)
}

// cutSegments keeps the first maxLineChars characters (never half of one)
// and says how many more there are.
func cutSegments(segs []segment) []segment {
	n := 0
	for i, s := range segs {
		c := utf8.RuneCountInString(s.Text)
		if n+c <= maxLineChars {
			n += c
			continue
		}
		keep := maxLineChars - n
		more := c - keep
		for _, r := range segs[i+1:] {
			more += utf8.RuneCountInString(r.Text)
		}
		out := segs[:i]
		if keep > 0 {
			end := 0
			for k := 0; k < keep; k++ {
				_, w := utf8.DecodeRuneInString(s.Text[end:])
				end += w
			}
			s.Text = s.Text[:end]
			out = append(out, s)
		}
		word := " more characters"
		if more == 1 {
			word = " more character"
		}
		return append(out, segment{Text: " … " + strconv.Itoa(more) + word, Class: "ln-more"})
	}
	return segs
}
