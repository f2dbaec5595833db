// Command bundle builds the studio's editor bundle, static/src/main.js, into
// static/dist/app.js with esbuild. With -check it builds in memory and exits
// 1 when the committed bundle differs (for `make verify`).
//
// Run it from the repository root after `cd static && npm ci`.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/evanw/esbuild/pkg/api"
)

func main() {
	check := flag.Bool("check", false, "exit 1 when static/dist/app.js is not what a fresh build gives")
	dir := flag.String("dir", "static", "the static folder (holding src/, node_modules/ and dist/)")
	flag.Parse()
	if err := run(*dir, *check); err != nil {
		fmt.Fprintln(os.Stderr, "bundle:", err)
		os.Exit(1)
	}
}

func run(dir string, check bool) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(abs, "node_modules")); err != nil {
		return fmt.Errorf("%s/node_modules is missing: run `cd %s && npm ci` first", dir, dir)
	}
	out := filepath.Join(abs, "dist", "app.js")
	res := api.Build(api.BuildOptions{
		AbsWorkingDir:     abs,
		EntryPoints:       []string{"src/main.js"},
		Outfile:           out,
		Bundle:            true,
		Write:             false,
		Format:            api.FormatESModule,
		Target:            api.ES2020,
		MinifyWhitespace:  true,
		MinifyIdentifiers: true,
		MinifySyntax:      true,
		Sourcemap:         api.SourceMapNone,
		LegalComments:     api.LegalCommentsEndOfFile,
		Charset:           api.CharsetUTF8,
		LogLevel:          api.LogLevelWarning,
	})
	if len(res.Errors) > 0 {
		return fmt.Errorf("esbuild: %d errors (see above)", len(res.Errors))
	}
	var built []byte
	for _, f := range res.OutputFiles {
		if f.Path == out {
			built = f.Contents
		}
	}
	if built == nil {
		return fmt.Errorf("esbuild wrote no %s", out)
	}
	if check {
		old, err := os.ReadFile(out)
		if err != nil {
			return fmt.Errorf("read committed bundle: %w", err)
		}
		if !bytes.Equal(old, built) {
			return fmt.Errorf("%s is stale: run `go run ./cmd/bundle` and commit it", filepath.Join(dir, "dist", "app.js"))
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(out, built, 0o644); err != nil {
		return err
	}
	fmt.Printf("bundle: wrote %s (%d bytes)\n", filepath.Join(dir, "dist", "app.js"), len(built))
	return nil
}
