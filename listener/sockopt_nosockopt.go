//go:build !unix && !windows

package listener

import "errors"

// soReusePort is not known here: WithReusePort(true) fails.
const soReusePort = -1

// errNoSockopt is what setting a socket option or the backlog returns on a
// system whose package syscall cannot.
var errNoSockopt = errors.New("socket options are not supported here")

func setReusePort(uintptr) error   { return errNoSockopt }
func clearReuseAddr(uintptr) error { return errNoSockopt }
func listenFD(uintptr, int) error  { return errNoSockopt }
