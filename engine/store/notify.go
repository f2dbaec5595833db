package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/opsbook/opsbook/engine"
)

// Notification destinations, the SMTP server of a workspace, and the
// outbox of deliveries (engine/notify sends them).

// Destination kinds and webhook formats.
const (
	DestWebhook = "webhook"
	DestEmail   = "email"

	FormatGeneric = "generic"
	FormatSlack   = "slack"
)

// Delivery statuses.
const (
	DeliveryPending = "pending"
	DeliverySent    = "sent"
	DeliveryFailed  = "failed" // gave up after its attempts
)

// Bounds of what a destination holds.
const (
	MaxDestinations = 50
	MaxRecipients   = 20
)

// Destination is a named place a workspace's runs are told of.
type Destination struct {
	ID          string
	WorkspaceID string
	Name        string
	Kind        string // DestWebhook | DestEmail
	SecretName  string // webhook: the workspace secret holding the URL
	Format      string // webhook: FormatGeneric | FormatSlack
	Recipients  []string
	// Events are what the destination is told of when a flow's notify:
	// names it without on: (and what every run tells it when the flow
	// has no notify: at all).
	Events    []engine.NotifyEvent
	CreatedAt time.Time
}

type destinationModel struct {
	bun.BaseModel `bun:"table:notify_destinations"`

	ID          string    `bun:"id,pk"`
	WorkspaceID string    `bun:"workspace_id"`
	Name        string    `bun:"name"`
	Kind        string    `bun:"kind"`
	SecretName  string    `bun:"secret_name"`
	Format      string    `bun:"format"`
	Recipients  string    `bun:"recipients"`
	Events      string    `bun:"events"`
	CreatedAt   time.Time `bun:"created_at"`
}

// CreateDestination stores a new destination; its name taken in the
// workspace is ErrAlreadyExists, more than MaxDestinations ErrInvalid.
func (s *Store) CreateDestination(ctx context.Context, d Destination) (Destination, error) {
	if d.ID == "" {
		d.ID = engine.NewID("nd_")
	}
	d.CreatedAt = s.timeNow()
	ev := make([]string, len(d.Events))
	for i, e := range d.Events {
		ev[i] = string(e)
	}
	m := destinationModel{ID: d.ID, WorkspaceID: d.WorkspaceID, Name: d.Name, Kind: d.Kind, SecretName: d.SecretName,
		Format: d.Format, Recipients: strings.Join(d.Recipients, "\n"), Events: strings.Join(ev, ","), CreatedAt: d.CreatedAt}
	err := s.write(ctx, func(ctx context.Context, tx bun.Tx) error {
		n, err := tx.NewSelect().Model((*destinationModel)(nil)).Where("? = ?", bun.Ident("workspace_id"), d.WorkspaceID).Count(ctx)
		if err != nil {
			return err
		}
		if n >= MaxDestinations {
			return fmt.Errorf("%w: a workspace has at most %d destinations; remove one first", ErrInvalid, MaxDestinations)
		}
		_, err = tx.NewInsert().Model(&m).Exec(ctx)
		return err
	})
	return d, wrap(err, "create destination %q", d.Name)
}

// Destinations lists a workspace's destinations by name.
func (s *Store) Destinations(ctx context.Context, wsID string) ([]Destination, error) {
	var ms []destinationModel
	if err := s.rdb.NewSelect().Model(&ms).Where("? = ?", bun.Ident("workspace_id"), wsID).Order("name").Scan(ctx); err != nil {
		return nil, wrap(err, "destinations of workspace %s", wsID)
	}
	out := make([]Destination, len(ms))
	for i, m := range ms {
		d := Destination{ID: m.ID, WorkspaceID: m.WorkspaceID, Name: m.Name, Kind: m.Kind, SecretName: m.SecretName,
			Format: m.Format, CreatedAt: m.CreatedAt.UTC()}
		if m.Recipients != "" {
			d.Recipients = strings.Split(m.Recipients, "\n")
		}
		for _, e := range strings.Split(m.Events, ",") {
			if e != "" {
				d.Events = append(d.Events, engine.NotifyEvent(e))
			}
		}
		out[i] = d
	}
	return out, nil
}

// DeleteDestination removes a workspace's destination by name
// (ErrNotFound when it has none of that name). Its deliveries stay in
// the runs' logs.
func (s *Store) DeleteDestination(ctx context.Context, wsID, name string) error {
	res, err := s.db.NewDelete().Model((*destinationModel)(nil)).
		Where("? = ?", bun.Ident("workspace_id"), wsID).Where("? = ?", bun.Ident("name"), name).Exec(ctx)
	return wrap(affected(res, err), "delete destination %q", name)
}

// SMTP is the mail server a workspace's e-mail destinations send through,
// configured by its owners.
type SMTP struct {
	WorkspaceID    string
	Host           string
	Port           int
	Username       string
	PasswordSecret string // the name of a workspace secret; "" for none
	From           string
	TLS            string // starttls | tls | none
	UpdatedAt      time.Time
}

type smtpModel struct {
	bun.BaseModel `bun:"table:notify_smtp"`

	WorkspaceID    string    `bun:"workspace_id,pk"`
	Host           string    `bun:"host"`
	Port           int       `bun:"port"`
	Username       string    `bun:"username"`
	PasswordSecret string    `bun:"password_secret"`
	From           string    `bun:"from_addr"`
	TLS            string    `bun:"tls"`
	UpdatedAt      time.Time `bun:"updated_at"`
}

// SetSMTP stores a workspace's SMTP server, replacing any.
func (s *Store) SetSMTP(ctx context.Context, c SMTP) error {
	m := smtpModel{WorkspaceID: c.WorkspaceID, Host: c.Host, Port: c.Port, Username: c.Username,
		PasswordSecret: c.PasswordSecret, From: c.From, TLS: c.TLS, UpdatedAt: s.timeNow()}
	q := s.db.NewInsert().Model(&m).On("CONFLICT (workspace_id) DO UPDATE")
	for _, col := range []string{"host", "port", "username", "password_secret", "from_addr", "tls", "updated_at"} {
		q = q.Set("? = EXCLUDED.?", bun.Ident(col), bun.Ident(col))
	}
	_, err := q.Exec(ctx)
	return wrap(err, "set the SMTP server of workspace %s", c.WorkspaceID)
}

// SMTPOf reads a workspace's SMTP server; ErrNotFound when none is set.
func (s *Store) SMTPOf(ctx context.Context, wsID string) (SMTP, error) {
	var m smtpModel
	if err := s.rdb.NewSelect().Model(&m).Where("? = ?", bun.Ident("workspace_id"), wsID).Scan(ctx); err != nil {
		return SMTP{}, wrap(err, "SMTP server of workspace %s", wsID)
	}
	return SMTP{WorkspaceID: m.WorkspaceID, Host: m.Host, Port: m.Port, Username: m.Username,
		PasswordSecret: m.PasswordSecret, From: m.From, TLS: m.TLS, UpdatedAt: m.UpdatedAt.UTC()}, nil
}

// Delivery is one notification of one run to one destination: a row of
// the outbox and of the run's delivery log.
type Delivery struct {
	ID          string
	RunID       string
	WorkspaceID string
	Destination string // the destination's name
	Event       engine.NotifyEvent
	Cell        string // waiting: the approval cell
	Link        string // waiting: the decision link; cleared once sent or given up
	Status      string // DeliveryPending | DeliverySent | DeliveryFailed
	Attempts    int
	LastError   string
	NextAt      time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

type deliveryModel struct {
	bun.BaseModel `bun:"table:notify_deliveries"`

	ID          string    `bun:"id,pk"`
	RunID       string    `bun:"run_id"`
	WorkspaceID string    `bun:"workspace_id"`
	Destination string    `bun:"destination"`
	Event       string    `bun:"event"`
	Cell        string    `bun:"cell"`
	Link        string    `bun:"link"`
	Status      string    `bun:"status"`
	Attempts    int       `bun:"attempts"`
	LastError   string    `bun:"last_error"`
	NextAt      time.Time `bun:"next_at"`
	CreatedAt   time.Time `bun:"created_at"`
	UpdatedAt   time.Time `bun:"updated_at"`
}

func deliveryOf(m deliveryModel) Delivery {
	return Delivery{ID: m.ID, RunID: m.RunID, WorkspaceID: m.WorkspaceID, Destination: m.Destination, Event: engine.NotifyEvent(m.Event),
		Cell: m.Cell, Link: m.Link, Status: m.Status, Attempts: m.Attempts, LastError: m.LastError,
		NextAt: m.NextAt.UTC(), CreatedAt: m.CreatedAt.UTC(), UpdatedAt: m.UpdatedAt.UTC()}
}

func (s *Store) deliveryModels(ds []Delivery) []deliveryModel {
	now := s.timeNow()
	ms := make([]deliveryModel, len(ds))
	for i, d := range ds {
		next := now
		if !d.NextAt.IsZero() {
			next = d.NextAt.UTC()
		}
		ms[i] = deliveryModel{ID: engine.NewID("nv_"), RunID: d.RunID, WorkspaceID: d.WorkspaceID, Destination: d.Destination,
			Event: string(d.Event), Cell: d.Cell, Link: d.Link, Status: DeliveryPending, NextAt: next, CreatedAt: now, UpdatedAt: now}
	}
	return ms
}

// AddDeliveries queues deliveries, due at their NextAt (zero: now); one already queued for the same
// run, destination, event and cell is left as it is (at least once, never
// twice).
func (s *Store) AddDeliveries(ctx context.Context, ds []Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	ms := s.deliveryModels(ds)
	_, err := s.db.NewInsert().Model(&ms).On("CONFLICT (run_id, destination, event, cell) DO NOTHING").Exec(ctx)
	return wrap(err, "queue notifications of run %s", ds[0].RunID)
}

// RunsToNotify lists finished runs whose notifications were not queued
// yet, oldest first, without their files.
func (s *Store) RunsToNotify(ctx context.Context, limit int) ([]Run, error) {
	var ms []runModel
	err := s.db.NewSelect().Model(&ms).ExcludeColumn("files", "inputs", "request").
		Where("? IS NULL", bun.Ident("notified_at")).Where("? IS NOT NULL", bun.Ident("finished_at")).
		Order("finished_at", "id").Limit(int64(limit)).Scan(ctx)
	if err != nil {
		return nil, wrap(err, "runs to notify")
	}
	out := make([]Run, 0, len(ms))
	for i := range ms {
		r, err := runOf(&ms[i], false)
		if err != nil {
			return nil, fmt.Errorf("runs to notify: %w", err)
		}
		out = append(out, r)
	}
	return out, nil
}

// MarkRunNotified queues a finished run's deliveries and marks the run
// notified, in one transaction: a sender that dies before it commits
// leaves the run to the next.
func (s *Store) MarkRunNotified(ctx context.Context, runID string, ds []Delivery) error {
	err := s.write(ctx, func(ctx context.Context, tx bun.Tx) error {
		if len(ds) > 0 {
			ms := s.deliveryModels(ds)
			if _, err := tx.NewInsert().Model(&ms).On("CONFLICT (run_id, destination, event, cell) DO NOTHING").Exec(ctx); err != nil {
				return err
			}
		}
		_, err := tx.NewUpdate().Table("runs").Set("? = ?", bun.Ident("notified_at"), s.timeNow()).
			Where("? = ?", bun.Ident("id"), runID).Exec(ctx)
		return err
	})
	return wrap(err, "queue notifications of run %s", runID)
}

// DueDeliveries lists pending deliveries whose time has come, oldest
// first.
func (s *Store) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]Delivery, error) {
	var ms []deliveryModel
	err := s.db.NewSelect().Model(&ms).Where("? = ?", bun.Ident("status"), DeliveryPending).
		Where("? <= ?", bun.Ident("next_at"), now.UTC()).Order("next_at", "id").Limit(int64(limit)).Scan(ctx)
	if err != nil {
		return nil, wrap(err, "due notifications")
	}
	out := make([]Delivery, len(ms))
	for i, m := range ms {
		out[i] = deliveryOf(m)
	}
	return out, nil
}

// UpdateDelivery stores the outcome of an attempt: status, attempts, last
// error and next time. A delivery that is no longer pending forgets its
// link.
func (s *Store) UpdateDelivery(ctx context.Context, d Delivery) error {
	q := s.db.NewUpdate().Model((*deliveryModel)(nil)).
		Set("? = ?", bun.Ident("status"), d.Status).Set("? = ?", bun.Ident("attempts"), d.Attempts).
		Set("? = ?", bun.Ident("last_error"), d.LastError).Set("? = ?", bun.Ident("next_at"), d.NextAt.UTC()).
		Set("? = ?", bun.Ident("updated_at"), s.timeNow())
	if d.Status != DeliveryPending {
		q = q.Set("? = ''", bun.Ident("link"))
	}
	res, err := q.Where("? = ?", bun.Ident("id"), d.ID).Exec(ctx)
	return wrap(affected(res, err), "store notification %s", d.ID)
}

// RunDeliveries is a run's delivery log, in the order they were queued.
func (s *Store) RunDeliveries(ctx context.Context, runID string) ([]Delivery, error) {
	var ms []deliveryModel
	err := s.rdb.NewSelect().Model(&ms).ExcludeColumn("link").Where("? = ?", bun.Ident("run_id"), runID).
		Order("created_at", "destination", "event").Limit(200).Scan(ctx)
	if err != nil {
		return nil, wrap(err, "notifications of run %s", runID)
	}
	out := make([]Delivery, len(ms))
	for i, m := range ms {
		out[i] = deliveryOf(m)
	}
	return out, nil
}
