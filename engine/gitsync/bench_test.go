package gitsync

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/flow"
)

// flow20 is a 20-cell flow as plain files.
func flow20(b *testing.B) []flow.File {
	b.Helper()
	f := &engine.Flow{Name: "Twenty cells"}
	for i := range 20 {
		f.Cells = append(f.Cells, engine.Cell{
			Name:   fmt.Sprintf("step_%02d", i),
			Kind:   engine.KindShell,
			File:   fmt.Sprintf("step_%02d.sh", i),
			Source: fmt.Sprintf("#!/bin/sh\n# step %d\nset -eu\necho \"step %d of 20\"\nls -l /tmp | head -n %d\n", i, i, i+1),
		})
	}
	files, err := flow.Files(f)
	if err != nil {
		b.Fatal(err)
	}
	return files
}

// BenchmarkCommitPush measures saving a version of a 20-cell flow: fetch,
// build the commit, push to a local bare repository (one cell changed each
// time, so every iteration makes and pushes a commit).
func BenchmarkCommitPush(b *testing.B) {
	ctx := context.Background()
	s := setup(b, bareRemote(b), "flows")
	files := flow20(b)
	if _, err := s.Commit(ctx, "twenty", files, ada, "v1", nil); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		files[1].Data = []byte("echo " + strconv.Itoa(i) + "\n")
		if _, err := s.Commit(ctx, "twenty", files, ada, "v"+strconv.Itoa(i+2), []Signature{grace}); err != nil {
			b.Fatal(err)
		}
	}
}
