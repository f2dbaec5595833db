package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/opsbook/opsbook/account"
	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/clock"
	"github.com/opsbook/opsbook/engine/flow"
	"github.com/opsbook/opsbook/engine/sandbox"
	"github.com/opsbook/opsbook/engine/store"
)

// serveLimited serves a fresh studio the way serve does — HTTPServer on
// Listener, a real TCP listener — with hc's limits. Its users are "ana"
// (owner) and "bob" (editor), both with the password "correct horse
// battery", a session cookie and an API token; it has the flow "hello".
func serveLimited(t *testing.T, hc HTTPConfig) *fixture {
	t.Helper()
	return serveLimitedWith(t, Config{HTTP: hc})
}

// serveLimitedWith is serveLimited with more of the server's Config set.
func serveLimitedWith(t *testing.T, cfg Config) *fixture {
	t.Helper()
	ctx := context.Background()
	st, data := openStore(t, testDB)
	cfg.DataDir, cfg.Sandbox = data, &sandbox.Config{}
	f := serveFixture(t, st, cfg, true)
	for name, role := range map[string]engine.Role{"ana": engine.RoleOwner, "bob": engine.RoleEditor} {
		u, err := st.CreateUser(ctx, name, name, testHash)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.AddMember(ctx, f.ws.ID, u.ID, role); err != nil {
			t.Fatal(err)
		}
		tok, hash := account.NewToken("")
		if _, err := st.CreateSession(ctx, u.ID, hash, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		f.users[name], f.cookies[name] = u, tok
		if f.tokens[name], err = account.CreateToken(ctx, st, name, "", "test", ""); err != nil {
			t.Fatal(err)
		}
	}
	fl := &engine.Flow{Name: "Hello", Cells: []engine.Cell{{Name: "greet", Kind: engine.KindShell, File: "greet.sh", Source: "echo hello\n"}}}
	files, err := flow.Files(fl)
	if err != nil {
		t.Fatal(err)
	}
	if f.flow, err = st.CreateFlow(ctx, f.ws.ID, "hello", fl, f.users["ana"].ID, storeFiles(files), flow.Hash(fl)); err != nil {
		t.Fatal(err)
	}
	return f
}

// rawConn opens a TCP connection to the fixture from the local address
// from ("" for any).
func rawConn(t *testing.T, f *fixture, from string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", f.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// healthy sends GET /healthz on c and reports whether 200 came back.
func healthy(c net.Conn) bool {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: studio\r\n\r\n"); err != nil {
		return false
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// TestSlowBodyIsCut: a body dribbled one byte at a time is cut when the
// read timeout has passed, not kept open for as long as the sender likes.
func TestSlowBodyIsCut(t *testing.T) {
	t.Parallel()
	const readTimeout = time.Second
	f := serveLimited(t, HTTPConfig{ReadTimeout: readTimeout})
	c := rawConn(t, f, "")
	start := time.Now()
	io.WriteString(c, "POST /signin HTTP/1.1\r\nHost: studio\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n")
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
				if _, err := c.Write([]byte("a")); err != nil {
					return
				}
			}
		}
	}()
	// Whatever the server answers, the connection must end.
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, c)
	took := time.Since(start)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the dribbled body was still being read after %s (read timeout %s)", took.Round(time.Millisecond), readTimeout)
	}
	if took > readTimeout+2*time.Second {
		t.Fatalf("cut after %s; want within about %s", took.Round(time.Millisecond), readTimeout)
	}
}

// TestHeadersOverLimit: headers larger than MaxHeaderBytes are refused
// with 431.
func TestHeadersOverLimit(t *testing.T) {
	t.Parallel()
	f := serveLimited(t, HTTPConfig{})
	for _, tc := range []struct {
		size int
		want int
	}{{8 << 10, http.StatusOK}, {200 << 10, http.StatusRequestHeaderFieldsTooLarge}} {
		req, _ := http.NewRequest("GET", f.ts.URL+"/healthz", nil)
		req.Header.Set("X-Filler", strings.Repeat("a", tc.size))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("a %d KiB header: status %d; want %d", tc.size>>10, resp.StatusCode, tc.want)
		}
	}
}

// TestBodyOverRouteLimit: a body over its route's limit is refused with
// 413 before anything reads it; archive uploads have a larger limit.
func TestBodyOverRouteLimit(t *testing.T) {
	t.Parallel()
	f := serveLimited(t, HTTPConfig{})
	big := strings.Repeat("a", 2<<20)
	resp := f.do("ana", "POST", "/w/acme/tokens/x/revoke", big)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("2 MiB to a form: status %d; want 413", resp.StatusCode)
	}
	resp = f.do("ana", "POST", "/api/v1/flows", big, "Content-Type", "application/gzip")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "bad_archive") {
		t.Errorf("2 MiB archive upload: status %d %s; want it read (and refused as no archive)", resp.StatusCode, b)
	}
}

// TestConnectionCapPerAddress: one address cannot hold more than
// MaxConnsPerAddr connections; the next is closed at once, while another
// address still connects, and a closed connection frees its place.
func TestConnectionCapPerAddress(t *testing.T) {
	t.Parallel()
	const max = 4
	f := serveLimited(t, HTTPConfig{MaxConnsPerAddr: max})
	var open []net.Conn
	for i := 0; i < max; i++ {
		c := rawConn(t, f, "127.0.0.1")
		if !healthy(c) {
			t.Fatalf("connection %d was not served", i+1)
		}
		open = append(open, c)
	}
	extra := rawConn(t, f, "127.0.0.1")
	if healthy(extra) {
		t.Fatalf("connection %d from one address was served; the cap is %d", max+1, max)
	}
	if c := rawConn(t, f, "127.0.0.2"); !healthy(c) {
		t.Fatal("another address was refused too")
	}
	open[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if healthy(rawConn(t, f, "127.0.0.1")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a closed connection did not free its place")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, c := range open[1:] {
		if !healthy(c) {
			t.Fatal("an open connection stopped being served")
		}
	}
}

// TestStreamsOutliveTimeouts: a WebSocket and a server-sent event stream
// keep delivering past the read, write and idle timeouts.
func TestStreamsOutliveTimeouts(t *testing.T) {
	t.Parallel()
	const d = 400 * time.Millisecond
	f := serveLimited(t, HTTPConfig{ReadHeaderTimeout: d, ReadTimeout: d, WriteTimeout: d, IdleTimeout: d})
	fl := &engine.Flow{Name: "Late", Cells: []engine.Cell{
		{Name: "late", Kind: engine.KindShell, File: "late.sh", Source: "echo early; sleep 1.5; echo zz-final\n"},
	}}
	r, err := f.srv.runs.Start(context.Background(), StartRequest{Workspace: f.ws, FlowID: f.flow.ID, FlowSlug: "hello", Flow: fl, StartedBy: f.users["ana"]})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ws, err := f.dial("ana", "/runs/"+r.ID+"/ws")
	if err != nil {
		t.Fatal(err)
	}
	resp := f.do("ana", "GET", "/api/v1/runs/"+r.ID+"/events", "")
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("events: status %d", resp.StatusCode)
	}

	readUntil(t, ws, func(m map[string]any) bool { return strings.Contains(jsonText(m), "zz-final") })
	if took := time.Since(start); took < 3*d {
		t.Fatalf("the run's last line came after %s, before the timeouts passed: the test proves nothing", took)
	}
	// One more round trip on the socket, long after every timeout.
	if err := ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(time.Second)); err != nil {
		t.Fatalf("the socket was closed: %v", err)
	}

	timer := time.AfterFunc(20*time.Second, func() { resp.Body.Close() })
	defer timer.Stop()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "zz-final") {
			return
		}
	}
	t.Fatalf("the event stream ended after %s without the last line (err %v): cut by the write timeout", time.Since(start).Round(time.Millisecond), sc.Err())
}

func jsonText(m map[string]any) string {
	var b strings.Builder
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			b.WriteString(v)
			b.WriteByte(' ')
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(m)
	return b.String()
}

// postSignIn posts the sign-in form with extra headers and returns the answer.
func postSignIn(t *testing.T, f *fixture, name, pw string, header ...string) *http.Response {
	t.Helper()
	form := url.Values{"name": {name}, "password": {pw}, "next": {"/w/acme"}}
	resp := f.do("", "POST", "/signin", form.Encode(), header...)
	resp.Body.Close()
	return resp
}

// TestSignInSharedAddress: people behind one address mistyping other names
// do not lock out a colleague who types the right password.
func TestSignInSharedAddress(t *testing.T) {
	t.Parallel()
	f := serveLimited(t, HTTPConfig{})
	for i := 0; i < 10; i++ {
		if resp := postSignIn(t, f, "nobody"+string(rune('a'+i)), "wrong"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d", i, resp.StatusCode)
		}
	}
	for i := 0; i < 15; i++ {
		postSignIn(t, f, "bob", "wrong") // refused with 401, then 429 as bob backs off
	}
	if resp := postSignIn(t, f, "ana", "correct horse battery"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("ana's right password after others' failures at her address: status %d; want 303", resp.StatusCode)
	}
}

// TestSignInBackoff: wrong passwords for one name back off exponentially;
// after the wait the right password works. The server's clock is the
// test's: the waits pass without sleeping, and a try a moment before the
// wait ends is refused.
func TestSignInBackoff(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Now())
	f := serveLimitedWith(t, Config{Clock: clk})
	for i := 0; i < pairBackoff.free; i++ {
		if resp := postSignIn(t, f, "ana", "wrong"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d", i, resp.StatusCode)
		}
	}
	resp := postSignIn(t, f, "ana", "correct horse battery")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("right password right after %d failures: status %d, Retry-After %q; want 429, 1", pairBackoff.free, resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	clk.Advance(999 * time.Millisecond)
	if resp := postSignIn(t, f, "ana", "wrong"); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a moment before the wait ends: status %d; want 429", resp.StatusCode)
	}
	clk.Advance(time.Millisecond)
	if resp := postSignIn(t, f, "ana", "wrong"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after the wait: status %d; want the password checked (401)", resp.StatusCode)
	}
	resp = postSignIn(t, f, "ana", "wrong")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "2" {
		t.Fatalf("the next failure: status %d, Retry-After %q; want 429, 2 (doubled)", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	clk.Advance(2 * time.Second)
	if resp := postSignIn(t, f, "ana", "correct horse battery"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("right password after the wait: status %d; want 303", resp.StatusCode)
	}
}

// TestSigninLimitKeys: the per-name limit across addresses and the
// per-address limit across names, on a clock of the test's own, with the
// counts in the database (both kinds).
func TestSigninLimitKeys(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			st, _ := openStore(t, dialect)
			testSigninLimitKeys(t, func() *signinLimit { return newSigninLimit(newRateLimits(st, testLogger(t))) })
		})
	}
}

func testSigninLimitKeys(t *testing.T, newLimit func() *signinLimit) {
	ctx := t.Context()
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	tick := func() time.Time { now = now.Add(time.Millisecond); return now }
	wait := func(l *signinLimit, addr, name string) time.Duration {
		t.Helper()
		w, err := l.wait(ctx, tick(), addr, name)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}

	// One name sprayed from many addresses backs off everywhere, except
	// where its owner has signed in before.
	l := newLimit()
	l.succeeded(ctx, tick(), "198.51.100.1", "ana")
	for i := 0; i < nameBackoff.free+5; i++ {
		l.failed(ctx, tick(), "203.0.113."+strconv.Itoa(i), "ana")
	}
	if w := wait(l, "192.0.2.99", "ana"); w < 16*time.Second {
		t.Errorf("a new address for a name failed %d times elsewhere waits %s; want the name's back-off", nameBackoff.free+5, w)
	}
	if w := wait(l, "198.51.100.1", "ana"); w != 0 {
		t.Errorf("ana's own usual address waits %s; want 0", w)
	}
	if w := wait(l, "192.0.2.99", "bob"); w != 0 {
		t.Errorf("another name waits %s", w)
	}

	// Many names from one address: a throttle of at most addrBackoff.max,
	// never a lock.
	for i := 0; i < 200; i++ {
		l.failed(ctx, tick(), "192.0.2.1", "user"+strconv.Itoa(i))
	}
	w := wait(l, "192.0.2.1", "carol")
	if w == 0 || w > addrBackoff.max {
		t.Errorf("a fresh name at an address with 200 failures waits %s; want a throttle up to %s", w, addrBackoff.max)
	}
	if w := wait(l, "192.0.2.2", "carol"); w != 0 {
		t.Errorf("another address waits %s", w)
	}
	now = now.Add(addrBackoff.max)
	if w := wait(l, "192.0.2.1", "carol"); w != 0 {
		t.Errorf("after %s the fresh name still waits %s", addrBackoff.max, w)
	}

	// Back-off: free tries, then doubling, capped; forgotten after an hour.
	for _, tc := range []struct {
		n    int
		want time.Duration
	}{{-1, 0}, {0, time.Second}, {1, 2 * time.Second}, {5, 32 * time.Second}, {10, 15 * time.Minute}, {100, 15 * time.Minute}} {
		if got := pairBackoff.wait(pairBackoff.free + tc.n); got != tc.want {
			t.Errorf("pair back-off after %d failures: %s; want %s", pairBackoff.free+tc.n, got, tc.want)
		}
	}
	for i := 0; i < 100; i++ {
		l.failed(ctx, tick(), "192.0.2.3", "dan")
	}
	if w := wait(l, "192.0.2.3", "dan"); w < 15*time.Minute-time.Second {
		t.Errorf("after 100 failures: wait %s", w)
	}
	// A success clears the pair's own count.
	l.succeeded(ctx, tick(), "192.0.2.3", "dan")
	if w := wait(l, "192.0.2.3", "dan"); w != 0 {
		t.Errorf("after a success there: wait %s", w)
	}
	for i := 0; i < 100; i++ {
		l.failed(ctx, tick(), "192.0.2.4", "erin")
	}
	now = now.Add(forgetFailures + time.Minute)
	if w := wait(l, "192.0.2.4", "erin"); w != 0 {
		t.Errorf("an hour after the last failure: wait %s", w)
	}
}

// TestForwardedHeaders: X-Forwarded-For counts only from a trusted proxy;
// the sign-in limit and the audit log then key on the forwarded address.
func TestForwardedHeaders(t *testing.T) {
	t.Parallel()
	failedIP := func(f *fixture) string {
		es, err := f.st.Audit(context.Background(), store.AuditQuery{Action: actSignInFailed})
		if err != nil || len(es) == 0 {
			t.Fatalf("audit: %v, %d entries", err, len(es))
		}
		return es[0].IP
	}
	t.Run("untrusted peer", func(t *testing.T) {
		t.Parallel()
		f := serveLimited(t, HTTPConfig{TrustedProxies: mustPrefixes(t, "10.0.0.0/8")})
		for i := 0; i < pairBackoff.free; i++ {
			postSignIn(t, f, "ana", "wrong", "X-Forwarded-For", "203.0.113."+strconv.Itoa(i))
		}
		if resp := postSignIn(t, f, "ana", "correct horse battery", "X-Forwarded-For", "203.0.113.200"); resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("a new X-Forwarded-For from an untrusted peer escaped the limit: status %d; want 429", resp.StatusCode)
		}
		if ip := failedIP(f); ip != "127.0.0.1" {
			t.Fatalf("audit IP %q; want the peer 127.0.0.1", ip)
		}
	})
	t.Run("trusted proxy", func(t *testing.T) {
		t.Parallel()
		f := serveLimited(t, HTTPConfig{TrustedProxies: mustPrefixes(t, "127.0.0.1")})
		// The client wrote the first entry; the proxy appended the address it saw.
		xff := "198.51.100.66, 203.0.113.7"
		for i := 0; i < pairBackoff.free; i++ {
			postSignIn(t, f, "ana", "wrong", "X-Forwarded-For", xff)
		}
		if resp := postSignIn(t, f, "ana", "correct horse battery", "X-Forwarded-For", xff); resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("the forwarded client after %d failures: status %d; want 429", pairBackoff.free, resp.StatusCode)
		}
		if ip := failedIP(f); ip != "203.0.113.7" {
			t.Fatalf("audit IP %q; want the forwarded client 203.0.113.7", ip)
		}
		if resp := postSignIn(t, f, "ana", "correct horse battery", "X-Forwarded-For", "203.0.113.8"); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("another client behind the same proxy: status %d; want 303", resp.StatusCode)
		}
	})
}

func mustPrefixes(t *testing.T, v string) []netip.Prefix {
	t.Helper()
	p, err := ParseTrustedProxies(v)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestClientOf: which address and scheme a request is taken to come from.
func TestClientOf(t *testing.T) {
	t.Parallel()
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
	for _, tc := range []struct {
		peer, xff, proto string
		addr             string
		https            bool
	}{
		{"192.0.2.1:5000", "", "", "192.0.2.1", false},
		{"192.0.2.1:5000", "203.0.113.7", "https", "192.0.2.1", false}, // untrusted peer: headers ignored
		{"10.0.0.2:5000", "203.0.113.7", "https", "203.0.113.7", true},
		{"10.0.0.2:5000", "1.2.3.4, 203.0.113.7", "", "203.0.113.7", false}, // spoofed leftmost entry
		{"10.0.0.2:5000", "203.0.113.7, 10.0.0.9", "HTTPS", "203.0.113.7", true},
		{"10.0.0.2:5000", "10.0.0.8, 10.0.0.9", "", "10.0.0.8", false}, // all proxies: the farthest
		{"10.0.0.2:5000", "garbage, 10.0.0.9", "", "10.0.0.9", false},
		{"10.0.0.2:5000", "", "", "10.0.0.2", false},
		{"[2001:db8::1]:443", "[2001:db8:1::5]:1234, 2001:db9::7", "", "2001:db9::7", false},
		{"[::ffff:10.0.0.2]:80", "203.0.113.7", "", "203.0.113.7", false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.peer
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if tc.proto != "" {
			r.Header.Set("X-Forwarded-Proto", tc.proto)
		}
		c := clientOf(r, trusted)
		if c.Raw != tc.addr || c.HTTPS != tc.https {
			t.Errorf("peer %s, X-Forwarded-For %q, proto %q: %s https=%v; want %s https=%v", tc.peer, tc.xff, tc.proto, c.Raw, c.HTTPS, tc.addr, tc.https)
		}
	}
	if k := limitKey(netip.MustParseAddr("2001:db8:1:2:3:4:5:6")); k != "2001:db8:1:2::/64" {
		t.Errorf("IPv6 limit key %s; want its /64", k)
	}
}

// TestSessionCookieSecure: the session cookie is Secure when the base URL
// is https, or a trusted proxy says the request came over https; not when
// anyone else says so.
func TestSessionCookieSecure(t *testing.T) {
	t.Parallel()
	base, err := ParseBaseURL("https://ops.example.com")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		hc     HTTPConfig
		header []string
		secure bool
	}{
		{"plain", HTTPConfig{}, nil, false},
		{"https base URL", HTTPConfig{BaseURL: base}, nil, true},
		{"trusted proxy says https", HTTPConfig{TrustedProxies: mustPrefixes(t, "127.0.0.0/8")}, []string{"X-Forwarded-Proto", "https"}, true},
		{"untrusted peer says https", HTTPConfig{TrustedProxies: mustPrefixes(t, "10.0.0.1")}, []string{"X-Forwarded-Proto", "https"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := serveLimited(t, tc.hc)
			resp := postSignIn(t, f, "ana", "correct horse battery", tc.header...)
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("sign in: status %d", resp.StatusCode)
			}
			var got *http.Cookie
			for _, c := range resp.Cookies() {
				if c.Name == sessionCookie {
					got = c
				}
			}
			if got == nil || got.Secure != tc.secure {
				t.Fatalf("session cookie %v; want Secure=%v", got, tc.secure)
			}
		})
	}
}

// TestShareURLOnBaseURL: links handed out are built on --base-url when set,
// on the request's host otherwise.
func TestShareURLOnBaseURL(t *testing.T) {
	t.Parallel()
	base, _ := ParseBaseURL("https://ops.example.com/")
	for _, tc := range []struct {
		hc   HTTPConfig
		want string
	}{
		{HTTPConfig{}, "http://studio.internal:8080/s/tok"},
		{HTTPConfig{BaseURL: base}, "https://ops.example.com/s/tok"},
	} {
		s := &Server{http: tc.hc.withDefaults()}
		var got string
		h := s.withClient(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = shareURL(r, "tok") }))
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "http://studio.internal:8080/x", nil))
		if got != tc.want {
			t.Errorf("share URL %q; want %q", got, tc.want)
		}
	}
}

// TestParseFlags: bad --trusted-proxies and --base-url values are refused
// with a message that shows a good one.
func TestParseFlags(t *testing.T) {
	t.Parallel()
	p, err := ParseTrustedProxies("10.0.0.0/8, 192.0.2.7 ::1")
	if err != nil || len(p) != 3 || !p[1].Contains(netip.MustParseAddr("192.0.2.7")) || p[1].Bits() != 32 {
		t.Fatalf("ParseTrustedProxies: %v %v", p, err)
	}
	for _, bad := range []string{"10.0.0.0/33", "proxy.example", "10.0.0"} {
		if _, err := ParseTrustedProxies(bad); err == nil || !strings.Contains(err.Error(), "e.g.") {
			t.Errorf("trusted proxies %q: %v", bad, err)
		}
	}
	for _, bad := range []string{"ops.example.com", "ftp://ops.example.com", "https://", "https://ops.example.com/studio", "https://ops.example.com/?a=1"} {
		if _, err := ParseBaseURL(bad); err == nil {
			t.Errorf("base URL %q accepted", bad)
		}
	}
	if u, err := ParseBaseURL("https://ops.example.com/"); err != nil || u.String() != "https://ops.example.com" {
		t.Errorf("base URL: %v %v", u, err)
	}
}

// badNexts are post-sign-in targets that must not leave the studio.
var badNexts = []string{
	"//evil.example", "/\\evil.example", "/%2F%2Fevil.example", "/%2f/evil.example",
	"https://evil.example", "http:evil.example", "javascript:alert(1)", "JAVASCRIPT:alert(1)",
	"/%09/evil.example", "/\t/evil.example", "/%0a/evil.example", "/\n/evil.example", "/%0d/evil.example",
	"/./%5Cevil.example", "/.\\evil.example", "/%5Cevil.example", "/%5C%5Cevil.example",
	"\\\\evil.example", "evil.example", "", " //evil.example", "/%00/evil", "/\x7f/evil", "/\u0085/evil",
	"/%E2%80%A8/evil", "/%ff/evil", "/a?b=%0a", "/a#%5C", "/%", "//", "///evil.example",
	"/%2e%2e//evil.example/..", strings.Repeat("/a", 2000),
}

// TestSafeNext: every bad next becomes "/"; good ones stay as they are.
func TestSafeNext(t *testing.T) {
	t.Parallel()
	for _, next := range badNexts {
		if got := safeNext(next); got != "/" {
			t.Errorf("safeNext(%q) = %q; want /", next, got)
		}
	}
	for _, next := range []string{"/", "/w/acme", "/w/acme/flows/hello?tab=runs&x=1#cell-2", "/s/abc_DEF-123", "/w/acme/flows/h%C3%A9llo"} {
		if got := safeNext(next); got != next {
			t.Errorf("safeNext(%q) = %q; want it kept", next, got)
		}
	}
}

// TestSignInNextStaysOnSite: after signing in with a bad next, the
// redirect lands on a path of the studio; both through the form (POST) and
// through the sign-in page's link (GET ?next=).
func TestSignInNextStaysOnSite(t *testing.T) {
	t.Parallel()
	f := serveLimited(t, HTTPConfig{})
	studio, _ := url.Parse("https://studio.example/signin")
	for _, next := range badNexts[:20] {
		form := url.Values{"name": {"ana"}, "password": {"correct horse battery"}, "next": {next}}
		resp := f.do("", "POST", "/signin", form.Encode())
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("next %q: status %d", next, resp.StatusCode)
		}
		u, err := studio.Parse(loc)
		if err != nil || u.Host != "studio.example" || strings.ContainsAny(loc, "\\\t\r\n") || strings.HasPrefix(loc, "//") {
			t.Errorf("next %q: redirected to %q", next, loc)
		}
		resp = f.do("", "GET", "/signin?next="+url.QueryEscape(next), "")
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(page), "evil") {
			t.Errorf("the sign-in page for next %q carries it on", next)
		}
	}
}
