package secret

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestSealOpen(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{7}, KeySize)
	b, err := NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	s1 := b.Seal("hunter2", Context("w_1", "DB"))
	s2 := b.Seal("hunter2", Context("w_1", "DB"))
	if s1 == s2 {
		t.Fatal("two seals of one value are equal: the nonce is not fresh")
	}
	if strings.Contains(s1, "hunter2") || strings.Contains(s1, base64.StdEncoding.EncodeToString([]byte("hunter2"))) {
		t.Fatalf("sealed value shows the secret: %s", s1)
	}
	got, err := b.Open(s1, Context("w_1", "DB"))
	if err != nil || got != "hunter2" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	other, _ := NewBox(bytes.Repeat([]byte{8}, KeySize))
	cases := map[string]func() (string, error){
		"other workspace": func() (string, error) { return b.Open(s1, Context("w_2", "DB")) },
		"other name":      func() (string, error) { return b.Open(s1, Context("w_1", "DB2")) },
		"other key":       func() (string, error) { return other.Open(s1, Context("w_1", "DB")) },
		"damaged":         func() (string, error) { return b.Open(s1[:len(s1)-4]+"AAAA", Context("w_1", "DB")) },
		"not base64":      func() (string, error) { return b.Open("%%%", Context("w_1", "DB")) },
		"short":           func() (string, error) { return b.Open("AAAA", Context("w_1", "DB")) },
	}
	for name, open := range cases {
		if v, err := open(); !errors.Is(err, ErrKey) {
			t.Errorf("%s: Open = %q, %v; want ErrKey", name, v, err)
		}
	}
	if _, err := NewBox([]byte("short")); !errors.Is(err, ErrKey) {
		t.Errorf("NewBox(short) = %v", err)
	}
}

func TestLoadKey(t *testing.T) {
	t.Parallel()
	good := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, KeySize))
	k, err := LoadKey(good, "")
	if err != nil || len(k) != KeySize || k[0] != 1 {
		t.Fatalf("LoadKey(env) = %v, %v", k, err)
	}
	for _, bad := range []string{"not base64 !", base64.StdEncoding.EncodeToString([]byte("16 bytes only..."))} {
		if _, err := LoadKey(bad, t.TempDir()); !errors.Is(err, ErrKey) {
			t.Errorf("LoadKey(%q) = %v; want ErrKey", bad, err)
		}
	}
	if _, err := LoadKey("", ""); !errors.Is(err, ErrKey) {
		t.Errorf("LoadKey with neither = %v", err)
	}

	dir := filepath.Join(t.TempDir(), "data")
	first, err := LoadKey("", dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	again, err := LoadKey("", dir)
	if err != nil || !bytes.Equal(first, again) {
		t.Fatalf("second LoadKey = %v, %v; want the same key", again, err)
	}
	// The environment wins over the file.
	if k, _ := LoadKey(good, dir); k[0] != 1 {
		t.Fatal("OPSBOOK_SECRET_KEY did not win over the key file")
	}
	os.Chmod(filepath.Join(dir, KeyFile), 0o644)
	if _, err := LoadKey("", dir); !errors.Is(err, ErrKey) {
		t.Fatalf("a key file readable by others was used: %v", err)
	}
}

// TestLoadKeyRace starts many servers on one fresh folder at once: all get
// the same key.
func TestLoadKeyRace(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keys := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := LoadKey("", dir)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if !bytes.Equal(k, keys[0]) {
			t.Fatal("concurrent first starts made different keys")
		}
	}
}
