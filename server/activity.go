package server

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/views"
)

// auditReader is what the activity page and the audit API read.
type auditReader interface {
	Members(ctx context.Context, wsID string) ([]store.Member, error)
	Audit(ctx context.Context, q store.AuditQuery) ([]store.AuditEntry, error)
}

var _ auditReader = (*store.Store)(nil)

// auditQuery reads the filters: action, user, since and until (YYYY-MM-DD
// or RFC 3339; until's day is included), before (an entry id), limit.
func auditQuery(r *http.Request, wsID string) (store.AuditQuery, error) {
	v := r.URL.Query()
	q := store.AuditQuery{WorkspaceID: wsID, Action: strings.TrimSpace(v.Get("action")), User: strings.TrimSpace(v.Get("user"))}
	var err error
	if q.Since, err = parseDay(v.Get("since"), false); err != nil {
		return q, errorf(http.StatusBadRequest, "since", "since", "since is a date (YYYY-MM-DD) or a time (RFC 3339)")
	}
	if q.Until, err = parseDay(v.Get("until"), true); err != nil {
		return q, errorf(http.StatusBadRequest, "until", "until", "until is a date (YYYY-MM-DD) or a time (RFC 3339)")
	}
	if b := v.Get("before"); b != "" {
		if q.Before, err = strconv.ParseInt(b, 10, 64); err != nil || q.Before < 0 {
			return q, errorf(http.StatusBadRequest, "before", "before", "before is an entry id")
		}
	}
	if l := v.Get("limit"); l != "" {
		if q.Limit, err = strconv.Atoi(l); err != nil || q.Limit < 1 || q.Limit > 1000 {
			return q, errorf(http.StatusBadRequest, "limit", "limit", "limit is from 1 to 1000")
		}
	}
	return q, nil
}

func parseDay(v string, endOfDay bool) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		if endOfDay {
			t = t.Add(24 * time.Hour)
		}
		return t, nil
	}
	return time.Parse(time.RFC3339, v)
}

// GET /w/{ws}/activity (owner): the workspace's audit log.
func (s *Server) activity(w http.ResponseWriter, r *http.Request) error {
	a, err := s.workspaceAccess(r.Context(), r.PathValue("ws"), engine.RoleOwner)
	if err != nil {
		return err
	}
	v := r.URL.Query()
	props := views.ActivityProps{Page: s.pageOf(r, "Activity", a.Workspace.Slug, "activity"), Actions: auditActions,
		Action: v.Get("action"), User: v.Get("user"), Since: v.Get("since"), Until: v.Get("until")}
	if members, err := s.stores.activity.Members(r.Context(), a.Workspace.ID); err == nil {
		for _, m := range members {
			props.Users = append(props.Users, m.User.Name)
		}
	}
	q, err := auditQuery(r, a.Workspace.ID)
	status := http.StatusOK
	if err != nil {
		props.Error, status = s.classify(r, err).Message, http.StatusBadRequest
	} else {
		q.Limit = 200
		entries, err := s.stores.activity.Audit(r.Context(), q)
		if err != nil {
			return err
		}
		for _, e := range entries {
			props.Entries = append(props.Entries, views.ActivityEntry{At: e.At, Actor: e.ActorName, Action: e.Action, Target: e.Target, Detail: e.Detail, IP: e.IP, UserAgent: e.UserAgent})
		}
		if len(entries) == q.Limit {
			more := r.URL.Query()
			more.Set("before", strconv.FormatInt(entries[len(entries)-1].ID, 10))
			props.More = "/w/" + url.PathEscape(a.Workspace.Slug) + "/activity?" + more.Encode()
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	return s.render(w, r, status, views.ActivityPage(props))
}

// GET /api/v1/audit?action=&user=&since=&until=&before=&limit= (owner)
func (s *Server) apiAudit(w http.ResponseWriter, r *http.Request) error {
	a, err := s.apiWorkspace(r, engine.RoleOwner)
	if err != nil {
		return err
	}
	q, err := auditQuery(r, a.Workspace.ID)
	if err != nil {
		return err
	}
	entries, err := s.stores.activity.Audit(r.Context(), q)
	if err != nil {
		return err
	}
	type entry struct {
		ID        int64  `json:"id"`
		At        string `json:"at"`
		User      string `json:"user"`
		Action    string `json:"action"`
		Target    string `json:"target"`
		Detail    string `json:"detail,omitempty"`
		IP        string `json:"ip"`
		UserAgent string `json:"user_agent"`
	}
	out := []entry{}
	for _, e := range entries {
		out = append(out, entry{ID: e.ID, At: fmtTime(e.At), User: e.ActorName, Action: e.Action, Target: e.Target, Detail: e.Detail, IP: e.IP, UserAgent: e.UserAgent})
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": out})
	return nil
}
