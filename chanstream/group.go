package chanstream

import (
	"context"
	"fmt"
	"sync"

	"github.com/sourcegraph/conc/panics"
)

// group owns goroutines, as conc's WaitGroup does: it starts them, catches
// their panics, and lets its owner wait, with a ctx, until none is running.
// Unlike conc's WaitGroup it can be waited on with a deadline, and it may go
// idle and busy again (a stream's helpers come and go).
type group struct {
	mu      sync.Mutex
	running int
	idle    chan struct{} // closed while running == 0
}

var closedChan = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

func newGroup() group { return group{idle: closedChan} }

// Go runs f in a new goroutine. If f panics, onPanic (when not nil) gets the
// panic as an error carrying its value and stack, in that goroutine.
func (g *group) Go(f func(), onPanic func(error)) {
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
			onPanic(fmt.Errorf("chanstream: %w", r.AsError()))
		}
	}()
}

func (g *group) done() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.running--
	if g.running == 0 {
		close(g.idle)
	}
}

// Wait waits until no goroutine of the group is running, or ctx is done.
func (g *group) Wait(ctx context.Context) error {
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
