package server

import (
	"bytes"
	"sync"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
)

var (
	mdOnce   sync.Once
	mdParser goldmark.Markdown
	mdPolicy *bluemonday.Policy
)

// Markdown renders a markdown cell to HTML that is safe to put in a page:
// raw HTML, scripts, event handlers and javascript: links are removed.
func Markdown(src string) string {
	mdOnce.Do(func() {
		mdParser = goldmark.New(goldmark.WithExtensions(extension.GFM))
		mdPolicy = bluemonday.UGCPolicy()
		mdPolicy.RequireNoFollowOnLinks(true)
		mdPolicy.AddTargetBlankToFullyQualifiedLinks(true)
	})
	var buf bytes.Buffer
	if err := mdParser.Convert([]byte(src), &buf); err != nil {
		return mdPolicy.Sanitize("<pre>" + src + "</pre>")
	}
	return mdPolicy.Sanitize(buf.String())
}
