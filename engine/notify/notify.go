// Package notify tells people what happened to runs: it queues a
// delivery per destination when a run ends (or waits for an approval) in
// the store's outbox, and one process at a time sends them, to a webhook
// (generic JSON or Slack) or by e-mail, retrying with back-off.
package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/clock"
	"github.com/opsbook/opsbook/engine/lease"
	"github.com/opsbook/opsbook/engine/logattr"
	"github.com/opsbook/opsbook/engine/run"
	"github.com/opsbook/opsbook/engine/secret"
	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/engine/worker"
)

// The defaults of Config.
const (
	DefaultEvery       = 2 * time.Second
	DefaultMaxAttempts = 6
	DefaultBackoff     = 10 * time.Second
	// MaxBackoff bounds the wait between two attempts.
	MaxBackoff = time.Hour
	// LeaseName is the lease a pass holds: one sender across replicas.
	LeaseName = "notify"
	leaseTTL  = time.Minute
	batch     = 20
	// maxError bounds the error text a notification carries.
	maxError = 2000
)

// Config is what a Notifier needs.
type Config struct {
	Store *store.Store
	Box   *secret.Box // opens the webhook URLs and SMTP passwords
	// BaseURL is the studio's origin (--base-url) the links are built on,
	// like https://ops.example.com.
	BaseURL string
	Logger  *slog.Logger
	Clock   clock.Clock // nil: the system clock
	// Every is the time between two passes (default DefaultEvery).
	Every time.Duration
	// MaxAttempts is how many times a delivery is tried before it is
	// given up (default DefaultMaxAttempts); Backoff the wait after the
	// first failure, doubled after each next (default DefaultBackoff).
	MaxAttempts int
	Backoff     time.Duration
	// HTTP sends the webhooks (default: a client with a 10 s timeout).
	HTTP *http.Client
	// Holder names this process in the lease; "" makes one up.
	Holder string
}

// Notifier queues and sends notifications.
type Notifier struct {
	cfg  Config
	mu   sync.Mutex
	base string // Config.BaseURL, or what SetBaseURL gave
	loop lease.Loop
}

// New makes a notifier; Start starts its sender.
func New(cfg Config) *Notifier {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Every <= 0 {
		cfg.Every = DefaultEvery
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Holder == "" {
		cfg.Holder = engine.NewID("notify")
	}
	return &Notifier{cfg: cfg, base: strings.TrimRight(cfg.BaseURL, "/")}
}

// SetBaseURL changes the origin the links are built on.
func (n *Notifier) SetBaseURL(origin string) {
	n.mu.Lock()
	n.base = strings.TrimRight(origin, "/")
	n.mu.Unlock()
}

// BaseURL is the origin the links are built on.
func (n *Notifier) BaseURL() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.base
}

// Start sends in the background until Stop or ctx's end; starting twice
// does nothing.
func (n *Notifier) Start(ctx context.Context) {
	n.loop.Start(ctx, n.cfg.Clock, 0, n.cfg.Every, func(ctx context.Context) {
		if _, err := n.Pass(ctx); err != nil && ctx.Err() == nil {
			n.cfg.Logger.Error("notify: pass", "err", err)
		}
	})
}

// Stop ends the sender and waits for it; safe to call twice.
func (n *Notifier) Stop() { n.loop.Stop() }

// Result is what one pass did.
type Result struct {
	Queued  int // finished runs whose deliveries were queued
	Sent    int
	Failed  int // attempts that failed (retried later or given up)
	Skipped bool
}

// Pass queues the deliveries of runs that ended and sends those due, when
// no other process holds the lease (then Result.Skipped).
func (n *Notifier) Pass(ctx context.Context) (Result, error) {
	var res Result
	// The lease is not given up after a pass: the sender that has it
	// keeps sending, and another replica takes over when it lapses.
	l := &lease.Lease{Store: n.cfg.Store, Name: LeaseName, Holder: n.cfg.Holder, TTL: leaseTTL, Clock: n.cfg.Clock}
	got, err := l.Take(ctx)
	if err != nil {
		return res, err
	}
	if !got {
		res.Skipped = true
		return res, nil
	}
	runs, err := n.cfg.Store.RunsToNotify(ctx, batch)
	if err != nil {
		return res, err
	}
	for _, r := range runs {
		ds, err := n.deliveriesFor(ctx, r, eventOf(r.Status), "", "")
		if err != nil {
			return res, err
		}
		if err := n.cfg.Store.MarkRunNotified(ctx, r.ID, ds); err != nil {
			return res, err
		}
		res.Queued++
	}
	due, err := n.cfg.Store.DueDeliveries(ctx, n.cfg.Clock.Now(), batch)
	if err != nil {
		return res, err
	}
	for _, d := range due {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		// A slow endpoint can hold a pass for long: keep the lease, and
		// stop when another process took it, so nothing is sent twice by
		// two senders at once.
		if err := l.Keep(ctx); err != nil {
			return res, err
		}
		err := n.send(ctx, d)
		d.Attempts++
		d.NextAt = n.cfg.Clock.Now()
		switch {
		case err == nil:
			d.Status, d.LastError = store.DeliverySent, ""
			res.Sent++
		case d.Attempts >= n.cfg.MaxAttempts || errors.Is(err, errPermanent):
			d.Status, d.LastError = store.DeliveryFailed, err.Error()
			res.Failed++
		default:
			d.LastError = err.Error()
			d.NextAt = d.NextAt.Add(n.backoff(d.Attempts))
			res.Failed++
		}
		if err != nil {
			n.cfg.Logger.Warn("notify: delivery failed", logattr.Run(d.RunID), "destination", d.Destination, "attempt", d.Attempts, "err", err)
		}
		if err := n.cfg.Store.UpdateDelivery(ctx, d); err != nil {
			return res, err
		}
	}
	return res, nil
}

// backoff is the wait after the attempt-th failed attempt: Backoff, then
// doubled each time, at most MaxBackoff.
func (n *Notifier) backoff(attempt int) time.Duration {
	d := n.cfg.Backoff
	for i := 1; i < attempt && d < MaxBackoff; i++ {
		d *= 2
	}
	return min(d, MaxBackoff)
}

// Waiting queues the "waiting for approval" notifications of run r, whose
// cell waits for a decision at link (the decision page's URL). The run
// plane calls it when a run starts waiting; calling it twice for the same
// run and cell queues nothing more.
func (n *Notifier) Waiting(ctx context.Context, r store.Run, cell, link string) error {
	ds, err := n.deliveriesFor(ctx, r, engine.NotifyWaiting, cell, link)
	if err != nil {
		return err
	}
	return n.cfg.Store.AddDeliveries(ctx, ds)
}

// RunWaits queues the "waiting for approval" notifications of every
// approval run runID waits for, each with its decision link: for an
// approval whose approvers include link, a new decision page link
// (/a/TOKEN, the token minted here, its hash stored), else the run page's
// link to the cell. Links are relative: the sender puts the studio's
// origin in front, so a worker process that knows no origin can call it.
// The run plane calls it when a run stops to wait; again is harmless
// (Waiting; a token is minted only once).
func (n *Notifier) RunWaits(ctx context.Context, runID string) error {
	r, err := n.cfg.Store.Run(ctx, runID)
	if err != nil {
		return fmt.Errorf("waiting notifications of %s: %w", runID, err)
	}
	as, err := n.cfg.Store.RunApprovals(ctx, runID)
	if err != nil {
		return fmt.Errorf("waiting notifications of %s: %w", runID, err)
	}
	for _, a := range as {
		if a.Status != store.ApprovalWaiting {
			continue
		}
		link := "/runs/" + r.ID + "#cell-" + url.PathEscape(a.Cell)
		if slices.Contains(a.Approvers, engine.ApproverLink) && a.LinkHash == "" {
			// The raw token leaves here only in the delivery, which
			// forgets it once sent; the store keeps its hash. When it was
			// minted already (RunWaits again, or the studio's "Copy
			// decision link"), the notification was queued then, or the
			// people who decide have it.
			token, hash := NewDecisionToken()
			ok, err := n.cfg.Store.SetApprovalLink(ctx, a.ID, hash, false)
			if err != nil && !errors.Is(err, store.ErrApprovalClosed) {
				return fmt.Errorf("waiting notifications of %s: %w", runID, err)
			}
			if ok {
				link = DecisionPath(token)
			}
		}
		if err := n.Waiting(ctx, r, a.Cell, link); err != nil {
			return err
		}
	}
	return nil
}

// NewDecisionToken makes the token of an approval's decision link, 256
// random bits, and its sha256 hex, which is all the store keeps (as
// account.NewToken does for share links).
func NewDecisionToken() (token, hash string) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	token = base64.RawURLEncoding.EncodeToString(b[:])
	return token, DecisionTokenHash(token)
}

// DecisionTokenHash is the sha256 hex of a decision link's token.
func DecisionTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// DecisionPath is the decision page's path of a token, relative to the
// studio's origin.
func DecisionPath(token string) string { return "/a/" + token }

// eventOf is the event a run's final status tells of; "" for none (a
// skipped run).
func eventOf(s engine.RunStatus) engine.NotifyEvent {
	switch s {
	case engine.RunFailed:
		return engine.NotifyFailed
	case engine.RunSucceeded:
		return engine.NotifySucceeded
	case engine.RunCanceled:
		return engine.NotifyCanceled
	}
	return ""
}

// deliveriesFor lists whom run r tells of event e: the destinations its
// flow's notify: names (with their events, or the destinations' own), or
// when the flow names none, every destination of the workspace whose
// defaults hold e. A name the workspace does not have (removed since the
// flow was saved) is queued all the same, and fails at once, so the run's
// log says why; a workspace with no destination at all queues nothing.
func (n *Notifier) deliveriesFor(ctx context.Context, r store.Run, e engine.NotifyEvent, cell, link string) ([]store.Delivery, error) {
	if e == "" {
		return nil, nil
	}
	dests, err := n.cfg.Store.Destinations(ctx, r.WorkspaceID)
	if err != nil {
		return nil, err
	}
	if len(dests) == 0 {
		return nil, nil // a workspace with no destinations tells nobody
	}
	if len(r.Files) == 0 {
		full, err := n.cfg.Store.Run(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		r = full
	}
	byName := map[string]store.Destination{}
	for _, d := range dests {
		byName[d.Name] = d
	}
	var rules []engine.Notify
	if f, err := worker.FlowFromFiles(r.Files); err == nil {
		rules = f.Notify
	}
	var out []store.Delivery
	add := func(name string) {
		out = append(out, store.Delivery{RunID: r.ID, WorkspaceID: r.WorkspaceID, Destination: name, Event: e, Cell: cell, Link: link,
			NextAt: n.cfg.Clock.Now()})
	}
	if len(rules) == 0 {
		for _, d := range dests {
			if slices.Contains(d.Events, e) {
				add(d.Name)
			}
		}
		return out, nil
	}
	for _, rule := range rules {
		d, ok := byName[rule.To]
		on := rule.On
		if on == nil {
			on = d.Events
		}
		if slices.Contains(on, e) || (!ok && rule.On == nil) {
			add(rule.To)
		}
	}
	return out, nil
}

// errPermanent marks a failure another attempt cannot mend (no such
// destination, no SMTP server): the delivery is given up at once.
var errPermanent = errors.New("")

func permanent(format string, args ...any) error {
	return fmt.Errorf("%w"+format, append([]any{errPermanent}, args...)...)
}

// Message is what a notification says, the same for every format.
type Message struct {
	Event       engine.NotifyEvent `json:"event"`
	Workspace   string             `json:"workspace"`
	Flow        string             `json:"flow"`
	Run         string             `json:"run"`
	Status      string             `json:"status"`
	URL         string             `json:"url"`
	StartedAt   *time.Time         `json:"started_at"`
	FinishedAt  *time.Time         `json:"finished_at"`
	Error       string             `json:"error"`
	Cell        string             `json:"cell,omitempty"`
	DecisionURL string             `json:"decision_url,omitempty"`
}

// message builds what d says, with every secret of the workspace masked.
func (n *Notifier) message(ctx context.Context, d store.Delivery) (Message, *run.Masker, error) {
	r, err := n.cfg.Store.Run(ctx, d.RunID)
	if err != nil {
		return Message{}, nil, err
	}
	ws, err := n.cfg.Store.WorkspaceByID(ctx, r.WorkspaceID)
	if err != nil {
		return Message{}, nil, err
	}
	flowName := r.FlowID
	if f, err := n.cfg.Store.FlowByID(ctx, r.FlowID); err == nil {
		flowName = f.Name
	}
	m := Message{Event: d.Event, Workspace: ws.Slug, Flow: flowName, Run: r.ID, Status: string(r.Status),
		URL: n.BaseURL() + "/runs/" + r.ID, Error: r.Error, Cell: d.Cell, DecisionURL: d.Link}
	if strings.HasPrefix(m.DecisionURL, "/") {
		m.DecisionURL = n.BaseURL() + m.DecisionURL // RunWaits' link, made where the origin is known
	}
	if !r.StartedAt.IsZero() {
		t := r.StartedAt.UTC()
		m.StartedAt = &t
	}
	if !r.FinishedAt.IsZero() {
		t := r.FinishedAt.UTC()
		m.FinishedAt = &t
	}
	if d.Event == engine.NotifyWaiting {
		m.Status = string(engine.RunWaiting)
	}
	secrets, err := worker.OpenSecrets(ctx, n.cfg.Store, n.cfg.Box, r.WorkspaceID, nil)
	if err != nil {
		return Message{}, nil, fmt.Errorf("open the workspace's secrets to mask the message: %w", err)
	}
	mask := run.NewMasker(worker.SecretValues(secrets))
	m.Error = mask.String(m.Error)
	if len(m.Error) > maxError {
		m.Error = m.Error[:maxError] + "…"
	}
	m.Flow = mask.String(m.Flow)
	return m, mask, nil
}

// Summary is the message in one line of text.
func (m Message) Summary() string {
	switch m.Event {
	case engine.NotifyWaiting:
		return fmt.Sprintf("%s: run %s waits for an approval at cell %s", m.Flow, m.Run, m.Cell)
	case engine.NotifyFailed:
		if m.Error != "" {
			return fmt.Sprintf("%s: run %s failed: %s", m.Flow, m.Run, m.Error)
		}
		return fmt.Sprintf("%s: run %s failed", m.Flow, m.Run)
	}
	return fmt.Sprintf("%s: run %s %s", m.Flow, m.Run, m.Status)
}

// Text is the message as plain text with its links, for e-mail.
func (m Message) Text() string {
	var b strings.Builder
	b.WriteString(m.Summary() + "\n\n")
	fmt.Fprintf(&b, "Workspace: %s\nFlow: %s\nRun: %s\nStatus: %s\n", m.Workspace, m.Flow, m.Run, m.Status)
	if m.DecisionURL != "" {
		fmt.Fprintf(&b, "\nDecide: %s\n", m.DecisionURL)
	}
	fmt.Fprintf(&b, "\nOpen the run: %s\n", m.URL)
	return b.String()
}

// SlackBody is the body of a `format: slack` webhook.
func (m Message) SlackBody() map[string]any {
	text := m.Summary()
	links := fmt.Sprintf("<%s|Open the run>", m.URL)
	if m.DecisionURL != "" {
		links = fmt.Sprintf("<%s|Decide> · ", m.DecisionURL) + links
	}
	return map[string]any{
		"text": text + " " + m.URL,
		"blocks": []any{
			map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": text}},
			map[string]any{"type": "context", "elements": []any{map[string]any{"type": "mrkdwn", "text": links}}},
		},
	}
}

func (n *Notifier) send(ctx context.Context, d store.Delivery) error {
	var dest store.Destination
	dests, err := n.cfg.Store.Destinations(ctx, d.WorkspaceID)
	if err != nil {
		return err
	}
	for _, x := range dests {
		if x.Name == d.Destination {
			dest = x
		}
	}
	if dest.ID == "" {
		return permanent("the workspace has no destination %q; add it in the workspace's settings, or fix the flow's notify:", d.Destination)
	}
	m, mask, err := n.message(ctx, d)
	if err != nil {
		return err
	}
	switch dest.Kind {
	case store.DestWebhook:
		err = n.sendWebhook(ctx, dest, m)
	case store.DestEmail:
		err = n.sendEmail(ctx, dest, m)
	default:
		return permanent("destination %q has an unknown kind %q", dest.Name, dest.Kind)
	}
	if err != nil {
		// A failure can quote what was sent or the URL; the log shows it
		// masked.
		msg := mask.String(err.Error())
		if errors.Is(err, errPermanent) {
			return permanent("%s", msg)
		}
		return errors.New(msg)
	}
	return nil
}

func (n *Notifier) secret(ctx context.Context, wsID, name string) (string, error) {
	vals, err := worker.OpenSecrets(ctx, n.cfg.Store, n.cfg.Box, wsID, []string{name})
	if err != nil {
		return "", err
	}
	v, ok := vals[name]
	if !ok {
		return "", permanent("the workspace has no secret %s; add it in the workspace's settings", name)
	}
	return v, nil
}

func (n *Notifier) sendWebhook(ctx context.Context, dest store.Destination, m Message) error {
	u, err := n.secret(ctx, dest.WorkspaceID, dest.SecretName)
	if err != nil {
		return err
	}
	var body any = m
	if dest.Format == store.FormatSlack {
		body = m.SlackBody()
	}
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	if err != nil {
		// The URL is a secret: say which, not what.
		return permanent("the URL in secret %s is not a valid URL", dest.SecretName)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Opsbook-Notify")
	resp, err := n.cfg.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("webhook (the URL in secret %s): %s", dest.SecretName, transportError(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}

func (n *Notifier) sendEmail(ctx context.Context, dest store.Destination, m Message) error {
	c, err := n.cfg.Store.SMTPOf(ctx, dest.WorkspaceID)
	if errors.Is(err, store.ErrNotFound) {
		return permanent("the workspace has no SMTP server; an owner sets one in the workspace's settings")
	} else if err != nil {
		return err
	}
	if len(dest.Recipients) == 0 {
		return permanent("destination %q has no recipients", dest.Name)
	}
	msg := mail.NewMsg()
	if err := msg.From(c.From); err != nil {
		return permanent("from address %q: %v", c.From, err)
	}
	if err := msg.To(dest.Recipients...); err != nil {
		return permanent("recipients: %v", err)
	}
	msg.Subject("[Opsbook] " + m.Summary())
	msg.SetBodyString(mail.TypeTextPlain, m.Text())
	opts := []mail.Option{mail.WithPort(c.Port), mail.WithTimeout(15 * time.Second)}
	switch c.TLS {
	case "tls":
		opts = append(opts, mail.WithSSL())
	case "none":
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	if c.Username != "" {
		pw := ""
		if c.PasswordSecret != "" {
			if pw, err = n.secret(ctx, dest.WorkspaceID, c.PasswordSecret); err != nil {
				return err
			}
		}
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthPlain), mail.WithUsername(c.Username), mail.WithPassword(pw))
	}
	client, err := mail.NewClient(c.Host, opts...)
	if err != nil {
		return permanent("SMTP server: %v", err)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("e-mail: %v", err)
	}
	return nil
}

// transportError says why a request got no answer without quoting where it
// went: the URL is a secret, and the client's errors name its host, port
// and address ("dial tcp 10.0.0.5:8443: connect: connection refused").
func transportError(err error) string {
	var dns *net.DNSError
	var cert *tls.CertificateVerificationError
	var rec tls.RecordHeaderError
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &dns):
		return "the host name does not resolve"
	case errors.As(err, &cert):
		return "the server's TLS certificate is not trusted"
	case errors.As(err, &rec), strings.Contains(err.Error(), "gave HTTP response to HTTPS client"):
		return "the server does not speak TLS"
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return "no answer in time"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the connection was closed before an answer"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "the host is unreachable"
	}
	return "the request failed before an answer"
}
