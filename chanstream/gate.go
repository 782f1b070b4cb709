package chanstream

import (
	"context"
	"sync/atomic"
)

// gate is a mutual-exclusion lock whose waiters can give up: on a context, on
// the close of the object it guards, or on a deadline. Reads are serialised
// by one gate and writes by another, so that concurrent calls each get whole
// results while a caller waiting its turn still honours its ctx.
//
// The uncontended path is one compare-and-swap to lock and one swap to
// unlock. It is the three-state mutex of Drepper's "Futexes Are Tricky",
// with a one-slot channel in place of the futex.
type gate struct {
	state atomic.Int32  // gateUnlocked, gateLocked or gateContended
	wake  chan struct{} // one token: the lock may be free
}

const (
	gateUnlocked int32 = iota
	gateLocked
	gateContended // locked, and someone may be waiting
)

func newGate() gate { return gate{wake: make(chan struct{}, 1)} }

func (g *gate) tryLock() bool { return g.state.CompareAndSwap(gateUnlocked, gateLocked) }

// lock waits for the gate. It gives up with ctx.Err(), ErrClosed when closed
// is closed, or errDeadline when expired is closed; a nil channel never
// fires.
func (g *gate) lock(ctx context.Context, closed, expired <-chan struct{}) error {
	if g.tryLock() {
		return nil
	}
	for {
		// Mark the lock contended; if it was free meanwhile, it is ours.
		if g.state.Swap(gateContended) == gateUnlocked {
			return nil
		}
		select {
		case <-g.wake:
		case <-ctx.Done():
			return ctx.Err()
		case <-closed:
			return ErrClosed
		case <-expired:
			return errDeadline
		}
	}
}

func (g *gate) unlock() {
	if g.state.Swap(gateUnlocked) == gateContended {
		select {
		case g.wake <- struct{}{}:
		default: // a token is already waiting
		}
	}
}
