package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/views"
)

// Audit actions of the notification settings.
const (
	actNotifyDestAdded   = "notify.destination_added"
	actNotifyDestRemoved = "notify.destination_removed"
	actNotifySMTPSet     = "notify.smtp_configured"
)

// notifyStore is what the notification settings and logs need of the
// store.
type notifyStore interface {
	Destinations(ctx context.Context, wsID string) ([]store.Destination, error)
	CreateDestination(ctx context.Context, d store.Destination) (store.Destination, error)
	DeleteDestination(ctx context.Context, wsID, name string) error
	SMTPOf(ctx context.Context, wsID string) (store.SMTP, error)
	SetSMTP(ctx context.Context, c store.SMTP) error
	RunDeliveries(ctx context.Context, runID string) ([]store.Delivery, error)
}

var _ notifyStore = (*store.Store)(nil)

// NotifyWaiting queues the "waiting for approval" notifications of run r,
// whose cell waits for a decision at link (the decision page's absolute
// URL): the run plane calls it when a run starts waiting. Calling it again
// for the same run and cell queues nothing more; the sender (one across
// replicas) sends them within a pass.
func (s *Server) NotifyWaiting(ctx context.Context, r store.Run, cell, link string) error {
	return s.notifier.Waiting(ctx, r, cell, link)
}

// SetPublicOrigin gives notifications the origin their links are built on
// when no --base-url was given (the address the studio listens on).
func (s *Server) SetPublicOrigin(origin string) {
	if s.http.BaseURL != nil {
		return
	}
	// A studio listening on every address (:8080) is reached, at least,
	// on this machine.
	if u, err := url.Parse(origin); err == nil {
		if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsUnspecified() {
			u.Host = net.JoinHostPort("localhost", u.Port())
			origin = u.String()
		}
	}
	s.notifier.SetBaseURL(origin)
}

// checkNotifyDestinations refuses a flow whose notify: names a
// destination the workspace does not have: a problem at save time, not a
// parse error (the file format cannot know the workspace's settings).
func (s *Server) checkNotifyDestinations(ctx context.Context, wsID string, f *engine.Flow) error {
	i, err := s.missingDestination(ctx, wsID, f.Notify)
	if err != nil || i < 0 {
		return err
	}
	return errorf(http.StatusUnprocessableEntity, "invalid", "notify",
		fmt.Sprintf("flow.yaml: notify entry %d names destination %q, which this workspace does not have; an owner adds it in Settings → Notifications, or remove it from notify:", i+1, f.Notify[i].To))
}

// missingDestination is the index of the first entry of ns that names a
// destination the workspace does not have, or -1.
func (s *Server) missingDestination(ctx context.Context, wsID string, ns []engine.Notify) (int, error) {
	if len(ns) == 0 {
		return -1, nil
	}
	var st notifyStore = s.store
	ds, err := st.Destinations(ctx, wsID)
	if err != nil {
		return -1, err
	}
	for i, n := range ns {
		if !slices.ContainsFunc(ds, func(d store.Destination) bool { return d.Name == n.To }) {
			return i, nil
		}
	}
	return -1, nil
}

// deliveryLog is a run's notification log for its studio page.
func (s *Server) deliveryLog(ctx context.Context, run store.Run) ([]views.Delivery, error) {
	var st notifyStore = s.store
	ds, err := st.RunDeliveries(ctx, run.ID)
	if err != nil || len(ds) == 0 {
		return nil, err
	}
	m := s.maskerFor(ctx, run.WorkspaceID)
	out := make([]views.Delivery, len(ds))
	for i, d := range ds {
		out[i] = views.Delivery{Destination: d.Destination, Event: string(d.Event), Status: d.Status, Attempts: d.Attempts,
			LastError: m.String(d.LastError), At: d.UpdatedAt.UTC().Format("2006-01-02 15:04:05 UTC")}
	}
	return out, nil
}

// apiDelivery is one notification of a run in the API.
type apiDelivery struct {
	Destination string `json:"destination"`
	Event       string `json:"event"`
	Cell        string `json:"cell,omitempty"`
	Status      string `json:"status"`
	Attempts    int    `json:"attempts"`
	LastError   string `json:"last_error,omitempty"`
	UpdatedAt   string `json:"updated_at"`
}

func (s *Server) apiDeliveries(ctx context.Context, run store.Run) (*[]apiDelivery, error) {
	var st notifyStore = s.store
	ds, err := st.RunDeliveries(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	m := s.maskerFor(ctx, run.WorkspaceID)
	out := make([]apiDelivery, len(ds))
	for i, d := range ds {
		out[i] = apiDelivery{Destination: d.Destination, Event: string(d.Event), Cell: d.Cell, Status: d.Status, Attempts: d.Attempts,
			LastError: m.String(d.LastError), UpdatedAt: fmtTime(d.UpdatedAt)}
	}
	return &out, nil
}

// notifySection fills the Settings section on notifications; only owners
// see it.
func (s *Server) notifySection(r *http.Request, a access, props *views.SettingsProps) error {
	if a.Role != engine.RoleOwner {
		return nil
	}
	var st notifyStore = s.store
	ds, err := st.Destinations(r.Context(), a.Workspace.ID)
	if err != nil {
		return err
	}
	sec := views.NotifySection{CanManage: true, Errors: map[string]string{},
		New: views.NotifyDestination{Kind: store.DestWebhook, Format: store.FormatGeneric, Events: []string{string(engine.NotifyFailed)}}}
	for _, d := range ds {
		sec.Destinations = append(sec.Destinations, destinationView(d))
	}
	if c, err := st.SMTPOf(r.Context(), a.Workspace.ID); err == nil {
		sec.SMTP = views.NotifySMTP{Host: c.Host, Port: strconv.Itoa(c.Port), Username: c.Username, PasswordSecret: c.PasswordSecret, From: c.From, TLS: c.TLS}
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	switch q := r.URL.Query().Get("notify"); q {
	case "destination", "removed", "smtp":
		sec.Saved = q
	}
	props.Notify = sec
	return nil
}

func destinationView(d store.Destination) views.NotifyDestination {
	v := views.NotifyDestination{Name: d.Name, Kind: d.Kind, Secret: d.SecretName, Format: d.Format, Recipients: strings.Join(d.Recipients, ", ")}
	for _, e := range d.Events {
		v.Events = append(v.Events, string(e))
	}
	return v
}

// notifyForm starts a POST of the notification settings: owners only, the
// form read, the settings page's props.
func (s *Server) notifyForm(w http.ResponseWriter, r *http.Request) (access, views.SettingsProps, error) {
	a, err := s.workspaceAccess(r.Context(), r.PathValue("ws"), engine.RoleOwner)
	if err != nil {
		return a, views.SettingsProps{}, err
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		return a, views.SettingsProps{}, errorf(http.StatusBadRequest, "bad_form", "", "the form could not be read")
	}
	props, err := s.settingsProps(r, a)
	w.Header().Set("Cache-Control", "no-store")
	return a, props, err
}

// POST /w/{ws}/notify/destinations
func (s *Server) notifyDestinationAdd(w http.ResponseWriter, r *http.Request) error {
	a, props, err := s.notifyForm(w, r)
	if err != nil {
		return err
	}
	sec := &props.Notify
	d := store.Destination{WorkspaceID: a.Workspace.ID,
		Name: strings.TrimSpace(r.PostFormValue("name")), Kind: r.PostFormValue("kind"),
		SecretName: strings.TrimSpace(r.PostFormValue("secret")), Format: r.PostFormValue("format")}
	sec.New = views.NotifyDestination{Name: d.Name, Kind: d.Kind, Secret: d.SecretName, Format: d.Format,
		Recipients: r.PostFormValue("recipients"), Events: r.PostForm["events"]}
	if !engine.IsSlug(d.Name) {
		sec.Errors["name"] = "name the destination in lower-case letters, digits and -, like ops or team-mail (at most " + strconv.Itoa(engine.MaxSlug) + ")"
	}
	for _, e := range r.PostForm["events"] {
		if !engine.NotifyEvent(e).Valid() {
			sec.Errors["events"] = fmt.Sprintf("unknown event %q", e)
		} else if !slices.Contains(d.Events, engine.NotifyEvent(e)) {
			d.Events = append(d.Events, engine.NotifyEvent(e))
		}
	}
	switch d.Kind {
	case store.DestWebhook:
		if m := checkSecretName(d.SecretName); m != "" {
			sec.Errors["secret"] = "the secret holding the webhook's URL: " + m
		}
		if d.Format != store.FormatGeneric && d.Format != store.FormatSlack {
			sec.Errors["format"] = "choose generic or slack"
		}
	case store.DestEmail:
		d.SecretName, d.Format = "", ""
		for _, f := range strings.FieldsFunc(r.PostFormValue("recipients"), func(r rune) bool { return r == ',' || r == '\n' || r == ';' }) {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			if addr, err := mail.ParseAddress(f); err != nil || addr.Name != "" {
				sec.Errors["recipients"] = fmt.Sprintf("%q is not an e-mail address", f)
			} else {
				d.Recipients = append(d.Recipients, addr.Address)
			}
		}
		switch {
		case len(d.Recipients) == 0 && sec.Errors["recipients"] == "":
			sec.Errors["recipients"] = "list at least one e-mail address"
		case len(d.Recipients) > store.MaxRecipients:
			sec.Errors["recipients"] = fmt.Sprintf("at most %d recipients; use a mailing list", store.MaxRecipients)
		}
	default:
		sec.Errors["kind"] = "choose webhook or email"
	}
	if len(sec.Errors) > 0 {
		return s.render(w, r, http.StatusUnprocessableEntity, views.SettingsPage(props))
	}
	var st notifyStore = s.store
	if _, err := st.CreateDestination(r.Context(), d); errors.Is(err, store.ErrAlreadyExists) {
		sec.Errors["name"] = "a destination of that name exists; remove it first or choose another name"
		return s.render(w, r, http.StatusConflict, views.SettingsPage(props))
	} else if errors.Is(err, store.ErrInvalid) {
		sec.Errors[""] = err.Error()
		return s.render(w, r, http.StatusUnprocessableEntity, views.SettingsPage(props))
	} else if err != nil {
		return err
	}
	s.audit(r.Context(), r, actNotifyDestAdded, d.Name, d.Kind)
	http.Redirect(w, r, "/w/"+a.Workspace.Slug+"/settings?notify=destination#notifications", http.StatusSeeOther)
	return nil
}

// POST /w/{ws}/notify/destinations/{name}/delete
func (s *Server) notifyDestinationRemove(w http.ResponseWriter, r *http.Request) error {
	a, _, err := s.notifyForm(w, r)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	var st notifyStore = s.store
	if err := st.DeleteDestination(r.Context(), a.Workspace.ID, name); errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "not_found", "", "this workspace has no destination of that name")
	} else if err != nil {
		return err
	}
	s.audit(r.Context(), r, actNotifyDestRemoved, name, "")
	http.Redirect(w, r, "/w/"+a.Workspace.Slug+"/settings?notify=removed#notifications", http.StatusSeeOther)
	return nil
}

// POST /w/{ws}/notify/smtp
func (s *Server) notifySMTPSave(w http.ResponseWriter, r *http.Request) error {
	a, props, err := s.notifyForm(w, r)
	if err != nil {
		return err
	}
	sec := &props.Notify
	v := views.NotifySMTP{Host: strings.TrimSpace(r.PostFormValue("host")), Port: strings.TrimSpace(r.PostFormValue("port")),
		Username: strings.TrimSpace(r.PostFormValue("username")), PasswordSecret: strings.TrimSpace(r.PostFormValue("password_secret")),
		From: strings.TrimSpace(r.PostFormValue("from")), TLS: r.PostFormValue("tls")}
	sec.SMTP = v
	c := store.SMTP{WorkspaceID: a.Workspace.ID, Host: v.Host, Username: v.Username, PasswordSecret: v.PasswordSecret, From: v.From, TLS: v.TLS}
	if v.Host == "" || len(v.Host) > 253 || strings.ContainsAny(v.Host, " /:") {
		sec.Errors["host"] = "write the server's host name, like smtp.example.com"
	}
	if c.Port, err = strconv.Atoi(v.Port); err != nil || c.Port < 1 || c.Port > 65535 {
		sec.Errors["port"] = "a port from 1 to 65535, like 587"
	}
	if c.TLS != "starttls" && c.TLS != "tls" && c.TLS != "none" {
		sec.Errors["tls"] = "choose starttls, tls or none"
	}
	if c.PasswordSecret != "" {
		if m := checkSecretName(c.PasswordSecret); m != "" {
			sec.Errors["password_secret"] = m
		}
	}
	if addr, err := mail.ParseAddress(v.From); err != nil {
		sec.Errors["from"] = "write the sender's e-mail address, like opsbook@example.com"
	} else {
		c.From = addr.Address
	}
	if len(sec.Errors) > 0 {
		return s.render(w, r, http.StatusUnprocessableEntity, views.SettingsPage(props))
	}
	var st notifyStore = s.store
	if err := st.SetSMTP(r.Context(), c); err != nil {
		return err
	}
	s.audit(r.Context(), r, actNotifySMTPSet, "smtp", fmt.Sprintf("%s:%d (%s)", c.Host, c.Port, c.TLS))
	http.Redirect(w, r, "/w/"+a.Workspace.Slug+"/settings?notify=smtp#notifications", http.StatusSeeOther)
	return nil
}
