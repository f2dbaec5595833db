package server

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/opsbook/opsbook/engine/collab"
)

// validClientMsgs holds, for every type of notebookMsgs, messages it
// accepts: what static/src/notebook.js sends, and docs/PROTOCOL.md's forms.
var validClientMsgs = map[string][]string{
	"ping":           {`{"t":"ping"}`, `{"t":"ping","id":"12"}`, `{"t":"ping","id":7}`},
	"presence":       {`{"t":"presence","cell":"c_x","sel":[{"anchor":1,"head":3}]}`, `{"t":"presence","cell":"","sel":null}`},
	"collab.pull":    {`{"t":"collab.pull","cell":"c_x","version":0}`},
	"collab.doc":     {`{"t":"collab.doc","cell":"c_x"}`},
	"collab.push":    {`{"t":"collab.push","cell":"c_x","version":3,"updates":[{"changes":[0,[0,"x"]],"clientID":"k"}]}`},
	"source":         {`{"t":"source","id":"1","cell":"c_x","source":""}`},
	"cell.add":       {`{"t":"cell.add","id":"2","after":"","kind":"shell"}`, `{"t":"cell.add","after":"c_x","kind":"expr","name":"double"}`, `{"t":"cell.add"}`},
	"cell.delete":    {`{"t":"cell.delete","id":"3","cell":"c_x"}`},
	"cell.duplicate": {`{"t":"cell.duplicate","cell":"c_x"}`},
	"cell.move":      {`{"t":"cell.move","cell":"c_x","to":0}`},
	"cell.update": {`{"t":"cell.update","cell":"c_x","name":"fetch","kind":"shell","options":{"timeout":"30s","retries":2,"retry_delay":"1s","if":"true","needs":["a"],"connection":"scratch","env":{"K":"V"},"env_order":["K"],"continue_on_error":true}}`,
		`{"t":"cell.update","cell":"c_x","kind":"no-such-kind"}`, // refused by the handler, with a reply
		`{"t":"cell.update","cell":"c_x","kind":"approval","options":{"approvers":["editor"],"inputs":[{"name":"ticket","label":"Ticket","required":true}]}}`,
		`{"t":"cell.update","cell":"c_x","options":{"inputs":null}}`},
	"cell.restore": {`{"t":"cell.restore","cell":"c_x"}`},
	"flow.update": {`{"t":"flow.update","name":"Nightly","description":"","order":"graph","inputs":[{"name":"who","type":"string","default":"world","required":true}]}`,
		`{"t":"flow.update","inputs":null}`, `{"t":"flow.update","triggers":[{"cron":"0 6 * * *","timezone":"Europe/Paris"},{"webhook":true,"rate":5}]}`, `{"t":"flow.update","triggers":null}`,
		`{"t":"flow.update","notify":[{"to":"ops","on":["failed","waiting"]},{"to":"team-mail"}]}`, `{"t":"flow.update","notify":null}`},
	"run":    {`{"t":"run","id":"4","mode":"all","inputs":{"who":"team"}}`, `{"t":"run","mode":"cell","cell":"fetch","inputs":{}}`, `{"t":"run","mode":"from","cell":"c_x"}`, `{"t":"run"}`},
	"cancel": {`{"t":"cancel","run":"r_x"}`},
	"check":  {`{"t":"check","id":"5"}`, `{"t":"check"}`},
}

func TestDecodeClientMsg(t *testing.T) {
	t.Parallel()
	for typ := range notebookMsgs {
		if len(validClientMsgs[typ]) == 0 {
			t.Errorf("message type %q has no valid example in validClientMsgs", typ)
		}
	}
	for typ, msgs := range validClientMsgs {
		for _, raw := range msgs {
			m, err := decodeClientMsg([]byte(raw))
			if err != nil {
				t.Errorf("%s: %v", raw, err)
				continue
			}
			if m.T != typ {
				t.Errorf("%s: type %q, want %q", raw, m.T, typ)
			}
		}
	}

	long := strings.Repeat("x", 65)
	for _, tc := range []struct{ raw, want string }{
		{`{nope`, "not a JSON object"},
		{`[]`, "not a JSON object"},
		{`{"t":5}`, "t cannot be number"},
		{`{}`, `unknown type ""`},
		{`{"t":"drop.tables"}`, `unknown type "drop.tables"`},
		{`{"t":"` + strings.Repeat("é", 100) + `"}`, `unknown type "` + strings.Repeat("é", 16) + `"`},
		{`{"t":"ping","id":"` + long + `"}`, "id is at most 64 bytes"},
		{`{"t":"source","cell":"c_x"}`, "source: needs cell and source"},
		{`{"t":"source","source":"x"}`, "source: needs cell and source"},
		{`{"t":"source","cell":"` + long + `","source":"x"}`, "at most 64 bytes"},
		{`{"t":"source","cell":"c_x","source":5}`, "source: source cannot be number"},
		{`{"t":"collab.push","cell":"c_x","version":0}`, "collab.push: needs updates"},
		{`{"t":"collab.push","cell":"c_x","updates":[]}`, "needs a cell and a version"},
		{`{"t":"collab.pull","cell":"c_x","version":-1}`, "needs a cell and a version"},
		{`{"t":"collab.pull","cell":"c_x","version":1.5}`, "version cannot be number 1.5"},
		{`{"t":"collab.doc"}`, "collab.doc: needs a cell"},
		{`{"t":"cell.delete","cell":"` + long + `"}`, "at most 64 bytes"},
		{`{"t":"cell.duplicate","cell":""}`, "needs a cell"},
		{`{"t":"cell.restore","cell":7}`, "cell cannot be number"},
		{`{"t":"cell.move","cell":"x"}`, "cell.move: needs a cell and a position"},
		{`{"t":"cell.move","cell":"x","to":-1}`, "needs a cell and a position"},
		{`{"t":"cell.add","kind":"cobol"}`, `cell.add: unknown kind "cobol"`},
		{`{"t":"cell.add","after":"` + long + `"}`, "at most 64 bytes"},
		{`{"t":"cell.update","name":"x"}`, "cell.update: needs a cell"},
		{`{"t":"cell.update","cell":"c_x","options":[]}`, "options cannot be array"},
		{`{"t":"flow.update","inputs":{}}`, "inputs cannot be object"},
		{`{"t":"flow.update","triggers":[` + strings.Repeat(`{"webhook":true},`, maxTriggers) + `{"webhook":true}]}`, "at most 50 triggers"},
		{`{"t":"flow.update","triggers":[{"cron":3}]}`, "cron cannot be number"},
		{`{"t":"flow.update","notify":{}}`, "notify cannot be object"},
		{`{"t":"flow.update","notify":[` + strings.Repeat(`{"to":"ops"},`, maxNotify) + `{"to":"ops"}]}`, "at most 50 notify entries"},
		{`{"t":"flow.update","notify":[{"to":"ops","on":[` + strings.Repeat(`"failed",`, maxNotifyEvents) + `"failed"]}]}`, "at most 10 events in a notify entry"},
		{`{"t":"cell.update","cell":"c_x","options":{"inputs":{}}}`, "inputs cannot be object"},
		{`{"t":"presence","sel":"` + strings.Repeat("s", maxSel) + `"}`, "presence: selection too large"},
		{`{"t":"presence","cell":"` + long + `"}`, "at most 64 bytes"},
		{`{"t":"run","mode":"cell"}`, "run: run cell needs a cell"},
		{`{"t":"run","mode":"from","cell":""}`, "run from needs a cell"},
		{`{"t":"run","mode":"sideways"}`, `unknown run mode "sideways"`},
		{`{"t":"run","inputs":[]}`, "inputs cannot be array"},
		{`{"t":"run","mode":"cell","cell":"` + long + `"}`, "at most 64 bytes"},
		{`{"t":"cancel"}`, "cancel: needs a run"},
		{`{"t":"cancel","run":"` + long + `"}`, "at most 64 bytes"},
	} {
		_, err := decodeClientMsg([]byte(tc.raw))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.80s: error %v, want one containing %q", tc.raw, err, tc.want)
		}
	}
	if _, err := decodeClientMsg(append([]byte(`{"t":"ping","x":"`), make([]byte, wsMaxMessage)...)); err == nil {
		t.Error("a message over wsMaxMessage was accepted")
	}
}

// An absent list of inputs keeps a flow's inputs (its notify, an
// approval cell's form), null clears them.
func TestDecodeFlowUpdateInputs(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]bool{
		`{"t":"flow.update","name":"x"}`:              false,
		`{"t":"flow.update","inputs":null}`:           true,
		`{"t":"flow.update","inputs":[{"name":"a"}]}`: true,
	} {
		m, err := decodeClientMsg([]byte(raw))
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if got := m.body.(*flowUpdateReq).Inputs.Set; got != want {
			t.Errorf("%s: inputs given = %v, want %v", raw, got, want)
		}
	}
	for raw, want := range map[string]bool{
		`{"t":"flow.update","name":"x"}`:              false,
		`{"t":"flow.update","notify":null}`:           true,
		`{"t":"flow.update","notify":[{"to":"ops"}]}`: true,
	} {
		m, err := decodeClientMsg([]byte(raw))
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if got := m.body.(*flowUpdateReq).Notify.Set; got != want {
			t.Errorf("%s: notify given = %v, want %v", raw, got, want)
		}
	}
	for raw, want := range map[string]bool{
		`{"t":"cell.update","cell":"c_x","options":{"approvers":["editor"]}}`: false,
		`{"t":"cell.update","cell":"c_x","options":{"inputs":null}}`:          true,
		`{"t":"cell.update","cell":"c_x","options":{"inputs":[]}}`:            true,
	} {
		m, err := decodeClientMsg([]byte(raw))
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if got := m.body.(*cellUpdateReq).Options.Inputs.Set; got != want {
			t.Errorf("%s: inputs given = %v, want %v", raw, got, want)
		}
	}
}

// The run message's id is echoed in started, so its body carries it.
func TestDecodeRunID(t *testing.T) {
	t.Parallel()
	m, err := decodeClientMsg([]byte(`{"t":"run","id":"r1","mode":"all"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(m.body.(*runReq).ID); got != `"r1"` {
		t.Errorf("run body id %s, want \"r1\"", got)
	}
}

// FuzzDecodeClientMsg checks that whatever a client sends, the decoder
// does not panic, and what it accepts is a message of a known type that
// passes its own check, within the size bounds, and that it accepts again,
// the same, once encoded.
func FuzzDecodeClientMsg(f *testing.F) {
	for _, msgs := range validClientMsgs {
		for _, raw := range msgs {
			f.Add([]byte(raw))
		}
	}
	for _, raw := range []string{`{nope`, `{"t":"drop.tables"}`, `{"t":"cell.move","cell":"x"}`, `{"T":"ping","ID":1}`, `{"t":"run","mode":"cell","cell":"\u00e9\ud800"}`, `{"t":"presence","sel":[` + strings.Repeat(`{"anchor":1},`, 400) + `1]}`} {
		f.Add([]byte(raw))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeClientMsg(data)
		if err != nil {
			if m.body != nil || m.T != "" {
				t.Fatalf("refused (%v) but returned %+v", err, m)
			}
			return
		}
		checkAccepted(t, m)
		again, err := decodeClientMsg(encodeClientMsg(t, m))
		if err != nil {
			t.Fatalf("%s accepted, its encoding %s refused: %v", data, encodeClientMsg(t, m), err)
		}
		checkAccepted(t, again)
		if a, b := encodeClientMsg(t, m), encodeClientMsg(t, again); !bytes.Equal(a, b) {
			t.Fatalf("%s changed on a round trip: %s, then %s", data, a, b)
		}
	})
}

// checkAccepted checks an accepted message against the table and the
// bounds, stated here apart from the checks that enforce them.
func checkAccepted(t *testing.T, m clientMsg) {
	t.Helper()
	spec, ok := notebookMsgs[m.T]
	if !ok || m.body == nil {
		t.Fatalf("accepted a message of unknown type %q (body %T)", m.T, m.body)
	}
	want, err := spec.do.decode([]byte(validClientMsgs[m.T][0]))
	if err != nil || reflect.TypeOf(want) != reflect.TypeOf(m.body) {
		t.Fatalf("%s decoded as %T, its table row decodes %T (%v)", m.T, m.body, want, err)
	}
	if err := m.body.check(); err != nil {
		t.Fatalf("accepted %s that fails its own check: %v", m.T, err)
	}
	if len(m.ID) > maxClientID {
		t.Fatalf("accepted an id of %d bytes", len(m.ID))
	}
	checkBounds(t, m.T, reflect.ValueOf(m.body).Elem())
}

// checkBounds checks the fields of a message body by their JSON names:
// ids of cells and runs, a presence selection.
func checkBounds(t *testing.T, typ string, v reflect.Value) {
	t.Helper()
	for i := range v.NumField() {
		f, fv := v.Type().Field(i), v.Field(i)
		if f.Anonymous {
			checkBounds(t, typ, fv)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if fv.Kind() == reflect.Pointer {
			if fv.IsNil() {
				continue
			}
			fv = fv.Elem()
		}
		limit := -1
		switch name {
		case "cell", "run", "after":
			limit = maxCellID
		case "id":
			limit = maxClientID
		case "sel":
			limit = maxSel
		}
		if limit >= 0 && fv.Len() > limit {
			t.Fatalf("%s: accepted a %s of %d bytes (at most %d)", typ, name, fv.Len(), limit)
		}
	}
}

// encodeClientMsg encodes a decoded message as a client would send it.
func encodeClientMsg(t *testing.T, m clientMsg) []byte {
	t.Helper()
	b, err := json.Marshal(m.body)
	if err != nil {
		t.Fatalf("encode %T: %v", m.body, err)
	}
	fields := map[string]json.RawMessage{}
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatalf("encode %T: %v", m.body, err)
	}
	fields["t"], _ = json.Marshal(m.T)
	delete(fields, "id")
	if len(m.ID) > 0 {
		fields["id"] = m.ID
	}
	b, err = json.Marshal(fields)
	if err != nil {
		t.Fatalf("encode %s: %v", m.T, err)
	}
	return b
}

// TestServerMsgWire holds what the server sends as the pages read it: the
// field names, and which are always there (null or "" included) and which
// only when set.
func TestServerMsgWire(t *testing.T) {
	t.Parallel()
	pe := peer{Client: "k_1", Name: "ada", Display: "Ada L", Color: "#e6194b", Initial: "AL"}
	sel := pe
	sel.Cell, sel.Sel = "c_x", json.RawMessage(`[{"anchor":1,"head":3}]`)
	info := RunInfo{ID: "r_1", Status: "running", StartedBy: "ada", StartedAt: "2026-12-07T01:00:00Z", URL: "/runs/r_1"}
	draft := draftJSON{Name: "Nightly", Order: "notebook", Inputs: []inputJSON{}, Triggers: []triggerJSON{}, Notify: []notifyJSON{{To: "ops", On: []string{"failed"}}, {To: "team-mail"}}, Cells: []draftCellJSON{
		{ID: "c_x", Name: "fetch", Kind: "shell", Source: "echo", Version: 2},
		{ID: "c_y", Name: "gate", Kind: "approval", Source: "ok?", Options: cellOptions{Approvers: []string{"editor"}, Inputs: given[[]inputJSON]{Set: true, V: []inputJSON{{Name: "ticket", Required: true}}}}},
	}}
	const draftWire = `{"name":"Nightly","description":"","order":"notebook","inputs":[],"triggers":[],"notify":[{"to":"ops","on":["failed"]},{"to":"team-mail"}],"cells":[{"id":"c_x","name":"fetch","kind":"shell","source":"echo","options":{},"version":2},` +
		`{"id":"c_y","name":"gate","kind":"approval","source":"ok?","options":{"approvers":["editor"],"inputs":[{"name":"ticket","required":true}]},"version":0}]}`
	for _, tc := range []struct {
		msg  any
		want string
	}{
		{helloMsg{T: "hello", Client: "k_1", Role: "editor", Can: rightsOf("editor"), User: helloUser{Name: "ada", Display: "Ada L", Color: "#e6194b", Initials: "AL"}, Draft: draft, Runs: []RunInfo{info}, Peers: []peer{}, Paused: []string{}},
			`{"t":"hello","client":"k_1","role":"editor","can":{"edit":true,"run":true},"user":{"name":"ada","display":"Ada L","color":"#e6194b","initials":"AL"},"draft":` + draftWire + `,"runs":[{"id":"r_1","status":"running","started_by":"ada","started_at":"2026-12-07T01:00:00Z","url":"/runs/r_1"}],"peers":[],"paused":[]}`},
		{draftMsg{T: "draft", Draft: draft, By: "ada"}, `{"t":"draft","draft":` + draftWire + `,"by":"ada"}`},
		{draftMsg{T: "draft", Draft: draft}, `{"t":"draft","draft":` + draftWire + `}`},
		{triggersPausedMsg{T: "triggers.paused", Paused: []string{"cron 0 6 * * * UTC"}, By: "ada"}, `{"t":"triggers.paused","paused":["cron 0 6 * * * UTC"],"by":"ada"}`},
		{triggersPausedMsg{T: "triggers.paused", Paused: []string{}}, `{"t":"triggers.paused","paused":[]}`},
		{ackMsg{T: "ack", ID: json.RawMessage(`"7"`)}, `{"t":"ack","id":"7"}`},
		{errorMsg{T: "error", ID: json.RawMessage(`3`), Message: "no", Field: "name"}, `{"t":"error","id":3,"message":"no","field":"name"}`},
		{errorMsg{T: "error", Message: "no"}, `{"t":"error","id":null,"message":"no","field":""}`},
		{errorMsg{T: "error", ID: json.RawMessage(`"2"`), Message: "cell a, line 2, column 3: no", Cell: "a", Line: 2}, `{"t":"error","id":"2","message":"cell a, line 2, column 3: no","field":"","cell":"a","line":2}`},
		{problemsMsg{T: "problems", ID: json.RawMessage(`"5"`), Problems: []problemJSON{{Cell: "c_x", Name: "report", Line: 1, Col: 18, Message: "cell report, line 1, column 18: no"}}},
			`{"t":"problems","id":"5","problems":[{"cell":"c_x","name":"report","line":1,"col":18,"message":"cell report, line 1, column 18: no"}]}`},
		{problemsMsg{T: "problems", Problems: []problemJSON{}}, `{"t":"problems","id":null,"problems":[]}`},
		{startedMsg{T: "started", ID: json.RawMessage(`"4"`), Run: "r_1"}, `{"t":"started","id":"4","run":"r_1"}`},
		{startedMsg{T: "started", Run: "r_1"}, `{"t":"started","id":null,"run":"r_1"}`},
		{runMsg{T: "run", Run: RunInfo{ID: "r_1", Status: "queued", Cells: []string{"a"}, URL: "/runs/r_1"}}, `{"t":"run","run":{"id":"r_1","status":"queued","started_by":"","started_at":"","cells":["a"],"url":"/runs/r_1"}}`},
		{missedMsg{T: "missed", Cell: "fetch", Lines: 12, Run: "r_1"}, `{"t":"missed","cell":"fetch","lines":12,"run":"r_1"}`},
		{missedMsg{T: "missed"}, `{"t":"missed","cell":"","lines":0,"run":""}`},
		{presenceMsg{T: "presence", peer: pe}, `{"t":"presence","client":"k_1","name":"ada","display":"Ada L","color":"#e6194b","initials":"AL"}`},
		{presenceMsg{T: "presence", peer: sel}, `{"t":"presence","client":"k_1","name":"ada","display":"Ada L","color":"#e6194b","initials":"AL","cell":"c_x","sel":[{"anchor":1,"head":3}]}`},
		{presenceLeaveMsg{T: "presence.leave", Client: "k_1"}, `{"t":"presence.leave","client":"k_1"}`},
		{updatesMsg{T: "collab.updates", Cell: "c_x", Version: 3, Updates: []collab.Update{}}, `{"t":"collab.updates","cell":"c_x","version":3,"updates":[]}`},
		{collabVersionMsg{T: "collab.ack", Cell: "c_x", Version: 4}, `{"t":"collab.ack","cell":"c_x","version":4}`},
		{collabVersionMsg{T: "collab.pull-needed", Cell: "c_x", Version: 0}, `{"t":"collab.pull-needed","cell":"c_x","version":0}`},
		{collabErrorMsg{T: "collab.error", Cell: "c_x", Message: "bad"}, `{"t":"collab.error","cell":"c_x","message":"bad"}`},
		{collabDocMsg{T: "collab.doc", Cell: "c_x", Version: 0, Source: ""}, `{"t":"collab.doc","cell":"c_x","version":0,"source":""}`},
		{collabGoneMsg{T: "collab.gone", Cell: "c_x", Name: "fetch", By: "ada"}, `{"t":"collab.gone","cell":"c_x","name":"fetch","by":"ada"}`},
		{collabGoneMsg{T: "collab.gone", Cell: "c_x"}, `{"t":"collab.gone","cell":"c_x"}`},
		{presenceNotice{Process: "p1", Flow: "f_1", Msg: json.RawMessage(`{"t":"presence.leave","client":"k_1"}`)}, `{"process":"p1","flow":"f_1","msg":{"t":"presence.leave","client":"k_1"}}`},
	} {
		b, err := json.Marshal(tc.msg)
		if err != nil || string(b) != tc.want {
			t.Errorf("%T:\n got %s (%v)\nwant %s", tc.msg, b, err, tc.want)
		}
	}
}

// TestProtocolDocListsClientMsgs keeps docs/PROTOCOL.md's list of what a
// client may send and the table the server decodes by the same.
func TestProtocolDocListsClientMsgs(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	_, client, ok := strings.Cut(string(doc), "Client → server")
	client, _, ok2 := strings.Cut(client, "Server → client")
	if !ok || !ok2 {
		t.Fatal("docs/PROTOCOL.md has no Client → server section before Server → client")
	}
	var documented []string
	for _, m := range regexp.MustCompile(`\{"t":"([a-z.\-]+)"`).FindAllStringSubmatch(client, -1) {
		if !slices.Contains(documented, m[1]) {
			documented = append(documented, m[1])
		}
	}
	var decoded []string
	for typ := range notebookMsgs {
		decoded = append(decoded, typ)
	}
	slices.Sort(documented)
	slices.Sort(decoded)
	if !slices.Equal(documented, decoded) {
		t.Errorf("docs/PROTOCOL.md lists %v; the server decodes %v", documented, decoded)
	}
}
