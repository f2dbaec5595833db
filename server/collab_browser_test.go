package server

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// collabBrowser starts chromium for a test; chromium(t) fails (never
// skips) when it is missing, since CI installs it.
func collabBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)), chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.Flag("disable-dev-shm-usage", true),
	}
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(alloc)
	t.Cleanup(cancel2)
	if err := chromedp.Do(ctx); err != nil { // start the browser
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// openNotebook opens the flow in a browser session of its own (its own
// cookies) signed in as role, and waits until the socket said hello.
func openNotebook(t *testing.T, alloc context.Context, f *fixture, role string) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(alloc, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	ctx, cancel2 := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancel2)
	if _, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{Name: sessionCookie, Value: f.cookies[role], URL: f.ts.URL}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(f.ts.URL+"/w/acme/flows/hello"),
		chromedp.WaitVisible(chromedp.CSS("section[data-cell-id] .cm-content")),
	); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById('notebook').notebook.helloed === true`)); err != nil {
		t.Fatalf("no hello: %v", err)
	}
	return ctx
}

func cellText(ctx context.Context, cell string) (string, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.getElementById('notebook').notebook.cells.get(%q).editor.text`, cell)))
}

// TestBrowserTwoTypists: two browser sessions type into the same cell, at
// the same place, at the same moment; both end with the same text, holding
// everything both typed, and so does the server.
func TestBrowserTwoTypists(t *testing.T) {
	f := setup(t, testDB)
	cell := firstCell(t, f)
	alloc := collabBrowser(t)
	a := openNotebook(t, alloc, f, "editor")
	b := openNotebook(t, alloc, f, "owner")
	_, original, err := f.srv.collab.Doc(context.Background(), f.flow.ID, cell)
	if err != nil {
		t.Fatal(err)
	}
	typed := map[context.Context]string{a: strings.Repeat("x", 40), b: strings.Repeat("y😀", 20)}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for ctx, keys := range typed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			focus := fmt.Sprintf(`document.getElementById('notebook').notebook.cells.get(%q).editor.focus(true)`, cell)
			steps := []chromedp.Action[chromedp.Void]{chromedp.Evaluate[chromedp.Void](focus)}
			// In short bursts, so the two sessions' pushes cross each other.
			runes := []rune(keys)
			for i := 0; i < len(runes); i += 4 {
				steps = append(steps, chromedp.KeyEvent(string(runes[i:min(i+4, len(runes))])), chromedp.Sleep(15*time.Millisecond))
			}
			errs <- chromedp.Do(ctx, steps...)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ta, err1 := cellText(a, cell)
		tb, err2 := cellText(b, cell)
		_, server, err3 := f.srv.collab.Doc(context.Background(), f.flow.ID, cell)
		if err := firstErr(err1, err2, err3); err != nil {
			t.Fatal(err)
		}
		rest := strings.NewReplacer("x", "", "y", "", "😀", "").Replace(ta)
		if ta == tb && ta == server && strings.Count(ta, "x") == 40 && strings.Count(ta, "y") == 20 && strings.Count(ta, "😀") == 20 && rest == original {
			t.Logf("both browsers and the server: %q", ta)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("did not converge:\n a: %q\n b: %q\n server: %q", ta, tb, server)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
