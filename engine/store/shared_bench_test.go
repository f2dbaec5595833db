package store

import (
	"context"
	"testing"
	"time"
)

// BenchmarkTakeToken takes from one bucket (the form's and the webhooks'
// limit: one statement per take), from 8 goroutines at once.
func BenchmarkTakeToken(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchTakeToken(b, openSQLite(b)) })
	b.Run("postgres", func(b *testing.B) { benchTakeToken(b, openPostgres(b)) })
}

func benchTakeToken(b *testing.B, s *Store) {
	ctx := context.Background()
	b.SetParallelism(4) // 4 × GOMAXPROCS goroutines
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := s.TakeToken(ctx, "hook:bench", 1e9, time.Second, time.Now()); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkLease acquires and releases one lease (a git operation's or a
// scratch run's overhead, besides the heartbeat).
func BenchmarkLease(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchLease(b, openSQLite(b)) })
	b.Run("postgres", func(b *testing.B) { benchLease(b, openPostgres(b)) })
}

func benchLease(b *testing.B, s *Store) {
	ctx := context.Background()
	for b.Loop() {
		got, err := s.AcquireLease(ctx, "git:bench", "h", time.Minute)
		if err != nil || !got {
			b.Fatal(got, err)
		}
		if err := s.ReleaseLease(ctx, "git:bench", "h"); err != nil {
			b.Fatal(err)
		}
	}
}
