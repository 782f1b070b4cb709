package frame

import (
	"context"
	"reflect"
	"runtime"
	"sync"

	"github.com/chanstream/chanstream/chanstream"
)

// ReceiverCap is the capacity of a [Receiver]'s C: how many decoded messages
// it holds ahead of the consumer.
const ReceiverCap = 16

// Receiver delivers a Reader's messages, decoded by a [Decoder], on a
// channel, so that they can be received in a select next to other channels.
// It is [chanstream.Receiver] for messages: one goroutine, owned by the
// Receiver, calls Decode in a loop and sends what it decodes on C.
//
// C is closed at the end of the stream, on a Decode error, when ctx is done
// or when Stop is called; [Receiver.Err] then tells why. C is buffered
// ([ReceiverCap]): the Receiver decodes ahead of the consumer, so that a
// consumer takes many messages per wake-up.
//
// While a Receiver runs it owns the reader and the decoder: nothing else may
// read from the reader or call the decoder's Decode until C is closed.
//
// Nothing is lost when a Receiver stops. Decoded messages cannot go back into
// the reader as bytes, so they come back as values: Stop returns, in order,
// the messages decoded but not received: what C still holds, then the one
// message, if any, that was decoded but did not fit in C when ctx or Stop
// ended the Receiver. Everything after them is still in the reader, or, for
// a frame whose Decode the stop cut short, in the decoder, which completes
// it on its next Decode (see [Decoder]): to go on reading frames, use the
// same decoder. Messages the consumer has received are its own.
//
// When C is closed by the end of the stream, an error or ctx, the messages
// still in C stay there for the consumer to receive; after a ctx, call Stop
// for the last one, which may have missed C (Stop is also what waits for the
// goroutine; it may be called at any time, any number of times). Once C is
// closed the goroutine has returned and the Receiver's ctx is released: a
// Receiver that ended at the end of the stream or on an error, and whose C
// was received to the end, needs no Stop.
type Receiver[T any] struct {
	// C delivers the messages.
	C <-chan T

	c      chan T
	cancel context.CancelFunc
	done   chan struct{} // closed when the goroutine has returned

	mu      sync.Mutex
	stopped bool  // Stop was called
	err     error // why C was closed; set before C is closed
	held    []T   // decoded, not in C; set before C is closed
}

// NewReceiver starts a [Receiver] of the messages dec decodes from r. ctx
// bounds it: when ctx is done the Receiver stops and Err returns ctx.Err().
// It panics if r or dec is nil (or a nil pointer), in the caller rather than
// in the Receiver's goroutine, where nobody could recover it.
func NewReceiver[T any](ctx context.Context, r *chanstream.Reader, dec Decoder[T]) *Receiver[T] {
	if r == nil {
		panic("frame: NewReceiver with a nil reader")
	}
	if v := reflect.ValueOf(dec); !v.IsValid() || v.Kind() == reflect.Pointer && v.IsNil() {
		panic("frame: NewReceiver with a nil decoder")
	}
	ctx, cancel := context.WithCancel(ctx)
	c := make(chan T, ReceiverCap)
	rc := &Receiver[T]{C: c, c: c, cancel: cancel, done: make(chan struct{})}
	go rc.run(ctx, r, dec)
	return rc
}

func (rc *Receiver[T]) run(ctx context.Context, r *chanstream.Reader, dec Decoder[T]) {
	defer close(rc.done)
	defer rc.cancel() // an ended Receiver leaves nothing registered on the caller's ctx
	var err error
	for {
		var v T
		v, err = dec.Decode(ctx, r)
		if err != nil {
			break
		}
		if rc.trySend(v) {
			continue
		}
		select {
		case rc.c <- v:
			continue
		case <-ctx.Done():
			rc.mu.Lock()
			rc.held = append(rc.held, v)
			rc.mu.Unlock()
			err = ctx.Err()
		}
		break
	}
	rc.mu.Lock()
	if rc.stopped {
		err = nil
	}
	rc.err = err
	rc.mu.Unlock()
	close(rc.c)
}

// yieldsWhenFull is how many times a Receiver that finds C full yields the
// processor and tries again before it waits in a select, as
// chanstream.Receiver does: with C full, the consumer is the slower side,
// and yielding lets it take several messages before this goroutine has to
// park and be woken for each.
const yieldsWhenFull = 2

// trySend puts v in C if there is room, or after yielding to the consumer,
// and reports whether it did.
func (rc *Receiver[T]) trySend(v T) bool {
	for i := 0; ; i++ {
		select {
		case rc.c <- v:
			return true
		default:
		}
		if i == yieldsWhenFull {
			return false
		}
		runtime.Gosched()
	}
}

// Err returns why C was closed: [io.EOF] at the end of the stream, the error
// Decode returned, the ctx's error, or nil when Stop closed it. It returns
// nil while C is open.
func (rc *Receiver[T]) Err() error {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.err
}

// Stop stops the [Receiver], waits for its goroutine to return, and returns
// the messages that were decoded but not received, in order (see
// [Receiver]); C is then closed and empty. A later Stop returns nothing
// more. Messages a consumer receives from C while Stop runs are the
// consumer's and are not among those returned.
func (rc *Receiver[T]) Stop() []T {
	rc.mu.Lock()
	rc.stopped = true
	rc.mu.Unlock()
	rc.cancel()
	<-rc.done

	var rest []T
	for v := range rc.c {
		rest = append(rest, v)
	}
	rc.mu.Lock()
	rest = append(rest, rc.held...)
	rc.held = nil
	rc.mu.Unlock()
	return rest
}
