package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/uptrace/bun"

	"github.com/opsbook/opsbook/engine"
)

// editModel is one person who changed a flow's draft since its last
// version (migration 0002).
type editModel struct {
	bun.BaseModel `bun:"table:draft_edits"`

	FlowID string    `bun:"flow_id,pk"`
	UserID string    `bun:"user_id,pk"`
	At     time.Time `bun:"at"`
}

// recordEdit notes that userID changed the draft (nothing for "": an edit
// by no one in particular).
func recordEdit(ctx context.Context, db bun.IDB, flowID, userID string, at time.Time) error {
	if userID == "" {
		return nil
	}
	_, err := db.NewInsert().Model(&editModel{FlowID: flowID, UserID: userID, At: at}).
		On("CONFLICT (flow_id, user_id) DO UPDATE").
		Set("? = EXCLUDED.?", bun.Ident("at"), bun.Ident("at")).
		Exec(ctx)
	return err
}

// RecordEdit notes that userID changed the flow's draft, for the co-authors
// of its next version. Source, cell and insert updates record their editor
// themselves; call this after the changes that name no user (a delete, a
// move, new settings).
func (s *Store) RecordEdit(ctx context.Context, flowID, userID string) error {
	return wrap(recordEdit(ctx, s.db, flowID, userID, s.timeNow()), "record an edit of flow %s", flowID)
}

// Editors lists who changed the draft since the last version, by user id.
func (s *Store) Editors(ctx context.Context, flowID string) ([]string, error) {
	var ids []string
	err := s.rdb.NewSelect().Model((*editModel)(nil)).Column("user_id").
		Where("? = ?", bun.Ident("flow_id"), flowID).
		Order("user_id").
		Scan(ctx, &ids)
	if err != nil {
		return nil, wrap(err, "editors of flow %s", flowID)
	}
	return ids, nil
}

// takeEditors removes and returns the flow's editors, sorted, in tx. Taking
// them before reading the draft means an edit that lands in between is in
// the version, or (if it lands after the read) credited again next time,
// never lost.
func takeEditors(ctx context.Context, tx bun.Tx, flowID string) ([]string, error) {
	var ids []string
	err := tx.NewDelete().Model((*editModel)(nil)).
		Where("? = ?", bun.Ident("flow_id"), flowID).
		Returning("?", bun.Ident("user_id")).
		Scan(ctx, &ids)
	if err != nil {
		return nil, err
	}
	slices.Sort(ids)
	return ids, nil
}

// ExportFunc turns a draft into its plain files and their content hash.
type ExportFunc func(f *engine.Flow) (files []File, hash string, err error)

// SaveVersion saves the draft of a flow as a new, numbered version in one
// transaction: the draft as export makes it, authored by author, with
// every other person who changed the draft since the last version as a
// co-author (sorted by id). The marks of those changes are cleared. An
// error of export is returned as is, and nothing is stored. When export's
// hash is the latest version's, nothing is stored either and the error is
// an *UnchangedError (errors.Is ErrUnchanged).
func (s *Store) SaveVersion(ctx context.Context, flowID, author, message string, export ExportFunc) (Version, error) {
	var m versionModel
	var coauthors []string
	var files []File
	err := s.retryVersion(ctx, func(ctx context.Context, tx bun.Tx) error {
		if err := s.lockFlow(ctx, tx, flowID); err != nil {
			return err
		}
		editors, err := takeEditors(ctx, tx, flowID)
		if err != nil {
			return err
		}
		coauthors = slices.DeleteFunc(editors, func(id string) bool { return id == author })
		if coauthors == nil {
			coauthors = []string{}
		}
		d, err := readDraft(ctx, tx, flowID)
		if err != nil {
			return err
		}
		var hash string
		if files, hash, err = export(d.Flow); err != nil {
			return exportError{err}
		}
		var latest []versionModel
		err = tx.NewSelect().Model(&latest).Column("number", "hash").
			Where("? = ?", bun.Ident("flow_id"), flowID).
			Order("number DESC").Limit(1).Scan(ctx)
		if err != nil {
			return err
		}
		if len(latest) == 1 && latest[0].Hash == hash {
			return exportError{&UnchangedError{Latest: latest[0].Number}}
		}
		m = versionModel{FlowID: flowID, Message: message, Author: nullString(author),
			Coauthors: mustJSON(coauthors), Hash: hash, Files: encodeFiles(files)}
		return s.insertVersion(ctx, tx, &m)
	})
	var ee exportError
	if errors.As(err, &ee) {
		return Version{}, ee.err
	}
	if err != nil {
		return Version{}, wrap(err, "save a version of flow %s", flowID)
	}
	return Version{FlowID: flowID, Number: m.Number, Message: message, Author: author,
		Coauthors: coauthors, Hash: m.Hash, Files: files, CreatedAt: m.CreatedAt}, nil
}

// exportError carries an ExportFunc's error out of the transaction
// untouched (not mapped to a store error).
type exportError struct{ err error }

func (e exportError) Error() string { return e.err.Error() }

// ReplaceDraft makes f the flow's draft: its settings and cells, in one
// transaction. Cells keep their ids where a cell of that name was there
// before, so open editors of those cells stay; userID is recorded as an
// editor. Used to restore a version.
func (s *Store) ReplaceDraft(ctx context.Context, flowID string, f *engine.Flow, userID string) error {
	if err := checkFlow(f); err != nil {
		return fmt.Errorf("replace draft of flow %s: %w", flowID, err)
	}
	err := s.write(ctx, func(ctx context.Context, tx bun.Tx) error {
		if err := s.replaceDraft(ctx, tx, flowID, f, userID); err != nil {
			return err
		}
		return recordEdit(ctx, tx, flowID, userID, s.timeNow())
	})
	return wrap(err, "replace draft of flow %s", flowID)
}

// ImportVersion makes f the flow's draft and saves it as a new version
// whose files and hash are given (the archive that was imported), in one
// transaction. The draft's edits since the last version are replaced, so
// their marks are cleared and the version has no co-authors.
func (s *Store) ImportVersion(ctx context.Context, flowID string, f *engine.Flow, v Version) (Version, error) {
	return s.importVersion(ctx, flowID, f, v, false)
}

// ImportChangedVersion is ImportVersion for content a person uploads: when
// v's hash is the latest version's, nothing is stored (the draft stays as
// it is) and the error is an *UnchangedError, as SaveVersion's.
func (s *Store) ImportChangedVersion(ctx context.Context, flowID string, f *engine.Flow, v Version) (Version, error) {
	return s.importVersion(ctx, flowID, f, v, true)
}

func (s *Store) importVersion(ctx context.Context, flowID string, f *engine.Flow, v Version, onlyChanged bool) (Version, error) {
	if err := checkFlow(f); err != nil {
		return Version{}, fmt.Errorf("import a version of flow %s: %w", flowID, err)
	}
	m := versionModel{FlowID: flowID, Message: v.Message, Author: nullString(v.Author),
		Coauthors: "[]", Hash: v.Hash, Files: encodeFiles(v.Files)}
	err := s.retryVersion(ctx, func(ctx context.Context, tx bun.Tx) error {
		if err := s.lockFlow(ctx, tx, flowID); err != nil {
			return err
		}
		if onlyChanged {
			var latest []versionModel
			err := tx.NewSelect().Model(&latest).Column("number", "hash").
				Where("? = ?", bun.Ident("flow_id"), flowID).
				Order("number DESC").Limit(1).Scan(ctx)
			if err != nil {
				return err
			}
			if len(latest) == 1 && latest[0].Hash == v.Hash {
				return exportError{&UnchangedError{Latest: latest[0].Number}}
			}
		}
		if _, err := takeEditors(ctx, tx, flowID); err != nil {
			return err
		}
		if err := s.replaceDraft(ctx, tx, flowID, f, v.Author); err != nil {
			return err
		}
		return s.insertVersion(ctx, tx, &m)
	})
	var ee exportError
	if errors.As(err, &ee) {
		return Version{}, ee.err
	}
	if err != nil {
		return Version{}, wrap(err, "import a version of flow %s", flowID)
	}
	return Version{FlowID: flowID, Number: m.Number, Message: m.Message, Author: v.Author,
		Coauthors: []string{}, Hash: m.Hash, Files: v.Files, CreatedAt: m.CreatedAt}, nil
}

func checkFlow(f *engine.Flow) error {
	for i := range f.Cells {
		if err := checkSource(f.Cells[i].Name, f.Cells[i].Source); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) replaceDraft(ctx context.Context, tx bun.Tx, flowID string, f *engine.Flow, userID string) error {
	inputs, err := encodeInputs(f.Inputs)
	if err != nil {
		return err
	}
	now := s.timeNow()
	res, err := tx.NewUpdate().Model((*flowModel)(nil)).
		Set("? = ?", bun.Ident("name"), f.Name).
		Set("? = ?", bun.Ident("description"), f.Description).
		Set("? = ?", bun.Ident("order"), string(f.Order)).
		Set("? = ?", bun.Ident("inputs"), inputs).
		Set("? = ?", bun.Ident("triggers"), encodeTriggers(f.Triggers)).
		Set("? = ?", bun.Ident("settings"), encodeSettings(f)).
		Set("? = ?", bun.Ident("updated_at"), now).
		Where("? = ?", bun.Ident("id"), flowID).
		Exec(ctx)
	if err := affected(res, err); err != nil {
		return err
	}
	var old []cellModel
	err = tx.NewSelect().Model(&old).
		Where("? = ?", bun.Ident("flow_id"), flowID).Scan(ctx)
	if err != nil {
		return err
	}
	byName := make(map[string]cellModel, len(old))
	for _, c := range old {
		byName[c.Name] = c
	}
	_, err = tx.NewDelete().Model((*cellModel)(nil)).Where("? = ?", bun.Ident("flow_id"), flowID).Exec(ctx)
	if err != nil {
		return err
	}
	if len(f.Cells) == 0 {
		return nil
	}
	cells := make([]cellModel, len(f.Cells))
	// A surviving cell keeps its document: its checkpoint goes back in as
	// it was, and the new text is appended to its change log as one change
	// (replaceSource), so open editors and the log stay consistent.
	var rewrite []int
	for i := range f.Cells {
		cells[i] = newCellModel(flowID, i, &f.Cells[i], userID, now)
		if prev, ok := byName[f.Cells[i].Name]; ok {
			cells[i].ID = prev.ID
			cells[i].Source, cells[i].DocVersion = prev.Source, prev.DocVersion
			rewrite = append(rewrite, i)
			if prev.Options == cells[i].Options && prev.Kind == cells[i].Kind {
				// Options unchanged: who changed the cell last still stands
				// unless replaceSource records a change of its text.
				cells[i].UpdatedBy, cells[i].UpdatedAt = prev.UpdatedBy, prev.UpdatedAt
			}
		}
	}
	if _, err = tx.NewInsert().Model(&cells).Exec(ctx); err != nil {
		return err
	}
	for _, i := range rewrite {
		if err := s.replaceSource(ctx, tx, flowID, cells[i].ID, f.Cells[i].Source, userID); err != nil {
			return fmt.Errorf("cell %s: %w", f.Cells[i].Name, err)
		}
	}
	return nil
}

// VersionByHash finds the newest version of a flow whose content hash is
// hash (without its files): the version a run of the draft matches.
func (s *Store) VersionByHash(ctx context.Context, flowID, hash string) (Version, error) {
	var m versionModel
	err := s.rdb.NewSelect().Model(&m).
		Column("flow_id", "number", "message", "author", "coauthors", "hash", "created_at").
		Where("? = ?", bun.Ident("flow_id"), flowID).
		Where("? = ?", bun.Ident("hash"), hash).
		Order("number DESC").
		Limit(1).
		Scan(ctx)
	if err != nil {
		return Version{}, wrap(err, "version of flow %s with hash %.12s", flowID, hash)
	}
	return versionOf(&m, false)
}
