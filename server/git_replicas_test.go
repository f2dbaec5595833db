package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine/clock"
	"github.com/opsbook/opsbook/engine/store"
)

// TestGitTwoReplicas: two servers on one PostgreSQL, each with its own
// data folder (its own clone), sync one workspace with one bare
// repository: versions saved alternately on each and in git, and at the
// same time on both, end in git with no false conflict, nothing lost, and
// the same statuses on both.
func TestGitTwoReplicas(t *testing.T) {
	t.Parallel()
	a := setup(t, "postgres")
	b := replica(t, a)
	both := []*fixture{a, b}
	ctx := context.Background()
	remote := bareRepo(t)
	a.configureGit(remote, "flows")
	other := a.addFlow("other", formFlow())
	flows := map[string]string{"hello": a.flow.ID, "other": other.ID}

	edit := func(slug, source string) {
		t.Helper()
		d, err := a.st.Draft(ctx, flows[slug])
		if err != nil {
			t.Fatal(err)
		}
		if err := a.st.UpdateCellSource(ctx, flows[slug], d.Cells[0].ID, source, a.users["editor"].ID); err != nil {
			t.Fatal(err)
		}
	}
	saveCode := func(x *fixture, slug, msg string) int {
		resp := x.do("owner", http.MethodPost, "/w/acme/flows/"+slug+"/versions", "message="+url.QueryEscape(msg))
		resp.Body.Close()
		return resp.StatusCode
	}
	save := func(x *fixture, slug, msg string) {
		t.Helper()
		if code := saveCode(x, slug, msg); code != http.StatusSeeOther {
			t.Errorf("save %s on %s: %d", slug, x.ts.URL, code)
		}
	}
	// synced waits until a flow's latest version is in git by the record,
	// and fails on any error recorded (a conflict above all).
	synced := func(slug string) store.FlowGit {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			fg, err := a.st.FlowGitOf(ctx, flows[slug])
			if err != nil {
				t.Fatal(err)
			}
			if fg.Error != "" {
				t.Fatalf("flow %s: git sync error %q", slug, fg.Error)
			}
			if fg.Hash == fg.LatestHash && fg.Commit != "" {
				return fg
			}
			if time.Now().After(deadline) {
				t.Fatalf("flow %s: v%d not synced in 30s: %+v", slug, fg.Latest, fg)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	statuses := func(x *fixture) string {
		return "hello=" + x.gitStatusOn("hello") + " other=" + x.gitStatusOn("other")
	}
	// agree checks that both replicas show want, at once (wait false) or
	// within a few seconds (a replica opens its clone in the background on
	// its first page).
	agree := func(want string, wait bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := []string{statuses(a), statuses(b)}
			if got[0] == want && got[1] == want {
				return
			}
			if !wait || time.Now().After(deadline) {
				t.Fatalf("statuses: first replica %q, second %q; want %q on both", got[0], got[1], want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	inGit := func(slug, file string) string {
		return gitRun(t, remote, "show", "main:flows/"+slug+"/"+file)
	}

	agree("hello=missing other=missing", true)

	// Alternately on each replica.
	edit("hello", "echo from the first {{ inputs.who }}\n")
	save(a, "hello", "On the first")
	synced("hello")
	agree("hello=in_sync other=missing", false)
	edit("hello", "echo from the second {{ inputs.who }}\n")
	save(b, "hello", "On the second")
	synced("hello")
	agree("hello=in_sync other=missing", false)
	if got := inGit("hello", "greet.sh"); got != "echo from the second {{ inputs.who }}\n" {
		t.Fatalf("greet.sh in git = %q", got)
	}

	// In git, pulled on the second, then saved on the first.
	eve := cloneOf(t, remote)
	eve.write("flows/hello/greet.sh", "echo from git {{ inputs.who }}\n")
	eve.commitPush("Edited in git")
	resp := b.do("editor", http.MethodPost, "/api/v1/git/pull", "")
	if pulled := body(t, resp, http.StatusOK); !strings.Contains(pulled, `"result":"version"`) {
		t.Fatalf("pull on the second replica: %s", pulled)
	}
	synced("hello")
	agree("hello=in_sync other=missing", false)
	edit("hello", "echo from the first again {{ inputs.who }}\n")
	save(a, "hello", "On the first again")
	synced("hello")
	agree("hello=in_sync other=missing", false)

	// At the same time on both: one flow on each, then the same flow on
	// both.
	for round := range 3 {
		var wg sync.WaitGroup
		for i, x := range both {
			slug := []string{"hello", "other"}[(i+round)%2]
			wg.Add(1)
			go func() {
				defer wg.Done()
				if slug == "hello" {
					edit(slug, fmt.Sprintf("echo round %d {{ inputs.who }}\n", round))
				} else {
					edit(slug, fmt.Sprintf("inputs.n * %d\n", round+3))
				}
				save(x, slug, fmt.Sprintf("Round %d", round))
			}()
		}
		wg.Wait()
	}
	// The same draft saved on both at once makes one version: the second
	// finds nothing changed since.
	edit("hello", "echo last {{ inputs.who }}\n")
	var wg sync.WaitGroup
	codes := make([]int, len(both))
	for i, x := range both {
		wg.Add(1)
		go func() { defer wg.Done(); codes[i] = saveCode(x, "hello", "Both at once") }()
	}
	wg.Wait()
	if slices.Sort(codes); !slices.Equal(codes, []int{http.StatusSeeOther, http.StatusConflict}) {
		t.Errorf("the same draft saved on both replicas at once: %v, want one version (303) and one unchanged (409)", codes)
	}
	synced("hello")
	synced("other")
	agree("hello=in_sync other=in_sync", false)
	if got := inGit("hello", "greet.sh"); got != "echo last {{ inputs.who }}\n" {
		t.Fatalf("greet.sh in git = %q", got)
	}
	if got := inGit("other", "double.expr"); got != "inputs.n * 5\n" {
		t.Fatalf("double.expr in git = %q", got)
	}
	// Every commit in git is one of ours or Eve's, in one line of history.
	log := gitRun(t, remote, "log", "--format=%s", "main")
	if strings.Contains(log, "kept over") || strings.Count(log, "\n") < 6 {
		t.Fatalf("git log:\n%s", log)
	}
}

// TestGitLockAcrossReplicas: a workspace's git lock held on one server
// makes the other wait until it is released. The second server's clock is
// the test's: its waits between tries are seen, so the test knows it tried
// and was refused, several times, without sleeping.
func TestGitLockAcrossReplicas(t *testing.T) {
	t.Parallel()
	a := setup(t, "postgres")
	clk := clock.NewFake(time.Now())
	b := replicaWith(t, a, Config{Clock: clk})
	ctx := context.Background()
	_, unlock, err := a.srv.git.lock(ctx, a.ws.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, returned := make(chan error, 1), make(chan struct{})
	go func() {
		defer close(returned)
		_, unlock2, err := b.srv.git.lock(ctx, a.ws.ID)
		if err == nil {
			unlock2()
		}
		got <- err
	}()
	// The second server waits on its clock between tries, beside its
	// scheduler's wait for the next minute: two timers mean it tried and
	// was refused. Each move of the clock makes it try again.
	for try := range 4 {
		if try > 0 {
			clk.Advance(gitLeasePoll)
		}
		if !clk.WaitTimers(2, returned) {
			t.Fatalf("the second server took the lock while the first held it (try %d: %v)", try+1, <-got)
		}
	}
	// Another workspace is not held.
	wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, unlockOther, err := b.srv.git.lock(wctx, "w_other"); err != nil {
		t.Fatalf("another workspace's lock: %v", err)
	} else {
		unlockOther()
	}
	unlock()
	// The clock moves until the second server has the lock: a single move
	// could come before it is back waiting on its timer (the timers
	// counted above may be others'), and then nothing would move it again.
	deadline := time.After(30 * time.Second)
waiting:
	for {
		clk.Advance(gitLeasePoll)
		select {
		case err := <-got:
			if err != nil {
				t.Fatal(err)
			}
			break waiting
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatal("the second server did not get the lock after the first released it")
		}
	}
	// A wait ends with its context.
	_, unlock, err = a.srv.git.lock(ctx, a.ws.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	wctx, cancel = context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, _, err := b.srv.git.lock(wctx, a.ws.ID); err == nil || !strings.Contains(err.Error(), "another server") {
		t.Fatalf("a canceled wait: %v", err)
	}
}
