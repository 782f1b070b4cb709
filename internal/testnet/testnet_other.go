//go:build !unix

package testnet

import (
	"net"
	"net/netip"
	"runtime"
	"testing"
)

// BlackHole is a listening socket with a backlog of 0 on Unix; here it
// skips the test.
func BlackHole(t testing.TB, ip string, port int) netip.AddrPort {
	t.Helper()
	t.Skipf("testnet.BlackHole: needs a listening socket with a backlog of 0 made through package syscall, which %s lacks", runtime.GOOS)
	return netip.AddrPort{}
}

// SocketPair returns the two ends of a loopback TCP connection: there is no
// socketpair(2) here.
func SocketPair(t testing.TB) (net.Conn, net.Conn) {
	t.Helper()
	a, b := TCPPair(t)
	return a, b
}
