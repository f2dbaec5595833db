// Package migrations holds Opsbook's database schema as SQL files for
// golang-migrate, one folder per dialect (sqlite/ and postgres/), embedded so
// the binary can migrate a database with no files beside it.
package migrations

import "embed"

// FS holds sqlite/*.sql and postgres/*.sql, named
// NNNN_title.up.sql and NNNN_title.down.sql as golang-migrate expects.
//
//go:embed sqlite/*.sql postgres/*.sql
var FS embed.FS
