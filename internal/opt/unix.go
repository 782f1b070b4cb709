package opt

import (
	"errors"
	"fmt"
)

// MaxUnixPath is the longest path a sockaddr_un holds on Linux.
const MaxUnixPath = 107

// CheckUnixPath reports why path cannot name a Unix socket, or nil. The
// kernel would say only "invalid argument" for a path that is too long. The
// error does not repeat the path: the caller's message names it.
func CheckUnixPath(path string) error {
	switch {
	case path == "":
		return errors.New("empty unix socket path")
	case len(path) > MaxUnixPath:
		return fmt.Errorf("unix socket path too long (%d bytes; at most %d)", len(path), MaxUnixPath)
	}
	return nil
}
