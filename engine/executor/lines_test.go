package executor

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// refLines is the plain definition the splitter must match.
func refLines(s string) []string {
	if s == "" {
		return nil
	}
	parts := strings.Split(s, "\n")
	if parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	for i, p := range parts {
		p = strings.TrimSuffix(p, "\r")
		if len(p) > MaxLine {
			p = cut([]byte(p))
		}
		parts[i] = p
	}
	return parts
}

func TestLineSplitterChunks(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("z", MaxLine+10)
	inputs := map[string]string{
		"empty":          "",
		"one":            "one",
		"lines":          "a\nb\r\nc\n\n\nd",
		"crlf at max":    strings.Repeat("m", MaxLine) + "\r\nnext\n",
		"max+1":          strings.Repeat("m", MaxLine+1) + "\nnext\n",
		"cr only at end": "a\r",
		"long last":      "x\n" + long,
		"long middle":    "x\n" + long + "\ny\n" + long + "\r\n" + long,
		"utf8 at cut":    "a" + strings.Repeat("é", MaxLine) + "\nb",
		"newline only":   "\n",
		"binary":         "\x00\xff\xfe\n\x80",
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			want := refLines(in)
			for _, size := range []int{1, 2, 3, 7, 100, 4096, readSize, len(in) + 1, -1} {
				var c collect
				s := lineSplitter{stream: "stdout", out: &c}
				r := rand.New(rand.NewPCG(uint64(size), 1))
				for rest := in; len(rest) > 0; {
					n := size
					if n < 0 {
						n = 1 + r.IntN(70000) // random chunk sizes
					}
					n = min(n, len(rest))
					s.Write([]byte(rest[:n]))
					rest = rest[n:]
				}
				s.Flush()
				got := c.get("stdout")
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("chunks of %d: got %d lines, want %d: %.80q vs %.80q", size, len(got), len(want), got, want)
				}
			}
		})
	}
}

func TestLineSplitterBatches(t *testing.T) {
	t.Parallel()
	var c collect
	s := lineSplitter{stream: "stdout", out: &c}
	s.Write([]byte("a\nb\nc"))
	s.Write([]byte("d\ne\n"))
	s.Flush()
	if c.calls != 2 {
		t.Errorf("%d calls to Lines, want one per write with lines", c.calls)
	}
	if got := c.get("stdout"); !reflect.DeepEqual(got, []string{"a", "b", "cd", "e"}) {
		t.Errorf("lines = %q", got)
	}
}

func TestLineSplitterMemory(t *testing.T) {
	t.Parallel()
	// A 10 MB line in 64 KiB reads: the carried part never grows past
	// MaxLine+1 bytes.
	s := lineSplitter{stream: "stdout", out: &counter{}}
	chunk := []byte(strings.Repeat("q", readSize))
	for range 160 {
		s.Write(chunk)
		if cap(s.carry) > 2*MaxLine+2 {
			t.Fatalf("carry grew to %d bytes", cap(s.carry))
		}
	}
}

func TestTail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		writes []string
		want   string
	}{
		{"short", []string{"ab", "c\n"}, "abc\n"},
		{"exact", []string{"12345678"}, "12345678"},
		{"wraps to line", []string{"aaaa\nbb", "b\ncc"}, "bbb\ncc"},
		{"one big write", []string{"xx\nyyyyyyyyyy"}, "yyyyyyyy"},
		{"refill exact after data", []string{"a", "bbbbbbbb"}, "bbbbbbbb"},
		{"no newline utf8", []string{"aé", "éééé"}, "éééé"},
		{"newline last", []string{"abcdefghijk\n"}, "efghijk\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tl := newTail(8)
			for _, w := range tt.writes {
				tl.Write([]byte(w))
			}
			if got := tl.String(); got != tt.want {
				t.Errorf("tail = %q, want %q", got, tt.want)
			}
		})
	}
}
