package worker

import (
	"context"
	"log/slog"
	"time"

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
			log.Warn("run ended: its worker was lost", "run", id)
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
