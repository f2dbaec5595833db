package gitsync

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"path/filepath"
	"strings"
	"testing"

	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
)

// No network here: these check how secrets become transport credentials.

func sshKeys(t *testing.T) (plain, encrypted, public []byte) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ssh.MarshalPrivateKey(priv, "deploy")
	if err != nil {
		t.Fatal(err)
	}
	eb, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "deploy", []byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(b), pem.EncodeToMemory(eb), ssh.MarshalAuthorizedKey(sp)
}

func TestAuth(t *testing.T) {
	t.Parallel()
	key, encKey, pubKey := sshKeys(t)
	hostKey := "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
	for _, tc := range []struct {
		name    string
		remote  string
		auth    Auth
		want    string // the method's String(), or "" for none
		wantErr string
	}{
		{"https token", "https://github.com/org/repo.git", Auth{Token: "tk-9Zq"}, "http-basic-auth - git:*******", ""},
		{"https token with user", "https://gitlab.com/org/repo.git", Auth{Username: "oauth2", Token: "tk-9Zq"}, "http-basic-auth - oauth2:*******", ""},
		{"https without token", "https://github.com/org/repo.git", Auth{}, "", ""},
		{"https with ssh key", "https://github.com/org/repo.git", Auth{SSHKey: key}, "", "SSH key is set but the remote is an HTTPS URL"},
		{"local path", "/srv/git/flows.git", Auth{Token: "ignored"}, "", ""},
		{"scp-like ssh", "git@github.com:org/repo.git", Auth{SSHKey: key}, "user: git, name: ssh-public-keys", ""},
		{"ssh url user", "ssh://deploy@git.example.com:2222/org/repo.git", Auth{SSHKey: key, Username: "other"}, "user: deploy, name: ssh-public-keys", ""},
		{"ssh url no user", "ssh://git.example.com/org/repo.git", Auth{SSHKey: key, Username: "ops"}, "user: ops, name: ssh-public-keys", ""},
		{"encrypted key", "git@github.com:org/repo.git", Auth{SSHKey: encKey, SSHPassphrase: "s3cret"}, "user: git, name: ssh-public-keys", ""},
		{"known hosts", "git@github.com:org/repo.git", Auth{SSHKey: key, KnownHosts: []byte("# pinned\n" + hostKey)}, "user: git, name: ssh-public-keys", ""},
		{"bad known hosts", "git@github.com:org/repo.git", Auth{SSHKey: key, KnownHosts: []byte("github.com not-a-key\n")}, "", "known hosts cannot be read"},
		{"encrypted key without passphrase", "git@github.com:org/repo.git", Auth{SSHKey: encKey}, "", "encrypted and no passphrase"},
		{"wrong passphrase", "git@github.com:org/repo.git", Auth{SSHKey: encKey, SSHPassphrase: "nope"}, "", "passphrase is wrong"},
		{"public key", "git@github.com:org/repo.git", Auth{SSHKey: pubKey}, "", "not a PEM private key"},
		{"garbage key", "git@github.com:org/repo.git", Auth{SSHKey: []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n")}, "", "SSH key cannot be read"},
		{"ssh without key", "git@github.com:org/repo.git", Auth{}, "", "no SSH key is set"},
		{"ssh with token", "git@github.com:org/repo.git", Auth{Token: "tk-9Zq"}, "", "HTTPS token is set but the remote is an SSH address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, err := tc.auth.method(tc.remote, filepath.Join(t.TempDir(), "known_hosts"))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "tk-9Zq") {
					t.Fatalf("the error shows a secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if m != nil {
				got = m.String()
			}
			if got != tc.want {
				t.Fatalf("method %q, want %q", got, tc.want)
			}
			switch m := m.(type) {
			case *githttp.BasicAuth:
				if m.Password != tc.auth.Token {
					t.Fatal("the token is not the password")
				}
			case *gitssh.PublicKeys:
				if (len(tc.auth.KnownHosts) > 0) != (m.HostKeyCallback != nil) {
					t.Fatal("known hosts not wired")
				}
			}
		})
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://user:tk-9Zq@github.com/org/repo.git": "https://user:***@github.com/org/repo.git",
		"https://github.com/org/repo.git":             "https://github.com/org/repo.git",
		"https://tok@github.com/a@b":                  "https://tok@github.com/a@b",
		"git@github.com:org/repo.git":                 "git@github.com:org/repo.git",
		"/srv/git/repo.git":                           "/srv/git/repo.git",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}
