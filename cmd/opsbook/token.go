package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/opsbook/opsbook/cli"
	"github.com/opsbook/opsbook/engine/store"
)

// tokenManage is `opsbook token list` and `opsbook token revoke`. A
// revocation reaches running servers at once on PostgreSQL (NOTIFY); on
// SQLite they notice it at their next check of open sockets (30 s).
func tokenManage(args []string) int {
	const usage = "usage: opsbook token list --user NAME | opsbook token revoke ID"
	fs := cli.NewFlagSet("token "+args[0], os.Stderr, "")
	var d dbFlags
	d.register(fs)
	user := fs.String("user", "", "the `NAME` of the user whose tokens to list")
	rest, code, ok := cli.ParseFlags(fs, args[1:], os.Stderr)
	if !ok {
		return code
	}
	if (args[0] == "list" && (*user == "" || len(rest) != 0)) || (args[0] == "revoke" && len(rest) != 1) {
		fmt.Fprintln(os.Stderr, usage)
		return cli.ExitInvalid
	}
	ctx := context.Background()
	st, err := d.open(ctx, newLogger(io.Discard, "error"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "opsbook token "+args[0]+":", err)
		return cli.ExitFailed
	}
	defer st.Close()
	if args[0] == "revoke" {
		if err := st.RevokeToken(ctx, rest[0]); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				fmt.Fprintf(os.Stderr, "opsbook token revoke: no token %s that is not revoked already; see opsbook token list --user NAME\n", rest[0])
				return cli.ExitFailed
			}
			fmt.Fprintln(os.Stderr, "opsbook token revoke:", err)
			return cli.ExitFailed
		}
		fmt.Println("token", rest[0], "revoked")
		return cli.ExitOK
	}
	u, err := st.UserByName(ctx, *user)
	if err != nil {
		fmt.Fprintln(os.Stderr, "opsbook token list:", err)
		return cli.ExitFailed
	}
	toks, err := st.Tokens(ctx, u.ID)
	if err != nil {
		fmt.Fprintln(os.Stderr, "opsbook token list:", err)
		return cli.ExitFailed
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tWORKSPACE\tROLE\tCREATED\tEXPIRES\tSTATUS")
	now := time.Now()
	for _, t := range toks {
		ws := t.WorkspaceID
		if w, err := st.WorkspaceByID(ctx, t.WorkspaceID); err == nil {
			ws = w.Slug
		}
		expires, status := "never", "active"
		if !t.ExpiresAt.IsZero() {
			expires = t.ExpiresAt.UTC().Format(time.RFC3339)
		}
		switch {
		case !t.RevokedAt.IsZero():
			status = "revoked"
		case !t.Live(now):
			status = "expired"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, ws, t.Role, t.CreatedAt.UTC().Format(time.RFC3339), expires, status)
	}
	tw.Flush()
	return cli.ExitOK
}
