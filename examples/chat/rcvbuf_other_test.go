//go:build !unix && !windows

package main

// setSmallRcvBuf leaves the receive buffer as it is: this system has no
// SO_RCVBUF in package syscall.
func setSmallRcvBuf(uintptr) {}
