package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/logattr"
)

// maxRequestIDLen bounds an X-Request-Id taken from a trusted proxy.
const maxRequestIDLen = 64

// accessKey holds a request's *accessEntry, which inner handlers complete
// (authenticate names the user).
type accessKey struct{}

type accessEntry struct{ user string }

// noteUser tells the access log of ctx's request who made it.
func noteUser(ctx context.Context, id string) {
	if e, ok := ctx.Value(accessKey{}).(*accessEntry); ok {
		e.user = id
	}
}

// withRequestID gives each request an id — a trusted proxy's X-Request-Id
// when it sent a usable one, else a new one — echoed in the answer's
// X-Request-Id and carried in the context, so every line logged with the
// request's context (sockets included, for their whole life) names it; and
// logs one access line when the request ends.
func (s *Server) withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := ""
		if peer, err := netip.ParseAddrPort(r.RemoteAddr); err == nil && isTrusted(peer.Addr().Unmap(), s.http.TrustedProxies) {
			id = r.Header.Get("X-Request-Id")
			if !validRequestID(id) {
				id = ""
			}
		}
		if id == "" {
			id = engine.NewID("q_")
		}
		w.Header().Set("X-Request-Id", id)
		entry := &accessEntry{}
		ctx := context.WithValue(logattr.WithRequest(r.Context(), id), accessKey{}, entry)
		aw := &accessWriter{ResponseWriter: w}
		next.ServeHTTP(aw, r.WithContext(ctx))
		status := aw.status
		if status == 0 {
			status = http.StatusOK
		}
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("path", logPath(r.URL.Path)),
			slog.Int("status", status),
			slog.Duration("duration", time.Since(start)),
			slog.Int64("bytes", aw.bytes),
			slog.String("addr", clientOf(r, s.http.TrustedProxies).Raw),
		}
		if entry.user != "" {
			attrs = append(attrs, logattr.User(entry.user))
		}
		s.log.LogAttrs(ctx, slog.LevelInfo, "request", attrs...)
	})
}

// validRequestID accepts the ids proxies make (UUIDs, nginx's $request_id
// hex, …) and nothing that could forge a log line or fill it.
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// tokenRoutes are the path prefixes whose next segment is a secret: a share
// or form link's token, a webhook's. Whoever reads the log must not be able
// to use them.
var tokenRoutes = []string{"/s/", "/hooks/"}

// shownTokenChars of a secret path segment are logged, enough to tell two
// links apart.
const shownTokenChars = 4

// logPath is the path as the access log shows it: secret segments cut to
// their first few characters (the query is never logged: it may hold
// anything).
func logPath(p string) string {
	for _, pre := range tokenRoutes {
		rest, ok := strings.CutPrefix(p, pre)
		if !ok {
			continue
		}
		tok, after, _ := strings.Cut(rest, "/")
		if len(tok) > shownTokenChars {
			tok = tok[:shownTokenChars] + "…"
		}
		if after != "" || strings.HasSuffix(rest, "/") {
			return pre + tok + "/" + after
		}
		return pre + tok
	}
	return p
}

// accessWriter counts what an answer sends, for the access log. It keeps
// what the handlers need of the writer beneath: flushing (event streams),
// hijacking (WebSockets) and Unwrap for http.ResponseController.
type accessWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (a *accessWriter) WriteHeader(code int) {
	if a.status == 0 {
		a.status = code
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *accessWriter) Write(b []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	n, err := a.ResponseWriter.Write(b)
	a.bytes += int64(n)
	return n, err
}

// ReadFrom keeps the connection's own (sendfile for static files).
func (a *accessWriter) ReadFrom(r io.Reader) (int64, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	n, err := io.Copy(a.ResponseWriter, r)
	a.bytes += n
	return n, err
}

func (a *accessWriter) Flush() { http.NewResponseController(a.ResponseWriter).Flush() }

// Hijack hands the connection to a WebSocket: the access line then says
// 101 and the socket's life as its duration.
func (a *accessWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(a.ResponseWriter).Hijack()
	if err == nil && a.status == 0 {
		a.status = http.StatusSwitchingProtocols
	}
	if errors.Is(err, http.ErrNotSupported) {
		return nil, nil, errors.New("server: the connection cannot be taken over (not HTTP/1)")
	}
	return c, rw, err
}

func (a *accessWriter) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// upgradeHeader is what a WebSocket's 101 answer carries besides the
// upgrade (the socket library writes that answer itself, without the
// headers set on the ResponseWriter): the request's id.
func upgradeHeader(r *http.Request) http.Header {
	if id := logattr.RequestOf(r.Context()); id != "" {
		return http.Header{"X-Request-Id": {id}}
	}
	return nil
}
