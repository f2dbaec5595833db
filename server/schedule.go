package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/clock"
	"github.com/opsbook/opsbook/engine/flow"
	"github.com/opsbook/opsbook/engine/logattr"
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
// that minute. With several servers on one database, a row per flow,
// trigger and minute (ClaimCronFire) makes exactly one of them start the
// trigger's run; two triggers of a flow due in the same minute start two.
func (s *Server) schedule(ctx context.Context) {
	defer close(s.scheduleDone)
	s.scheduleEvery(ctx, s.clock, time.Minute, cronParser)
}

// scheduleEvery fires the triggers due at each tick (a multiple of every
// on clk, read with parser) until ctx ends, and prunes old claims now and
// then. Tests tick every second on a fake clock, with a parser that reads
// seconds.
func (s *Server) scheduleEvery(ctx context.Context, clk clock.Clock, every time.Duration, parser cron.Parser) {
	var pruned time.Time
	for {
		now := clk.Now()
		next := now.Truncate(every).Add(every)
		t := clk.NewTimer(next.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
		if late := clk.Now().Sub(next); late > cronLate {
			s.log.Warn("scheduled runs: skipped a tick the process slept through", "tick", next, "late", late.Round(time.Second))
			continue
		}
		s.fireAt(ctx, next, parser)
		if clk.Now().Sub(pruned) >= cronPruneEvery {
			pruned = clk.Now()
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
		var paused map[string]store.TriggerPause
		fired := map[string]bool{}
		for _, tr := range f.Triggers {
			if tr.Cron == "" || !dueIn(parser, tr, tick) {
				continue
			}
			if paused == nil {
				if paused, err = s.store.TriggerPauses(ctx, fl.ID); err != nil {
					s.log.Warn("scheduled runs: read the paused triggers", logattr.Flow(fl.ID), logattr.Slug(fl.Slug), "err", err)
					break // when unsure whether it is paused, do not start it
				}
			}
			if _, ok := paused[tr.Key()]; ok {
				continue
			}
			if ctx.Err() != nil {
				return started // stopping: claim nothing more
			}
			if fired[tr.Key()] {
				continue // the same schedule written twice starts one run
			}
			fired[tr.Key()] = true
			if ok, err := s.store.ClaimCronFire(ctx, fl.ID, tr.Key(), tick); err != nil || !ok {
				if err != nil {
					s.log.Warn("scheduled runs: claim a tick", logattr.Flow(fl.ID), logattr.Slug(fl.Slug), "cron", tr.Cron, "err", err)
				}
				continue // another server has it, or the database refused: once per trigger and tick at most
			}
			// A claimed tick is started even when the server is stopping:
			// no other server will start it.
			if err := s.startScheduled(context.WithoutCancel(ctx), fl, f, tr.Cron); err != nil {
				s.log.Warn("scheduled run did not start", logattr.Flow(fl.ID), logattr.Slug(fl.Slug), "cron", tr.Cron, "err", err)
			} else {
				started++
			}
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
	return dueIn(parser, engine.Trigger{Cron: spec}, tick)
}

// dueIn reports whether the cron of tr, read with parser in the trigger's
// zone, falls on tick. The schedule is read on the zone's wall clock, so
// "0 6 * * *" in Europe/Paris is 05:00 UTC in winter and 04:00 UTC in
// summer; a time the clocks skip (02:30 on the night they go forward) does
// not happen that day, and a fixed time they repeat (02:30 on the night
// they go back) happens once, at its first occurrence, as in Vixie cron;
// a schedule with a wildcard hour (*/5 * * * *) keeps firing through the
// repeated hour.
func dueIn(parser cron.Parser, tr engine.Trigger, tick time.Time) bool {
	sched, loc, err := parseTrigger(parser, tr)
	if err != nil {
		return false
	}
	at := tick.In(loc)
	if !sched.Next(at.Add(-time.Second)).Equal(tick) {
		return false
	}
	return !fixedHour(tr.Cron) || !repeatedWallTime(at)
}

// fixedHour reports whether a cron fires at set hours of the day (its hour
// field has no wildcard), not every hour.
func fixedHour(spec string) bool {
	f := strings.Fields(spec)
	switch {
	case len(f) == 1 && strings.HasPrefix(f[0], "@"):
		return f[0] != "@hourly" && !strings.HasPrefix(f[0], "@every")
	case len(f) == 5:
		return !strings.Contains(f[1], "*")
	case len(f) == 6: // with seconds (the tests' parser)
		return !strings.Contains(f[2], "*")
	}
	return false
}

// repeatedWallTime reports whether the wall-clock time of t already
// happened earlier the same night, before the clocks went back (zones move
// by at most two hours, in steps of at least 15 minutes).
func repeatedWallTime(t time.Time) bool {
	for d := 15 * time.Minute; d <= 2*time.Hour; d += 15 * time.Minute {
		e := t.Add(-d).In(t.Location())
		if e.Hour() == t.Hour() && e.Minute() == t.Minute() && e.Second() == t.Second() && e.YearDay() == t.YearDay() {
			return true
		}
	}
	return false
}

// parseTrigger reads a cron trigger's schedule and zone.
func parseTrigger(parser cron.Parser, tr engine.Trigger) (cron.Schedule, *time.Location, error) {
	spec := strings.TrimSpace(tr.Cron)
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		return nil, nil, fmt.Errorf("write the zone as timezone: beside cron, not in the cron text")
	}
	if tr.Timezone != "" && !engine.KnownZone(tr.Timezone) {
		return nil, nil, fmt.Errorf("timezone %q is not a known zone; write an IANA name such as Europe/Paris", tr.Timezone)
	}
	loc, err := time.LoadLocation(tr.EffectiveTimezone())
	if err != nil {
		return nil, nil, fmt.Errorf("timezone %q is not a known zone; write an IANA name such as Europe/Paris", tr.Timezone)
	}
	if strings.HasPrefix(spec, "@") {
		// robfig/cron reads more (@every) than the scheduler can fire.
		if msg := flow.CronDescriptorProblem(spec); msg != "" {
			return nil, nil, errors.New(msg)
		}
	}
	sched, err := parser.Parse(spec)
	if err != nil {
		return nil, nil, fmt.Errorf("cron %q: %v", spec, err)
	}
	return sched, loc, nil
}

// maxNextFires bounds how many fire times nextFires computes.
const maxNextFires = 10

// nextFires returns the next n (at most maxNextFires) times the cron
// trigger tr fires after from, in the trigger's zone, or why it cannot.
// A schedule that never fires again (a past year) gives fewer.
func nextFires(tr engine.Trigger, from time.Time, n int) ([]time.Time, error) {
	sched, loc, err := parseTrigger(cronParser, tr)
	if err != nil {
		return nil, err
	}
	n = min(n, maxNextFires)
	out := make([]time.Time, 0, n)
	t := from.In(loc)
	fixed := fixedHour(tr.Cron)
	for i := 0; len(out) < n && i < 2*n; i++ { // a repeat is skipped at most once a night
		t = sched.Next(t)
		if t.IsZero() {
			break
		}
		if fixed && repeatedWallTime(t) {
			continue
		}
		out = append(out, t)
	}
	return out, nil
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
