//go:build unix

package testnet

import (
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"
)

// BlackHole returns a loopback address where a TCP connect hangs: a socket
// listening with a backlog of 0 whose one queue slot is taken by a
// connection never accepted, so the kernel drops further SYNs. ip must be a
// loopback address (127.0.0.0/8); port 0 picks one.
func BlackHole(t testing.TB, ip string, port int) netip.AddrPort {
	t.Helper()
	addr := netip.MustParseAddr(ip)
	if !addr.IsLoopback() || !addr.Is4() {
		t.Fatalf("testnet.BlackHole: %s is not an IPv4 loopback address", ip)
	}
	fd, err := socketCloexec(syscall.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: addr.As4(), Port: port}); err != nil {
		t.Fatalf("testnet.BlackHole: bind %s:%d: %v", ip, port, err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	hole := netip.AddrPortFrom(addr, uint16(sa.(*syscall.SockaddrInet4).Port))
	// Fill the accept queue; the connections that get in stay open (and
	// unaccepted) until the test ends.
	for i := 0; i < 8; i++ {
		c, err := net.DialTimeout("tcp", hole.String(), 200*time.Millisecond)
		if err != nil {
			return hole // a connect now hangs: the hole is ready
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Fatalf("testnet.BlackHole: %s still accepts connections", hole)
	return hole
}

// SocketPair returns the two ends of a socketpair(2) as net.Conns. It is
// for package chanstream's in-package tests; other tests use
// streamtest.SocketPair.
func SocketPair(t testing.TB) (net.Conn, net.Conn) {
	t.Helper()
	syscall.ForkLock.RLock() // no child may inherit the descriptors
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fds[0])
		syscall.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		t.Fatal(err)
	}
	var conns [2]net.Conn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		conns[i], err = net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return conns[0], conns[1]
}

// socketCloexec returns a new stream socket of family domain, closed on
// exec.
// (SOCK_CLOEXEC is not everywhere: macOS has none.)
func socketCloexec(domain int) (int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	fd, err := syscall.Socket(domain, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fd)
	}
	return fd, err
}
