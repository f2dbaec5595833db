// Command opsbook is the Opsbook binary: the studio server, workers, and the
// commands that run and check flow folders.
package main

import (
	"context"
	"fmt"
	"os"
	// The zones of cron triggers (timezone: Europe/Paris) must not depend
	// on the machine's zoneinfo, which minimal images and the sandbox lack.
	_ "time/tzdata"

	"github.com/opsbook/opsbook/cli"
)

const usage = `usage: opsbook COMMAND [flags]

commands:
  serve                 the studio: web UI, API, WebSockets, in-process workers (--workers N)
  worker                runs only: claims runs from the queue (PostgreSQL; --concurrency N)
  run DIR               run a flow folder here (no server, no database)
  check DIR             validate a flow folder
  export FLOW           a flow's version from a studio into a folder (--server, --token)
  import DIR            a folder into a studio as a new version (--server, --token)
  rerun RUN             re-run a failed run from its failed cell (--server, --token, --wait 30s)
  migrate up|down|status  database migrations
  user add NAME         create a user (password on standard input)
  token create --user NAME  print a new API token (--expires 720h: it stops working then)
  token list --user NAME    a user's API tokens
  token revoke ID           revoke an API token; open sockets using it close
  key rotate            re-seal every secret under a new key (while serving)
  backup FILE           a consistent copy of --data (SQLite) into FILE.tar.gz, while serving
  restore FILE          a backup into a new or empty --data folder
  version               the version, commit, build date and Go version

Run "opsbook COMMAND -h" for a command's flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(cli.ExitInvalid)
	}
	ctx := context.Background()
	args := os.Args[2:]
	var code int
	switch os.Args[1] {
	case "run":
		code = cli.Run(ctx, args, cli.OS())
	case "check":
		code = cli.Check(args, cli.OS())
	case "export":
		code = cli.Export(ctx, args, cli.OS())
	case "import":
		code = cli.Import(ctx, args, cli.OS())
	case "rerun":
		code = cli.Rerun(ctx, args, cli.OS())
	case "serve":
		code = serve(args)
	case "worker":
		code = workerCmd(args)
	case "migrate":
		code = migrateCmd(args)
	case "user":
		code = userCmd(args)
	case "token":
		code = tokenCmd(args)
	case "key":
		code = keyCmd(args)
	case "backup":
		code = backupCmd(args)
	case "restore":
		code = restoreCmd(args)
	case "version", "--version":
		printVersion(os.Stdout, readBuildInfo())
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "opsbook: unknown command %q\n\n%s", os.Args[1], usage)
		code = cli.ExitInvalid
	}
	os.Exit(code)
}
