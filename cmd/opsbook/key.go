package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/opsbook/opsbook/cli"
	"github.com/opsbook/opsbook/engine/secret"
)

const keyUsage = `usage: opsbook key rotate [--data DIR] [--db URL]

Re-seals every workspace secret under a new key, while the studio runs.

With the key file (secret.key in --data), a new key is made, written
first in the file with the old one kept after it, every secret is
re-sealed in one transaction, then the old key is removed from the file.
Running servers read the file again and follow.

With OPSBOOK_SECRET_KEY, make a new key (openssl rand -base64 32), restart
every server with OPSBOOK_SECRET_KEY=<new> and
OPSBOOK_SECRET_KEY_PREVIOUS=<old>, run this command with the same two
variables, then restart the servers without OPSBOOK_SECRET_KEY_PREVIOUS.
See docs/KEYS.md.
`

// keyCmd is `opsbook key rotate`.
func keyCmd(args []string) int {
	if len(args) == 0 || args[0] != "rotate" {
		fmt.Fprint(os.Stderr, keyUsage)
		return cli.ExitInvalid
	}
	fs := cli.NewFlagSet("key rotate", os.Stderr, "")
	var d dbFlags
	d.register(fs)
	if _, code, ok := cli.ParseFlags(fs, args[1:], os.Stderr); !ok {
		return code
	}
	envMode := strings.TrimSpace(os.Getenv(secret.EnvKey)) != ""
	if _, err := os.Stat(filepath.Join(d.data, secret.KeyFile)); !envMode && err != nil {
		fmt.Fprintf(os.Stderr, "opsbook key rotate: no key file in %s: give the studio's --data folder, or, when the studio takes its key from OPSBOOK_SECRET_KEY, set it and OPSBOOK_SECRET_KEY_PREVIOUS (see opsbook key -h)\n", d.data)
		return cli.ExitInvalid
	}
	ctx := context.Background()
	st, err := d.open(ctx, newLogger(io.Discard, "error"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "opsbook key rotate:", err)
		return cli.ExitFailed
	}
	defer st.Close()
	var r secret.Rotation
	if envMode {
		cur := os.Getenv(secret.EnvKey)
		prev := os.Getenv(secret.EnvPreviousKey)
		if strings.TrimSpace(prev) == "" {
			fmt.Fprintln(os.Stderr, "opsbook key rotate: OPSBOOK_SECRET_KEY is set, so the new key comes from it: set OPSBOOK_SECRET_KEY_PREVIOUS to the key it replaces (see opsbook key -h)")
			return cli.ExitInvalid
		}
		k, err := secret.LoadKeys(cur, prev, "")
		if err == nil {
			r, err = secret.Rotate(ctx, st, k)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "opsbook key rotate:", err)
			return cli.ExitFailed
		}
		fmt.Printf("Re-sealed %d secrets under key %s. Restart the servers without OPSBOOK_SECRET_KEY_PREVIOUS: the old key now opens nothing.\n", r.Resealed, r.KeyID)
		return cli.ExitOK
	}
	r, err = secret.RotateFile(ctx, d.data, st)
	if err != nil {
		fmt.Fprintln(os.Stderr, "opsbook key rotate:", err)
		return cli.ExitFailed
	}
	fmt.Printf("Re-sealed %d secrets under key %s; the old key is gone from the key file.\n", r.Resealed, r.KeyID)
	return cli.ExitOK
}
