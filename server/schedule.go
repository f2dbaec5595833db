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

// schedule starts the runs of cron triggers: each minute it looks at the
// published version of every flow and starts those whose schedule falls on
// that minute. With several servers on one database, a row per flow and
// minute (ClaimCronFire) makes exactly one of them start the run.
func (s *Server) schedule(ctx context.Context) {
	defer close(s.scheduleDone)
	for {
		next := time.Now().Truncate(time.Minute).Add(time.Minute)
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		s.fireDue(ctx, next)
	}
}

// fireDue starts the runs whose cron schedule falls on minute.
func (s *Server) fireDue(ctx context.Context, minute time.Time) int {
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
			if tr.Cron == "" || !cronDue(tr.Cron, minute) {
				continue
			}
			if ok, err := s.store.ClaimCronFire(ctx, fl.ID, minute); err != nil || !ok {
				break // another server has it, or the database refused: once per minute at most
			}
			if err := s.startScheduled(ctx, fl, f, tr.Cron); err != nil {
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
	sched, err := cronParser.Parse(strings.TrimSpace(spec))
	if err != nil {
		return false
	}
	m := minute.UTC().Truncate(time.Minute)
	return sched.Next(m.Add(-time.Second)).Equal(m)
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
