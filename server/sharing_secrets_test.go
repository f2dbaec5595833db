package server

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/opsbook/opsbook/engine"
)

const (
	secretValue = "s3cr3t-Sh4re-value"
	otherValue  = "other-Val-123456"
)

// secretFlow uses TOKEN in several ways, prints OTHER (which it does not
// reference) from a value pasted in its code, and holds TOKEN's value in a
// comment of its code.
func secretFlow() *engine.Flow {
	return &engine.Flow{Name: "Secret", Cells: []engine.Cell{
		{Name: "use", Kind: engine.KindShell, File: "use.sh", Source: "# pasted by mistake: " + secretValue + "\n" +
			"echo token={{ secrets.TOKEN }}\n" +
			"printf %s {{ secrets.TOKEN }} | base64\n" +
			"printf 'ada:%s' {{ secrets.TOKEN }} | base64\n" +
			"echo " + otherValue + "\n" +
			"echo t={{ secrets.TOKEN }} >> \"$OPSBOOK_OUTPUT\"\n"},
		{Name: "value", Kind: engine.KindExpr, File: "value.expr", Source: `secrets.TOKEN + "!"` + "\n"},
		{Name: "fail", Kind: engine.KindShell, File: "fail.sh", Source: "echo failing with {{ secrets.TOKEN }} >&2; exit 3\n"},
	}}
}

// leaks lists the secret forms found in text.
func leaks(text string) []string {
	var out []string
	for _, v := range []string{secretValue, base64.StdEncoding.EncodeToString([]byte(secretValue)), url.QueryEscape(secretValue), otherValue, "czNjcjN0LVNoNHJlLXZhbHVl"} {
		if strings.Contains(text, v) {
			out = append(out, v)
		}
	}
	return out
}

func TestSecretsMaskedEverywhere(t *testing.T) {
	f := setup(t, testDB)
	f.addFlow("secret", secretFlow())
	// Without the secret, the run is refused before anything runs.
	out := f.apiJSON("owner", "POST", "/api/v1/flows/secret/runs", `{}`, http.StatusUnprocessableEntity)
	if msg := out["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "TOKEN") {
		t.Fatalf("missing secret: %q", msg)
	}
	for name, v := range map[string]string{"TOKEN": "first-value", "OTHER": otherValue} {
		body(t, f.do("owner", "POST", "/w/acme/secrets", "name="+name+"&value="+url.QueryEscape(v)), http.StatusOK)
	}
	page := body(t, f.do("owner", "POST", "/w/acme/secrets", "name=TOKEN&value="+url.QueryEscape(secretValue)), http.StatusOK)
	if l := leaks(page); len(l) > 0 || strings.Contains(page, "first-value") {
		t.Fatalf("settings page shows a secret: %v", l)
	}
	if !strings.Contains(page, `data-secret-name="TOKEN"`) {
		t.Fatal("settings page does not list TOKEN")
	}
	sealedAll, err := f.st.SealedSecrets(context.Background(), f.ws.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	sealed := sealedAll["TOKEN"]
	if sealed == "" || len(leaks(sealed)) > 0 {
		t.Fatalf("stored secret %q is not sealed", sealed)
	}

	run := f.startRun("secret", "{}", "30s")
	f.waitRun(run)
	_, share := f.shareRun(run, true) // with code: the pasted value must be masked too
	surfaces := map[string]string{}
	get := func(name, role, path string) {
		resp := f.do(role, "GET", path, "")
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", path, resp.StatusCode)
		}
		surfaces[name] = string(b)
	}
	get("api run", "owner", "/api/v1/runs/"+run)
	get("api events", "owner", "/api/v1/runs/"+run+"/events")
	get("api log", "owner", "/api/v1/runs/"+run+"/log?cell=use")
	get("api fail log", "owner", "/api/v1/runs/"+run+"/log?cell=fail")
	get("run page", "viewer", "/runs/"+run)
	get("run log", "viewer", "/runs/"+run+"/log?cell=use")
	get("share page", "", share)
	get("share log", "", share+"/log?cell=use")
	for _, p := range []string{"/runs/" + run + "/ws", share + "/ws"} {
		var c *websocket.Conn
		var err error
		if strings.HasPrefix(p, "/s/") {
			c, _, err = f.dialAnon(p)
		} else {
			c, err = f.dial("viewer", p)
		}
		if err != nil {
			t.Fatal(err)
		}
		var all strings.Builder
		for _, m := range readUntil(t, c, func(m map[string]any) bool { return eventType(m) == "run.finished" }) {
			all.WriteString(jsonString(m))
		}
		surfaces["socket "+p] = all.String()
	}
	for name, text := range surfaces {
		if l := leaks(text); len(l) > 0 {
			t.Errorf("%s shows secret forms %v", name, l)
		}
	}
	for _, name := range []string{"api run", "api log", "share page", "run page"} {
		if !strings.Contains(surfaces[name], "***") {
			t.Errorf("%s masks nothing: the test proves nothing", name)
		}
	}
	audit := f.apiJSON("owner", "GET", "/api/v1/audit?action=secret.used", "", http.StatusOK)
	if n := len(audit["entries"].([]any)); n != 1 {
		t.Errorf("secret.used entries = %d, want 1 (TOKEN, by one run)", n)
	}
}

func jsonString(m map[string]any) string {
	var b strings.Builder
	for k, v := range m {
		b.WriteString(k)
		b.WriteString(":")
		b.WriteString(strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(toJSON(v), "\n", " "), "\t", " ")))
	}
	return b.String()
}

// TestConnectionSecret: a CONNECTION_NAME secret holding a postgres URL is
// `connection: name` for sql cells.
func TestConnectionSecret(t *testing.T) {
	f := setup(t, testDB)
	f.addFlow("warehouse", &engine.Flow{Name: "Warehouse", Cells: []engine.Cell{
		{Name: "answer", Kind: engine.KindSQL, File: "answer.sql", Connection: "wh", Source: "select 41 + 1 as answer\n"},
	}})
	out := f.apiJSON("owner", "POST", "/api/v1/flows/warehouse/runs", `{}`, http.StatusUnprocessableEntity)
	if msg := out["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "CONNECTION_WH") {
		t.Fatalf("missing connection: %q", msg)
	}
	f.apiJSON("owner", "PUT", "/api/v1/secrets/CONNECTION_WH", `{"value":"mysql://nope"}`, http.StatusUnprocessableEntity)
	f.apiJSON("owner", "PUT", "/api/v1/secrets/CONNECTION_WH", `{"value":`+toJSON(testPG())+`}`, http.StatusCreated)
	f.apiJSON("owner", "PUT", "/api/v1/secrets/CONNECTION_WH", `{"value":`+toJSON(testPG())+`}`, http.StatusOK)
	run := f.startRun("warehouse", "{}", "30s")
	f.waitRun(run)
	got := f.apiJSON("owner", "GET", "/api/v1/runs/"+run, "", http.StatusOK)
	if got["status"] != "succeeded" || !strings.Contains(toJSON(got["cells"]), `"answer":42`) {
		t.Fatalf("run = %v", got)
	}
	if strings.Contains(toJSON(got), testPG()) {
		t.Fatal("the API shows the connection's URL")
	}
	list := f.apiJSON("owner", "GET", "/api/v1/secrets", "", http.StatusOK)
	if s := toJSON(list); !strings.Contains(s, "CONNECTION_WH") || strings.Contains(s, "postgres://") {
		t.Fatalf("secrets list = %s", s)
	}
}
