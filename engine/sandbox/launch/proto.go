package launch

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The host and the launcher talk over a stream socket in frames: a 4-byte
// big-endian length, then that many bytes of one message. A start request
// carries the cell's stdout and stderr as SCM_RIGHTS on the sendmsg of its
// length, which the kernel keeps apart from the bytes around it.
//
// Messages are a small binary encoding (strings and lists with 4-byte
// lengths) rather than JSON: encoding/json would make this package one that
// the runtime initializes late (see init in launch.go).

// MaxFrame bounds one message (a cell's argv and environment).
const MaxFrame = 64 << 20

// Request goes from the host to the launcher.
type Request struct {
	Op   string // "start" or "signal"
	ID   uint64
	Argv []string
	Env  []string
	Dir  string
	Sig  int
}

// Reply goes from the launcher to the host.
type Reply struct {
	Op     string // "ready", "started" or "exited"
	ID     uint64
	Err    string
	Status uint32 // a wait status, for "exited"
}

// Marshal encodes r.
func (r Request) Marshal() []byte {
	b := appendString(nil, r.Op)
	b = binary.BigEndian.AppendUint64(b, r.ID)
	b = binary.BigEndian.AppendUint64(b, uint64(int64(r.Sig)))
	b = appendList(b, r.Argv)
	b = appendList(b, r.Env)
	return appendString(b, r.Dir)
}

// UnmarshalRequest decodes what Request.Marshal made.
func UnmarshalRequest(b []byte) (Request, error) {
	d := decoder{b: b}
	r := Request{Op: d.string(), ID: d.uint64(), Sig: int(int64(d.uint64())), Argv: d.list(), Env: d.list(), Dir: d.string()}
	return r, d.done()
}

// Marshal encodes r.
func (r Reply) Marshal() []byte {
	b := appendString(nil, r.Op)
	b = binary.BigEndian.AppendUint64(b, r.ID)
	b = appendString(b, r.Err)
	return binary.BigEndian.AppendUint32(b, r.Status)
}

// UnmarshalReply decodes what Reply.Marshal made.
func UnmarshalReply(b []byte) (Reply, error) {
	d := decoder{b: b}
	r := Reply{Op: d.string(), ID: d.uint64(), Err: d.string(), Status: d.uint32()}
	return r, d.done()
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func appendList(b []byte, l []string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(l)))
	for _, s := range l {
		b = appendString(b, s)
	}
	return b
}

// decoder reads a message; the first error sticks and later reads give
// zero values.
type decoder struct {
	b   []byte
	err error
}

var errShort = errors.New("message cut short")

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.err = errShort
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) uint32() uint32 {
	if v := d.take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (d *decoder) uint64() uint64 {
	if v := d.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (d *decoder) string() string {
	n := d.uint32()
	return string(d.take(int(n)))
}

func (d *decoder) list() []string {
	n := d.uint32()
	if d.err != nil {
		return nil
	}
	// Each string takes at least its 4-byte length: a count that cannot fit
	// is refused before anything is allocated for it.
	if uint64(n)*4 > uint64(len(d.b)) {
		d.err = errShort
		return nil
	}
	var l []string
	if n > 0 {
		l = make([]string, 0, n)
	}
	for range n {
		l = append(l, d.string())
	}
	return l
}

func (d *decoder) done() error {
	if d.err != nil {
		return fmt.Errorf("decode message: %w", d.err)
	}
	if len(d.b) != 0 {
		return fmt.Errorf("decode message: %d bytes left over", len(d.b))
	}
	return nil
}
