//go:build linux && !chanstream_nopoll

package chanstream

import (
	"syscall"
	"unsafe"
)

// sysRead reads up to n bytes from the non-blocking socket fd into p. It
// returns at once: RawSyscall, which does not tell the scheduler, is
// shallower than Syscall.
func sysRead(fd uintptr, p *byte, n int) (int, syscall.Errno) {
	r, _, errno := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(p)), uintptr(n))
	return int(r), errno
}

// sysWrite writes up to n bytes from p to the non-blocking socket fd, as
// sysRead reads.
func sysWrite(fd uintptr, p *byte, n int) (int, syscall.Errno) {
	r, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(p)), uintptr(n))
	return int(r), errno
}
