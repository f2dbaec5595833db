package archive

import (
	"archive/tar"
	"bytes"
	"io/fs"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/opsbook/opsbook/engine/flow"
)

// FuzzRead: an uploaded archive is untrusted. Whatever it holds, Read
// either refuses it with an *Error for people or returns files within the
// limits, with clean, distinct relative names, none of them also a folder;
// and what it returns, Write packs and Read reads back the same.
func FuzzRead(f *testing.F) {
	f.Add(makeTar(f, okFlow...), "")
	f.Add(makeZip(f, okFlow...), "")
	f.Add(makeTar(f, entry{name: "f/../x", data: "x"}), "")
	f.Add(makeTar(f, entry{name: "a", data: "1"}, entry{name: "a/b", data: "2"}), "")
	f.Add(makeZip(f, entry{name: "f/A.sh", data: "1"}, entry{name: "f/a.sh", data: "2"}), "application/zip")
	f.Add(makeTar(f, entry{name: "f/b.sh", typ: '7'}, entry{name: "d/", typ: '5'}), "")
	f.Add([]byte("PK\x05\x06"), "")
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0}, "application/gzip")
	f.Add([]byte("flow.yaml\x00"), "application/x-tar")
	// A plain tar (not gzipped) told by its content type.
	var plain bytes.Buffer
	plainTar(f, &plain, "f/flow.yaml", "name: F\n")
	f.Add(plain.Bytes(), "application/x-tar")

	lim := Limits{Archive: 1 << 20, Files: 16, File: 64 << 10, Total: 256 << 10}
	f.Fuzz(func(t *testing.T, data []byte, contentType string) {
		files, top, err := Read(data, contentType, lim)
		if err != nil {
			if !IsError(err) {
				t.Fatalf("error %v (%T) is not an *archive.Error", err, err)
			}
			if files != nil || top != "" {
				t.Fatalf("error %v came with files %d, top %q", err, len(files), top)
			}
			return
		}
		checkFiles(t, files, top, lim)

		// Round trip through both formats, inside the same top folder.
		folder := top
		if folder == "" {
			folder = "flow"
		}
		want := slices.Clone(files)
		slices.SortFunc(want, func(a, b flow.File) int { return strings.Compare(a.Name, b.Name) })
		for _, format := range []Format{TarGz, Zip} {
			var buf bytes.Buffer
			if err := Write(&buf, format, folder, files); err != nil {
				t.Fatalf("Write %s: %v", format, err)
			}
			// The rewritten archive may pack worse; its content is the same.
			back := lim
			back.Archive, back.Ratio = 1<<30, 1<<30
			got, gotTop, err := Read(buf.Bytes(), format.ContentType(), back)
			if err != nil {
				t.Fatalf("Read(Write(%s)): %v", format, err)
			}
			if gotTop != folder {
				t.Fatalf("Read(Write(%s)) top = %q, want %q", format, gotTop, folder)
			}
			if len(got) != len(want) {
				t.Fatalf("Read(Write(%s)) has %d files, want %d", format, len(got), len(want))
			}
			for i := range got {
				if got[i].Name != want[i].Name || !bytes.Equal(got[i].Data, want[i].Data) {
					t.Fatalf("Read(Write(%s)) file %d = %q (%d bytes), want %q (%d bytes)",
						format, i, got[i].Name, len(got[i].Data), want[i].Name, len(want[i].Data))
				}
			}
		}
	})
}

// checkFiles asserts what Read promises about the files it accepts.
func checkFiles(t *testing.T, files []flow.File, top string, lim Limits) {
	t.Helper()
	if len(files) == 0 || len(files) > lim.Files {
		t.Fatalf("%d files accepted, limit %d", len(files), lim.Files)
	}
	if top != "" && (strings.Contains(top, "/") || !fs.ValidPath(top)) {
		t.Fatalf("top folder %q is not one path element", top)
	}
	var total int64
	names := map[string]bool{}
	folded := map[string]bool{}
	for _, file := range files {
		n := file.Name
		if !fs.ValidPath(n) || n == "." || path.Clean(n) != n || strings.ContainsAny(n, "\\\x00") {
			t.Fatalf("name %q is not a clean relative path", n)
		}
		if skip(n) {
			t.Fatalf("%q should have been skipped", n)
		}
		if names[n] || folded[strings.ToLower(n)] {
			t.Fatalf("name %q repeats (maybe in another case)", n)
		}
		names[n], folded[strings.ToLower(n)] = true, true
		if int64(len(file.Data)) > lim.File {
			t.Fatalf("%s has %d bytes, limit %d", n, len(file.Data), lim.File)
		}
		total += int64(len(file.Data))
	}
	if total > lim.Total {
		t.Fatalf("%d bytes in all, limit %d", total, lim.Total)
	}
	for n := range names {
		for dir := path.Dir(n); dir != "."; dir = path.Dir(dir) {
			if names[dir] {
				t.Fatalf("%s is both a file and a folder", dir)
			}
		}
	}
}

// plainTar writes an uncompressed tar of one file.
func plainTar(t testing.TB, w *bytes.Buffer, name, data string) {
	t.Helper()
	tw := tar.NewWriter(w)
	if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}
