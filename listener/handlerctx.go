package listener

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/internal/hooks"
)

// handlerCtx is the ctx a handler gets: it carries the values of Listen's
// ctx, and is done once cancel is called (when the server shuts down, the
// connection is aborted or the handler returns). It does what a
// context.WithCancel per connection would, for less: there is no entry in a
// parent's map of children; it wakes its stream's read calls itself when
// it is done (hooks.StreamCtx), so that a read call waiting on its socket
// learns that its ctx is done with nothing registered per connection; and it
// runs AfterFunc itself (how context.WithCancel and context.AfterFunc over
// it work).
type handlerCtx struct {
	values context.Context // Listen's ctx without its cancellation

	done     atomic.Pointer[chan struct{}] // made when first asked for
	mu       sync.Mutex
	canceled atomic.Bool // set under mu once done is closed; Err is then context.Canceled, the only way c ends
	after    *afterFunc  // mu: the functions AfterFunc schedules, a list

	// stream (mu) is the connection's stream, whose read calls cancel
	// wakes itself (hooks.StreamCtx): they register no AfterFunc.
	stream *chanstream.Stream
}

type afterFunc struct {
	f    func()
	next *afterFunc
}

// setStream makes c wake s's read calls when it is done.
func (c *handlerCtx) setStream(s *chanstream.Stream) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stream = s
}

// WakesStream reports whether stream is the one c wakes (hooks.StreamCtx).
func (c *handlerCtx) WakesStream(stream any) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stream != nil && any(c.stream) == stream
}

var closedChan = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

func (c *handlerCtx) Deadline() (time.Time, bool) { return c.values.Deadline() }

func (c *handlerCtx) Value(key any) any { return c.values.Value(key) }

func (c *handlerCtx) Done() <-chan struct{} {
	if d := c.done.Load(); d != nil {
		return *d
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := c.done.Load(); d != nil {
		return *d
	}
	d := make(chan struct{})
	c.done.Store(&d)
	return d
}

// Err takes no lock: read calls ask it once per call.
func (c *handlerCtx) Err() error {
	if c.canceled.Load() {
		return context.Canceled
	}
	return nil
}

func (c *handlerCtx) String() string { return "listener.handlerCtx" }

// AfterFunc arranges for f to run in its own goroutine once c is done, as
// context.AfterFunc(c, f), which calls it. stop reports whether it kept f
// from running.
func (c *handlerCtx) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	if c.canceled.Load() {
		c.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	a := &afterFunc{f: f, next: c.after}
	c.after = a
	c.mu.Unlock()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for p := &c.after; *p != nil; p = &(*p).next {
			if *p == a {
				*p = a.next
				return true
			}
		}
		return false
	}
}

// cancel makes c done, with context.Canceled.
func (c *handlerCtx) cancel() {
	c.mu.Lock()
	if c.canceled.Load() {
		c.mu.Unlock()
		return
	}
	if d := c.done.Load(); d != nil {
		close(*d)
	} else {
		c.done.Store(&closedChan)
	}
	c.canceled.Store(true) // after done is closed: Err != nil means Done is closed
	after, stream := c.after, c.stream
	c.after = nil
	c.mu.Unlock()
	if stream != nil {
		hooks.WakeStream(stream)
	}
	for a := after; a != nil; a = a.next {
		go a.f()
	}
}
