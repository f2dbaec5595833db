package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/a-h/templ"
)

// TestPageCutOffWritesNoErrorPage: a page whose rendering fails after its
// status went out (the reader left) is not followed by an error page: that
// wrote a second status ("superfluous WriteHeader" in CI's log) and glued
// an error page to half a page.
func TestPageCutOffWritesNoErrorPage(t *testing.T) {
	f := setup(t, testDB)
	half := templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		io.WriteString(w, "<p>half")
		return errors.New("write: broken pipe")
	})
	h := f.srv.page(func(w http.ResponseWriter, r *http.Request) error {
		return f.srv.render(w, r, http.StatusOK, half)
	})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/w/acme/flows", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != "<p>half" {
		t.Errorf("got %d %q; want 200 and only the half page", rec.Code, rec.Body.String())
	}
}
