//go:build unix

package reliability

import "syscall"

// canLimitFiles is true where limitFiles works.
const canLimitFiles = true

// limitFiles sets RLIMIT_NOFILE, soft and hard, to n.
func limitFiles(n uint64) error {
	var lim syscall.Rlimit
	setLimit(&lim.Cur, n)
	setLimit(&lim.Max, n)
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
}

// setLimit stores n in an Rlimit field, which is a uint64 on most systems and
// an int64 on FreeBSD and DragonFly.
func setLimit[T int64 | uint64](field *T, n uint64) { *field = T(n) }
