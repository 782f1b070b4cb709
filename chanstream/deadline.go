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
// fresh channel, as net.Conn's SetDeadline does. The channel is made when
// first asked for: most deadlines are never waited on.
type deadline struct {
	mu      sync.Mutex
	timer   *time.Timer
	gen     uint64        // counts the deadlines set, so that a stale timer does nothing
	ch      chan struct{} // closed when the deadline passes; nil until asked for
	expired atomic.Bool   // the fast-path mirror of a closed ch

	onExpire func() // if not nil, called when the deadline passes; set once, before use
}

// closedChan is a closed channel, for a signal closed before anyone asked
// for its channel.
var closedChan = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// set sets the deadline to t; the zero t means none.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	if d.timer != nil {
		d.timer.Stop() // if it fires all the same, gen tells it it is stale
		d.timer = nil
	}
	dur := time.Until(t)
	if t.IsZero() || dur > 0 {
		if d.expired.Load() {
			d.ch = nil // revived: a fresh channel when asked for
			d.expired.Store(false)
		}
		if !t.IsZero() {
			gen := d.gen
			d.timer = time.AfterFunc(dur, func() { d.fire(gen) })
		}
		return
	}
	if !d.expired.Load() {
		d.expireLocked()
	}
}

// fire is the timer's: the deadline set as gen has passed.
func (d *deadline) fire(gen uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.gen == gen && !d.expired.Load() {
		d.expireLocked()
	}
}

func (d *deadline) expireLocked() {
	d.expired.Store(true)
	if d.ch != nil {
		close(d.ch)
	} else {
		d.ch = closedChan
	}
	if d.onExpire != nil {
		d.onExpire()
	}
}

// done returns a channel that is closed when the deadline passes.
func (d *deadline) done() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ch == nil {
		d.ch = make(chan struct{})
	}
	return d.ch
}

// stop releases the timer.
func (d *deadline) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}
