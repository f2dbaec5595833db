package worker

import (
	"context"
	"log/slog"
	"time"

	"github.com/opsbook/opsbook/engine/clock"
	"github.com/opsbook/opsbook/engine/logattr"
	"github.com/opsbook/opsbook/engine/store"
)

// Reap ends, every `every` until ctx ends (and once at once), the running
// runs whose lease expired: their worker died or lost the database. Any
// process may reap; a run is ended once (the store guards it). ended, if
// not nil, is told of each run ended.
func Reap(ctx context.Context, st *store.Store, every time.Duration, log *slog.Logger, ended func(id string)) {
	if every <= 0 {
		every = 5 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		ids, err := st.ReapLost(ctx, time.Now())
		if err != nil && ctx.Err() == nil {
			log.Error("end runs whose worker was lost", "err", err)
		}
		for _, id := range ids {
			log.Warn("run ended: its worker was lost", logattr.Run(id))
			if ended != nil {
				ended(id)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SweepApprovals closes, every `every` of clk until ctx ends (and once at
// once), the approvals whose timeout passed by clk, as their on_timeout
// says; their runs go on (store.ExpireApprovals). Any process may sweep:
// an approval is closed once. Leases stay on the real clock (Reap); only
// approval deadlines go by clk, which tests move.
func SweepApprovals(ctx context.Context, st *store.Store, every time.Duration, clk clock.Clock, log *slog.Logger) {
	if every <= 0 {
		every = 5 * time.Second
	}
	if clk == nil {
		clk = clock.Real{}
	}
	t := clk.NewTimer(every)
	defer t.Stop()
	for {
		expired, err := st.ExpireApprovals(ctx, clk.Now())
		if err != nil && ctx.Err() == nil {
			log.Error("close approvals whose timeout passed", "err", err)
		}
		for _, a := range expired {
			log.Info("approval timed out", logattr.Run(a.RunID), logattr.Cell(a.Cell), "status", a.Status)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			t.Reset(every)
		}
	}
}
