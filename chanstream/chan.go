package chanstream

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/chanstream/chanstream/internal/group"
)

// Receiver delivers a [Reader]'s data on a channel, so that it can be
// received in a select next to other channels: tickers, other streams,
// ctx.Done(). C delivers the buffered bytes first, then the data as it
// arrives, and is closed at the end of the stream, on an error, when ctx is
// done or when Stop is called; [Receiver.Err] then tells why.
//
// C is buffered: the Receiver reads ahead of the consumer by up to cap(C)
// values, 16 lines or 2 chunks, so that a consumer takes many values per
// wake-up. Values in C that the consumer has not received yet still count
// as buffered, not read ([Reader.Buffered], [Reader.Stats], [Reader.AtEOF]).
//
// The reader's read deadline ([Reader.SetReadDeadline]) ends a Receiver
// only when it waits for data: C is then closed with Err
// [os.ErrDeadlineExceeded], and a new Receiver goes on once the deadline
// is cleared. Data already buffered is delivered past the deadline, and a
// Receiver waiting for room in C keeps waiting; use ctx to bound those.
//
// While a Receiver runs it holds the reader: other read calls wait until it
// stops. Nothing is lost when it stops early. When its ctx is done, a value
// it had read but not put in C goes back to the reader, and C is closed with
// what it holds still in it, as at the end of the stream or on an error:
// the consumer may go on receiving those values, and Stop (or a new
// Receiver on the same reader) gives back the ones it did not, in order and
// ahead of the data the reader still buffers, for the next read to return.
// Values the consumer has received are its own. Call Stop from the
// goroutine that receives from C, or once none does: a receive running at
// the same time as Stop could take a value that comes after one Stop gives
// back.
type Receiver struct {
	// C delivers the data. Values belong to the receiver of them, as the
	// slices returned by the read methods do.
	C <-chan []byte

	c        chan []byte // C, from which Stop takes back what it holds
	r        *Reader
	stop     context.CancelFunc
	done     chan struct{}
	stopOnce sync.Once
	stopped  atomic.Bool
	err      error // set before C is closed

	// The count of bytes read (see consumed): while the Receiver runs,
	// base plus the bytes of the values the consumer has received. cum
	// holds the running total of the bytes put in C, by value number
	// (cum[i&mask] is the total of values 1..i), and sent how many values
	// C has taken as far as the Receiver has counted them, so that the
	// values still in C are the last len(C) of them.
	base   int64 // the reader's consumed count when the Receiver started
	sent   atomic.Uint64
	cum    []atomic.Int64
	mask   uint64
	phase  atomic.Uint32
	frozen atomic.Int64 // the count while phaseGivingBack

	givenBack chan struct{} // closed once what C held went back to the reader
}

// The phases of a Receiver's count, in the order they are passed through.
const (
	phaseRunning    uint32 = iota // its goroutine sends on C
	phaseEnded                    // C is closed; the values in it are still counted as buffered
	phaseGivingBack               // what C held goes (or went) back to the reader
)

// lineChanBuffer is the capacity of a LineChan's C: how many lines the
// Receiver reads ahead of its consumer.
const lineChanBuffer = 16

// chunkChanBuffer is the capacity of a ChunkChan's C. A chunk holds up to
// 64 KiB: a few keep the consumer busy without holding much more memory than
// the reader's limit.
const chunkChanBuffer = 2

// receivers is a Reader's goroutines behind its Receivers, and the Receiver
// whose values are counted by the reader's consumed count (the last one
// started, until what its C held was given back or received).
type receivers struct {
	group.Group
	active atomic.Pointer[Receiver]
}

// helperGroup returns the group of the Receivers' goroutines, making it.
func (r *Reader) helperGroup() *receivers {
	if h := r.helpers.Load(); h != nil {
		return h
	}
	r.helpers.CompareAndSwap(nil, new(receivers))
	return r.helpers.Load()
}

// ChunkChan returns a [Receiver] delivering the data in pieces of at most 64
// KiB, as [Reader.ReadChunk] returns them.
func (r *Reader) ChunkChan(ctx context.Context) *Receiver {
	return r.startReceiver(ctx, chunkChanBuffer, func(ctx context.Context) ([]byte, error) {
		return r.readChunk(ctx, chunkSize)
	})
}

// Chunks is [Reader.ChunkChan].
//
// Deprecated: use [Reader.ChunkChan].
func (r *Reader) Chunks(ctx context.Context) *Receiver { return r.ChunkChan(ctx) }

// LineChan returns a [Receiver] delivering the data line by line, as
// [Reader.ReadLine] returns them. It stops at the first error, including a
// line over the limit; the lines before it are in C.
func (r *Reader) LineChan(ctx context.Context) *Receiver {
	return r.startReceiver(ctx, lineChanBuffer, r.readLine)
}

func (r *Reader) startReceiver(ctx context.Context, capacity int, read func(context.Context) ([]byte, error)) *Receiver {
	ctx, cancel := context.WithCancel(ctx)
	c := make(chan []byte, capacity)
	ring := 1
	for ring < 2*capacity+2 {
		ring *= 2
	}
	rc := &Receiver{
		C: c, c: c, r: r, stop: cancel, done: make(chan struct{}),
		cum: make([]atomic.Int64, ring), mask: uint64(ring - 1),
		givenBack: make(chan struct{}),
	}
	r.helperGroup().Go(func() {
		defer close(c) // last: Err is ready by the time C is closed
		defer close(rc.done)
		defer cancel() // an ended Receiver leaves nothing registered on the caller's ctx
		rc.err = rc.run(ctx, read)
	}, nil)
	return rc
}

// run is the Receiver's goroutine: read, send, repeat. A send first tries
// without blocking; only with C still full after yielding (sendAfterYield)
// does it wait in a select.
func (rc *Receiver) run(ctx context.Context, read func(context.Context) ([]byte, error)) error {
	r := rc.r
	if err := r.begin(ctx); err != nil {
		rc.phase.Store(phaseGivingBack) // never counted anything
		return err
	}
	h := r.helpers.Load()
	if old := h.active.Load(); old != nil && old.phase.Load() == phaseEnded {
		old.giveBack(nil) // before the data this one reads
	}
	rc.base = r.consumed
	h.active.Store(rc)

	var (
		c      = rc.c
		seq    uint64 // values put in C
		total  int64  // their bytes
		done   <-chan struct{}
		closed <-chan struct{}
	)
	for {
		data, err := read(ctx)
		if err != nil {
			if len(data) > 0 { // ReadChunk(-1)'s data with an error; not used here
				r.unread(data)
			}
			rc.phase.Store(phaseEnded)
			r.end()
			if len(c) == 0 {
				h.active.CompareAndSwap(rc, nil) // nothing left to count
			}
			return err
		}
		seq++
		total += int64(len(data))
		rc.cum[seq&rc.mask].Store(total)
		select {
		case c <- data:
		default:
			if sendAfterYield(c, data) {
				break
			}
			if done == nil {
				done, closed = ctx.Done(), r.closedChan()
			}
			select {
			case c <- data:
			case <-done:
				// The consumer may still be receiving from C: what C holds
				// stays there (Stop gives it back), and data, which comes
				// after it, goes back to the reader now.
				rc.phase.Store(phaseEnded)
				r.unread(data)
				r.end()
				return ctx.Err()
			case <-closed:
				rc.phase.Store(phaseEnded)
				r.unread(data) // dropped with the rest by the close
				r.end()
				return ErrClosed
			}
		}
		rc.sent.Store(seq)
	}
}

// yieldsWhenFull is how many times a Receiver that finds C full yields the
// processor and tries again before it waits in a select: the consumer is
// then most likely running, and frees several slots meanwhile, where a
// Receiver waiting on C would be woken for each value the consumer takes.
const yieldsWhenFull = 2

// sendAfterYield tries to send data on c after yielding the processor, up
// to yieldsWhenFull times, and reports whether it did.
func sendAfterYield(c chan<- []byte, data []byte) bool {
	for range yieldsWhenFull {
		runtime.Gosched()
		select {
		case c <- data:
			return true
		default:
		}
	}
	return false
}

// giveBack puts what C holds, then held (a value not put in C), back in
// front of the reader's data. It is called with the reader's gate held,
// once the Receiver's goroutine has ended, by Stop or a new Receiver; it
// does nothing the second time. A receive from C running at the same time
// may take a value after one that goes back: Stop's doc asks its caller to
// be the goroutine that receives from C, or to call it once none does.
func (rc *Receiver) giveBack(held []byte) {
	if rc.phase.Load() == phaseGivingBack {
		return
	}
	r := rc.r
	// Freeze the count before taking values out of C: taken out, they
	// would otherwise look received.
	rc.frozen.Store(rc.consumed())
	rc.phase.Store(phaseGivingBack)
	var back [][]byte
take:
	for {
		select {
		case v, ok := <-rc.c:
			if !ok {
				break take
			}
			back = append(back, v)
		default:
			break take
		}
	}
	if held != nil {
		back = append(back, held)
	}
	r.unreadAll(back)
	r.gate.publish(uint64(r.consumed)) // before the count is the gate's again
	r.helpers.Load().active.CompareAndSwap(rc, nil)
	close(rc.givenBack)
}

// drained reports whether rc has ended and the consumer has received all
// that C held: the reader's count is then its own again, and rc need not
// stay its active Receiver. C takes nothing more once rc has ended, so
// this stays true.
func (rc *Receiver) drained() bool {
	return rc.phase.Load() == phaseEnded && len(rc.c) == 0
}

// consumed returns the reader's count of bytes read while rc is its active
// Receiver: never more than the true count, so that AtEOF is never true and
// Buffered never low while a value is undelivered; it may lag behind for
// as long as a send takes.
func (rc *Receiver) consumed() int64 {
	for {
		phase := rc.phase.Load()
		var n int64
		switch phase {
		case phaseRunning:
			n = rc.base + rc.receivedBytes()
		case phaseEnded:
			// len(C) first: it only drops now, so what is subtracted
			// covers what C held when the gate's value was read.
			inC := uint64(len(rc.c))
			seq := rc.sent.Load()
			n = int64(rc.r.gate.value()) - (rc.cum[seq&rc.mask].Load() - rc.cum[(seq-inC)&rc.mask].Load())
		default:
			return rc.frozen.Load()
		}
		if rc.phase.Load() == phase {
			return n
		}
	}
}

// receivedBytes returns the bytes of the values the consumer has received
// from C, or fewer while a send is being counted.
func (rc *Receiver) receivedBytes() int64 {
	for {
		seq := rc.sent.Load() // first: C may hold values counted later, never fewer
		inC := uint64(len(rc.c))
		if inC >= seq {
			return 0
		}
		v := rc.cum[(seq-inC)&rc.mask].Load()
		// The goroutine writes cum[s+1] before it counts value s+1: if
		// it has counted so many values since that the slot read may
		// have been written again, look again.
		if rc.sent.Load()+1-(seq-inC) < uint64(len(rc.cum)) {
			return v
		}
	}
}

// unreadAll puts the slices of back, in order, in front of the buffered
// data.
func (r *Reader) unreadAll(back [][]byte) {
	for i := len(back) - 1; i >= 0; i-- {
		r.unread(back[i])
	}
}

// Err returns why C was closed: [io.EOF] at the end of the stream, the error
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

// Stop stops the [Receiver] and waits for its goroutine to finish. What C
// still holds and a value that was read but not put in C go back to the
// reader, in order, for the next read to return; C is then closed and empty.
// Call it from the goroutine that receives from C, or once none does: a
// receive running at the same time could take a value that comes after one
// Stop gives back. It may be called more than once, and after C was closed
// (by the end of the stream, an error or a done ctx): it then gives back
// what C still holds, if anything, waiting for a read call under way on the
// reader to finish. Once C is closed and empty, Stop has nothing left to do:
// the goroutine has returned, the Receiver's ctx is released, and the reader
// no longer refers to the Receiver from its next look at its counts
// ([Reader.Buffered], [Reader.Stats], [Reader.AtEOF]) on.
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
	if rc.phase.Load() != phaseEnded {
		return
	}
	r := rc.r
	if len(rc.c) == 0 {
		// C is closed and empty: nothing to give back, and the reader's
		// own count is right again.
		r.helpers.Load().active.CompareAndSwap(rc, nil)
		return
	}
	if !r.gate.tryLock() {
		// Stop waits its turn, unless another Receiver gives the values
		// back meanwhile or the reader is closed.
		if err := r.gate.lock(context.Background(), rc.givenBack, r.closedChan()); err != nil {
			return
		}
	}
	if !r.isClosed() {
		rc.giveBack(nil)
	}
	r.end()
}

// WriteFrom writes every slice received from ch, in order, until ch is
// closed, and returns how many bytes it queued. It stops early with ctx.Err()
// when ctx is done, or with the error of a failing write; data already
// queued is still sent. The slices waiting in ch when it takes one are
// queued with it as one write (see [Writer.WriteLines]), so that a burst
// costs one hand-off to the write pump.
func (w *Writer) WriteFrom(ctx context.Context, ch <-chan []byte) (int64, error) {
	var (
		total int64
		batch [][]byte
	)
	for {
		var p []byte
		ok := true
		select {
		case p, ok = <-ch:
		default:
			select {
			case p, ok = <-ch:
			case <-ctx.Done():
				return total, ctx.Err()
			}
		}
		if !ok {
			return total, nil
		}
		batch = append(batch[:0], p)
		size := len(p)
	more:
		for len(batch) < fromBatchLen && size < maxFromBatch {
			select {
			case q, more := <-ch:
				if !more {
					ok = false
					break more
				}
				batch = append(batch, q)
				size += len(q)
			default:
				break more
			}
		}
		n, err := w.write(ctx, batch)
		clear(batch) // the slices are the sender's again
		total += int64(n)
		if err != nil || !ok {
			return total, err
		}
	}
}

// WriteFrom's batches: up to fromBatchLen slices and, past that, as many as
// fit in maxFromBatch bytes.
const (
	fromBatchLen = 64
	maxFromBatch = 64 * 1024
)
