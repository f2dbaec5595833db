package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// writeCert writes a self-signed certificate for 127.0.0.1 with serial
// number serial and its key into dir, and returns it.
func writeCert(t *testing.T, dir string, serial int64) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "opsbook test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("cert.pem", "CERTIFICATE", der)
	write("key.pem", "PRIVATE KEY", kb)
	cert, _ := x509.ParseCertificate(der)
	return cert
}

// TestTLS: with --tls-cert and --tls-key the studio serves HTTPS to a
// client that trusts the certificate, sets its cookies Secure, and its
// sockets work over wss; a renewed certificate on disk is served at the
// next handshake, without a restart.
func TestTLS(t *testing.T) {
	t.Parallel()
	f := setup(t, testDB)
	dir := t.TempDir()
	first := writeCert(t, dir, 1)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	tc, err := TLSConfig(certFile, keyFile, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := f.srv.HTTPServer()
	go hs.Serve(tls.NewListener(f.srv.Listener(ln), tc))
	t.Cleanup(func() { hs.Close() })
	base := "https://" + ln.Addr().String()

	roots := x509.NewCertPool()
	roots.AddCert(first)
	client := &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.PostForm(base+"/signin", url.Values{"name": {"owner"}, "password": {"correct horse battery"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			session = c
		}
	}
	if resp.StatusCode != http.StatusSeeOther || session == nil {
		t.Fatalf("sign-in over HTTPS: %s, cookies %v", resp.Status, resp.Cookies())
	}
	if !session.Secure || !strings.Contains(resp.Header.Get("Set-Cookie"), "Secure") {
		t.Errorf("the session cookie over HTTPS is not Secure: %s", resp.Header.Get("Set-Cookie"))
	}

	// A socket over wss, with that cookie.
	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: roots}}
	ws, wresp, err := d.Dial("wss://"+ln.Addr().String()+"/runs/"+f.run+"/ws", http.Header{"Origin": {base}, "Cookie": {sessionCookie + "=" + session.Value}})
	if err != nil {
		t.Fatalf("wss: %v (%v)", err, wresp)
	}
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, msg, err := ws.ReadMessage(); err != nil || !strings.Contains(string(msg), `"t"`) {
		t.Errorf("wss: first message %q, %v", msg, err)
	}
	ws.Close()

	// Renewed on disk: the next handshake gets the new certificate.
	second := writeCert(t, dir, 2)
	later := time.Now().Add(time.Minute)
	os.Chtimes(certFile, later, later)
	os.Chtimes(keyFile, later, later)
	roots.AddCert(second)
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	if got := conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64(); got != 2 {
		t.Errorf("after renewal the studio serves certificate %d, want 2", got)
	}
	conn.Close()

	// Half written (a key that is not the certificate's): the last good
	// pair goes on being served.
	os.WriteFile(keyFile, []byte("not a key"), 0o600)
	conn, err = tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: roots})
	if err != nil {
		t.Fatalf("a broken pair on disk broke the handshake: %v", err)
	}
	if got := conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64(); got != 2 {
		t.Errorf("with a broken pair on disk the studio serves certificate %d, want 2", got)
	}
	conn.Close()
}

func TestTLSConfigErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := TLSConfig(filepath.Join(dir, "cert.pem"), "", nil); err == nil || !strings.Contains(err.Error(), "both --tls-cert and --tls-key") {
		t.Errorf("cert without key: %v", err)
	}
	if _, err := TLSConfig("", filepath.Join(dir, "key.pem"), nil); err == nil || !strings.Contains(err.Error(), "both") {
		t.Errorf("key without cert: %v", err)
	}
	_, err := TLSConfig(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), nil)
	if err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "cert.pem") {
		t.Errorf("missing files: %v", err)
	}
}

// TestServerErrorLog: a failed TLS handshake (a scanner, a client that
// gave up) is a debug line; the server's other complaints stay warnings.
func TestServerErrorLog(t *testing.T) {
	t.Parallel()
	lb := &logBuf{}
	l := serverErrorLog(slog.New(slog.NewJSONHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})))
	l.Printf("http: TLS handshake error from 192.0.2.1:5555: EOF")
	l.Printf("http: Accept error: too many open files; retrying in 5ms")
	if got := lb.lines("http: TLS handshake error from 192.0.2.1:5555: EOF"); len(got) != 1 || got[0]["level"] != "DEBUG" {
		t.Errorf("handshake error logged as %v, want one debug line", got)
	}
	if got := lb.lines("http: Accept error: too many open files; retrying in 5ms"); len(got) != 1 || got[0]["level"] != "WARN" {
		t.Errorf("accept error logged as %v, want one warning", got)
	}
}
