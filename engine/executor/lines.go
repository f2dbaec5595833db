package executor

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// readSize is how much a process's output is read at a time.
const readSize = 64 << 10

// lineSplitter turns chunks of output into lines and hands them to an
// Output, all the lines of one chunk in one call. The complete lines of a
// chunk are made from one string conversion (the lines are substrings of
// it), so streaming costs no allocation per line.
type lineSplitter struct {
	stream     string
	out        Output
	carry      []byte   // the start of a line whose newline has not come yet
	discarding bool     // a line was cut: drop bytes up to its newline
	lines      []string // reused between calls; Output must not keep it
}

// Write splits p into lines. It never fails.
func (s *lineSplitter) Write(p []byte) (int, error) {
	n := len(p)
	s.lines = s.lines[:0]
	if s.discarding {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			return n, nil
		}
		p = p[i+1:]
		s.discarding = false
	}
	if len(s.carry) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.keep(p)
			s.emit()
			return n, nil
		}
		s.carry = append(s.carry, p[:i]...)
		s.lines = append(s.lines, lineOf(s.carry))
		s.carry = s.carry[:0]
		p = p[i+1:]
	}
	if last := bytes.LastIndexByte(p, '\n'); last >= 0 {
		chunk := string(p[:last])
		for {
			i := strings.IndexByte(chunk, '\n')
			if i < 0 {
				s.lines = append(s.lines, trimLine(chunk))
				break
			}
			s.lines = append(s.lines, trimLine(chunk[:i]))
			chunk = chunk[i+1:]
		}
		p = p[last+1:]
	}
	s.keep(p)
	s.emit()
	return n, nil
}

// keep holds the start of an unfinished line, or cuts it when it is
// already too long, so memory stays bounded whatever the line's length.
// One byte more than MaxLine is kept: it may be the \r of a \r\n.
func (s *lineSplitter) keep(p []byte) {
	if len(s.carry)+len(p) <= MaxLine+1 {
		s.carry = append(s.carry, p...)
		return
	}
	need := MaxLine + 1 - len(s.carry)
	s.carry = append(s.carry, p[:need]...)
	s.lines = append(s.lines, cut(s.carry))
	s.carry = s.carry[:0]
	s.discarding = true
}

// Flush sends the last line when the output did not end with a newline.
func (s *lineSplitter) Flush() {
	s.lines = s.lines[:0]
	if len(s.carry) > 0 && !s.discarding {
		s.lines = append(s.lines, lineOf(s.carry))
	}
	s.carry = s.carry[:0]
	s.discarding = false
	s.emit()
}

func (s *lineSplitter) emit() {
	if len(s.lines) > 0 && s.out != nil {
		s.out.Lines(s.stream, s.lines)
	}
	clear(s.lines) // drop references to the chunk strings
	s.lines = s.lines[:0]
}

// lineOf makes a line from a complete line's bytes (without its \n).
func lineOf(b []byte) string {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	if len(b) > MaxLine {
		return cut(b)
	}
	return string(b)
}

// trimLine drops a trailing \r and cuts a line longer than MaxLine.
func trimLine(l string) string {
	if len(l) > 0 && l[len(l)-1] == '\r' {
		l = l[:len(l)-1]
	}
	if len(l) > MaxLine {
		// Copy, so the cut line does not keep the whole chunk alive.
		return cut([]byte(l))
	}
	return l
}

// cut shortens b to MaxLine bytes, without splitting a UTF-8 sequence,
// and marks it.
func cut(b []byte) string {
	k := MaxLine
	if k > len(b) {
		k = len(b)
	}
	for i := 0; i < utf8.UTFMax-1 && k > 0 && k < len(b) && !utf8.RuneStart(b[k]); i++ {
		k--
	}
	return string(b[:k]) + CutMark
}

// tail keeps the last bytes written to it.
type tail struct {
	max   int // bytes kept; buf grows to it only as output comes
	buf   []byte
	start int  // where the oldest byte is, once full
	full  bool // more was written than fits
}

func newTail(n int) *tail { return &tail{max: n} }

func (t *tail) Write(p []byte) (int, error) {
	n := len(p)
	c := t.max
	if len(p) >= c {
		t.full = t.full || len(p) > c || len(t.buf) > 0
		t.buf = append(t.buf[:0], p[len(p)-c:]...)
		t.start = 0
		return n, nil
	}
	if len(t.buf) < c {
		room := c - len(t.buf)
		if len(p) <= room {
			t.buf = append(t.buf, p...)
			return n, nil
		}
		t.buf = append(t.buf, p[:room]...)
		p = p[room:]
	}
	t.full = true
	for len(p) > 0 {
		m := copy(t.buf[t.start:], p)
		p = p[m:]
		t.start = (t.start + m) % c
	}
	return n, nil
}

// String is the kept bytes, oldest first. When bytes were dropped it starts
// after the first newline, or failing that at the first whole character.
func (t *tail) String() string {
	if !t.full {
		return string(t.buf)
	}
	b := make([]byte, 0, len(t.buf))
	b = append(b, t.buf[t.start:]...)
	b = append(b, t.buf[:t.start]...)
	if i := bytes.IndexByte(b, '\n'); i >= 0 && i < len(b)-1 {
		return string(b[i+1:])
	}
	for i := 0; i < utf8.UTFMax-1 && len(b) > 0 && !utf8.RuneStart(b[0]); i++ {
		b = b[1:]
	}
	return string(b)
}
