package listener

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// handlerCtx is the ctx a handler gets: it carries the values of Listen's
// ctx, and is done once cancel is called (when the server shuts down, the
// connection is aborted or the handler returns). It does what a
// context.WithCancel per connection would, for less: there is no entry in a
// parent's map of children, and it runs AfterFunc itself, which is how a
// chanstream read call waiting on its socket learns that its ctx is done
// (and how context.WithCancel and context.AfterFunc over it work).
type handlerCtx struct {
	values context.Context // Listen's ctx without its cancellation

	done     atomic.Pointer[chan struct{}] // made when first asked for
	mu       sync.Mutex
	canceled atomic.Bool  // set under mu once done is closed; Err is then context.Canceled, the only way c ends
	after    []*afterFunc // mu: the functions AfterFunc schedules
}

type afterFunc struct{ f func() }

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
	a := &afterFunc{f: f}
	c.mu.Lock()
	if c.canceled.Load() {
		c.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	c.after = append(c.after, a)
	c.mu.Unlock()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if i := slices.Index(c.after, a); i >= 0 {
			c.after = slices.Delete(c.after, i, i+1)
			return true
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
	after := c.after
	c.after = nil
	c.mu.Unlock()
	for _, a := range after {
		go a.f()
	}
}
