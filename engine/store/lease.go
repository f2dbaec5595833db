package store

import (
	"context"
	"errors"
	"time"

	"github.com/uptrace/bun"
)

// ErrLeaseLost: the lease is no longer held by the one asking (it expired
// and another took it, or it was released).
var ErrLeaseLost = errors.New("lease lost")

// Leases give one holder at a time a named thing across every process on
// the database (a workspace's git sync, its scratch database). A holder
// renews its lease while it works; one that crashed stops renewing, and
// its lease expires for the next to take.

type leaseModel struct {
	bun.BaseModel `bun:"table:leases"`

	Name      string    `bun:"name,pk"`
	Holder    string    `bun:"holder"`
	ExpiresAt time.Time `bun:"expires_at"`
}

// AcquireLease takes the lease name for holder until ttl from now, when
// nobody holds it, its holder's lease expired, or holder holds it already
// (then it is renewed). It says whether holder now holds it; one atomic
// upsert, so of two processes asking at once one gets it.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	now := s.timeNow()
	res, err := s.db.NewRaw(`INSERT INTO leases AS l (name, holder, expires_at) VALUES (?, ?, ?)
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
WHERE l.expires_at <= ? OR l.holder = excluded.holder`, name, holder, now.Add(ttl), now).Exec(ctx)
	if err != nil {
		return false, wrap(err, "acquire lease %s", name)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, wrap(err, "acquire lease %s", name)
	}
	return n == 1, nil
}

// RenewLease moves holder's lease on name to ttl from now; ErrLeaseLost
// when another holds it or nobody does.
func (s *Store) RenewLease(ctx context.Context, name, holder string, ttl time.Duration) error {
	res, err := s.db.NewUpdate().Model((*leaseModel)(nil)).
		Set("? = ?", bun.Ident("expires_at"), s.timeNow().Add(ttl)).
		Where("? = ?", bun.Ident("name"), name).Where("? = ?", bun.Ident("holder"), holder).Exec(ctx)
	if err := affected(res, err); errors.Is(err, ErrNotFound) {
		return ErrLeaseLost
	} else if err != nil {
		return wrap(err, "renew lease %s", name)
	}
	return nil
}

// ReleaseLease ends holder's lease on name; nothing happens when holder
// does not hold it.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	_, err := s.db.NewDelete().Model((*leaseModel)(nil)).
		Where("? = ?", bun.Ident("name"), name).Where("? = ?", bun.Ident("holder"), holder).Exec(ctx)
	return wrap(err, "release lease %s", name)
}

// Lease says who holds name and until when; ErrNotFound when nobody
// does (an expired lease is returned as it is).
func (s *Store) Lease(ctx context.Context, name string) (holder string, expiresAt time.Time, err error) {
	var m leaseModel
	if err := s.db.NewSelect().Model(&m).Where("? = ?", bun.Ident("name"), name).Scan(ctx); err != nil {
		return "", time.Time{}, wrap(err, "lease %s", name)
	}
	return m.Holder, m.ExpiresAt.UTC(), nil
}
