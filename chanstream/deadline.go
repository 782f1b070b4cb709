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
// fresh channel, as net.Conn's SetDeadline does.
type deadline struct {
	mu      sync.Mutex
	timer   *time.Timer
	ch      chan struct{} // closed when the deadline passes
	expired atomic.Bool   // the fast-path mirror of a closed ch
}

func newDeadline() deadline { return deadline{ch: make(chan struct{})} }

// set sets the deadline to t; the zero t means none.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		// The timer fired; its function has closed ch or is about to.
		<-d.ch
	}
	d.timer = nil
	closed := d.expired.Load()
	dur := time.Until(t)
	if t.IsZero() || dur > 0 {
		if closed {
			d.ch = make(chan struct{})
			d.expired.Store(false)
		}
		if !t.IsZero() {
			ch := d.ch
			// No lock here: set waits for this function (<-d.ch above)
			// before it touches ch or expired again.
			d.timer = time.AfterFunc(dur, func() {
				d.expired.Store(true)
				close(ch)
			})
		}
		return
	}
	if !closed {
		d.expired.Store(true)
		close(d.ch)
	}
}

// done returns a channel that is closed when the deadline passes.
func (d *deadline) done() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
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
