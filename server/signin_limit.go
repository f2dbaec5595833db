package server

import (
	"sync"
	"time"
)

// signinLimit slows password guessing: after maxFails failed sign-ins for
// one name, or from one address, within failWindow, further tries are
// refused until the window has passed. It lives in memory (one process).
type signinLimit struct {
	mu    sync.Mutex
	fails map[string][]time.Time
}

const (
	maxFails   = 10
	failWindow = 15 * time.Minute
)

func newSigninLimit() *signinLimit { return &signinLimit{fails: map[string][]time.Time{}} }

// blocked reports how long any of keys must still wait (0: not blocked).
func (l *signinLimit) blocked(now time.Time, keys ...string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	for _, k := range keys {
		ts := l.recent(k, now)
		if len(ts) >= maxFails {
			wait = max(wait, ts[0].Add(failWindow).Sub(now))
		}
	}
	return wait
}

// fail records a failed sign-in under each key.
func (l *signinLimit) fail(now time.Time, keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		l.fails[k] = append(l.recent(k, now), now)
	}
	// Bound the map: forget keys whose failures have all expired.
	if len(l.fails) > 10000 {
		for k := range l.fails {
			if len(l.recent(k, now)) == 0 {
				delete(l.fails, k)
			}
		}
	}
}

// recent drops k's failures older than the window; l.mu is held.
func (l *signinLimit) recent(k string, now time.Time) []time.Time {
	ts := l.fails[k]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) > failWindow {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(l.fails, k)
		return nil
	}
	l.fails[k] = ts
	return ts
}
