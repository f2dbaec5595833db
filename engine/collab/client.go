package collab

import (
	"encoding/json"
	"fmt"
)

// Update is one change set as @codemirror/collab sends it: the changes and
// the id of the editor that made them.
type Update struct {
	Changes  ChangeSet
	ClientID string
}

type updateJSON struct {
	Changes  json.RawMessage `json:"changes"`
	ClientID string          `json:"clientID"`
}

// MaxClientID bounds the length of a client id.
const MaxClientID = 64

// MarshalJSON writes {"changes": […], "clientID": "…"}.
func (u Update) MarshalJSON() ([]byte, error) {
	ch, _ := u.Changes.MarshalJSON()
	return json.Marshal(updateJSON{Changes: ch, ClientID: u.ClientID})
}

// UnmarshalJSON reads {"changes": […], "clientID": "…"}, checking both.
func (u *Update) UnmarshalJSON(data []byte) error {
	var w updateJSON
	if err := json.Unmarshal(data, &w); err != nil {
		return fmt.Errorf("%w: an update is {changes, clientID}: %v", ErrInvalid, err)
	}
	if w.ClientID == "" || len(w.ClientID) > MaxClientID {
		return fmt.Errorf("%w: clientID must have 1 to %d characters", ErrInvalid, MaxClientID)
	}
	if len(w.Changes) == 0 {
		return fmt.Errorf("%w: an update needs changes", ErrInvalid)
	}
	cs, err := ParseChangeSet(w.Changes)
	if err != nil {
		return err
	}
	u.Changes, u.ClientID = cs, w.ClientID
	return nil
}

// Client is an editor's side of the collab model, with the same logic as
// @codemirror/collab's receiveUpdates: local changes wait as unconfirmed
// updates until the authority's updates come back, and other people's
// updates are moved over them.
type Client struct {
	ID          string
	Text        Text
	Version     int // confirmed up to here
	Unconfirmed []Update
}

// NewClient starts a client on text at version.
func NewClient(id string, text Text, version int) *Client {
	return &Client{ID: id, Text: append(Text(nil), text...), Version: version}
}

// Edit applies a local change and queues it for the authority.
func (c *Client) Edit(cs ChangeSet) error {
	t, err := cs.Apply(c.Text)
	if err != nil {
		return err
	}
	c.Text = t
	c.Unconfirmed = append(c.Unconfirmed, Update{Changes: cs, ClientID: c.ID})
	return nil
}

// Sendable is what still has to reach the authority, made at Version.
func (c *Client) Sendable() []Update { return c.Unconfirmed }

// Receive applies updates from the authority that start at c.Version.
func (c *Client) Receive(updates []Update) error {
	var changes *ChangeSet
	own := 0
	for _, u := range updates {
		if own < len(c.Unconfirmed) && c.Unconfirmed[own].ClientID == u.ClientID {
			if changes != nil {
				m, err := changes.Map(c.Unconfirmed[own].Changes, true)
				if err != nil {
					return err
				}
				changes = &m
			}
			own++
			continue
		}
		if changes == nil {
			ch := u.Changes
			changes = &ch
		} else {
			m, err := changes.Compose(u.Changes)
			if err != nil {
				return err
			}
			changes = &m
		}
	}
	unconfirmed := append([]Update(nil), c.Unconfirmed[own:]...)
	if changes != nil {
		for i, u := range unconfirmed {
			mapped, err := u.Changes.Map(*changes, false)
			if err != nil {
				return err
			}
			m, err := changes.Map(u.Changes, true)
			if err != nil {
				return err
			}
			changes = &m
			unconfirmed[i] = Update{Changes: mapped, ClientID: c.ID}
		}
		t, err := changes.Apply(c.Text)
		if err != nil {
			return err
		}
		c.Text = t
	}
	c.Version += len(updates)
	c.Unconfirmed = unconfirmed
	return nil
}

// ReceiveFrom takes updates starting at version start, skipping those the
// client already has. It returns false when updates are missing between
// c.Version and start (pull them first).
func (c *Client) ReceiveFrom(start int, updates []Update) (bool, error) {
	if start > c.Version {
		return false, nil
	}
	skip := c.Version - start
	if skip >= len(updates) {
		return true, nil
	}
	return true, c.Receive(updates[skip:])
}

// Rebase moves updates made at an older version over the updates accepted
// since (over), dropping those already accepted: @codemirror/collab's
// rebaseUpdates.
func Rebase(updates, over []Update) ([]Update, error) {
	if len(over) == 0 || len(updates) == 0 {
		return updates, nil
	}
	var changes *ChangeSet
	skip := 0
	for _, u := range over {
		if skip < len(updates) && updates[skip].ClientID == u.ClientID {
			if changes != nil {
				m, err := changes.Map(updates[skip].Changes, true)
				if err != nil {
					return nil, err
				}
				changes = &m
			}
			skip++
			continue
		}
		if changes == nil {
			ch := u.Changes
			changes = &ch
		} else {
			m, err := changes.Compose(u.Changes)
			if err != nil {
				return nil, err
			}
			changes = &m
		}
	}
	updates = updates[skip:]
	if changes == nil {
		return updates, nil
	}
	out := make([]Update, len(updates))
	for i, u := range updates {
		mapped, err := u.Changes.Map(*changes, false)
		if err != nil {
			return nil, err
		}
		m, err := changes.Map(u.Changes, true)
		if err != nil {
			return nil, err
		}
		changes = &m
		out[i] = Update{Changes: mapped, ClientID: u.ClientID}
	}
	return out, nil
}
