package views

import (
	"strconv"
	"strings"
	"time"

	"github.com/opsbook/opsbook/engine/flow"
)

// VersionsProps is a flow's history page. Forms: "Save version" posts
// field message to /w/{ws}/flows/{slug}/versions; the upload posts a
// multipart archive and message to …/versions/import; each version has
// restore and publish forms (POST …/versions/{n}/restore and /publish) and
// export links (GET …/versions/{n}/export?format=zip|tar.gz). Errors keys:
// "message", "archive", "".
type VersionsProps struct {
	Page      Page
	Slug      string
	FlowName  string
	CanEdit   bool
	Versions  []VersionItem // newest first
	Published int           // 0: none
	Message   string
	Errors    map[string]string
	Notice    string // a line saying what just happened
	// DraftUnsaved: the draft holds edits its latest version does not, so
	// a restore asks first whether to save them as a version.
	DraftUnsaved bool
}

// VersionItem is one version in the history.
type VersionItem struct {
	Number    int
	Message   string
	Author    string   // display name
	Coauthors []string // display names
	Hash      string
	CreatedAt time.Time
	Published bool
}

// DiffProps is the diff page between two flow contents: From and To are
// "draft" or a version number as text; Versions lists the numbers there
// are, newest first, for the pickers.
type DiffProps struct {
	Page     Page
	Slug     string
	FlowName string
	From     string
	To       string
	Versions []int
	Diff     flow.Diff
}

func versionLabel(s string) string {
	if s == "draft" {
		return "the draft"
	}
	return "v" + s
}

func diffPath(ws, slug, from, to string) string {
	return wsPath(ws, "flows", slug, "diff") + "?from=" + from + "&to=" + to
}

func exportPath(ws, slug string, n int, format string) string {
	return wsPath(ws, "flows", slug, "versions", strconv.Itoa(n), "export") + "?format=" + format
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func lineNo(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

func lineClass(op flow.LineOp) string {
	switch op {
	case flow.LineAdded:
		return "dl dl-add"
	case flow.LineRemoved:
		return "dl dl-del"
	}
	return "dl"
}

func changeClass(c flow.Change) string { return "chip chip-change-" + string(c) }

func fieldOld(f flow.FieldChange) string { return orNone(f.Old) }
func fieldNew(f flow.FieldChange) string { return orNone(f.New) }

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func joinNames(ns []string) string { return strings.Join(ns, ", ") }

func diffSummary(d flow.Diff) string {
	a, r, c := d.Count()
	if d.Empty() {
		return "No changes."
	}
	return strconv.Itoa(a) + " added, " + strconv.Itoa(r) + " removed, " + strconv.Itoa(c) + " changed"
}

func versionValue(n int) string { return strconv.Itoa(n) }

func gitChipClass(status string) string {
	switch status {
	case "in_sync":
		return "chip chip-succeeded"
	case "changed_here":
		return "chip chip-queued"
	case "changed_in_git":
		return "chip chip-running"
	case "conflict":
		return "chip chip-failed"
	}
	return "chip chip-canceled"
}

func gitChipTitle(c *GitChip) string {
	if c.Error != "" {
		return "git: " + c.Label + " — " + c.Error
	}
	return "git: " + c.Label
}

func pullChipClass(result string) string {
	switch result {
	case "new", "version", "unchanged":
		return "chip chip-succeeded"
	case "conflict", "invalid":
		return "chip chip-failed"
	}
	return "chip chip-queued"
}

func pullWords(it PullItem) string {
	switch it.Result {
	case "new":
		return "new flow"
	case "version", "unchanged":
		return version(it.Version)
	}
	return it.Result
}

func setWords(set bool) string {
	if set {
		return "set"
	}
	return "not set"
}
