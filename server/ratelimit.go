package server

import (
	"math"
	"sync"
	"time"
)

// rateLimits is a token bucket per form link: a link allowing n runs an
// hour holds up to n tokens and gains n every hour. It lives in memory, so
// it bounds one process; with several replicas each has its own buckets.
type rateLimits struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newRateLimits() *rateLimits { return &rateLimits{buckets: map[string]*bucket{}} }

// take spends one run of key's perHour budget. When none is left it says
// how long until one is.
func (l *rateLimits) take(key string, perHour int, now time.Time) (ok bool, wait time.Duration) {
	if perHour <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: float64(perHour), at: now}
		l.buckets[key] = b
	}
	rate := float64(perHour) / float64(time.Hour)
	b.tokens = math.Min(float64(perHour), b.tokens+float64(now.Sub(b.at))*rate)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / rate)
}
