// Package account holds the studio's people and their credentials: the rules
// for user names and passwords, password hashing, random tokens and their
// stored form, and making users and API tokens. The server and the opsbook
// command both use it.
package account

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
)

// bcryptCost is bcrypt's default: about 50 ms a check on this machine.
const bcryptCost = bcrypt.DefaultCost

var userNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,39}$`) })

// CheckUserName returns a message for people when name is not a valid
// login name, else "".
func CheckUserName(name string) string {
	if !userNameRE().MatchString(name) {
		return "a user name is 1 to 40 lower-case letters, digits, dots, dashes or underscores"
	}
	return ""
}

// CheckPassword returns a message when pw is too weak or too long, else "".
func CheckPassword(pw string) string {
	switch {
	case utf8.RuneCountInString(pw) < 8:
		return "the password needs at least 8 characters"
	case len(pw) > 72:
		return "the password can have at most 72 bytes"
	}
	return ""
}

// HashPassword hashes a password for storage.
func HashPassword(pw string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcryptCost)
	if err != nil {
		return "", err
	}
	return string(h), nil
}

// PasswordMatches reports whether pw matches the stored hash.
func PasswordMatches(hash, pw string) bool {
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
}

// NewToken returns a random token (256 bits, URL-safe) and its sha256 hex,
// which is what the store keeps.
func NewToken(prefix string) (token, hash string) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	token = prefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, TokenHash(token)
}

// TokenHash is the stored form of a token.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// UserAdder is what AddUser needs of the store.
type UserAdder interface {
	WorkspaceBySlug(ctx context.Context, slug string) (store.Workspace, error)
	CreateWorkspace(ctx context.Context, slug, name string) (store.Workspace, error)
	CreateUser(ctx context.Context, name, display, passwordHash string) (store.User, error)
	AddMember(ctx context.Context, workspaceID, userID string, role engine.Role) error
}

var _ UserAdder = (*store.Store)(nil)

// AddUser creates a user and adds them to a workspace (created when new).
func AddUser(ctx context.Context, st UserAdder, name, display, password, wsSlug string, role engine.Role) (store.User, store.Workspace, error) {
	if !engine.IsSlug(wsSlug) {
		return store.User{}, store.Workspace{}, fmt.Errorf("workspace %q: use lower-case letters, digits and dashes", wsSlug)
	}
	hash, err := HashPassword(password)
	if err != nil {
		return store.User{}, store.Workspace{}, err
	}
	ws, err := st.WorkspaceBySlug(ctx, wsSlug)
	if errors.Is(err, store.ErrNotFound) {
		ws, err = st.CreateWorkspace(ctx, wsSlug, wsSlug)
	}
	if err != nil {
		return store.User{}, store.Workspace{}, fmt.Errorf("workspace %s: %w", wsSlug, err)
	}
	u, err := st.CreateUser(ctx, name, display, hash)
	if err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			return store.User{}, store.Workspace{}, fmt.Errorf("a user named %s already exists", name)
		}
		return store.User{}, store.Workspace{}, err
	}
	if err := st.AddMember(ctx, ws.ID, u.ID, role); err != nil {
		return store.User{}, store.Workspace{}, err
	}
	return u, ws, nil
}

// TokenMaker is what CreateToken needs of the store.
type TokenMaker interface {
	UserByName(ctx context.Context, name string) (store.User, error)
	WorkspacesOf(ctx context.Context, userID string) ([]store.Membership, error)
	CreateToken(ctx context.Context, t store.Token) (store.Token, error)
}

var _ TokenMaker = (*store.Store)(nil)

// CreateToken makes an API token for a user in a workspace (the user's
// first when wsSlug is empty) with the user's role there, or role when it is
// lower. It returns the token, which is shown once and never stored.
func CreateToken(ctx context.Context, st TokenMaker, userName, wsSlug, label string, role engine.Role) (string, error) {
	return CreateTokenExpiring(ctx, st, userName, wsSlug, label, role, time.Time{})
}

// CreateTokenExpiring is CreateToken for a token that stops working at
// expires (zero: never).
func CreateTokenExpiring(ctx context.Context, st TokenMaker, userName, wsSlug, label string, role engine.Role, expires time.Time) (string, error) {
	u, err := st.UserByName(ctx, userName)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return "", fmt.Errorf("no user named %s; create one with opsbook user add", userName)
		}
		return "", err
	}
	ms, err := st.WorkspacesOf(ctx, u.ID)
	if err != nil {
		return "", err
	}
	var m *store.Membership
	for i := range ms {
		if wsSlug == "" || ms[i].Workspace.Slug == wsSlug {
			m = &ms[i]
			break
		}
	}
	if m == nil {
		return "", fmt.Errorf("%s is not a member of workspace %q", userName, wsSlug)
	}
	if role == "" || !m.Role.AtLeast(role) {
		role = m.Role
	}
	tok, hash := NewToken("obk_")
	if _, err := st.CreateToken(ctx, store.Token{UserID: u.ID, WorkspaceID: m.Workspace.ID, Name: label, Hash: hash, Role: role, ExpiresAt: expires}); err != nil {
		return "", err
	}
	return tok, nil
}

// maxTokenLife bounds a token's expiry: ten years.
const maxTokenLife = 10 * 365 * 24 * time.Hour

// TokenExpiry reads a token's lifetime as given ("" or "never": no expiry;
// else a duration such as 720h) into its expiry from now, or a message
// saying what to give instead.
func TokenExpiry(v string, now time.Time) (time.Time, string) {
	if v == "" || v == "never" {
		return time.Time{}, ""
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Minute || d > maxTokenLife {
		return time.Time{}, "give the expiry as a duration from 1m to 87600h (e.g. 720h for 30 days), or never"
	}
	return now.Add(d), ""
}
