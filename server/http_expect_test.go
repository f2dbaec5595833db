package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/flow"
)

// The studio edits expect_status among a cell's options: the draft sent
// to the page carries it, cell.update sets it (all options at once, as
// the options panel sends them), and a bad value is refused.
func TestCellUpdateExpectStatus(t *testing.T) {
	f := setup(t, testDB)
	ctx := context.Background()
	fl := &engine.Flow{Name: "Probe", Cells: []engine.Cell{
		{Name: "call", Kind: engine.KindHTTP, File: "call.http", Source: "GET https://example.com/\n", ExpectStatus: []string{"2xx", "404"}},
	}}
	files, err := flow.Files(fl)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := f.st.CreateFlow(ctx, f.ws.ID, "probe", fl, f.users["owner"].ID, storeFiles(files), flow.Hash(fl))
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.dial("editor", "/w/acme/flows/probe/ws")
	if err != nil {
		t.Fatal(err)
	}
	hello := readUntil(t, c, isType("hello"))[0]
	cell := hello["draft"].(map[string]any)["cells"].([]any)[0].(map[string]any)
	call := cell["id"].(string)
	opts := cell["options"].(map[string]any)
	if fmt.Sprint(opts["expect_status"]) != "[2xx 404]" {
		t.Fatalf("the draft's options %v lack expect_status [2xx 404]", opts)
	}
	stored := func() engine.Cell {
		t.Helper()
		d, err := f.st.Draft(ctx, fs.ID)
		if err != nil {
			t.Fatal(err)
		}
		return d.Flow.Cells[0]
	}

	// The panel sends back what it was given, with a change.
	opts["timeout"] = "5s"
	c.WriteJSON(map[string]any{"t": "cell.update", "id": 1, "cell": call, "options": opts})
	readUntil(t, c, isType("ack"))
	if got := stored(); got.Timeout != 5*time.Second || !slices.Equal(got.ExpectStatus, []string{"2xx", "404"}) {
		t.Fatalf("after changing the timeout: %v, expect_status %v; want 5s, [2xx 404]", got.Timeout, got.ExpectStatus)
	}

	c.WriteJSON(map[string]any{"t": "cell.update", "id": 2, "cell": call, "options": map[string]any{"expect_status": []string{"200", "4xx"}}})
	readUntil(t, c, isType("ack"))
	if got := stored(); !slices.Equal(got.ExpectStatus, []string{"200", "4xx"}) {
		t.Fatalf("expect_status %v; want [200 4xx]", got.ExpectStatus)
	}

	for i, bad := range [][]string{{"6xx"}, {"99"}, {"abc"}, {"404", "404"}} {
		c.WriteJSON(map[string]any{"t": "cell.update", "id": 10 + i, "cell": call, "options": map[string]any{"expect_status": bad}})
		e := readUntil(t, c, isType("error"))
		if m := e[len(e)-1]; m["field"] != "expect_status" || !strings.Contains(fmt.Sprint(m["message"]), "from 100 to 599") {
			t.Errorf("expect_status %v: %v; want an error on the field", bad, m)
		}
	}
	if got := stored(); !slices.Equal(got.ExpectStatus, []string{"200", "4xx"}) {
		t.Fatalf("a refused update changed expect_status to %v", got.ExpectStatus)
	}
}
