package run

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestStoredInputs: a run's stored inputs read back as a start takes them,
// numbers as their text so the flow's declarations convert them again.
func TestStoredInputs(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    map[string]any
		wantErr bool
	}{
		{"", map[string]any{}, false},
		{"{}", map[string]any{}, false},
		{`{"n": 9007199254740993, "s": "x", "b": true, "f": 1.5}`, map[string]any{"n": "9007199254740993", "s": "x", "b": true, "f": "1.5"}, false},
		{`{"n": `, nil, true},
		{`[1]`, nil, true},
	} {
		got, err := StoredInputs(json.RawMessage(tc.in))
		if (err != nil) != tc.wantErr {
			t.Errorf("%q: error %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if !tc.wantErr && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: %#v, want %#v", tc.in, got, tc.want)
		}
	}
}
