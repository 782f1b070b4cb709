//go:build unix

package chanstream_test

import (
	"net"
	"os"
	"syscall"
)

// socketPair returns the two ends of a socketpair(2).
func socketPair() (net.Conn, net.Conn) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		panic(err)
	}
	var conns [2]net.Conn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		conns[i], err = net.FileConn(f)
		f.Close()
		if err != nil {
			panic(err)
		}
	}
	return conns[0], conns[1]
}
