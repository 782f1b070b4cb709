//go:build unix

package main

import "syscall"

// setSmallRcvBuf gives a socket a small receive buffer, before it connects.
func setSmallRcvBuf(fd uintptr) {
	syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
}
