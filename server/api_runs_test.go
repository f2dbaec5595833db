package server

import (
	"encoding/json"
	"testing"
)

// TestEventFrame: the hand-built frame is the protocol's JSON, and eventOf
// gives back the event it framed.
func TestEventFrame(t *testing.T) {
	t.Parallel()
	for _, ev := range []string{`{"type":"run.started","seq":1}`, `{"type":"cell.log","lines":["a\"}","é"]}`} {
		frame := eventFrame([]byte(ev))
		var got struct {
			T     string          `json:"t"`
			Event json.RawMessage `json:"event"`
		}
		if err := json.Unmarshal(frame, &got); err != nil || got.T != "event" || string(got.Event) != ev {
			t.Errorf("frame %s: %+v, %v", frame, got, err)
		}
		if back := eventOf(frame); string(back) != ev {
			t.Errorf("eventOf(%s) = %s", frame, back)
		}
	}
	if eventOf([]byte(`{"t":"missed"}`)) != nil {
		t.Error("eventOf took an event out of another frame")
	}
}
