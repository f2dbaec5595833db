// Package secret seals workspace secrets with AES-256-GCM and finds the key
// that does it: OPSBOOK_SECRET_KEY, or a key file made at first start.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// KeyFile is the key's file inside the data folder when OPSBOOK_SECRET_KEY
// is not set.
const KeyFile = "secret.key"

// KeySize is the size of an AES-256 key.
const KeySize = 32

// ErrKey: the key is missing, malformed or not the one the secrets were
// sealed with.
var ErrKey = errors.New("secret key")

// sealedPrefix starts a sealed value that names its key:
// "ob1:<key id>:<base64 of nonce and ciphertext>". Values sealed before
// keys had ids are the base64 alone; they open with any key held.
const sealedPrefix = "ob1:"

// KeyID is a key's public fingerprint: 8 hex digits of a hash of it. It
// tells which key sealed a value, and says nothing of the key.
func KeyID(key []byte) string {
	sum := sha256.Sum256(append([]byte("opsbook secret key id\x00"), key...))
	return hex.EncodeToString(sum[:4])
}

// SealedKeyID is the id of the key that sealed a value, "" for a value
// sealed before keys had ids.
func SealedKeyID(sealed string) string {
	rest, ok := strings.CutPrefix(sealed, sealedPrefix)
	if !ok {
		return ""
	}
	id, _, ok := strings.Cut(rest, ":")
	if !ok {
		return ""
	}
	return id
}

// Keys are the keys a Box holds: Current seals; Previous still open what
// was sealed before a rotation finished.
type Keys struct {
	Current  []byte
	Previous [][]byte
}

// Source gives a Box its keys, and again when the Box meets a value of a
// key it does not hold as current (a rotation happened): a key file is
// read again, so a running server follows `opsbook key rotate`.
type Source func() (Keys, error)

// Box seals with the current key and opens with whichever key a value
// names. It is safe for concurrent use.
type Box struct {
	source Source // nil: the keys never change

	mu      sync.RWMutex
	current *sealer
	byID    map[string]*sealer
}

type sealer struct {
	id   string
	aead cipher.AEAD
}

// NewBox returns a Box for a 32-byte key, and previous keys that still
// open values sealed with them.
func NewBox(key []byte, previous ...[]byte) (*Box, error) {
	b := &Box{}
	if err := b.set(Keys{Current: key, Previous: previous}); err != nil {
		return nil, err
	}
	return b, nil
}

// NewBoxFrom returns a Box whose keys come from src, read now and again
// whenever a value names a key other than the current one.
func NewBoxFrom(src Source) (*Box, error) {
	k, err := src()
	if err != nil {
		return nil, err
	}
	b := &Box{source: src}
	if err := b.set(k); err != nil {
		return nil, err
	}
	return b, nil
}

func newSealer(key []byte) (*sealer, error) {
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
	return &sealer{id: KeyID(key), aead: aead}, nil
}

func (b *Box) set(k Keys) error {
	cur, err := newSealer(k.Current)
	if err != nil {
		return err
	}
	byID := map[string]*sealer{cur.id: cur}
	for _, p := range k.Previous {
		s, err := newSealer(p)
		if err != nil {
			return fmt.Errorf("a previous key: %w", err)
		}
		if _, dup := byID[s.id]; !dup {
			byID[s.id] = s
		}
	}
	b.mu.Lock()
	b.current, b.byID = cur, byID
	b.mu.Unlock()
	return nil
}

// Reload reads the keys from the Box's source again (a no-op without
// one). Keys the source no longer gives are forgotten: after a rotation,
// the old key opens nothing here.
func (b *Box) Reload() error {
	if b.source == nil {
		return nil
	}
	k, err := b.source()
	if err != nil {
		return err
	}
	return b.set(k)
}

// KeyID is the id of the key Seal uses.
func (b *Box) KeyID() string {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.current.id
}

// Seal encrypts value with the current key and a fresh random nonce;
// context (the workspace and the secret's name) is authenticated, so a
// sealed value moved to another name or workspace does not open. The
// result is text naming the key.
func (b *Box) Seal(value, context string) string {
	b.mu.RLock()
	s := b.current
	b.mu.RUnlock()
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(value)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	out := s.aead.Seal(nonce, nonce, []byte(value), []byte(context))
	return sealedPrefix + s.id + ":" + base64.StdEncoding.EncodeToString(out)
}

// Open decrypts what Seal made with the same context, with the key the
// value names. A value of a key other than the current one makes the Box
// read its source again first, so a key rotated in opens and a key
// rotated out does not.
func (b *Box) Open(sealed, context string) (string, error) {
	id := SealedKeyID(sealed)
	b.mu.RLock()
	cur := b.current
	b.mu.RUnlock()
	if id == "" {
		// Sealed before keys had ids: try the current key, then the others.
		if v, err := open(cur, sealed, context); err == nil {
			return v, nil
		}
		if err := b.Reload(); err != nil {
			return "", err
		}
		b.mu.RLock()
		all := make([]*sealer, 0, len(b.byID))
		for _, s := range b.byID {
			all = append(all, s)
		}
		b.mu.RUnlock()
		for _, s := range all {
			if v, err := open(s, sealed, context); err == nil {
				return v, nil
			}
		}
		return "", fmt.Errorf("%w: a secret does not open with this key (was OPSBOOK_SECRET_KEY changed?)", ErrKey)
	}
	if id != cur.id {
		if err := b.Reload(); err != nil {
			return "", err
		}
	}
	b.mu.RLock()
	s := b.byID[id]
	b.mu.RUnlock()
	if s == nil {
		return "", fmt.Errorf("%w: a secret is sealed with key %s, which this server does not hold (rotated out, or OPSBOOK_SECRET_KEY changed without OPSBOOK_SECRET_KEY_PREVIOUS)", ErrKey, id)
	}
	v, err := open(s, strings.TrimPrefix(sealed, sealedPrefix+id+":"), context)
	if err != nil {
		return "", err
	}
	return v, nil
}

func open(s *sealer, b64, context string) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) < s.aead.NonceSize()+s.aead.Overhead() {
		return "", fmt.Errorf("%w: a sealed value is damaged", ErrKey)
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(context))
	if err != nil {
		return "", fmt.Errorf("%w: a secret does not open with key %s (damaged, or moved to another name)", ErrKey, s.id)
	}
	return string(plain), nil
}

// Context is the authenticated context of a workspace's secret.
func Context(workspaceID, name string) string { return workspaceID + "/" + name }

// LoadKey returns the current key: env (OPSBOOK_SECRET_KEY's value, base64
// of 32 bytes) when set, else the key file in dataDir, created with mode
// 0600 on first use. A key file readable by others is refused.
func LoadKey(env, dataDir string) ([]byte, error) {
	k, err := LoadKeys(env, "", dataDir)
	return k.Current, err
}

// EnvKey and EnvPreviousKey name the variables that hold the keys when
// they are not in a file: the current one, and during a rotation the one
// it replaces.
const (
	EnvKey         = "OPSBOOK_SECRET_KEY"
	EnvPreviousKey = "OPSBOOK_SECRET_KEY_PREVIOUS"
)

// LoadKeys returns the keys: from env and prevEnv (OPSBOOK_SECRET_KEY and
// OPSBOOK_SECRET_KEY_PREVIOUS, the latter holding keys separated by
// commas or spaces) when env is set, else from the key file in dataDir
// (made on first use): its first line is the current key, and the lines
// after it the previous keys a rotation still needs.
func LoadKeys(env, prevEnv, dataDir string) (Keys, error) {
	if env = strings.TrimSpace(env); env != "" {
		cur, err := decodeKey(env, EnvKey)
		if err != nil {
			return Keys{}, err
		}
		k := Keys{Current: cur}
		for _, p := range strings.FieldsFunc(prevEnv, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' }) {
			pk, err := decodeKey(p, EnvPreviousKey)
			if err != nil {
				return Keys{}, err
			}
			k.Previous = append(k.Previous, pk)
		}
		return k, nil
	}
	if dataDir == "" {
		return Keys{}, fmt.Errorf("%w: set OPSBOOK_SECRET_KEY (base64 of 32 random bytes) or give a data folder", ErrKey)
	}
	path := filepath.Join(dataDir, KeyFile)
	k, err := readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err := createKey(dataDir, path)
		return Keys{Current: key}, err
	}
	return k, err
}

// EnvSource is the Source of a server: the variables when OPSBOOK_SECRET_KEY
// is set, else the key file in dataDir, read again on each call.
func EnvSource(dataDir string) Source {
	return func() (Keys, error) {
		return LoadKeys(os.Getenv(EnvKey), os.Getenv(EnvPreviousKey), dataDir)
	}
}

// readKeyFile reads a key file: one base64 key per line, the current
// first; blank lines and lines starting with # are skipped.
func readKeyFile(path string) (Keys, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Keys{}, err
	}
	if err != nil {
		return Keys{}, fmt.Errorf("%w: read %s: %v", ErrKey, path, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return Keys{}, fmt.Errorf("%w: %s is readable by others (mode %v); run chmod 600 %s", ErrKey, path, fi.Mode().Perm(), path)
	}
	var k Keys
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, err := decodeKey(line, fmt.Sprintf("%s line %d", path, i+1))
		if err != nil {
			return Keys{}, err
		}
		if k.Current == nil {
			k.Current = key
		} else {
			k.Previous = append(k.Previous, key)
		}
	}
	if k.Current == nil {
		return Keys{}, fmt.Errorf("%w: %s holds no key; restore it from a backup (without it the secrets are lost)", ErrKey, path)
	}
	return k, nil
}

// writeKeyFile replaces a key file at once (a temporary file renamed over
// it), mode 0600: a reader sees the old keys or the new ones.
func writeKeyFile(path string, k Keys) error {
	var b strings.Builder
	b.WriteString(base64.StdEncoding.EncodeToString(k.Current) + "\n")
	if len(k.Previous) > 0 {
		b.WriteString("# previous keys, kept until opsbook key rotate has re-sealed every secret\n")
	}
	for _, p := range k.Previous {
		b.WriteString(base64.StdEncoding.EncodeToString(p) + "\n")
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".secret-key-*")
	if err != nil {
		return fmt.Errorf("%w: write %s: %v", ErrKey, path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	werr := f.Chmod(0o600)
	if werr == nil {
		_, werr = f.WriteString(b.String())
	}
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		return fmt.Errorf("%w: write %s: %v", ErrKey, path, werr)
	}
	return nil
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
