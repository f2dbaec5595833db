package server

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/opsbook/opsbook/account"
	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/sandbox"
	"github.com/opsbook/opsbook/engine/secret"
	"github.com/opsbook/opsbook/engine/store"
)

// TestKeyRotateWhileServing rotates the key file under a running server on
// both databases: runs still get the right values (one of them started
// while the rotation runs), a secret saved by the server right after is
// sealed with the new key, and the old key opens nothing any more.
func TestKeyRotateWhileServing(t *testing.T) {
	for _, dialect := range []string{testDB} {
		t.Run(dialect, func(t *testing.T) {
			if os.Getenv(secret.EnvKey) != "" {
				t.Skip("OPSBOOK_SECRET_KEY is set: this test rotates the key file")
			}
			f, data := setupOwner(t, dialect)
			ctx := context.Background()
			f.addFlow("keys", &engine.Flow{Name: "Keys", Cells: []engine.Cell{
				{Name: "check", Kind: engine.KindExpr, File: "check.expr", Source: `secrets.TOKEN == "token-value-1" && secrets.GIT_TOKEN == "git-token-value"` + "\n"},
			}})
			f.apiJSON("owner", "PUT", "/api/v1/secrets/TOKEN", `{"value":"token-value-1"}`, http.StatusCreated)
			f.apiJSON("owner", "PUT", "/api/v1/secrets/GIT_TOKEN", `{"value":"git-token-value"}`, http.StatusCreated)
			checkRun := func() {
				t.Helper()
				run := f.startRun("keys", "{}", "30s")
				f.waitRun(run)
				got := f.apiJSON("owner", "GET", "/api/v1/runs/"+run, "", http.StatusOK)
				if got["status"] != "succeeded" || !strings.Contains(toJSON(got["cells"]), `"value":true`) {
					t.Errorf("run = %v, want the right values", got)
				}
			}
			checkRun()

			oldKey, err := secret.LoadKey("", data)
			if err != nil {
				t.Fatal(err)
			}
			oldBox, _ := secret.NewBox(oldKey)
			oldSealed, err := f.st.SealedSecrets(ctx, f.ws.ID, nil)
			if err != nil {
				t.Fatal(err)
			}

			// A run starts while the rotation re-seals.
			var wg sync.WaitGroup
			wg.Go(func() { checkRun() })
			r, err := secret.RotateFile(ctx, data, f.st)
			wg.Wait()
			if err != nil {
				t.Fatal(err)
			}
			if r.Resealed != 2 || r.KeyID == secret.KeyID(oldKey) {
				t.Fatalf("rotation = %+v", r)
			}
			// The server still seals with the old key: the store refuses
			// that, the server reads the file again and seals anew.
			f.apiJSON("owner", "PUT", "/api/v1/secrets/TOKEN", `{"value":"token-value-1"}`, http.StatusOK)
			checkRun()

			ids, err := f.st.SealedKeyIDs(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(ids) != 1 || ids[r.KeyID] != 2 {
				t.Fatalf("secrets by key: %v, want all %d under %s", ids, 2, r.KeyID)
			}
			b, err := os.ReadFile(filepath.Join(data, secret.KeyFile))
			if err != nil {
				t.Fatal(err)
			}
			if lines := strings.Fields(string(b)); len(lines) != 1 {
				t.Fatalf("the key file holds %d lines after the rotation, want the new key alone", len(lines))
			}
			// The old key opens nothing: not the stored values, and the
			// server refuses what it sealed.
			now, _ := f.st.SealedSecrets(ctx, f.ws.ID, nil)
			for name, v := range now {
				if _, err := oldBox.Open(v, secret.Context(f.ws.ID, name)); err == nil {
					t.Errorf("the old key opens %s", name)
				}
			}
			for name, v := range oldSealed {
				if _, err := f.srv.box.Open(v, secret.Context(f.ws.ID, name)); !errors.Is(err, secret.ErrKey) {
					t.Errorf("the server opens %s as sealed with the old key: %v", name, err)
				}
			}
			// A server that kept the old key cannot write with it.
			_, err = f.st.SetSecret(ctx, f.ws.ID, "TOKEN", oldBox.Seal("token-value-1", secret.Context(f.ws.ID, "TOKEN")), "")
			if !errors.Is(err, store.ErrKeyRetired) {
				t.Fatalf("a value sealed with the old key: %v, want ErrKeyRetired", err)
			}
			checkRun()
		})
	}
}

// TestKeyRotateAllOrNothing: a secret that does not open stops the
// rotation with nothing re-sealed and both keys kept in the file; once it
// is gone, running again finishes the same rotation.
func TestKeyRotateAllOrNothing(t *testing.T) {
	for _, dialect := range []string{testDB} {
		t.Run(dialect, func(t *testing.T) {
			if os.Getenv(secret.EnvKey) != "" {
				t.Skip("OPSBOOK_SECRET_KEY is set: this test rotates the key file")
			}
			f, data := setupOwner(t, dialect)
			ctx := context.Background()
			for _, name := range []string{"A_ONE", "B_TWO", "C_THREE"} {
				f.apiJSON("owner", "PUT", "/api/v1/secrets/"+name, `{"value":"value-of-`+name+`"}`, http.StatusCreated)
			}
			// Sealed with a key nobody holds: it cannot be re-sealed.
			stranger, _ := secret.NewBox(make([]byte, secret.KeySize))
			if _, err := f.st.SetSecret(ctx, f.ws.ID, "B_BAD", stranger.Seal("x", secret.Context(f.ws.ID, "B_BAD")), ""); err != nil {
				t.Fatal(err)
			}
			before, _ := f.st.SealedSecrets(ctx, f.ws.ID, nil)
			oldKey, _ := secret.LoadKey("", data)
			if _, err := secret.RotateFile(ctx, data, f.st); err == nil || !strings.Contains(err.Error(), "B_BAD") || !strings.Contains(err.Error(), "run opsbook key rotate again") {
				t.Fatalf("rotation with a damaged secret: %v", err)
			}
			after, _ := f.st.SealedSecrets(ctx, f.ws.ID, nil)
			for name, v := range before {
				if after[name] != v {
					t.Errorf("%s changed by a failed rotation", name)
				}
			}
			k, err := secret.LoadKeys("", "", data)
			if err != nil || len(k.Previous) != 1 || string(k.Previous[0]) != string(oldKey) {
				t.Fatalf("key file after a failed rotation: %v, previous %d", err, len(k.Previous))
			}
			if err := f.st.DeleteSecret(ctx, f.ws.ID, "B_BAD"); err != nil {
				t.Fatal(err)
			}
			// The server opens the old values meanwhile.
			f.addFlow("one", &engine.Flow{Name: "One", Cells: []engine.Cell{{Name: "v", Kind: engine.KindExpr, File: "v.expr", Source: `secrets.A_ONE == "value-of-A_ONE"` + "\n"}}})
			run := f.startRun("one", "{}", "30s")
			f.waitRun(run)
			if got := f.apiJSON("owner", "GET", "/api/v1/runs/"+run, "", http.StatusOK); !strings.Contains(toJSON(got["cells"]), `"value":true`) {
				t.Fatalf("run during a half-done rotation: %v", got)
			}
			r, err := secret.RotateFile(ctx, data, f.st)
			if err != nil {
				t.Fatal(err)
			}
			if r.KeyID != secret.KeyID(k.Current) || r.Resealed != 3 {
				t.Fatalf("finishing rotation = %+v, want the key of the first attempt (%s) and 3 secrets", r, secret.KeyID(k.Current))
			}
		})
	}
}

// TestKeyRotateEnv rotates as with OPSBOOK_SECRET_KEY: the new key and the
// old one given, every secret re-sealed, the old key refused afterwards.
func TestKeyRotateEnv(t *testing.T) {
	for _, dialect := range []string{testDB} {
		t.Run(dialect, func(t *testing.T) {
			f, data := setupOwner(t, dialect)
			ctx := context.Background()
			f.apiJSON("owner", "PUT", "/api/v1/secrets/TOKEN", `{"value":"token-value-1"}`, http.StatusCreated)
			old, err := secret.LoadKey("", data)
			if err != nil {
				t.Fatal(err)
			}
			next := make([]byte, secret.KeySize)
			next[0] = 1
			enc := base64.StdEncoding.EncodeToString
			k, err := secret.LoadKeys(enc(next), enc(old), "")
			if err != nil {
				t.Fatal(err)
			}
			r, err := secret.Rotate(ctx, f.st, k)
			if err != nil || r.Resealed != 1 || r.KeyID != secret.KeyID(next) {
				t.Fatalf("rotation %+v, %v", r, err)
			}
			// Again: nothing left to do.
			if r, err := secret.Rotate(ctx, f.st, k); err != nil || r.Resealed != 0 {
				t.Fatalf("second rotation %+v, %v", r, err)
			}
			newBox, _ := secret.NewBox(next)
			oldBox, _ := secret.NewBox(old)
			sealed, _ := f.st.SealedSecrets(ctx, f.ws.ID, nil)
			if v, err := newBox.Open(sealed["TOKEN"], secret.Context(f.ws.ID, "TOKEN")); err != nil || v != "token-value-1" {
				t.Fatalf("the new key: %q %v", v, err)
			}
			if _, err := oldBox.Open(sealed["TOKEN"], secret.Context(f.ws.ID, "TOKEN")); err == nil {
				t.Fatal("the old key opens a re-sealed secret")
			}
			if _, err := f.st.SetSecret(ctx, f.ws.ID, "OTHER", oldBox.Seal("other-value", secret.Context(f.ws.ID, "OTHER")), ""); !errors.Is(err, store.ErrKeyRetired) {
				t.Fatalf("a value sealed with the old key: %v", err)
			}
			if _, err := f.st.SetSecret(ctx, f.ws.ID, "OTHER", newBox.Seal("other-value", secret.Context(f.ws.ID, "OTHER")), ""); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// setupOwner starts a server on a store of its own with one workspace and
// its owner, and returns the data folder (where the key file is).
func setupOwner(t *testing.T, dialect string) (*fixture, string) {
	t.Helper()
	ctx := context.Background()
	st, data := openStore(t, dialect)
	f := serveFixture(t, st, Config{DataDir: data, Sandbox: &sandbox.Config{}}, false)
	u, err := st.CreateUser(ctx, "owner", "Owner", testHash)
	if err != nil {
		t.Fatal(err)
	}
	f.users["owner"] = u
	if err := st.AddMember(ctx, f.ws.ID, u.ID, engine.RoleOwner); err != nil {
		t.Fatal(err)
	}
	if f.tokens["owner"], err = account.CreateToken(ctx, st, "owner", "", "test", ""); err != nil {
		t.Fatal(err)
	}
	return f, data
}

// TestRunWithUnopenableSecret: a secret sealed with a key this server does
// not hold makes starting a run that needs it answer what is wrong with the
// key (the owner's to fix), not "something went wrong".
func TestRunWithUnopenableSecret(t *testing.T) {
	f := setup(t, testDB)
	ctx := context.Background()
	stranger, _ := secret.NewBox(make([]byte, secret.KeySize))
	if _, err := f.st.SetSecret(ctx, f.ws.ID, "TOKEN", stranger.Seal("x", secret.Context(f.ws.ID, "TOKEN")), ""); err != nil {
		t.Fatal(err)
	}
	f.addFlow("uses", &engine.Flow{Name: "Uses", Cells: []engine.Cell{{Name: "v", Kind: engine.KindExpr, File: "v.expr", Source: `secrets.TOKEN != ""` + "\n"}}})
	got := f.apiJSON("owner", "POST", "/api/v1/flows/uses/runs", `{"inputs":{}}`, http.StatusInternalServerError)
	e, _ := got["error"].(map[string]any)
	if msg, _ := e["message"].(string); e["code"] != "secret_key" || !strings.Contains(msg, "TOKEN") || !strings.Contains(msg, "which this server does not hold") {
		t.Errorf("answer %v; want the key problem named", got)
	}
}
