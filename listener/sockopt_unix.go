//go:build unix

package listener

import "syscall"

// setReusePort sets SO_REUSEPORT (soReusePort, known) on the socket fd.
func setReusePort(fd uintptr) error {
	return syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReusePort, 1)
}

// clearReuseAddr clears SO_REUSEADDR on the socket fd.
func clearReuseAddr(fd uintptr) error {
	return syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 0)
}

// listenFD calls listen(2) on the socket fd.
func listenFD(fd uintptr, backlog int) error {
	return syscall.Listen(int(fd), backlog)
}
