package static

import (
	"io/fs"
	"strings"
	"testing"
)

func TestEmbedded(t *testing.T) {
	for _, name := range []string{"css/app.css", "dist/app.js"} {
		b, err := fs.ReadFile(FS, name)
		if err != nil || len(b) == 0 {
			t.Errorf("%s is not embedded: %v", name, err)
		}
	}
}

func TestPath(t *testing.T) {
	h := Hash()
	if len(h) != 12 || Hash() != h {
		t.Fatalf("Hash() = %q, want 12 stable hex digits", h)
	}
	if p := Path("css/app.css"); p != "/static/"+h+"/css/app.css" {
		t.Errorf("Path = %q", p)
	}
	if strings.ContainsAny(h, "/?#") {
		t.Errorf("hash %q is not a path segment", h)
	}
}
