package backup

import (
	"context"
	"crypto/rand"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/opsbook/opsbook/engine/store"
)

// benchData makes a data folder whose database holds about 100 MiB, half
// of it random (so gzip has work to do and half of it to gain).
func benchData(b *testing.B) string {
	b.Helper()
	data := filepath.Join(b.TempDir(), "data")
	st, err := store.Open(context.Background(), store.Config{Data: data})
	if err != nil {
		b.Fatal(err)
	}
	st.Close()
	db, err := sql.Open("sqlite", filepath.Join(data, store.FileName))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE filler (b BLOB)"); err != nil {
		b.Fatal(err)
	}
	blob := make([]byte, 512<<10)
	for range 200 {
		rand.Read(blob[:256<<10])
		if _, err := db.Exec("INSERT INTO filler VALUES (?)", blob); err != nil {
			b.Fatal(err)
		}
	}
	return data
}

// BenchmarkCreate: a backup of a ~100 MiB database, gzipped and not.
func BenchmarkCreate(b *testing.B) {
	data := benchData(b)
	fi, _ := os.Stat(filepath.Join(data, store.FileName))
	for _, ext := range []string{".tar.gz", ".tar"} {
		b.Run(ext, func(b *testing.B) {
			b.SetBytes(fi.Size())
			file := filepath.Join(b.TempDir(), "b"+ext)
			for b.Loop() {
				if _, err := Create(context.Background(), file, Options{Data: data, Force: true}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRestore: a restore of that backup (.tar.gz), sha256s checked.
func BenchmarkRestore(b *testing.B) {
	data := benchData(b)
	fi, _ := os.Stat(filepath.Join(data, store.FileName))
	file := filepath.Join(b.TempDir(), "b.tar.gz")
	if _, err := Create(context.Background(), file, Options{Data: data}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(fi.Size())
	dir := b.TempDir()
	for b.Loop() {
		target := filepath.Join(dir, "r")
		if _, err := Restore(context.Background(), file, target, nil); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.RemoveAll(target)
		b.StartTimer()
	}
}
