package server

import (
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
	Description string   `json:"description,omitempty"`
}

// draftJSON is the DRAFT of docs/PROTOCOL.md.
type draftJSON struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Order       string          `json:"order"`
	Inputs      []inputJSON     `json:"inputs"`
	Cells       []draftCellJSON `json:"cells"`
}

func optionsOf(c *engine.Cell) cellOptions {
	o := cellOptions{Retries: c.Retries, If: c.If, Needs: c.Needs, Connection: c.Connection, ContinueOnError: c.ContinueOnError}
	if c.Timeout > 0 {
		o.Timeout = compactDuration(c.Timeout)
	}
	if c.RetryDelay > 0 {
		o.RetryDelay = compactDuration(c.RetryDelay)
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
		out = append(out, inputJSON{Name: i.Name, Type: string(i.Type), Default: i.Default, Required: i.Required, Options: i.Options, Description: i.Description})
	}
	return out
}

func toDraftJSON(d store.Draft) draftJSON {
	f := d.Flow
	out := draftJSON{Name: f.Name, Description: f.Description, Order: string(f.EffectiveOrder()), Inputs: inputsJSON(f.Inputs), Cells: []draftCellJSON{}}
	for i := range f.Cells {
		c := &f.Cells[i]
		out.Cells = append(out.Cells, draftCellJSON{ID: d.Cells[i].ID, Name: c.Name, Kind: c.Kind, Source: c.Source, Options: optionsOf(c), Version: d.Cells[i].Version})
	}
	return out
}
