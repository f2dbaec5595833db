package server

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/logattr"
	"github.com/opsbook/opsbook/engine/store"
)

const (
	actTriggerPaused  = "trigger.paused"
	actTriggerResumed = "trigger.resumed"
)

// triggerPauser is what pausing and resuming a flow's trigger reads, writes and tells.
type triggerPauser interface {
	FlowBySlug(ctx context.Context, wsID, slug string) (store.FlowSummary, error)
	Draft(ctx context.Context, flowID string) (store.Draft, error)
	Version(ctx context.Context, flowID string, number int) (store.Version, error)
	PauseTrigger(ctx context.Context, flowID, key, userID string) error
	ResumeTrigger(ctx context.Context, flowID, key string) (bool, error)
	TriggerPauses(ctx context.Context, flowID string) (map[string]store.TriggerPause, error)
	Notify(ctx context.Context, channel, payload string) error
}

var _ triggerPauser = (*store.Store)(nil)

// POST /w/{ws}/flows/{slug}/triggers/pause (editor). Field: key, a
// trigger's key (engine.Trigger.Key) in the draft or the published version.
// Pausing is a studio setting, kept in the database, not in the files:
// editors may already change or remove the schedule itself, so pausing
// needs no more than they have.
func (s *Server) triggerPause(w http.ResponseWriter, r *http.Request) error {
	return s.triggerSetPaused(w, r, true)
}

// POST /w/{ws}/flows/{slug}/triggers/resume (editor). Field: key. Resuming
// a trigger that is not paused (or no longer exists) changes nothing.
func (s *Server) triggerResume(w http.ResponseWriter, r *http.Request) error {
	return s.triggerSetPaused(w, r, false)
}

func (s *Server) triggerSetPaused(w http.ResponseWriter, r *http.Request, pause bool) error {
	ctx := r.Context()
	a, err := s.workspaceAccess(ctx, r.PathValue("ws"), engine.RoleEditor)
	if err != nil {
		return err
	}
	st := s.stores.triggers
	fs, err := st.FlowBySlug(ctx, a.Workspace.ID, r.PathValue("slug"))
	if err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := s.setPaused(r, st, fs, r.FormValue("key"), pause); err != nil {
		return err
	}
	http.Redirect(w, r, "/w/"+a.Workspace.Slug+"/flows/"+fs.Slug+"#schedule", http.StatusSeeOther)
	return nil
}

// POST /api/v1/flows/{slug}/triggers/pause and …/resume (editor). Body:
// {"key":"cron 0 6 * * * UTC"}. Answers {"slug","key","paused"}.
func (s *Server) apiTriggerPause(w http.ResponseWriter, r *http.Request) error {
	return s.apiTriggerSetPaused(w, r, true)
}

func (s *Server) apiTriggerResume(w http.ResponseWriter, r *http.Request) error {
	return s.apiTriggerSetPaused(w, r, false)
}

func (s *Server) apiTriggerSetPaused(w http.ResponseWriter, r *http.Request, pause bool) error {
	_, fs, err := s.apiFlowAccess(r, engine.RoleEditor)
	if err != nil {
		return err
	}
	var in struct {
		Key string `json:"key"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10)).Decode(&in); err != nil {
		return errorf(http.StatusBadRequest, "invalid", "", "send a JSON body like {\"key\":\"cron 0 6 * * * UTC\"}: "+err.Error())
	}
	if err := s.setPaused(r, s.stores.triggers, fs, in.Key, pause); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"slug": fs.Slug, "key": in.Key, "paused": pause})
	return nil
}

// setPaused pauses or resumes the flow's trigger named by key, audits it,
// and tells the flow's open notebooks.
func (s *Server) setPaused(r *http.Request, st triggerPauser, fs store.FlowSummary, key string, pause bool) error {
	ctx := r.Context()
	if key == "" || len(key) > store.MaxTriggerKey {
		return errorf(http.StatusUnprocessableEntity, "invalid", "key", "say which trigger: key is the trigger's key, like \"cron 0 6 * * * UTC\" or \"webhook\"")
	}
	if pause {
		known, err := s.knownTrigger(ctx, st, fs, key)
		if err != nil {
			return err
		}
		if !known {
			return errorf(http.StatusNotFound, "not_found", "key", "the flow has no trigger "+key+" in its draft or its published version; reload the page")
		}
		if err := st.PauseTrigger(ctx, fs.ID, key, principalFrom(ctx).User.ID); err != nil {
			return err
		}
		s.audit(ctx, r, actTriggerPaused, "flow "+fs.Slug, key)
	} else {
		was, err := st.ResumeTrigger(ctx, fs.ID, key)
		if err != nil {
			return err
		}
		if was {
			s.audit(ctx, r, actTriggerResumed, "flow "+fs.Slug, key)
		}
	}
	s.publishPaused(ctx, fs.ID, principalFrom(ctx).User.Name)
	return nil
}

// knownTrigger reports whether key names a trigger of the flow's draft or
// of its published version (the one the scheduler runs).
func (s *Server) knownTrigger(ctx context.Context, st triggerPauser, fs store.FlowSummary, key string) (bool, error) {
	d, err := st.Draft(ctx, fs.ID)
	if err != nil {
		return false, err
	}
	for _, t := range d.Flow.Triggers {
		if t.Key() == key {
			return true, nil
		}
	}
	if fs.PublishedVersion == 0 {
		return false, nil
	}
	v, err := st.Version(ctx, fs.ID, fs.PublishedVersion)
	if err != nil {
		return false, err
	}
	f, err := flowFromFiles(v.Files)
	if err != nil {
		return false, nil
	}
	for _, t := range f.Triggers {
		if t.Key() == key {
			return true, nil
		}
	}
	return false, nil
}

// publishPaused tells the flow's open notebooks, on this process and
// (through the flow's notification) on the others, which of its triggers
// are paused now.
func (s *Server) publishPaused(ctx context.Context, flowID, by string) {
	s.tellPaused(ctx, flowID, by)
	if s.pg {
		if err := s.stores.triggers.Notify(ctx, store.ChannelFlow, flowID+" "+s.process+" "+flowNoticePaused); err != nil {
			s.log.Warn("notify other processes", logattr.Flow(flowID), "err", err)
		}
	}
}

// flowNoticePaused ends a flow notification (store.ChannelFlow) that is
// about the flow's paused triggers, not its draft.
const flowNoticePaused = "paused"

// tellPaused sends the flow's paused triggers to this process's viewers.
func (s *Server) tellPaused(ctx context.Context, flowID, by string) {
	if s.hub.Subscribers(flowTopic(flowID)) == 0 {
		return
	}
	paused, err := s.stores.triggers.TriggerPauses(ctx, flowID)
	if err != nil {
		s.log.Warn("read the paused triggers", logattr.Flow(flowID), "err", err)
		return
	}
	b, err := json.Marshal(triggersPausedMsg{T: "triggers.paused", Paused: slices.Sorted(maps.Keys(paused)), By: by})
	if err == nil {
		s.hub.Publish(flowTopic(flowID), &Msg{Data: b})
	}
}
