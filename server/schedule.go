package server

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
)

// cronParser reads the cron of a flow's trigger: five fields, or a
// descriptor such as @daily, in UTC.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// The claims of the ticks (cron_fires) are what makes a tick fire once
// across servers, and only while they are kept. A scheduler claims a tick
// when its timer fires, and never one more than cronLate after it (a
// process that was suspended skips the ticks it slept through; the other
// servers fired them). So a claim must be kept for cronLate plus the skew
// between the servers' clocks: a week is far more than that, whatever the
// flow's period (the scheduler never looks back at older claims to catch
// up), and keeps a week of history to look at.
const (
	cronLate       = time.Hour
	cronKeep       = 7 * 24 * time.Hour
	cronPruneEvery = time.Hour
)

// schedule starts the runs of cron triggers: each minute it looks at the
// published version of every flow and starts those whose schedule falls on
// that minute. With several servers on one database, a row per flow and
// minute (ClaimCronFire) makes exactly one of them start the run.
func (s *Server) schedule(ctx context.Context) {
	defer close(s.scheduleDone)
	s.scheduleEvery(ctx, time.Minute, cronParser)
}

// scheduleEvery fires the triggers due at each tick (a multiple of every,
// read with parser) until ctx ends, and prunes old claims now and then.
// Tests tick every second, with a parser that reads seconds.
func (s *Server) scheduleEvery(ctx context.Context, every time.Duration, parser cron.Parser) {
	var pruned time.Time
	for {
		next := time.Now().Truncate(every).Add(every)
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if late := time.Since(next); late > cronLate {
			s.log.Warn("scheduled runs: skipped a tick the process slept through", "tick", next, "late", late.Round(time.Second))
			continue
		}
		s.fireAt(ctx, next, parser)
		if time.Since(pruned) >= cronPruneEvery {
			pruned = time.Now()
			if _, err := s.store.PruneCronFires(ctx, cronKeep); err != nil && ctx.Err() == nil {
				s.log.Warn("scheduled runs: prune old claims", "err", err)
			}
		}
	}
}

// fireDue starts the runs whose cron schedule falls on minute.
func (s *Server) fireDue(ctx context.Context, minute time.Time) int {
	return s.fireAt(ctx, minute.UTC().Truncate(time.Minute), cronParser)
}

// fireAt starts the runs whose schedule, read with parser, falls on tick.
func (s *Server) fireAt(ctx context.Context, tick time.Time, parser cron.Parser) int {
	flows, err := s.store.PublishedFlows(ctx)
	if err != nil {
		s.log.Error("scheduled runs: list flows", "err", err)
		return 0
	}
	started := 0
	for _, fl := range flows {
		v, err := s.store.Version(ctx, fl.ID, fl.PublishedVersion)
		if err != nil {
			continue
		}
		f, err := flowFromFiles(v.Files)
		if err != nil {
			continue
		}
		for _, tr := range f.Triggers {
			if tr.Cron == "" || !due(parser, tr.Cron, tick) {
				continue
			}
			if ctx.Err() != nil {
				return started // stopping: claim nothing more
			}
			if ok, err := s.store.ClaimCronFire(ctx, fl.ID, tick); err != nil || !ok {
				break // another server has it, or the database refused: once per tick at most
			}
			// A claimed tick is started even when the server is stopping:
			// no other server will start it.
			if err := s.startScheduled(context.WithoutCancel(ctx), fl, f, tr.Cron); err != nil {
				s.log.Warn("scheduled run did not start", "flow", fl.Slug, "cron", tr.Cron, "err", err)
			} else {
				started++
			}
			break
		}
	}
	return started
}

// cronDue reports whether spec falls on minute (in UTC).
func cronDue(spec string, minute time.Time) bool {
	return due(cronParser, spec, minute.UTC().Truncate(time.Minute))
}

// due reports whether spec, read with parser, falls on tick (in UTC).
func due(parser cron.Parser, spec string, tick time.Time) bool {
	sched, err := parser.Parse(strings.TrimSpace(spec))
	if err != nil {
		return false
	}
	tick = tick.UTC()
	return sched.Next(tick.Add(-time.Second)).Equal(tick)
}

func (s *Server) startScheduled(ctx context.Context, fl store.ScheduledFlow, f *engine.Flow, spec string) error {
	ws, err := s.store.WorkspaceByID(ctx, fl.WorkspaceID)
	if err != nil {
		return err
	}
	_, err = s.startRun(ctx, nil, StartRequest{
		Workspace: ws, FlowID: fl.ID, FlowSlug: fl.Slug, Flow: f, Version: fl.PublishedVersion,
	}, fmt.Sprintf("by its schedule (cron %q)", spec))
	return err
}
