// Package static holds the studio's stylesheet and editor bundle, embedded
// so one binary serves them, under content-hashed URLs cached forever.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"sync"
)

// FS holds css/, dist/ (the bundle built by cmd/bundle, committed) and img/
// (the icon).
//
//go:embed css dist img
var FS embed.FS

// Hash is a short hash of every embedded file's name and content: it changes
// whenever any of them does, so `/static/{hash}/…` can be cached forever.
func Hash() string { return hashOnce() }

var hashOnce = sync.OnceValue(func() string {
	h := sha256.New()
	// WalkDir visits in lexical order, so the hash is stable.
	err := fs.WalkDir(FS, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := FS.ReadFile(name)
		if err != nil {
			return err
		}
		h.Write([]byte(name))
		h.Write([]byte{0})
		h.Write(b)
		h.Write([]byte{0})
		return nil
	})
	if err != nil {
		panic("static: hash embedded files: " + err.Error())
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
})

// Path is the cache-busting URL of an embedded file, e.g.
// Path("css/app.css") is "/static/3f2a…/css/app.css".
func Path(name string) string { return "/static/" + Hash() + "/" + name }
