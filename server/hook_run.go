package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
)

const (
	// maxHookBody bounds a webhook's JSON body.
	maxHookBody = 1 << 20
	// maxHookWait bounds ?wait=, as the API's run start bounds "wait".
	maxHookWait = 10 * time.Minute
)

// hookRunStore is what a webhook's run reads: the flow, its pauses, the hook's creator.
type hookRunStore interface {
	FlowByID(ctx context.Context, id string) (store.FlowSummary, error)
	WorkspaceByID(ctx context.Context, id string) (store.Workspace, error)
	TriggerPauses(ctx context.Context, flowID string) (map[string]store.TriggerPause, error)
	Member(ctx context.Context, wsID, userID string) (engine.Role, error)
	UserByID(ctx context.Context, id string) (store.User, error)
}

var _ hookRunStore = (*store.Store)(nil)

// POST /hooks/{token}: starts a run of the token's flow (the published
// version, else the latest) as the token's maker. The body is a JSON object
// of the flow's inputs. Answers 202 {"run": {"id", "url"}}; with
// ?wait=30s, 200 with the run once it has ended (202 if it has not).
func (s *Server) hookRun(w http.ResponseWriter, r *http.Request) error {
	// The token in the path is the only credential: a session cookie or a
	// bearer token sent along is no one's business here.
	ctx := withPrincipal(r.Context(), nil)
	r = r.WithContext(ctx)
	w.Header().Set("Referrer-Policy", "no-referrer")
	h, err := s.liveHook(ctx, r.PathValue("token"))
	if err != nil {
		return err
	}
	wait, err := hookWait(r.URL.Query().Get("wait"))
	if err != nil {
		return err
	}
	fs, err := s.stores.hookRun.FlowByID(ctx, h.FlowID)
	if err != nil {
		return err
	}
	ws, err := s.stores.hookRun.WorkspaceByID(ctx, h.WorkspaceID)
	if err != nil {
		return err
	}
	by, err := s.hookRunner(ctx, h)
	if err != nil {
		return err
	}
	f, version, trigger, err := s.webhookFlow(ctx, fs)
	if err != nil {
		return err
	}
	if paused, err := s.stores.hookRun.TriggerPauses(ctx, fs.ID); err != nil {
		return err
	} else if _, ok := paused[trigger.Key()]; ok {
		return errorf(http.StatusConflict, "paused", "", "this flow's webhook is paused in the studio; an editor of the flow can resume it in the notebook's Schedule panel")
	}
	if ok, retry := s.hookAllowed(r.Context(), h.ID, trigger.EffectiveRate()); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(retry.Seconds())))))
		return errorf(http.StatusTooManyRequests, "rate_limited", "", fmt.Sprintf("this webhook starts at most %d runs a second (the rate of the flow's webhook trigger); try again after Retry-After", trigger.EffectiveRate()))
	}
	inputs, err := decodeHookBody(w, r)
	if err != nil {
		return err
	}
	// The run goes on when the caller hangs up.
	run, err := s.startRun(context.WithoutCancel(ctx), r, StartRequest{
		Workspace: ws, FlowID: fs.ID, FlowSlug: fs.Slug, Flow: f, Version: version, Inputs: inputs, StartedBy: by,
	}, "via webhook "+h.ID)
	if err != nil {
		e := s.classify(r, err)
		if name, ok := strings.CutPrefix(e.Field, "inputs."); ok {
			// The body's keys are the inputs themselves.
			named := *e
			named.Field = name
			return &named
		}
		return e
	}
	if wait > 0 {
		s.waitRun(ctx, run.ID, wait)
		out, err := s.runJSON(ctx, run.ID)
		if err != nil {
			return err
		}
		if engine.RunStatus(out.Status).Done() {
			writeJSON(w, http.StatusOK, out)
			return nil
		}
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"run": map[string]string{"id": run.ID, "url": publicOrigin(r) + "/runs/" + run.ID}})
	return nil
}

// hookWait reads ?wait=: a duration up to 10m; "" is no wait.
func hookWait(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > maxHookWait {
		return 0, errorf(http.StatusBadRequest, "wait", "wait", "wait is a duration up to 10m, e.g. ?wait=30s")
	}
	return d, nil
}

// hookRunner is who a webhook's runs are started by: its maker, who must
// still be allowed to run flows in the workspace (a member removed or made
// a viewer takes their webhooks' power with them).
func (s *Server) hookRunner(ctx context.Context, h store.Hook) (store.User, error) {
	refused := errorf(http.StatusForbidden, "forbidden", "", "the person who made this webhook may no longer run flows in this workspace; ask an editor of the flow for a new webhook")
	if h.CreatedBy == "" {
		return store.User{}, refused
	}
	role, err := s.stores.hookRun.Member(ctx, h.WorkspaceID, h.CreatedBy)
	if errors.Is(err, store.ErrNotFound) || err == nil && !role.AtLeast(engine.RoleRunner) {
		return store.User{}, refused
	}
	if err != nil {
		return store.User{}, err
	}
	return s.stores.hookRun.UserByID(ctx, h.CreatedBy)
}

// decodeHookBody reads a webhook's body: one JSON object, whose keys are
// input names (an empty body is no inputs). Numbers stay json.Number, so
// each input converts them to its own type.
func decodeHookBody(w http.ResponseWriter, r *http.Request) (map[string]any, error) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxHookBody))
	dec.UseNumber()
	badJSON := func(why string) error {
		return errorf(http.StatusBadRequest, "bad_json", "", "the body must be one JSON object of the flow's inputs, like {\"day\": \"2025-01-31\"}: "+why)
	}
	var mbe *http.MaxBytesError
	var v any
	if err := dec.Decode(&v); err != nil {
		switch {
		case errors.Is(err, io.EOF):
			return map[string]any{}, nil
		case errors.As(err, &mbe):
			return nil, err
		}
		return nil, badJSON(err.Error())
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, badJSON(fmt.Sprintf("it is %s", jsonKind(v)))
	}
	if err := dec.Decode(&v); !errors.Is(err, io.EOF) {
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, badJSON("something follows the object")
	}
	return obj, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "not an object"
}
