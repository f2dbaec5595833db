package scratch

import (
	"context"
	"crypto/rand"
	"os"
	"testing"
)

// BenchmarkShared is a run's overhead for using scratch on PostgreSQL:
// Open and release of a workspace whose copy is current and unchanged
// (lease, generation check, hash, release), and of one whose file the run
// changed (of 1 and 32 MiB: read, hash, upload), and a fetch on another
// worker.
func BenchmarkShared(b *testing.B) {
	for _, tc := range []struct {
		name   string
		size   int
		change bool
	}{{"unchanged-1MiB", 1 << 20, false}, {"changed-1MiB", 1 << 20, true}, {"changed-32MiB", 32 << 20, true}} {
		b.Run(tc.name, func(b *testing.B) {
			st1, _, ws := twoStoresB(b)
			p := NewShared(SharedConfig{Store: st1, Dir: b.TempDir(), Logger: quiet})
			ctx := context.Background()
			path, release, err := p.Open(ctx, ws)
			if err != nil {
				b.Fatal(err)
			}
			data := make([]byte, tc.size)
			rand.Read(data)
			os.WriteFile(path, data, 0o600)
			if err := release(ctx); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(tc.size))
			for b.Loop() {
				path, release, err := p.Open(ctx, ws)
				if err != nil {
					b.Fatal(err)
				}
				if tc.change {
					data[0]++
					os.WriteFile(path, data, 0o600)
				}
				if err := release(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
