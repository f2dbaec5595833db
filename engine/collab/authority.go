package collab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/opsbook/opsbook/engine/logattr"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Errors of the authority; test with errors.Is.
var (
	// ErrStale: the push was made at an older version; pull, rebase, push
	// again. The error is a *StaleError carrying the current version.
	ErrStale = errors.New("stale version")
	// ErrConflict: the log already holds a change at that version (another
	// process won). Logs return it; the authority turns it into ErrStale.
	ErrConflict = errors.New("version already taken")
	// ErrGone: the document's cell no longer exists.
	ErrGone = errors.New("document gone")
	// ErrTooLarge: the change would make the document larger than allowed.
	ErrTooLarge = errors.New("document too large")
)

// StaleError says at which version the document is.
type StaleError struct{ Version int }

func (e *StaleError) Error() string {
	return fmt.Sprintf("stale version: the document is at version %d; pull and rebase", e.Version)
}

// Is makes errors.Is(err, ErrStale) hold.
func (e *StaleError) Is(target error) bool { return target == ErrStale }

// Stored is one change as the log keeps it.
type Stored struct {
	Version  int             // the version this change makes: the first change makes 1
	Changes  json.RawMessage // ChangeSet JSON
	ClientID string
	UserID   string
	At       time.Time
}

// Snapshot is a document as loaded: its last checkpoint and the changes
// recorded after it, in order.
type Snapshot struct {
	Source  string
	Version int
	Changes []Stored
}

// Checkpoint is a document's text at a version.
type Checkpoint struct {
	Version int
	Source  string
}

// Log keeps the documents' changes; engine/store implements it. Flow and
// cell ids name a document.
type Log interface {
	// LoadDoc returns the checkpoint and the changes after it (ErrGone for
	// a cell that does not exist).
	LoadDoc(ctx context.Context, flowID, cellID string) (Snapshot, error)
	// AppendDoc stores changes (consecutive versions) in one transaction,
	// with a checkpoint when cp is not nil. A version already taken is
	// ErrConflict and nothing is stored; a missing cell is ErrGone.
	AppendDoc(ctx context.Context, flowID, cellID string, changes []Stored, cp *Checkpoint) error
	// DocChangesSince returns the changes after version, in order.
	DocChangesSince(ctx context.Context, flowID, cellID string, version int) ([]Stored, error)
	// CheckpointDoc records the text at version unless a later one is kept.
	CheckpointDoc(ctx context.Context, flowID, cellID string, cp Checkpoint) error
}

// Options tune an Authority; zero values take the defaults.
type Options struct {
	CheckpointEvery int           // changes between checkpoints (100)
	CheckpointIdle  time.Duration // quiet time before a checkpoint (2 s)
	MaxBytes        int           // largest document, UTF-8 bytes (1 MiB)
	MaxUpdates      int           // updates in one push (200)
	Recent          int           // updates kept in memory per document for pulls (256)
	// OnUpdates is called with every run of updates the authority learns
	// (accepted here, or read from the log after another process stored
	// them), in version order, under the document's lock: it must not block.
	OnUpdates func(flowID, cellID string, start int, updates []Update)
	Logger    *slog.Logger
	Now       func() time.Time
}

// Authority holds the documents of open cells and accepts changes to them
// only at their current version (the @codemirror/collab model). It is safe
// for concurrent use.
type Authority struct {
	log  Log
	opt  Options
	mu   sync.Mutex
	docs map[docKey]*doc

	started  atomic.Bool
	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

type docKey struct{ flow, cell string }

type doc struct {
	mu           sync.Mutex
	key          docKey
	loaded       bool
	text         Text
	bytes        int // UTF-8 length of text
	version      int
	checkpointed int
	recent       []Update  // the updates that made versions version-len(recent)+1 … version
	dirtySince   time.Time // the last change
	// known mirrors version for Sync, read without the lock: a notice of a
	// change this process stored (each of its own pushes comes back through
	// LISTEN) is dropped without waiting behind the push holding mu, so the
	// one listener is not held up for the other documents' notices.
	known atomic.Int64
}

// NewAuthority returns an authority over the documents kept by log.
func NewAuthority(log Log, opt Options) *Authority {
	if opt.CheckpointEvery <= 0 {
		opt.CheckpointEvery = 100
	}
	if opt.CheckpointIdle <= 0 {
		opt.CheckpointIdle = 2 * time.Second
	}
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = 1 << 20
	}
	if opt.MaxUpdates <= 0 {
		opt.MaxUpdates = 200
	}
	if opt.Recent <= 0 {
		opt.Recent = 256
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Authority{log: log, opt: opt, docs: map[docKey]*doc{}, stop: make(chan struct{}), done: make(chan struct{})}
}

// Start runs the idle checkpointer until Stop.
func (a *Authority) Start(ctx context.Context) {
	if !a.started.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer close(a.done)
		t := time.NewTicker(max(a.opt.CheckpointIdle/2, 10*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-t.C:
				a.checkpointIdle(context.WithoutCancel(ctx), false)
			case <-a.stop:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
}

// Stop ends the checkpointer and checkpoints every document with changes
// since its last checkpoint. It is safe to call twice, and without Start.
func (a *Authority) Stop(ctx context.Context) error {
	a.stopOnce.Do(func() { close(a.stop) })
	if a.started.Load() {
		<-a.done
	}
	return a.checkpointIdle(ctx, true)
}

func (a *Authority) checkpointIdle(ctx context.Context, all bool) error {
	a.mu.Lock()
	docs := make([]*doc, 0, len(a.docs))
	for _, d := range a.docs {
		docs = append(docs, d)
	}
	a.mu.Unlock()
	var errs []error
	now := a.opt.Now()
	for _, d := range docs {
		d.mu.Lock()
		if d.loaded && d.version > d.checkpointed && (all || now.Sub(d.dirtySince) >= a.opt.CheckpointIdle) {
			errs = append(errs, a.checkpoint(ctx, d))
		}
		d.mu.Unlock()
	}
	return errors.Join(errs...)
}

// checkpoint folds d's text into the log; d.mu is held.
func (a *Authority) checkpoint(ctx context.Context, d *doc) error {
	if err := a.log.CheckpointDoc(ctx, d.key.flow, d.key.cell, Checkpoint{Version: d.version, Source: d.text.String()}); err != nil {
		if errors.Is(err, ErrGone) {
			d.checkpointed = d.version
			return nil
		}
		a.opt.Logger.Error("checkpoint", logattr.Flow(d.key.flow), logattr.CellID(d.key.cell), "err", err)
		return fmt.Errorf("checkpoint cell %s: %w", d.key.cell, err)
	}
	d.checkpointed = d.version
	return nil
}

func (a *Authority) get(flowID, cellID string) *doc {
	k := docKey{flowID, cellID}
	a.mu.Lock()
	defer a.mu.Unlock()
	d := a.docs[k]
	if d == nil {
		d = &doc{key: k}
		a.docs[k] = d
	}
	return d
}

// load reads d from the log if it is not in memory; d.mu is held.
func (a *Authority) load(ctx context.Context, d *doc) error {
	if d.loaded {
		return nil
	}
	snap, err := a.log.LoadDoc(ctx, d.key.flow, d.key.cell)
	if err != nil {
		// Forget a document that could not be read (an unknown or deleted
		// cell), so asking for made-up ids does not fill memory. a.mu is
		// never held while waiting for a document's lock, so taking it
		// here cannot deadlock.
		if errors.Is(err, ErrGone) {
			a.mu.Lock()
			if a.docs[d.key] == d {
				delete(a.docs, d.key)
			}
			a.mu.Unlock()
		}
		return fmt.Errorf("load cell %s: %w", d.key.cell, err)
	}
	d.text = TextOf(snap.Source)
	d.version, d.checkpointed = snap.Version, snap.Version
	d.recent = nil
	if err := a.applyStored(d, snap.Changes, false); err != nil {
		return err
	}
	d.bytes = d.text.UTF8Len()
	d.loaded = true
	d.known.Store(int64(d.version))
	if d.version > d.checkpointed {
		d.dirtySince = a.opt.Now()
	}
	return nil
}

// applyStored applies changes read from the log to d; d.mu is held.
func (a *Authority) applyStored(d *doc, rows []Stored, announce bool) error {
	var ups []Update
	start := d.version
	for _, r := range rows {
		if r.Version <= d.version {
			continue
		}
		if r.Version != d.version+1 {
			return fmt.Errorf("cell %s: the log jumps from version %d to %d", d.key.cell, d.version, r.Version)
		}
		cs, err := ParseChangeSet(r.Changes)
		if err != nil {
			return fmt.Errorf("cell %s, version %d: %w", d.key.cell, r.Version, err)
		}
		t, err := cs.Apply(d.text)
		if err != nil {
			return fmt.Errorf("cell %s, version %d: %w", d.key.cell, r.Version, err)
		}
		d.text = t
		d.version++
		u := Update{Changes: cs, ClientID: r.ClientID}
		d.remember(u, a.opt.Recent)
		ups = append(ups, u)
	}
	if len(ups) > 0 {
		d.bytes = d.text.UTF8Len()
		d.dirtySince = a.opt.Now()
		d.known.Store(int64(d.version))
		if announce && a.opt.OnUpdates != nil {
			a.opt.OnUpdates(d.key.flow, d.key.cell, start, ups)
		}
	}
	return nil
}

func (d *doc) remember(u Update, keep int) {
	d.recent = append(d.recent, u)
	if len(d.recent) > keep*2 {
		d.recent = append([]Update(nil), d.recent[len(d.recent)-keep:]...)
	}
}

// catchUp reads what other processes stored after d.version; d.mu is held.
func (a *Authority) catchUp(ctx context.Context, d *doc) error {
	rows, err := a.log.DocChangesSince(ctx, d.key.flow, d.key.cell, d.version)
	if err != nil {
		return fmt.Errorf("read changes of cell %s: %w", d.key.cell, err)
	}
	if err := a.applyStored(d, rows, true); err != nil {
		d.loaded = false // reload from the log next time
		return err
	}
	return nil
}

// Doc returns a document's current version and text, loading it if needed.
func (a *Authority) Doc(ctx context.Context, flowID, cellID string) (int, string, error) {
	d := a.get(flowID, cellID)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := a.load(ctx, d); err != nil {
		return 0, "", err
	}
	return d.version, d.text.String(), nil
}

// Push applies updates made at version, stores them, and only then returns
// the version they start at (ack after store). A push at an older version is
// a *StaleError; an invalid, oversized or out-of-range change is ErrInvalid
// or ErrTooLarge, and the document is not touched.
func (a *Authority) Push(ctx context.Context, flowID, cellID, userID string, version int, updates []Update) (int, error) {
	if len(updates) == 0 || len(updates) > a.opt.MaxUpdates {
		return 0, fmt.Errorf("%w: a push holds 1 to %d updates", ErrInvalid, a.opt.MaxUpdates)
	}
	d := a.get(flowID, cellID)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := a.load(ctx, d); err != nil {
		return 0, err
	}
	if version > d.version {
		// Another process may have stored changes this one has not read.
		if err := a.catchUp(ctx, d); err != nil {
			return 0, err
		}
		if version > d.version {
			return 0, fmt.Errorf("%w: version %d is ahead of the document (%d)", ErrInvalid, version, d.version)
		}
	}
	if version < d.version {
		return 0, &StaleError{Version: d.version}
	}
	text, size := d.text, d.bytes
	now := a.opt.Now().UTC()
	rows := make([]Stored, len(updates))
	for i, u := range updates {
		if u.ClientID == "" || len(u.ClientID) > MaxClientID {
			return 0, fmt.Errorf("%w: update %d: clientID must have 1 to %d characters", ErrInvalid, i, MaxClientID)
		}
		delta, err := checkFits(u.Changes, text)
		if err != nil {
			return 0, fmt.Errorf("update %d: %w", i, err)
		}
		if size+delta > a.opt.MaxBytes {
			return 0, fmt.Errorf("%w: the cell would have %d bytes; the limit is %d", ErrTooLarge, size+delta, a.opt.MaxBytes)
		}
		t, err := u.Changes.Apply(text)
		if err != nil {
			return 0, fmt.Errorf("update %d: %w", i, err)
		}
		text, size = t, size+delta
		raw, _ := u.Changes.MarshalJSON()
		rows[i] = Stored{Version: version + i + 1, Changes: raw, ClientID: u.ClientID, UserID: userID, At: now}
	}
	newVersion := version + len(updates)
	var cp *Checkpoint
	if newVersion-d.checkpointed >= a.opt.CheckpointEvery {
		cp = &Checkpoint{Version: newVersion, Source: text.String()}
	}
	if err := a.log.AppendDoc(ctx, flowID, cellID, rows, cp); err != nil {
		if errors.Is(err, ErrConflict) {
			if cerr := a.catchUp(ctx, d); cerr != nil {
				return 0, cerr
			}
			return 0, &StaleError{Version: d.version}
		}
		return 0, fmt.Errorf("store changes of cell %s: %w", cellID, err)
	}
	d.text, d.bytes, d.version = text, size, newVersion
	d.dirtySince = a.opt.Now()
	d.known.Store(int64(newVersion))
	if cp != nil {
		d.checkpointed = newVersion
	}
	for _, u := range updates {
		d.remember(u, a.opt.Recent)
	}
	if a.opt.OnUpdates != nil {
		a.opt.OnUpdates(flowID, cellID, version, updates)
	}
	return version, nil
}

// checkFits checks that cs applies to text without splitting a surrogate
// pair or inserting a lone one, and returns the change in UTF-8 size.
func checkFits(cs ChangeSet, text Text) (int, error) {
	if n := cs.Len(); n != len(text) {
		return 0, fmt.Errorf("%w: it is for a document of length %d; the document has %d", ErrInvalid, n, len(text))
	}
	delta, pos := 0, 0
	split := func(p int) bool { return p > 0 && p < len(text) && isHigh(text[p-1]) && isLow(text[p]) }
	for i := 0; i < len(cs.sections); i += 2 {
		l, ins := cs.sections[i], cs.sections[i+1]
		if ins >= 0 {
			if split(pos) || split(pos+l) {
				return 0, fmt.Errorf("%w: a change at %d…%d splits a character", ErrInvalid, pos, pos+l)
			}
			t := cs.text(i >> 1)
			if !t.WellFormed() {
				return 0, fmt.Errorf("%w: inserted text holds a lone surrogate", ErrInvalid)
			}
			delta += t.UTF8Len() - text[pos:pos+l].UTF8Len()
		}
		pos += l
	}
	return delta, nil
}

// Pull returns the updates after version since, and the version they start
// at (since). A version ahead of the document is ErrInvalid.
func (a *Authority) Pull(ctx context.Context, flowID, cellID string, since int) ([]Update, error) {
	d := a.get(flowID, cellID)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := a.load(ctx, d); err != nil {
		return nil, err
	}
	if since > d.version {
		if err := a.catchUp(ctx, d); err != nil {
			return nil, err
		}
	}
	switch {
	case since < 0 || since > d.version:
		return nil, fmt.Errorf("%w: version %d is not one of this document (0…%d)", ErrInvalid, since, d.version)
	case since == d.version:
		return nil, nil
	}
	if first := d.version - len(d.recent); since >= first {
		return append([]Update(nil), d.recent[since-first:]...), nil
	}
	rows, err := a.log.DocChangesSince(ctx, flowID, cellID, since)
	if err != nil {
		return nil, fmt.Errorf("read changes of cell %s: %w", cellID, err)
	}
	out := make([]Update, 0, d.version-since)
	for _, r := range rows {
		if r.Version > d.version {
			break
		}
		cs, err := ParseChangeSet(r.Changes)
		if err != nil {
			return nil, fmt.Errorf("cell %s, version %d: %w", cellID, r.Version, err)
		}
		out = append(out, Update{Changes: cs, ClientID: r.ClientID})
	}
	if len(out) != d.version-since {
		return nil, fmt.Errorf("cell %s: the log holds %d changes after %d, want %d", cellID, len(out), since, d.version-since)
	}
	return out, nil
}

// Sync reads what another process stored for a document up to at least
// version (a notification), announcing it through OnUpdates. Documents not
// in memory are left alone: they are read fresh when opened.
func (a *Authority) Sync(ctx context.Context, flowID, cellID string, version int) error {
	a.mu.Lock()
	d := a.docs[docKey{flowID, cellID}]
	a.mu.Unlock()
	if d == nil || d.known.Load() >= int64(version) {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.loaded || d.version >= version {
		return nil
	}
	return a.catchUp(ctx, d)
}

// Flush checkpoints a document now (before its cell is deleted or copied).
func (a *Authority) Flush(ctx context.Context, flowID, cellID string) error {
	a.mu.Lock()
	d := a.docs[docKey{flowID, cellID}]
	a.mu.Unlock()
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.loaded || d.version == d.checkpointed {
		return nil
	}
	return a.checkpoint(ctx, d)
}

// Forget drops a document from memory (its cell was deleted, or restored
// and must be read again). Call Flush first to keep its latest text.
func (a *Authority) Forget(flowID, cellID string) {
	a.mu.Lock()
	delete(a.docs, docKey{flowID, cellID})
	a.mu.Unlock()
}

// Release checkpoints and drops every document of a flow (nobody has it
// open any more).
func (a *Authority) Release(ctx context.Context, flowID string) error {
	a.mu.Lock()
	var docs []*doc
	for k, d := range a.docs {
		if k.flow == flowID {
			docs = append(docs, d)
		}
	}
	a.mu.Unlock()
	var errs []error
	for _, d := range docs {
		d.mu.Lock()
		if d.loaded && d.version > d.checkpointed {
			errs = append(errs, a.checkpoint(ctx, d))
		}
		d.mu.Unlock()
		a.mu.Lock()
		if a.docs[d.key] == d {
			delete(a.docs, d.key)
		}
		a.mu.Unlock()
	}
	return errors.Join(errs...)
}

// Stats counts the documents in memory and the UTF-16 units they hold.
func (a *Authority) Stats() (docs, units int) {
	a.mu.Lock()
	list := make([]*doc, 0, len(a.docs))
	for _, d := range a.docs {
		list = append(list, d)
	}
	a.mu.Unlock()
	for _, d := range list {
		d.mu.Lock()
		units += len(d.text)
		d.mu.Unlock()
	}
	return len(list), units
}
