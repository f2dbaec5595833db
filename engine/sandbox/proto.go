package sandbox

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
)

// The host and the launcher talk over a stream socket in frames: a 4-byte
// big-endian length, then that much JSON. A start request carries the
// cell's stdout and stderr as SCM_RIGHTS on the sendmsg of its length, which
// the kernel keeps apart from the bytes around it.

// maxFrame bounds one message (a cell's argv and environment).
const maxFrame = 64 << 20

// request goes from the host to the launcher.
type request struct {
	Op   string   `json:"op"` // "start" or "signal"
	ID   uint64   `json:"id"`
	Argv []string `json:"argv,omitempty"`
	Env  []string `json:"env,omitempty"`
	Dir  string   `json:"dir,omitempty"`
	Sig  int      `json:"sig,omitempty"`
}

// reply goes from the launcher to the host.
type reply struct {
	Op     string `json:"op"` // "ready", "started" or "exited"
	ID     uint64 `json:"id,omitempty"`
	Err    string `json:"err,omitempty"`
	Status uint32 `json:"status,omitempty"` // a wait status, for "exited"
}

func writeFrame(c *net.UnixConn, v any, files ...*os.File) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(body) > maxFrame {
		return fmt.Errorf("message of %d bytes is over the limit of %d", len(body), maxFrame)
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(body)))
	var oob []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, f := range files {
			fds[i] = int(f.Fd())
		}
		oob = syscall.UnixRights(fds...)
	}
	if _, _, err := c.WriteMsgUnix(hdr[:], oob, nil); err != nil {
		return err
	}
	_, err = c.Write(body)
	return err
}

// readFrame reads one frame into v and returns the files that came with it.
func readFrame(c *net.UnixConn, v any) ([]*os.File, error) {
	var hdr [4]byte
	oob := make([]byte, syscall.CmsgSpace(4*4))
	n, oobn, _, _, err := c.ReadMsgUnix(hdr[:], oob)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, io.EOF
	}
	var files []*os.File
	if oobn > 0 {
		msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return nil, fmt.Errorf("parse control message: %w", err)
		}
		for _, m := range msgs {
			fds, err := syscall.ParseUnixRights(&m)
			if err != nil {
				continue
			}
			for _, fd := range fds {
				files = append(files, os.NewFile(uintptr(fd), "cell-pipe"))
			}
		}
	}
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	if n < len(hdr) {
		if _, err := io.ReadFull(c, hdr[n:]); err != nil {
			closeAll()
			return nil, err
		}
	}
	size := binary.BigEndian.Uint32(hdr[:])
	if size > maxFrame {
		closeAll()
		return nil, errors.New("message over the size limit")
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(c, body); err != nil {
		closeAll()
		return nil, err
	}
	if err := json.Unmarshal(body, v); err != nil {
		closeAll()
		return nil, fmt.Errorf("decode message: %w", err)
	}
	return files, nil
}

// socketPair returns both ends of a stream socket pair, close-on-exec.
func socketPair() (*os.File, *os.File, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "sandbox-host"), os.NewFile(uintptr(fds[1]), "sandbox-launcher"), nil
}

// unixConn makes a *net.UnixConn of f (which it closes: the conn has its
// own descriptor).
func unixConn(f *os.File) (*net.UnixConn, error) {
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, err
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, errors.New("not a unix socket")
	}
	return uc, nil
}
