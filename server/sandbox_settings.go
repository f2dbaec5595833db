package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/sandbox"
	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/views"
)

// sandboxSettingsSetter stores a workspace's sandbox settings.
type sandboxSettingsSetter interface {
	SetSandboxSettings(ctx context.Context, g store.SandboxSettings) error
}

var _ sandboxSettingsSetter = (*store.Store)(nil)

// actSandboxConfigured is the audit action of a change of the sandbox
// settings.
const actSandboxConfigured = "sandbox.configured"

// sandboxLimits are the limits and network reach a workspace's runs get:
// its owners' settings, else sandbox.DefaultLimits.
func (m *Runs) sandboxLimits(ctx context.Context, wsID string) (sandbox.Limits, bool) {
	g, err := m.store.SandboxSettings(ctx, wsID)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			m.log.Warn("read sandbox settings; using the defaults", "err", err)
		}
		return sandbox.DefaultLimits, false
	}
	return sandbox.Limits{Procs: g.MaxProcs, Files: g.MaxFiles, FileSize: g.MaxFileSize, Memory: g.MaxMemory}, g.HostLoopback
}

// sandboxSection fills the Settings section on the sandbox.
func (s *Server) sandboxSection(r *http.Request, a access, props *views.SettingsProps) error {
	lim, loop := s.runs.sandboxLimits(r.Context(), a.Workspace.ID)
	props.Sandbox = views.SandboxSection{
		CanManage: a.Role == engine.RoleOwner, Enabled: s.sandbox,
		Procs: strconv.FormatInt(lim.Procs, 10), Files: strconv.FormatInt(lim.Files, 10),
		FileSizeMiB: strconv.FormatInt(lim.FileSize>>20, 10), MemoryMiB: strconv.FormatInt(lim.Memory>>20, 10),
		HostLoopback: loop, Errors: map[string]string{},
	}
	return nil
}

// POST /w/{ws}/sandbox
func (s *Server) sandboxSettingsSave(w http.ResponseWriter, r *http.Request) error {
	a, err := s.workspaceAccess(r.Context(), r.PathValue("ws"), engine.RoleOwner)
	if err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		return errorf(http.StatusBadRequest, "bad_form", "", "the form could not be read")
	}
	props, err := s.settingsProps(r, a)
	if err != nil {
		return err
	}
	sec := &props.Sandbox
	sec.HostLoopback = r.PostFormValue("host_loopback") != ""
	g := store.SandboxSettings{WorkspaceID: a.Workspace.ID, HostLoopback: sec.HostLoopback, UpdatedBy: principalFrom(r.Context()).User.ID}
	for _, f := range []struct {
		name, label string
		shown       *string
		v           *int64
		unit        int64
		max         int64
	}{
		{"procs", "processes", &sec.Procs, &g.MaxProcs, 1, 1 << 22},
		{"files", "open files", &sec.Files, &g.MaxFiles, 1, 1 << 20},
		{"file_size", "the largest file", &sec.FileSizeMiB, &g.MaxFileSize, 1 << 20, 1 << 24},
		{"memory", "memory", &sec.MemoryMiB, &g.MaxMemory, 1 << 20, 1 << 24},
	} {
		text := strings.TrimSpace(r.PostFormValue(f.name))
		*f.shown = text
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil || n < 0 || n > f.max {
			sec.Errors[f.name] = fmt.Sprintf("give %s as a whole number from 0 (no limit) to %d", f.label, f.max)
			continue
		}
		*f.v = n * f.unit
	}
	// A limit so low that no cell can start is a mistake, not a setting.
	if g.MaxProcs > 0 && g.MaxProcs < 8 {
		sec.Errors["procs"] = "allow at least 8 processes (a cell's shell and the commands it starts), or 0 for no limit"
	}
	if g.MaxFiles > 0 && g.MaxFiles < 32 {
		sec.Errors["files"] = "allow at least 32 open files, or 0 for no limit"
	}
	if g.MaxMemory > 0 && g.MaxMemory < 64<<20 {
		sec.Errors["memory"] = "allow at least 64 MiB, or 0 for no limit"
	}
	w.Header().Set("Cache-Control", "no-store")
	if len(sec.Errors) > 0 {
		return s.render(w, r, http.StatusUnprocessableEntity, views.SettingsPage(props))
	}
	if err := s.stores.sandbox.SetSandboxSettings(r.Context(), g); err != nil {
		return err
	}
	detail := fmt.Sprintf("processes %d, files %d, file size %d MiB, memory %d MiB, host loopback %v", g.MaxProcs, g.MaxFiles, g.MaxFileSize>>20, g.MaxMemory>>20, g.HostLoopback)
	s.audit(r.Context(), r, actSandboxConfigured, "sandbox", detail)
	sec.Saved = true
	return s.render(w, r, http.StatusOK, views.SettingsPage(props))
}
