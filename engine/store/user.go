package store

import (
	"context"
	"time"

	"github.com/uptrace/bun"
)

// touchEvery is how stale last_seen_at and last_used_at may get: touching
// them on every request would make every read a write.
const touchEvery = time.Minute

// CreateUser adds a user; a taken name is ErrAlreadyExists.
func (s *Store) CreateUser(ctx context.Context, name, displayName, passwordHash string) (User, error) {
	return s.createUser(ctx, name, displayName, passwordHash, false)
}

// CreateInvitedUser adds a user whose first password an owner was shown:
// they must change it before anything else (SetPassword clears that).
func (s *Store) CreateInvitedUser(ctx context.Context, name, displayName, passwordHash string) (User, error) {
	return s.createUser(ctx, name, displayName, passwordHash, true)
}

func (s *Store) createUser(ctx context.Context, name, displayName, passwordHash string, mustChange bool) (User, error) {
	m := userModel{
		MustChangePassword: mustChange,
		ID:                 NewID("u"),
		Name:               name,
		DisplayName:        displayName,
		PasswordHash:       passwordHash,
		CreatedAt:          s.timeNow(),
	}
	if _, err := s.db.NewInsert().Model(&m).Exec(ctx); err != nil {
		return User{}, wrap(err, "create user %q", name)
	}
	return userOf(&m), nil
}

// UserByName finds a user by login name.
func (s *Store) UserByName(ctx context.Context, name string) (User, error) {
	var m userModel
	err := s.rdb.NewSelect().Model(&m).Where("? = ?", bun.Ident("name"), name).Scan(ctx)
	if err != nil {
		return User{}, wrap(err, "user %q", name)
	}
	return userOf(&m), nil
}

// UserByID finds a user by id.
func (s *Store) UserByID(ctx context.Context, id string) (User, error) {
	var m userModel
	err := s.rdb.NewSelect().Model(&m).Where("? = ?", bun.Ident("id"), id).Scan(ctx)
	if err != nil {
		return User{}, wrap(err, "user %s", id)
	}
	return userOf(&m), nil
}

// CountUsers counts users (zero on a fresh install).
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	n, err := s.rdb.NewSelect().Model((*userModel)(nil)).Count(ctx)
	if err != nil {
		return 0, wrap(err, "count users")
	}
	return int(n), nil
}

func userOf(m *userModel) User {
	return User{
		ID:           m.ID,
		Name:         m.Name,
		DisplayName:  m.DisplayName,
		PasswordHash: m.PasswordHash,
		CreatedAt:    m.CreatedAt.UTC(),

		MustChangePassword: m.MustChangePassword,
	}
}

// CreateSession stores a session; tokenHash is the sha256 hex of the
// cookie token and becomes the session's id.
func (s *Store) CreateSession(ctx context.Context, userID, tokenHash string, expires time.Time) (Session, error) {
	now := s.timeNow()
	m := sessionModel{
		ID:         tokenHash,
		UserID:     userID,
		CreatedAt:  now,
		ExpiresAt:  expires.UTC().Truncate(time.Microsecond),
		LastSeenAt: now,
	}
	if _, err := s.db.NewInsert().Model(&m).Exec(ctx); err != nil {
		return Session{}, wrap(err, "create session for user %s", userID)
	}
	return sessionOf(&m), nil
}

// SessionUser finds the session with that token hash and its user. An
// expired session is ErrNotFound. It records the session as seen, at most
// once a minute.
func (s *Store) SessionUser(ctx context.Context, tokenHash string) (User, Session, error) {
	var row struct {
		ID               string
		Name             string
		DisplayName      string
		PasswordHash     string
		CreatedAt        time.Time
		MustChange       bool `bun:"must_change_password"`
		SessionID        string
		SessionCreatedAt time.Time
		ExpiresAt        time.Time
		LastSeenAt       time.Time
	}
	err := s.rdb.NewRaw(`SELECT u.id, u.name, u.display_name, u.password_hash, u.created_at, u.must_change_password,
		s.id AS session_id, s.created_at AS session_created_at, s.expires_at, s.last_seen_at
		FROM sessions AS s JOIN users AS u ON u.id = s.user_id
		WHERE s.id = ?`, tokenHash).Scan(ctx, &row)
	if err != nil {
		return User{}, Session{}, wrap(err, "session")
	}
	now := s.timeNow()
	if !now.Before(row.ExpiresAt) {
		return User{}, Session{}, wrap(ErrNotFound, "session expired")
	}
	sess := Session{
		ID:         row.SessionID,
		UserID:     row.ID,
		CreatedAt:  row.SessionCreatedAt.UTC(),
		ExpiresAt:  row.ExpiresAt.UTC(),
		LastSeenAt: row.LastSeenAt.UTC(),
	}
	if now.Sub(sess.LastSeenAt) >= touchEvery {
		_, err := s.db.NewUpdate().Model((*sessionModel)(nil)).
			Set("? = ?", bun.Ident("last_seen_at"), now).
			Where("? = ?", bun.Ident("id"), sess.ID).
			Exec(ctx)
		if err != nil {
			return User{}, Session{}, wrap(err, "touch session")
		}
		sess.LastSeenAt = now
	}
	user := User{
		ID:           row.ID,
		Name:         row.Name,
		DisplayName:  row.DisplayName,
		PasswordHash: row.PasswordHash,
		CreatedAt:    row.CreatedAt.UTC(),

		MustChangePassword: row.MustChange,
	}
	return user, sess, nil
}

// DeleteSession ends a session (sign out); its open sockets close.
func (s *Store) DeleteSession(ctx context.Context, tokenHash string) error {
	res, err := s.db.NewDelete().Model((*sessionModel)(nil)).
		Where("? = ?", bun.Ident("id"), tokenHash).Exec(ctx)
	if err := affected(res, err); err != nil {
		return wrap(err, "delete session")
	}
	s.credChanged(ctx, CredChange{Kind: CredSession, ID: tokenHash})
	return nil
}

// DeleteExpiredSessions removes sessions past their expiry and says how many.
func (s *Store) DeleteExpiredSessions(ctx context.Context) (int64, error) {
	res, err := s.db.NewDelete().Model((*sessionModel)(nil)).
		Where("? <= ?", bun.Ident("expires_at"), s.timeNow()).Exec(ctx)
	if err != nil {
		return 0, wrap(err, "delete expired sessions")
	}
	n, _ := res.RowsAffected()
	return n, nil
}

func sessionOf(m *sessionModel) Session {
	return Session{
		ID:         m.ID,
		UserID:     m.UserID,
		CreatedAt:  m.CreatedAt.UTC(),
		ExpiresAt:  m.ExpiresAt.UTC(),
		LastSeenAt: m.LastSeenAt.UTC(),
	}
}

// SetPassword replaces a user's password hash (no longer one they must
// change) and ends every other session
// of theirs but keep (the session id of the browser that changed it; "" for
// none), so a password that leaked stops working everywhere at once: their
// open sockets close too.
func (s *Store) SetPassword(ctx context.Context, userID, passwordHash, keep string) error {
	err := s.write(ctx, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewUpdate().Model((*userModel)(nil)).
			Set("? = ?", bun.Ident("password_hash"), passwordHash).
			Set("? = ?", bun.Ident("must_change_password"), false).
			Where("? = ?", bun.Ident("id"), userID).Exec(ctx)
		if err := affected(res, err); err != nil {
			return err
		}
		_, err = tx.NewDelete().Model((*sessionModel)(nil)).
			Where("? = ?", bun.Ident("user_id"), userID).
			Where("? <> ?", bun.Ident("id"), keep).Exec(ctx)
		return err
	})
	if err != nil {
		return wrap(err, "set the password of user %s", userID)
	}
	s.credChanged(ctx, CredChange{Kind: CredPassword, UserID: userID, Keep: keep})
	return nil
}
