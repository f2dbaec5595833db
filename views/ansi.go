package views

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/a-h/templ"
)

// segment is a run of text drawn in one style: classes for the 16 terminal
// colours and attributes (themed in app.css), an inline colour for 256-colour
// and truecolor values. The same rules as static/src/ansi.js.
type segment struct {
	Text  string
	Class string
	Style templ.SafeCSS // only ever "color:rgb(n,n,n);…" built from numbers
}

var escRe = regexp.MustCompile("\x1b\\[([0-?]*)[ -/]*([@-~])|\x1b\\][^\x07\x1b]*(?:\x07|\x1b\\\\)?|\x1b[@-Z\\\\-_]")

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

func (s *sgr) apply(params string) {
	var p []int
	if params == "" {
		p = []int{0}
	}
	for _, f := range strings.FieldsFunc(params, func(r rune) bool { return r == ';' || r == ':' }) {
		n, _ := strconv.Atoi(f)
		p = append(p, n)
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
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
			s.underline = true
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
			if i+2 < len(p) && p[i+1] == 5 {
				col = color256(p[i+2] & 255)
				i += 2
			} else if i+4 < len(p) && p[i+1] == 2 {
				col = color{set: true, index: -1, rgb: [3]int{p[i+2] & 255, p[i+3] & 255, p[i+4] & 255}}
				i += 4
			} else {
				i = len(p)
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

// lastDrawn keeps what a line shows after carriage returns redrew it.
func lastDrawn(line string) string {
	if !strings.Contains(line, "\r") {
		return line
	}
	parts := strings.Split(line, "\r")
	for i := len(parts) - 1; i >= 0; i-- {
		if parts[i] != "" {
			return parts[i]
		}
	}
	return ""
}

const maxLineChars = 4000

// ansiSegments splits one output line into styled runs of text.
func ansiSegments(line string) []segment {
	line = lastDrawn(line)
	if len(line) > maxLineChars {
		line = line[:maxLineChars] + " …"
	}
	if !strings.Contains(line, "\x1b") {
		return []segment{{Text: line}}
	}
	var st sgr
	var out []segment
	last := 0
	for _, m := range escRe.FindAllStringSubmatchIndex(line, -1) {
		if m[0] > last {
			out = append(out, st.segment(line[last:m[0]]))
		}
		if m[4] >= 0 && line[m[4]:m[5]] == "m" {
			st.apply(line[m[2]:m[3]])
		}
		last = m[1]
	}
	if last < len(line) {
		out = append(out, st.segment(line[last:]))
	}
	return out
}
