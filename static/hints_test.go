package static

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/opsbook/opsbook/engine"
)

// TestHintForEveryKind: an empty cell of every kind shows a hint, so a
// new kind cannot come without one (static/src/cellhelp.js, HINTS).
func TestHintForEveryKind(t *testing.T) {
	src, err := os.ReadFile("src/cellhelp.js")
	if err != nil {
		t.Fatal(err)
	}
	start := strings.Index(string(src), "export const HINTS = {")
	end := strings.Index(string(src)[start:], "\n};")
	if start < 0 || end < 0 {
		t.Fatal("cellhelp.js has no HINTS object")
	}
	block := string(src)[start : start+end]
	for _, k := range engine.Kinds {
		if !regexp.MustCompile(`\n  ` + string(k) + `: '[^']{20,}'`).MatchString(block) {
			t.Errorf("HINTS has no hint for %s cells", k)
		}
	}
}
