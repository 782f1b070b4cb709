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
// with a one-slot channel in place of the futex. The bits above the lock
// state carry a value the holder publishes when it unlocks (the reader's
// count of consumed bytes), so that keeping it costs no atomic operation of
// its own.
type gate struct {
	state atomic.Uint64 // value<<2 | gateUnlocked, gateLocked or gateContended

	// wake holds one token: the lock may be free. It is made by the first
	// goroutine that has to wait, before it marks the gate contended, so
	// that unlock, which sends only on a contended gate, finds it. It is
	// set once, by a compare-and-swap rather than under a mutex of the
	// gate's own, which an idle stream would carry for nothing.
	wake atomic.Pointer[chan struct{}]
}

const (
	gateUnlocked uint64 = iota
	gateLocked
	gateContended // locked, and someone may be waiting
	gateBits      = 3
)

// wakeChan returns the wake channel, making it if need be.
func (g *gate) wakeChan() chan struct{} {
	if w := g.wake.Load(); w != nil {
		return *w
	}
	w := make(chan struct{}, 1)
	g.wake.CompareAndSwap(nil, &w)
	return *g.wake.Load()
}

func (g *gate) tryLock() bool {
	s := g.state.Load()
	return s&gateBits == gateUnlocked && g.state.CompareAndSwap(s, s|gateLocked)
}

// lock waits for the gate. It gives up with ctx.Err(), ErrClosed when closed
// is closed, or errDeadline when expired is closed; a nil channel never
// fires.
func (g *gate) lock(ctx context.Context, closed, expired <-chan struct{}) error {
	wake := g.wakeChan()
	for {
		s := g.state.Load()
		switch s & gateBits {
		case gateUnlocked:
			// Take it as contended: others may be waiting behind us.
			if g.state.CompareAndSwap(s, s|gateContended) {
				return nil
			}
			continue
		case gateLocked:
			if !g.state.CompareAndSwap(s, s&^gateBits|gateContended) {
				continue
			}
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		case <-closed:
			return ErrClosed
		case <-expired:
			return errDeadline
		}
	}
}

// unlock releases the gate and publishes value.
func (g *gate) unlock(value uint64) {
	if g.state.Swap(value<<2)&gateBits == gateContended {
		select {
		case *g.wake.Load() <- struct{}{}:
		default: // a token is already waiting
		}
	}
}

// publish sets the value while the gate is held.
func (g *gate) publish(value uint64) {
	for {
		s := g.state.Load()
		if g.state.CompareAndSwap(s, value<<2|s&gateBits) {
			return
		}
	}
}

// value returns the value last published.
func (g *gate) value() uint64 { return g.state.Load() >> 2 }
