package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/opsbook/opsbook/engine/secret"
)

// ErrKeyRetired: a value sealed with a key that a rotation retired. The
// server that sealed it must read its keys again (secret.Box.Reload) and
// seal anew.
var ErrKeyRetired = errors.New("sealed with a retired key")

type secretRotationModel struct {
	bun.BaseModel `bun:"table:secret_rotation"`

	Singleton int        `bun:"singleton,pk"`
	KeyID     string     `bun:"key_id"`
	RotatedAt *time.Time `bun:"rotated_at"`
}

type retiredKeyModel struct {
	bun.BaseModel `bun:"table:retired_keys"`

	KeyID     string    `bun:"key_id,pk"`
	RetiredAt time.Time `bun:"retired_at"`
}

// checkSealedKey refuses, inside a write transaction, a sealed value of a
// retired key. It takes the rotation row shared, so a rotation running
// now finishes first (on SQLite the one writer serializes them anyway).
func (s *Store) checkSealedKey(ctx context.Context, tx bun.Tx, sealed string) error {
	q := tx.NewSelect().Model((*secretRotationModel)(nil)).Column("key_id").Where("? = 1", bun.Ident("singleton"))
	if s.postgres() {
		q = q.For("SHARE")
	}
	var current string
	if err := q.Scan(ctx, &current); err != nil {
		return err
	}
	id := secret.SealedKeyID(sealed)
	if id == "" || id == current {
		return nil
	}
	n, err := tx.NewSelect().Model((*retiredKeyModel)(nil)).Where("? = ?", bun.Ident("key_id"), id).Count(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("%w: key %s was rotated out", ErrKeyRetired, id)
	}
	return nil
}

// ResealSecrets re-seals, in one transaction, every secret not sealed with
// keyID through reseal (open with the old key, seal with the new), retires
// every other key id it met and records keyID as current. Either every
// secret is re-sealed or none is. It returns how many were.
func (s *Store) ResealSecrets(ctx context.Context, keyID string, reseal func(wsID, name, sealed string) (string, error)) (int, error) {
	if keyID == "" {
		return 0, fmt.Errorf("reseal secrets: %w: no key id", ErrInvalid)
	}
	n := 0
	now := s.timeNow()
	err := s.write(ctx, func(ctx context.Context, tx bun.Tx) error {
		// Lock the rotation row first: saves wait for this transaction.
		var prev string
		q := tx.NewSelect().Model((*secretRotationModel)(nil)).Column("key_id").Where("? = 1", bun.Ident("singleton"))
		if s.postgres() {
			q = q.For("UPDATE")
		}
		if err := q.Scan(ctx, &prev); err != nil {
			return err
		}
		var ms []secretModel
		if err := tx.NewSelect().Model(&ms).Order("workspace_id", "name").Scan(ctx); err != nil {
			return err
		}
		retired := map[string]bool{}
		if prev != "" && prev != keyID {
			retired[prev] = true
		}
		for _, m := range ms {
			id := secret.SealedKeyID(m.Sealed)
			if id == keyID {
				continue
			}
			if id != "" {
				retired[id] = true
			}
			v, err := reseal(m.WorkspaceID, m.Name, m.Sealed)
			if err != nil {
				return fmt.Errorf("secret %s of workspace %s: %w", m.Name, m.WorkspaceID, err)
			}
			if got := secret.SealedKeyID(v); got != keyID {
				return fmt.Errorf("secret %s of workspace %s: re-sealed with key %q, want %s", m.Name, m.WorkspaceID, got, keyID)
			}
			if _, err := tx.NewUpdate().Model((*secretModel)(nil)).
				Set("? = ?", bun.Ident("sealed"), v).
				Where("? = ?", bun.Ident("workspace_id"), m.WorkspaceID).
				Where("? = ?", bun.Ident("name"), m.Name).
				Exec(ctx); err != nil {
				return err
			}
			n++
		}
		delete(retired, keyID)
		for id := range retired {
			if _, err := tx.NewInsert().Model(&retiredKeyModel{KeyID: id, RetiredAt: now}).On("CONFLICT (key_id) DO NOTHING").Exec(ctx); err != nil {
				return err
			}
		}
		// A key retired once and brought back as current is current.
		if _, err := tx.NewDelete().Model((*retiredKeyModel)(nil)).Where("? = ?", bun.Ident("key_id"), keyID).Exec(ctx); err != nil {
			return err
		}
		_, err := tx.NewUpdate().Model((*secretRotationModel)(nil)).
			Set("? = ?", bun.Ident("key_id"), keyID).
			Set("? = ?", bun.Ident("rotated_at"), now).
			Where("? = 1", bun.Ident("singleton")).
			Exec(ctx)
		return err
	})
	if err != nil {
		return 0, wrap(err, "reseal secrets under key %s", keyID)
	}
	return n, nil
}

// SealedKeyIDs counts the secrets by the id of the key that sealed them
// ("" for values sealed before keys had ids).
func (s *Store) SealedKeyIDs(ctx context.Context) (map[string]int, error) {
	var ms []secretModel
	if err := s.rdb.NewSelect().Model(&ms).Column("sealed").Scan(ctx); err != nil {
		return nil, wrap(err, "read sealed secrets")
	}
	out := map[string]int{}
	for _, m := range ms {
		out[secret.SealedKeyID(m.Sealed)]++
	}
	return out, nil
}
