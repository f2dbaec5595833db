package server

import (
	"context"
	"strings"
	"time"

	"github.com/opsbook/opsbook/engine/store"
)

// signinLimit slows password guessing without letting one person's typos,
// or an attacker's, lock others out. Its counts live in the database
// (store.CountLimits), so every replica on one PostgreSQL counts the same
// failures and no replica lets a guesser start over.
//
// Failed sign-ins are counted under three keys, each with its own
// exponential back-off (after `free` failures, the next try waits `base`,
// doubling with each further failure up to `max`, counted from the last
// failure; a key is forgotten an hour after its last failure):
//
//   - the pair (address, name): 10 free (what a person mistyping needs, and
//     what the studio allowed before), then 1 s doubling to 15 min. This is
//     the limit that does the work against guessing one account from one
//     place, and it touches nobody else: colleagues behind the same proxy
//     who mistype their own names do not delay you. A success clears it.
//   - the name, across addresses: 30 free, then 1 s doubling to 15 min.
//     Against one account guessed from many addresses (a botnet, IPv6
//     space): the whole internet gets about 4 tries an hour at it once it
//     is under attack. Since this one can be tripped by anyone who knows a
//     name, it does not apply from an address where that name has signed in
//     successfully in the last 30 days: the attack cannot lock its owner out
//     of the places they use.
//   - the address, across names: 50 free, then 1 s doubling to only 10 s,
//     and not for names known at that address either. Against spraying one
//     password over many names from one address. A long lock here would
//     lock out a whole office behind one proxy because one person there (or
//     one infected machine) failed a lot — the very fault being fixed — so
//     it only throttles: a right password of a name with no failures waits
//     at most 10 s, and a sprayer gets 360 tries an hour, each of them still
//     counted against its name.
//
// Tries refused for waiting are not counted (hammering does not lengthen a
// lock) and check no password (no bcrypt time spent on them).
type signinLimit struct {
	limits *rateLimits // the store, and the pruning of old rows
}

// backoff is how long a key with n failures waits after its last one.
type backoff struct {
	free      int
	base, max time.Duration
}

func (b backoff) wait(n int) time.Duration {
	if n < b.free {
		return 0
	}
	shift := n - b.free
	if shift > 30 {
		return b.max
	}
	return min(b.max, b.base<<shift)
}

var (
	pairBackoff = backoff{free: 10, base: time.Second, max: 15 * time.Minute}
	nameBackoff = backoff{free: 30, base: time.Second, max: 15 * time.Minute}
	addrBackoff = backoff{free: 50, base: time.Second, max: 10 * time.Second}
)

const (
	forgetFailures = time.Hour
	knownFor       = 30 * 24 * time.Hour
)

func newSigninLimit(l *rateLimits) *signinLimit { return &signinLimit{limits: l} }

// signinKeys are the keys of a try: addr is a limitKey, name as typed.
type signinKeys struct{ pair, name, addr, known string }

func keysOf(addr, name string) signinKeys {
	name = strings.ToLower(truncate(name, 100))
	pair := "pair:" + addr + " " + name
	return signinKeys{pair: pair, name: "name:" + name, addr: "addr:" + addr, known: "known:" + pair}
}

// wait reports how long a sign-in as name from addr must still wait (0: it
// may be tried now). An error (the database) is the caller's to refuse on.
func (l *signinLimit) wait(ctx context.Context, now time.Time, addr, name string) (time.Duration, error) {
	k := keysOf(addr, name)
	rows, err := l.limits.store.Limits(ctx, []string{k.pair, k.name, k.addr, k.known})
	if err != nil {
		return 0, err
	}
	w := waitOf(now, rows, k.pair, pairBackoff)
	if t, ok := rows[k.known]; !ok || now.Sub(t.At) > knownFor {
		w = max(w, waitOf(now, rows, k.name, nameBackoff), waitOf(now, rows, k.addr, addrBackoff))
	}
	return w, nil
}

// waitOf is key's remaining wait.
func waitOf(now time.Time, rows map[string]store.LimitRow, key string, b backoff) time.Duration {
	f, ok := rows[key]
	if !ok || now.Sub(f.At) > forgetFailures {
		return 0
	}
	return max(0, f.At.Add(b.wait(int(f.Value))).Sub(now))
}

// failed records a failed sign-in as name from addr: one statement counts
// it under the three keys.
func (l *signinLimit) failed(ctx context.Context, now time.Time, addr, name string) {
	k := keysOf(addr, name)
	ctx = context.WithoutCancel(ctx)
	if err := l.limits.store.CountLimits(ctx, []string{k.pair, k.name, k.addr}, now, forgetFailures); err != nil {
		l.limits.log.ErrorContext(ctx, "sign-in limit: count a failure", "err", err)
	}
	l.limits.prune(ctx, now)
}

// succeeded clears the pair's failures and remembers the pair as known.
// The name's and the address's counts stay: a success somewhere says
// nothing about the failures elsewhere.
func (l *signinLimit) succeeded(ctx context.Context, now time.Time, addr, name string) {
	k := keysOf(addr, name)
	ctx = context.WithoutCancel(ctx)
	if err := l.limits.store.DeleteLimit(ctx, k.pair); err != nil {
		l.limits.log.ErrorContext(ctx, "sign-in limit: clear failures", "err", err)
	}
	if err := l.limits.store.MarkLimit(ctx, k.known, 1, now, knownFor); err != nil {
		l.limits.log.ErrorContext(ctx, "sign-in limit: remember a known address", "err", err)
	}
}
