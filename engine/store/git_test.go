package store

import (
	"context"
	"testing"
)

// gitTests run in the suite, on both databases.
var gitTests = []struct {
	name string
	fn   func(t *testing.T, s *Store)
}{
	{"Git", testGit},
}

func testGit(t *testing.T, s *Store) {
	ctx := context.Background()
	fx := setup(t, s)
	_, err := s.GitSettings(ctx, fx.ws.ID)
	isErr(t, err, ErrNotFound)
	ok(t, s.SetGitSettings(ctx, GitSettings{WorkspaceID: fx.ws.ID, Remote: "/srv/git/ops.git", Branch: "main", UpdatedBy: fx.user.ID}))
	ok(t, s.SetGitSettings(ctx, GitSettings{WorkspaceID: fx.ws.ID, Remote: "/srv/git/ops.git", Branch: "trunk", Folder: "flows", UpdatedBy: fx.user.ID}))
	g, err := s.GitSettings(ctx, fx.ws.ID)
	ok(t, err)
	if g.Remote != "/srv/git/ops.git" || g.Branch != "trunk" || g.Folder != "flows" || g.UpdatedBy != fx.user.ID {
		t.Fatalf("GitSettings = %+v", g)
	}

	fg, err := s.FlowGitOf(ctx, fx.flow.ID)
	ok(t, err)
	if fg.Slug != "nightly" || fg.Latest != 1 || fg.LatestHash != "hash1" || fg.Commit != "" || fg.Hash != "" {
		t.Fatalf("FlowGitOf before a sync = %+v", fg)
	}
	ok(t, s.SetFlowGit(ctx, fx.flow.ID, "c1", "hash1", ""))
	ok(t, s.SetFlowGitError(ctx, fx.flow.ID, "push refused"))
	_, err = s.CreateVersion(ctx, fx.flow.ID, Version{Author: fx.user.ID, Hash: "hash2", Files: sampleFiles})
	ok(t, err)
	all, err := s.FlowGits(ctx, fx.ws.ID)
	ok(t, err)
	if len(all) != 1 || all[0].Latest != 2 || all[0].LatestHash != "hash2" || all[0].Commit != "c1" || all[0].Hash != "hash1" || all[0].Error != "push refused" {
		t.Fatalf("FlowGits = %+v", all)
	}

	f, err := s.ImportFlow(ctx, fx.ws.ID, "pulled", sampleFlow(), Version{Message: "Pulled from git", Author: fx.user.ID, Hash: "h", Files: sampleFiles})
	ok(t, err)
	v, err := s.Version(ctx, f.ID, 1)
	ok(t, err)
	if v.Message != "Pulled from git" || v.Hash != "h" || len(v.Files) != len(sampleFiles) {
		t.Fatalf("ImportFlow's version = %+v", v)
	}

	ok(t, s.DeleteGitSettings(ctx, fx.ws.ID))
	isErr(t, s.DeleteGitSettings(ctx, fx.ws.ID), ErrNotFound)
	fg, err = s.FlowGitOf(ctx, fx.flow.ID)
	ok(t, err)
	if fg.Commit != "" || fg.Error != "" {
		t.Fatalf("FlowGitOf after the settings were deleted = %+v", fg)
	}
}
