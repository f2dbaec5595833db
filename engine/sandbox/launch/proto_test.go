package launch

import (
	"reflect"
	"testing"
)

func TestMessagesRoundTrip(t *testing.T) {
	t.Parallel()
	reqs := []Request{
		{Op: "start", ID: 7, Argv: []string{"bash", "-c", "echo 'hi'\n"}, Env: []string{"PATH=/usr/bin", "OPSBOOK_VALUE_1=a\x00b"}, Dir: "/work"},
		{Op: "signal", ID: 1 << 60, Sig: 15},
		{Op: "start", ID: 1, Argv: []string{""}, Env: nil},
		{Op: "signal", ID: 2, Sig: -9},
	}
	for _, r := range reqs {
		got, err := UnmarshalRequest(r.Marshal())
		if err != nil {
			t.Fatalf("%+v: %v", r, err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("round trip: got %+v, want %+v", got, r)
		}
	}
	reps := []Reply{{Op: "ready"}, {Op: "started", ID: 3, Err: "bash: not found"}, {Op: "exited", ID: 3, Status: 0x0f00}}
	for _, r := range reps {
		got, err := UnmarshalReply(r.Marshal())
		if err != nil || got != r {
			t.Errorf("round trip: got %+v, %v; want %+v", got, err, r)
		}
	}
}

func TestMessagesRefuseDamage(t *testing.T) {
	t.Parallel()
	b := Request{Op: "start", ID: 7, Argv: []string{"true"}, Dir: "/work"}.Marshal()
	for i := range len(b) {
		if _, err := UnmarshalRequest(b[:i]); err == nil {
			t.Errorf("a message cut at %d of %d bytes was accepted", i, len(b))
		}
	}
	if _, err := UnmarshalRequest(append(b, 0)); err == nil {
		t.Error("a message with a byte left over was accepted")
	}
	// A list that claims more entries than its bytes can hold.
	huge := append(appendString(nil, "start"), make([]byte, 16)...)
	huge = append(huge, 0xff, 0xff, 0xff, 0xff)
	if _, err := UnmarshalRequest(huge); err == nil {
		t.Error("a list count of 4 billion was accepted")
	}
}

func FuzzUnmarshalRequest(f *testing.F) {
	f.Add(Request{Op: "start", ID: 1, Argv: []string{"bash", "-c", "true"}, Env: []string{"A=1"}, Dir: "/work"}.Marshal())
	f.Add(Request{Op: "signal", ID: 2, Sig: 9}.Marshal())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := UnmarshalRequest(b)
		if err != nil {
			return
		}
		// What decodes, encodes back to the same bytes.
		if again := r.Marshal(); string(again) != string(b) {
			t.Fatalf("decoded %+v re-encodes differently", r)
		}
	})
}
