package executor

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
)

func TestParseOutputs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    map[string]any
		wantErr string
	}{
		{name: "empty", in: "", want: map[string]any{}},
		{name: "blank", in: "\n  \n", want: map[string]any{}},
		{name: "pairs", in: "a=1\r\nb=\nc=x=y\na=2\n", want: map[string]any{"a": "2", "b": "", "c": "x=y"}},
		{name: "heredoc", in: "a<<EOF\nl1\n\nl3\nEOF\nb=2", want: map[string]any{"a": "l1\n\nl3", "b": "2"}},
		{name: "heredoc empty", in: "a<<END\nEND\n", want: map[string]any{"a": ""}},
		{name: "equals before heredoc", in: "a=b<<c\n", want: map[string]any{"a": "b<<c"}},
		{name: "json", in: `  {"a": 1, "b": 2.5, "c": 1e3, "d": 99999999999999999999, "e": null, "f": true}`,
			want: map[string]any{"a": int64(1), "b": 2.5, "c": 1000.0, "d": 1e20, "e": nil, "f": true}},
		{name: "unterminated heredoc", in: "x=1\na<<EOF\nl1\n", wantErr: `line 2: no line "EOF" ends the value of "a"`},
		{name: "no delimiter", in: "a<<\n", wantErr: "line 1:"},
		{name: "garbage", in: "a=1\n\njust text\n", wantErr: "line 3: expected key=value"},
		{name: "empty key", in: "=1\n", wantErr: "line 1:"},
		{name: "empty key before heredoc", in: "x=1\n=a<<EOF\nv\nEOF\n", wantErr: "line 2: expected key=value"},
		{name: "space in key", in: "my key=1\n", wantErr: `line 1: key "my key" contains a space`},
		{name: "bad json", in: "{\n\"a\": 1,\n}", wantErr: "line 3: bad JSON"},
		{name: "two json objects", in: `{"a":1} {"b":2}`, wantErr: "more after the JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseOutputs([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestReadOutputsTooBig(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "out")
	if err := os.WriteFile(p, []byte("a="+strings.Repeat("x", MaxOutputFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readOutputs(p); err == nil || !strings.Contains(err.Error(), "larger than 1024 KiB") {
		t.Errorf("err = %v", err)
	}
	m, err := readOutputs(filepath.Join(t.TempDir(), "missing"))
	if err != nil || len(m) != 0 || m == nil {
		t.Errorf("missing file: %v, %v", m, err)
	}
}

// TestOutputFileMustBeRegular: a cell that makes $OPSBOOK_OUTPUT a named
// pipe or a link gets an error, and the run does not hang.
func TestOutputFileMustBeRegular(t *testing.T) {
	t.Parallel()
	for name, src := range map[string]string{
		"fifo":    `mkfifo "$OPSBOOK_OUTPUT"`,
		"symlink": `ln -s /etc/passwd "$OPSBOOK_OUTPUT"`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			req := &Request{Cell: &engine.Cell{Name: name, Kind: engine.KindShell}, Source: src, Dir: t.TempDir(), TempDir: t.TempDir(), Output: &collect{}}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err := (Shell{}).Execute(ctx, req)
			if err == nil || !strings.Contains(err.Error(), "not a regular file") {
				t.Fatalf("error %v; want one saying the output is not a regular file", err)
			}
		})
	}
}
