package store

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Errors of the store. Errors returned by its methods wrap them, so test
// with errors.Is.
var (
	// ErrNotFound: no such row, or a row that no longer counts (an expired
	// session, a revoked token), or a reference to a row that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a unique key is taken (a user name, a slug, a cell
	// name in a flow, a version number, an event seq).
	ErrAlreadyExists = errors.New("already exists")
	// ErrTooLarge: a cell source over MaxSourceSize.
	ErrTooLarge = errors.New("too large")
	// ErrInvalid: a value the schema does not allow (an unknown role).
	ErrInvalid = errors.New("invalid value")
	// ErrUnchanged: a version would hold the same content as the latest
	// one (UnchangedError says which).
	ErrUnchanged = errors.New("unchanged")
	// ErrArchived: the flow is archived, so it cannot be run (ArchiveFlow).
	ErrArchived = errors.New("the flow is archived")
	// ErrActive: the flow has a run that has not ended, so it cannot be
	// deleted (DeleteFlow).
	ErrActive = errors.New("a run of the flow has not ended")
	// ErrNoDatabase: Config.NoMigrate was asked to open a SQLite database
	// that does not exist.
	ErrNoDatabase = errors.New("no database here (nothing was created)")
	// ErrSchemaNewer: the database was migrated by a newer Opsbook
	// (SchemaNewerError says which versions).
	ErrSchemaNewer = errors.New("database schema is newer than this binary")
)

// SchemaNewerError is Open's answer to a database whose schema version is
// above the last migration this binary holds.
type SchemaNewerError struct {
	Have, Know uint // the database's schema version, this binary's last
}

func (e *SchemaNewerError) Error() string {
	return fmt.Sprintf("this database was migrated by a newer Opsbook (schema %d, this binary knows %d): run the newer binary or restore a backup", e.Have, e.Know)
}

func (e *SchemaNewerError) Unwrap() error { return ErrSchemaNewer }

// UnchangedError is SaveVersion's answer when the draft's content hash is
// the latest version's: no version is made.
type UnchangedError struct {
	Latest int // the latest version's number
}

func (e *UnchangedError) Error() string {
	return fmt.Sprintf("nothing changed since v%d", e.Latest)
}

// Is makes errors.Is(err, ErrUnchanged) true.
func (e *UnchangedError) Is(target error) bool { return target == ErrUnchanged }

// mapErr turns driver errors into the store's sentinels, keeping the
// driver's error in the chain for its message.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %w", ErrAlreadyExists, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%w: %w", ErrNotFound, err)
		case sqlite3.SQLITE_CONSTRAINT_CHECK:
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%w: %w", ErrAlreadyExists, err)
		case "23503": // foreign_key_violation
			return fmt.Errorf("%w: %w", ErrNotFound, err)
		case "23514": // check_violation
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	return err
}

// wrap maps err and says what was being done: wrap(err, "create user %q", name).
func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf(format+": %w", append(args, mapErr(err))...)
}
