//go:build linux && !mips && !mipsle && !mips64 && !mips64le && !sparc64

package listener

// soReusePort is SO_REUSEPORT, which package syscall does not define for
// Linux (asm-generic/socket.h).
const soReusePort = 0xf
