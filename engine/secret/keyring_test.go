package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, KeySize)
	rand.Read(k)
	return k
}

// legacySeal seals as secrets were sealed before keys had ids.
func legacySeal(t *testing.T, key []byte, value, context string) string {
	t.Helper()
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	return base64.StdEncoding.EncodeToString(aead.Seal(nonce, nonce, []byte(value), []byte(context)))
}

func TestKeyring(t *testing.T) {
	t.Parallel()
	old, cur := newKey(t), newKey(t)
	oldBox, _ := NewBox(old)
	ring, err := NewBox(cur, old)
	if err != nil {
		t.Fatal(err)
	}
	sealedOld := oldBox.Seal("v1", "w/A")
	if SealedKeyID(sealedOld) != KeyID(old) || !strings.HasPrefix(sealedOld, "ob1:"+KeyID(old)+":") {
		t.Fatalf("sealed %q does not name its key %s", sealedOld, KeyID(old))
	}
	if v, err := ring.Open(sealedOld, "w/A"); err != nil || v != "v1" {
		t.Fatalf("the previous key does not open: %q %v", v, err)
	}
	sealedNew := ring.Seal("v2", "w/A")
	if SealedKeyID(sealedNew) != KeyID(cur) {
		t.Fatal("the ring does not seal with the current key")
	}
	if _, err := oldBox.Open(sealedNew, "w/A"); !errors.Is(err, ErrKey) || !strings.Contains(err.Error(), KeyID(cur)) {
		t.Fatalf("the old key alone opens a new value: %v", err)
	}
	if _, err := ring.Open(sealedOld, "w/B"); !errors.Is(err, ErrKey) {
		t.Fatal("a value moved to another name opens")
	}
	// Values sealed before ids open with whichever key made them.
	if v, err := ring.Open(legacySeal(t, old, "v0", "w/A"), "w/A"); err != nil || v != "v0" {
		t.Fatalf("a legacy value: %q %v", v, err)
	}
	stranger, _ := NewBox(newKey(t))
	if _, err := ring.Open(legacySeal(t, newKey(t), "x", "w/A"), "w/A"); !errors.Is(err, ErrKey) {
		t.Fatal("a legacy value of an unknown key opens")
	}
	if _, err := ring.Open(stranger.Seal("x", "w/A"), "w/A"); !errors.Is(err, ErrKey) {
		t.Fatal("a value of an unknown key opens")
	}
}

// TestBoxFollowsKeyFile: a Box from the key file takes up a rotated key
// when it meets a value sealed with it, and forgets a key the file no
// longer holds.
func TestBoxFollowsKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	box, err := NewBoxFrom(func() (Keys, error) { return LoadKeys("", "", dir) })
	if err != nil {
		t.Fatal(err)
	}
	old, _ := LoadKey("", dir)
	sealedOld := box.Seal("v", "w/A")
	next := newKey(t)
	path := filepath.Join(dir, KeyFile)
	if err := writeKeyFile(path, Keys{Current: next, Previous: [][]byte{old}}); err != nil {
		t.Fatal(err)
	}
	rotated, _ := NewBox(next)
	if v, err := box.Open(rotated.Seal("n", "w/A"), "w/A"); err != nil || v != "n" {
		t.Fatalf("a value of the new key: %q %v", v, err)
	}
	if box.KeyID() != KeyID(next) {
		t.Fatal("the box does not seal with the new key after reading the file")
	}
	if v, err := box.Open(sealedOld, "w/A"); err != nil || v != "v" {
		t.Fatalf("the old key during the rotation: %q %v", v, err)
	}
	if err := writeKeyFile(path, Keys{Current: next}); err != nil {
		t.Fatal(err)
	}
	if _, err := box.Open(sealedOld, "w/A"); !errors.Is(err, ErrKey) {
		t.Fatal("the old key still opens after it left the file")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", fi.Mode().Perm())
	}
}

func TestLoadKeysFromEnv(t *testing.T) {
	t.Parallel()
	a, b, c := newKey(t), newKey(t), newKey(t)
	enc := base64.StdEncoding.EncodeToString
	k, err := LoadKeys(enc(a), enc(b)+", "+enc(c), "")
	if err != nil || string(k.Current) != string(a) || len(k.Previous) != 2 || string(k.Previous[1]) != string(c) {
		t.Fatalf("keys %v %v", k, err)
	}
	if _, err := LoadKeys(enc(a), "nope!", ""); err == nil || !strings.Contains(err.Error(), EnvPreviousKey) {
		t.Fatalf("a bad previous key: %v", err)
	}
}
