package chanstream

import (
	"context"
	"sync"
	"sync/atomic"
)

// Receiver delivers a Reader's data on a channel, so that it can be
// received in a select next to other channels: tickers, other streams,
// ctx.Done(). C delivers the buffered bytes first, then the data as it
// arrives, and is closed at the end of the stream, on an error, when ctx is
// done or when Stop is called; Err then tells why.
//
// While a Receiver runs it holds the reader: other read calls wait until it
// stops. Nothing is lost when it stops early: a value it had read but not
// delivered goes back to the reader, for the next read to return.
type Receiver struct {
	// C delivers the data. Values belong to the receiver of them, as the
	// slices returned by the read methods do.
	C <-chan []byte

	stop     context.CancelFunc
	done     chan struct{}
	stopOnce sync.Once
	stopped  atomic.Bool
	err      error // set before C is closed
}

// Chunks returns a Receiver delivering the data in pieces of at most 64 KiB,
// as ReadChunk returns them.
func (r *Reader) Chunks(ctx context.Context) *Receiver {
	return r.startReceiver(ctx, func(ctx context.Context) ([]byte, error) {
		return r.readChunk(ctx, chunkSize)
	})
}

// LineChan returns a Receiver delivering the data line by line, as ReadLine
// returns them. It stops at the first error, including a line over the
// limit.
func (r *Reader) LineChan(ctx context.Context) *Receiver {
	return r.startReceiver(ctx, r.readLine)
}

func (r *Reader) startReceiver(ctx context.Context, read func(context.Context) ([]byte, error)) *Receiver {
	ctx, cancel := context.WithCancel(ctx)
	c := make(chan []byte)
	rc := &Receiver{C: c, stop: cancel, done: make(chan struct{})}
	r.helperGroup().Go(func() {
		defer close(c) // last: Err is ready by the time C is closed
		defer close(rc.done)
		rc.err = r.deliver(ctx, c, read)
	}, nil)
	return rc
}

// deliver is the Receiver's goroutine: read, send, repeat.
func (r *Reader) deliver(ctx context.Context, c chan<- []byte, read func(context.Context) ([]byte, error)) error {
	if err := r.begin(ctx); err != nil {
		return err
	}
	defer r.end()
	for {
		data, err := read(ctx)
		if err != nil {
			if len(data) > 0 { // ReadChunk(-1)'s data with an error; not used here
				r.unread(data)
			}
			return err
		}
		// The count stays right while we wait, data not counted as
		// consumed until it is delivered: Stop may put it back (unread),
		// and AtEOF and Stats must not have taken it as read.
		r.gate.publish(uint64(r.consumed - int64(len(data))))
		select {
		case c <- data:
		case <-ctx.Done():
			r.unread(data)
			return ctx.Err()
		case <-r.closedChan():
			return ErrClosed
		}
	}
}

// Err returns why C was closed: io.EOF at the end of the stream, the error
// that ended it, the ctx's error, or nil after Stop. It returns nil while C
// is open.
func (rc *Receiver) Err() error {
	select {
	case <-rc.done:
		if rc.stopped.Load() {
			return nil
		}
		return rc.err
	default:
		return nil
	}
}

// Stop stops the Receiver and waits for its goroutine to finish; a value
// that was read but not delivered goes back to the reader. It may be called
// more than once, and after C was closed.
func (rc *Receiver) Stop() {
	rc.stopOnce.Do(func() {
		select {
		case <-rc.done:
		default:
			rc.stopped.Store(true)
		}
		rc.stop()
	})
	<-rc.done
}

// WriteFrom writes every slice received from ch, in order, until ch is
// closed, and returns how many bytes it queued. It stops early with ctx.Err()
// when ctx is done, or with the error of a failing write; data already
// queued is still sent.
func (w *Writer) WriteFrom(ctx context.Context, ch <-chan []byte) (int64, error) {
	var total int64
	for {
		select {
		case p, ok := <-ch:
			if !ok {
				return total, nil
			}
			n, err := w.WriteContext(ctx, p)
			total += int64(n)
			if err != nil {
				return total, err
			}
		case <-ctx.Done():
			return total, ctx.Err()
		}
	}
}
