package server

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
)

// notebookEdits opens the notebook of a flow with an approval cell (the
// deploy flow, whose form asks for a ticket) and notify: [{ops, [failed]}],
// in a workspace with the destinations ops and team-mail, as an editor
// and as a second page that only watches; hello is the editor's.
func notebookEdits(t *testing.T) (f *fixture, fs store.FlowSummary, ed, other *websocket.Conn, hello map[string]any) {
	t.Helper()
	f = setup(t, testDB)
	ctx := context.Background()
	for _, name := range []string{"ops", "team-mail"} {
		if _, err := f.st.CreateDestination(ctx, store.Destination{WorkspaceID: f.ws.ID, Name: name, Kind: store.DestWebhook, SecretName: "OPS_HOOK", Format: store.FormatGeneric, Events: []engine.NotifyEvent{engine.NotifyFailed}}); err != nil {
			t.Fatal(err)
		}
	}
	fl := deployFlow([]string{"editor"}, 1)
	fl.Notify = []engine.Notify{{To: "ops", On: []engine.NotifyEvent{engine.NotifyFailed}}}
	fs = f.addFlow("deploy", fl)
	var err error
	if ed, err = f.dial("editor", "/w/acme/flows/deploy/ws"); err != nil {
		t.Fatal(err)
	}
	hello = readUntil(t, ed, isType("hello"))[0]
	if other, err = f.dial("owner", "/w/acme/flows/deploy/ws"); err != nil {
		t.Fatal(err)
	}
	readUntil(t, other, isType("hello"))
	return f, fs, ed, other, hello
}

// storedDraft is the flow's draft as the store has it.
func storedDraft(t *testing.T, f *fixture, fs store.FlowSummary) *engine.Flow {
	t.Helper()
	d, err := f.st.Draft(context.Background(), fs.ID)
	if err != nil {
		t.Fatal(err)
	}
	return d.Flow
}

// wantError reads until an error or an ack and returns the error,
// failing on an ack.
func wantError(t *testing.T, c *websocket.Conn, what string) map[string]any {
	t.Helper()
	got := readUntil(t, c, func(m map[string]any) bool { return m["t"] == "error" || m["t"] == "ack" })
	m := got[len(got)-1]
	if m["t"] != "error" {
		t.Fatalf("%s was accepted", what)
	}
	return m
}

// draftOf reads until a draft message and returns its DRAFT.
func draftOf(t *testing.T, c *websocket.Conn) map[string]any {
	t.Helper()
	got := readUntil(t, c, isType("draft"))
	return got[len(got)-1]["draft"].(map[string]any)
}

// TestNotebookApprovalForm: the DRAFT carries an approval cell's form
// (options.inputs); cell.update sets it, checked as the flow's inputs are
// (a bad type is refused naming the input, the draft left as it was), an
// update without it keeps it, null clears it; other pages get the new
// draft; a viewer may not.
func TestNotebookApprovalForm(t *testing.T) {
	t.Parallel()
	f, fs, ed, other, hello := notebookEdits(t)
	cell := hello["draft"].(map[string]any)["cells"].([]any)[1].(map[string]any)
	id := cell["id"].(string)
	opts := cell["options"].(map[string]any)
	if got := fmt.Sprint(opts["inputs"]); got != "[map[name:ticket required:true]]" {
		t.Fatalf("the DRAFT's approval cell has inputs %s; want the ticket", got)
	}
	form := func() []engine.Input { return storedDraft(t, f, fs).Cells[1].Inputs }

	opts["inputs"] = []map[string]any{
		{"name": "ticket", "label": "Change ticket", "required": true, "placeholder": "CHG-1"},
		{"name": "hosts", "type": "number", "default": 3, "description": "How many to restart"},
		{"name": "size", "type": "select", "options": []string{"small", "large"}, "default": "small"},
	}
	ed.WriteJSON(map[string]any{"t": "cell.update", "id": 1, "cell": id, "options": opts})
	readUntil(t, ed, isType("ack"))
	want := []engine.Input{
		{Name: "ticket", Label: "Change ticket", Required: true, Placeholder: "CHG-1"},
		{Name: "hosts", Type: engine.InputNumber, Default: int64(3), Description: "How many to restart"},
		{Name: "size", Type: engine.InputSelect, Options: []string{"small", "large"}, Default: "small"},
	}
	if got := form(); !reflect.DeepEqual(got, want) {
		t.Fatalf("the stored form is %+v; want %+v", got, want)
	}
	seen := draftOf(t, other)["cells"].([]any)[1].(map[string]any)["options"].(map[string]any)["inputs"]
	if got := fmt.Sprint(seen); !strings.Contains(got, "label:Change ticket") || !strings.Contains(got, "default:3") {
		t.Fatalf("the other page's draft has the form %s", got)
	}

	// Options without inputs (an older page) keep the form.
	ed.WriteJSON(map[string]any{"t": "cell.update", "id": 2, "cell": id, "options": map[string]any{"approvers": []string{"editor"}, "timeout": "1h"}})
	readUntil(t, ed, isType("ack"))
	if got := form(); !reflect.DeepEqual(got, want) {
		t.Fatalf("an update without inputs changed the form to %+v", got)
	}

	bad := []struct {
		inputs      any
		field, says string
	}{
		{[]map[string]any{{"name": "ticket", "type": "colour"}}, "inputs", `input "ticket": unknown input type "colour"`},
		{[]map[string]any{{"name": "Ticket"}}, "inputs", `input name "Ticket" is not an identifier`},
		{[]map[string]any{{"name": "size", "type": "select"}}, "inputs", "has no options"},
		{func() []map[string]any {
			var many []map[string]any
			for i := range engine.MaxApprovalInput + 1 {
				many = append(many, map[string]any{"name": fmt.Sprintf("f%d", i)})
			}
			return many
		}(), "inputs", "at most 20"},
		{[]map[string]any{{"name": "long", "description": strings.Repeat("x", maxFormBytes)}}, "inputs", "at most 32 KiB"},
	}
	for i, b := range bad {
		ed.WriteJSON(map[string]any{"t": "cell.update", "id": 10 + i, "cell": id, "options": map[string]any{"approvers": []string{"editor"}, "timeout": "1h", "inputs": b.inputs}})
		e := wantError(t, ed, fmt.Sprintf("the form %v", b.inputs))
		if e["field"] != b.field || !strings.Contains(fmt.Sprint(e["message"]), b.says) {
			t.Errorf("the form %.80v: %v; want field %s saying %q", b.inputs, e, b.field, b.says)
		}
	}
	if got := form(); !reflect.DeepEqual(got, want) {
		t.Fatalf("a refused form changed the stored one to %+v", got)
	}

	// A viewer may not change it.
	v, err := f.dial("viewer", "/w/acme/flows/deploy/ws")
	if err != nil {
		t.Fatal(err)
	}
	readUntil(t, v, isType("hello"))
	v.WriteJSON(map[string]any{"t": "cell.update", "id": 1, "cell": id, "options": map[string]any{"approvers": []string{"editor"}, "inputs": nil}})
	if e := wantError(t, v, "a viewer's cell.update"); !strings.Contains(fmt.Sprint(e["message"]), "does not allow cell.update") {
		t.Fatalf("a viewer's cell.update: %v", e)
	}
	if got := form(); !reflect.DeepEqual(got, want) {
		t.Fatalf("a viewer changed the form to %+v", got)
	}

	// null clears it.
	ed.WriteJSON(map[string]any{"t": "cell.update", "id": 3, "cell": id, "options": map[string]any{"approvers": []string{"editor"}, "inputs": nil}})
	readUntil(t, ed, isType("ack"))
	if got := form(); got != nil {
		t.Fatalf("after inputs null the form is %+v", got)
	}
}

// TestNotebookFlowNotify: the DRAFT carries the flow's notify; flow.update
// sets it, keeps it when absent, clears it with null or []; an unknown
// event or a destination the workspace does not have is refused at the
// field, the draft left as it was; other pages get the new draft; a viewer
// may not.
func TestNotebookFlowNotify(t *testing.T) {
	t.Parallel()
	f, fs, ed, other, hello := notebookEdits(t)
	if got := fmt.Sprint(hello["draft"].(map[string]any)["notify"]); got != "[map[on:[failed] to:ops]]" {
		t.Fatalf("the DRAFT's notify is %s; want ops on failed", got)
	}
	notify := func() []engine.Notify { return storedDraft(t, f, fs).Notify }

	ed.WriteJSON(map[string]any{"t": "flow.update", "id": 1, "notify": []map[string]any{{"to": "ops", "on": []string{"failed", "waiting"}}, {"to": "team-mail"}}})
	readUntil(t, ed, isType("ack"))
	want := []engine.Notify{{To: "ops", On: []engine.NotifyEvent{engine.NotifyFailed, engine.NotifyWaiting}}, {To: "team-mail"}}
	if got := notify(); !reflect.DeepEqual(got, want) {
		t.Fatalf("the stored notify is %+v; want %+v", got, want)
	}
	if got := fmt.Sprint(draftOf(t, other)["notify"]); got != "[map[on:[failed waiting] to:ops] map[to:team-mail]]" {
		t.Fatalf("the other page's draft has notify %s", got)
	}

	// Absent keeps it.
	ed.WriteJSON(map[string]any{"t": "flow.update", "id": 2, "name": "Deploy now", "inputs": []any{}})
	readUntil(t, ed, isType("ack"))
	if got := notify(); !reflect.DeepEqual(got, want) {
		t.Fatalf("a flow.update without notify changed it to %+v", got)
	}

	for i, b := range []struct {
		notify any
		says   string
	}{
		{[]map[string]any{{"to": "ops", "on": []string{"exploded"}}}, `notify entry 1: unknown event "exploded"; use failed, succeeded, canceled or waiting`},
		{[]map[string]any{{"to": "ops", "on": []string{}}}, "on is empty"},
		{[]map[string]any{{"to": ""}}, "to is missing"},
		{[]map[string]any{{"to": "ops"}, {"to": "ops"}}, `destination "ops" is named twice`},
		{[]map[string]any{{"to": "ops"}, {"to": "pager"}}, `no notification destination "pager"`},
	} {
		ed.WriteJSON(map[string]any{"t": "flow.update", "id": 10 + i, "name": "Refused", "notify": b.notify})
		e := wantError(t, ed, fmt.Sprintf("notify %v", b.notify))
		if e["field"] != "notify" || !strings.Contains(fmt.Sprint(e["message"]), b.says) {
			t.Errorf("notify %v: %v; want field notify saying %q", b.notify, e, b.says)
		}
	}
	if d := storedDraft(t, f, fs); !reflect.DeepEqual(d.Notify, want) || d.Name != "Deploy now" {
		t.Fatalf("a refused flow.update changed the draft to %q, notify %+v", d.Name, d.Notify)
	}

	// A destination removed from the workspace after the flow named it
	// does not stop other edits (saving a version names it).
	if err := f.st.DeleteDestination(context.Background(), f.ws.ID, "team-mail"); err != nil {
		t.Fatal(err)
	}
	ed.WriteJSON(map[string]any{"t": "flow.update", "id": 3, "notify": []map[string]any{{"to": "ops"}, {"to": "team-mail", "on": []string{"succeeded"}}}})
	readUntil(t, ed, isType("ack"))

	v, err := f.dial("viewer", "/w/acme/flows/deploy/ws")
	if err != nil {
		t.Fatal(err)
	}
	readUntil(t, v, isType("hello"))
	v.WriteJSON(map[string]any{"t": "flow.update", "id": 1, "notify": nil})
	if e := wantError(t, v, "a viewer's flow.update"); !strings.Contains(fmt.Sprint(e["message"]), "does not allow flow.update") {
		t.Fatalf("a viewer's flow.update: %v", e)
	}
	if got := notify(); len(got) != 2 {
		t.Fatalf("a viewer changed notify to %+v", got)
	}

	for i, clear := range []any{nil, []any{}} {
		ed.WriteJSON(map[string]any{"t": "flow.update", "id": 20 + i, "notify": []map[string]any{{"to": "ops"}}})
		readUntil(t, ed, isType("ack"))
		ed.WriteJSON(map[string]any{"t": "flow.update", "id": 30 + i, "notify": clear})
		readUntil(t, ed, isType("ack"))
		if got := notify(); got != nil {
			t.Fatalf("after notify %v the draft's is %+v", clear, got)
		}
	}
}

// TestNotebookEditsSaved: an approval form and a notify edited in the
// notebook are in the version saved from the draft, and in its flow.yaml.
func TestNotebookEditsSaved(t *testing.T) {
	t.Parallel()
	f, _, ed, _, hello := notebookEdits(t)
	cell := hello["draft"].(map[string]any)["cells"].([]any)[1].(map[string]any)
	ed.WriteJSON(map[string]any{"t": "cell.update", "id": 1, "cell": cell["id"], "options": map[string]any{
		"approvers": []string{"editor"},
		"inputs":    []map[string]any{{"name": "ticket", "label": "Change ticket", "required": true}, {"name": "why", "placeholder": "a reason"}},
	}})
	readUntil(t, ed, isType("ack"))
	ed.WriteJSON(map[string]any{"t": "flow.update", "id": 2, "notify": []map[string]any{{"to": "ops", "on": []string{"failed", "waiting"}}, {"to": "team-mail"}}})
	readUntil(t, ed, isType("ack"))

	code, ans := f.saveJSON("editor", "deploy", "form and notify from the notebook")
	if code != http.StatusCreated {
		t.Fatalf("save: %d %v", code, ans)
	}
	yaml := string(f.exportFiles("deploy", int(ans["number"].(float64)))["flow.yaml"])
	for _, want := range []string{
		"notify:\n  - {to: ops, on: [failed, waiting]}\n  - {to: team-mail}\n",
		"    inputs:\n      - name: ticket\n        required: true\n        label: Change ticket\n      - name: why\n        placeholder: a reason\n",
	} {
		if !strings.Contains(yaml, want) {
			t.Errorf("the saved flow.yaml lacks\n%s\nit is:\n%s", want, yaml)
		}
	}
}
