package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/secret"
	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/views"
)

// secretStore keeps a workspace's sealed secrets.
type secretStore interface {
	Secrets(ctx context.Context, wsID string) ([]store.Secret, error)
	SetSecret(ctx context.Context, wsID, name, sealed, by string) (created bool, err error)
	DeleteSecret(ctx context.Context, wsID, name string) error
}

var _ secretStore = (*store.Store)(nil)

// secretsSection fills the settings' secrets: names only, never values.
func (s *Server) secretsSection(r *http.Request, a access, props *views.SettingsProps) error {
	list, err := s.stores.secrets.Secrets(r.Context(), a.Workspace.ID)
	if err != nil {
		return err
	}
	sec := views.SecretsSection{CanManage: a.Role == engine.RoleOwner, Errors: map[string]string{}}
	if s.box == nil {
		sec.Off = errNoBox.Error()
	}
	names := userNames{s: s}
	for _, it := range list {
		item := views.SecretItem{Name: it.Name, UpdatedAt: it.UpdatedAt}
		if it.UpdatedBy != "" {
			item.UpdatedBy = names.get(r.Context(), it.UpdatedBy)
		}
		if c, ok := strings.CutPrefix(it.Name, connectionPrefix); ok && c != "" {
			item.Connection = strings.ToLower(c)
		}
		sec.Items = append(sec.Items, item)
	}
	props.Secrets = sec
	return nil
}

// setSecret validates, seals and stores a secret, and records whether it
// was created or changed.
func (s *Server) setSecret(ctx context.Context, r *http.Request, ws store.Workspace, name, value string) (field, msg string, err error) {
	if m := checkSecretName(name); m != "" {
		return "name", m, nil
	}
	if m := checkSecretValue(name, value); m != "" {
		return "value", m, nil
	}
	if s.box == nil {
		return "", "", errNoBox
	}
	created, err := s.stores.secrets.SetSecret(ctx, ws.ID, name, s.box.Seal(value, secret.Context(ws.ID, name)), principalFrom(ctx).User.ID)
	if errors.Is(err, store.ErrKeyRetired) {
		// The key was rotated since this server read it: read it again and
		// seal with the new one.
		if rerr := s.box.Reload(); rerr != nil {
			return "", "", fmt.Errorf("the secret key was rotated and could not be read again (restart with the new key): %w", rerr)
		}
		created, err = s.stores.secrets.SetSecret(ctx, ws.ID, name, s.box.Seal(value, secret.Context(ws.ID, name)), principalFrom(ctx).User.ID)
		if errors.Is(err, store.ErrKeyRetired) {
			return "", "", errorf(http.StatusServiceUnavailable, "key_retired", "", "this server still holds a secret key that was rotated out: restart it with the new OPSBOOK_SECRET_KEY")
		}
	}
	if err != nil {
		return "", "", err
	}
	action := actSecretChanged
	if created {
		action = actSecretCreated
	}
	s.auditIn(ctx, r, ws.ID, action, "secret "+name, "")
	return "", "", nil
}

// POST /w/{ws}/secrets (owner): set or replace a secret. Fields: name, value.
func (s *Server) secretSet(w http.ResponseWriter, r *http.Request) error {
	a, err := s.workspaceAccess(r.Context(), r.PathValue("ws"), engine.RoleOwner)
	if err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxSecretBytes+8<<10)
	name, value := strings.TrimSpace(r.PostFormValue("name")), r.PostFormValue("value")
	field, msg, err := s.setSecret(r.Context(), r, a.Workspace, name, value)
	if err != nil && !errors.Is(err, errNoBox) {
		return err
	}
	props, perr := s.settingsProps(r, a)
	if perr != nil {
		return perr
	}
	w.Header().Set("Cache-Control", "no-store")
	switch {
	case err != nil:
		props.Secrets.Errors[""] = err.Error()
		props.Secrets.Name = name
		return s.render(w, r, http.StatusServiceUnavailable, views.SettingsPage(props))
	case msg != "":
		props.Secrets.Errors[field] = msg
		props.Secrets.Name = name
		return s.render(w, r, http.StatusUnprocessableEntity, views.SettingsPage(props))
	}
	props.Secrets.Saved = name
	return s.render(w, r, http.StatusOK, views.SettingsPage(props))
}

// POST /w/{ws}/secrets/{name}/delete (owner)
func (s *Server) secretDelete(w http.ResponseWriter, r *http.Request) error {
	a, err := s.workspaceAccess(r.Context(), r.PathValue("ws"), engine.RoleOwner)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	if err := s.stores.secrets.DeleteSecret(r.Context(), a.Workspace.ID, name); err != nil {
		return err
	}
	s.auditIn(r.Context(), r, a.Workspace.ID, actSecretDeleted, "secret "+name, "")
	http.Redirect(w, r, "/w/"+a.Workspace.Slug+"/settings#secrets", http.StatusSeeOther)
	return nil
}

// GET /api/v1/secrets (owner): names, never values.
func (s *Server) apiListSecrets(w http.ResponseWriter, r *http.Request) error {
	a, err := s.apiWorkspace(r, engine.RoleOwner)
	if err != nil {
		return err
	}
	list, err := s.stores.secrets.Secrets(r.Context(), a.Workspace.ID)
	if err != nil {
		return err
	}
	out := []map[string]string{}
	for _, it := range list {
		out = append(out, map[string]string{"name": it.Name, "updated_at": fmtTime(it.UpdatedAt)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"secrets": out})
	return nil
}

// PUT /api/v1/secrets/{name} (owner): {"value": "…"}; 201 when created,
// 200 when replaced.
func (s *Server) apiPutSecret(w http.ResponseWriter, r *http.Request) error {
	a, err := s.apiWorkspace(r, engine.RoleOwner)
	if err != nil {
		return err
	}
	var body struct {
		Value string `json:"value"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxSecretBytes+8<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return errorf(http.StatusBadRequest, "bad_json", "", "the body must be {\"value\": \"…\"}")
	}
	name := r.PathValue("name")
	existed := false
	if list, err := s.stores.secrets.Secrets(r.Context(), a.Workspace.ID); err == nil {
		for _, it := range list {
			existed = existed || it.Name == name
		}
	}
	field, msg, err := s.setSecret(r.Context(), r, a.Workspace, name, body.Value)
	if err != nil {
		return err
	}
	if msg != "" {
		return errorf(http.StatusUnprocessableEntity, "invalid", field, msg)
	}
	status := http.StatusCreated
	if existed {
		status = http.StatusOK
	}
	writeJSON(w, status, map[string]string{"name": name})
	return nil
}

// DELETE /api/v1/secrets/{name} (owner)
func (s *Server) apiDeleteSecret(w http.ResponseWriter, r *http.Request) error {
	a, err := s.apiWorkspace(r, engine.RoleOwner)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	if err := s.stores.secrets.DeleteSecret(r.Context(), a.Workspace.ID, name); err != nil {
		return err
	}
	s.auditIn(r.Context(), r, a.Workspace.ID, actSecretDeleted, "secret "+name, "")
	w.WriteHeader(http.StatusNoContent)
	return nil
}
