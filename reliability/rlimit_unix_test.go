//go:build unix

package reliability

import "syscall"

// canLimitFiles is true where limitFiles works.
const canLimitFiles = true

// limitFiles sets RLIMIT_NOFILE, soft and hard, to n.
func limitFiles(n uint64) error {
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: n, Max: n})
}
