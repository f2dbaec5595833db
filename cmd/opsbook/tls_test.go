package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeTLS: `opsbook serve --tls-cert --tls-key --log-format json`
// serves HTTPS to a client that trusts the certificate, says so in its
// ready line, sets the session cookie Secure, and logs each request as a
// JSON line under the id its answer names.
func TestServeTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildOpsbook(t)
	data := t.TempDir()
	const password = "a long enough password"
	opsbook(t, bin, password+"\n", "user", "add", "admin", "--role", "owner", "--data", data)

	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "opsbook test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)

	addr := freeAddr(t)
	pr := startProc(t, bin, processEnv(""), syscall.SIGTERM, "is ready at", "serve", "--data", data, "--addr", addr,
		"--sandbox", "none", "--run-dir", t.TempDir(), "--tls-cert", certFile, "--tls-key", keyFile, "--log-format", "json")
	if pr.url != "https://"+addr {
		t.Fatalf("ready at %q, want https://%s", pr.url, addr)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	client := &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.PostForm(pr.url+"/signin", url.Values{"name": {"admin"}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if sc := resp.Header.Get("Set-Cookie"); resp.StatusCode != http.StatusSeeOther || !strings.Contains(sc, "Secure") {
		t.Errorf("sign-in over HTTPS: %s, Set-Cookie %q: want a Secure cookie", resp.Status, sc)
	}
	id := resp.Header.Get("X-Request-Id")
	if id == "" {
		t.Fatal("no X-Request-Id")
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		found := false
		for _, line := range strings.Split(pr.log(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "request" && m["request"] == id {
				found = m["path"] == "/signin" && m["status"] == float64(http.StatusSeeOther)
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no JSON access line for request %s:\n%s", id, pr.log())
		}
	}
}
