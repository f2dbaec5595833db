// Package secret seals workspace secrets with AES-256-GCM and finds the key
// that does it: OPSBOOK_SECRET_KEY, or a key file made at first start.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeyFile is the key's file inside the data folder when OPSBOOK_SECRET_KEY
// is not set.
const KeyFile = "secret.key"

// KeySize is the size of an AES-256 key.
const KeySize = 32

// ErrKey: the key is missing, malformed or not the one the secrets were
// sealed with.
var ErrKey = errors.New("secret key")

// Box seals and opens values with one key. It is safe for concurrent use.
type Box struct {
	aead cipher.AEAD
}

// NewBox returns a Box for a 32-byte key.
func NewBox(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("%w: want %d bytes, got %d", ErrKey, KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts value with a fresh random nonce; context (the workspace and
// the secret's name) is authenticated, so a sealed value moved to another
// name or workspace does not open. The result is base64 text.
func (b *Box) Seal(value, context string) string {
	nonce := make([]byte, b.aead.NonceSize(), b.aead.NonceSize()+len(value)+b.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	out := b.aead.Seal(nonce, nonce, []byte(value), []byte(context))
	return base64.StdEncoding.EncodeToString(out)
}

// Open decrypts what Seal made with the same context.
func (b *Box) Open(sealed, context string) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil || len(raw) < b.aead.NonceSize()+b.aead.Overhead() {
		return "", fmt.Errorf("%w: a sealed value is damaged", ErrKey)
	}
	n := b.aead.NonceSize()
	plain, err := b.aead.Open(nil, raw[:n], raw[n:], []byte(context))
	if err != nil {
		return "", fmt.Errorf("%w: a secret does not open with this key (was OPSBOOK_SECRET_KEY changed?)", ErrKey)
	}
	return string(plain), nil
}

// Context is the authenticated context of a workspace's secret.
func Context(workspaceID, name string) string { return workspaceID + "/" + name }

// LoadKey returns the key: env (OPSBOOK_SECRET_KEY's value, base64 of 32
// bytes) when set, else the key file in dataDir, created with mode 0600 on
// first use. A key file readable by others is refused.
func LoadKey(env, dataDir string) ([]byte, error) {
	if env = strings.TrimSpace(env); env != "" {
		return decodeKey(env, "OPSBOOK_SECRET_KEY")
	}
	if dataDir == "" {
		return nil, fmt.Errorf("%w: set OPSBOOK_SECRET_KEY (base64 of 32 random bytes) or give a data folder", ErrKey)
	}
	path := filepath.Join(dataDir, KeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createKey(dataDir, path)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: read %s: %v", ErrKey, path, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s is readable by others (mode %v); run chmod 600 %s", ErrKey, path, fi.Mode().Perm(), path)
	}
	return decodeKey(string(b), path)
}

func createKey(dataDir, path string) ([]byte, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: create %s: %v", ErrKey, dataDir, err)
	}
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	// Write a temporary file, then link it into place: a reader never sees
	// a half-written key, and of two first starts one key wins.
	f, err := os.CreateTemp(dataDir, ".secret-key-*")
	if err != nil {
		return nil, fmt.Errorf("%w: create a key in %s: %v", ErrKey, dataDir, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	werr := f.Chmod(0o600)
	if werr == nil {
		_, werr = f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	}
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return nil, fmt.Errorf("%w: write %s: %v", ErrKey, tmp, werr)
	}
	if err := os.Link(tmp, path); errors.Is(err, fs.ErrExist) {
		return LoadKey("", dataDir) // another process made it first: use theirs
	} else if err != nil {
		return nil, fmt.Errorf("%w: create %s: %v", ErrKey, path, err)
	}
	return key, nil
}

func decodeKey(s, from string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != KeySize {
				return nil, fmt.Errorf("%w: %s holds %d bytes; it must be base64 of %d random bytes (openssl rand -base64 32)", ErrKey, from, len(k), KeySize)
			}
			return k, nil
		}
	}
	return nil, fmt.Errorf("%w: %s is not base64; make one with: openssl rand -base64 32", ErrKey, from)
}
