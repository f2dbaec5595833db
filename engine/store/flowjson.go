package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/opsbook/opsbook/engine"
)

// The JSON kept in flows.inputs, flows.triggers and draft_cells.options.
// Keys follow flow.yaml; durations are Go duration strings ("30s").

type cellOptions struct {
	File            string   `json:"file,omitempty"`
	Timeout         string   `json:"timeout,omitempty"`
	Retries         int      `json:"retries,omitempty"`
	RetryDelay      string   `json:"retry_delay,omitempty"`
	If              string   `json:"if,omitempty"`
	Needs           []string `json:"needs,omitempty"`
	Connection      string   `json:"connection,omitempty"`
	Env             []envVar `json:"env,omitempty"`
	ContinueOnError bool     `json:"continue_on_error,omitempty"`
	ExpectStatus    []string `json:"expect_status,omitempty"`
	// An approval cell's (migration 0018 needs no column: they are options).
	Approvers []string        `json:"approvers,omitempty"`
	Approvals int             `json:"approvals,omitempty"`
	OnTimeout string          `json:"on_timeout,omitempty"`
	Inputs    json.RawMessage `json:"inputs,omitempty"`
}

type envVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
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

type triggerJSON struct {
	Cron     string `json:"cron,omitempty"`
	Timezone string `json:"timezone,omitempty"`
	Webhook  bool   `json:"webhook,omitempty"`
	Rate     int    `json:"rate,omitempty"`
}

func durationString(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func encodeOptions(c *engine.Cell) string {
	o := cellOptions{
		File:            c.File,
		Timeout:         durationString(c.Timeout),
		Retries:         c.Retries,
		RetryDelay:      durationString(c.RetryDelay),
		If:              c.If,
		Needs:           c.Needs,
		Connection:      c.Connection,
		ContinueOnError: c.ContinueOnError,
		ExpectStatus:    c.ExpectStatus,
		Approvers:       c.Approvers,
		Approvals:       c.Approvals,
		OnTimeout:       string(c.OnTimeout),
	}
	for _, e := range c.Env {
		o.Env = append(o.Env, envVar{Name: e.Name, Value: e.Value})
	}
	if len(c.Inputs) > 0 {
		if in, err := encodeInputs(c.Inputs); err == nil {
			o.Inputs = json.RawMessage(in)
		}
	}
	return mustJSON(o)
}

// decodeOptions fills the options of c from their JSON.
func decodeOptions(s string, c *engine.Cell) error {
	var o cellOptions
	if err := json.Unmarshal([]byte(s), &o); err != nil {
		return fmt.Errorf("cell options: %w", err)
	}
	var err error
	if o.Timeout != "" {
		if c.Timeout, err = time.ParseDuration(o.Timeout); err != nil {
			return fmt.Errorf("cell timeout: %w", err)
		}
	}
	if o.RetryDelay != "" {
		if c.RetryDelay, err = time.ParseDuration(o.RetryDelay); err != nil {
			return fmt.Errorf("cell retry_delay: %w", err)
		}
	}
	c.File = o.File
	c.Retries = o.Retries
	c.If = o.If
	c.Needs = o.Needs
	c.Connection = o.Connection
	c.ContinueOnError = o.ContinueOnError
	c.ExpectStatus = o.ExpectStatus
	c.Approvers = o.Approvers
	c.Approvals = o.Approvals
	c.OnTimeout = engine.OnTimeout(o.OnTimeout)
	if len(o.Inputs) > 0 {
		if c.Inputs, err = decodeInputs(string(o.Inputs)); err != nil {
			return fmt.Errorf("cell inputs: %w", err)
		}
	}
	for _, e := range o.Env {
		c.Env = append(c.Env, engine.EnvVar{Name: e.Name, Value: e.Value})
	}
	return nil
}

func encodeInputs(in []engine.Input) (string, error) {
	out := make([]inputJSON, len(in))
	for i, x := range in {
		def := x.Default
		// A whole float keeps its ".0", so it reads back as a float (and
		// exports as `1.0`, not `1`: a draft must hash as its version).
		if f, ok := def.(float64); ok && !math.IsInf(f, 0) && !math.IsNaN(f) {
			s := strconv.FormatFloat(f, 'g', -1, 64)
			if !strings.ContainsAny(s, ".eE") {
				s += ".0"
			}
			def = json.Number(s)
		}
		out[i] = inputJSON{
			Name: x.Name, Type: string(x.Type), Default: def, Required: x.Required,
			Options: x.Options, Label: x.Label, Description: x.Description, Placeholder: x.Placeholder,
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "", fmt.Errorf("flow inputs: %w", err)
	}
	return string(b), nil
}

func decodeInputs(s string) ([]engine.Input, error) {
	var in []inputJSON
	d := json.NewDecoder(bytes.NewReader([]byte(s)))
	d.UseNumber()
	if err := d.Decode(&in); err != nil {
		return nil, fmt.Errorf("flow inputs: %w", err)
	}
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]engine.Input, len(in))
	for i, x := range in {
		def := x.Default
		// Numbers come back as the engine keeps them: int64 when whole.
		if n, ok := def.(json.Number); ok {
			if v, err := n.Int64(); err == nil {
				def = v
			} else if v, err := n.Float64(); err == nil {
				def = v
			}
		}
		out[i] = engine.Input{
			Name: x.Name, Type: engine.InputType(x.Type), Default: def, Required: x.Required,
			Options: x.Options, Label: x.Label, Description: x.Description, Placeholder: x.Placeholder,
		}
	}
	return out, nil
}

func encodeTriggers(ts []engine.Trigger) string {
	out := make([]triggerJSON, len(ts))
	for i, t := range ts {
		out[i] = triggerJSON(t)
	}
	return mustJSON(out)
}

func decodeTriggers(s string) ([]engine.Trigger, error) {
	var ts []triggerJSON
	if err := json.Unmarshal([]byte(s), &ts); err != nil {
		return nil, fmt.Errorf("flow triggers: %w", err)
	}
	if len(ts) == 0 {
		return nil, nil
	}
	out := make([]engine.Trigger, len(ts))
	for i, t := range ts {
		out[i] = engine.Trigger(t)
	}
	return out, nil
}

// flowSettings are the draft's flow-level keys that have no column of
// their own (flows.settings).
type flowSettings struct {
	Network     *bool            `json:"network,omitempty"` // set only when false
	Concurrency *concurrencyJSON `json:"concurrency,omitempty"`
	Notify      []notifyJSON     `json:"notify,omitempty"`
}

type notifyJSON struct {
	To string   `json:"to"`
	On []string `json:"on"` // null: the destination's defaults
}

type concurrencyJSON struct {
	Limit   int    `json:"limit,omitempty"`
	Overlap string `json:"overlap,omitempty"`
}

func encodeSettings(f *engine.Flow) string {
	var st flowSettings
	if f.NoNetwork {
		off := false
		st.Network = &off
	}
	if c := f.Concurrency; c != (engine.Concurrency{}) {
		st.Concurrency = &concurrencyJSON{Limit: c.Limit, Overlap: string(c.Overlap)}
	}
	for _, n := range f.Notify {
		j := notifyJSON{To: n.To}
		if n.On != nil {
			j.On = make([]string, len(n.On))
			for i, e := range n.On {
				j.On[i] = string(e)
			}
		}
		st.Notify = append(st.Notify, j)
	}
	return mustJSON(st)
}

// decodeSettings fills the settings of f from their JSON.
func decodeSettings(s string, f *engine.Flow) error {
	var st flowSettings
	if err := json.Unmarshal([]byte(s), &st); err != nil {
		return fmt.Errorf("flow settings: %w", err)
	}
	f.NoNetwork = st.Network != nil && !*st.Network
	if c := st.Concurrency; c != nil {
		f.Concurrency = engine.Concurrency{Limit: c.Limit, Overlap: engine.Overlap(c.Overlap)}
	}
	f.Notify = nil
	for _, j := range st.Notify {
		n := engine.Notify{To: j.To}
		if j.On != nil {
			n.On = make([]engine.NotifyEvent, len(j.On))
			for i, e := range j.On {
				n.On[i] = engine.NotifyEvent(e)
			}
		}
		f.Notify = append(f.Notify, n)
	}
	return nil
}

func encodeFiles(fs []File) string {
	if fs == nil {
		fs = []File{}
	}
	return mustJSON(fs)
}

func decodeFiles(s string) ([]File, error) {
	var fs []File
	if err := json.Unmarshal([]byte(s), &fs); err != nil {
		return nil, fmt.Errorf("files: %w", err)
	}
	return fs, nil
}

// mustJSON encodes values built from plain types, which cannot fail.
func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("store: encode %T: %v", v, err))
	}
	return string(b)
}
