package account

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
)

func TestCheckUserName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"ana", true},
		{"a.b_c-9", true},
		{"0", true},
		{strings.Repeat("a", 40), true},
		{strings.Repeat("a", 41), false},
		{"", false},
		{"Ana", false},
		{".ana", false},
		{"ana smith", false},
		{"ana/..", false},
	} {
		if got := CheckUserName(tc.name) == ""; got != tc.ok {
			t.Errorf("CheckUserName(%q) ok = %v, want %v", tc.name, got, tc.ok)
		}
	}
}

func TestCheckPassword(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pw string
		ok bool
	}{
		{"1234567", false},
		{"12345678", true},
		{"ééééééé", false}, // 7 characters, 14 bytes
		{"éééééééé", true},
		{strings.Repeat("x", 72), true},
		{strings.Repeat("x", 73), false}, // bcrypt reads 72 bytes
		{strings.Repeat("é", 37), false}, // 37 characters, 74 bytes
	} {
		if got := CheckPassword(tc.pw) == ""; got != tc.ok {
			t.Errorf("CheckPassword(%q) ok = %v, want %v", tc.pw, got, tc.ok)
		}
	}
}

func TestPasswordHash(t *testing.T) {
	t.Parallel()
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !PasswordMatches(h, "correct horse") {
		t.Error("the password does not match its own hash")
	}
	if PasswordMatches(h, "correct horse ") || PasswordMatches(h, "") || PasswordMatches("", "correct horse") {
		t.Error("a wrong password or hash matches")
	}
}

func TestNewToken(t *testing.T) {
	t.Parallel()
	a, ha := NewToken("obk_")
	b, _ := NewToken("obk_")
	if !strings.HasPrefix(a, "obk_") || len(a) != len("obk_")+43 {
		t.Errorf("token %q: want obk_ and 43 characters of base64url", a)
	}
	if a == b {
		t.Error("two tokens are the same")
	}
	if ha != TokenHash(a) || len(ha) != 64 || strings.Contains(ha, a) {
		t.Errorf("hash %q is not the sha256 hex of the token", ha)
	}
}

func TestTokenExpiry(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"", time.Time{}, true},
		{"never", time.Time{}, true},
		{"720h", now.Add(720 * time.Hour), true},
		{"1m", now.Add(time.Minute), true},
		{"87600h", now.Add(87600 * time.Hour), true},
		{"59s", time.Time{}, false},
		{"87601h", time.Time{}, false},
		{"-1h", time.Time{}, false},
		{"30d", time.Time{}, false},
	} {
		got, msg := TokenExpiry(tc.in, now)
		if (msg == "") != tc.ok || !got.Equal(tc.want) {
			t.Errorf("TokenExpiry(%q) = %v, %q; want %v, ok %v", tc.in, got, msg, tc.want, tc.ok)
		}
	}
}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), store.Config{Data: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestAddUser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	u, ws, err := AddUser(ctx, st, "ana", "Ana", "a-long-password", "acme", engine.RoleEditor)
	if err != nil {
		t.Fatal(err)
	}
	if ws.Slug != "acme" || u.Name != "ana" || u.DisplayName != "Ana" || !PasswordMatches(u.PasswordHash, "a-long-password") {
		t.Errorf("got user %+v in %+v", u, ws)
	}
	// A second user joins the same workspace, not a new one.
	_, ws2, err := AddUser(ctx, st, "bo", "Bo", "a-long-password", "acme", engine.RoleViewer)
	if err != nil || ws2.ID != ws.ID {
		t.Errorf("second user: workspace %v, err %v; want %v", ws2.ID, err, ws.ID)
	}
	if _, _, err := AddUser(ctx, st, "ana", "Ana", "a-long-password", "acme", engine.RoleEditor); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("the same name twice: %v", err)
	}
	if _, _, err := AddUser(ctx, st, "cy", "Cy", "a-long-password", "Not A Slug", engine.RoleEditor); err == nil {
		t.Error("a workspace slug with spaces was taken")
	}
}

func TestCreateToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	if _, _, err := AddUser(ctx, st, "ana", "Ana", "a-long-password", "acme", engine.RoleRunner); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, ws   string
		role, want engine.Role // want: the stored role; "" for an error
	}{
		{"the user's role", "", "", engine.RoleRunner},
		{"a lower role", "acme", engine.RoleViewer, engine.RoleViewer},
		{"a higher role is capped", "acme", engine.RoleOwner, engine.RoleRunner},
		{"not a member", "other", "", ""},
	} {
		tok, err := CreateToken(ctx, st, "ana", tc.ws, "t", tc.role)
		if tc.want == "" {
			if err == nil {
				t.Errorf("%s: no error", tc.name)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got, err := st.TokenByHash(ctx, TokenHash(tok))
		if err != nil {
			t.Fatalf("%s: the stored token: %v", tc.name, err)
		}
		if got.Role != tc.want {
			t.Errorf("%s: role %q, want %q", tc.name, got.Role, tc.want)
		}
	}
	if _, err := CreateToken(ctx, st, "nobody", "", "t", ""); err == nil || !strings.Contains(err.Error(), "opsbook user add") {
		t.Errorf("an unknown user: %v", err)
	}
}
