package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/opsbook/opsbook/engine"
)

// Approval statuses. A waiting approval takes decisions; the others are
// closed.
const (
	ApprovalWaiting  = "waiting"
	ApprovalApproved = "approved"
	ApprovalRejected = "rejected"
)

// ErrApprovalClosed: a decision on an approval that is decided already, or
// whose deadline passed.
var ErrApprovalClosed = errors.New("the approval is closed")

// Bounds of what a decision carries.
const (
	MaxApprovalComment = 4 << 10
	MaxApprovalInputs  = 16 << 10
	MaxApprovalMessage = 256 << 10
)

// Approval is an approval cell of a run that asked people to decide
// (migration 0018), with the rules it was asked with and its decisions.
type Approval struct {
	ID        string
	RunID     string
	Cell      string
	Message   string   // the markdown they read, placeholders filled in
	Approvers []string // as the cell lists them
	Needed    int
	OnTimeout engine.OnTimeout
	Deadline  time.Time // zero: waits for ever
	Status    string    // ApprovalWaiting, ApprovalApproved, ApprovalRejected
	// LinkHash is the sha256 hex of the decision link's token, "" when the
	// approval has no link.
	LinkHash  string
	CreatedAt time.Time
	DecidedAt time.Time // zero while waiting
	Decisions []ApprovalDecision
}

// ApprovalDecision is one decision on an approval. UserID is the user's,
// "" for a holder of the decision link (then IP says where from) and for
// the timeout.
type ApprovalDecision struct {
	UserID   string
	Who      string // the user's name, "link holder" or "timeout"
	IP       string
	At       time.Time
	Approved bool
	Comment  string
	Inputs   map[string]any
}

// Approvals counts the decisions that approve.
func (a Approval) Approvals() int {
	n := 0
	for _, d := range a.Decisions {
		if d.Approved {
			n++
		}
	}
	return n
}

// DecidedBy reports whether userID decided already.
func (a Approval) DecidedBy(userID string) bool {
	for _, d := range a.Decisions {
		if userID != "" && d.UserID == userID {
			return true
		}
	}
	return false
}

// Choices are the decisions as an approval cell's result lists them.
func (a Approval) Choices() []engine.ApprovalChoice {
	out := make([]engine.ApprovalChoice, len(a.Decisions))
	for i, d := range a.Decisions {
		by := d.Who
		if d.IP != "" {
			by += " (" + d.IP + ")"
		}
		out[i] = engine.ApprovalChoice{By: by, At: d.At.UTC().Format(time.RFC3339), Approved: d.Approved, Comment: d.Comment, Inputs: d.Inputs}
	}
	return out
}

type approvalModel struct {
	bun.BaseModel `bun:"table:approvals"`

	ID        string     `bun:"id,pk"`
	RunID     string     `bun:"run_id"`
	Cell      string     `bun:"cell"`
	Message   string     `bun:"message"`
	Approvers string     `bun:"approvers"`
	Needed    int        `bun:"needed"`
	OnTimeout string     `bun:"on_timeout"`
	Deadline  *time.Time `bun:"deadline"`
	Status    string     `bun:"status"`
	LinkHash  *string    `bun:"link_hash"`
	CreatedAt time.Time  `bun:"created_at"`
	DecidedAt *time.Time `bun:"decided_at"`
}

type approvalDecisionModel struct {
	bun.BaseModel `bun:"table:approval_decisions"`

	ApprovalID string    `bun:"approval_id,pk"`
	Seq        int       `bun:"seq,pk"`
	UserID     *string   `bun:"user_id"`
	Who        string    `bun:"who"`
	IP         string    `bun:"ip"`
	At         time.Time `bun:"at"`
	Approved   bool      `bun:"approved"`
	Comment    string    `bun:"comment"`
	Inputs     string    `bun:"inputs"`
}

func approvalOf(m *approvalModel, ds []approvalDecisionModel) (Approval, error) {
	a := Approval{
		ID: m.ID, RunID: m.RunID, Cell: m.Cell, Message: m.Message, Needed: m.Needed,
		OnTimeout: engine.OnTimeout(m.OnTimeout), Deadline: toTime(m.Deadline), Status: m.Status,
		LinkHash: fromNull(m.LinkHash), CreatedAt: m.CreatedAt.UTC(), DecidedAt: toTime(m.DecidedAt),
	}
	if err := json.Unmarshal([]byte(m.Approvers), &a.Approvers); err != nil {
		return Approval{}, fmt.Errorf("approval %s: approvers: %w", m.ID, err)
	}
	for _, d := range ds {
		ad := ApprovalDecision{UserID: fromNull(d.UserID), Who: d.Who, IP: d.IP, At: d.At.UTC(), Approved: d.Approved, Comment: d.Comment}
		if err := json.Unmarshal([]byte(d.Inputs), &ad.Inputs); err != nil {
			return Approval{}, fmt.Errorf("approval %s: inputs: %w", m.ID, err)
		}
		a.Decisions = append(a.Decisions, ad)
	}
	return a, nil
}

// AskApproval stores the approval a run's cell asks for, waiting, and
// returns it with its id; when the run's cell asked already (a worker that
// reaches the cell again), it returns that one as it is, decisions and
// all.
func (s *Store) AskApproval(ctx context.Context, a Approval) (Approval, error) {
	if len(a.Message) > MaxApprovalMessage {
		return Approval{}, fmt.Errorf("ask approval of cell %s: the message is %s: %w: at most %s", a.Cell, engine.FormatBytes(int64(len(a.Message))), ErrTooLarge, engine.FormatBytes(MaxApprovalMessage))
	}
	approvers, err := json.Marshal(a.Approvers)
	if err != nil {
		return Approval{}, fmt.Errorf("ask approval of cell %s: %w", a.Cell, err)
	}
	onTimeout := a.OnTimeout
	if onTimeout == "" {
		onTimeout = engine.OnTimeoutReject
	}
	m := approvalModel{
		ID: NewID("ap"), RunID: a.RunID, Cell: a.Cell, Message: a.Message, Approvers: string(approvers),
		Needed: max(a.Needed, 1), OnTimeout: string(onTimeout), Deadline: fromTime(a.Deadline),
		Status: ApprovalWaiting, LinkHash: nullString(a.LinkHash), CreatedAt: s.timeNow(),
	}
	_, err = s.db.NewInsert().Model(&m).On("CONFLICT (run_id, cell) DO NOTHING").Exec(ctx)
	if err != nil {
		return Approval{}, wrap(err, "ask approval of cell %s of run %s", a.Cell, a.RunID)
	}
	return s.RunApproval(ctx, a.RunID, a.Cell)
}

// RunApproval is the approval a run's cell asked for; ErrNotFound when
// it asked none.
func (s *Store) RunApproval(ctx context.Context, runID, cell string) (Approval, error) {
	return s.approvalWhere(ctx, fmt.Sprintf("approval of cell %s of run %s", cell, runID), func(q *bun.SelectQuery) *bun.SelectQuery {
		return q.Where("? = ?", bun.Ident("run_id"), runID).Where("? = ?", bun.Ident("cell"), cell)
	})
}

// approvalWhere reads the approval q selects and its decisions in one
// snapshot: read apart, a decision committed between the two reads (the
// sweeper's timeout) would sit beside the status from before it.
func (s *Store) approvalWhere(ctx context.Context, what string, where func(*bun.SelectQuery) *bun.SelectQuery) (Approval, error) {
	var a Approval
	err := s.snapshot(ctx, func(ctx context.Context, tx bun.Tx) error {
		var m approvalModel
		if err := where(tx.NewSelect().Model(&m)).Scan(ctx); err != nil {
			return err
		}
		var err error
		a, err = s.withDecisions(ctx, tx, &m)
		return err
	})
	if err != nil {
		return Approval{}, wrap(err, "%s", what)
	}
	return a, nil
}

// Approval reads an approval by id.
func (s *Store) Approval(ctx context.Context, id string) (Approval, error) {
	return s.approvalWhere(ctx, "approval "+id, func(q *bun.SelectQuery) *bun.SelectQuery {
		return q.Where("? = ?", bun.Ident("id"), id)
	})
}

// RunApprovals lists a run's approvals in the order they were asked, with
// their decisions.
func (s *Store) RunApprovals(ctx context.Context, runID string) ([]Approval, error) {
	var out []Approval
	err := s.snapshot(ctx, func(ctx context.Context, tx bun.Tx) error {
		var ms []approvalModel
		if err := tx.NewSelect().Model(&ms).Where("? = ?", bun.Ident("run_id"), runID).Order("created_at", "id").Scan(ctx); err != nil {
			return err
		}
		out = make([]Approval, 0, len(ms))
		for i := range ms {
			a, err := s.withDecisions(ctx, tx, &ms[i])
			if err != nil {
				return err
			}
			out = append(out, a)
		}
		return nil
	})
	if err != nil {
		return nil, wrap(err, "approvals of run %s", runID)
	}
	return out, nil
}

func (s *Store) withDecisions(ctx context.Context, db bun.IDB, m *approvalModel) (Approval, error) {
	var ds []approvalDecisionModel
	if err := db.NewSelect().Model(&ds).Where("? = ?", bun.Ident("approval_id"), m.ID).Order("seq").Scan(ctx); err != nil {
		return Approval{}, wrap(err, "decisions of approval %s", m.ID)
	}
	return approvalOf(m, ds)
}

// DecideApproval records a decision on a waiting approval, in one
// transaction: a rejection closes it rejected; an approval closes it
// approved once it has the approvals it needs. A person decides once
// (ErrAlreadyExists); a closed approval, or one whose deadline passed,
// takes no decision (ErrApprovalClosed, and the approval as it stands, so
// the caller can say who decided and when). Who may decide is the
// caller's to check.
func (s *Store) DecideApproval(ctx context.Context, id string, d ApprovalDecision) (Approval, error) {
	return s.decide(ctx, id, d, false)
}

// decide is DecideApproval; timeout is the sweeper's decision, taken at or
// after the deadline, which closes the approval whatever it counts.
func (s *Store) decide(ctx context.Context, id string, d ApprovalDecision, timeout bool) (Approval, error) {
	var inputs []byte
	switch {
	case len(d.Comment) > MaxApprovalComment:
		return Approval{}, fmt.Errorf("decide approval %s: a comment of %s: %w: at most %s", id, engine.FormatBytes(int64(len(d.Comment))), ErrTooLarge, engine.FormatBytes(MaxApprovalComment))
	case strings.TrimSpace(d.Who) == "":
		return Approval{}, fmt.Errorf("decide approval %s: who decides is needed: %w", id, ErrInvalid)
	}
	inputs, err := json.Marshal(d.Inputs)
	if err != nil {
		return Approval{}, fmt.Errorf("decide approval %s: %w", id, err)
	}
	if d.Inputs == nil {
		inputs = []byte("{}")
	}
	if len(inputs) > MaxApprovalInputs {
		return Approval{}, fmt.Errorf("decide approval %s: form values of %s: %w: at most %s", id, engine.FormatBytes(int64(len(inputs))), ErrTooLarge, engine.FormatBytes(MaxApprovalInputs))
	}
	var out Approval
	var closed bool
	var resumed []string
	err = s.write(ctx, func(ctx context.Context, tx bun.Tx) error {
		resumed = nil
		now := s.timeNow()
		var m approvalModel
		q := tx.NewSelect().Model(&m).Where("? = ?", bun.Ident("id"), id)
		if s.postgres() {
			q = q.For("UPDATE")
		}
		if err := q.Scan(ctx); err != nil {
			return err
		}
		a, err := s.withDecisions(ctx, tx, &m)
		if err != nil {
			return err
		}
		if m.Status != ApprovalWaiting || (m.Deadline != nil && !now.Before(*m.Deadline) && !timeout) {
			out, closed = a, true
			return nil
		}
		if d.UserID != "" && a.DecidedBy(d.UserID) {
			return fmt.Errorf("%w: %s decided already", ErrAlreadyExists, d.Who)
		}
		dm := approvalDecisionModel{
			ApprovalID: id, Seq: len(a.Decisions) + 1, UserID: nullString(d.UserID), Who: d.Who, IP: d.IP,
			At: now, Approved: d.Approved, Comment: d.Comment, Inputs: string(inputs),
		}
		if _, err := tx.NewInsert().Model(&dm).Exec(ctx); err != nil {
			return err
		}
		status := ApprovalWaiting
		switch {
		case !d.Approved:
			status = ApprovalRejected
		case timeout || a.Approvals()+1 >= m.Needed:
			status = ApprovalApproved
		}
		if status != ApprovalWaiting {
			if _, err := tx.NewUpdate().Model((*approvalModel)(nil)).
				Set("? = ?", bun.Ident("status"), status).Set("? = ?", bun.Ident("decided_at"), now).
				Where("? = ?", bun.Ident("id"), id).Exec(ctx); err != nil {
				return err
			}
			m.Status, m.DecidedAt = status, &now
			if resumed, err = s.resumeTx(ctx, tx, m.RunID); err != nil {
				return err
			}
		}
		out, err = s.withDecisions(ctx, tx, &m)
		return err
	})
	if err != nil {
		return Approval{}, wrap(err, "decide approval %s", id)
	}
	s.dispatched(resumed)
	if closed {
		return out, fmt.Errorf("decide approval %s: %w", id, ErrApprovalClosed)
	}
	return out, nil
}

// ExpireApprovals closes the waiting approvals whose deadline is not after
// now as their on_timeout says, each with a decision by "timeout", and
// returns them closed. Run by a sweeper in every process: two sweeping at
// once close each approval once.
func (s *Store) ExpireApprovals(ctx context.Context, now time.Time) ([]Approval, error) {
	var ms []approvalModel
	err := s.db.NewSelect().Model(&ms).Column("id", "on_timeout", "deadline").
		Where("? = ?", bun.Ident("status"), ApprovalWaiting).
		Where("? IS NOT NULL AND ? <= ?", bun.Ident("deadline"), bun.Ident("deadline"), now.UTC().Truncate(time.Microsecond)).
		Order("deadline", "id").Scan(ctx)
	if err != nil {
		return nil, wrap(err, "find expired approvals")
	}
	var out []Approval
	var errs []error
	for _, m := range ms {
		ok := engine.OnTimeout(m.OnTimeout) == engine.OnTimeoutApprove
		a, err := s.decide(ctx, m.ID, ApprovalDecision{
			Who: "timeout", Approved: ok,
			Comment: fmt.Sprintf("nobody decided in time (on_timeout: %s)", m.OnTimeout),
		}, true)
		switch {
		case errors.Is(err, ErrApprovalClosed):
			// Decided meanwhile, or by another sweeper.
		case err != nil:
			errs = append(errs, err)
		default:
			out = append(out, a)
		}
	}
	return out, errors.Join(errs...)
}

// SuspendRun makes a running run that worker holds wait for its approval
// cells: status waiting, no worker, no lease; its flow's slot stays held.
// When an approval it waits for was decided meanwhile, it is made
// claimable again at once. It reports whether the run waits (false: it
// was not running under worker any more, or it goes on at once).
func (s *Store) SuspendRun(ctx context.Context, id, worker string) (bool, error) {
	waits := false
	var resumed []string
	err := s.write(ctx, func(ctx context.Context, tx bun.Tx) error {
		waits, resumed = false, nil
		if s.postgres() {
			if err := lockFlowOf(ctx, tx, id); err != nil {
				return err
			}
		}
		res, err := tx.NewUpdate().Model((*runModel)(nil)).
			Set("? = ?", bun.Ident("status"), string(engine.RunWaiting)).
			Set("? = ''", bun.Ident("worker")).
			Set("? = NULL", bun.Ident("lease_until")).
			Where("? = ?", bun.Ident("id"), id).
			Where("? = ?", bun.Ident("status"), string(engine.RunRunning)).
			Where("? = ?", bun.Ident("worker"), worker).Exec(ctx)
		if err := affected(res, err); errors.Is(err, ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		var decided int
		err = tx.NewRaw(`SELECT COUNT(*) FROM approvals AS a JOIN cell_runs AS c ON c.run_id = a.run_id AND c.name = a.cell
			WHERE a.run_id = ? AND a.status <> ? AND c.status = ?`, id, ApprovalWaiting, string(engine.CellWaiting)).Scan(ctx, &decided)
		if err != nil {
			return err
		}
		if decided > 0 {
			resumed, err = s.resumeTx(ctx, tx, id)
			return err
		}
		waits = true
		return nil
	})
	if err != nil {
		return false, wrap(err, "suspend run %s", id)
	}
	s.dispatched(resumed)
	return waits, nil
}

// resumeTx makes a run that waits for an approval claimable again, in tx:
// queued and dispatched (it kept its flow's slot while it waited), asked
// to run its unfinished cells with the results of the finished ones, as a
// notebook's run of some cells is. Any worker takes it and goes on from
// the approval cell, which then finds its decision. A run that does not
// wait (canceled meanwhile) is left alone.
func (s *Store) resumeTx(ctx context.Context, tx bun.Tx, runID string) ([]string, error) {
	var m runModel
	q := tx.NewSelect().Model(&m).Column("id", "status", "request").Where("? = ?", bun.Ident("id"), runID)
	if s.postgres() {
		if err := lockFlowOf(ctx, tx, runID); err != nil {
			return nil, err
		}
		q = q.For("UPDATE")
	}
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("resume run %s: %w", runID, err)
	}
	if m.Status != string(engine.RunWaiting) {
		return nil, nil
	}
	var req RunRequest
	if m.Request != "" {
		if err := json.Unmarshal([]byte(m.Request), &req); err != nil {
			return nil, fmt.Errorf("resume run %s: its request: %w", runID, err)
		}
	}
	var cells []cellRunModel
	if err := tx.NewSelect().Model(&cells).Column("name", "status", "result").
		Where("? = ?", bun.Ident("run_id"), runID).Order("position").Scan(ctx); err != nil {
		return nil, fmt.Errorf("resume run %s: %w", runID, err)
	}
	req.Cells = []string{}
	for _, c := range cells {
		if engine.CellStatus(c.Status).Done() {
			if c.Result != nil {
				if req.Prior == nil {
					req.Prior = map[string]json.RawMessage{}
				}
				req.Prior[c.Name] = json.RawMessage(*c.Result)
			}
			continue
		}
		req.Cells = append(req.Cells, c.Name)
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("resume run %s: %w", runID, err)
	}
	if _, err := tx.NewUpdate().Model((*runModel)(nil)).
		Set("? = ?", bun.Ident("status"), string(engine.RunQueued)).
		Set("? = TRUE", bun.Ident("dispatched")).
		Set("? = ?", bun.Ident("request"), string(b)).
		Where("? = ?", bun.Ident("id"), runID).
		Where("? = ?", bun.Ident("status"), string(engine.RunWaiting)).Exec(ctx); err != nil {
		return nil, fmt.Errorf("resume run %s: %w", runID, err)
	}
	ids := []string{runID}
	if err := s.dispatchTx(ctx, tx, ids); err != nil {
		return nil, fmt.Errorf("resume run %s: dispatch: %w", runID, err)
	}
	return ids, nil
}

// SetApprovalLink sets the sha256 hex of a waiting approval's decision
// link's token. With replace false it sets it only when the approval has
// none yet and reports false when it had one (another process minted it
// first); with replace it sets it whatever the old one was, so the old
// link stops working. A closed approval takes no link (ErrApprovalClosed).
func (s *Store) SetApprovalLink(ctx context.Context, id, hash string, replace bool) (bool, error) {
	q := s.db.NewUpdate().Model((*approvalModel)(nil)).
		Set("? = ?", bun.Ident("link_hash"), hash).
		Where("? = ?", bun.Ident("id"), id).
		Where("? = ?", bun.Ident("status"), ApprovalWaiting)
	if !replace {
		q = q.Where("? IS NULL", bun.Ident("link_hash"))
	}
	res, err := q.Exec(ctx)
	if err := affected(res, err); errors.Is(err, ErrNotFound) {
		a, err := s.Approval(ctx, id)
		if err != nil {
			return false, err
		}
		if a.Status != ApprovalWaiting {
			return false, fmt.Errorf("set the decision link of approval %s: %w", id, ErrApprovalClosed)
		}
		return false, nil
	} else if err != nil {
		return false, wrap(err, "set the decision link of approval %s", id)
	}
	return true, nil
}

// ApprovalByLinkHash finds the approval whose decision link's token hashes
// to hash, closed ones too (their page says who decided); ErrNotFound when
// none has it.
func (s *Store) ApprovalByLinkHash(ctx context.Context, hash string) (Approval, error) {
	return s.approvalWhere(ctx, "approval by decision link", func(q *bun.SelectQuery) *bun.SelectQuery {
		return q.Where("? = ?", bun.Ident("link_hash"), hash)
	})
}
