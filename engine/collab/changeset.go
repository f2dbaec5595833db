package collab

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrInvalid is wrapped by every error about a malformed change set or one
// that does not fit the document it is applied to.
var ErrInvalid = errors.New("invalid change set")

// MaxLen bounds any length in a change set (and so any document): 2^30
// UTF-16 code units, far above the store's 1 MiB source limit.
const MaxLen = 1 << 30

// Text is a document as CodeMirror sees it: UTF-16 code units, line breaks
// as "\n". Positions and lengths in change sets count these units.
type Text []uint16

// TextOf converts a Go string (UTF-8) to UTF-16 code units.
func TextOf(s string) Text {
	out := make(Text, 0, len(s))
	for _, r := range s {
		if r >= 0x10000 {
			a, b := utf16.EncodeRune(r)
			out = append(out, uint16(a), uint16(b))
		} else {
			out = append(out, uint16(r))
		}
	}
	return out
}

// String converts back to UTF-8; a lone surrogate becomes U+FFFD.
func (t Text) String() string {
	var b []byte
	for i := 0; i < len(t); i++ {
		u := rune(t[i])
		if utf16.IsSurrogate(u) && i+1 < len(t) {
			if r := utf16.DecodeRune(u, rune(t[i+1])); r != utf8.RuneError {
				b = utf8.AppendRune(b, r)
				i++
				continue
			}
		}
		b = utf8.AppendRune(b, u)
	}
	return string(b)
}

// UTF8Len is the length in bytes of t as UTF-8 (a lone surrogate counts 3).
func (t Text) UTF8Len() int {
	n := 0
	for _, u := range t {
		switch {
		case u < 0x80:
			n++
		case u < 0x800:
			n += 2
		case u >= 0xD800 && u < 0xE000:
			n += 2 // half of a 4-byte pair
		default:
			n += 3
		}
	}
	return n
}

// WellFormed reports whether t has no lone surrogate.
func (t Text) WellFormed() bool {
	for i := 0; i < len(t); i++ {
		switch u := t[i]; {
		case u >= 0xD800 && u < 0xDC00:
			if i+1 >= len(t) || t[i+1] < 0xDC00 || t[i+1] >= 0xE000 {
				return false
			}
			i++
		case u >= 0xDC00 && u < 0xE000:
			return false
		}
	}
	return true
}

func concat(a, b Text) Text {
	if len(b) == 0 {
		return a
	}
	out := make(Text, 0, len(a)+len(b))
	return append(append(out, a...), b...)
}

// ChangeSet is CodeMirror's ChangeSet: pairs of (length in the old
// document, -1 when kept or else the length of what replaces it) and the
// inserted texts by section. The zero value is the empty set of an empty
// document.
type ChangeSet struct {
	sections []int
	inserted []Text // indexed by section number; missing or nil means empty
}

// Empty returns the set that keeps a document of length n unchanged.
func Empty(n int) ChangeSet {
	if n == 0 {
		return ChangeSet{}
	}
	return ChangeSet{sections: []int{n, -1}}
}

// Replace returns the set that replaces from…to of a document of length n
// with insert.
func Replace(n, from, to int, insert Text) (ChangeSet, error) {
	if from < 0 || to < from || to > n {
		return ChangeSet{}, fmt.Errorf("%w: range %d…%d in a document of length %d", ErrInvalid, from, to, n)
	}
	var cs ChangeSet
	cs.sections = addSection(cs.sections, from, -1, false)
	if to > from || len(insert) > 0 {
		cs.sections = addSection(cs.sections, to-from, len(insert), false)
		cs.inserted = addInsert(cs.inserted, cs.sections, insert)
	}
	cs.sections = addSection(cs.sections, n-to, -1, false)
	return cs, nil
}

// Len is the length of the document the set applies to.
func (c ChangeSet) Len() int {
	n := 0
	for i := 0; i < len(c.sections); i += 2 {
		n += c.sections[i]
	}
	return n
}

// NewLen is the length of the document after the set.
func (c ChangeSet) NewLen() int {
	n := 0
	for i := 0; i < len(c.sections); i += 2 {
		if ins := c.sections[i+1]; ins < 0 {
			n += c.sections[i]
		} else {
			n += ins
		}
	}
	return n
}

// IsEmpty reports whether the set changes nothing.
func (c ChangeSet) IsEmpty() bool {
	return len(c.sections) == 0 || len(c.sections) == 2 && c.sections[1] < 0
}

func (c ChangeSet) text(section int) Text {
	if section < len(c.inserted) {
		return c.inserted[section]
	}
	return nil
}

// Apply returns doc changed by the set; doc must have the set's length.
// doc is not modified.
func (c ChangeSet) Apply(doc Text) (Text, error) {
	if n := c.Len(); n != len(doc) {
		return nil, fmt.Errorf("%w: it is for a document of length %d, this one has %d", ErrInvalid, n, len(doc))
	}
	out := make(Text, 0, c.NewLen())
	pos := 0
	for i := 0; i < len(c.sections); i += 2 {
		l, ins := c.sections[i], c.sections[i+1]
		if ins < 0 {
			out = append(out, doc[pos:pos+l]...)
		} else {
			out = append(out, c.text(i>>1)...)
		}
		pos += l
	}
	return out, nil
}

// Change is one replaced range of a set: from…to in the old document,
// fromB…toB in the new one, and the inserted text.
type Change struct {
	FromA, ToA, FromB, ToB int
	Insert                 Text
}

// Changes lists the replaced ranges, adjacent ones joined (as CodeMirror's
// iterChanges does).
func (c ChangeSet) Changes() []Change {
	var out []Change
	posA, posB := 0, 0
	for i := 0; i < len(c.sections); {
		l, ins := c.sections[i], c.sections[i+1]
		i += 2
		if ins < 0 {
			posA += l
			posB += l
			continue
		}
		ch := Change{FromA: posA, ToA: posA, FromB: posB, ToB: posB}
		for {
			ch.ToA += l
			ch.ToB += ins
			ch.Insert = concat(ch.Insert, c.text((i-2)>>1))
			if i == len(c.sections) || c.sections[i+1] < 0 {
				break
			}
			l, ins = c.sections[i], c.sections[i+1]
			i += 2
		}
		out = append(out, ch)
		posA, posB = ch.ToA, ch.ToB
	}
	return out
}

// ---- JSON ----

// ParseChangeSet reads a change set in the form of CodeMirror's
// ChangeSet.toJSON: an array whose numbers are kept lengths and whose arrays
// [len, line, line…] replace len units with the lines joined by "\n".
// Beyond what CodeMirror checks, it refuses what CodeMirror never makes:
// negative, fractional or huge numbers, empty sections, empty replacements
// written with text, line breaks inside a line, NUL characters and invalid
// UTF-8. Lone surrogates written as \uXXXX escapes are kept as they are.
func ParseChangeSet(data []byte) (ChangeSet, error) {
	var parts []json.RawMessage
	if t := bytes.TrimSpace(data); len(t) == 0 || t[0] != '[' {
		return ChangeSet{}, fmt.Errorf("%w: want a JSON array", ErrInvalid)
	}
	if err := json.Unmarshal(data, &parts); err != nil {
		return ChangeSet{}, fmt.Errorf("%w: not a JSON array: %v", ErrInvalid, err)
	}
	var cs ChangeSet
	total, newTotal := 0, 0
	for i, p := range parts {
		p = bytes.TrimSpace(p)
		if len(p) == 0 {
			return ChangeSet{}, fmt.Errorf("%w: part %d is empty", ErrInvalid, i)
		}
		if p[0] != '[' {
			n, err := parseLen(p)
			if err != nil {
				return ChangeSet{}, fmt.Errorf("%w: part %d: %v", ErrInvalid, i, err)
			}
			if n == 0 {
				return ChangeSet{}, fmt.Errorf("%w: part %d keeps nothing", ErrInvalid, i)
			}
			cs.sections = append(cs.sections, n, -1)
			total += n
			newTotal += n
		} else {
			var elems []json.RawMessage
			if err := json.Unmarshal(p, &elems); err != nil || len(elems) == 0 {
				return ChangeSet{}, fmt.Errorf("%w: part %d must be [length, lines…]", ErrInvalid, i)
			}
			n, err := parseLen(bytes.TrimSpace(elems[0]))
			if err != nil {
				return ChangeSet{}, fmt.Errorf("%w: part %d: %v", ErrInvalid, i, err)
			}
			var ins Text
			for j, e := range elems[1:] {
				line, err := decodeString(bytes.TrimSpace(e))
				if err != nil {
					return ChangeSet{}, fmt.Errorf("%w: part %d, line %d: %v", ErrInvalid, i, j+1, err)
				}
				for _, u := range line {
					if u == '\n' {
						return ChangeSet{}, fmt.Errorf("%w: part %d, line %d holds a line break", ErrInvalid, i, j+1)
					}
					if u == 0 {
						return ChangeSet{}, fmt.Errorf("%w: part %d, line %d holds a NUL character", ErrInvalid, i, j+1)
					}
				}
				if j > 0 {
					ins = append(ins, '\n')
				}
				ins = append(ins, line...)
				if len(ins) > MaxLen {
					return ChangeSet{}, fmt.Errorf("%w: part %d inserts too much", ErrInvalid, i)
				}
			}
			if len(elems) > 1 && len(ins) == 0 {
				return ChangeSet{}, fmt.Errorf("%w: part %d inserts an empty text: write [%d]", ErrInvalid, i, n)
			}
			if n == 0 && len(ins) == 0 {
				return ChangeSet{}, fmt.Errorf("%w: part %d changes nothing", ErrInvalid, i)
			}
			cs.sections = append(cs.sections, n, len(ins))
			if len(ins) > 0 {
				for len(cs.inserted) < i {
					cs.inserted = append(cs.inserted, nil)
				}
				cs.inserted = append(cs.inserted, ins)
			}
			total += n
			newTotal += len(ins)
		}
		if total > MaxLen || newTotal > MaxLen {
			return ChangeSet{}, fmt.Errorf("%w: lengths over %d", ErrInvalid, MaxLen)
		}
	}
	return cs, nil
}

// parseLen reads a non-negative integer under MaxLen written as plain digits.
func parseLen(b []byte) (int, error) {
	if len(b) == 0 || len(b) > 10 {
		return 0, fmt.Errorf("want a length, got %.20s", b)
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("want a length (digits), got %.20s", b)
		}
	}
	if len(b) > 1 && b[0] == '0' {
		return 0, fmt.Errorf("want a length, got %s", b)
	}
	n, err := strconv.Atoi(string(b))
	if err != nil || n > MaxLen {
		return 0, fmt.Errorf("length %s out of range", b)
	}
	return n, nil
}

// decodeString decodes a JSON string (already checked by encoding/json) to
// UTF-16 without repairing lone surrogates, as JavaScript would.
func decodeString(b []byte) (Text, error) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return nil, fmt.Errorf("want a string, got %.20s", b)
	}
	b = b[1 : len(b)-1]
	out := make(Text, 0, len(b))
	for i := 0; i < len(b); {
		c := b[i]
		if c == '\\' {
			if i+1 >= len(b) {
				return nil, errors.New("bad escape")
			}
			switch b[i+1] {
			case '"', '\\', '/':
				out = append(out, uint16(b[i+1]))
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				if i+6 > len(b) {
					return nil, errors.New("bad \\u escape")
				}
				v, err := strconv.ParseUint(string(b[i+2:i+6]), 16, 16)
				if err != nil {
					return nil, errors.New("bad \\u escape")
				}
				out = append(out, uint16(v))
				i += 6
				continue
			default:
				return nil, errors.New("bad escape")
			}
			i += 2
			continue
		}
		if c < 0x80 {
			out = append(out, uint16(c))
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return nil, errors.New("invalid UTF-8")
		}
		if r >= 0x10000 {
			a, z := utf16.EncodeRune(r)
			out = append(out, uint16(a), uint16(z))
		} else {
			out = append(out, uint16(r))
		}
		i += size
	}
	return out, nil
}

// MarshalJSON writes the set as CodeMirror's ChangeSet.toJSON does.
func (c ChangeSet) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 16+2*len(c.sections))
	b = append(b, '[')
	for i := 0; i < len(c.sections); i += 2 {
		if i > 0 {
			b = append(b, ',')
		}
		l, ins := c.sections[i], c.sections[i+1]
		switch {
		case ins < 0:
			b = strconv.AppendInt(b, int64(l), 10)
		case ins == 0:
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(l), 10)
			b = append(b, ']')
		default:
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(l), 10)
			t := c.text(i >> 1)
			start := 0
			for j := 0; j <= len(t); j++ {
				if j == len(t) || t[j] == '\n' {
					b = append(b, ',')
					b = appendString(b, t[start:j])
					start = j + 1
				}
			}
			b = append(b, ']')
		}
	}
	return append(b, ']'), nil
}

// UnmarshalJSON is ParseChangeSet.
func (c *ChangeSet) UnmarshalJSON(data []byte) error {
	cs, err := ParseChangeSet(data)
	if err != nil {
		return err
	}
	*c = cs
	return nil
}

const hexDigits = "0123456789abcdef"

// appendString writes t as a JSON string; lone surrogates as \uXXXX.
func appendString(b []byte, t Text) []byte {
	b = append(b, '"')
	for i := 0; i < len(t); i++ {
		u := t[i]
		switch {
		case u == '"' || u == '\\':
			b = append(b, '\\', byte(u))
		case u == '\n':
			b = append(b, '\\', 'n')
		case u == '\r':
			b = append(b, '\\', 'r')
		case u == '\t':
			b = append(b, '\\', 't')
		case u < 0x20 || u >= 0xD800 && u < 0xE000:
			if u >= 0xD800 && u < 0xDC00 && i+1 < len(t) && t[i+1] >= 0xDC00 && t[i+1] < 0xE000 {
				b = utf8.AppendRune(b, utf16.DecodeRune(rune(u), rune(t[i+1])))
				i++
				continue
			}
			b = append(b, '\\', 'u', hexDigits[u>>12], hexDigits[u>>8&15], hexDigits[u>>4&15], hexDigits[u&15])
		case u < 0x80:
			b = append(b, byte(u))
		default:
			b = utf8.AppendRune(b, rune(u))
		}
	}
	return append(b, '"')
}

// ---- compose and map: a port of @codemirror/state's composeSets and mapSet ----

func addSection(sections []int, l, ins int, forceJoin bool) []int {
	if l == 0 && ins <= 0 {
		return sections
	}
	last := len(sections) - 2
	switch {
	case last >= 0 && ins <= 0 && ins == sections[last+1]:
		sections[last] += l
	case last >= 0 && l == 0 && sections[last] == 0:
		sections[last+1] += ins
	case forceJoin:
		sections[last] += l
		sections[last+1] += ins
	default:
		sections = append(sections, l, ins)
	}
	return sections
}

func addInsert(values []Text, sections []int, value Text) []Text {
	if len(value) == 0 {
		return values
	}
	index := (len(sections) - 2) >> 1
	if index < len(values) {
		values[len(values)-1] = concat(values[len(values)-1], value)
		return values
	}
	for len(values) < index {
		values = append(values, nil)
	}
	return append(values, append(Text(nil), value...))
}

type sectionIter struct {
	set           *ChangeSet
	i             int
	len, ins, off int
}

func newIter(c *ChangeSet) *sectionIter {
	it := &sectionIter{set: c}
	it.next()
	return it
}

func (it *sectionIter) next() {
	if s := it.set.sections; it.i < len(s) {
		it.len, it.ins = s[it.i], s[it.i+1]
		it.i += 2
	} else {
		it.len, it.ins = 0, -2
	}
	it.off = 0
}

func (it *sectionIter) done() bool { return it.ins == -2 }

func (it *sectionIter) len2() int {
	if it.ins < 0 {
		return it.len
	}
	return it.ins
}

func (it *sectionIter) text() Text { return it.set.text((it.i - 2) >> 1) }

func (it *sectionIter) textBit(l int) Text {
	t := it.set.text((it.i - 2) >> 1)
	if it.off+l > len(t) {
		return nil
	}
	return t[it.off : it.off+l]
}

func (it *sectionIter) forward(l int) {
	if l == it.len {
		it.next()
	} else {
		it.len -= l
		it.off += l
	}
}

func (it *sectionIter) forward2(l int) {
	switch {
	case it.ins == -1:
		it.forward(l)
	case l == it.ins:
		it.next()
	default:
		it.ins -= l
		it.off += l
	}
}

var errMismatch = fmt.Errorf("%w: mismatched change set lengths", ErrInvalid)

// Compose returns the set that does c then other; other must start from
// the document c makes.
func (c ChangeSet) Compose(other ChangeSet) (ChangeSet, error) {
	if c.NewLen() != other.Len() {
		return ChangeSet{}, fmt.Errorf("%w: compose a set making length %d with one for length %d", ErrInvalid, c.NewLen(), other.Len())
	}
	if c.IsEmpty() {
		return other, nil
	}
	if other.IsEmpty() {
		return c, nil
	}
	var sections []int
	var insert []Text
	a, b := newIter(&c), newIter(&other)
	for open := false; ; {
		switch {
		case a.done() && b.done():
			return ChangeSet{sections: sections, inserted: insert}, nil
		case a.ins == 0: // deletion in a
			sections = addSection(sections, a.len, 0, open)
			a.next()
		case b.len == 0 && !b.done(): // insertion in b
			sections = addSection(sections, 0, b.ins, open)
			insert = addInsert(insert, sections, b.text())
			b.next()
		case a.done() || b.done():
			return ChangeSet{}, errMismatch
		default:
			l, sectionLen := min(a.len2(), b.len), len(sections)
			switch {
			case a.ins == -1:
				insB := -1
				if b.ins != -1 {
					insB = b.ins
					if b.off > 0 {
						insB = 0
					}
				}
				sections = addSection(sections, l, insB, open)
				if insB > 0 {
					insert = addInsert(insert, sections, b.text())
				}
			case b.ins == -1:
				la := a.len
				if a.off > 0 {
					la = 0
				}
				sections = addSection(sections, la, l, open)
				insert = addInsert(insert, sections, a.textBit(l))
			default:
				la, lb := a.len, b.ins
				if a.off > 0 {
					la = 0
				}
				if b.off > 0 {
					lb = 0
				}
				sections = addSection(sections, la, lb, open)
				if b.off == 0 {
					insert = addInsert(insert, sections, b.text())
				}
			}
			open = (a.ins > l || b.ins >= 0 && b.len > l) && (open || len(sections) > sectionLen)
			a.forward2(l)
			b.forward(l)
		}
	}
}

// Map returns c moved over other (both start from the same document), so
// that it applies to the document other makes. With before, c's insertions
// go before other's at the same place; otherwise after (other came first).
func (c ChangeSet) Map(other ChangeSet, before bool) (ChangeSet, error) {
	if c.Len() != other.Len() {
		return ChangeSet{}, fmt.Errorf("%w: map a set for length %d over one for length %d", ErrInvalid, c.Len(), other.Len())
	}
	if other.IsEmpty() {
		return c, nil
	}
	var sections []int
	var insert []Text
	a, b := newIter(&c), newIter(&other)
	for inserted := -1; ; {
		switch {
		case a.done() && b.len > 0 || b.done() && a.len > 0:
			return ChangeSet{}, errMismatch
		case a.ins == -1 && b.ins == -1:
			l := min(a.len, b.len)
			sections = addSection(sections, l, -1, false)
			a.forward(l)
			b.forward(l)
		case b.ins >= 0 && (a.ins < 0 || inserted == a.i || a.off == 0 && (b.len < a.len || b.len == a.len && !before)):
			l := b.len
			sections = addSection(sections, b.ins, -1, false)
			for l > 0 {
				if a.done() {
					return ChangeSet{}, errMismatch
				}
				piece := min(a.len, l)
				if a.ins >= 0 && inserted < a.i && a.len <= piece {
					sections = addSection(sections, 0, a.ins, false)
					insert = addInsert(insert, sections, a.text())
					inserted = a.i
				}
				a.forward(piece)
				l -= piece
			}
			b.next()
		case a.ins >= 0:
			l, left := 0, a.len
			for left > 0 {
				if b.ins == -1 {
					piece := min(left, b.len)
					l += piece
					left -= piece
					b.forward(piece)
				} else if b.ins == 0 && b.len < left {
					left -= b.len
					b.next()
				} else {
					break
				}
			}
			ins := 0
			if inserted < a.i {
				ins = a.ins
			}
			sections = addSection(sections, l, ins, false)
			if inserted < a.i {
				insert = addInsert(insert, sections, a.text())
			}
			inserted = a.i
			a.forward(a.len - left)
		case a.done() && b.done():
			return ChangeSet{sections: sections, inserted: insert}, nil
		default:
			return ChangeSet{}, errMismatch
		}
	}
}

// Diff returns a set that turns old into new by replacing the span between
// their common prefix and suffix (whole surrogate pairs only).
func Diff(old, new Text) ChangeSet {
	from := 0
	for from < len(old) && from < len(new) && old[from] == new[from] {
		from++
	}
	if from > 0 && isHigh(old[from-1]) {
		from--
	}
	a, b := len(old), len(new)
	for a > from && b > from && old[a-1] == new[b-1] {
		a--
		b--
	}
	if a < len(old) && isLow(old[a]) && a > from {
		a++
		b++
	}
	cs, _ := Replace(len(old), from, a, new[from:b])
	return cs
}

func isHigh(u uint16) bool { return u >= 0xD800 && u < 0xDC00 }
func isLow(u uint16) bool  { return u >= 0xDC00 && u < 0xE000 }
