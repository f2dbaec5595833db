package collab

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// nodeCases runs static/test/changesets.mjs, which makes random cases with
// the real @codemirror/state, installing static/node_modules first when
// missing (CI starts from a clean checkout).
func nodeCases(t *testing.T, count, seed string) [][]byte {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is needed to check change sets against @codemirror/state: install Node.js")
	}
	static, _ := filepath.Abs("../../static")
	npmOnce.Do(func() {
		if _, err := os.Stat(filepath.Join(static, "node_modules", "@codemirror", "state")); err == nil {
			return
		}
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = static
		if out, err := cmd.CombinedOutput(); err != nil {
			npmErr = err
			t.Logf("npm ci: %s", out)
		}
	})
	if npmErr != nil {
		t.Fatalf("npm ci in static/: %v", npmErr)
	}
	cmd := exec.Command(node, "test/changesets.mjs", count, seed)
	cmd.Dir = static
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node changesets.mjs: %v\n%s", err, stderr.Bytes())
	}
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			lines = append(lines, append([]byte(nil), sc.Bytes()...))
		}
	}
	return lines
}

var (
	npmOnce sync.Once
	npmErr  error
)

type jsCase struct {
	Kind   string            `json:"kind"`
	Doc    json.RawMessage   `json:"doc"`
	A      json.RawMessage   `json:"a"`
	B      json.RawMessage   `json:"b"`
	C      json.RawMessage   `json:"c"`
	Parts  []json.RawMessage `json:"parts"`
	Before bool              `json:"before"`
	Result json.RawMessage   `json:"result"`
}

// TestAgainstCodeMirror checks that parsing, writing, applying, composing
// and mapping give what @codemirror/state gives, on thousands of cases.
func TestAgainstCodeMirror(t *testing.T) {
	t.Parallel()
	for _, seed := range []string{"1", "77", "4242"} {
		lines := nodeCases(t, "2000", seed)
		if len(lines) != 2000 {
			t.Fatalf("seed %s: %d cases, want 2000", seed, len(lines))
		}
		for i, line := range lines {
			var c jsCase
			if err := json.Unmarshal(line, &c); err != nil {
				t.Fatalf("case %d: %v", i, err)
			}
			doc := mustText(t, c.Doc)
			want := mustText(t, c.Result)
			parse := func(raw json.RawMessage) ChangeSet {
				cs, err := ParseChangeSet(raw)
				if err != nil {
					t.Fatalf("seed %s case %d: parse %s: %v\n%s", seed, i, raw, err, line)
				}
				if got, _ := cs.MarshalJSON(); !jsonEqual(got, raw) {
					t.Fatalf("seed %s case %d: %s written back as %s", seed, i, raw, got)
				}
				return cs
			}
			apply := func(cs ChangeSet, d Text) Text {
				out, err := cs.Apply(d)
				if err != nil {
					t.Fatalf("seed %s case %d: apply: %v\n%s", seed, i, err, line)
				}
				return out
			}
			var got Text
			switch c.Kind {
			case "apply":
				got = apply(parse(c.A), doc)
			case "compose":
				a, b := parse(c.A), parse(c.B)
				comp, err := a.Compose(b)
				if err != nil {
					t.Fatalf("seed %s case %d: compose: %v", seed, i, err)
				}
				if j, _ := comp.MarshalJSON(); !jsonEqual(j, c.C) {
					t.Fatalf("seed %s case %d: compose gives %s, CodeMirror %s\n%s", seed, i, j, c.C, line)
				}
				got = apply(comp, doc)
				if step := apply(b, apply(a, doc)); !slices.Equal(step, got) {
					t.Fatalf("seed %s case %d: compose and two steps differ", seed, i)
				}
			case "map":
				a, b := parse(c.A), parse(c.B)
				m, err := a.Map(b, c.Before)
				if err != nil {
					t.Fatalf("seed %s case %d: map: %v", seed, i, err)
				}
				if j, _ := m.MarshalJSON(); !jsonEqual(j, c.C) {
					t.Fatalf("seed %s case %d: map gives %s, CodeMirror %s\n%s", seed, i, j, c.C, line)
				}
				bm, _ := b.Map(a, false)
				am, _ := a.Map(b, true)
				one, two := apply(bm, apply(a, doc)), apply(am, apply(b, doc))
				if !slices.Equal(one, two) {
					t.Fatalf("seed %s case %d: a then b' and b then a' differ", seed, i)
				}
				got = one
			case "seq":
				total := Empty(len(doc))
				d := doc
				for _, p := range c.Parts {
					cs := parse(p)
					d = apply(cs, d)
					var err error
					if total, err = total.Compose(cs); err != nil {
						t.Fatalf("seed %s case %d: compose: %v", seed, i, err)
					}
				}
				if j, _ := total.MarshalJSON(); !jsonEqual(j, c.C) {
					t.Fatalf("seed %s case %d: composed sequence %s, CodeMirror %s", seed, i, j, c.C)
				}
				if !slices.Equal(d, apply(total, doc)) {
					t.Fatalf("seed %s case %d: sequence and its composition differ", seed, i)
				}
				got = d
			default:
				t.Fatalf("case %d: unknown kind %q", i, c.Kind)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("seed %s case %d (%s): got %q, CodeMirror %q\n%s", seed, i, c.Kind, got.String(), want.String(), line)
			}
		}
	}
}

func mustText(t *testing.T, raw json.RawMessage) Text {
	t.Helper()
	s, err := decodeString(bytes.TrimSpace(raw))
	if err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return s
}

// jsonEqual compares two JSON texts by value, keeping lone surrogates
// apart from U+FFFD (encoding/json would merge them).
func jsonEqual(a, b []byte) bool {
	var x, y any
	dec := func(data []byte, v *any) bool {
		d := json.NewDecoder(bytes.NewReader(data))
		d.UseNumber()
		return d.Decode(v) == nil
	}
	if !dec(a, &x) || !dec(b, &y) {
		return false
	}
	ca, _ := ParseChangeSet(a)
	cb, _ := ParseChangeSet(b)
	return deepEqualJSON(x, y) && slices.Equal(ca.sections, cb.sections) && textsEqual(ca, cb)
}

func textsEqual(a, b ChangeSet) bool {
	for i := 0; i < max(len(a.inserted), len(b.inserted)); i++ {
		if !slices.Equal(a.text(i), b.text(i)) {
			return false
		}
	}
	return true
}

func deepEqualJSON(x, y any) bool {
	xa, ok1 := x.([]any)
	ya, ok2 := y.([]any)
	if ok1 != ok2 {
		return false
	}
	if !ok1 {
		return x == y
	}
	if len(xa) != len(ya) {
		return false
	}
	for i := range xa {
		if !deepEqualJSON(xa[i], ya[i]) {
			return false
		}
	}
	return true
}
