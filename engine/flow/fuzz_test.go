package flow

import (
	"reflect"
	"testing"
	"testing/fstest"
)

// FuzzParse feeds arbitrary manifests to Parse next to a few cell files.
// Parse must never panic, and a flow it accepts must export and parse back
// to an equal flow, and export to the same bytes again.
func FuzzParse(f *testing.F) {
	f.Add([]byte("name: T\ncells:\n  - name: a\n    kind: shell\n    file: a.sh\n"))
	f.Add([]byte("name: T\norder: graph\ninputs:\n  - name: day\n    type: date\n    default: 2025-01-31\n  - name: size\n    type: select\n    options: [s, m]\n    default: m\ntriggers:\n  - cron: \"0 6 * * *\"\n  - webhook: true\ncells:\n  - name: a\n    kind: shell\n    file: a.sh\n    timeout: 1m30s\n    retries: 2\n    retry_delay: 100ms\n    if: inputs.size == \"m\"\n    env: {X: \"{{ inputs.day }}\", Y: 3}\n  - name: b\n    kind: python\n    file: b.py\n    needs: [a]\n    continue_on_error: true\n  - name: c\n    kind: sql\n    file: c.sql\n    connection: scratch\n  - name: d\n    kind: http\n    file: d.http\n    expect_status: [2xx, 404, \"4XX\"]\n"))
	f.Add([]byte("name: T\ntriggers:\n  - webhook: true\n    rate: 20\nconcurrency: {limit: 1, overlap: skip}\ncells:\n  - name: a\n    kind: shell\n    file: a.sh\n"))
	f.Add([]byte("name: T\nconcurrency:\n  overlap: \"cancel\"\n  limit: 3\n"))
	f.Add([]byte("name: T\ntriggers:\n  - cron: \"0 6 * * *\"\n    timezone: Europe/Paris\n  - timezone: America/New_York\n    cron: \"@daily\"\n"))
	f.Add([]byte("name: T\nconcurrency: {overlap: queue}\ntriggers: [{rate: 0}]\n"))
	f.Add([]byte("name: T\ninputs:\n  - name: owner_email\n    required: true\n    label: \"Owner's e-mail\"\n    description: Who is told\n    placeholder: ana@example.com\n"))
	f.Add([]byte("name: &x T\ndescription: *x\n"))
	f.Add([]byte("name: \"a\\u2028b\\x00\"\ndescription: |\n  two\n  lines\ncells: []\n"))
	f.Add([]byte("name: T\nnotify:\n  - {to: ops, on: [failed, waiting]}\n  - to: \"mail box\"\n  - {to: x, on: []}\n"))
	f.Add([]byte("- a\n- b\n"))
	f.Add([]byte("name: T\n---\nname: U\n"))
	f.Add([]byte("name: T\ninputs:\n  - name: n\n    type: number\n    default: 1e400\n"))
	f.Add([]byte("name: T\ncells:\n  - name: d\n    kind: approval\n    file: d.md\n    approvers: [editor, \"user:ana\", link]\n    approvals: 2\n    timeout: 24h\n    on_timeout: approve\n    inputs:\n      - name: reason\n        required: true\n      - name: size\n        type: select\n        options: [s, m]\n"))
	f.Fuzz(func(t *testing.T, manifest []byte) {
		fsys := fstest.MapFS{
			ManifestFile: {Data: manifest},
			"a.sh":       {Data: []byte("echo {{ inputs.day }}\n")},
			"b.py":       {Data: []byte("print(1)\r\n")},
			"c.sql":      {Data: []byte("select 1;")},
			"d.md":       {Data: []byte("")},
			"d.http":     {Data: []byte("GET https://example.com/\n")},
		}
		fl, err := Parse(fsys)
		if err != nil {
			return
		}
		files, err := Files(fl)
		if err != nil {
			t.Fatalf("Parse accepted a flow that Files refuses: %v\n%s", err, manifest)
		}
		back, err := Parse(mapFS(files))
		if err != nil {
			t.Fatalf("Parse(Files(f)): %v\nmanifest:\n%s\nexported:\n%s", err, manifest, files[0].Data)
		}
		if !sameFlow(back, fl) {
			t.Fatalf("round trip differs:\n got %#v\nwant %#v\nexported:\n%s", unpos(back), unpos(fl), files[0].Data)
		}
		again, err := Files(back)
		if err != nil || !reflect.DeepEqual(again, files) {
			t.Fatalf("second export differs (%v):\n%s\nwant\n%s", err, again[0].Data, files[0].Data)
		}
	})
}
