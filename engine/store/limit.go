package store

import (
	"context"
	"math"
	"strings"
	"time"
)

// Limits are rate limits shared by every process on the database: the run
// form's and the webhooks' token buckets, and the sign-in back-off's
// failure counts. Each is one row of the limits table under a key the
// caller chooses; every change is one statement, so replicas never lose a
// count or spend a token twice.

// LimitRow is a limit's row: a bucket's tokens or a count of failures
// (Value), when it last changed (At), and when it stops mattering.
type LimitRow struct {
	Value     float64
	At        time.Time
	ExpiresAt time.Time
}

// micros is t in microseconds since 1970, the limits table's clock.
func micros(t time.Time) int64 { return t.UnixMicro() }

// TakeToken spends one token of key's bucket, which holds up to capacity
// tokens and gains capacity of them every refill (capacity per refill,
// continuously; a new bucket is full). When none is left it spends
// nothing and says how long until one is. now is the caller's clock.
//
// The refill and the spending are one upsert whose update applies only
// when a whole token is there: two processes taking at once never spend
// the same token.
func (s *Store) TakeToken(ctx context.Context, key string, capacity float64, refill time.Duration, now time.Time) (ok bool, wait time.Duration, err error) {
	if capacity < 1 || refill <= 0 {
		return true, 0, nil
	}
	rate := capacity / float64(refill.Microseconds()) // tokens per µs
	at := micros(now)
	exp := at + refill.Microseconds()
	min, max := "min", "max"
	if s.postgres() {
		min, max = "least", "greatest"
	}
	refilled := min + "(?0, b.value + " + max + "(0, ?1 - b.at_us) * ?2)"
	q := `INSERT INTO limits AS b (key, value, at_us, expires_us) VALUES (?3, ?0 - 1, ?1, ?4)
ON CONFLICT (key) DO UPDATE SET value = ` + refilled + ` - 1, at_us = ` + max + `(b.at_us, ?1), expires_us = ?4
WHERE ` + refilled + ` >= 1
RETURNING value`
	var left []float64
	if err := s.db.NewRaw(q, capacity, at, rate, key, exp).Scan(ctx, &left); err != nil {
		return false, 0, wrap(err, "take a token of %s", key)
	}
	if len(left) == 1 {
		return true, 0, nil
	}
	// Refused: read the bucket only to say how long to wait.
	rows, err := s.Limits(ctx, []string{key})
	if err != nil {
		return false, 0, err
	}
	r, found := rows[key]
	if !found {
		return false, time.Second, nil
	}
	have := math.Min(capacity, r.Value+math.Max(0, float64(at-micros(r.At)))*rate)
	return false, time.Duration((1-have)/rate) * time.Microsecond, nil
}

// Limits reads the rows of keys; keys with no row are absent. Rows past
// their expiry are read too (the caller's rules decide what they mean).
func (s *Store) Limits(ctx context.Context, keys []string) (map[string]LimitRow, error) {
	out := make(map[string]LimitRow, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	var rows []struct {
		Key       string
		Value     float64
		AtUs      int64
		ExpiresUs int64
	}
	q := `SELECT key, value, at_us, expires_us FROM limits WHERE key IN (` + placeholders(len(keys)) + `)`
	if err := s.db.NewRaw(q, anys(keys)...).Scan(ctx, &rows); err != nil {
		return nil, wrap(err, "read limits")
	}
	for _, r := range rows {
		out[r.Key] = LimitRow{Value: r.Value, At: time.UnixMicro(r.AtUs).UTC(), ExpiresAt: time.UnixMicro(r.ExpiresUs).UTC()}
	}
	return out, nil
}

// CountLimits adds one to each key's count at now, in one statement. A
// count whose last change is older than keep starts again from one; every
// row is kept until keep after now.
func (s *Store) CountLimits(ctx context.Context, keys []string, now time.Time, keep time.Duration) error {
	if len(keys) == 0 {
		return nil
	}
	at, k := micros(now), keep.Microseconds()
	values := make([]string, len(keys))
	args := make([]any, 0, 3*len(keys)+1)
	for i, key := range keys {
		values[i] = "(?, 1, ?, ?)"
		args = append(args, key, at, at+k)
	}
	args = append(args, k)
	q := `INSERT INTO limits AS b (key, value, at_us, expires_us) VALUES ` + strings.Join(values, ", ") + `
ON CONFLICT (key) DO UPDATE SET
	value = CASE WHEN b.at_us < excluded.at_us - ? THEN 1 ELSE b.value + 1 END,
	at_us = excluded.at_us, expires_us = excluded.expires_us`
	if _, err := s.db.NewRaw(q, args...).Exec(ctx); err != nil {
		return wrap(err, "count limits")
	}
	return nil
}

// MarkLimit sets key's row to value at now, kept until keep after now.
func (s *Store) MarkLimit(ctx context.Context, key string, value float64, now time.Time, keep time.Duration) error {
	at := micros(now)
	_, err := s.db.NewRaw(`INSERT INTO limits (key, value, at_us, expires_us) VALUES (?, ?, ?, ?)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, at_us = excluded.at_us, expires_us = excluded.expires_us`,
		key, value, at, at+keep.Microseconds()).Exec(ctx)
	return wrap(err, "mark limit %s", key)
}

// DeleteLimit forgets key (a bucket becomes full, a count zero). A key
// with no row is no error.
func (s *Store) DeleteLimit(ctx context.Context, key string) error {
	_, err := s.db.NewRaw(`DELETE FROM limits WHERE key = ?`, key).Exec(ctx)
	return wrap(err, "delete limit %s", key)
}

// PruneLimits deletes the rows whose expiry is before now and says how
// many it deleted.
func (s *Store) PruneLimits(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.db.NewRaw(`DELETE FROM limits WHERE expires_us < ?`, micros(now)).Exec(ctx)
	if err != nil {
		return 0, wrap(err, "prune limits")
	}
	n, _ := res.RowsAffected()
	return n, nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
