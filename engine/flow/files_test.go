package flow

import (
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

// TestParseFilesAsParse: a folder held in memory parses exactly as the
// same folder as a file system, problems included.
func TestParseFilesAsParse(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", MaxFileSize+1)
	for _, tc := range []struct {
		name    string
		fsys    fstest.MapFS
		special map[string]fs.FileMode
	}{
		{"valid", setup(t, cells(cellA)), nil},
		{"no manifest", fstest.MapFS{"a.sh": {Data: []byte("echo")}}, nil},
		{"missing cell file", setup(t, cells("  - name: a\n    kind: shell\n    file: gone.sh\n")), nil},
		{"cell file is a folder", setup(t, cells("  - name: a\n    kind: shell\n    file: sub\n"), "sub/x.sh", "echo"), nil},
		{"cell file in a folder", setup(t, cells("  - name: a\n    kind: shell\n    file: sub/x.sh\n"), "sub/x.sh", "echo"), nil},
		{"cell file too big", setup(t, cells("  - name: a\n    kind: shell\n    file: big.sh\n"), "big.sh", big), nil},
		{"not UTF-8", setup(t, cells("  - name: a\n    kind: shell\n    file: bad.sh\n"), "bad.sh", "echo \xff"), nil},
		{"symbolic link", setup(t, cells("  - name: a\n    kind: shell\n    file: link.sh\n")), map[string]fs.FileMode{"link.sh": fs.ModeSymlink | 0o777}},
		{"submodule", setup(t, cells("  - name: a\n    kind: shell\n    file: mod\n")), map[string]fs.FileMode{"mod": fs.ModeIrregular}},
		{"name outside the folder", setup(t, cells("  - name: a\n    kind: shell\n    file: ../a.sh\n")), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var files []File
			mapFS := fstest.MapFS{}
			for name, f := range tc.fsys {
				files = append(files, File{Name: name, Data: f.Data})
				mapFS[name] = f
			}
			for name, mode := range tc.special {
				mapFS[name] = &fstest.MapFile{Mode: mode}
			}
			want, wantErr := Parse(mapFS)
			if ok := tc.name == "valid"; ok != (wantErr == nil) {
				t.Fatalf("Parse: %v", wantErr)
			}
			got, gotErr := ParseTree(files, tc.special)
			if !reflect.DeepEqual(got, want) || errText(gotErr) != errText(wantErr) {
				t.Errorf("ParseTree:\n got %+v, %v\nwant %+v, %v", got, gotErr, want, wantErr)
			}
			if tc.special == nil {
				if got, gotErr := ParseFiles(files); !reflect.DeepEqual(got, want) || errText(gotErr) != errText(wantErr) {
					t.Errorf("ParseFiles:\n got %+v, %v\nwant %+v, %v", got, gotErr, want, wantErr)
				}
			}
		})
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
