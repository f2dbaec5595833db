package server

import (
	"net/http"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/opsbook/opsbook/engine"
)

// evilFlow's notes, output and results hold scripts, javascript: links,
// event handlers and raw HTML.
func evilFlow() *engine.Flow {
	return &engine.Flow{Name: "Evil <script>alert(0)</script>", Cells: []engine.Cell{
		{Name: "notes", Kind: engine.KindMarkdown, File: "notes.md", Source: "# Notes <script>alert(1)</script>\n\n" +
			"[click](javascript:alert(2)) <a href=\"JaVaScRiPt:alert(3)\" onclick=\"alert(4)\">x</a>\n\n" +
			"<img src=x onerror=alert(5)> <iframe src=\"https://evil.example\"></iframe> <div onmouseover=\"alert(6)\">raw</div>\n\n" +
			"<svg onload=alert(7)><script>alert(8)</script></svg> <form action=\"javascript:alert(9)\"><button>go</button></form>\n"},
		{Name: "out", Kind: engine.KindShell, File: "out.sh", Source: "echo '<script>alert(10)</script>'\necho '<img src=x onerror=alert(11)>'\necho '<a href=\"javascript:alert(12)\">l</a>'\necho 'k=<b onclick=alert(13)>v</b>' >> \"$OPSBOOK_OUTPUT\"\n"},
		{Name: "rows", Kind: engine.KindExpr, File: "rows.expr", Source: `[{"name": "<script>alert(14)</script>", "n": 1}, {"name": "<img src=x onerror=alert(15)>", "n": 2}]` + "\n"},
	}}
}

// TestAttacksInert: whatever a flow's notes and output hold stays text on
// the run page and the share page.
func TestAttacksInert(t *testing.T) {
	f := setup(t, testDB)
	f.addFlow("evil", evilFlow())
	run := f.startRun("evil", "{}", "30s")
	f.waitRun(run)
	_, share := f.shareRun(run, true)
	_, hidden := f.shareRun(run, false)
	pages := map[string]string{
		"run page":                body(t, f.do("owner", "GET", "/runs/"+run, ""), http.StatusOK),
		"share page":              body(t, f.do("", "GET", share, ""), http.StatusOK),
		"share page, code hidden": body(t, f.do("", "GET", hidden, ""), http.StatusOK),
		"notebook":                body(t, f.do("owner", "GET", "/w/acme/flows/evil", ""), http.StatusOK),
		"links page":              body(t, f.do("owner", "GET", "/w/acme/flows/evil/shares", ""), http.StatusOK),
	}
	for name, page := range pages {
		checkInert(t, name, page)
	}
	// The notes are prose, the output is text, the rows a table.
	for _, name := range []string{"run page", "share page", "share page, code hidden"} {
		doc := parseHTML(t, pages[name])
		prose := find(doc, byAttr("data-prose", ""))
		if prose == nil || find(prose, func(n *html.Node) bool { return n.Data == "h1" }) == nil || !strings.Contains(textOf(prose), "Notes") {
			t.Errorf("%s: the markdown cell is not shown as prose", name)
		}
		if !strings.Contains(pages[name], "&lt;script&gt;alert(10)&lt;/script&gt;") {
			t.Errorf("%s: the output is not shown as text", name)
		}
		if !strings.Contains(pages[name], "<td>&lt;script&gt;alert(14)&lt;/script&gt;</td>") {
			t.Errorf("%s: the rows are not a table of text", name)
		}
	}
}

// TestActiveParts checks the checker: each of these is found.
func TestActiveParts(t *testing.T) {
	for _, bad := range []string{
		`<script>alert(1)</script>`, `<a href=" JavaScript:alert(1)">x</a>`, `<img src=x onerror=alert(1)>`,
		`<iframe src="https://x"></iframe>`, `<div onmouseover="x">`, `<form action="javascript:x"></form>`,
		`<svg><script>alert(1)</script></svg>`, `<meta http-equiv="refresh" content="0;url=javascript:x">`,
	} {
		if len(activeParts(parseHTML(t, bad))) == 0 {
			t.Errorf("not found: %s", bad)
		}
	}
	if p := activeParts(parseHTML(t, `<script type="module" src="/static/abc/dist/app.js"></script><p>&lt;script&gt;</p>`)); len(p) != 0 {
		t.Errorf("false alarm: %v", p)
	}
}
