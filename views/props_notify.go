package views

import "strings"

// NotifySection is the Settings section on notifications: the
// workspace's destinations and its SMTP server. Only owners see it.
// Destination form fields: name, kind (webhook|email), secret, format
// (generic|slack), recipients (comma or line separated), events (one
// value per checked box). SMTP form fields: host, port, username,
// password_secret, from, tls (starttls|tls|none).
type NotifySection struct {
	CanManage    bool
	Destinations []NotifyDestination
	New          NotifyDestination // the form, as typed
	SMTP         NotifySMTP
	Errors       map[string]string // keys: the form fields, "" for the form
	Saved        string            // what was just saved: "destination", "smtp", "removed"
}

// NotifyDestination is one destination. A webhook's URL is never shown:
// only the name of the secret that holds it.
type NotifyDestination struct {
	Name       string
	Kind       string
	Secret     string
	Format     string
	Recipients string
	Events     []string
}

// NotifySMTP is the workspace's SMTP server as shown and typed; the
// password is the name of a secret.
type NotifySMTP struct {
	Host, Port, Username, PasswordSecret, From, TLS string
}

// NotifyEvents are the events a destination can be told of, in order.
var NotifyEvents = []string{"failed", "succeeded", "canceled", "waiting"}

// Delivery is one line of a run's delivery log.
type Delivery struct {
	Destination string
	Event       string
	Status      string // pending | sent | failed
	Attempts    int
	LastError   string
	At          string // when it was last tried (or queued), formatted
}

// joinWords lists words with commas; "none" for none.
func joinWords(ws []string) string {
	if len(ws) == 0 {
		return "none"
	}
	return strings.Join(ws, ", ")
}
