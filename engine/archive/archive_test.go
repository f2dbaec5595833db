package archive

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/opsbook/opsbook/engine/flow"
)

// entry is one member of a hand-made archive.
type entry struct {
	name string
	data string
	typ  byte        // tar type flag; 0 is a regular file
	mode fs.FileMode // zip mode; 0 is 0644
	link string
}

func makeTar(t testing.TB, es ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range es {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: e.name, Typeflag: typ, Mode: 0o644, Linkname: e.link}
		if typ == tar.TypeReg {
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			tw.Write([]byte(e.data))
		}
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

func makeZip(t testing.TB, es ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range es {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(e.data))
	}
	zw.Close()
	return buf.Bytes()
}

var okFlow = []entry{{name: "f/flow.yaml", data: "name: F\n"}, {name: "f/a.sh", data: "echo\n"}}

func TestReadHostile(t *testing.T) {
	t.Parallel()
	many := make([]entry, 10000)
	for i := range many {
		many[i] = entry{name: fmt.Sprintf("f/c%05d.sh", i), data: "x"}
	}
	bombTar := makeTar(t, entry{name: "f/flow.yaml", data: strings.Repeat("\x00", 900<<10)},
		entry{name: "f/b.sh", data: strings.Repeat("a", 1<<20)}, entry{name: "f/c.sh", data: strings.Repeat("a", 1<<20)})
	var bombs []entry
	for i := range 40 {
		bombs = append(bombs, entry{name: fmt.Sprintf("f/%d.sh", i), data: strings.Repeat("\x00", 1000<<10)})
	}
	tests := []struct {
		name    string
		data    []byte
		ct      string
		limits  *Limits
		wantErr string // "" means accepted
	}{
		{"tar ok", makeTar(t, okFlow...), "", nil, ""},
		{"zip ok", makeZip(t, okFlow...), "", nil, ""},
		{"tar traversal", makeTar(t, entry{name: "f/../../etc/passwd", data: "x"}), "", nil, "leaves the folder"},
		{"zip traversal", makeZip(t, entry{name: "../evil.sh", data: "x"}), "", nil, "leaves the folder"},
		{"tar absolute", makeTar(t, entry{name: "/etc/passwd", data: "x"}), "", nil, "not a relative path"},
		{"zip absolute", makeZip(t, entry{name: "/etc/passwd", data: "x"}), "", nil, "not a relative path"},
		{"zip drive", makeZip(t, entry{name: "C:/x.sh", data: "x"}), "", nil, "not a relative path"},
		{"zip backslash", makeZip(t, entry{name: "f\\..\\x.sh", data: "x"}), "", nil, "not a relative path"},
		{"tar symlink", makeTar(t, append(okFlow, entry{name: "f/b.sh", typ: tar.TypeSymlink, link: "/etc/passwd"})...), "", nil, "symbolic link"},
		{"tar hard link", makeTar(t, append(okFlow, entry{name: "f/b.sh", typ: tar.TypeLink, link: "f/a.sh"})...), "", nil, "hard link"},
		{"tar device", makeTar(t, entry{name: "f/null", typ: tar.TypeChar}), "", nil, "a device"},
		{"tar fifo", makeTar(t, entry{name: "f/p", typ: tar.TypeFifo}), "", nil, "named pipe"},
		{"zip symlink", makeZip(t, append(okFlow, entry{name: "f/b.sh", data: "/etc/passwd", mode: fs.ModeSymlink | 0o777})...), "", nil, "symbolic link"},
		{"zip device", makeZip(t, entry{name: "f/dev", mode: fs.ModeDevice | 0o644}), "", nil, "a device"},
		{"tar duplicate after cleaning", makeTar(t, entry{name: "f/a.sh", data: "1"}, entry{name: "f/./a.sh", data: "2"}), "", nil, "appears twice"},
		{"zip case", makeZip(t, entry{name: "f/A.sh", data: "1"}, entry{name: "f/a.sh", data: "2"}), "", nil, "differ only in case"},
		{"file and folder", makeTar(t, entry{name: "f/a", data: "1"}, entry{name: "f/a/b", data: "2"}), "", nil, "both a file and a folder"},
		{"10,000 files tar", makeTar(t, many...), "", nil, "more than 500 files"},
		{"10,000 files zip", makeZip(t, many...), "", nil, "entries, more than"},
		{"zip bomb by ratio", makeZip(t, entry{name: "f/flow.yaml", data: strings.Repeat("\x00", 900<<10)}), "", nil, "zip bomb"},
		{"zip bomb by total", makeZip(t, bombs...), "", &Limits{Archive: 16 << 20, Files: 500, File: 1 << 20, Total: 32 << 20, Ratio: 1 << 20}, "unpacks to more than"},
		{"gzip bomb", bombTar, "", &Limits{Archive: 16 << 20, Files: 500, File: 1 << 20, Total: 1 << 20}, "unpacks to more than"},
		{"large file", makeTar(t, entry{name: "f/big.sh", data: strings.Repeat("x", 1<<20+1)}), "", nil, "larger than 1 MiB"},
		{"too large archive", bytes.Repeat([]byte{0x1f, 0x8b}, 9<<20), "", nil, "larger than 16 MiB"},
		{"not an archive", []byte("hello"), "text/plain", nil, "send the flow folder"},
		{"broken gzip", []byte{0x1f, 0x8b, 1, 2, 3}, "", nil, "not a readable"},
		{"empty", makeTar(t), "", nil, "holds no files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lim := DefaultLimits
			if tt.limits != nil {
				lim = *tt.limits
			}
			files, top, err := Read(tt.data, tt.ct, lim)
			if tt.wantErr == "" {
				if err != nil || top != "f" || len(files) != 2 {
					t.Fatalf("Read = %v %q %v", files, top, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !IsError(err) {
				t.Fatalf("error = %v, want one saying %q", err, tt.wantErr)
			}
		})
	}
}

func TestWriteDeterministic(t *testing.T) {
	t.Parallel()
	files := []flow.File{{Name: "flow.yaml", Data: []byte("name: F\n")}, {Name: "b.sh", Data: []byte("b\n")}, {Name: "a.sh", Data: []byte("a\n")}}
	for _, format := range []Format{TarGz, Zip} {
		var one, two bytes.Buffer
		if err := Write(&one, format, "f", files); err != nil {
			t.Fatal(err)
		}
		if err := Write(&two, format, "f", []flow.File{files[2], files[0], files[1]}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(one.Bytes(), two.Bytes()) {
			t.Errorf("%s: two archives of one content differ", format)
		}
		back, top, err := Read(one.Bytes(), format.ContentType(), DefaultLimits)
		if err != nil || top != "f" {
			t.Fatalf("%s: Read = %v %q", format, err, top)
		}
		var names []string
		for _, f := range back {
			names = append(names, f.Name)
		}
		if got := strings.Join(names, ","); got != "a.sh,b.sh,flow.yaml" {
			t.Errorf("%s: names = %s", format, got)
		}
	}
	// Mode and time, as written.
	var buf bytes.Buffer
	Write(&buf, Zip, "", files)
	zr, _ := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	for _, f := range zr.File {
		if f.Mode() != 0o644 || !f.Modified.Equal(ModTime) {
			t.Errorf("%s: mode %v, time %v", f.Name, f.Mode(), f.Modified)
		}
	}
}

func TestParseFormat(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Format{"": TarGz, "tar.gz": TarGz, ".tgz": TarGz, "zip": Zip, "ZIP": Zip} {
		if got, err := ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseFormat("rar"); err == nil {
		t.Error("rar accepted")
	}
}
