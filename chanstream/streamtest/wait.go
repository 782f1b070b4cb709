package streamtest

import (
	"net"
	"os"
	"sync"
	"time"
)

// signal is a broadcast: waiters take its channel under the owner's mutex,
// and every change of state closes the channel and makes a new one.
type signal struct {
	ch chan struct{}
}

// channel returns the channel the next broadcast closes. Call it with the
// owner's mutex held.
func (sg *signal) channel() chan struct{} {
	if sg.ch == nil {
		sg.ch = make(chan struct{})
	}
	return sg.ch
}

// broadcast wakes every waiter. Call it with the owner's mutex held.
func (sg *signal) broadcast() {
	if sg.ch != nil {
		close(sg.ch)
		sg.ch = nil
	}
}

// waitLocked releases mu, waits for the next broadcast of sg or until
// deadline (the zero time is none) or until until (the zero time is none),
// and takes mu again.
func waitLocked(mu *sync.Mutex, sg *signal, deadline, until time.Time) {
	ch := sg.channel()
	mu.Unlock()
	defer mu.Lock()
	wake := deadline
	if !until.IsZero() && (wake.IsZero() || until.Before(wake)) {
		wake = until
	}
	if wake.IsZero() {
		<-ch
		return
	}
	timer := time.NewTimer(time.Until(wake))
	defer timer.Stop()
	select {
	case <-ch:
	case <-timer.C:
	}
}

// passed reports whether deadline is set and has passed.
func passed(deadline time.Time) bool {
	return !deadline.IsZero() && !time.Now().Before(deadline)
}

// opError wraps err as a socket's errors are, so that callers can test it
// with errors.Is (net.ErrClosed, os.ErrDeadlineExceeded, syscall errors)
// and net.Error's Timeout.
func opError(op, network string, local, remote net.Addr, err error) error {
	return &net.OpError{Op: op, Net: network, Source: local, Addr: remote, Err: err}
}

// errDeadline is what a call that ran past its deadline wraps.
var errDeadline error = os.ErrDeadlineExceeded
