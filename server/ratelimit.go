package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/opsbook/opsbook/engine/store"
)

// rateLimits are token buckets kept in the database (store.TakeToken), so
// every replica on one PostgreSQL spends from the same buckets: a form
// link allowing n runs an hour holds up to n tokens and gains n every
// hour, whichever replica its visitors reach.
type rateLimits struct {
	store limitStore
	log   *slog.Logger

	mu        sync.Mutex
	nextPrune time.Time // when this process next deletes expired rows
}

// limitStore keeps the rate limits' rows: buckets, and sign-in failures (signin_limit.go).
type limitStore interface {
	TakeToken(ctx context.Context, key string, capacity float64, refill time.Duration, now time.Time) (ok bool, wait time.Duration, err error)
	PruneLimits(ctx context.Context, now time.Time) (int64, error)
	Limits(ctx context.Context, keys []string) (map[string]store.LimitRow, error)
	CountLimits(ctx context.Context, keys []string, now time.Time, keep time.Duration) error
	DeleteLimit(ctx context.Context, key string) error
	MarkLimit(ctx context.Context, key string, value float64, now time.Time, keep time.Duration) error
}

var _ limitStore = (*store.Store)(nil)

// pruneEvery is how often a process deletes the limits' expired rows
// (buckets that would be full again, failures forgotten).
const pruneEvery = 10 * time.Minute

// refusedOnError is the wait told when the limit could not be read: a
// limit that cannot be checked refuses rather than lets everything by.
const refusedOnError = 5 * time.Second

func newRateLimits(st limitStore, log *slog.Logger) *rateLimits {
	return &rateLimits{store: st, log: log, nextPrune: time.Now().Add(pruneEvery)}
}

// take spends one run of key's perHour budget. When none is left it says
// how long until one is.
func (l *rateLimits) take(ctx context.Context, key string, perHour int, now time.Time) (ok bool, wait time.Duration) {
	return l.takeRate(ctx, key, perHour, time.Hour, now)
}

// takeRate spends one of key's n tokens per period (a bucket of n that
// gains n every period, e.g. 10 per second). When none is left it says
// how long until one is.
func (l *rateLimits) takeRate(ctx context.Context, key string, n int, per time.Duration, now time.Time) (ok bool, wait time.Duration) {
	if n <= 0 || per <= 0 {
		return true, 0
	}
	ok, wait, err := l.store.TakeToken(ctx, "bucket:"+key, float64(n), per, now)
	if err != nil {
		l.log.ErrorContext(ctx, "rate limit: take a token", "key", key, "err", err)
		return false, refusedOnError
	}
	l.prune(ctx, now)
	return ok, wait
}

// prune deletes the expired rows of every limit, at most once per
// pruneEvery in this process.
func (l *rateLimits) prune(ctx context.Context, now time.Time) {
	l.mu.Lock()
	due := !now.Before(l.nextPrune)
	if due {
		l.nextPrune = now.Add(pruneEvery)
	}
	l.mu.Unlock()
	if !due {
		return
	}
	if n, err := l.store.PruneLimits(context.WithoutCancel(ctx), now); err != nil {
		l.log.Warn("rate limit: prune", "err", err)
	} else if n > 0 {
		l.log.Debug("rate limit: pruned", "rows", n)
	}
}
