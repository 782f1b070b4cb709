//go:build unix

package dial

import (
	"fmt"
	"net"
	"os"
	"syscall"

	"github.com/chanstream/chanstream/chanstream"
)

// Pipe returns the two ends of a socketpair(2) (AF_UNIX, SOCK_STREAM) as
// streams: a real, bidirectional, half-closable connection inside one
// process, as the seed's "register an open socket to wait for data" example
// makes with socket.socketpair(). Only stream options apply.
func Pipe(opts ...Option) (a, b *chanstream.Stream, err error) {
	if err := checkAdopt("Pipe", opts); err != nil {
		return nil, nil, err
	}
	conns, err := socketPair()
	if err != nil {
		return nil, nil, err
	}
	return chanstream.NewStream(conns[0], opts...), chanstream.NewStream(conns[1], opts...), nil
}

func socketPair() ([2]net.Conn, error) {
	var conns [2]net.Conn
	syscall.ForkLock.RLock()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fds[0])
		syscall.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return conns, fmt.Errorf("dial: socketpair: %w", os.NewSyscallError("socketpair", err))
	}
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), socketPairName(i))
		conns[i], err = net.FileConn(f)
		f.Close()
		if err != nil {
			if i == 1 {
				conns[0].Close()
			} else {
				syscall.Close(fds[1])
			}
			return conns, fmt.Errorf("dial: socketpair: %w", err)
		}
	}
	return conns, nil
}
