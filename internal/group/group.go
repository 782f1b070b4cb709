// Package group owns goroutines for chanstream's packages, as conc's
// WaitGroup does: it starts them, catches their panics, and lets the owner
// wait for them. Unlike conc's WaitGroup it can be waited on with a ctx, and
// it may go idle and busy again (a stream's helpers and a server's
// connections come and go).
package group

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/sourcegraph/conc/panics"
)

// Group owns goroutines. The zero Group is ready to use, as is New's.
type Group struct {
	running atomic.Int64
	mu      sync.Mutex
	idle    chan struct{} // mu: made by Wait while running > 0; closed when it drops to 0
}

// New returns a Group with no goroutine running.
func New() Group { return Group{} }

// Go runs f in a new goroutine. If f panics, onPanic (when not nil) gets the
// panic as an error carrying its value and stack, in that goroutine.
func (g *Group) Go(f func(), onPanic func(error)) {
	g.Add()
	go g.run(f, onPanic)
}

// run runs f in a goroutine of the group. It keeps that goroutine's stack
// shallow: a server's handlers run on top of it, and a stack that grows
// past its first 2 KiB never shrinks back while the goroutine waits.
func (g *Group) run(f func(), onPanic func(error)) {
	defer g.end(onPanic)
	f()
}

// end ends a goroutine of the group, reporting its panic if it panicked.
func (g *Group) end(onPanic func(error)) {
	if v := recover(); v != nil && onPanic != nil {
		r := panics.NewRecovered(1, v)
		onPanic(r.AsError())
	}
	g.Done()
}

// Add counts one more member that is not a goroutine the group started:
// work that a goroutine of the group hands to its owner's, say, and that
// Wait must wait for all the same. Done ends it.
func (g *Group) Add() { g.running.Add(1) }

// Done ends a member counted by Add.
func (g *Group) Done() {
	if g.running.Add(-1) != 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.running.Load() == 0 && g.idle != nil { // none came meanwhile
		close(g.idle)
		g.idle = nil
	}
}

// Running reports how many members the group has now: the goroutines it
// started that have not ended, and the members counted by Add that are not
// yet Done.
func (g *Group) Running() int { return int(g.running.Load()) }

// Wait waits until no goroutine of the group is running, or ctx is done.
// Goroutines started while it waits are waited for too.
func (g *Group) Wait(ctx context.Context) error {
	g.mu.Lock()
	if g.running.Load() == 0 {
		g.mu.Unlock()
		return nil
	}
	if g.idle == nil {
		g.idle = make(chan struct{})
	}
	idle := g.idle
	g.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
