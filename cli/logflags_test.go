package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/opsbook/opsbook/engine/logattr"
)

func TestLogFlags(t *testing.T) {
	t.Parallel()
	fs := NewFlagSet("x", &bytes.Buffer{}, "")
	var lf LogFlags
	lf.Register(fs, "info")
	if err := fs.Parse([]string{"--log-format", "json", "--log-level", "debug"}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log, err := lf.Logger(&buf)
	if err != nil {
		t.Fatal(err)
	}
	log.DebugContext(logattr.WithRequest(context.Background(), "q_1"), "hello", logattr.Run("r_1"))
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("--log-format json wrote %q: %v", buf.String(), err)
	}
	if m["msg"] != "hello" || m[logattr.KeyRun] != "r_1" || m[logattr.KeyRequest] != "q_1" || m["level"] != "DEBUG" {
		t.Errorf("logged %v", m)
	}

	buf.Reset()
	log, _ = LogFlags{}.Logger(&buf)
	log.Info("plain", logattr.Flow("f_1"))
	if got := buf.String(); !strings.Contains(got, "msg=plain flow=f_1") {
		t.Errorf("the default format wrote %q, want text", got)
	}
	if _, err := (LogFlags{Format: "xml"}).Logger(&buf); err == nil || !strings.Contains(err.Error(), "text or json") {
		t.Errorf("--log-format xml: err = %v", err)
	}
}

// TestRunLogFormat: `opsbook run` takes --log-format, and refuses a bad one
// before running anything.
func TestRunLogFormat(t *testing.T) {
	t.Parallel()
	r := runCLI(t, "testdata/good", "--log-format", "xml")
	if r.code != ExitInvalid || !strings.Contains(r.err, "--log-format is text or json") {
		t.Errorf("exit %d, stderr %q: want %d and what to write", r.code, r.err, ExitInvalid)
	}
	// (The flow's first cell fails outside its test: the flags were taken.)
	r = runCLI(t, "testdata/good", "--log-format", "json")
	if r.code == ExitInvalid {
		t.Errorf("--log-format json refused: %s", r.err)
	}
}
