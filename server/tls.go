package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	stdlog "log"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// TLSConfig is the TLS of a studio serving HTTPS itself (--tls-cert,
// --tls-key): the pair in PEM files, read again at the first handshake
// after either file changes, so a certificate renewed on disk (certbot)
// is served without a restart. A pair that does not load then (one file
// written, the other not yet) keeps the previous one and is logged. Only
// HTTP/1.1 is offered: WebSockets take over HTTP/1 connections.
func TLSConfig(certFile, keyFile string, log *slog.Logger) (*tls.Config, error) {
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("give both --tls-cert and --tls-key (a certificate and its private key, PEM), or neither")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &certFiles{cert: certFile, key: keyFile, log: log}
	if err := c.load(); err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"http/1.1"},
		GetCertificate: c.get,
	}, nil
}

// certFiles holds the certificate last loaded and the files' stamps then.
type certFiles struct {
	cert, key string
	log       *slog.Logger

	mu      sync.Mutex
	cur     *tls.Certificate
	stamped [2]fileStamp
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{fi.ModTime(), fi.Size()}
}

func (c *certFiles) load() error {
	st := [2]fileStamp{stampOf(c.cert), stampOf(c.key)}
	pair, err := tls.LoadX509KeyPair(c.cert, c.key)
	if err != nil {
		return fmt.Errorf("load the TLS certificate %s and key %s: %w", c.cert, c.key, err)
	}
	c.mu.Lock()
	c.cur, c.stamped = &pair, st
	c.mu.Unlock()
	return nil
}

// get serves the current pair, after loading the files again when they
// changed since they were last looked at.
func (c *certFiles) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	st := [2]fileStamp{stampOf(c.cert), stampOf(c.key)}
	c.mu.Lock()
	changed := st != c.stamped
	if changed {
		c.stamped = st // a pair that does not load is tried again when a file changes again
	}
	cur := c.cur
	c.mu.Unlock()
	if !changed {
		return cur, nil
	}
	pair, err := tls.LoadX509KeyPair(c.cert, c.key)
	if err != nil {
		c.log.Warn("TLS certificate files changed but do not load; serving the previous certificate", "err", err)
		return cur, nil
	}
	c.mu.Lock()
	c.cur = &pair
	c.mu.Unlock()
	c.log.Info("TLS certificate loaded again", "file", c.cert)
	return &pair, nil
}

// serverErrorLog is the http.Server's ErrorLog: its lines at warn, except
// failed TLS handshakes — every scanner and every client that gave up
// makes one — at debug.
func serverErrorLog(log *slog.Logger) *stdlog.Logger {
	return stdlog.New(errorLogWriter{log}, "", 0)
}

type errorLogWriter struct{ log *slog.Logger }

func (w errorLogWriter) Write(b []byte) (int, error) {
	msg := strings.TrimRight(string(b), "\n")
	level := slog.LevelWarn
	if strings.HasPrefix(msg, "http: TLS handshake error") {
		level = slog.LevelDebug
	}
	w.log.Log(context.Background(), level, msg)
	return len(b), nil
}
