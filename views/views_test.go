package views

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"
	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/flow"
	"github.com/opsbook/opsbook/static"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const evil = `<script>alert(1)</script>`

var t0 = time.Date(2025, 1, 31, 6, 0, 0, 0, time.UTC)

func page(title string) Page {
	return Page{
		Title:      title,
		User:       &User{Name: "alice", Display: "Alice Doe", Role: "owner"},
		Workspace:  "acme",
		Workspaces: []Workspace{{Slug: "acme", Name: "Acme"}, {Slug: "lab", Name: "Lab"}},
		Nav:        "flows",
		Now:        t0.Add(10 * time.Minute),
	}
}

func render(t *testing.T, c templ.Component) string {
	t.Helper()
	var b bytes.Buffer
	if err := c.Render(context.Background(), &b); err != nil {
		t.Fatalf("render: %v", err)
	}
	return b.String()
}

func sampleEvents() []engine.Event {
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	return []engine.Event{
		{Type: engine.EventRunStarted, Run: "r_1", Seq: 1, At: at(0), Flow: "nightly", Version: 3, Cells: []string{"fetch", evil, "rows"}},
		{Type: engine.EventCellStarted, Run: "r_1", Seq: 2, At: at(5), Cell: "fetch", Attempt: 1},
		{Type: engine.EventCellLog, Run: "r_1", Seq: 3, At: at(10), Cell: "fetch", Stream: "stdout", Lines: []string{"plain", "\x1b[1;31mred bold\x1b[0m and \x1b[38;5;208morange\x1b[0m", evil}},
		{Type: engine.EventCellLog, Run: "r_1", Seq: 4, At: at(20), Cell: "fetch", Stream: "stderr", Lines: []string{"warning: " + evil}},
		{Type: engine.EventCellFinished, Run: "r_1", Seq: 5, At: at(47), Cell: "fetch", Status: "succeeded", Attempts: 1, DurationMS: 42, Result: json.RawMessage(`{"status":200,"headers":{},"body":{"total":3,"note":"<b>x</b>"}}`)},
		{Type: engine.EventCellStarted, Run: "r_1", Seq: 6, At: at(50), Cell: evil, Attempt: 1},
		{Type: engine.EventCellFinished, Run: "r_1", Seq: 7, At: at(80), Cell: evil, Status: "failed", Attempts: 2, DurationMS: 30, Error: "exit status 1: " + evil},
		{Type: engine.EventCellStarted, Run: "r_1", Seq: 8, At: at(90), Cell: "rows", Attempt: 1},
		{Type: engine.EventCellFinished, Run: "r_1", Seq: 9, At: at(120), Cell: "rows", Status: "succeeded", Attempts: 1, DurationMS: 30, Result: json.RawMessage(`{"columns":["id","name"],"rows":[{"id":1,"name":"<i>a</i>"},{"id":2,"name":null}],"affected":0}`)},
		{Type: engine.EventRunFinished, Run: "r_1", Seq: 10, At: at(130), Status: "failed", DurationMS: 130, Error: "cell " + evil + ": failed"},
	}
}

func sampleRun() RunItem {
	return RunItem{ID: "r_1", Flow: "nightly", FlowName: "Nightly report", Version: 3, Status: "failed", StartedBy: "bob", StartedAt: t0, DurationMS: 130}
}

func notebookProps() NotebookProps {
	outs, since := OutputsFromEvents(sampleEvents(), 0)
	run := sampleRun()
	return NotebookProps{
		Page:         page("Nightly report"),
		Slug:         "nightly",
		Role:         "editor",
		Paused:       []string{"webhook"},
		Published:    3,
		Destinations: []string{"ops", "on-call"},
		Draft: Draft{
			Name:        "Nightly report",
			Description: "Sales numbers " + evil,
			Order:       "notebook",
			Inputs:      []Input{{Name: "day", Type: "string", Default: "2025-01-31", Description: "Day to report"}},
			Triggers: []Trigger{
				{Cron: "0 6 * * *", Timezone: "Europe/Paris", Key: "cron 0 6 * * * Europe/Paris", Next: []string{"2025-02-01T06:00:00+01:00"}},
				{Webhook: true, Key: "webhook"},
			},
			Cells: []Cell{
				{ID: "c_intro", Name: "intro", Kind: "markdown", Source: "# Hello", HTML: "<h1>Hello</h1>"},
				{ID: "c_fetch", Name: "fetch", Kind: "http", Source: "GET https://example.com/{{ inputs.day }}\n", Options: CellOptions{Timeout: "30s", Retries: 2}},
				{ID: "c_evil", Name: evil, Kind: "shell", Source: "echo '" + evil + "'\n</textarea>"},
				{ID: "c_rows", Name: "rows", Kind: "sql", Source: "select 1", Options: CellOptions{Connection: "scratch"}},
			},
		},
		LastRun: &run,
		Since:   since,
		Outputs: outs,
	}
}

func runProps() RunProps {
	outs, since := OutputsFromEvents(sampleEvents(), 0)
	cell := func(name, kind, src string) RunCell {
		return RunCell{Name: name, Kind: kind, Source: src, Output: *outs[name]}
	}
	return RunProps{
		Page:       page("Run r_1"),
		Run:        sampleRun(),
		Hash:       "sha256:abc",
		Inputs:     map[string]any{"day": "2025-01-31", "n": 3, "x": evil},
		Error:      "cell " + evil + ": failed",
		FinishedAt: t0.Add(130 * time.Millisecond),
		Cells:      []RunCell{cell("fetch", "http", "GET https://example.com"), cell(evil, "shell", "echo "+evil), cell("rows", "sql", "select 1")},
		Since:      since,
		ShowCode:   true,
	}
}

func pages() map[string]templ.Component {
	run := sampleRun()
	return map[string]templ.Component{
		"setup":    SetupPage(SetupProps{Page: Page{Title: "Set up"}, Name: evil, Errors: map[string]string{"password": "Use at least 12 characters.", "": evil}}),
		"signin":   SignInPage(SignInProps{Page: Page{Title: "Sign in"}, Name: "alice", Next: "/w/acme", Error: "Wrong user name or password."}),
		"flows":    FlowsPage(FlowsProps{Page: page("Flows"), CanEdit: true, Flows: []FlowItem{{Slug: "nightly", Name: evil, Cells: 4, PublishedVersion: 3, LastRun: &run}, {Slug: "empty", Name: "Empty", Cells: 0}}, Errors: map[string]string{"archive": "not a zip"}}),
		"notebook": NotebookPage(notebookProps()),
		"runs":     RunsPage(RunsProps{Page: page("Runs"), Runs: []RunItem{run, {ID: "r_2", Flow: "x", FlowName: evil, Status: "running", StartedBy: evil, StartedAt: t0}, {ID: "r_3", Flow: "x", FlowName: "X", Status: "succeeded", StartedAt: t0, FromForm: true}}}),
		"run":      RunPage(runProps()),
		"shared-run": SharedRunPage(func() RunProps {
			p := runProps()
			p.Page = Page{Title: "Nightly report · run", Now: p.Page.Now}
			p.ShowCode = false
			p.Run.FromForm, p.Run.StartedBy = true, ""
			p.Share = &SharedView{ExpiresAt: t0.Add(time.Hour), Description: "Sales: " + evil, Again: "/s/form-token",
				Asked: []AskedInput{{Name: "day", Label: "Day of the report", Type: "date", Value: "2025-01-31"}, {Name: "x", Label: evil, Value: evil}, {Name: "loud", Label: "Loud", Type: "boolean", Value: "true"}}}
			return p
		}()),
		"form": FormPage(FormProps{Page: Page{Title: "Double it"}, Action: "/s/tok", FlowName: "Double it", Description: evil, VersionNote: "Runs version 2, the published version.",
			Errors: map[string]string{"n": evil},
			Fields: []FormField{
				{Name: "n", Label: "A number " + evil, Type: "number", Required: true, Description: "The number to double", Placeholder: "42 " + evil, Value: evil},
				{Name: "loud", Type: "boolean", Checked: true},
				{Name: "env", Label: "Where", Type: "select", Options: []string{"prod", evil}, Value: evil},
			}}),
		"form-archived": FormPage(FormProps{Page: Page{Title: "Double it"}, Action: "/s/tok", FlowName: "Double it", Archived: true, Errors: map[string]string{},
			Fields: []FormField{{Name: "n", Type: "number"}}}),
		"settings": SettingsPage(SettingsProps{
			Page: page("Settings"), CanManage: true,
			Members:      []Member{{Name: "alice", Display: "Alice", Role: "owner"}, {Name: "bob", Display: evil, Role: "editor"}},
			InviteErrors: map[string]string{"name": "That user already exists."},
			NewUser:      &NewUser{Name: "carol", Password: "one-time-" + evil},
			Tokens:       []Token{{ID: "t_1", Name: evil, Role: "runner", CreatedBy: "alice", CreatedAt: t0}},
			NewToken:     "ob_secret",
		}),
		"error": ErrorPage(ErrorProps{Page: page(""), Status: 404, Message: "No flow named " + evil + ". Check the address."}),
	}
}

// No page lets a name, line, output or message become markup.
func TestPagesEscapeUntrustedText(t *testing.T) {
	t.Parallel()
	for name, c := range pages() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			html := render(t, c)
			if strings.Contains(html, evil) {
				i := strings.Index(html, evil)
				t.Fatalf("unescaped %s in %s page: …%s…", evil, name, html[max(0, i-200):min(len(html), i+100)])
			}
			if strings.Contains(html, "<b>x</b>") || strings.Contains(html, "<i>a</i>") {
				t.Fatalf("result text became markup in %s page", name)
			}
			if !strings.Contains(html, "<!doctype html>") && !strings.Contains(html, "<!DOCTYPE html>") {
				t.Errorf("%s page: no doctype", name)
			}
			if !strings.Contains(html, static.Path("css/app.css")) || !strings.Contains(html, static.Path("dist/app.js")) {
				t.Errorf("%s page: no hashed stylesheet or bundle", name)
			}
		})
	}
}

func TestNotebookHooks(t *testing.T) {
	t.Parallel()
	html := render(t, NotebookPage(notebookProps()))
	for _, want := range []string{
		`id="notebook"`, `data-ws="acme"`, `data-flow="nightly"`, `data-role="editor"`, `data-socket="/w/acme/flows/nightly/ws"`,
		`data-cell="fetch"`, `data-cell-id="c_fetch"`, `data-kind="http"`, `data-editor`, `data-lang="http"`,
		`data-markdown`, `<h1>Hello</h1>`, // the sanitized markdown, as is
		`data-status="succeeded"`, `data-status="failed"`, `data-output`,
		`data-action="run-all"`, `data-action="run-cell"`, `data-action="run-from"`, `data-action="cancel"`,
		`data-action="add-cell"`, `data-action="delete-cell"`, `data-action="duplicate-cell"`,
		`data-action="move-up"`, `data-action="move-down"`, `data-action="save-version"`, `data-action="options"`,
		`<script id="draft" type="application/json">`, `data-run="r_1"`, `data-since="10"`,
		`class="a-fg1 a-b"`, `style="color:rgb(255,135,0);"`, `class="ln ln-err"`,
		`HTTP 200`, `&lt;script&gt;alert(1)&lt;/script&gt;`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("notebook page lacks %s", want)
		}
	}
	if strings.Contains(html, "</textarea>\n</textarea>") {
		t.Error("a source closed its textarea")
	}
}

func TestNotebookViewerHasNoEditing(t *testing.T) {
	t.Parallel()
	p := notebookProps()
	p.Role = "viewer"
	html := render(t, NotebookPage(p))
	for _, bad := range []string{`data-action="run-all"`, `data-action="delete-cell"`, `data-action="add-cell"`} {
		if strings.Contains(html, bad) {
			t.Errorf("viewer sees %s", bad)
		}
	}
	if !strings.Contains(html, "readonly") {
		t.Error("viewer's cell names are editable")
	}
}

func TestRunPageHooks(t *testing.T) {
	t.Parallel()
	html := render(t, RunPage(runProps()))
	for _, want := range []string{
		`id="run"`, `data-run="r_1"`, `data-since="10"`, `data-socket="/runs/r_1/ws?since=10"`,
		`data-cell="fetch"`, `data-status="succeeded"`, `data-output`, `data-timeline`, `data-tl="rows"`,
		`data-progress`, `3 of 3 cells done`, `Failed`, `The code that ran`, `/runs/r_1/log?cell=`, `<table class="data">`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("run page lacks %s", want)
		}
	}
}

// TestOutputsFromEventsKeepsHeadAndTail: a long output keeps its first
// HeadLines lines and its last maxLines, counts those between, and renders
// them head, gap row (with the whole log's link), tail.
func TestOutputsFromEventsKeepsHeadAndTail(t *testing.T) {
	t.Parallel()
	var evs []engine.Event
	for i := range HeadLines/2 + 50 {
		evs = append(evs, engine.Event{Type: engine.EventCellLog, Seq: int64(i + 1), Cell: "a", Stream: "stdout", Lines: []string{"x" + itoa(2*i+1), "y" + itoa(2*i+2)}})
	}
	evs = append(evs, engine.Event{Type: engine.EventCellLog, Seq: int64(len(evs) + 1), Cell: "a", Stream: "stderr", Lines: []string{"the end"}})
	outs, since := OutputsFromEvents(evs, 10)
	if since != int64(len(evs)) {
		t.Errorf("since = %d, want %d", since, len(evs))
	}
	o := outs["a"]
	total := HeadLines + 100 + 1
	if len(o.Head) != HeadLines || len(o.Lines) != 10 || o.Omitted != total-HeadLines-10 {
		t.Fatalf("head %d lines %d omitted %d, want %d, 10 and %d", len(o.Head), len(o.Lines), o.Omitted, HeadLines, total-HeadLines-10)
	}
	if o.Head[0].Text != "x1" || o.Head[HeadLines-1].Text != "y"+itoa(HeadLines) {
		t.Errorf("head runs %q … %q", o.Head[0].Text, o.Head[HeadLines-1].Text)
	}
	if last := o.Lines[9]; last.Text != "the end" || last.Stream != "stderr" || o.Lines[8].Text != "y"+itoa(total-1) {
		t.Errorf("tail ends %+v, %+v", o.Lines[8], last)
	}
	var buf strings.Builder
	if err := cellOutput(o, "shell", "/runs/r_1/log?cell=a").Render(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	head, gap, tail := strings.Index(html, ">y"+itoa(HeadLines)+"<"), strings.Index(html, `data-gap="`+itoa(o.Omitted)+`"`), strings.Index(html, ">the end<")
	if head < 0 || gap < head || tail < gap {
		t.Errorf("the output is not head (%d), gap (%d), tail (%d)", head, gap, tail)
	}
	if !strings.Contains(html, itoa(o.Omitted)+" lines not shown") || !strings.Contains(html, `href="/runs/r_1/log?cell=a" download`) {
		t.Errorf("the gap row does not count the lines or link the whole log: %.300s", html[gap:])
	}

	short, _ := OutputsFromEvents(evs[:3], 10)
	if o := short["a"]; len(o.Head) != 6 || len(o.Lines) != 0 || o.Omitted != 0 {
		t.Errorf("a short output: head %d lines %d omitted %d, want 6, 0, 0", len(o.Head), len(o.Lines), o.Omitted)
	}
}

func TestAnsiSegments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []segment
	}{
		{"plain", []segment{{Text: "plain"}}},
		{"\x1b[32mok\x1b[0m done", []segment{{Text: "ok", Class: "a-fg2"}, {Text: " done"}}},
		{"\x1b[1;97;41mX", []segment{{Text: "X", Class: "a-fg15 a-bg1 a-b"}}},
		{"\x1b[38;2;1;2;3mrgb", []segment{{Text: "rgb", Style: "color:rgb(1,2,3);"}}},
		{"\x1b[48;5;232mgrey", []segment{{Text: "grey", Style: "background-color:rgb(8,8,8);"}}},
		{"a\x1b[2Kb\x1b]0;title\x07c", []segment{{Text: "a"}, {Text: "b"}, {Text: "c"}}},
		{"10%\r50%\r100%", []segment{{Text: "100%"}}},
	}
	for _, tt := range tests {
		got := ansiSegments(tt.in)
		if len(got) != len(tt.want) {
			t.Errorf("%q: got %+v, want %+v", tt.in, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%q: segment %d = %+v, want %+v", tt.in, i, got[i], tt.want[i])
			}
		}
	}
}

// Golden files pin the whole HTML of two pages; run with -update to accept
// a change. The static hash is replaced so CSS and JS edits do not churn them.
func TestGolden(t *testing.T) {
	t.Parallel()
	all := pages()
	for _, name := range []string{"notebook", "run", "shared-run", "form", "form-archived", "runs"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := strings.ReplaceAll(render(t, all[name]), static.Hash(), "HASH")
			path := filepath.Join("testdata", name+".golden.html")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./views -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s page differs from %s; run `go test ./views -update` if the change is intended", name, path)
			}
		})
	}
}

// TestFailedScriptSaysItsExitOnce: a shell or Python cell that exited 3
// says so once, in its error ("exit status 3"), not again under its
// outputs as "exit code 3".
func TestFailedScriptSaysItsExitOnce(t *testing.T) {
	for _, kind := range []string{"shell", "python"} {
		r := cellResult(kind, "failed", json.RawMessage(`{"exit_code":3,"outputs":{"n":1}}`))
		if r.Note != "" {
			t.Errorf("%s: the result notes %q; the error already says the exit status", kind, r.Note)
		}
		if r.empty() {
			t.Errorf("%s: the outputs are lost", kind)
		}
	}
}

// TestDiffNoNewlineMark: a missing last line end is shown as an unnumbered
// row under the line, not inside the numbered line's text.
func TestDiffNoNewlineMark(t *testing.T) {
	old := &engine.Flow{Name: "n", Cells: []engine.Cell{{Name: "a", Kind: engine.KindShell, File: "a.sh", Source: "echo a\n"}}}
	new := &engine.Flow{Name: "n", Cells: []engine.Cell{{Name: "a", Kind: engine.KindShell, File: "a.sh", Source: "echo a"}}}
	html := render(t, DiffBody(flow.Compare(old, new)))
	if !strings.Contains(html, `<tr class="noeol"><td class="ln"></td><td class="ln"></td><td class="code">\ no newline at end</td></tr>`) {
		t.Errorf("no unnumbered mark row in\n%s", html)
	}
	if strings.Contains(html, `echo a \ no newline`) {
		t.Errorf("the mark is inside the line's text:\n%s", html)
	}
}
