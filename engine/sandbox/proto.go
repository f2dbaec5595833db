package sandbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/opsbook/opsbook/engine/sandbox/launch"
	"io"
	"net"
	"os"
	"syscall"
)

// The host's end of the socket to the launcher: frames of launch's
// messages (launch/proto.go says how they look). The launcher reads and
// writes its end with plain system calls; this side uses a *net.UnixConn.

// writeFrame sends r, with files as SCM_RIGHTS on its length.
func writeFrame(c *net.UnixConn, r launch.Request, files ...*os.File) error {
	body := r.Marshal()
	if len(body) > launch.MaxFrame {
		return fmt.Errorf("message of %d bytes is over the limit of %d", len(body), launch.MaxFrame)
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
	_, err := c.Write(body)
	return err
}

// readFrame reads one reply of the launcher (which sends no files).
func readFrame(c *net.UnixConn) (launch.Reply, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return launch.Reply{}, err
	}
	size := binary.BigEndian.Uint32(hdr[:])
	if size > launch.MaxFrame {
		return launch.Reply{}, errors.New("message over the size limit")
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(c, body); err != nil {
		return launch.Reply{}, err
	}
	return launch.UnmarshalReply(body)
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
