//go:build (darwin || freebsd || netbsd || openbsd || dragonfly) && !chanstream_nopoll

package chanstream

import (
	"syscall"
	"unsafe"
)

// sysRead reads up to n bytes from the non-blocking socket fd into p,
// through package syscall's read, which goes through the C library where
// the system wants it (macOS, OpenBSD).
func sysRead(fd uintptr, p *byte, n int) (int, syscall.Errno) {
	r, err := syscall.Read(int(fd), unsafe.Slice(p, n))
	return r, errnoOf(err)
}

// sysWrite writes up to n bytes from p to the non-blocking socket fd, as
// sysRead reads.
func sysWrite(fd uintptr, p *byte, n int) (int, syscall.Errno) {
	r, err := syscall.Write(int(fd), unsafe.Slice(p, n))
	return r, errnoOf(err)
}

// errnoOf returns the errno of an error of package syscall's, 0 for nil.
func errnoOf(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	if errno, ok := err.(syscall.Errno); ok {
		return errno
	}
	return syscall.EIO
}
