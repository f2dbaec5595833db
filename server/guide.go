package server

import (
	"bytes"
	"net/http"
	"sync"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"

	"github.com/opsbook/opsbook/docs"
	"github.com/opsbook/opsbook/views"
)

// guideHTML is docs/CELLS.md rendered once, with ids on its headings so
// its table of contents links work; sanitized like any markdown.
var guideHTML = sync.OnceValue(func() string {
	md := goldmark.New(goldmark.WithExtensions(extension.GFM), goldmark.WithParserOptions(parser.WithAutoHeadingID()))
	var buf bytes.Buffer
	if err := md.Convert([]byte(docs.Cells), &buf); err != nil {
		return Markdown(docs.Cells)
	}
	Markdown("") // makes mdPolicy
	return mdPolicy.Sanitize(buf.String())
})

// GET /guide/cells: the guide to writing cells, for anyone.
func (s *Server) guideCells(w http.ResponseWriter, r *http.Request) error {
	return s.render(w, r, http.StatusOK, views.GuidePage(views.GuideProps{
		Page: s.pageOf(r, "Writing cells", "", ""), HTML: guideHTML(),
	}))
}
