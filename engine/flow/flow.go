// Package flow reads, checks and writes the plain-file format of a flow: a
// folder holding a flow.yaml manifest and one file per cell (DESIGN.md, "The
// plain-file format"). Writing is canonical, so a folder in canonical form
// reads and writes back byte for byte.
package flow

// ManifestFile is the name of the manifest inside a flow folder.
const ManifestFile = "flow.yaml"

// MaxFileSize is the largest manifest or cell file accepted, in bytes.
const MaxFileSize = 1 << 20

// File is one file of a flow folder: the manifest or a cell's source.
type File struct {
	Name string
	Data []byte
}

// Keys of the manifest, in the order they are written.
var (
	flowKeys        = []string{"name", "description", "order", "network", "inputs", "triggers", "concurrency", "notify", "cells"}
	inputKeys       = []string{"name", "type", "default", "required", "options", "label", "description", "placeholder"}
	triggerKeys     = []string{"cron", "timezone", "webhook", "rate"}
	concurrencyKeys = []string{"limit", "overlap"}
	notifyKeys      = []string{"to", "on"}
	cellKeys        = []string{"name", "kind", "file", "approvers", "approvals", "expect_status", "timeout", "on_timeout", "retries", "retry_delay", "if", "needs", "connection", "env", "inputs", "continue_on_error"}
)
