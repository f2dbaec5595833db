package server

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/gitsync"
	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/views"
)

// gitSection fills the settings' git part: the remote, branch and folder,
// and which credential secrets are set (names only).
func (s *Server) gitSection(r *http.Request, a access, props *views.SettingsProps) error {
	sec := views.GitSection{CanManage: a.Role == engine.RoleOwner, Branch: "main", Errors: map[string]string{}}
	st, err := s.stores.git.GitSettings(r.Context(), a.Workspace.ID)
	switch {
	case err == nil:
		sec.Configured, sec.Remote, sec.Branch, sec.Folder = true, st.Remote, st.Branch, st.Folder
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	set := map[string]bool{}
	for _, it := range props.Secrets.Items {
		set[it.Name] = true
	}
	for _, name := range gitSecretNames {
		sec.Secrets = append(sec.Secrets, views.GitSecret{Name: name, Set: set[name]})
	}
	props.Git = sec
	return nil
}

// POST /w/{ws}/git (owner): remote, branch, folder. The remote is opened
// (cloned, fetched) before the settings are kept; what went wrong is shown
// beside the field. An empty remote stops syncing.
func (s *Server) gitSettingsSave(w http.ResponseWriter, r *http.Request) error {
	a, err := s.workspaceAccess(r.Context(), r.PathValue("ws"), engine.RoleOwner)
	if err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return errorf(http.StatusBadRequest, "bad_form", "", "the form could not be read")
	}
	ctx := r.Context()
	remote := strings.TrimSpace(r.PostFormValue("remote"))
	branch := strings.TrimSpace(r.PostFormValue("branch"))
	folder := strings.TrimSpace(r.PostFormValue("folder"))
	if branch == "" {
		branch = "main"
	}
	render := func(status int, field, msg string) error {
		props, err := s.settingsProps(r, a)
		if err != nil {
			return err
		}
		props.Git.Remote, props.Git.Branch, props.Git.Folder = remote, branch, folder
		if msg != "" {
			props.Git.Errors[field] = msg
		} else {
			props.Git.Saved = true
		}
		w.Header().Set("Cache-Control", "no-store")
		return s.render(w, r, status, views.SettingsPage(props))
	}
	ctx, unlock, err := s.git.lock(ctx, a.Workspace.ID)
	if err != nil {
		return err
	}
	defer unlock()
	if remote == "" {
		err := s.stores.git.DeleteGitSettings(ctx, a.Workspace.ID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		s.git.forget(a.Workspace.ID)
		if err == nil {
			s.audit(ctx, r, actGitConfigured, "git", "off")
		}
		return render(http.StatusOK, "", "")
	}
	if len(remote) > 2000 || len(branch) > 250 || len(folder) > 500 {
		return render(http.StatusUnprocessableEntity, "remote", "that is too long for a remote, a branch or a folder")
	}
	if u, err := url.Parse(remote); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			return render(http.StatusUnprocessableEntity, "remote", "keep the token out of the URL: put it in the secret GIT_TOKEN (and the user name in GIT_USERNAME)")
		}
	}
	cfg, err := s.git.configOf(ctx, a.Workspace.ID, remote, branch, folder)
	if err != nil {
		if errors.Is(err, errNoBox) {
			return render(http.StatusServiceUnavailable, "remote", err.Error())
		}
		return err
	}
	sy, err := gitsync.Open(ctx, cfg)
	if err != nil {
		return render(http.StatusUnprocessableEntity, gitErrorField(err), err.Error())
	}
	if err := s.stores.git.SetGitSettings(ctx, store.GitSettings{WorkspaceID: a.Workspace.ID, Remote: remote, Branch: branch, Folder: folder, UpdatedBy: principalFrom(ctx).User.ID}); err != nil {
		return err
	}
	s.git.install(ctx, a.Workspace.ID, sy, configKey(cfg))
	s.audit(ctx, r, actGitConfigured, "git", sy.Config().Remote+" branch "+branch+" folder "+orRoot(folder))
	return render(http.StatusOK, "", "")
}

// gitErrorField is the settings field an Open error is about.
func gitErrorField(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "valid branch name"):
		return "branch"
	case strings.Contains(msg, "is not a plain relative path"):
		return "folder"
	}
	return "remote"
}

func orRoot(folder string) string {
	if folder == "" {
		return "(root)"
	}
	return folder
}
