package secret

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
)

// Resealer re-seals every stored secret under a key in one transaction
// (the store's ResealSecrets).
type Resealer interface {
	ResealSecrets(ctx context.Context, keyID string, reseal func(wsID, name, sealed string) (string, error)) (int, error)
}

// Rotation tells what a rotation did.
type Rotation struct {
	KeyID    string // the key that seals now
	Resealed int    // secrets re-sealed
}

// Rotate re-seals every secret not sealed with k.Current under it,
// opening each with whichever of k's keys sealed it. It is one
// transaction: after an error nothing changed and Rotate can run again.
func Rotate(ctx context.Context, st Resealer, k Keys) (Rotation, error) {
	box, err := NewBox(k.Current, k.Previous...)
	if err != nil {
		return Rotation{}, err
	}
	n, err := st.ResealSecrets(ctx, box.KeyID(), func(wsID, name, sealed string) (string, error) {
		v, err := box.Open(sealed, Context(wsID, name))
		if err != nil {
			return "", err
		}
		return box.Seal(v, Context(wsID, name)), nil
	})
	if err != nil {
		return Rotation{}, err
	}
	return Rotation{KeyID: box.KeyID(), Resealed: n}, nil
}

// RotateFile rotates the key file in dataDir while servers run: it makes
// a new key and writes it as current, the old one kept after it (servers
// reading the file open old values and seal new ones with the new key),
// re-seals every secret, then writes the file with the new key alone. If
// it stops half-way, the file still holds both keys and running it again
// finishes the same rotation.
func RotateFile(ctx context.Context, dataDir string, st Resealer) (Rotation, error) {
	path := filepath.Join(dataDir, KeyFile)
	k, err := readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Rotation{}, fmt.Errorf("%w: no key file %s: give the studio's --data folder, or with OPSBOOK_SECRET_KEY rotate with OPSBOOK_SECRET_KEY_PREVIOUS", ErrKey, path)
	}
	if err != nil {
		return Rotation{}, err
	}
	if len(k.Previous) == 0 {
		key := make([]byte, KeySize)
		if _, err := rand.Read(key); err != nil {
			return Rotation{}, err
		}
		k = Keys{Current: key, Previous: [][]byte{k.Current}}
		if err := writeKeyFile(path, k); err != nil {
			return Rotation{}, err
		}
	}
	r, err := Rotate(ctx, st, k)
	if err != nil {
		return Rotation{}, fmt.Errorf("%w (%s keeps both keys: run opsbook key rotate again to finish)", err, path)
	}
	if err := writeKeyFile(path, Keys{Current: k.Current}); err != nil {
		return r, err
	}
	return r, nil
}
