package server

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
)

// cellOptions is a cell's options as the studio edits them.
type cellOptions struct {
	Timeout         string            `json:"timeout,omitempty"`
	Retries         int               `json:"retries,omitempty"`
	RetryDelay      string            `json:"retry_delay,omitempty"`
	If              string            `json:"if,omitempty"`
	Needs           []string          `json:"needs,omitempty"`
	Connection      string            `json:"connection,omitempty"`
	Env             map[string]string `json:"env,omitempty"`
	EnvOrder        []string          `json:"env_order,omitempty"`
	ContinueOnError bool              `json:"continue_on_error,omitempty"`
	ExpectStatus    []string          `json:"expect_status,omitempty"`
	// An approval cell's (its timeout is Timeout).
	Approvers []string `json:"approvers,omitempty"`
	Approvals int      `json:"approvals,omitempty"`
	OnTimeout string   `json:"on_timeout,omitempty"`
	// Inputs is an approval cell's form. A cell.update without it keeps
	// the form (a page that does not edit it loses nothing); null or []
	// clears it.
	Inputs given[[]inputJSON] `json:"inputs,omitzero"`
}

type draftCellJSON struct {
	ID      string      `json:"id"`
	Name    string      `json:"name"`
	Kind    engine.Kind `json:"kind"`
	Source  string      `json:"source"`
	Options cellOptions `json:"options"`
	Version int         `json:"version"` // the source's collaboration version
}

type inputJSON struct {
	Name        string   `json:"name"`
	Type        string   `json:"type,omitempty"`
	Default     any      `json:"default,omitempty"`
	Required    bool     `json:"required,omitempty"`
	Options     []string `json:"options,omitempty"`
	Label       string   `json:"label,omitempty"`
	Description string   `json:"description,omitempty"`
	Placeholder string   `json:"placeholder,omitempty"`
}

// triggerJSON is one trigger of the DRAFT: what flow.yaml says, the key a
// pause names it by, and for a cron its next fire times (RFC 3339 with the
// zone's offset) or why it has none.
type triggerJSON struct {
	Cron     string   `json:"cron,omitempty"`
	Timezone string   `json:"timezone,omitempty"`
	Webhook  bool     `json:"webhook,omitempty"`
	Rate     int      `json:"rate,omitempty"`
	Key      string   `json:"key"`
	Next     []string `json:"next,omitempty"`
	Error    string   `json:"error,omitempty"`
}

// draftNextFires is how many fire times the DRAFT shows for each cron.
const draftNextFires = 3

func triggersJSON(ts []engine.Trigger, now time.Time) []triggerJSON {
	out := make([]triggerJSON, 0, len(ts))
	for _, t := range ts {
		tj := triggerJSON{Cron: t.Cron, Timezone: t.Timezone, Webhook: t.Webhook, Rate: t.Rate, Key: t.Key()}
		if t.Cron != "" {
			next, err := nextFires(t, now, draftNextFires)
			if err != nil {
				tj.Error = err.Error()
			}
			for _, n := range next {
				tj.Next = append(tj.Next, n.Format(time.RFC3339))
			}
		}
		out = append(out, tj)
	}
	return out
}

// notifyJSON is one entry of the flow's notify: a destination by name and
// the events it is told of (absent: the destination's defaults).
type notifyJSON struct {
	To string   `json:"to"`
	On []string `json:"on,omitempty"`
}

// draftJSON is the DRAFT of docs/PROTOCOL.md.
type draftJSON struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Order       string          `json:"order"`
	Inputs      []inputJSON     `json:"inputs"`
	Triggers    []triggerJSON   `json:"triggers"`
	Notify      []notifyJSON    `json:"notify"`
	Cells       []draftCellJSON `json:"cells"`
}

func optionsOf(c *engine.Cell) cellOptions {
	o := cellOptions{Retries: c.Retries, If: c.If, Needs: c.Needs, Connection: c.Connection, ContinueOnError: c.ContinueOnError, ExpectStatus: c.ExpectStatus,
		Approvers: c.Approvers, Approvals: c.Approvals, OnTimeout: string(c.OnTimeout)}
	if c.Timeout > 0 {
		o.Timeout = compactDuration(c.Timeout)
	}
	if c.RetryDelay > 0 {
		o.RetryDelay = compactDuration(c.RetryDelay)
	}
	if len(c.Inputs) > 0 {
		o.Inputs = given[[]inputJSON]{Set: true, V: inputsJSON(c.Inputs)}
	}
	if len(c.Env) > 0 {
		o.Env = map[string]string{}
		for _, e := range c.Env {
			o.Env[e.Name] = e.Value
			o.EnvOrder = append(o.EnvOrder, e.Name)
		}
	}
	return o
}

func compactDuration(d time.Duration) string {
	s := d.String()
	for _, suf := range []string{"m0s", "h0m"} {
		if len(s) > len(suf) && s[len(s)-len(suf):] == suf {
			s = s[:len(s)-len(suf)+1]
		}
	}
	return s
}

func inputsJSON(in []engine.Input) []inputJSON {
	out := make([]inputJSON, 0, len(in))
	for _, i := range in {
		out = append(out, inputJSON{Name: i.Name, Type: string(i.Type), Default: i.Default, Required: i.Required, Options: i.Options, Label: i.Label, Description: i.Description, Placeholder: i.Placeholder})
	}
	return out
}

// engineInputs is the inputs a page sends (the flow's, an approval
// cell's form) as the engine has them. JSON has one kind of number, so a
// whole default comes back whole, as `default: 3` in flow.yaml reads.
func engineInputs(in []inputJSON) []engine.Input {
	var out []engine.Input
	for _, i := range in {
		def := i.Default
		if f, ok := def.(float64); ok && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			def = int64(f)
		}
		out = append(out, engine.Input{Name: i.Name, Type: engine.InputType(i.Type), Default: def, Required: i.Required, Options: i.Options, Label: i.Label, Description: i.Description, Placeholder: i.Placeholder})
	}
	return out
}

func notifiesJSON(ns []engine.Notify) []notifyJSON {
	out := make([]notifyJSON, 0, len(ns))
	for _, n := range ns {
		j := notifyJSON{To: n.To}
		for _, e := range n.On {
			j.On = append(j.On, string(e))
		}
		out = append(out, j)
	}
	return out
}

// engineNotify is the notify a page sends as the engine has it: an entry
// without on (null) keeps the destination's defaults, where on: [] is a
// problem the flow's check names.
func engineNotify(in []notifyJSON) []engine.Notify {
	var out []engine.Notify
	for _, j := range in {
		n := engine.Notify{To: strings.TrimSpace(j.To)}
		if j.On != nil {
			n.On = make([]engine.NotifyEvent, len(j.On))
			for i, e := range j.On {
				n.On[i] = engine.NotifyEvent(e)
			}
		}
		out = append(out, n)
	}
	return out
}

func toDraftJSON(d store.Draft) draftJSON {
	f := d.Flow
	out := draftJSON{Name: f.Name, Description: f.Description, Order: string(f.EffectiveOrder()), Inputs: inputsJSON(f.Inputs), Triggers: triggersJSON(f.Triggers, time.Now()), Notify: notifiesJSON(f.Notify), Cells: []draftCellJSON{}}
	for i := range f.Cells {
		c := &f.Cells[i]
		out.Cells = append(out.Cells, draftCellJSON{ID: d.Cells[i].ID, Name: c.Name, Kind: c.Kind, Source: c.Source, Options: optionsOf(c), Version: d.Cells[i].Version})
	}
	return out
}

// editedTriggers checks the triggers a flow.update sends, naming the field
// of the first problem (triggers.N.cron, triggers.N.timezone) so the page
// shows it there.
func editedTriggers(in []triggerEditJSON) ([]engine.Trigger, error) {
	var out []engine.Trigger
	for i, t := range in {
		tr := engine.Trigger{Cron: strings.TrimSpace(t.Cron), Timezone: strings.TrimSpace(t.Timezone), Webhook: t.Webhook, Rate: t.Rate}
		at := func(key string) string { return "triggers." + strconv.Itoa(i) + "." + key }
		switch {
		case tr.Cron == "" && !tr.Webhook:
			return nil, errorf(http.StatusUnprocessableEntity, "invalid", at("cron"), "write a cron schedule, like 0 6 * * * (minute hour day-of-month month day-of-week), or remove the trigger")
		case len(tr.Cron) > 200:
			return nil, errorf(http.StatusUnprocessableEntity, "invalid", at("cron"), "a cron schedule is at most 200 characters")
		case tr.Timezone != "" && !engine.KnownZone(tr.Timezone):
			return nil, errorf(http.StatusUnprocessableEntity, "invalid", at("timezone"), "timezone "+strconv.Quote(tr.Timezone)+" is not a known zone; write an IANA name such as Europe/Paris, or leave it empty for UTC")
		}
		if tr.Cron != "" {
			if _, _, err := parseTrigger(cronParser, tr); err != nil {
				msg := err.Error()
				if !strings.Contains(msg, "; write ") {
					msg += "; write minute hour day-of-month month day-of-week, like 0 6 * * *"
				}
				return nil, errorf(http.StatusUnprocessableEntity, "invalid", at("cron"), msg)
			}
		}
		out = append(out, tr)
	}
	return out, nil
}
