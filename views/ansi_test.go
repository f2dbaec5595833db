package views

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// ansiCase is one line of views/testdata/ansi.json: a line of terminal
// output and the runs of text both renderers must make of it.
type ansiCase struct {
	Name string       `json:"name"`
	In   pieces       `json:"in"`
	Want []ansiResult `json:"want"`
}

type ansiResult struct {
	Text  pieces `json:"text"`
	Class string `json:"class"`
	Style string `json:"style"`
}

// pieces is a string, or a list of pieces: a string or [string, times]
// (so that the corpus can hold lines of thousands of characters).
type pieces string

func (p *pieces) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*p = pieces(s)
		return nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(b, &list); err != nil {
		return err
	}
	var sb strings.Builder
	for _, raw := range list {
		if json.Unmarshal(raw, &s) == nil {
			sb.WriteString(s)
			continue
		}
		var rep []json.RawMessage
		var text string
		var times int
		if json.Unmarshal(raw, &rep) != nil || len(rep) != 2 || json.Unmarshal(rep[0], &text) != nil || json.Unmarshal(rep[1], &times) != nil {
			return fmt.Errorf("piece %s: want a string or [string, times]", raw)
		}
		sb.WriteString(strings.Repeat(text, times))
	}
	*p = pieces(sb.String())
	return nil
}

func loadAnsiCorpus(t *testing.T) []ansiCase {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "ansi.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cases []ansiCase `json:"cases"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("testdata/ansi.json: %v", err)
	}
	if len(doc.Cases) < 50 {
		t.Fatalf("testdata/ansi.json holds %d cases; it should hold them all", len(doc.Cases))
	}
	return doc.Cases
}

func checkSegments(t *testing.T, who string, c ansiCase, got []ansiResult) {
	t.Helper()
	same := len(got) == len(c.Want)
	for i := 0; same && i < len(got); i++ {
		same = got[i] == c.Want[i]
	}
	if !same {
		t.Errorf("%s, %s (%.80q):\n got %.300q\nwant %.300q", who, c.Name, c.In, got, c.Want)
	}
}

// TestAnsiCorpus: the Go renderer makes of every line of the shared corpus
// what the corpus says.
func TestAnsiCorpus(t *testing.T) {
	t.Parallel()
	for _, c := range loadAnsiCorpus(t) {
		var got []ansiResult
		for _, s := range ansiSegments(string(c.In)) {
			got = append(got, ansiResult{Text: pieces(s.Text), Class: s.Class, Style: string(s.Style)})
		}
		checkSegments(t, "views/ansi.go", c, got)
	}
}

// TestAnsiCorpusJS: so does the page's renderer, static/src/ansi.js, run
// by node on the same corpus (static/test/ansi.mjs).
func TestAnsiCorpusJS(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is needed to check static/src/ansi.js against the corpus: install Node.js")
	}
	cases := loadAnsiCorpus(t)
	cmd := exec.Command(node, filepath.Join("..", "static", "test", "ansi.mjs"), filepath.Join("testdata", "ansi.json"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node static/test/ansi.mjs: %v\n%s", err, stderr.Bytes())
	}
	var results []struct {
		Name string       `json:"name"`
		Got  []ansiResult `json:"got"`
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r struct {
			Name string       `json:"name"`
			Got  []ansiResult `json:"got"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("ansi.mjs printed %.200q: %v", sc.Bytes(), err)
		}
		results = append(results, r)
	}
	if len(results) != len(cases) {
		t.Fatalf("ansi.mjs answered %d cases of %d", len(results), len(cases))
	}
	for i, c := range cases {
		if results[i].Name != c.Name {
			t.Fatalf("case %d: ansi.mjs answered %q for %q", i, results[i].Name, c.Name)
		}
		checkSegments(t, "static/src/ansi.js", c, results[i].Got)
	}
}
