package server

import (
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine/clock"
)

// TestConfigDefaults: a zero knob gets its default, a set one is kept.
func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	fake := clock.NewFake(time.Now())
	for _, tc := range []struct {
		name string
		in   Config
		want func(c Config) bool
	}{
		{"zero", Config{}, func(c Config) bool {
			_, real := c.Clock.(clock.Real)
			return c.Workers == defaultWorkers && c.Lease == defaultLease && c.SSEQueue == defaultSSEQueue &&
				c.CredRecheck == defaultCredRecheck && real && c.Logger != nil && c.HTTP.ReadTimeout == defaultReadTimeout
		}},
		{"set", Config{Workers: 2, Lease: time.Second, SSEQueue: 1, CredRecheck: time.Minute, Clock: fake}, func(c Config) bool {
			return c.Workers == 2 && c.Lease == time.Second && c.SSEQueue == 1 && c.CredRecheck == time.Minute && c.Clock == fake
		}},
	} {
		if got := tc.in.withDefaults(); !tc.want(got) {
			t.Errorf("%s: withDefaults() = %+v", tc.name, got)
		}
	}
}
