package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/opsbook/opsbook/cli"
	"github.com/opsbook/opsbook/engine/backup"
)

// pgBackupHelp is what `opsbook backup --db` says instead of a backup: on
// PostgreSQL the database is the backup, and the key is kept apart.
const pgBackupHelp = `opsbook backup: on PostgreSQL, back up the database with its own tools:
  pg_dump --format=custom --file=opsbook.dump 'postgres://…'
and keep the secret key with it (OPSBOOK_SECRET_KEY, or secret.key in --data):
without the key, the workspaces' secrets in the dump cannot be opened.
The rest of --data (the git and scratch caches) is rebuilt from the database.
See "Backups" in docs/OPERATING.md.
`

func backupCmd(args []string) int {
	fs := cli.NewFlagSet("backup", os.Stderr, "usage: opsbook backup FILE.tar.gz [flags]\n")
	var d dbFlags
	d.register(fs)
	force := fs.Bool("force", false, "replace FILE if it exists")
	pos, code, ok := cli.ParseFlags(fs, args, os.Stderr)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintln(os.Stderr, "usage: opsbook backup FILE.tar.gz [--data DIR] [--force]")
		return cli.ExitInvalid
	}
	if d.db != "" {
		fmt.Fprint(os.Stderr, pgBackupHelp)
		return cli.ExitInvalid
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m, err := backup.Create(ctx, pos[0], backup.Options{Data: d.data, Version: version, Force: *force, Log: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, "opsbook backup:", err)
		return cli.ExitFailed
	}
	var total int64
	for _, f := range m.Files {
		total += f.Size
	}
	fmt.Fprintf(os.Stderr, "opsbook backup: wrote %s: %d files, %d bytes before compression, schema version %d\n", pos[0], len(m.Files), total, m.Schema)
	return cli.ExitOK
}

func restoreCmd(args []string) int {
	fs := cli.NewFlagSet("restore", os.Stderr, "usage: opsbook restore FILE --data DIR\n")
	var d dbFlags
	d.register(fs)
	pos, code, ok := cli.ParseFlags(fs, args, os.Stderr)
	if !ok {
		return code
	}
	if len(pos) != 1 || d.db != "" {
		fmt.Fprintln(os.Stderr, "usage: opsbook restore FILE --data DIR (a new or empty folder; PostgreSQL: pg_restore, see docs/OPERATING.md)")
		return cli.ExitInvalid
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m, err := backup.Restore(ctx, pos[0], d.data, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "opsbook restore:", err)
		return cli.ExitFailed
	}
	fmt.Fprintf(os.Stderr, "opsbook restore: %d files into %s (made by opsbook %s at %s, schema version %d); start it with opsbook serve --data %s\n",
		len(m.Files), d.data, m.Opsbook, m.Created.Format("2006-01-02 15:04:05Z"), m.Schema, d.data)
	return cli.ExitOK
}
