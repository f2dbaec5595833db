package server

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"
)

// HTTPConfig is how the studio meets the network: the limits of its HTTP
// server and what it is told about the proxies in front of it. Zero fields
// take the defaults below.
type HTTPConfig struct {
	// BaseURL is where people reach the studio (--base-url), e.g.
	// https://ops.example.com; nil when not set. Share links are built on
	// it, and an https one makes cookies Secure.
	BaseURL *url.URL
	// TrustedProxies may tell the client's address and scheme
	// (X-Forwarded-For, X-Forwarded-Proto); nobody else may.
	TrustedProxies []netip.Prefix
	// MaxConnsPerAddr caps the connections one client address holds open
	// (0: DefaultMaxConnsPerAddr; negative: no cap).
	MaxConnsPerAddr int

	ReadHeaderTimeout time.Duration // the request line and headers
	ReadTimeout       time.Duration // the whole request, body included
	WriteTimeout      time.Duration // from the end of the headers to the end of the answer
	IdleTimeout       time.Duration // a kept-alive connection between requests
	// UploadTimeout replaces ReadTimeout for archive uploads, which may be
	// large (up to maxArchiveBytes) on a slow link.
	UploadTimeout time.Duration
	// LongTimeout replaces WriteTimeout for handlers that may wait before
	// answering (a run started with "wait", a git remote).
	LongTimeout    time.Duration
	MaxHeaderBytes int
}

// Defaults of HTTPConfig.
const (
	DefaultMaxConnsPerAddr   = 256
	defaultReadHeaderTimeout = 10 * time.Second
	defaultReadTimeout       = 30 * time.Second
	defaultWriteTimeout      = 60 * time.Second
	defaultIdleTimeout       = 2 * time.Minute
	defaultUploadTimeout     = 5 * time.Minute
	defaultLongTimeout       = 15 * time.Minute
	defaultMaxHeaderBytes    = 64 << 10
	// maxBodyBytes bounds the body of every route but archive uploads;
	// handlers bound theirs tighter (64 KiB for most forms).
	maxBodyBytes = 1 << 20
	// maxUploadBytes is an archive (maxArchiveBytes, which the archive
	// reader enforces again) and the multipart envelope around it.
	maxUploadBytes = maxArchiveBytes + 64<<10
)

func (c HTTPConfig) withDefaults() HTTPConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.ReadHeaderTimeout, defaultReadHeaderTimeout)
	def(&c.ReadTimeout, defaultReadTimeout)
	def(&c.WriteTimeout, defaultWriteTimeout)
	def(&c.IdleTimeout, defaultIdleTimeout)
	def(&c.UploadTimeout, defaultUploadTimeout)
	def(&c.LongTimeout, defaultLongTimeout)
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = defaultMaxHeaderBytes
	}
	if c.MaxConnsPerAddr == 0 {
		c.MaxConnsPerAddr = DefaultMaxConnsPerAddr
	}
	return c
}

// HTTPServer is the http.Server to serve s with: its timeouts and header
// limit, and WebSockets closed on Shutdown. Serve it on s.Listener(ln).
func (s *Server) HTTPServer() *http.Server {
	c := s.http
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		ReadTimeout:       c.ReadTimeout,
		WriteTimeout:      c.WriteTimeout,
		IdleTimeout:       c.IdleTimeout,
		MaxHeaderBytes:    c.MaxHeaderBytes,
		ErrorLog:          serverErrorLog(s.log),
	}
	hs.RegisterOnShutdown(s.CloseSockets)
	return hs
}

// routeKind says which limits of HTTPConfig a route lives under.
type routeKind int

const (
	routePlain  routeKind = iota
	routeUpload           // archive uploads: a larger body, UploadTimeout to send it
	routeStream           // answers that may be long to send: each write gets WriteTimeout
	routeSocket           // WebSockets: no server deadlines (they ping and time out themselves)
	routeLong             // handlers that may wait before answering: LongTimeout
)

// routeKinds names the routes excepted from the plain limits, by their
// pattern in the route table (TestRouteKindsAreRoutes checks each exists).
var routeKinds = map[string]routeKind{
	"POST /w/{ws}/flows/import":                    routeUpload,
	"POST /w/{ws}/flows/{slug}/versions/import":    routeUpload,
	"POST /api/v1/flows":                           routeUpload,
	"POST /api/v1/flows/{slug}/versions":           routeUpload,
	"GET /w/{ws}/flows/{slug}/ws":                  routeSocket,
	"GET /runs/{id}/ws":                            routeSocket,
	"GET /s/{token}/ws":                            routeSocket,
	"GET /api/v1/runs/{id}/events":                 routeStream, // a socket when asked to upgrade
	"GET /runs/{id}/log":                           routeStream,
	"GET /api/v1/runs/{id}/log":                    routeStream,
	"GET /s/{token}/log":                           routeStream,
	"GET /w/{ws}/flows/{slug}/versions/{n}/export": routeStream,
	"GET /api/v1/flows/{slug}/versions/{n}/export": routeStream,
	"POST /api/v1/flows/{slug}/runs":               routeLong, // "wait" up to 10 minutes
	"POST /hooks/{token}":                          routeLong, // "?wait=" up to 10 minutes
	"POST /w/{ws}/git":                             routeLong, // clones the remote
	"POST /w/{ws}/git/pull":                        routeLong,
	"POST /api/v1/git/pull":                        routeLong,
	"POST /w/{ws}/flows/{slug}/git/resolve":        routeLong,
}

// routeKindOf finds r's route in mux.
func routeKindOf(mux *http.ServeMux, r *http.Request) routeKind {
	_, pattern := mux.Handler(r)
	k := routeKinds[pattern]
	if k == routeStream && isSocket(r) {
		k = routeSocket
	}
	return k
}

// limitRoutes applies each route's body limit and deadlines (routeKinds)
// before mux serves it. The server's own timeouts hold for the rest.
func (s *Server) limitRoutes(mux *http.ServeMux) http.Handler {
	// A route renamed in the table would silently lose its exception (a
	// socket cut after WriteTimeout): refuse to start instead.
	for pattern := range routeKinds {
		method, p, _ := strings.Cut(pattern, " ")
		r, err := http.NewRequest(method, strings.NewReplacer("{", "", "}", "", "$", "").Replace(p), nil)
		if _, got := mux.Handler(r); err != nil || got != pattern {
			panic("server: routeKinds names " + pattern + ", which is not in the route table (routes.go)")
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind := routeKindOf(mux, r)
		limit := int64(maxBodyBytes)
		if kind == routeUpload {
			limit = maxUploadBytes
		}
		if r.ContentLength > limit {
			tooLarge(w, r, limit)
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		if kind == routePlain {
			mux.ServeHTTP(w, r)
			return
		}
		// Deadlines are set on the connection; errors mean the writer has
		// none (HTTP/2 without support, a test recorder) and are ignored.
		rc := http.NewResponseController(w)
		now := time.Now()
		switch kind {
		case routeUpload:
			rc.SetReadDeadline(now.Add(s.http.UploadTimeout))
			rc.SetWriteDeadline(now.Add(s.http.UploadTimeout + s.http.WriteTimeout))
		case routeSocket:
			// A socket lives as long as its pings are answered (ws.go,
			// notebook_ws.go set their own deadlines once upgraded).
			rc.SetReadDeadline(time.Time{})
			rc.SetWriteDeadline(time.Time{})
		case routeLong:
			rc.SetWriteDeadline(now.Add(s.http.LongTimeout))
		case routeStream:
			pw := &progressWriter{ResponseWriter: w, rc: rc, d: s.http.WriteTimeout}
			mux.ServeHTTP(pw, r)
			pw.extend() // for what the server writes after the handler
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func tooLarge(w http.ResponseWriter, r *http.Request, limit int64) {
	msg := fmt.Sprintf("the request body is larger than this route accepts (%d KiB)", limit>>10)
	w.Header().Set("Connection", "close")
	if strings.HasPrefix(r.URL.Path, "/api/") || strings.HasPrefix(r.URL.Path, "/hooks/") {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{"error": map[string]string{"code": "too_large", "message": msg, "field": ""}})
		return
	}
	http.Error(w, msg, http.StatusRequestEntityTooLarge)
}

// progressWriter gives each write of a long answer WriteTimeout of its
// own: a log or an event stream lasts as long as its reader keeps reading,
// and one that stops reading is cut WriteTimeout later.
type progressWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func (p *progressWriter) extend() { p.rc.SetWriteDeadline(time.Now().Add(p.d)) }

func (p *progressWriter) Write(b []byte) (int, error) {
	p.extend()
	return p.ResponseWriter.Write(b)
}

func (p *progressWriter) Flush() {
	p.extend()
	p.rc.Flush()
}

// Unwrap lets http.ResponseController reach the connection.
func (p *progressWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }

// addrCounter counts what each client address holds open, up to max.
type addrCounter struct {
	max int
	mu  sync.Mutex
	n   map[string]int
}

func newAddrCounter(max int) *addrCounter { return &addrCounter{max: max, n: map[string]int{}} }

// acquire takes one for key, unless key holds max already; release gives
// it back (once, however often it is called).
func (c *addrCounter) acquire(key string) (release func(), ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[key] >= c.max {
		return nil, false
	}
	c.n[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.n[key]--; c.n[key] <= 0 {
				delete(c.n, key)
			}
		})
	}, true
}

// Listener wraps ln so that one client address holds at most
// MaxConnsPerAddr connections: more are closed as they are accepted, before
// a byte is read. Trusted proxies are not capped here — everyone behind
// them shares their address — and withClient caps their forwarded clients
// instead.
func (s *Server) Listener(ln net.Listener) net.Listener {
	if s.http.MaxConnsPerAddr < 0 {
		return ln
	}
	return &capListener{Listener: ln, s: s, open: newAddrCounter(s.http.MaxConnsPerAddr)}
}

type capListener struct {
	net.Listener
	s    *Server
	open *addrCounter

	warnMu   sync.Mutex
	warned   time.Time
	refusals int
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
		if err != nil {
			return c, nil // not an IP connection (a Unix socket): nothing to count
		}
		a := ap.Addr().Unmap()
		if isTrusted(a, l.s.http.TrustedProxies) {
			return c, nil
		}
		key := limitKey(a)
		release, ok := l.open.acquire(key)
		if !ok {
			c.Close()
			l.refused(key)
			continue
		}
		return &capConn{Conn: c, release: release}, nil
	}
}

// refused logs refused connections, at most once a minute.
func (l *capListener) refused(key string) {
	l.warnMu.Lock()
	defer l.warnMu.Unlock()
	l.refusals++
	if time.Since(l.warned) < time.Minute {
		return
	}
	l.s.log.Warn("connections refused: too many open from one address (raise --max-conns-per-addr if this is a proxy, or list it in --trusted-proxies)",
		"addr", key, "max", l.s.http.MaxConnsPerAddr, "refused", l.refusals)
	l.warned, l.refusals = time.Now(), 0
}

// capConn gives its place back when closed (also after a WebSocket has
// hijacked it).
type capConn struct {
	net.Conn
	release func()
}

func (c *capConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}

// CloseWrite keeps net/http's graceful close (FIN before close) working
// through the wrapper.
func (c *capConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
