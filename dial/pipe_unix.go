//go:build unix

package dial

import (
	"fmt"
	"net"
	"os"
	"syscall"
)

// socketPair returns the two ends of a socketpair(2).
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
