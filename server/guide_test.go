package server

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/opsbook/opsbook/docs"
	"github.com/opsbook/opsbook/engine"
)

// get fetches a page of the studio with a session, and its body.
func (s *studio) get(path, session string) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.url+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	if session != "" {
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: session})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestGuidePage: the studio serves docs/CELLS.md, its table of contents
// links landing on its headings, and an empty notebook links to it.
func TestGuidePage(t *testing.T) {
	s := newStudio(t)
	s.workspace()
	ada, adaTok := s.member("ada", "Ada Lovelace", engine.RoleEditor)
	s.flow("empty", "Empty", ada)

	code, body := s.get("/guide/cells", "")
	if code != http.StatusOK {
		t.Fatalf("GET /guide/cells: %d", code)
	}
	for _, want := range []string{"<h1 id=\"writing-cells\">Writing cells</h1>", "$OPSBOOK_OUTPUT", "expect_status", "concurrency"} {
		if !strings.Contains(body, want) {
			t.Errorf("the guide page lacks %q", want)
		}
	}
	anchors := regexp.MustCompile(`\]\(#([^)]+)\)`).FindAllStringSubmatch(docs.Cells, -1)
	if len(anchors) < 8 {
		t.Fatalf("CELLS.md has %d links within it; its contents should have at least 8", len(anchors))
	}
	for _, a := range anchors {
		if !strings.Contains(body, `id="`+a[1]+`"`) {
			t.Errorf("CELLS.md links to #%s, which no heading of the page has", a[1])
		}
	}
	if strings.Contains(body, "<script>") && !strings.Contains(body, "src=") {
		t.Errorf("the guide page holds an inline script")
	}

	code, body = s.get("/w/acme/flows/empty", adaTok)
	if code != http.StatusOK {
		t.Fatalf("GET the empty notebook: %d", code)
	}
	if !regexp.MustCompile(`(?s)data-empty[^>]*>.*href="/guide/cells"`).MatchString(body) {
		t.Errorf("the empty notebook does not link to the guide:\n%s", body)
	}
}
