package server

import (
	"strings"
	"testing"
)

func TestMarkdownInert(t *testing.T) {
	t.Parallel()
	for _, src := range []string{
		"<script>alert(1)</script>",
		"[x](javascript:alert(1))",
		`<img src=x onerror="alert(1)">`,
		`<a href="#" onclick="alert(1)">x</a>`,
		"<iframe src=//evil></iframe>",
	} {
		out := strings.ToLower(Markdown(src))
		for _, bad := range []string{"<script", "javascript:", "onerror", "onclick", "<iframe"} {
			if strings.Contains(out, bad) {
				t.Errorf("Markdown(%q) = %q keeps %q", src, out, bad)
			}
		}
	}
	if got := Markdown("# Title\n\n**bold**"); !strings.Contains(got, "<h1") || !strings.Contains(got, "<strong>bold</strong>") {
		t.Errorf("markdown not rendered: %q", got)
	}
}
