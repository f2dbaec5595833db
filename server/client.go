package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// client is who sent a request, as far as the studio can tell: the peer of
// the connection, or — only when that peer is a trusted proxy — the address
// and scheme the proxy says it was reached by. Rate limits, audit entries
// and the connection cap all use it (clientOf), so they cannot disagree.
type client struct {
	// Addr is the client's address ("" when the peer is not an IP, e.g. a
	// test's fake RemoteAddr that does not parse).
	Addr netip.Addr
	// Raw is the address as text for the audit log: Addr when valid, else
	// the RemoteAddr as given.
	Raw string
	// HTTPS: the request reached the studio over TLS, directly or at a
	// trusted proxy (X-Forwarded-Proto: https).
	HTTPS bool
	// Proxied: the peer is a trusted proxy and Addr came from its headers.
	Proxied bool
}

type clientKey struct{}

// baseURLKey holds the base URL in a request's context, for code that has
// the request but not the server (shareURL).
type baseURLKey struct{}

// clientOf finds the client of r. X-Forwarded-For and X-Forwarded-Proto are
// read only when the connection's peer is in trusted; anyone else could
// write any address there and escape every per-address limit. Of the
// forwarded addresses, the rightmost one that is not itself a trusted proxy
// is the client: entries to its left were written by the client and can be
// anything.
func clientOf(r *http.Request, trusted []netip.Prefix) client {
	c := client{Raw: hostOf(r.RemoteAddr), HTTPS: r.TLS != nil}
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		// A RemoteAddr without a port, or not an IP at all.
		a, err := netip.ParseAddr(r.RemoteAddr)
		if err != nil {
			return c
		}
		peer = netip.AddrPortFrom(a, 0)
	}
	c.Addr = peer.Addr().Unmap()
	c.Raw = c.Addr.String()
	if !isTrusted(c.Addr, trusted) {
		return c
	}
	if fwd := forwardedFor(r.Header); len(fwd) > 0 {
		addr := c.Addr
		for i := len(fwd) - 1; i >= 0; i-- {
			a, ok := parseForwardedAddr(fwd[i])
			if !ok {
				break // the hop before a trusted proxy is unreadable: stop at that proxy
			}
			addr = a
			if !isTrusted(a, trusted) {
				break
			}
		}
		if addr != c.Addr {
			c.Addr, c.Raw, c.Proxied = addr, addr.String(), true
		}
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p != "" {
		first, _, _ := strings.Cut(p, ",")
		c.HTTPS = c.HTTPS || strings.EqualFold(strings.TrimSpace(first), "https")
	}
	return c
}

// forwardedFor lists the X-Forwarded-For entries of every such header, in
// order.
func forwardedFor(h http.Header) []string {
	var out []string
	for _, v := range h.Values("X-Forwarded-For") {
		for _, e := range strings.Split(v, ",") {
			if e = strings.TrimSpace(e); e != "" {
				out = append(out, e)
			}
		}
	}
	return out
}

// parseForwardedAddr reads one X-Forwarded-For entry: an address, possibly
// with a port, IPv6 possibly in brackets.
func parseForwardedAddr(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// limitKey is the key of an address in per-address limits: the address for
// IPv4, its /64 for IPv6 (one host commonly holds a whole /64, so counting
// single IPv6 addresses would let it multiply its allowance at will).
func limitKey(a netip.Addr) string {
	if !a.IsValid() {
		return "?"
	}
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// withClient finds each request's client once and keeps it in the context.
func (s *Server) withClient(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := clientOf(r, s.http.TrustedProxies)
		if c.Proxied && s.proxied != nil {
			// Connections through a proxy are not capped at accept (the
			// proxy's own would be); cap the forwarded client's requests in
			// flight instead, which is what its connections amount to.
			release, ok := s.proxied.acquire(limitKey(c.Addr))
			if !ok {
				s.tooManyConns(w, r)
				return
			}
			defer release()
		}
		ctx := context.WithValue(r.Context(), clientKey{}, c)
		if s.http.BaseURL != nil {
			ctx = context.WithValue(ctx, baseURLKey{}, s.http.BaseURL)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func (s *Server) tooManyConns(w http.ResponseWriter, r *http.Request) {
	msg := fmt.Sprintf("too many open connections from your address (at most %d); close some, or ask the studio's operator to raise --max-conns-per-addr", s.http.MaxConnsPerAddr)
	w.Header().Set("Retry-After", "10")
	if strings.HasPrefix(r.URL.Path, "/api/") {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": map[string]string{"code": "too_many_connections", "message": msg, "field": ""}})
		return
	}
	http.Error(w, msg, http.StatusServiceUnavailable)
}

// requestClient is the client withClient found for r, or, for a request
// that did not pass through it, the peer.
func requestClient(r *http.Request) client {
	if c, ok := r.Context().Value(clientKey{}).(client); ok {
		return c
	}
	return clientOf(r, nil)
}

// clientIP is the address the request came from, as the audit log and the
// limits see it (see clientOf).
func clientIP(r *http.Request) string { return requestClient(r).Raw }

// secureCookies reports whether cookies set in answer to r must be Secure:
// the studio's base URL is https, or this request came over https (directly
// or, by a trusted proxy's word, to that proxy).
func (s *Server) secureCookies(r *http.Request) bool {
	return (s.http.BaseURL != nil && s.http.BaseURL.Scheme == "https") || requestClient(r).HTTPS
}

// ParseTrustedProxies reads --trusted-proxies: addresses or CIDR ranges,
// separated by commas or spaces.
func ParseTrustedProxies(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("%q is not an address or a CIDR range (e.g. 10.0.0.0/8, 192.0.2.7, ::1)", f)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not an address or a CIDR range (e.g. 10.0.0.0/8, 192.0.2.7, ::1)", f)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// ParseBaseURL reads --base-url: the scheme and host people reach the
// studio at, e.g. https://ops.example.com ("" for none).
func ParseBaseURL(v string) (*url.URL, error) {
	if v == "" {
		return nil, nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%q: give the scheme and host people open the studio at, e.g. https://ops.example.com", v)
	}
	if strings.TrimSuffix(u.Path, "/") != "" {
		return nil, fmt.Errorf("%q: the studio is served at the root of its host; drop the path %q", v, u.Path)
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host}, nil
}

// hostOf splits a RemoteAddr-like "host:port" into its host, leaving other
// text as it is.
func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}
