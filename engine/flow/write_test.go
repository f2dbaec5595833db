package flow

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/opsbook/opsbook/engine"
)

func TestAppendString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		inFlow bool
		want   string
	}{
		{"hello", false, `hello`},
		{"Nightly report", false, `Nightly report`},
		{"cells.probe.status != 200", false, `cells.probe.status != 200`},
		{`inputs.env == "prod"`, false, `inputs.env == "prod"`},
		{"cells.x.rows[0].n > 0", false, `cells.x.rows[0].n > 0`},
		{"cells.x.rows[0].n > 0", true, `"cells.x.rows[0].n > 0"`},
		{"small, large", false, `small, large`},
		{"small, large", true, `"small, large"`},
		{"/usr/bin/env", false, `/usr/bin/env`},
		{"$HOME", false, `$HOME`},
		{"_private", false, `_private`},
		{`back\slash`, false, `back\slash`},
		{"café crème", false, `café crème`},
		{"日本語", false, `日本語`},
		{"it's", false, `it's`},
		{"", false, `""`},
		{"true", false, `"true"`},
		{"True", false, `"True"`},
		{"FALSE", false, `"FALSE"`},
		{"yes", false, `"yes"`},
		{"No", false, `"No"`},
		{"on", false, `"on"`},
		{"off", false, `"off"`},
		{"y", false, `"y"`},
		{"n", true, `"n"`},
		{"null", false, `"null"`},
		{"Null", false, `"Null"`},
		{"~", false, `"~"`},
		{"3", false, `"3"`},
		{"-3", false, `"-3"`},
		{"+3", false, `"+3"`},
		{"3.5", false, `"3.5"`},
		{".5", false, `".5"`},
		{"1e3", false, `"1e3"`},
		{"0x1F", false, `"0x1F"`},
		{"0o17", false, `"0o17"`},
		{"1_000", false, `"1_000"`},
		{".inf", false, `".inf"`},
		{"-.inf", false, `"-.inf"`},
		{".NaN", false, `".NaN"`},
		{"2025-01-31", false, `"2025-01-31"`},
		{"2025-01-31T10:00:00Z", false, `"2025-01-31T10:00:00Z"`},
		{"0 6 * * *", false, `"0 6 * * *"`},
		{"a: b", false, `"a: b"`},
		{"http://example.com", false, `"http://example.com"`},
		{"key:", false, `"key:"`},
		{"a #b", false, `"a #b"`},
		{"a#b", false, `"a#b"`},
		{"#comment", false, `"#comment"`},
		{"-x", false, `"-x"`},
		{"- x", false, `"- x"`},
		{"?x", false, `"?x"`},
		{"No?", false, `No?`},
		{"No?", true, `"No?"`},
		{"a?b", true, `"a?b"`},
		{":x", false, `":x"`},
		{",x", false, `",x"`},
		{"[x]", false, `"[x]"`},
		{"{x}", false, `"{x}"`},
		{"{{ inputs.day }}", false, `"{{ inputs.day }}"`},
		{"*alias", false, `"*alias"`},
		{"&anchor", false, `"&anchor"`},
		{"!tag", false, `"!tag"`},
		{"|block", false, `"|block"`},
		{">folded", false, `">folded"`},
		{"%directive", false, `"%directive"`},
		{"@at", false, `"@at"`},
		{"`tick", false, "\"`tick\""},
		{"'single", false, `"'single"`},
		{`"double`, false, `"\"double"`},
		{"<<", false, `"<<"`},
		{"=", false, `"="`},
		{".hidden", false, `".hidden"`},
		{" lead", false, `" lead"`},
		{"trail ", false, `"trail "`},
		{"two\nlines", false, `"two\nlines"`},
		{"crlf\r\n", false, `"crlf\r\n"`},
		{"tab\there", false, `"tab\there"`},
		{"nul\x00", false, `"nul\0"`},
		{"bell\x07", false, `"bell\x07"`},
		{"del\x7f", false, `"del\x7f"`},
		{"nbsp\u00a0x", false, `"nbsp\u00a0x"`},
		{"line\u2028sep", false, `"line\u2028sep"`},
		{"bom\ufeff", false, `"bom\ufeff"`},
		{"nel\u0085", false, `"nel\u0085"`},
		{"😀 smile", false, `"😀 smile"`},
		{"smile 😀", false, `smile 😀`},
		{"priv\U000F0000", false, `"priv\U000f0000"`},
	}
	for _, tt := range tests {
		got := string(appendString(nil, tt.in, tt.inFlow))
		if got != tt.want {
			t.Errorf("appendString(%q, %v) = %s, want %s", tt.in, tt.inFlow, got, tt.want)
		}
		if back := readScalar(t, got, tt.inFlow); back != tt.in {
			t.Errorf("%s reads back as %#v, want %q", got, back, tt.in)
		}
	}
}

// readScalar reads a written scalar back with yaml.v3, as a mapping value
// or as the item of a flow sequence.
func readScalar(t *testing.T, written string, inFlow bool) any {
	t.Helper()
	doc := "v: " + written + "\n"
	if inFlow {
		doc = "v: [" + written + "]\n"
	}
	var m map[string]any
	if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
		return err
	}
	if inFlow {
		l, ok := m["v"].([]any)
		if !ok || len(l) != 1 {
			return m["v"]
		}
		return l[0]
	}
	return m["v"]
}

func TestAppendValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   any
		want string
	}{
		{int64(3), "3"},
		{3, "3"},
		{int64(-9223372036854775808), "-9223372036854775808"},
		{3.0, "3.0"},
		{2.5, "2.5"},
		{-0.25, "-0.25"},
		{1e21, "1e+21"},
		{1e-7, "1e-07"},
		{math.Copysign(0, -1), "-0.0"},
		{true, "true"},
		{false, "false"},
		{"3", `"3"`},
		{"2025-01-31", `"2025-01-31"`},
	}
	for _, tt := range tests {
		got := string(appendValue(nil, tt.in))
		if got != tt.want {
			t.Errorf("appendValue(%#v) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   time.Duration
		want string
	}{
		{30 * time.Second, "30s"},
		{90 * time.Second, "1m30s"},
		{time.Minute, "1m"},
		{2 * time.Hour, "2h"},
		{2*time.Hour + 30*time.Minute, "2h30m"},
		{time.Hour + 5*time.Second, "1h0m5s"},
		{100 * time.Millisecond, "100ms"},
		{1500 * time.Millisecond, "1.5s"},
		{time.Minute + 500*time.Millisecond, "1m0.5s"},
		{time.Microsecond, "1µs"},
		{1, "1ns"},
	}
	for _, tt := range tests {
		got := formatDuration(tt.in)
		if got != tt.want {
			t.Errorf("formatDuration(%v) = %s, want %s", tt.in, got, tt.want)
		}
		if back, err := time.ParseDuration(got); err != nil || back != tt.in {
			t.Errorf("%s parses as %v, %v", got, back, err)
		}
	}
}

func TestManifest(t *testing.T) {
	t.Parallel()
	f := &engine.Flow{
		Name:        "Nightly report",
		Description: "Sales numbers: for the ops channel",
		Order:       engine.OrderGraph,
		Inputs: []engine.Input{
			{Name: "day", Type: engine.InputDate, Default: "2025-01-31", Label: "Day", Description: "Day to report", Placeholder: "YYYY-MM-DD"},
			{Name: "size", Type: engine.InputSelect, Default: "small", Required: true, Options: []string{"small", "large", "x, y"}},
			{Name: "n", Type: engine.InputNumber, Default: 3.0},
		},
		Triggers: []engine.Trigger{{Cron: "0 6 * * *", Timezone: "Europe/Paris"}, {Webhook: true}},
		Cells: []engine.Cell{
			{Name: "intro", Kind: engine.KindMarkdown, File: "intro.md", Source: "# Hi\n"},
			{Name: "fetch", Kind: engine.KindHTTP, File: "fetch.http", ExpectStatus: []string{"2xx", "404"}, Timeout: 90 * time.Second, Retries: 2, RetryDelay: time.Second, Source: "GET {{ inputs.base_url }}/x\n"},
			{Name: "load", Kind: engine.KindSQL, File: "load.sql", Connection: "scratch", Needs: []string{"fetch", "true"}, If: "cells.fetch.status == 200"},
			{Name: "true", Kind: engine.KindShell, File: "true.sh", Env: []engine.EnvVar{{Name: "CHANNEL", Value: "ops"}, {Name: "DAY", Value: "{{ inputs.day }}"}}, ContinueOnError: true},
		},
	}
	want := `name: Nightly report
description: "Sales numbers: for the ops channel"
order: graph
inputs:
  - name: day
    type: date
    default: "2025-01-31"
    label: Day
    description: Day to report
    placeholder: YYYY-MM-DD
  - name: size
    type: select
    default: small
    required: true
    options: [small, large, "x, y"]
  - name: "n"
    type: number
    default: 3.0
triggers:
  - cron: "0 6 * * *"
    timezone: Europe/Paris
  - webhook: true
cells:
  - name: intro
    kind: markdown
    file: intro.md
  - name: fetch
    kind: http
    file: fetch.http
    expect_status: [2xx, 404]
    timeout: 1m30s
    retries: 2
    retry_delay: 1s
  - name: load
    kind: sql
    file: load.sql
    if: cells.fetch.status == 200
    needs: [fetch, "true"]
    connection: scratch
  - name: "true"
    kind: shell
    file: true.sh
    env:
      CHANNEL: ops
      DAY: "{{ inputs.day }}"
    continue_on_error: true
`
	if got := string(Manifest(f)); got != want {
		t.Errorf("Manifest:\n%s\nwant:\n%s", got, want)
	}
	assertRoundTrip(t, f)
}

// assertRoundTrip checks that f exports, parses back equal, and exports
// to the same bytes again.
func assertRoundTrip(t *testing.T, f *engine.Flow) {
	t.Helper()
	files, err := Files(f)
	if err != nil {
		t.Fatalf("Files: %v", err)
	}
	back, err := Parse(mapFS(files))
	if err != nil {
		t.Fatalf("Parse(Files(f)): %v\n%s", err, files[0].Data)
	}
	if !sameFlow(back, f) {
		t.Fatalf("Parse(Files(f)) differs from f:\n got %#v\nwant %#v\nmanifest:\n%s", unpos(back), unpos(f), files[0].Data)
	}
	again, err := Files(back)
	if err != nil {
		t.Fatalf("Files again: %v", err)
	}
	if !reflect.DeepEqual(again, files) {
		t.Fatalf("second export differs:\n%s\nwant\n%s", again[0].Data, files[0].Data)
	}
}

func mapFS(files []File) fstest.MapFS {
	fsys := fstest.MapFS{}
	for _, f := range files {
		fsys[f.Name] = &fstest.MapFile{Data: f.Data}
	}
	return fsys
}

// sameFlow reports whether two flows hold the same content, ignoring
// positions and the difference between empty and nil lists.
func sameFlow(a, b *engine.Flow) bool { return reflect.DeepEqual(unpos(a), unpos(b)) }

func unpos(f *engine.Flow) *engine.Flow {
	g := *f
	g.Inputs = nil
	for _, in := range f.Inputs {
		in.Pos = engine.Pos{}
		if len(in.Options) == 0 {
			in.Options = nil
		}
		if v, ok := in.Default.(int); ok {
			in.Default = int64(v)
		}
		g.Inputs = append(g.Inputs, in)
	}
	if len(f.Triggers) == 0 {
		g.Triggers = nil
	}
	g.Cells = nil
	for _, c := range f.Cells {
		c.Pos, c.IfPos, c.NeedsPos = engine.Pos{}, engine.Pos{}, engine.Pos{}
		if len(c.Needs) == 0 {
			c.Needs = nil
		}
		if len(c.ExpectStatus) == 0 {
			c.ExpectStatus = nil
		}
		var env []engine.EnvVar
		for _, e := range c.Env {
			e.Pos = engine.Pos{}
			env = append(env, e)
		}
		c.Env = env
		if len(c.Approvers) == 0 {
			c.Approvers = nil
		}
		c.Inputs = unpos(&engine.Flow{Inputs: c.Inputs}).Inputs
		g.Cells = append(g.Cells, c)
	}
	return &g
}

func TestNetworkKey(t *testing.T) {
	t.Parallel()
	off := &engine.Flow{Name: "T", NoNetwork: true, Cells: []engine.Cell{{Name: "a", Kind: engine.KindShell, File: "a.sh", Source: "true\n"}}}
	if m := string(Manifest(off)); !strings.Contains(m, "\nnetwork: false\n") {
		t.Errorf("manifest of a flow without network:\n%s", m)
	}
	on := *off
	on.NoNetwork = false
	if m := string(Manifest(&on)); strings.Contains(m, "network") {
		t.Errorf("manifest of a flow with network (the default) names it:\n%s", m)
	}
	assertRoundTrip(t, off)
	assertRoundTrip(t, &on)
	for _, tc := range []struct {
		yaml string
		off  bool
	}{{"network: false\n", true}, {"network: true\n", false}, {"", false}} {
		f, err := Parse(mapFS([]File{{Name: "flow.yaml", Data: []byte("name: T\n" + tc.yaml + "cells: []\n")}}))
		if err != nil {
			t.Fatalf("%q: %v", tc.yaml, err)
		}
		if f.NoNetwork != tc.off {
			t.Errorf("%q: NoNetwork = %v", tc.yaml, f.NoNetwork)
		}
	}
	_, err := Parse(mapFS([]File{{Name: "flow.yaml", Data: []byte("name: T\nnetwork: \"no\"\ncells: []\n")}}))
	if err == nil || !strings.Contains(err.Error(), "network must be true or false (without quotes)") {
		t.Errorf("network: \"no\" gave %v", err)
	}
	if d := Compare(off, &on); len(d.Settings) != 1 || d.Settings[0].Field != "network" {
		t.Errorf("diff: %+v", d.Settings)
	}
}

// TestConcurrencyAndRate writes concurrency (omitted when zero) and a
// webhook's rate, reads them back and diffs them.
func TestConcurrencyAndRate(t *testing.T) {
	t.Parallel()
	base := &engine.Flow{Name: "T", Cells: []engine.Cell{{Name: "a", Kind: engine.KindShell, File: "a.sh", Source: "true\n"}}}
	if m := string(Manifest(base)); strings.Contains(m, "concurrency") || strings.Contains(m, "rate") {
		t.Errorf("a flow without concurrency or rate names them:\n%s", m)
	}
	tests := []struct {
		c    engine.Concurrency
		rate int
		want string
	}{
		{engine.Concurrency{Limit: 1}, 0, "triggers:\n  - webhook: true\nconcurrency: {limit: 1}\ncells:\n"},
		{engine.Concurrency{Limit: 3, Overlap: engine.OverlapSkip}, 20, "triggers:\n  - webhook: true\n    rate: 20\nconcurrency: {limit: 3, overlap: skip}\ncells:\n"},
		{engine.Concurrency{Limit: 2, Overlap: engine.OverlapQueue}, 1, "  - webhook: true\n    rate: 1\nconcurrency: {limit: 2, overlap: queue}\n"},
		{engine.Concurrency{Limit: 1, Overlap: engine.OverlapCancel}, 0, "concurrency: {limit: 1, overlap: cancel}\n"},
	}
	for _, tt := range tests {
		f := *base
		f.Triggers = []engine.Trigger{{Webhook: true, Rate: tt.rate}}
		f.Concurrency = tt.c
		if m := string(Manifest(&f)); !strings.Contains(m, tt.want) {
			t.Errorf("%+v rate %d: manifest\n%s\nwant it to hold\n%s", tt.c, tt.rate, m, tt.want)
		}
		assertRoundTrip(t, &f)
	}
	// Block style reads the same; canonical form is the flow style.
	f, err := Parse(mapFS([]File{
		{Name: "flow.yaml", Data: []byte("name: T\ntriggers:\n  - webhook: true\n    rate: 5\nconcurrency:\n  overlap: cancel\n  limit: 2\ncells:\n  - name: a\n    kind: shell\n    file: a.sh\n")},
		{Name: "a.sh", Data: []byte("true\n")},
	}))
	if err != nil {
		t.Fatal(err)
	}
	if f.Concurrency != (engine.Concurrency{Limit: 2, Overlap: engine.OverlapCancel}) || f.Triggers[0].Rate != 5 {
		t.Errorf("parsed %+v, %+v", f.Concurrency, f.Triggers)
	}
	if tr, ok := f.WebhookTrigger(); !ok || tr.EffectiveRate() != 5 {
		t.Errorf("WebhookTrigger = %+v, %v", tr, ok)
	}
	if tr := (engine.Trigger{Webhook: true}); tr.EffectiveRate() != engine.DefaultWebhookRate {
		t.Errorf("default rate %d", tr.EffectiveRate())
	}
	if m := string(Manifest(f)); !strings.Contains(m, "\nconcurrency: {limit: 2, overlap: cancel}\ncells:\n") {
		t.Errorf("canonical manifest:\n%s", m)
	}

	g := *f
	g.Concurrency = engine.Concurrency{Limit: 1}
	g.Triggers = []engine.Trigger{{Webhook: true}}
	d := Compare(f, &g)
	got := []string{}
	for _, c := range d.Settings {
		got = append(got, c.String())
	}
	want := []string{"triggers: webhook (rate 5/s) → webhook", "concurrency: limit 2, overlap cancel → limit 1, overlap queue"}
	if !slices.Equal(got, want) {
		t.Errorf("diff settings %q, want %q", got, want)
	}
	h := g
	h.Concurrency = engine.Concurrency{}
	if d := Compare(&g, &h); len(d.Settings) != 1 || d.Settings[0].String() != "concurrency: limit 1, overlap queue → (none)" {
		t.Errorf("diff to no limit: %+v", d.Settings)
	}
	// An explicit queue is the default: no change.
	q := g
	q.Concurrency.Overlap = engine.OverlapQueue
	if d := Compare(&g, &q); !d.Empty() {
		t.Errorf("explicit overlap: queue is a change: %+v", d.Settings)
	}
}

func TestRoundTripRandom(t *testing.T) {
	t.Parallel()
	for seed := range uint64(2000) {
		r := rand.New(rand.NewPCG(seed, 7))
		f := randomFlow(r)
		if errs := Validate(f); len(errs) > 0 {
			t.Fatalf("seed %d: random flow is not valid: %v", seed, errs)
		}
		assertRoundTrip(t, f)
	}
}

// pieces are the parts random strings are made of: what YAML treats
// specially, and what it does not.
var pieces = []string{
	"a", "Z", "x_1", " ", "  ", ":", ": ", "#", " #", "-", "- ", "'", `"`, `\`, "\n", "\t", "\r\n",
	"é", "日本", "{{ inputs.day }}", "true", "null", "No", "~", "0", "1.5", "-2", "0x1f",
	"2025-01-01", "[", "]", ",", "{", "}", "*", "&", "!", "|", ">", "%", "@", "`", "?", "<<", "=",
	"\u00a0", "\u2028", "\x00", "\x7f", "\x1b", "\ufeff", "😀", "\U000F0000", "...", "---",
	"cells.a.status != 200", "$HOME", "/tmp/x",
}

func randomString(r *rand.Rand, max int) string {
	var b strings.Builder
	for range r.IntN(max + 1) {
		b.WriteString(pieces[r.IntN(len(pieces))])
	}
	return b.String()
}

func randomIdent(r *rand.Rand, used map[string]bool) string {
	const first = "abcdefghijklmnopqrstuvwxyz"
	const rest = first + "0123456789_"
	for {
		b := []byte{first[r.IntN(len(first))]}
		for range r.IntN(6) {
			b = append(b, rest[r.IntN(len(rest))])
		}
		if s := string(b); !used[s] {
			used[s] = true
			return s
		}
	}
}

func randomFlow(r *rand.Rand) *engine.Flow {
	f := &engine.Flow{
		Name:        strings.NewReplacer("\n", "", "\r", "", "\u2028", "").Replace(randomString(r, 4)),
		Description: randomString(r, 4),
		Order:       []engine.Order{"", engine.OrderNotebook, engine.OrderGraph}[r.IntN(3)],
	}
	// Not drawn from r, which would change every flow the seeds give.
	f.NoNetwork = len(f.Description)%3 == 0
	if strings.TrimSpace(f.Name) == "" {
		f.Name = "x" + f.Name
	}
	used := map[string]bool{}
	for range r.IntN(4) {
		in := engine.Input{Name: randomIdent(r, used), Required: r.IntN(2) == 0, Description: randomString(r, 3)}
		in.Type = append([]engine.InputType{""}, engine.InputTypes...)[r.IntN(len(engine.InputTypes)+1)]
		if in.Type == engine.InputSelect {
			seen := map[string]bool{}
			for range 1 + r.IntN(3) {
				if o := randomString(r, 2); !seen[o] {
					seen[o] = true
					in.Options = append(in.Options, o)
				}
			}
		}
		if r.IntN(3) > 0 {
			switch in.Type {
			case "", engine.InputString:
				in.Default = randomString(r, 3)
			case engine.InputNumber:
				switch r.IntN(4) {
				case 0:
					in.Default = r.Int64() - r.Int64()
				case 1:
					in.Default = float64(r.IntN(100))
				case 2:
					in.Default = math.Float64frombits(r.Uint64()&^(0x7ff<<52) | uint64(r.IntN(0x7fe))<<52)
				default:
					in.Default = r.NormFloat64()
				}
			case engine.InputBoolean:
				in.Default = r.IntN(2) == 0
			case engine.InputDate:
				in.Default = time.Date(1900+r.IntN(300), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
			case engine.InputSelect:
				in.Default = in.Options[r.IntN(len(in.Options))]
			}
		}
		f.Inputs = append(f.Inputs, in)
	}
	for range r.IntN(3) {
		if r.IntN(2) == 0 {
			f.Triggers = append(f.Triggers, engine.Trigger{Webhook: true, Rate: []int{0, 0, 1, 20, engine.MaxWebhookRate}[r.IntN(5)]})
		} else {
			f.Triggers = append(f.Triggers, engine.Trigger{Cron: []string{"0 6 * * *", "*/5 * * * *", "@daily", "0 0 1 1 * 2030", "@hourly"}[r.IntN(5)], Timezone: []string{"", "", "UTC", "Europe/Paris", "America/New_York"}[r.IntN(5)]})
		}
	}
	if r.IntN(3) == 0 {
		f.Concurrency.Limit = 1 + r.IntN(5)
		f.Concurrency.Overlap = []engine.Overlap{"", engine.OverlapQueue, engine.OverlapSkip, engine.OverlapCancel}[r.IntN(4)]
	}
	used = map[string]bool{}
	n := r.IntN(6)
	for range n {
		c := engine.Cell{Name: randomIdent(r, used), Kind: engine.Kinds[r.IntN(len(engine.Kinds))]}
		c.File = c.Name + c.Kind.Ext()
		c.Source = randomString(r, 8)
		c.If = randomString(r, 2)
		c.ContinueOnError = r.IntN(3) == 0
		if c.Kind == engine.KindApproval {
			c.Approvers = []string{[]string{"owner", "editor", "runner", "link"}[r.IntN(4)], "user:" + randomIdent(r, map[string]bool{})}
			c.Approvals = r.IntN(3)
			if r.IntN(2) == 0 {
				c.Timeout = []time.Duration{time.Hour, 90 * time.Second, 24 * time.Hour}[r.IntN(3)]
				c.OnTimeout = []engine.OnTimeout{"", engine.OnTimeoutReject, engine.OnTimeoutApprove}[r.IntN(3)]
			}
			for j := range r.IntN(3) {
				c.Inputs = append(c.Inputs, engine.Input{Name: "f" + strconv.Itoa(j), Type: []engine.InputType{"", engine.InputNumber, engine.InputBoolean}[r.IntN(3)], Required: r.IntN(2) == 0, Label: []string{"", "Reason", "Ticket #", "yes"}[r.IntN(4)]})
			}
		} else if c.Kind != engine.KindMarkdown {
			durations := []time.Duration{0, time.Nanosecond, 100 * time.Millisecond, 30 * time.Second, 90 * time.Second, 2 * time.Hour, time.Hour + time.Second, time.Duration(r.Int64N(1 << 50))}
			c.Timeout = durations[r.IntN(len(durations))]
			c.RetryDelay = durations[r.IntN(len(durations))]
			c.Retries = r.IntN(4)
			for range r.IntN(3) {
				name := strings.ToUpper(randomIdent(r, map[string]bool{}))
				if r.IntN(4) == 0 {
					name = []string{"Y", "NULL", "TRUE", "_x", "lower"}[r.IntN(5)]
				}
				c.Env = append(c.Env, engine.EnvVar{Name: name, Value: randomString(r, 3)})
			}
		}
		if c.Kind == engine.KindSQL && r.IntN(2) == 0 {
			c.Connection = []string{"scratch", "warehouse", "on"}[r.IntN(3)]
		}
		f.Cells = append(f.Cells, c)
	}
	for i := range f.Cells {
		for j := range f.Cells {
			if i != j && r.IntN(4) == 0 {
				f.Cells[i].Needs = append(f.Cells[i].Needs, f.Cells[j].Name)
			}
		}
	}
	dedupeEnv(f)
	return f
}

// dedupeEnv drops env entries whose name came up twice in a cell.
func dedupeEnv(f *engine.Flow) {
	for i := range f.Cells {
		seen := map[string]bool{}
		var env []engine.EnvVar
		for _, e := range f.Cells[i].Env {
			if !seen[e.Name] {
				seen[e.Name] = true
				env = append(env, e)
			}
		}
		f.Cells[i].Env = env
	}
}

// TestGolden reads every flow in testdata/flows and writes it back: the
// files must be byte for byte those on disk, and nothing else.
func TestGolden(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..", "testdata", "flows")
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		count++
		dir := filepath.Join(root, e.Name())
		t.Run(e.Name(), func(t *testing.T) {
			t.Parallel()
			f, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			files, err := Files(f)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, fl := range files {
				names = append(names, fl.Name)
				disk, err := os.ReadFile(filepath.Join(dir, fl.Name))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(disk, fl.Data) {
					t.Errorf("%s is not in canonical form; export gives:\n%s", fl.Name, fl.Data)
				}
			}
			onDisk, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range onDisk {
				if !slices.Contains(names, d.Name()) {
					t.Errorf("%s is in the folder but no cell uses it", d.Name())
				}
			}
			assertRoundTrip(t, f)
			if h := Hash(f); len(h) != 64 {
				t.Errorf("Hash = %q", h)
			}
		})
	}
	if count < 9 {
		t.Errorf("testdata/flows holds %d flows, want at least 9", count)
	}
}

func TestHash(t *testing.T) {
	t.Parallel()
	f := &engine.Flow{Name: "H", Cells: []engine.Cell{{Name: "a", Kind: engine.KindShell, File: "a.sh", Source: "echo a\n"}}}
	h := Hash(f)
	if h != Hash(f) || len(h) != 64 {
		t.Fatalf("Hash = %q, not stable", h)
	}
	g := *f
	g.Cells = []engine.Cell{f.Cells[0]}
	g.Cells[0].Pos = engine.Pos{File: ManifestFile, Line: 3, Col: 5}
	if Hash(&g) != h {
		t.Errorf("positions changed the hash")
	}
	g.Cells[0].Source = "echo b\n"
	if Hash(&g) == h {
		t.Errorf("the source did not change the hash")
	}
	// Moving bytes from one file to the next must change the hash.
	a := &engine.Flow{Name: "H", Cells: []engine.Cell{
		{Name: "a", Kind: engine.KindShell, File: "a.sh", Source: "ab"},
		{Name: "b", Kind: engine.KindShell, File: "b.sh", Source: "c"},
	}}
	b := &engine.Flow{Name: "H", Cells: []engine.Cell{
		{Name: "a", Kind: engine.KindShell, File: "a.sh", Source: "a"},
		{Name: "b", Kind: engine.KindShell, File: "b.sh", Source: "bc"},
	}}
	if Hash(a) == Hash(b) {
		t.Errorf("file boundaries do not count in the hash")
	}
}

func TestWriteDir(t *testing.T) {
	t.Parallel()
	f := &engine.Flow{Name: "W", Cells: []engine.Cell{
		{Name: "a", Kind: engine.KindShell, File: "a.sh", Source: "echo a\r\n"},
		{Name: "b", Kind: engine.KindPython, File: "b.py", Source: ""},
	}}
	dir := filepath.Join(t.TempDir(), "w")
	if err := WriteDir(dir, f); err != nil {
		t.Fatal(err)
	}
	back, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !sameFlow(back, f) {
		t.Errorf("Load(WriteDir(f)) = %+v", back)
	}
	if err := os.Remove(filepath.Join(dir, "a.sh")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "a.sh")); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	if err := WriteDir(dir, f); err == nil || !strings.Contains(err.Error(), "is not a regular file") {
		t.Errorf("WriteDir through a symbolic link: %v", err)
	}
	if err := WriteDir(t.TempDir(), &engine.Flow{}); err == nil {
		t.Errorf("WriteDir of an invalid flow gave no error")
	}
	if _, err := Files(nil); err == nil {
		t.Errorf("Files(nil) gave no error")
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	valid := func() *engine.Flow {
		return &engine.Flow{Name: "V", Cells: []engine.Cell{
			{Name: "a", Kind: engine.KindShell, File: "a.sh"},
			{Name: "b", Kind: engine.KindSQL, File: "b.sql", Connection: "scratch", Needs: []string{"a"}},
		}}
	}
	if errs := Validate(valid()); len(errs) != 0 {
		t.Fatalf("valid flow: %v", errs)
	}
	tests := []struct {
		name   string
		change func(f *engine.Flow)
		want   string
	}{
		{"nil", nil, "no flow given"},
		{"no name", func(f *engine.Flow) { f.Name = " " }, "the flow has no name"},
		{"bad utf-8", func(f *engine.Flow) { f.Description = "\xff" }, "the description is not UTF-8 text"},
		{"label bad utf-8", func(f *engine.Flow) { f.Inputs = []engine.Input{{Name: "n", Label: "\xff"}} }, `input "n": the label is not UTF-8 text`},
		{"label too long", func(f *engine.Flow) { f.Inputs = []engine.Input{{Name: "n", Label: strings.Repeat("é", 121)}} }, `input "n": the label has 121 characters, more than 120`},
		{"placeholder two lines", func(f *engine.Flow) { f.Inputs = []engine.Input{{Name: "n", Placeholder: "a\nb"}} }, `input "n": the placeholder is one line`},
		{"order", func(f *engine.Flow) { f.Order = "dag" }, `unknown order "dag"; use notebook or graph`},
		{"kind", func(f *engine.Flow) { f.Cells[0].Kind = "bash" }, `cell "a": unknown kind "bash"; use one of shell, python, http, sql, expr, markdown`},
		{"no kind", func(f *engine.Flow) { f.Cells[0].Kind = "" }, `cell "a": cell has no kind`},
		{"no name cell", func(f *engine.Flow) { f.Cells[0].Name = "" }, `cell 1: cell has no name`},
		{"duplicate cell", func(f *engine.Flow) { f.Cells[1].Name = "a"; f.Cells[1].Needs = nil }, `cell "a": duplicate cell name "a" (cell 1 has it too)`},
		{"file dir", func(f *engine.Flow) { f.Cells[0].File = "x/a.sh" }, `cell "a": file "x/a.sh" is in a subdirectory`},
		{"file twice", func(f *engine.Flow) { f.Cells[1].File = "a.sh" }, `cell "b": file "a.sh" is already used by cell 1`},
		{"no file", func(f *engine.Flow) { f.Cells[1].File = "" }, `cell "b": cell has no file; add file: with the name of its source file, like file: b.sql`},
		{"timeout", func(f *engine.Flow) { f.Cells[0].Timeout = -time.Second }, `cell "a": timeout must be more than 0`},
		{"retries", func(f *engine.Flow) { f.Cells[0].Retries = -1 }, `cell "a": retries must be 0 or more`},
		{"needs self", func(f *engine.Flow) { f.Cells[1].Needs = []string{"b"} }, `cell "b": cell "b" needs itself`},
		{"needs twice", func(f *engine.Flow) { f.Cells[1].Needs = []string{"a", "a"} }, `cell "b": cell "a" is listed twice in needs`},
		{"source too big", func(f *engine.Flow) { f.Cells[0].Source = strings.Repeat("x", MaxFileSize+1) }, `cell "a": the source is 1.0 MiB; a cell file may be at most 1 MiB`},
		{"source not utf-8", func(f *engine.Flow) { f.Cells[0].Source = "\xfe" }, `cell "a": the source is not UTF-8 text`},
		{"env", func(f *engine.Flow) { f.Cells[0].Env = []engine.EnvVar{{Name: "1X"}} }, `cell "a": env name "1X" is not valid`},
		{"input type", func(f *engine.Flow) { f.Inputs = []engine.Input{{Name: "n", Type: "int"}} }, `input "n": unknown input type "int"`},
		{"input default", func(f *engine.Flow) {
			f.Inputs = []engine.Input{{Name: "n", Type: engine.InputNumber, Default: "3"}}
		}, `input "n": the default of a number input must be a number`},
		{"input default nan", func(f *engine.Flow) {
			f.Inputs = []engine.Input{{Name: "n", Type: engine.InputNumber, Default: math.NaN()}}
		}, `input "n": the default of a number input must be a finite number`},
		{"input default other type", func(f *engine.Flow) {
			f.Inputs = []engine.Input{{Name: "s", Default: []string{"a"}}}
		}, `input "s": the default of a string input must be a string`},
		{"trigger", func(f *engine.Flow) { f.Triggers = []engine.Trigger{{}} }, `trigger 1: the trigger does nothing`},
		{"rate negative", func(f *engine.Flow) { f.Triggers = []engine.Trigger{{Webhook: true, Rate: -1}} }, `trigger 1: rate must be 1 or more`},
		{"rate too high", func(f *engine.Flow) { f.Triggers = []engine.Trigger{{Webhook: true, Rate: 1001}} }, `trigger 1: rate 1001 is more than 1000 runs a second`},
		{"rate on cron", func(f *engine.Flow) { f.Triggers = []engine.Trigger{{Cron: "@daily", Rate: 3}} }, `trigger 1: rate is only for webhook triggers`},
		{"unknown timezone", func(f *engine.Flow) { f.Triggers = []engine.Trigger{{Cron: "@daily", Timezone: "Mars/Olympus"}} }, `trigger 1: timezone "Mars/Olympus" is not a known zone`},
		{"limit negative", func(f *engine.Flow) { f.Concurrency = engine.Concurrency{Limit: -1} }, `concurrency: limit must be 1 or more`},
		{"overlap unknown", func(f *engine.Flow) { f.Concurrency = engine.Concurrency{Limit: 1, Overlap: "later"} }, `concurrency: unknown overlap "later"`},
		{"overlap without limit", func(f *engine.Flow) { f.Concurrency = engine.Concurrency{Overlap: engine.OverlapCancel} }, `concurrency: overlap has no effect without a limit; add limit: 1`},
	}
	for _, tt := range tests {
		var f *engine.Flow
		if tt.change != nil {
			f = valid()
			tt.change(f)
		}
		errs := Validate(f)
		if !strings.Contains(errs.Error(), tt.want) {
			t.Errorf("%s: Validate = %v, want %q", tt.name, errs, tt.want)
		}
		if f == nil {
			continue
		}
		if _, err := Files(f); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Files = %v, want an error with %q", tt.name, err, tt.want)
		}
	}
	// An int default, as a studio may build, is valid and written as int64.
	f := valid()
	f.Inputs = []engine.Input{{Name: "n", Type: engine.InputNumber, Default: 3}}
	assertRoundTrip(t, f)
}

// TestNotifyKey: `notify:` is written after concurrency, one flow-style
// entry a line, parses back equal, and shows in the diff of settings.
func TestNotifyKey(t *testing.T) {
	t.Parallel()
	f := &engine.Flow{Name: "T", Concurrency: engine.Concurrency{Limit: 1},
		Notify: []engine.Notify{{To: "ops", On: []engine.NotifyEvent{engine.NotifyFailed, engine.NotifyWaiting}}, {To: "team mail"}},
		Cells:  []engine.Cell{{Name: "a", Kind: engine.KindShell, File: "a.sh", Source: "true\n"}}}
	want := "concurrency: {limit: 1}\nnotify:\n  - {to: ops, on: [failed, waiting]}\n  - {to: team mail}\ncells:\n"
	if m := string(Manifest(f)); !strings.Contains(m, want) {
		t.Errorf("manifest\n%s\nwant it to hold\n%s", m, want)
	}
	assertRoundTrip(t, f)
	// Block style reads the same.
	g, err := Parse(mapFS([]File{
		{Name: "flow.yaml", Data: []byte("name: T\nconcurrency: {limit: 1}\nnotify:\n  - to: ops\n    on:\n      - failed\n      - waiting\n  - to: team mail\ncells:\n  - name: a\n    kind: shell\n    file: a.sh\n")},
		{Name: "a.sh", Data: []byte("true\n")},
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g.Notify, f.Notify) {
		t.Errorf("parsed %+v, want %+v", g.Notify, f.Notify)
	}
	h := *g
	h.Notify = []engine.Notify{{To: "ops", On: []engine.NotifyEvent{engine.NotifySucceeded}}}
	d := Compare(g, &h)
	if len(d.Settings) != 1 || d.Settings[0].String() != "notify: ops on failed, waiting; team mail → ops on succeeded" {
		t.Errorf("diff settings %+v", d.Settings)
	}
}
