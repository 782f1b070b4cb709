package chanstream

import (
	"sync"
	"sync/atomic"
	"time"
)

// deadline is one direction's net.Conn deadline, kept on the channel selects
// rather than on the socket, so that an expiry never interrupts a read or
// write the pumps have under way and never loses data.
//
// Once the deadline passes, expired reports true and the channel from done is
// closed; setting a new deadline in the future (or none) revives it with a
// fresh channel, as net.Conn's SetDeadline does. Most deadlines are never
// set nor waited on: all but the fast-path flag is kept in a deadlineState
// made when first needed, so that an idle stream does not carry it.
type deadline struct {
	expired atomic.Bool                   // the fast-path mirror of a closed ch
	st      atomic.Pointer[deadlineState] // made when first set or waited on (state)
}

type deadlineState struct {
	mu    sync.Mutex
	timer *time.Timer
	gen   uint64        // counts the deadlines set, so that a stale timer does nothing
	ch    chan struct{} // closed when the deadline passes; nil until asked for

	// wake, if not nil, is the source whose read call waiting for data
	// is woken when the deadline passes (the read deadline's).
	wake source
}

// state returns the deadline's state, making it if need be.
func (d *deadline) state() *deadlineState {
	if st := d.st.Load(); st != nil {
		return st
	}
	d.st.CompareAndSwap(nil, new(deadlineState))
	return d.st.Load()
}

// closedChan is a closed channel, for a signal closed before anyone asked
// for its channel.
var closedChan = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// set sets the deadline to t; the zero t means none. wake, if not nil, is
// the source to wake when it passes (see deadlineState).
func (d *deadline) set(t time.Time, wake source) {
	st := d.state()
	st.mu.Lock()
	defer st.mu.Unlock()
	st.wake = wake
	st.gen++
	if st.timer != nil {
		st.timer.Stop() // if it fires all the same, gen tells it it is stale
		st.timer = nil
	}
	dur := time.Until(t)
	if t.IsZero() || dur > 0 {
		if d.expired.Load() {
			st.ch = nil // revived: a fresh channel when asked for
			d.expired.Store(false)
		}
		if !t.IsZero() {
			gen := st.gen
			st.timer = time.AfterFunc(dur, func() { d.fire(gen) })
		}
		return
	}
	if !d.expired.Load() {
		d.expireLocked(st)
	}
}

// fire is the timer's: the deadline set as gen has passed.
func (d *deadline) fire(gen uint64) {
	st := d.st.Load() // made by the set that armed the timer
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.gen == gen && !d.expired.Load() {
		d.expireLocked(st)
	}
}

func (d *deadline) expireLocked(st *deadlineState) {
	d.expired.Store(true)
	if st.ch != nil {
		close(st.ch)
	} else {
		st.ch = closedChan
	}
	if st.wake != nil {
		st.wake.wake()
	}
}

// done returns a channel that is closed when the deadline passes.
func (d *deadline) done() <-chan struct{} {
	st := d.state()
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.ch == nil {
		st.ch = make(chan struct{})
	}
	return st.ch
}

// stop releases the timer.
func (d *deadline) stop() {
	st := d.st.Load()
	if st == nil {
		return // never set
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.timer != nil {
		st.timer.Stop()
		st.timer = nil
	}
}
