// Package group owns goroutines for chanstream's packages, as conc's
// WaitGroup does: it starts them, catches their panics, and lets the owner
// wait for them. Unlike conc's WaitGroup it can be waited on with a ctx, and
// it may go idle and busy again (a stream's helpers and a server's
// connections come and go).
package group

import (
	"context"
	"sync"

	"github.com/sourcegraph/conc/panics"
)

// Group owns goroutines. The zero Group is not ready: use New.
type Group struct {
	mu      sync.Mutex
	running int
	idle    chan struct{} // closed while running == 0
}

var closedChan = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// New returns a Group with no goroutine running.
func New() Group { return Group{idle: closedChan} }

// Go runs f in a new goroutine. If f panics, onPanic (when not nil) gets the
// panic as an error carrying its value and stack, in that goroutine.
func (g *Group) Go(f func(), onPanic func(error)) {
	g.mu.Lock()
	if g.running == 0 {
		g.idle = make(chan struct{})
	}
	g.running++
	g.mu.Unlock()
	go func() {
		defer g.done()
		var c panics.Catcher
		c.Try(f)
		if r := c.Recovered(); r != nil && onPanic != nil {
			onPanic(r.AsError())
		}
	}()
}

func (g *Group) done() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.running--
	if g.running == 0 {
		close(g.idle)
	}
}

// Wait waits until no goroutine of the group is running, or ctx is done.
// Goroutines started while it waits are waited for too.
func (g *Group) Wait(ctx context.Context) error {
	g.mu.Lock()
	idle := g.idle
	g.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
