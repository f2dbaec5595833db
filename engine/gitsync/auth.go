package gitsync

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
)

// Auth holds git credentials, taken from the workspace's secrets. An
// https:// remote uses Token; an SSH remote (ssh:// or git@host:path) uses
// SSHKey; a local path uses neither.
type Auth struct {
	// Username goes with Token over HTTPS ("git" when empty: GitHub and
	// Gitea accept any name with a token; GitLab wants "oauth2" and
	// Bitbucket "x-token-auth"), and is the SSH user when the URL names
	// none ("git" when empty).
	Username string
	// Token is an HTTPS access token (or password).
	Token string
	// SSHKey is an SSH private key in PEM form (OpenSSH, PKCS#1, PKCS#8).
	SSHKey []byte
	// SSHPassphrase opens SSHKey when it is encrypted.
	SSHPassphrase string
	// KnownHosts holds known_hosts lines for the SSH server (the output of
	// ssh-keyscan HOST). When empty, the system's known_hosts files are
	// used (SSH_KNOWN_HOSTS, ~/.ssh/known_hosts, /etc/ssh/ssh_known_hosts).
	KnownHosts []byte
}

// method builds the transport credentials for remote; knownHosts is where
// KnownHosts is written for the SSH client to read.
func (a Auth) method(remote, knownHosts string) (transport.AuthMethod, error) {
	ep, err := transport.NewEndpoint(remote)
	if err != nil {
		return nil, fmt.Errorf("remote %q is neither a URL nor a path: %v", redact(remote), err)
	}
	switch ep.Protocol {
	case "http", "https":
		if len(a.SSHKey) > 0 {
			return nil, errors.New("an SSH key is set but the remote is an HTTPS URL; use the repository's SSH address (git@host:org/repo.git) or an HTTPS token")
		}
		if a.Token == "" {
			// Credentials written in the URL, or a public repository
			// (which can be read, not pushed to).
			return nil, nil
		}
		user := a.Username
		if user == "" {
			user = "git"
		}
		return &githttp.BasicAuth{Username: user, Password: a.Token}, nil
	case "ssh":
		if len(a.SSHKey) == 0 {
			if a.Token != "" {
				return nil, errors.New("an HTTPS token is set but the remote is an SSH address; use the repository's https:// URL, or add an SSH private key")
			}
			return nil, errors.New("the remote is an SSH address but no SSH key is set; add the private key of a deploy key with write access to the workspace's git secrets")
		}
		user := ep.User
		if user == "" {
			user = a.Username
		}
		if user == "" {
			user = "git"
		}
		keys, err := parseKey(user, a.SSHKey, a.SSHPassphrase)
		if err != nil {
			return nil, err
		}
		if len(a.KnownHosts) > 0 {
			cb, err := knownHostsCallback(a.KnownHosts, knownHosts)
			if err != nil {
				return nil, err
			}
			keys.HostKeyCallback = cb
		}
		return keys, nil
	}
	return nil, nil
}

// parseKey reads an SSH private key, with errors that say what to fix.
func parseKey(user string, pem []byte, passphrase string) (*gitssh.PublicKeys, error) {
	var missing *ssh.PassphraseMissingError
	if passphrase == "" {
		// go-git would try the empty passphrase and report a bcrypt error.
		if _, err := ssh.ParsePrivateKey(pem); errors.As(err, &missing) {
			return nil, errors.New("the SSH key is encrypted and no passphrase is set; add the key's passphrase to the workspace's git secrets")
		}
	}
	keys, err := gitssh.NewPublicKeys(user, pem, passphrase)
	if err == nil {
		return keys, nil
	}
	switch {
	case errors.As(err, &missing):
		return nil, errors.New("the SSH key is encrypted and no passphrase is set; add the key's passphrase to the workspace's git secrets")
	case strings.Contains(err.Error(), "password incorrect"), strings.Contains(err.Error(), "passphrase"):
		return nil, errors.New("the SSH key's passphrase is wrong; check the passphrase in the workspace's git secrets")
	case !strings.Contains(string(pem), "PRIVATE KEY-----"):
		return nil, fmt.Errorf("the SSH key is not a PEM private key (%v); paste the whole private key, from the -----BEGIN … PRIVATE KEY----- line to the -----END … PRIVATE KEY----- line, not the .pub public key", err)
	}
	return nil, fmt.Errorf("the SSH key cannot be read (%v); paste the whole private key again, or make a new one with ssh-keygen -t ed25519", err)
}

func knownHostsCallback(lines []byte, file string) (ssh.HostKeyCallback, error) {
	rest := lines
	for len(rest) > 0 {
		var err error
		_, _, _, _, rest, err = ssh.ParseKnownHosts(rest)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("the git known hosts cannot be read (%v); give lines as ssh-keyscan HOST prints them", err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return nil, fmt.Errorf("write known hosts: %w", err)
	}
	if err := os.WriteFile(file, lines, 0o600); err != nil {
		return nil, fmt.Errorf("write known hosts: %w", err)
	}
	cb, err := gitssh.NewKnownHostsCallback(file)
	if err != nil {
		return nil, fmt.Errorf("read known hosts: %w", err)
	}
	return cb, nil
}
