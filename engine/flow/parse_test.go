package flow

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/opsbook/opsbook/engine"
)

// setup returns a folder with manifest as flow.yaml, the cell files a.sh,
// b.py and c.sql, and the extra files given as name, content pairs.
func setup(t testing.TB, manifest string, extra ...string) fstest.MapFS {
	t.Helper()
	fsys := fstest.MapFS{
		ManifestFile: {Data: []byte(manifest)},
		"a.sh":       {Data: []byte("echo a\n")},
		"b.py":       {Data: []byte("print('b')\n")},
		"c.sql":      {Data: []byte("select 1;\n")},
	}
	for i := 0; i+1 < len(extra); i += 2 {
		fsys[extra[i]] = &fstest.MapFile{Data: []byte(extra[i+1])}
	}
	return fsys
}

// cells is a manifest header followed by the given cell entries.
func cells(entries ...string) string {
	return "name: T\ncells:\n" + strings.Join(entries, "")
}

const cellA = "  - name: a\n    kind: shell\n    file: a.sh\n"

func TestParseErrors(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", MaxFileSize+1)
	tests := []struct {
		name string
		fsys fstest.MapFS
		want []string // each is a substring of one error, with its position
	}{
		{"unknown top key", setup(t, "nme: T\n"), []string{`flow.yaml:1:1: unknown key "nme" in flow.yaml; did you mean "name"?`, `flow.yaml:1:1: the flow has no name`}},
		{"unknown input key", setup(t, "name: T\ninputs:\n  - name: day\n    kind: date\n"), []string{`flow.yaml:4:5: unknown key "kind" in input "day"; use one of name, type`}},
		{"misspelt input label", setup(t, "name: T\ninputs:\n  - name: day\n    lable: Day\n"), []string{`flow.yaml:4:5: unknown key "lable" in input "day"; did you mean "label"?`}},
		{"label a list", setup(t, "name: T\ninputs:\n  - name: day\n    label: [Day]\n"), []string{`flow.yaml:4:12: label must be a string, not a list`}},
		{"placeholder a mapping", setup(t, "name: T\ninputs:\n  - name: day\n    placeholder: {a: 1}\n"), []string{`flow.yaml:4:18: placeholder must be a string, not a mapping`}},
		{"two-line label", setup(t, "name: T\ninputs:\n  - name: day\n    label: \"a\\nb\"\n"), []string{`flow.yaml:4:12: the label is one line; move the rest into description`}},
		{"label too long", setup(t, "name: T\ninputs:\n  - name: day\n    label: "+strings.Repeat("x", 121)+"\n"), []string{`flow.yaml:4:12: the label has 121 characters, more than 120`}},
		{"unknown trigger key", setup(t, "name: T\ntriggers:\n  - crn: \"0 6 * * *\"\n"), []string{`flow.yaml:3:5: unknown key "crn" in trigger 1; did you mean "cron"?`, `flow.yaml:3:5: the trigger does nothing`}},
		{"unknown cell key", setup(t, cells(cellA+"    timout: 3s\n")), []string{`flow.yaml:6:5: unknown key "timout" in cell "a"; did you mean "timeout"?`}},
		{"duplicate key", setup(t, "name: T\nname: U\n"), []string{`flow.yaml:2:1: duplicate key "name" in flow.yaml (first at line 1); remove one`}},
		{"name is a list", setup(t, "name: [a]\n"), []string{`flow.yaml:1:7: name must be a string, not a list`}},
		{"name empty", setup(t, "name:\n"), []string{`flow.yaml:1:6: name has no value`}},
		{"no name", setup(t, "description: x\n"), []string{`flow.yaml:1:1: the flow has no name; add a display name`}},
		{"two-line name", setup(t, "name: \"a\\nb\"\n"), []string{`flow.yaml:1:7: the flow name must be one line`}},
		{"cells not a list", setup(t, "name: T\ncells: {a: 1}\n"), []string{`flow.yaml:2:8: cells must be a list, like [{name: fetch`}},
		{"cells null", setup(t, "name: T\ncells:\n"), []string{`flow.yaml:2:7: cells has no value; write cells: [] for none`}},
		{"inputs a number", setup(t, "name: T\ninputs: 3\n"), []string{`flow.yaml:2:9: inputs must be a list`}},
		{"cell not a mapping", setup(t, "name: T\ncells:\n  - a.sh\n"), []string{`flow.yaml:3:5: cell 1 must be a mapping with keys like name, kind, file, not "a.sh"`}},
		{"manifest a list", setup(t, "- name: T\n"), []string{`flow.yaml:1:1: flow.yaml must be a mapping with the keys name, description, order, network, inputs, triggers, concurrency, notify and cells, not a list`}},
		{"manifest a scalar", setup(t, "hello\n"), []string{`flow.yaml:1:1: flow.yaml must be a mapping`}},
		{"empty manifest", setup(t, "# nothing\n"), []string{`flow.yaml:1:1: flow.yaml is empty; write at least a name: and a list of cells:`}},
		{"two documents", setup(t, "name: T\n---\nname: U\n"), []string{`flow.yaml:3:1: flow.yaml holds more than one YAML document`}},
		{"syntax error", setup(t, "name: T\ncells:\n  - name: a\n   kind: shell\n"), []string{`flow.yaml:4:4: YAML syntax error: did not find expected '-' indicator; fix the syntax (check the indentation`}},
		{"syntax error unclosed quote", setup(t, "name: \"T\ncells: []\n"), []string{`flow.yaml:1:1: YAML syntax error: found unexpected end of stream`}},
		{"tab indentation", setup(t, "name: T\ncells:\n\t- name: a\n"), []string{`flow.yaml:3:2: YAML syntax error: found character that cannot start any token`}},
		{"alias", setup(t, "name: &n T\ndescription: *n\n"), []string{`flow.yaml:2:14: aliases (*n) are not supported in flow.yaml; write the value out`}},
		{"missing cell name", setup(t, cells("  - kind: shell\n    file: a.sh\n")), []string{`flow.yaml:3:5: cell has no name; add name: with an identifier`}},
		{"missing cell kind", setup(t, cells("  - name: a\n    file: a.sh\n")), []string{`flow.yaml:3:5: cell has no kind; add kind: with one of shell, python, http, sql, expr, markdown`}},
		{"missing cell file", setup(t, cells("  - name: a\n    kind: shell\n")), []string{`flow.yaml:3:5: cell has no file; add file: with the name of its source file, like file: a.sh`}},
		{"duplicate cell name", setup(t, cells(cellA, "  - name: a\n    kind: python\n    file: b.py\n")), []string{`flow.yaml:6:11: duplicate cell name "a" (cell 1 has it too); rename one`}},
		{"bad cell name", setup(t, cells("  - name: Fetch-Orders\n    kind: shell\n    file: a.sh\n")), []string{`flow.yaml:3:11: cell name "Fetch-Orders" is not an identifier; use lower-case letters, digits and _, starting with a letter (like fetch_orders)`}},
		{"cell name with digit first", setup(t, cells("  - name: 1st\n    kind: shell\n    file: a.sh\n")), []string{`flow.yaml:3:11: cell name "1st" is not an identifier`}},
		{"unknown kind", setup(t, cells("  - name: a\n    kind: bash\n    file: a.sh\n")), []string{`flow.yaml:4:11: unknown kind "bash"; use one of shell, python, http, sql, expr, markdown`}},
		{"unknown order", setup(t, "name: T\norder: dag\n"), []string{`flow.yaml:2:8: unknown order "dag"; use notebook or graph`}},
		{"duplicate input", setup(t, "name: T\ninputs:\n  - name: day\n  - name: day\n"), []string{`flow.yaml:4:11: duplicate input name "day" (input 1 has it too); rename one`}},
		{"bad input name", setup(t, "name: T\ninputs:\n  - name: Day\n"), []string{`flow.yaml:3:11: input name "Day" is not an identifier; use lower-case letters, digits and _, starting with a letter (like day)`}},
		{"input without name", setup(t, "name: T\ninputs:\n  - type: number\n"), []string{`flow.yaml:3:5: input has no name`}},
		{"unknown input type", setup(t, "name: T\ninputs:\n  - name: n\n    type: int\n"), []string{`flow.yaml:4:11: unknown input type "int"; use one of string, number, boolean, date, select`}},
		{"select without options", setup(t, "name: T\ninputs:\n  - name: size\n    type: select\n"), []string{`flow.yaml:4:11: select input "size" has no options; add options: [first, second]`}},
		{"options on a string", setup(t, "name: T\ninputs:\n  - name: s\n    options: [a]\n"), []string{`flow.yaml:4:14: options are only for select inputs`}},
		{"duplicate option", setup(t, "name: T\ninputs:\n  - name: s\n    type: select\n    options: [a, a]\n"), []string{`flow.yaml:5:18: option "a" is listed twice`}},
		{"number default quoted", setup(t, "name: T\ninputs:\n  - name: n\n    type: number\n    default: \"3\"\n"), []string{`flow.yaml:5:14: the default of a number input must be a number, like 3 or 2.5 (without quotes)`}},
		{"number default infinite", setup(t, "name: T\ninputs:\n  - name: n\n    type: number\n    default: .inf\n"), []string{`flow.yaml:5:14: the default of a number input must be a finite number`}},
		{"number default too large", setup(t, "name: T\ninputs:\n  - name: n\n    type: number\n    default: 18446744073709551615\n"), []string{`flow.yaml:5:14: default 18446744073709551615 is too large`}},
		{"boolean default yes", setup(t, "name: T\ninputs:\n  - name: b\n    type: boolean\n    default: yes\n"), []string{`flow.yaml:5:14: the default of a boolean input must be true or false`}},
		{"date default bad", setup(t, "name: T\ninputs:\n  - name: d\n    type: date\n    default: \"2025-13-01\"\n"), []string{`flow.yaml:5:14: the default of a date input must be a date written YYYY-MM-DD`}},
		{"date default with time", setup(t, "name: T\ninputs:\n  - name: d\n    type: date\n    default: 2025-01-01T10:00:00Z\n"), []string{`flow.yaml:5:14: the default of a date input must be a date written YYYY-MM-DD`}},
		{"select default not an option", setup(t, "name: T\ninputs:\n  - name: s\n    type: select\n    options: [a, b]\n    default: c\n"), []string{`flow.yaml:6:14: the default "c" is not one of the options (a, b); pick one of them`}},
		{"string default a number", setup(t, "name: T\ninputs:\n  - name: s\n    default: 3\n"), []string{`flow.yaml:4:14: the default of a string input must be a string; quote it, like default: "3"`}},
		{"default a list", setup(t, "name: T\ninputs:\n  - name: s\n    default: [1]\n"), []string{`flow.yaml:4:14: default must be a single value, not a list`}},
		{"required not a bool", setup(t, "name: T\ninputs:\n  - name: s\n    required: \"yes\"\n"), []string{`flow.yaml:4:15: required must be true or false (without quotes), not "yes"`}},
		{"trigger both", setup(t, "name: T\ntriggers:\n  - cron: \"0 6 * * *\"\n    webhook: true\n"), []string{`flow.yaml:3:5: a trigger is either cron or webhook; split it into two triggers`}},
		{"trigger webhook false", setup(t, "name: T\ntriggers:\n  - webhook: false\n"), []string{`flow.yaml:3:5: the trigger does nothing`}},
		{"cron every", setup(t, "name: T\ntriggers:\n  - cron: \"@every 1h\"\n"), []string{`flow.yaml:3:11: cron "@every 1h": @every is not supported (a schedule fires at set minutes); write five fields instead, like "0 * * * *" for every hour`}},
		{"cron descriptor", setup(t, "name: T\ntriggers:\n  - cron: \"@nightly\"\n"), []string{`flow.yaml:3:11: cron "@nightly" is not a schedule; write five fields`}},
		{"cron fields", setup(t, "name: T\ntriggers:\n  - cron: \"0 6 *\"\n"), []string{`flow.yaml:3:11: cron "0 6 *" has 3 fields; write minute hour day-of-month month day-of-week`}},
		{"rate zero", setup(t, "name: T\ntriggers:\n  - webhook: true\n    rate: 0\n"), []string{`flow.yaml:4:11: rate must be 1 or more (runs a second per webhook token); remove it for the default, 10`}},
		{"rate not a number", setup(t, "name: T\ntriggers:\n  - webhook: true\n    rate: fast\n"), []string{`flow.yaml:4:11: rate must be a whole number, like 2, not "fast"`}},
		{"rate too high", setup(t, "name: T\ntriggers:\n  - webhook: true\n    rate: 5000\n"), []string{`flow.yaml:4:11: rate 5000 is more than 1000 runs a second; lower it`}},
		{"unknown timezone", setup(t, "name: T\ntriggers:\n  - cron: \"0 6 * * *\"\n    timezone: Europe/Pariss\n"), []string{`flow.yaml:4:15: timezone "Europe/Pariss" is not a known zone; write an IANA name such as Europe/Paris`}},
		{"local timezone", setup(t, "name: T\ntriggers:\n  - cron: \"0 6 * * *\"\n    timezone: Local\n"), []string{`flow.yaml:4:15: timezone "Local" is not a known zone`}},
		{"timezone on webhook", setup(t, "name: T\ntriggers:\n  - webhook: true\n    timezone: UTC\n"), []string{`flow.yaml:4:15: timezone is only for cron triggers`}},
		{"timezone not a string", setup(t, "name: T\ntriggers:\n  - cron: \"0 6 * * *\"\n    timezone: [a]\n"), []string{`flow.yaml:4:15: timezone must be`}},
		{"rate on cron", setup(t, "name: T\ntriggers:\n  - cron: \"0 6 * * *\"\n    rate: 5\n"), []string{`flow.yaml:4:11: rate is only for webhook triggers`}},
		{"concurrency not a mapping", setup(t, "name: T\nconcurrency: 1\n"), []string{`flow.yaml:2:14: concurrency must be a mapping with keys like limit, overlap, not a number`}},
		{"concurrency unknown key", setup(t, "name: T\nconcurrency: {limit: 1, max: 2}\n"), []string{`flow.yaml:2:25: unknown key "max" in concurrency`}},
		{"limit zero", setup(t, "name: T\nconcurrency:\n  limit: 0\n  overlap: skip\n"), []string{`flow.yaml:3:10: limit must be 1 or more (runs of this flow at once); remove concurrency for no limit`}},
		{"limit negative", setup(t, "name: T\nconcurrency: {limit: -2}\n"), []string{`flow.yaml:2:22: limit must be 1 or more`}},
		{"limit not whole", setup(t, "name: T\nconcurrency: {limit: 1.5}\n"), []string{`flow.yaml:2:22: limit must be a whole number, like 2, not a number`}},
		{"overlap unknown", setup(t, "name: T\nconcurrency: {limit: 1, overlap: drop}\n"), []string{`flow.yaml:2:34: unknown overlap "drop"; use queue (wait for a slot), skip (end the new run skipped) or cancel (cancel the oldest run)`}},
		{"notify not a list", setup(t, "name: T\nnotify: ops\n"), []string{`flow.yaml:2:9: notify must be a list`}},
		{"notify unknown key", setup(t, "name: T\nnotify:\n  - {to: ops, when: [failed]}\n"), []string{`flow.yaml:3:15: unknown key "when" in notify entry 1`}},
		{"notify unknown event", setup(t, "name: T\nnotify:\n  - {to: ops, on: [failed, done]}\n"), []string{`flow.yaml:3:28: unknown event "done"; use failed, succeeded, canceled or waiting`}},
		{"notify without to", setup(t, "name: T\nnotify:\n  - on: [failed]\n"), []string{`to is missing; name a destination`}},
		{"notify twice", setup(t, "name: T\nnotify:\n  - {to: ops}\n  - {to: ops, on: [waiting]}\n"), []string{`flow.yaml:4:10: destination "ops" is named twice`}},
		{"notify empty on", setup(t, "name: T\nnotify:\n  - {to: ops, on: []}\n"), []string{`flow.yaml:3:19: on is empty`}},
		{"overlap without limit", setup(t, "name: T\nconcurrency:\n  overlap: skip\n"), []string{`flow.yaml:3:12: overlap has no effect without a limit; add limit: 1 (or more) to concurrency, or remove overlap`}},
		{"overlap a list", setup(t, "name: T\nconcurrency: {limit: 1, overlap: [skip]}\n"), []string{`flow.yaml:2:34: overlap must be a string, not a list`}},
		{"timeout not a duration", setup(t, cells(cellA+"    timeout: soon\n")), []string{`flow.yaml:6:14: timeout "soon" is not a duration; write a number with a unit, like 30s`}},
		{"timeout without unit", setup(t, cells(cellA+"    timeout: 30\n")), []string{`flow.yaml:6:14: timeout needs a unit; write 30s`}},
		{"timeout zero", setup(t, cells(cellA+"    timeout: 0s\n")), []string{`flow.yaml:6:14: timeout must be more than 0; remove it to have no timeout`}},
		{"retry delay negative", setup(t, cells(cellA+"    retry_delay: -1s\n")), []string{`flow.yaml:6:18: retry_delay must be more than 0; remove it to retry at once`}},
		{"expect_status bad entries", setup(t, cells("  - name: a\n    kind: http\n    file: a.sh\n    expect_status: [99, \"6xx\", abc, 600, 2XX, 404, 404]\n")), []string{
			`flow.yaml:6:21: expect_status entry "99" is not an HTTP status: write a code from 100 to 599 (like 404) or a class from 1xx to 5xx (like 4xx)`,
			`flow.yaml:6:25: expect_status entry "6xx" is not an HTTP status`,
			`flow.yaml:6:32: expect_status entry "abc" is not an HTTP status`,
			`flow.yaml:6:37: expect_status entry "600" is not an HTTP status`,
			`flow.yaml:6:52: expect_status lists 404 twice; remove one`,
		}},
		{"expect_status empty", setup(t, cells("  - name: a\n    kind: http\n    file: a.sh\n    expect_status: []\n")), []string{`flow.yaml:6:20: expect_status is empty, so no answer would succeed`}},
		{"expect_status not a list", setup(t, cells("  - name: a\n    kind: http\n    file: a.sh\n    expect_status: 404\n")), []string{`flow.yaml:6:20: expect_status must be a list, like [200, 404] or [2xx, 4xx], not a number`}},
		{"expect_status a float", setup(t, cells("  - name: a\n    kind: http\n    file: a.sh\n    expect_status: [200.5]\n")), []string{`flow.yaml:6:21: expect_status entry "200.5" is not an HTTP status`}},
		{"expect_status on shell", setup(t, cells(cellA+"    expect_status: [200]\n")), []string{`flow.yaml:6:20: expect_status is only for http cells; remove it or set kind: http`}},
		{"negative retries", setup(t, cells(cellA+"    retries: -1\n")), []string{`flow.yaml:6:14: retries must be 0 or more`}},
		{"retries not a number", setup(t, cells(cellA+"    retries: two\n")), []string{`flow.yaml:6:14: retries must be a whole number, like 2, not "two"`}},
		{"continue_on_error not a bool", setup(t, cells(cellA+"    continue_on_error: 1\n")), []string{`flow.yaml:6:24: continue_on_error must be true or false, not a number`}},
		{"missing file", setup(t, cells("  - name: a\n    kind: shell\n    file: nope.sh\n")), []string{`flow.yaml:5:11: file "nope.sh" does not exist in the flow folder; create it or fix the name`}},
		{"absolute file", setup(t, cells("  - name: a\n    kind: shell\n    file: /etc/passwd\n")), []string{`flow.yaml:5:11: file "/etc/passwd" is an absolute path; put the file in the flow folder and write its bare name`}},
		{"dotdot file", setup(t, cells("  - name: a\n    kind: shell\n    file: ../a.sh\n")), []string{`flow.yaml:5:11: file "../a.sh" leaves the flow folder`}},
		{"dotdot alone", setup(t, cells("  - name: a\n    kind: shell\n    file: ..\n")), []string{`flow.yaml:5:11: file ".." leaves the flow folder`}},
		{"backslash file", setup(t, cells("  - name: a\n    kind: shell\n    file: 'dir\\a.sh'\n")), []string{`flow.yaml:5:11: file "dir\\a.sh" contains a backslash; write the bare file name`}},
		{"file in a directory", setup(t, cells("  - name: a\n    kind: shell\n    file: dir/a.sh\n")), []string{`flow.yaml:5:11: file "dir/a.sh" is in a subdirectory; cell files sit directly in the flow folder`}},
		{"file is the manifest", setup(t, cells("  - name: a\n    kind: shell\n    file: flow.yaml\n")), []string{`flow.yaml:5:11: file "flow.yaml" is the manifest; give the cell its own file`}},
		{"file is a directory", setup(t, cells("  - name: a\n    kind: shell\n    file: d.sh\n"), "d.sh/x", ""), []string{`flow.yaml:5:11: file "d.sh" is a directory; it must be a regular file`}},
		{"file used twice", setup(t, cells(cellA, "  - name: b\n    kind: shell\n    file: a.sh\n")), []string{`flow.yaml:8:11: file "a.sh" is already used by cell 1; give each cell its own file`}},
		{"file differs in case", setup(t, cells(cellA, "  - name: b\n    kind: shell\n    file: A.sh\n"), "A.sh", "x"), []string{`flow.yaml:8:11: file "A.sh" differs only in case from the file of cell 1`}},
		{"needs unknown", setup(t, cells(cellA+"    needs: [fetch]\n")), []string{`flow.yaml:6:13: needs names unknown cell "fetch"; use one of a`}},
		{"needs typo", setup(t, cells(cellA, "  - name: b\n    kind: python\n    file: b.py\n    needs: [aa]\n")), []string{`flow.yaml:9:13: needs names unknown cell "aa"; did you mean "a"?`}},
		{"needs itself", setup(t, cells(cellA+"    needs: [a]\n")), []string{`flow.yaml:6:13: cell "a" needs itself; remove it from needs`}},
		{"needs a string", setup(t, cells(cellA+"    needs: a\n")), []string{`flow.yaml:6:12: needs must be a list, like [fetch, load], not "a"`}},
		{"bad env name", setup(t, cells(cellA+"    env:\n      MY-VAR: x\n")), []string{`flow.yaml:7:7: env name "MY-VAR" is not valid; use letters, digits and _, not starting with a digit (like MY_VAR)`}},
		{"reserved env name", setup(t, cells(cellA+"    env:\n      OPSBOOK_OUTPUT: x\n")), []string{`flow.yaml:7:7: env name "OPSBOOK_OUTPUT" is reserved`}},
		{"env set twice", setup(t, cells(cellA+"    env:\n      X: a\n      X: b\n")), []string{`flow.yaml:8:7: env name "X" is set twice; remove one`}},
		{"env not a mapping", setup(t, cells(cellA+"    env: [X]\n")), []string{`flow.yaml:6:10: env must be a mapping of NAME: value, not a list`}},
		{"env value empty", setup(t, cells(cellA+"    env:\n      X:\n")), []string{`flow.yaml:7:9: env X has no value; write one or remove the key`}},
		{"connection on shell", setup(t, cells(cellA+"    connection: scratch\n")), []string{`flow.yaml:6:17: connection is only for sql cells; remove it or set kind: sql`}},
		{"retries on markdown", setup(t, cells("  - name: a\n    kind: markdown\n    file: a.sh\n    retries: 1\n")), []string{`flow.yaml:6:14: retries has no effect on a markdown cell`}},
		{"cell file too big", setup(t, cells("  - name: a\n    kind: shell\n    file: big.sh\n"), "big.sh", big), []string{`flow.yaml:5:11: file "big.sh" is more than 1 MiB (1.0 MiB); flow files may be at most 1 MiB`}},
		{"manifest too big", setup(t, "name: T\n#"+big), []string{`flow.yaml: flow.yaml is more than 1 MiB`}},
		{"cell file not UTF-8", setup(t, cells("  - name: a\n    kind: shell\n    file: bin.sh\n"), "bin.sh", "echo ok\necho \xff\n"), []string{`bin.sh:2:6: file "bin.sh" is not UTF-8 text (the first bad byte is here); save it as UTF-8`}},
		{"manifest not UTF-8", setup(t, "name: caf\xe9\n"), []string{`flow.yaml:1:10: flow.yaml is not UTF-8 text`}},
		{"no manifest", fstest.MapFS{"a.sh": {Data: []byte("x")}}, []string{`flow.yaml: flow.yaml not found; a flow folder needs a flow.yaml manifest`}},
		{"many errors at once", setup(t, "name: T\norder: dag\ncells:\n  - name: A\n    kind: bash\n    file: ../x\n"), []string{
			`flow.yaml:2:8: unknown order "dag"`,
			`flow.yaml:4:11: cell name "A" is not an identifier`,
			`flow.yaml:5:11: unknown kind "bash"`,
			`flow.yaml:6:11: file "../x" leaves the flow folder`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := Parse(tt.fsys)
			if err == nil {
				t.Fatalf("Parse gave no error, want %q; flow: %+v", tt.want, f)
			}
			if f != nil {
				t.Errorf("Parse gave a flow with its error")
			}
			var errs engine.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error is %T, want engine.Errors: %v", err, err)
			}
			if n := len(tt.want); len(errs) != n {
				t.Errorf("got %d errors, want %d:\n%v", len(errs), n, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("errors do not contain %q:\n%v", w, err)
				}
			}
			for _, e := range errs {
				if e.Pos.File == "" {
					t.Errorf("error without a position: %v", e)
				}
			}
		})
	}
}

func TestParseSymlink(t *testing.T) {
	t.Parallel()
	fsys := setup(t, cells("  - name: a\n    kind: shell\n    file: link.sh\n"))
	fsys["link.sh"] = &fstest.MapFile{Data: []byte("a.sh"), Mode: 0o777 | os.ModeSymlink}
	_, err := Parse(fsys)
	want := `flow.yaml:5:11: file "link.sh" is a symbolic link; flow files must be regular files inside the flow folder`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
}

// TestLoadBad loads the bad folders in testdata/bad, which hold what a
// map file system cannot: real symbolic links.
func TestLoadBad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ManifestFile), []byte(cells("  - name: a\n    kind: shell\n    file: a.sh\n", "  - name: b\n    kind: shell\n    file: b.sh\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "b.sh"), []byte("echo b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("b.sh", filepath.Join(dir, "a.sh")); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	_, err := Load(dir)
	want := `flow.yaml:5:11: file "a.sh" is a symbolic link`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}

	for _, tt := range []struct{ dir, want string }{
		{"testdata/bad/unknown-kind", `flow.yaml:6:11: unknown kind "bash"; use one of shell, python, http, sql, expr, markdown`},
		{"testdata/bad/missing-file", `flow.yaml:9:11: file "report.py" does not exist in the flow folder; create it or fix the name`},
		{"testdata/bad/overlap-without-limit", `flow.yaml:6:12: overlap has no effect without a limit; add limit: 1 (or more) to concurrency, or remove overlap`},
		{"testdata/bad/needs-cycle-self", `flow.yaml:7:13: cell "fetch" needs itself; remove it from needs`},
		{"testdata/nope", `load flow testdata/nope: stat testdata/nope: no such file or directory`},
	} {
		_, err := Load(tt.dir)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Load(%s) = %v, want %q", tt.dir, err, tt.want)
		}
	}
}

func TestParsePositions(t *testing.T) {
	t.Parallel()
	manifest := `name: Positions
inputs:
  - name: day
    type: date
    default: 2025-01-31
cells:
  - name: a
    kind: shell
    file: a.sh
    if: inputs.day != ""
    needs: [b]
    env:
      DAY: "{{ inputs.day }}"
      PLAIN: x
  - name: b
    kind: python
    file: b.py
    if: |
      cells.a.exit_code == 0
  - name: c
    kind: sql
    file: c.sql
    if: 'true'
    connection: scratch
    timeout: 1m30s
    retries: 3
    retry_delay: 250ms
    continue_on_error: true
`
	f, err := Parse(setup(t, manifest))
	if err != nil {
		t.Fatal(err)
	}
	pos := func(line, col int) engine.Pos { return engine.Pos{File: ManifestFile, Line: line, Col: col} }
	checks := []struct {
		name      string
		got, want engine.Pos
	}{
		{"input", f.Inputs[0].Pos, pos(3, 5)},
		{"cell a", f.Cells[0].Pos, pos(7, 5)},
		{"a.if", f.Cells[0].IfPos, pos(10, 9)},
		{"a.needs", f.Cells[0].NeedsPos, pos(11, 12)},
		{"a.env DAY", f.Cells[0].Env[0].Pos, pos(13, 13)},
		{"a.env PLAIN", f.Cells[0].Env[1].Pos, pos(14, 14)},
		{"b.if block", f.Cells[1].IfPos, pos(19, 7)},
		{"c.if quoted", f.Cells[2].IfPos, pos(23, 10)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s at %v, want %v", c.name, c.got, c.want)
		}
	}
	if got := f.Inputs[0].Default; got != "2025-01-31" {
		t.Errorf("date default = %#v", got)
	}
	c := f.Cells[2]
	if c.Timeout != 90*time.Second || c.Retries != 3 || c.RetryDelay != 250*time.Millisecond || !c.ContinueOnError || c.Connection != "scratch" || c.If != "true" {
		t.Errorf("cell c = %+v", c)
	}
	if f.Cells[1].If != "cells.a.exit_code == 0\n" || f.Cells[0].Source != "echo a\n" {
		t.Errorf("cell b if = %q, a source = %q", f.Cells[1].If, f.Cells[0].Source)
	}
	if f.Cells[0].Env[0].Value != "{{ inputs.day }}" {
		t.Errorf("env = %+v", f.Cells[0].Env)
	}
}

func TestParseLenient(t *testing.T) {
	t.Parallel()
	// Values written as numbers or booleans where text is expected are
	// taken as written; zero cells are allowed.
	f, err := Parse(setup(t, "name: 2024\ncells: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != "2024" || len(f.Cells) != 0 {
		t.Errorf("flow = %+v", f)
	}
	f, err = Parse(setup(t, cells(cellA+"    if: false\n    env: {PORT: 8080}\n")))
	if err != nil {
		t.Fatal(err)
	}
	if c := f.Cells[0]; c.If != "false" || c.Env[0].Value != "8080" {
		t.Errorf("cell = %+v", c)
	}
	f, err = Parse(setup(t, "name: T\ninputs:\n  - name: n\n    type: number\n    default: 2.5\n  - name: m\n    type: number\n    default: 3\n  - name: b\n    type: boolean\n    default: false\n"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Inputs[0].Default != 2.5 || f.Inputs[1].Default != int64(3) || f.Inputs[2].Default != false {
		t.Errorf("defaults = %#v %#v %#v", f.Inputs[0].Default, f.Inputs[1].Default, f.Inputs[2].Default)
	}
}

// TestParseOddYAML feeds YAML that is valid but strange where the manifest
// expects plain values: Parse must refuse it with a positioned error, and
// never panic.
func TestParseOddYAML(t *testing.T) {
	t.Parallel()
	for _, manifest := range []string{
		"? [a]\n: b\n",
		"name: T\ncells: [[]]\n",
		"name: T\ncells: [{? {a: b} : c}]\n",
		"name: T\ninputs: [{name: a, default: !!binary aGVsbG8=}]\n",
		"name: T\ninputs: [{name: a, type: number, default: !!int abc}]\n",
		"name: T\ncells: [{name: a, kind: shell, file: a.sh, retries: !!int x}]\n",
		"name: T\ncells: [{name: a, kind: shell, file: a.sh, needs: [~]}]\n",
		"name: T\ncells: [{name: a, kind: shell, file: a.sh, env: {[X]: y}}]\n",
		"name: T\ncells: [{name: a, kind: shell, file: a.sh, env: {1: y}}]\n",
		"name: T\ncells: [{name: a, kind: shell, file: a.sh, <<: {retries: 1}}]\n",
		"name: T\ntriggers: [{cron: *x}]\n",
		"name: T\ntriggers: [[]]\n",
		"name: T\ninputs: [{name: s, type: select, options: [[a]]}]\n",
		"name: T\ninputs: [{name: s, type: select, options: {a: b}}]\n",
		"name: T\ncells: [{name: a, kind: shell, file: a.sh, timeout: [1s]}]\n",
		"name: T\ncells: [{name: a, kind: shell, file: a.sh, timeout: 9223372036854775807h}]\n",
		"name: T\ncells: [{name: a, kind: shell, file: a.sh, retries: 99999999999999999999}]\n",
		"name: T\ncells: [{name: a, kind: shell, file: \"a.sh\\0\"}]\n",
		"name: T\ncells: [{name: a, kind: shell, file: \" a.sh\"}]\n",
		"name: T\ncells: [{name: a, kind: shell, file: \"\"}]\n",
		"name: T\ncells: [{name: a, kind: shell, file: C:a.sh}]\n",
		"%YAML 1.1\n---\nname: T\ncells: [{}]\n",
	} {
		_, err := Parse(setup(t, manifest))
		var errs engine.Errors
		if !errors.As(err, &errs) || len(errs) == 0 {
			t.Errorf("Parse(%q) = %v, want engine.Errors", manifest, err)
			continue
		}
		for _, e := range errs {
			if e.Pos.File == "" || e.Pos.Line == 0 {
				t.Errorf("Parse(%q): error without a line: %v", manifest, e)
			}
		}
	}
}

func TestParseApproval(t *testing.T) {
	t.Parallel()
	const manifest = "name: T\ncells:\n" + cellA +
		"  - name: ok\n    kind: approval\n    file: ok.md\n    approvers: [editor, \"user:ana\", link]\n    approvals: 2\n    timeout: 24h\n    on_timeout: approve\n" +
		"    inputs:\n      - name: ticket\n        required: true\n        label: Ticket\n      - name: size\n        type: select\n        options: [s, m]\n"
	f, err := Parse(setup(t, manifest, "ok.md", "Deploy {{ cells.a.stdout }}?\n"))
	if err != nil {
		t.Fatal(err)
	}
	c := f.Cell("ok")
	if c.Kind != engine.KindApproval || c.Approvals != 2 || c.Timeout != 24*time.Hour || c.OnTimeout != engine.OnTimeoutApprove ||
		strings.Join(c.Approvers, ",") != "editor,user:ana,link" || len(c.Inputs) != 2 || c.Inputs[1].Type != engine.InputSelect || !c.Inputs[0].Required {
		t.Fatalf("approval cell read as %+v", c)
	}
	if got := string(Manifest(f)); got != manifest {
		t.Errorf("the canonical manifest does not write back byte for byte:\n%s\nwant\n%s", got, manifest)
	}
	if c.EffectiveApprovals() != 2 || (&engine.Cell{}).EffectiveApprovals() != 1 || (&engine.Cell{}).EffectiveOnTimeout() != engine.OnTimeoutReject {
		t.Error("defaults of approvals or on_timeout are wrong")
	}

	ap := func(opts string) fstest.MapFS {
		return setup(t, "name: T\ncells:\n  - name: ok\n    kind: approval\n    file: ok.md\n"+opts, "ok.md", "Go?\n")
	}
	tests := []struct {
		name string
		fsys fstest.MapFS
		want []string
	}{
		{"no approvers", ap(""), []string{`flow.yaml:3:5: an approval cell needs approvers`}},
		{"empty approvers", ap("    approvers: []\n"), []string{`flow.yaml:6:16: an approval cell needs approvers`}},
		{"viewer", ap("    approvers: [viewer]\n"), []string{`flow.yaml:6:17: a viewer may not decide`}},
		{"unknown approver", ap("    approvers: [boss]\n"), []string{`flow.yaml:6:17: unknown approvers entry "boss"; use owner, editor, runner, "user:NAME" or link`}},
		{"user without name", ap("    approvers: [\"user:\"]\n"), []string{`flow.yaml:6:17: approvers entry "user:" names no user`}},
		{"twice", ap("    approvers: [link, link]\n"), []string{`flow.yaml:6:23: approvers lists "link" twice`}},
		{"approvals zero", ap("    approvers: [link]\n    approvals: 0\n"), []string{`flow.yaml:7:16: approvals must be 1 or more`}},
		{"approvals text", ap("    approvers: [link]\n    approvals: two\n"), []string{`flow.yaml:7:16: approvals must be a whole number`}},
		{"more approvals than people", ap("    approvers: [\"user:ana\", \"user:bo\"]\n    approvals: 3\n"), []string{`flow.yaml:7:16: approvals is 3 but only 2 people may decide`}},
		{"bad on_timeout", ap("    approvers: [link]\n    timeout: 1h\n    on_timeout: wait\n"), []string{`flow.yaml:8:17: unknown on_timeout "wait"; use reject (the default) or approve`}},
		{"on_timeout without timeout", ap("    approvers: [link]\n    on_timeout: approve\n"), []string{`flow.yaml:7:17: on_timeout has no effect without a timeout`}},
		{"retries", ap("    approvers: [link]\n    retries: 2\n"), []string{`flow.yaml:7:14: retries has no effect on an approval cell`}},
		{"form input bad type", ap("    approvers: [link]\n    inputs:\n      - name: n\n        type: colour\n"), []string{`flow.yaml:9:15: unknown input type "colour"`}},
		{"form input twice", ap("    approvers: [link]\n    inputs:\n      - name: n\n      - name: n\n"), []string{`flow.yaml:9:15: duplicate input name "n"`}},
		{"form key unknown", ap("    approvers: [link]\n    inputs:\n      - name: n\n        kind: x\n"), []string{`flow.yaml:9:9: unknown key "kind" in input "n"`}},
		{"approvers on shell", setup(t, cells(cellA+"    approvers: [link]\n")), []string{`flow.yaml:6:16: approvers is only for approval cells`}},
		{"inputs on shell", setup(t, cells(cellA+"    inputs:\n      - name: n\n")), []string{`flow.yaml:7:7: inputs is only for approval cells`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(tt.fsys)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\nlacks\n%s", err, w)
				}
			}
		})
	}
}
