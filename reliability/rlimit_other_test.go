//go:build !unix

package reliability

import "errors"

// canLimitFiles is false: there is no RLIMIT_NOFILE here.
const canLimitFiles = false

func limitFiles(uint64) error { return errors.New("no RLIMIT_NOFILE here") }
