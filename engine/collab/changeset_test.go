package collab

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestParseChangeSet(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, json string
		doc, want  string // apply to doc; want "" with err set: refused
		err        bool
	}{
		{name: "keep", json: `[5]`, doc: "hello", want: "hello"},
		{name: "empty doc", json: `[]`, doc: "", want: ""},
		{name: "insert", json: `[[0,"ab"],5]`, doc: "hello", want: "abhello"},
		{name: "lines", json: `[5,[0,"","x"]]`, doc: "hello", want: "hello\nx"},
		{name: "delete", json: `[1,[3],1]`, doc: "hello", want: "ho"},
		{name: "astral", json: `[2,[0,"!"],2]`, doc: "😀😀", want: "😀!😀"},
		{name: "escapes", json: `[[0,"\u00e9\t\"\\"]]`, doc: "", want: "é\t\"\\"},
		{name: "crlf kept", json: `[1,[0,"\r"],1]`, doc: "ab", want: "a\rb"},
		{name: "spaces", json: ` [ 1 , [ 2 , "x" ] ] `, doc: "abc", want: "ax"},
		{name: "not an array", json: `{"a":1}`, err: true},
		{name: "garbage", json: `[1,`, err: true},
		{name: "negative", json: `[-1]`, err: true},
		{name: "fraction", json: `[1.5]`, err: true},
		{name: "exponent", json: `[1e3]`, err: true},
		{name: "leading zero", json: `[01]`, err: true},
		{name: "huge", json: `[99999999999]`, err: true},
		{name: "keep zero", json: `[0]`, err: true},
		{name: "replace nothing", json: `[[0]]`, err: true},
		{name: "empty part", json: `[[]]`, err: true},
		{name: "string length", json: `[["1","a"]]`, err: true},
		{name: "number line", json: `[[0,1]]`, err: true},
		{name: "empty insert text", json: `[[1,""]]`, err: true},
		{name: "newline in line", json: `[[0,"a\nb"]]`, err: true},
		{name: "nul", json: `[[0,"a\u0000"]]`, err: true},
		{name: "null", json: `null`, err: true},
		{name: "bool", json: `[true]`, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs, err := ParseChangeSet([]byte(tc.json))
			if tc.err {
				if err == nil || !errors.Is(err, ErrInvalid) {
					t.Fatalf("ParseChangeSet(%s) = %v, want ErrInvalid", tc.json, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseChangeSet(%s): %v", tc.json, err)
			}
			got, err := cs.Apply(TextOf(tc.doc))
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			if got.String() != tc.want {
				t.Fatalf("got %q, want %q", got.String(), tc.want)
			}
		})
	}
}

func TestApplyWrongLength(t *testing.T) {
	t.Parallel()
	cs, _ := ParseChangeSet([]byte(`[3,[1,"x"]]`))
	for _, doc := range []string{"", "abc", "abcde", "😀😀😀"} {
		if _, err := cs.Apply(TextOf(doc)); !errors.Is(err, ErrInvalid) {
			t.Errorf("apply to %q: %v, want ErrInvalid", doc, err)
		}
	}
	if _, err := cs.Apply(TextOf("😀ab")); err != nil { // 4 units
		t.Errorf("apply to 4 units: %v", err)
	}
}

func TestUTF16(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "abc", "é", "中文", "😀", "a👍🏽b", "\r\n", "𝄞x"} {
		tx := TextOf(s)
		if tx.String() != s || tx.UTF8Len() != len(s) || !tx.WellFormed() {
			t.Errorf("%q: round trip %q, utf8 len %d", s, tx.String(), tx.UTF8Len())
		}
	}
	if n := len(TextOf("😀")); n != 2 {
		t.Errorf("😀 is %d units, want 2", n)
	}
	if (Text{0xD800}).WellFormed() || (Text{0xDC00, 'a'}).WellFormed() {
		t.Error("lone surrogates count as well formed")
	}
}

func TestDiff(t *testing.T) {
	t.Parallel()
	for _, tc := range [][2]string{{"", ""}, {"abc", "abc"}, {"", "x"}, {"abc", ""}, {"hello world", "hello brave world"},
		{"😀", "😃"}, {"a😀b", "a😃b"}, {"aaa", "aa"}, {"x👍🏽y", "x👍🏿y"}} {
		old, neu := TextOf(tc[0]), TextOf(tc[1])
		cs := Diff(old, neu)
		got, err := cs.Apply(old)
		if err != nil || !slices.Equal(got, neu) {
			t.Errorf("Diff(%q, %q) gives %q, %v", tc[0], tc[1], got.String(), err)
		}
		if _, err := checkFits(cs, old); err != nil {
			t.Errorf("Diff(%q, %q) splits a character: %v", tc[0], tc[1], err)
		}
	}
}

// FuzzParseChangeSet: whatever the parser accepts writes back to itself,
// applies to a document of its length and maps and composes without panic.
func FuzzParseChangeSet(f *testing.F) {
	for _, s := range []string{`[]`, `[5]`, `[[0,"ab"],5]`, `[1,[3],1]`, `[[2,"😀"],[1],3,[0,"","x"]]`, `[[0,"\ud83d"]]`, `[0]`, `[[1,""]]`, `[-1]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cs, err := ParseChangeSet(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if cs.Len() > 1<<16 || cs.NewLen() > 1<<16 {
			return
		}
		out, _ := cs.MarshalJSON()
		again, err := ParseChangeSet(out)
		if err != nil {
			t.Fatalf("%s written as %s, which does not parse: %v", data, out, err)
		}
		if out2, _ := again.MarshalJSON(); string(out2) != string(out) {
			t.Fatalf("not stable: %s then %s", out, out2)
		}
		doc := make(Text, cs.Len())
		for i := range doc {
			doc[i] = 'a' + uint16(i%26)
		}
		after, err := cs.Apply(doc)
		if err != nil || len(after) != cs.NewLen() {
			t.Fatalf("apply: %v (len %d, want %d)", err, len(after), cs.NewLen())
		}
		if _, err := cs.Map(cs, false); err != nil {
			t.Fatalf("map over itself: %v", err)
		}
		inv, _ := Replace(cs.NewLen(), 0, cs.NewLen(), doc)
		if _, err := cs.Compose(inv); err != nil {
			t.Fatalf("compose: %v", err)
		}
		_ = fmt.Sprint(cs.Changes())
	})
}
