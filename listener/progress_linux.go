//go:build linux && !386

package listener

import (
	"net"
	"syscall"
	"unsafe"
)

// tcpInfoBytesAcked is the offset of tcpi_bytes_acked in Linux's struct
// tcp_info (linux/tcp.h; since Linux 4.1).
const tcpInfoBytesAcked = 120

// bytesAcked returns how many bytes of what was sent on c the peer has
// acknowledged, as the kernel counts them, and whether it could tell: c must
// be a TCP connection. It counts bytes that a write still under way has
// handed the kernel, which the stream's counters do not until the write
// returns.
func bytesAcked(c net.Conn) (int64, bool) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return 0, false
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return 0, false
	}
	var info [232]byte // struct tcp_info, and room for what later kernels add
	size := uint32(len(info))
	var errno syscall.Errno
	err = rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_INFO,
			uintptr(unsafe.Pointer(&info[0])), uintptr(unsafe.Pointer(&size)), 0)
	})
	if err != nil || errno != 0 || size < tcpInfoBytesAcked+8 {
		return 0, false
	}
	return int64(*(*uint64)(unsafe.Pointer(&info[tcpInfoBytesAcked]))), true
}
