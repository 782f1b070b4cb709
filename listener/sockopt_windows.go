package listener

import "syscall"

// soReusePort is not known here: WithReusePort(true) fails.
const soReusePort = -1

// setReusePort is never called here (soReusePort is not known).
func setReusePort(uintptr) error { return syscall.EWINDOWS }

// clearReuseAddr clears SO_REUSEADDR on the socket fd.
func clearReuseAddr(fd uintptr) error {
	return syscall.SetsockoptInt(syscall.Handle(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 0)
}

// listenFD calls listen on the socket fd.
func listenFD(fd uintptr, backlog int) error {
	return syscall.Listen(syscall.Handle(fd), backlog)
}
