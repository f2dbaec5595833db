// Package docs holds the user documentation. The guide to writing cells is
// embedded so the studio serves it (/guide/cells); its test runs every
// example with the real engine, so the guide cannot drift from Opsbook.
package docs

import _ "embed"

// Cells is CELLS.md, the guide to writing cells, as markdown.
//
//go:embed CELLS.md
var Cells string
