package store

import (
	"context"
	"testing"
)

func testSandboxSettings(t *testing.T, s *Store) {
	ctx := context.Background()
	fx := setup(t, s)
	_, err := s.SandboxSettings(ctx, fx.ws.ID)
	isErr(t, err, ErrNotFound)
	ok(t, s.SetSandboxSettings(ctx, SandboxSettings{WorkspaceID: fx.ws.ID, MaxProcs: 100, MaxFiles: 10, MaxFileSize: 1 << 40, UpdatedBy: fx.user.ID}))
	ok(t, s.SetSandboxSettings(ctx, SandboxSettings{WorkspaceID: fx.ws.ID, MaxProcs: 64, MaxFiles: 256, MaxFileSize: 5 << 30, MaxMemory: 1 << 31, HostLoopback: true, UpdatedBy: fx.user.ID}))
	g, err := s.SandboxSettings(ctx, fx.ws.ID)
	ok(t, err)
	if g.MaxProcs != 64 || g.MaxFiles != 256 || g.MaxFileSize != 5<<30 || g.MaxMemory != 1<<31 || !g.HostLoopback || g.UpdatedBy != fx.user.ID || g.UpdatedAt.IsZero() {
		t.Fatalf("SandboxSettings = %+v", g)
	}
	isErr(t, s.SetSandboxSettings(ctx, SandboxSettings{WorkspaceID: fx.ws.ID, MaxProcs: -1}), ErrInvalid)
	isErr(t, s.SetSandboxSettings(ctx, SandboxSettings{WorkspaceID: "w_none", MaxProcs: 1}), ErrNotFound)
}
