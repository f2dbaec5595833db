package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/flow"
	"github.com/opsbook/opsbook/engine/logattr"
	"github.com/opsbook/opsbook/engine/run"
	"github.com/opsbook/opsbook/engine/store"
)

// versionStore is what the version routes, in the studio and the API, read and write.
type versionStore interface {
	FlowBySlug(ctx context.Context, wsID, slug string) (store.FlowSummary, error)
	Draft(ctx context.Context, flowID string) (store.Draft, error)
	ReplaceDraft(ctx context.Context, flowID string, f *engine.Flow, userID string) error
	Versions(ctx context.Context, flowID string) ([]store.Version, error)
	Version(ctx context.Context, flowID string, n int) (store.Version, error)
	SaveVersion(ctx context.Context, flowID, author, message string, export store.ExportFunc) (store.Version, error)
	ImportChangedVersion(ctx context.Context, flowID string, f *engine.Flow, v store.Version) (store.Version, error)
	Publish(ctx context.Context, flowID string, n int) error
	userReader
}

var _ versionStore = (*store.Store)(nil)

// Version sources, as VersionEvent.Source tells them.
const (
	VersionFromStudio = "studio" // "Save version" in the studio
	VersionFromImport = "import" // an archive uploaded in the studio or the API
)

// VersionEvent tells a VersionHook of a new version, once it is stored.
type VersionEvent struct {
	Workspace store.Workspace
	Flow      store.FlowSummary // as it was before the version
	Version   store.Version     // with its Files and Coauthors (user ids)
	By        store.User        // the author
	Source    string            // VersionFromStudio or VersionFromImport
}

// VersionHook is called after each version saved through the server, in
// the saving request's goroutine with a context that outlives the request.
// Its error is logged, never shown to the person: the version is saved
// either way. A slow hook (a git push) should hand its work to a
// goroutine or queue of its own. Versions a hook itself creates through
// the store (a git pull) do not call hooks.
type VersionHook func(ctx context.Context, e VersionEvent) error

// versionHooks holds the hooks; the zero value has none.
type versionHooks struct {
	mu    sync.RWMutex
	hooks []VersionHook
}

// OnVersionSaved adds a hook told of every version saved from now on
// (the seam for git sync). Safe to call at any time.
func (s *Server) OnVersionSaved(h VersionHook) {
	s.vhooks.mu.Lock()
	s.vhooks.hooks = append(s.vhooks.hooks, h)
	s.vhooks.mu.Unlock()
}

func (s *Server) versionSaved(ctx context.Context, e VersionEvent) {
	s.vhooks.mu.RLock()
	hooks := append([]VersionHook(nil), s.vhooks.hooks...)
	s.vhooks.mu.RUnlock()
	ctx = context.WithoutCancel(ctx)
	for _, h := range hooks {
		if err := h(ctx, e); err != nil {
			s.log.Error("version hook failed", logattr.Flow(e.Flow.ID), logattr.Slug(e.Flow.Slug), "version", e.Version.Number, "err", err)
		}
	}
}

// exportDraft is the store's ExportFunc: a version must be a valid flow
// whose references resolve, as run and import demand.
func exportDraft(f *engine.Flow) ([]store.File, string, error) {
	files, err := flow.Files(f)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", engine.ErrInvalid, err)
	}
	if _, err := run.Compile(f); err != nil {
		return nil, "", fmt.Errorf("%w: %w", engine.ErrInvalid, err)
	}
	return storeFiles(files), flow.Hash(f), nil
}

// saveVersion saves the flow's draft as a new version by user; a draft
// whose content is the latest version's makes none (409 unchanged, with
// that version's number).
func (s *Server) saveVersion(ctx context.Context, a access, fs store.FlowSummary, user store.User, message string) (store.Version, error) {
	message = strings.TrimSpace(message)
	if len(message) > 2000 {
		return store.Version{}, errorf(http.StatusUnprocessableEntity, "invalid", "message", "keep the message under 2,000 characters")
	}
	export := func(f *engine.Flow) ([]store.File, string, error) {
		if err := checkForStudio(f, nil, nil); err != nil {
			return nil, "", err // named by cell, not by file
		}
		files, hash, err := exportDraft(f)
		if err == nil {
			err = s.checkSecretsInCode(ctx, a.Workspace.ID, f, flowFiles(files))
		}
		if err == nil {
			err = s.checkNotifyDestinations(ctx, a.Workspace.ID, f)
		}
		return files, hash, err
	}
	v, err := s.stores.versions.SaveVersion(ctx, fs.ID, user.ID, message, export)
	if err != nil {
		return store.Version{}, unchangedError(err, "nothing changed since v%d; no new version was made")
	}
	s.versionSaved(ctx, VersionEvent{Workspace: a.Workspace, Flow: fs, Version: v, By: user, Source: VersionFromStudio})
	return v, nil
}

// importVersion validates an archive completely and only then makes it the
// draft and a new version, telling open notebooks.
func (s *Server) importVersion(ctx context.Context, a access, fs store.FlowSummary, user store.User, data []byte, contentType, message string) (store.Version, error) {
	folder, _, err := readArchive(data, contentType)
	if err != nil {
		return store.Version{}, err
	}
	f, err := flow.ParseFiles(folder)
	if err != nil {
		return store.Version{}, err
	}
	if errs := flow.Validate(f); len(errs) > 0 {
		return store.Version{}, errs
	}
	if _, err := run.Compile(f); err != nil {
		return store.Version{}, err
	}
	files, err := flow.Files(f)
	if err != nil {
		return store.Version{}, err
	}
	if err := s.checkSecretsInCode(ctx, a.Workspace.ID, f, files); err != nil {
		return store.Version{}, err
	}
	if err := s.checkNotifyDestinations(ctx, a.Workspace.ID, f); err != nil {
		return store.Version{}, err
	}
	message = strings.TrimSpace(message)
	if message == "" {
		message = "Imported from an archive"
	}
	// An archive of the latest version's content makes no version and
	// leaves the draft alone (409 unchanged), as a save of it would.
	v, err := s.stores.versions.ImportChangedVersion(ctx, fs.ID, f, store.Version{Message: message, Author: user.ID, Hash: flow.Hash(f), Files: storeFiles(files)})
	if err != nil {
		return store.Version{}, unchangedError(err, "this archive holds the same flow as v%d; no new version was made")
	}
	s.publishDraft(ctx, fs.ID, user.Name)
	s.versionSaved(ctx, VersionEvent{Workspace: a.Workspace, Flow: fs, Version: v, By: user, Source: VersionFromImport})
	return v, nil
}

// unchangedError turns the store's *UnchangedError into the studio's 409
// unchanged, saying msg with the latest version's number; other errors are
// returned as they are.
func unchangedError(err error, msg string) error {
	var unchanged *store.UnchangedError
	if !errors.As(err, &unchanged) {
		return err
	}
	return &apiError{Status: http.StatusConflict, Code: "unchanged",
		Message: fmt.Sprintf(msg, unchanged.Latest),
		Extra:   map[string]any{"number": unchanged.Latest}}
}

// isUnchanged tells a save that found nothing changed since the latest
// version.
func isUnchanged(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Code == "unchanged"
}

// draftUnsaved tells whether the flow's draft holds edits that its latest
// version does not (its content differs), and that version's number. A
// flow with no version has nothing to lose to a restore: false.
func (s *Server) draftUnsaved(ctx context.Context, fs store.FlowSummary) (bool, int, error) {
	vs, err := s.stores.versions.Versions(ctx, fs.ID)
	if err != nil || len(vs) == 0 {
		return false, 0, err
	}
	d, err := s.stores.versions.Draft(ctx, fs.ID)
	if err != nil {
		return false, 0, err
	}
	return flow.Hash(d.Flow) != vs[0].Hash, vs[0].Number, nil
}

// restoreVersion makes version n the flow's draft and tells open notebooks.
func (s *Server) restoreVersion(ctx context.Context, fs store.FlowSummary, user store.User, n int) error {
	v, err := s.versionOf(ctx, fs, n)
	if err != nil {
		return err
	}
	f, err := flowFromFiles(v.Files)
	if err != nil {
		return err
	}
	if err := s.stores.versions.ReplaceDraft(ctx, fs.ID, f, user.ID); err != nil {
		return err
	}
	s.publishDraft(ctx, fs.ID, user.Name)
	return nil
}

// versionOf reads version n of a flow, with a 404 that says so.
func (s *Server) versionOf(ctx context.Context, fs store.FlowSummary, n int) (store.Version, error) {
	v, err := s.stores.versions.Version(ctx, fs.ID, n)
	if errors.Is(err, store.ErrNotFound) {
		return store.Version{}, errorf(http.StatusNotFound, "not_found", "version", "this flow has no version "+strconv.Itoa(n))
	}
	return v, err
}

// versionParam reads the {n} of a version route.
func versionParam(r *http.Request) (int, error) {
	n, err := strconv.Atoi(strings.TrimPrefix(r.PathValue("n"), "v"))
	if err != nil || n < 1 {
		return 0, errorf(http.StatusNotFound, "not_found", "version", "versions are numbered from 1")
	}
	return n, nil
}

// publishDraft sends the flow's draft to its open notebooks (PROTOCOL.md's
// "draft" message), as a structure change does.
func (s *Server) publishDraft(ctx context.Context, flowID, by string) {
	s.announceFlow(ctx, flowID) // other processes' viewers
	d, err := s.stores.versions.Draft(ctx, flowID)
	if err != nil {
		s.log.ErrorContext(ctx, "read draft to broadcast", logattr.Flow(flowID), "err", err)
		return
	}
	// Texts replaced in the store reach open editors as collaboration
	// updates, read from the change log.
	for i, c := range d.Cells {
		if err := s.collab.Sync(ctx, flowID, c.ID, c.Version); err != nil {
			s.log.ErrorContext(ctx, "sync a replaced cell", logattr.Flow(flowID), logattr.Cell(d.Flow.Cells[i].Name), "err", err)
		}
	}
	b, _ := json.Marshal(draftMsg{T: "draft", Draft: toDraftJSON(d), By: by})
	s.hub.Publish(flowTopic(flowID), &Msg{Data: b})
}

// flowAt is a flow as of "draft" or a version number, with its label.
func (s *Server) flowAt(ctx context.Context, fs store.FlowSummary, which string) (*engine.Flow, string, error) {
	if which == "draft" {
		d, err := s.stores.versions.Draft(ctx, fs.ID)
		if err != nil {
			return nil, "", err
		}
		return d.Flow, "draft", nil
	}
	n, err := strconv.Atoi(strings.TrimPrefix(which, "v"))
	if err != nil || n < 1 {
		return nil, "", errorf(http.StatusBadRequest, "version", "version", "compare versions by number, or draft")
	}
	v, err := s.versionOf(ctx, fs, n)
	if err != nil {
		return nil, "", err
	}
	f, err := flowFromFiles(v.Files)
	if err != nil {
		return nil, "", err
	}
	return f, "v" + strconv.Itoa(n), nil
}

func flowFiles(files []store.File) []flow.File {
	out := make([]flow.File, len(files))
	for i, f := range files {
		out[i] = flow.File{Name: f.Name, Data: f.Data}
	}
	return out
}
