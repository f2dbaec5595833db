package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/flow"
	"github.com/opsbook/opsbook/engine/gitsync"
	"github.com/opsbook/opsbook/engine/run"
	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/views"
)

// gitSides reads both sides of a flow: its latest version here, and its
// folder in git at the remote head as last fetched.
func (s *Server) gitSides(ctx context.Context, sy *gitsync.Syncer, fs store.FlowSummary) (store.FlowGit, store.Version, gitsync.Change, error) {
	fg, err := s.stores.git.FlowGitOf(ctx, fs.ID)
	if err != nil {
		return fg, store.Version{}, gitsync.Change{}, err
	}
	var v store.Version
	if fg.Latest > 0 {
		if v, err = s.stores.git.Version(ctx, fs.ID, fg.Latest); err != nil {
			return fg, v, gitsync.Change{}, err
		}
	}
	c, err := sy.Read(ctx, fs.Slug)
	return fg, v, c, err
}

// gitResolveProps fills the compare page: both sides and their diff.
func (s *Server) gitResolveProps(r *http.Request, a access, fs store.FlowSummary) (views.GitResolveProps, error) {
	ctx := r.Context()
	props := views.GitResolveProps{
		Page: s.pageOf(r, fs.Name+" · git", a.Workspace.Slug, "flows"), Slug: fs.Slug, FlowName: fs.Name,
		CanResolve: a.Role.AtLeast(engine.RoleEditor),
	}
	ctx, unlock, err := s.git.lock(ctx, a.Workspace.ID)
	if err != nil {
		return props, err
	}
	defer unlock()
	sy, err := s.git.syncer(ctx, a.Workspace.ID)
	if err != nil {
		return props, err
	}
	if err := sy.Fetch(ctx); err != nil {
		props.Error = err.Error()
	}
	fg, v, c, err := s.gitSides(ctx, sy, fs)
	if err != nil {
		return props, err
	}
	st := s.git.status(ctx, sy, fg)
	props.Status = views.GitChip{Status: string(st), Label: st.Label(), Error: fg.Error}
	props.Latest = v.Number
	props.Commit, props.CommitShort, props.Author, props.Message, props.Deleted = c.Commit, shortCommit(c.Commit), c.Author.Name, firstLine(c.Message), c.Deleted
	if c.Err != nil {
		props.GitError = c.Err.Error()
	}
	here, err := flowFromFiles(v.Files)
	if err != nil {
		return props, err
	}
	there := &engine.Flow{}
	if c.Flow != nil {
		there = c.Flow
	}
	props.Diff = flow.Compare(here, there)
	return props, nil
}

// GET /w/{ws}/flows/{slug}/git (editor): the flow's latest version beside
// its folder in git, with what differs, and the two ways to settle a
// conflict.
func (s *Server) gitResolvePage(w http.ResponseWriter, r *http.Request) error {
	a, fs, err := s.flowAccess(r, engine.RoleEditor)
	if err != nil {
		return err
	}
	props, err := s.gitResolveProps(r, a, fs)
	if err != nil {
		return err
	}
	if r.URL.Query().Get("done") != "" {
		props.Notice = resolveNotice(r.URL.Query().Get("done"), r.URL.Query().Get("v"))
	}
	w.Header().Set("Cache-Control", "no-store")
	return s.render(w, r, http.StatusOK, views.GitResolvePage(props))
}

func resolveNotice(done, v string) string {
	switch done {
	case "git":
		if v == "" || v == "0" {
			return "Git's side is kept: the flow is no longer in git; save a version to add it again."
		}
		return "Git's side is kept as v" + v + "."
	case "here":
		return "This side is committed to git over git's."
	}
	return ""
}

// POST /w/{ws}/flows/{slug}/git/resolve (editor): side=git keeps git's
// folder as a new version; side=here commits the latest version over
// git's (git's commit stays in its history). commit is git's commit the
// person saw: when git moved since, nothing happens and the page shows
// the new state, so nothing is overwritten unseen.
func (s *Server) gitResolve(w http.ResponseWriter, r *http.Request) error {
	a, fs, err := s.flowAccess(r, engine.RoleEditor)
	if err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return errorf(http.StatusBadRequest, "bad_form", "", "the form could not be read")
	}
	side, seen := r.PostFormValue("side"), r.PostFormValue("commit")
	if side != "git" && side != "here" {
		return errorf(http.StatusUnprocessableEntity, "invalid", "side", "choose which side to keep: git or here")
	}
	ctx := r.Context()
	user := principalFrom(ctx).User
	fail := func(status int, msg string) error {
		props, err := s.gitResolveProps(r, a, fs)
		if err != nil {
			return err
		}
		props.Error = msg
		return s.render(w, r, status, views.GitResolvePage(props))
	}
	n, err := s.resolveGit(ctx, a, fs, user, side, seen)
	var moved errMoved
	switch {
	case errors.As(err, &moved):
		return fail(http.StatusConflict, "git changed again since this page was shown (now at "+shortCommit(string(moved))+"); compare the sides again")
	case errors.Is(err, errGitOff):
		return err
	case err != nil:
		e := s.classify(r, err)
		msg := e.Message
		if e.Status >= 500 {
			msg = err.Error()
		}
		return fail(http.StatusUnprocessableEntity, msg)
	}
	s.audit(ctx, r, actGitResolved, "flow "+fs.Slug, "kept "+map[string]string{"git": "git's side", "here": "Opsbook's side"}[side]+" (commit "+shortCommit(seen)+")")
	http.Redirect(w, r, "/w/"+a.Workspace.Slug+"/flows/"+fs.Slug+"/git?done="+side+"&v="+strconv.Itoa(n), http.StatusSeeOther)
	return nil
}

// errMoved: git's side is no longer the one the person saw.
type errMoved string

func (e errMoved) Error() string { return "git moved to " + string(e) }

// resolveGit settles a flow's conflict; it returns the version stored when
// git's side was kept.
func (s *Server) resolveGit(ctx context.Context, a access, fs store.FlowSummary, user store.User, side, seen string) (int, error) {
	ctx, unlock, err := s.git.lock(ctx, a.Workspace.ID)
	if err != nil {
		return 0, err
	}
	defer unlock()
	sy, err := s.git.syncer(ctx, a.Workspace.ID)
	if err != nil {
		return 0, err
	}
	_, v, c, err := s.gitSides(ctx, sy, fs)
	if err != nil {
		return 0, err
	}
	if c.Commit != seen {
		return 0, errMoved(c.Commit)
	}
	if side == "here" {
		if v.Number == 0 {
			return 0, errorf(http.StatusUnprocessableEntity, "invalid", "", "this flow has no version to commit; save one first")
		}
		if c.Commit != "" {
			if err := sy.MarkSynced(ctx, fs.Slug, c.Commit); err != nil {
				return 0, err
			}
		}
		msg := v.Message
		if msg == "" {
			msg = "Update " + fs.Slug
		}
		if err := s.checkVersionSecrets(ctx, fs.WorkspaceID, v.Files); err != nil {
			return 0, err
		}
		hash, err := sy.Commit(ctx, fs.Slug, flowFiles(v.Files), gitSignature(user), msg+" (kept over git's "+shortCommit(c.Commit)+")", nil)
		s.git.recordHead(ctx, a.Workspace.ID, sy)
		if err != nil {
			s.git.recordError(ctx, fs.ID, err.Error())
			return 0, err
		}
		return 0, s.stores.git.SetFlowGit(ctx, fs.ID, hash, v.Hash, "")
	}
	if c.Commit == "" {
		return 0, errorf(http.StatusUnprocessableEntity, "invalid", "", "git holds nothing yet; keep this side to add the flow")
	}
	if c.Deleted {
		// Accepting the removal keeps the flow here, out of git.
		if err := sy.MarkSynced(ctx, fs.Slug, c.Commit); err != nil {
			return 0, err
		}
		return 0, s.stores.git.SetFlowGit(ctx, fs.ID, c.Commit, "", "")
	}
	if c.Err != nil {
		return 0, errorf(http.StatusUnprocessableEntity, "invalid", "", c.Err.Error()+"; fix it in git, or keep this side")
	}
	if _, err := run.Compile(c.Flow); err != nil {
		return 0, errorf(http.StatusUnprocessableEntity, "invalid", "", "git's side does not compile: "+err.Error()+"; fix it in git, or keep this side")
	}
	nv, err := s.stores.git.ImportVersion(ctx, fs.ID, c.Flow, store.Version{
		Message: "Kept git's side " + shortCommit(c.Commit) + ": " + firstLine(c.Message), Author: user.ID, Hash: c.Hash, Files: storeFiles(c.FlowFiles()),
	})
	if err != nil {
		return 0, err
	}
	s.publishDraft(ctx, fs.ID, user.Name)
	s.git.synced(ctx, sy, fs.ID, fs.Slug, c.Commit, c.Hash)
	return nv.Number, nil
}
