package main

import "syscall"

// setSmallRcvBuf gives a socket a small receive buffer, before it connects.
func setSmallRcvBuf(fd uintptr) {
	syscall.SetsockoptInt(syscall.Handle(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
}
