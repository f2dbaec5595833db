package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/uptrace/bun"
)

// CreateVersion saves a new version of a flow, numbered one past the
// latest; v's Message, Author, Coauthors, Hash and Files are kept. Versions
// created at once get distinct numbers: PostgreSQL locks the flow's row,
// SQLite has one writer, and the (flow_id, number) key catches the rest.
func (s *Store) CreateVersion(ctx context.Context, flowID string, v Version) (Version, error) {
	coauthors := v.Coauthors
	if coauthors == nil {
		coauthors = []string{}
	}
	m := versionModel{
		FlowID:    flowID,
		Message:   v.Message,
		Author:    nullString(v.Author),
		Coauthors: mustJSON(coauthors),
		Hash:      v.Hash,
		Files:     encodeFiles(v.Files),
	}
	err := s.retryVersion(ctx, func(ctx context.Context, tx bun.Tx) error {
		return s.insertVersion(ctx, tx, &m)
	})
	if err != nil {
		return Version{}, wrap(err, "create version of flow %s", flowID)
	}
	return Version{
		FlowID: flowID, Number: m.Number, Message: m.Message, Author: v.Author,
		Coauthors: coauthors, Hash: m.Hash, Files: v.Files, CreatedAt: m.CreatedAt,
	}, nil
}

// retryVersion runs fn, which numbers a new version, in a transaction,
// again when another writer took the number first.
func (s *Store) retryVersion(ctx context.Context, fn func(ctx context.Context, tx bun.Tx) error) error {
	var err error
	for try := 0; try < 5; try++ {
		err = s.write(ctx, fn)
		if !errors.Is(mapErr(err), ErrAlreadyExists) {
			break
		}
	}
	return err
}

// insertVersion numbers m one past the flow's latest version and inserts
// it. On PostgreSQL it locks the flow's row first; ErrNotFound when the
// flow does not exist.
func (s *Store) insertVersion(ctx context.Context, tx bun.Tx, m *versionModel) error {
	if err := s.lockFlow(ctx, tx, m.FlowID); err != nil {
		return err
	}
	var last int
	err := tx.NewSelect().Model((*versionModel)(nil)).
		ColumnExpr("COALESCE(MAX(?), 0)", bun.Ident("number")).
		Where("? = ?", bun.Ident("flow_id"), m.FlowID).
		Scan(ctx, &last)
	if err != nil {
		return err
	}
	m.Number = last + 1
	m.CreatedAt = s.timeNow()
	_, err = tx.NewInsert().Model(m).Exec(ctx)
	return err
}

// lockFlow checks the flow exists and, on PostgreSQL, locks its row until
// the transaction ends, so versions of one flow are made one at a time.
func (s *Store) lockFlow(ctx context.Context, tx bun.Tx, flowID string) error {
	q := tx.NewSelect().Model((*flowModel)(nil)).Column("id").
		Where("? = ?", bun.Ident("id"), flowID)
	if s.postgres() {
		q = q.For("UPDATE")
	}
	var id string
	return q.Scan(ctx, &id)
}

// Versions lists the versions of a flow, newest first, without their Files.
func (s *Store) Versions(ctx context.Context, flowID string) ([]Version, error) {
	var rows []struct {
		versionModel
		Published bool
	}
	err := s.rdb.NewRaw(`SELECT v.flow_id, v.number, v.message, v.author, v.coauthors, v.hash, v.created_at,
		(f.published_version IS NOT NULL AND f.published_version = v.number) AS published
		FROM versions AS v JOIN flows AS f ON f.id = v.flow_id
		WHERE v.flow_id = ? ORDER BY v.number DESC`, flowID).Scan(ctx, &rows)
	if err != nil {
		return nil, wrap(err, "versions of flow %s", flowID)
	}
	out := make([]Version, len(rows))
	for i := range rows {
		v, err := versionOf(&rows[i].versionModel, false)
		if err != nil {
			return nil, fmt.Errorf("versions of flow %s: %w", flowID, err)
		}
		v.Published = rows[i].Published
		out[i] = v
	}
	return out, nil
}

// Version reads version n of a flow with its files.
func (s *Store) Version(ctx context.Context, flowID string, n int) (Version, error) {
	var m versionModel
	err := s.rdb.NewSelect().Model(&m).
		Where("? = ?", bun.Ident("flow_id"), flowID).
		Where("? = ?", bun.Ident("number"), n).
		Scan(ctx)
	if err != nil {
		return Version{}, wrap(err, "version %d of flow %s", n, flowID)
	}
	v, err := versionOf(&m, true)
	if err != nil {
		return Version{}, fmt.Errorf("version %d of flow %s: %w", n, flowID, err)
	}
	var published *int
	err = s.rdb.NewSelect().Model((*flowModel)(nil)).Column("published_version").
		Where("? = ?", bun.Ident("id"), flowID).Scan(ctx, &published)
	if err != nil {
		return Version{}, wrap(err, "version %d of flow %s", n, flowID)
	}
	v.Published = published != nil && *published == n
	return v, nil
}

// Publish makes version n the flow's published version.
func (s *Store) Publish(ctx context.Context, flowID string, n int) error {
	err := s.write(ctx, func(ctx context.Context, tx bun.Tx) error {
		ok, err := tx.NewSelect().Model((*versionModel)(nil)).
			Where("? = ?", bun.Ident("flow_id"), flowID).
			Where("? = ?", bun.Ident("number"), n).
			Exists(ctx)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		res, err := tx.NewUpdate().Model((*flowModel)(nil)).
			Set("? = ?", bun.Ident("published_version"), n).
			Set("? = ?", bun.Ident("updated_at"), s.timeNow()).
			Where("? = ?", bun.Ident("id"), flowID).
			Exec(ctx)
		return affected(res, err)
	})
	return wrap(err, "publish version %d of flow %s", n, flowID)
}

func versionOf(m *versionModel, files bool) (Version, error) {
	v := Version{
		FlowID:    m.FlowID,
		Number:    m.Number,
		Message:   m.Message,
		Author:    fromNull(m.Author),
		Hash:      m.Hash,
		CreatedAt: m.CreatedAt.UTC(),
	}
	if err := json.Unmarshal([]byte(m.Coauthors), &v.Coauthors); err != nil {
		return Version{}, fmt.Errorf("coauthors: %w", err)
	}
	if files {
		var err error
		if v.Files, err = decodeFiles(m.Files); err != nil {
			return Version{}, err
		}
	}
	return v, nil
}
