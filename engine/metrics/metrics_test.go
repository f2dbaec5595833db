package metrics

import (
	"errors"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
)

func TestAllowed(t *testing.T) {
	t.Parallel()
	lo, lo6, remote := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1"), netip.MustParseAddr("192.0.2.7")
	for _, tc := range []struct {
		name, token, auth string
		addr              netip.Addr
		want              bool
	}{
		{"loopback, no token set", "", "", lo, true},
		{"IPv6 loopback", "", "", lo6, true},
		{"remote, no token set", "", "", remote, false},
		{"unknown address", "", "", netip.Addr{}, false},
		{"token set, none sent, even from loopback", "t0ken", "", lo, false},
		{"token set, right one from anywhere", "t0ken", "Bearer t0ken", remote, true},
		{"token set, wrong one", "t0ken", "Bearer t0ke", remote, false},
		{"token set, longer one", "t0ken", "Bearer t0ken1", remote, false},
		{"token set, not a bearer", "t0ken", "t0ken", remote, false},
	} {
		r := httptest.NewRequest("GET", "/metrics", nil)
		if tc.auth != "" {
			r.Header.Set("Authorization", tc.auth)
		}
		if got := Allowed(r, tc.token, tc.addr); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestRegistriesApart: each Metrics has its own registry, so two servers
// in one process (tests, replicas in a benchmark) neither clash nor count
// each other's runs.
func TestRegistriesApart(t *testing.T) {
	t.Parallel()
	a, b := New(nil, nil), New(nil, nil)
	a.RunEnded("w", "f", engine.RunSucceeded, time.Second)
	a.Gauge("opsbook_workers", "x", func() float64 { return 1 })
	b.Gauge("opsbook_workers", "x", func() float64 { return 2 })
	count := func(m *Metrics) int {
		fams, err := m.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fams {
			if f.GetName() == "opsbook_runs_total" {
				return len(f.GetMetric())
			}
		}
		return 0
	}
	if count(a) != 1 || count(b) != 0 {
		t.Errorf("runs counted: a %d, b %d; want 1, 0", count(a), count(b))
	}
}

// TestPruneDone: what retention passes removed is counted by what, and
// passes by result; a skipped pass (another process held the lease) is
// not timed.
func TestPruneDone(t *testing.T) {
	t.Parallel()
	m := New(nil, nil)
	m.PruneDone(40, 2, 1, false, nil, time.Second)
	m.PruneDone(0, 0, 0, true, nil, 0)
	m.PruneDone(3, 1, 0, false, errors.New("db gone"), time.Second)
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		for _, mt := range f.GetMetric() {
			key := f.GetName()
			for _, l := range mt.GetLabel() {
				key += "/" + l.GetValue()
			}
			switch {
			case mt.Counter != nil:
				got[key] = mt.GetCounter().GetValue()
			case mt.Histogram != nil:
				got[key] = float64(mt.GetHistogram().GetSampleCount())
			}
		}
	}
	want := map[string]float64{
		"opsbook_retention_passes_total/done":       1,
		"opsbook_retention_passes_total/skipped":    1,
		"opsbook_retention_passes_total/error":      1,
		"opsbook_retention_pruned_total/log_events": 43,
		"opsbook_retention_pruned_total/runs_logs":  3,
		"opsbook_retention_pruned_total/runs":       1,
		"opsbook_retention_pass_duration_seconds":   2,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v; want %v", k, got[k], v)
		}
	}
}
