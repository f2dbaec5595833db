package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/run"
)

// names is a repeatable NAME flag.
type names []string

func (n *names) String() string { return strings.Join(*n, ",") }

func (n *names) Set(s string) error {
	if s == "" {
		return errors.New("give a cell name")
	}
	if !slices.Contains(*n, s) {
		*n = append(*n, s)
	}
	return nil
}

// approvalFlags are how `opsbook run` decides approval cells without
// asking: --approve, --reject, --comment and --approval-input.
type approvalFlags struct {
	approve, reject names
	comments        pairs // CELL=TEXT
	form            pairs // CELL.FIELD=VALUE
}

// terminalApprover decides the approval cells of an `opsbook run`: from
// the flags, else by asking the person at the terminal. It speaks for
// everyone: one yes gives a cell all the approvals it needs, since the
// person who runs a flow on their own machine can run it without the cell
// anyway.
type terminalApprover struct {
	flags approvalFlags
	in    *bufio.Reader // nil without a terminal
	out   io.Writer     // the prompts
	who   string
	mu    sync.Mutex // one question at a time (graph order)
}

var _ run.Approver = (*terminalApprover)(nil)

// checkApprovalFlags reports what is wrong with the approval flags for
// flow f: names that are not its approval cells, a cell both approved and
// rejected, form fields it does not have.
func checkApprovalFlags(f *engine.Flow, a *approvalFlags) []string {
	var probs []string
	isApproval := func(name string) bool {
		c := f.Cell(name)
		return c != nil && c.Kind == engine.KindApproval
	}
	var cells []string
	for _, c := range f.Cells {
		if c.Kind == engine.KindApproval {
			cells = append(cells, c.Name)
		}
	}
	known := "this flow has no approval cells"
	if len(cells) > 0 {
		known = "its approval cells are " + strings.Join(cells, ", ")
	}
	check := func(flag, name string) {
		if !isApproval(name) {
			probs = append(probs, fmt.Sprintf("--%s %s: no approval cell is called %s; %s", flag, name, name, known))
		}
	}
	for _, n := range a.approve {
		check("approve", n)
		if slices.Contains(a.reject, n) {
			probs = append(probs, fmt.Sprintf("--approve %s and --reject %s: give one of them", n, n))
		}
	}
	for _, n := range a.reject {
		check("reject", n)
	}
	for _, n := range a.comments.keys {
		check("comment", n)
	}
	for _, k := range a.form.keys {
		cell, field, ok := strings.Cut(k, ".")
		if !ok {
			probs = append(probs, fmt.Sprintf("--approval-input %s: write CELL.FIELD=VALUE", k))
			continue
		}
		check("approval-input", cell)
		if c := f.Cell(cell); c != nil && c.Kind == engine.KindApproval && !slices.ContainsFunc(c.Inputs, func(in engine.Input) bool { return in.Name == field }) {
			probs = append(probs, fmt.Sprintf("--approval-input %s: the form of %s has no field %s", k, cell, field))
		}
	}
	return probs
}

// whoAmI names the person at the terminal for the decision trail.
func whoAmI() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "terminal"
}

func (t *terminalApprover) Decide(ctx context.Context, a *run.Ask) (run.Decision, error) {
	name := a.Cell.Name
	now := time.Now().UTC().Format(time.RFC3339)
	form := map[string]any{}
	for _, k := range t.flags.form.keys {
		if cell, field, _ := strings.Cut(k, "."); cell == name {
			form[field] = t.flags.form.vals[k]
		}
	}
	comment := t.flags.comments.vals[name]
	switch {
	case slices.Contains(t.flags.approve, name):
		return run.Decision{Approved: true, Choices: []engine.ApprovalChoice{{By: t.who + " (--approve)", At: now, Approved: true, Comment: comment, Inputs: form}}}, nil
	case slices.Contains(t.flags.reject, name):
		return run.Decision{Choices: []engine.ApprovalChoice{{By: t.who + " (--reject)", At: now, Comment: comment, Inputs: form}}}, nil
	case t.in == nil:
		return run.Decision{}, fmt.Errorf("approval %s waits for a decision, and there is no terminal to ask; pass --approve %s or --reject %s", name, name, name)
	}
	type answer struct {
		dec run.Decision
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		dec, err := t.ask(a, form, comment)
		ch <- answer{dec, err}
	}()
	select {
	case ans := <-ch:
		return ans.dec, ans.err
	case <-ctx.Done():
		// The question stays on the terminal; the process is ending or
		// the cell's timeout decides.
		fmt.Fprintln(t.out)
		return run.Decision{}, ctx.Err()
	}
}

// ask puts the question to the terminal: approve?, a comment, then, when
// approved, the form's fields not given by flags.
func (t *terminalApprover) ask(a *run.Ask, form map[string]any, comment string) (run.Decision, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := a.Cell
	line := func(prompt string) (string, error) {
		fmt.Fprint(t.out, prompt)
		s, err := t.in.ReadString('\n')
		if err != nil && (s == "" || !errors.Is(err, io.EOF)) {
			return "", fmt.Errorf("approval %s: reading the terminal: %w; pass --approve %s or --reject %s", c.Name, err, c.Name, c.Name)
		}
		return strings.TrimSpace(s), nil
	}
	yes, err := line(fmt.Sprintf("Approve %s? [y/N] ", c.Name))
	if err != nil {
		return run.Decision{}, err
	}
	ok := strings.EqualFold(yes, "y") || strings.EqualFold(yes, "yes")
	if comment == "" {
		if comment, err = line("Comment (optional): "); err != nil {
			return run.Decision{}, err
		}
	}
	if ok {
		for _, in := range c.Inputs {
			if _, given := form[in.Name]; given {
				continue
			}
			hint := string(in.Type)
			if hint == "" {
				hint = string(engine.InputString)
			}
			if len(in.Options) > 0 {
				hint = strings.Join(in.Options, "|")
			}
			if in.Default != nil {
				hint += fmt.Sprintf(", default %v", in.Default)
			}
			v, err := line(fmt.Sprintf("%s (%s): ", in.DisplayLabel(), hint))
			if err != nil {
				return run.Decision{}, err
			}
			if v != "" {
				form[in.Name] = v
			}
		}
	}
	return run.Decision{Approved: ok, Choices: []engine.ApprovalChoice{{
		By: t.who, At: time.Now().UTC().Format(time.RFC3339), Approved: ok, Comment: comment, Inputs: form,
	}}}, nil
}
