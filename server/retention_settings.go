package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/views"
)

// actRetentionConfigured is the audit action of a change of a
// workspace's retention.
const actRetentionConfigured = "retention.configured"

// retentionStore is what the retention section needs of the store.
type retentionStore interface {
	RetentionOf(ctx context.Context, wsID string) (store.Retention, error)
	SetRetention(ctx context.Context, g store.Retention) error
	DiskUseOf(ctx context.Context, wsID string) (store.DiskUse, error)
}

var _ retentionStore = (*store.Store)(nil)

// maxDiskWalk bounds the files counted in one folder of a workspace, so
// that showing the settings never walks a huge tree whole.
const maxDiskWalk = 100_000

// retentionSection fills the Settings section on retention and disk use;
// only owners see it.
func (s *Server) retentionSection(r *http.Request, a access, props *views.SettingsProps) error {
	if a.Role != engine.RoleOwner {
		return nil
	}
	st := s.stores.retention
	g, err := st.RetentionOf(r.Context(), a.Workspace.ID)
	if err != nil {
		return err
	}
	d, err := st.DiskUseOf(r.Context(), a.Workspace.ID)
	if err != nil {
		return err
	}
	disk := views.DiskUse{Runs: d.Runs, LogBytes: engine.FormatBytes(d.LogBytes)}
	var scratch int64
	var partial bool
	// The scratch database is kept in one of two places (engine/scratch):
	// under workspaces/ on one machine, under scratch-cache/ when shared.
	for _, dir := range []string{filepath.Join(s.cfg.DataDir, "workspaces", a.Workspace.ID), filepath.Join(s.cfg.DataDir, "scratch-cache", a.Workspace.ID)} {
		n, cut := dirSize(dir, maxDiskWalk)
		scratch, partial = scratch+n, partial || cut
	}
	gitBytes, cut := dirSize(filepath.Join(s.cfg.DataDir, "git", a.Workspace.ID), maxDiskWalk)
	disk.Scratch, disk.Git, disk.Partial = engine.FormatBytes(scratch), engine.FormatBytes(gitBytes), partial || cut
	props.Retention = views.RetentionSection{
		CanManage:    true,
		KeepRunsDays: strconv.Itoa(g.KeepRunsDays), KeepLogsDays: strconv.Itoa(g.KeepLogsDays),
		Errors: map[string]string{}, Disk: disk,
	}
	return nil
}

// dirSize sums the sizes of the regular files under dir, counting at most
// limit entries (then cut is true). A folder that does not exist is 0.
func dirSize(dir string, limit int) (n int64, cut bool) {
	seen := 0
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable or gone: not counted
		}
		if seen++; seen > limit {
			cut = true
			return fs.SkipAll
		}
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n, cut
}

// POST /w/{ws}/retention
func (s *Server) retentionSave(w http.ResponseWriter, r *http.Request) error {
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
	sec := &props.Retention
	g := store.Retention{WorkspaceID: a.Workspace.ID, UpdatedBy: principalFrom(r.Context()).User.ID}
	for _, f := range []struct {
		name, label string
		shown       *string
		v           *int
	}{
		{"keep_runs_days", "runs", &sec.KeepRunsDays, &g.KeepRunsDays},
		{"keep_logs_days", "logs", &sec.KeepLogsDays, &g.KeepLogsDays},
	} {
		text := strings.TrimSpace(r.PostFormValue(f.name))
		*f.shown = text
		n, err := strconv.Atoi(text)
		if err != nil || n < 0 || n > store.MaxRetentionDays {
			sec.Errors[f.name] = fmt.Sprintf("keep %s a whole number of days from 0 (forever) to %d", f.label, store.MaxRetentionDays)
			continue
		}
		*f.v = n
	}
	w.Header().Set("Cache-Control", "no-store")
	if len(sec.Errors) > 0 {
		return s.render(w, r, http.StatusUnprocessableEntity, views.SettingsPage(props))
	}
	st := s.stores.retention
	if err := st.SetRetention(r.Context(), g); errors.Is(err, store.ErrInvalid) {
		return errorf(http.StatusUnprocessableEntity, "invalid", "", err.Error())
	} else if err != nil {
		return err
	}
	s.audit(r.Context(), r, actRetentionConfigured, "retention", fmt.Sprintf("keep runs %s, keep logs %s", days(g.KeepRunsDays), days(g.KeepLogsDays)))
	sec.Saved = true
	return s.render(w, r, http.StatusOK, views.SettingsPage(props))
}

// days says a retention in words: "forever" for 0.
func days(n int) string {
	if n == 0 {
		return "forever"
	}
	return strconv.Itoa(n) + " days"
}
