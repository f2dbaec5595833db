package views

import "time"

// WebhooksPanel is the Webhooks section of a flow's share page, for
// editors: the flow's webhook tokens (never the tokens themselves), the
// one just made, and whether the version webhooks run has a webhook
// trigger. Making one posts name to /w/{ws}/flows/{slug}/hooks; revoking
// posts to /w/{ws}/hooks/{id}/revoke.
type WebhooksPanel struct {
	Show      bool // the viewer is an editor
	Trigger   bool // the version webhooks run declares a webhook trigger
	Rate      int  // its runs a second per token
	Version   int  // the version webhooks run
	Published bool // Version is the published one (else the latest)
	Hooks     []HookItem
	New       *NewHook
	Error     string // why the last one could not be made
}

// HookItem is one live webhook token of a flow.
type HookItem struct {
	ID         string
	Name       string
	CreatedBy  string
	CreatedAt  time.Time
	LastUsedAt time.Time // zero: never used
}

// NewHook is a webhook token just made, shown once with its URL (its
// token is stored hashed, so it cannot be shown again).
type NewHook struct {
	ID   string
	Name string
	URL  string
}

// curlExample is a command that calls a webhook.
func curlExample(url string) string {
	return "curl -X POST -H 'Content-Type: application/json' -d '{}' '" + url + "?wait=30s'"
}
