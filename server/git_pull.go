package server

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/gitsync"
	"github.com/opsbook/opsbook/engine/logattr"
	"github.com/opsbook/opsbook/engine/run"
	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/views"
)

// What became of each folder a pull found.
const (
	pulledNew       = "new"       // a new flow, with version 1
	pulledVersion   = "version"   // a new version of a flow
	pulledSame      = "unchanged" // git holds the flow's latest version exactly
	pulledInvalid   = "invalid"   // not a valid flow: nothing stored
	pulledDeleted   = "deleted"   // removed in git: a person decides
	pulledConflict  = "conflict"  // changed on both sides: a person decides
	pulledForgotten = "forgotten" // removed in git, and not a flow here
)

// pullItem is what a pull did with one flow folder.
type pullItem struct {
	Slug    string `json:"slug"`
	Result  string `json:"result"`
	Version int    `json:"version,omitempty"`
	Commit  string `json:"commit,omitempty"`
	Message string `json:"message"`
}

// pull fetches the workspace's branch and stores every flow folder that
// changed in git as a version (a new folder as a new flow), unless the
// flow changed here too: conflicts, deletions and invalid folders are
// reported for a person, and nothing of them is stored.
func (g *gitSync) pull(ctx context.Context, a access, user store.User) ([]pullItem, error) {
	ctx, unlock, err := g.lock(ctx, a.Workspace.ID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	sy, err := g.syncer(ctx, a.Workspace.ID)
	if err != nil {
		return nil, err
	}
	changes, err := sy.Pull(ctx)
	if err != nil {
		return nil, err
	}
	g.recordHead(ctx, a.Workspace.ID, sy)
	out := []pullItem{}
	for _, c := range changes {
		it := g.pullOne(ctx, sy, a, user, c)
		out = append(out, it)
	}
	return out, nil
}

func (g *gitSync) pullOne(ctx context.Context, sy *gitsync.Syncer, a access, user store.User, c gitsync.Change) pullItem {
	it := pullItem{Slug: c.Slug, Commit: c.Commit}
	st := g.s.store
	fail := func(result, msg string) pullItem {
		it.Result, it.Message = result, msg
		return it
	}
	if c.Err != nil {
		return fail(pulledInvalid, c.Err.Error())
	}
	fs, err := st.FlowBySlug(ctx, a.Workspace.ID, c.Slug)
	exists := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fail(pulledInvalid, "read the flow: "+err.Error())
	}
	if c.Deleted {
		if !exists {
			if err := sy.MarkSynced(ctx, c.Slug, c.Commit); err != nil {
				return fail(pulledInvalid, err.Error())
			}
			return fail(pulledForgotten, "removed in git; there is no such flow here")
		}
		msg := "removed in git by commit " + shortCommit(c.Commit) + "; open the flow's git page to keep it here or accept the removal"
		g.recordError(ctx, fs.ID, msg)
		return fail(pulledDeleted, msg)
	}
	if _, err := run.Compile(c.Flow); err != nil {
		return fail(pulledInvalid, "flow "+c.Slug+" in git (commit "+shortCommit(c.Commit)+"): "+err.Error())
	}
	message := "Pulled from git " + shortCommit(c.Commit) + ": " + firstLine(c.Message)
	if c.Author.Name != "" {
		message += " (" + c.Author.Name + ")"
	}
	files := storeFiles(c.FlowFiles())
	if !exists {
		fs, err := st.ImportFlow(ctx, a.Workspace.ID, c.Slug, c.Flow, store.Version{Message: message, Author: user.ID, Hash: c.Hash, Files: files})
		if err != nil {
			return fail(pulledInvalid, "store the flow: "+g.s.classifyText(err))
		}
		g.synced(ctx, sy, fs.ID, c.Slug, c.Commit, c.Hash)
		it.Version = 1
		return fail(pulledNew, message)
	}
	fg, err := st.FlowGitOf(ctx, fs.ID)
	if err != nil {
		return fail(pulledInvalid, "read the flow's git sync: "+err.Error())
	}
	status, err := sy.Status(ctx, c.Slug, fg.LatestHash, fg.Hash)
	if err != nil {
		return fail(pulledInvalid, err.Error())
	}
	switch status {
	case gitsync.ChangedInGit, gitsync.InSync:
	case gitsync.Conflict:
		msg := "changed here and in git (commit " + shortCommit(c.Commit) + "); compare both sides and keep one"
		g.recordError(ctx, fs.ID, "conflict: "+msg)
		return fail(pulledConflict, msg)
	default:
		return fail(pulledInvalid, "git status "+status.Label()+"; nothing stored")
	}
	if status == gitsync.InSync && fg.Latest > 0 {
		// Git's bytes may already be the latest version's.
		if v, err := st.Version(ctx, fs.ID, fg.Latest); err == nil && sameStoreFiles(v.Files, files) {
			g.synced(ctx, sy, fs.ID, c.Slug, c.Commit, c.Hash)
			it.Version = fg.Latest
			return fail(pulledSame, "already v"+strconv.Itoa(fg.Latest))
		}
	}
	v, err := st.ImportVersion(ctx, fs.ID, c.Flow, store.Version{Message: message, Author: user.ID, Hash: c.Hash, Files: files})
	if err != nil {
		return fail(pulledInvalid, "store the version: "+g.s.classifyText(err))
	}
	g.s.publishDraft(ctx, fs.ID, user.Name)
	g.synced(ctx, sy, fs.ID, c.Slug, c.Commit, c.Hash)
	it.Version = v.Number
	return fail(pulledVersion, message)
}

// synced records that a flow matches git at commit, in the syncer and the
// database.
func (g *gitSync) synced(ctx context.Context, sy *gitsync.Syncer, flowID, slug, commit, hash string) {
	if err := sy.MarkSynced(ctx, slug, commit); err != nil {
		g.s.log.Error("git sync: mark synced", logattr.Slug(slug), "err", err)
	}
	if err := g.s.store.SetFlowGit(context.WithoutCancel(ctx), flowID, commit, hash, ""); err != nil {
		g.s.log.Error("git sync: record a sync", logattr.Slug(slug), "err", err)
	}
}

func (g *gitSync) recordError(ctx context.Context, flowID, msg string) {
	if err := g.s.store.SetFlowGitError(context.WithoutCancel(ctx), flowID, msg); err != nil {
		g.s.log.Error("git sync: record an error", "err", err)
	}
}

func sameStoreFiles(a, b []store.File) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || !bytes.Equal(a[i].Data, b[i].Data) {
			return false
		}
	}
	return true
}

// classifyText is the message a person sees for err.
func (s *Server) classifyText(err error) string {
	return s.classify(gitRequest, err).Message
}

// gitRequest stands for work of the git queue in classify's log lines.
var gitRequest = &http.Request{Method: "GIT", URL: &url.URL{Path: "(git sync)"}}

func pullViewItems(items []pullItem) []views.PullItem {
	out := make([]views.PullItem, len(items))
	for i, it := range items {
		out[i] = views.PullItem{Slug: it.Slug, Result: it.Result, Version: it.Version, Commit: shortCommit(it.Commit), Message: it.Message}
	}
	return out
}

// POST /w/{ws}/git/pull (editor): pull, then show the flows with what
// the pull did.
func (s *Server) gitPull(w http.ResponseWriter, r *http.Request) error {
	a, err := s.workspaceAccess(r.Context(), r.PathValue("ws"), engine.RoleEditor)
	if err != nil {
		return err
	}
	items, perr := s.git.pull(r.Context(), a, principalFrom(r.Context()).User)
	if perr != nil && errors.Is(perr, errGitOff) {
		return perr
	}
	if perr == nil {
		s.audit(r.Context(), r, actGitPulled, "git", pullSummary(items))
	}
	props, err := s.flowsProps(r, a)
	if err != nil {
		return err
	}
	if props.Git == nil {
		props.Git = &views.GitPanel{}
	}
	props.Git.Pulled = true
	props.Git.Items = pullViewItems(items)
	status := http.StatusOK
	if perr != nil {
		e := s.classify(r, perr)
		props.Git.Error, status = e.Message, e.Status
		if e.Status >= 500 {
			// A remote that cannot be reached says why in its own words.
			props.Git.Error, status = perr.Error(), http.StatusBadGateway
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	return s.render(w, r, status, views.FlowsPage(props))
}

// POST /api/v1/git/pull (editor): {"changes": [{slug, result, version,
// commit, message}]}.
func (s *Server) apiGitPull(w http.ResponseWriter, r *http.Request) error {
	a, err := s.apiWorkspace(r, engine.RoleEditor)
	if err != nil {
		return err
	}
	items, err := s.git.pull(r.Context(), a, principalFrom(r.Context()).User)
	if err != nil {
		if e := s.classify(r, err); e.Status < 500 {
			return e
		}
		return errorf(http.StatusBadGateway, "git", "", err.Error())
	}
	s.audit(r.Context(), r, actGitPulled, "git", pullSummary(items))
	writeJSON(w, http.StatusOK, map[string]any{"changes": items})
	return nil
}

func pullSummary(items []pullItem) string {
	n := map[string]int{}
	for _, it := range items {
		n[it.Result]++
	}
	out := strconv.Itoa(len(items)) + " folders changed"
	for _, k := range []string{pulledNew, pulledVersion, pulledSame, pulledConflict, pulledDeleted, pulledInvalid} {
		if n[k] > 0 {
			out += ", " + strconv.Itoa(n[k]) + " " + k
		}
	}
	return out
}
