package server

import (
	"strings"
	"sync"
	"time"
)

// signinLimit slows password guessing without letting one person's typos,
// or an attacker's, lock others out. It lives in memory (one process).
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
	mu        sync.Mutex
	fails     map[string]*failures
	known     map[string]time.Time // pair → last successful sign-in
	nextPrune int
}

type failures struct {
	n    int
	last time.Time
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
	// maxKnown bounds the pairs remembered as known; past it new ones are
	// not remembered (they then get no exemption, nothing worse).
	maxKnown = 100_000
)

func newSigninLimit() *signinLimit {
	return &signinLimit{fails: map[string]*failures{}, known: map[string]time.Time{}, nextPrune: 10_000}
}

// signinKeys are the keys of a try: addr is a limitKey, name as typed.
type signinKeys struct{ pair, name, addr string }

func keysOf(addr, name string) signinKeys {
	name = strings.ToLower(truncate(name, 100))
	return signinKeys{pair: "pair:" + addr + " " + name, name: "name:" + name, addr: "addr:" + addr}
}

// wait reports how long a sign-in as name from addr must still wait (0: it
// may be tried now).
func (l *signinLimit) wait(now time.Time, addr, name string) time.Duration {
	k := keysOf(addr, name)
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.waitOf(now, k.pair, pairBackoff)
	if t, ok := l.known[k.pair]; !ok || now.Sub(t) > knownFor {
		w = max(w, l.waitOf(now, k.name, nameBackoff), l.waitOf(now, k.addr, addrBackoff))
	}
	return w
}

// waitOf is key's remaining wait; l.mu is held.
func (l *signinLimit) waitOf(now time.Time, key string, b backoff) time.Duration {
	f := l.fails[key]
	if f == nil || now.Sub(f.last) > forgetFailures {
		return 0
	}
	return max(0, f.last.Add(b.wait(f.n)).Sub(now))
}

// failed records a failed sign-in as name from addr.
func (l *signinLimit) failed(now time.Time, addr, name string) {
	k := keysOf(addr, name)
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, key := range []string{k.pair, k.name, k.addr} {
		f := l.fails[key]
		if f == nil || now.Sub(f.last) > forgetFailures {
			f = &failures{}
			l.fails[key] = f
		}
		f.n++
		f.last = now
	}
	if len(l.fails) > l.nextPrune {
		for key, f := range l.fails {
			if now.Sub(f.last) > forgetFailures {
				delete(l.fails, key)
			}
		}
		l.nextPrune = max(10_000, 2*len(l.fails))
	}
}

// succeeded clears the pair's failures and remembers the pair as known.
// The name's and the address's counts stay: a success somewhere says
// nothing about the failures elsewhere.
func (l *signinLimit) succeeded(now time.Time, addr, name string) {
	k := keysOf(addr, name)
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, k.pair)
	if _, ok := l.known[k.pair]; !ok && len(l.known) >= maxKnown {
		for key, t := range l.known {
			if now.Sub(t) > knownFor {
				delete(l.known, key)
			}
		}
		if len(l.known) >= maxKnown {
			return
		}
	}
	l.known[k.pair] = now
}
