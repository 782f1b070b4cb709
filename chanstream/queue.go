package chanstream

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
)

// The producer queue: how chunks travel from a producer (the read pump, or
// Feed) to the Reader. Producers send on a bounded channel under endMu, so
// that a send and the end of the stream are ordered; the consumer takes in
// what waits there (drain) or waits for it (wait), and gives a producer
// blocked on a full channel a token of room (signalRoom).

// chunkQueue is how many chunks may wait in a Reader's chunk channel. For a
// connection's reader the bytes waiting there stay near the limit (with the
// default limit, one chunk of 64 KiB), and the Reader itself holds at most
// about another limit while it looks for a separator. A standalone Reader is
// fed by its owner, who already holds the data: it may queue more before
// Feed blocks.
func chunkQueue(limit int, fedByConn bool) int {
	if !fedByConn {
		return maxChunkQueue
	}
	return min(max(1, limit/readChunkSize(limit)), maxChunkQueue)
}

const maxChunkQueue = 16

// A chunkChan is a Reader's channel of chunks, with what only its
// producers use, behind a pointer so that a stream whose socket is read by
// its read calls need not make it.
type chunkChan struct {
	ch          chan *chunk
	room        chan struct{} // Reader.endMu: one token: the consumer took chunks while a producer waited
	tail        *chunk        // Reader.endMu: the chunk Feed sent last, which may take more bytes
	held        *chunk        // Reader.endMu: the chunk the read pump holds, counted, while the channel is full
	heldAtEnd   *chunk        // Reader.endMu: held, handed to the consumer by finish
	roomWaiters atomic.Int32
}

// chunkCh returns the channel of chunks, or nil if it has not been made.
func (r *Reader) chunkCh() chan *chunk {
	if cc := r.chunks.Load(); cc != nil {
		return cc.ch
	}
	return nil
}

// makeChunks makes the channel of chunks if it has not been made. A
// stream calls it, with its mu held, before it starts a pump.
func (r *Reader) makeChunks() {
	if r.chunks.Load() == nil {
		r.chunks.Store(&chunkChan{ch: make(chan *chunk, chunkQueue(r.limit, r.fedByConn))})
	}
}

// Feed hands a copy of p to the reader (asyncio's feed_data); it does not
// retain p. It blocks while the reader's chunk channel is full, and returns
// ctx.Err() if ctx is done first, in which case nothing of p was fed: a Feed
// is all or nothing. Feed after [Reader.FeedEOF] or [Reader.FeedError]
// returns [ErrFeedAfterEOF] and on the [Reader] of a [Stream]
// [ErrFeedConnected]. Small pieces fed in a row share one chunk, so feeding
// byte by byte does not fill the channel.
func (r *Reader) Feed(ctx context.Context, p []byte) error {
	if r.fedByConn {
		return ErrFeedConnected
	}
	r.endMu.Lock()
	if r.ended {
		r.endMu.Unlock()
		return ErrFeedAfterEOF
	}
	if len(p) == 0 {
		r.endMu.Unlock()
		return nil
	}
	if t := r.chunks.Load().tail; t != nil && t.room() >= len(p) { // made by NewReader
		// The chunk sent last is still in the channel (the consumer clears
		// tail under endMu when it receives it): add to it.
		t.append(p)
		r.received.Add(int64(len(p)))
		r.endMu.Unlock()
		return nil
	}
	r.endMu.Unlock()
	c := getChunk(len(p))
	c.append(p)
	if err := r.commit(ctx, c, nil, nil); err != nil {
		putChunk(c)
		return err
	}
	return nil
}

// FeedEOF marks the end of the data (asyncio's feed_eof). Reads return the
// buffered bytes, then report EOF. It never blocks; after the first FeedEOF
// or [Reader.FeedError] it does nothing.
func (r *Reader) FeedEOF() { r.finish(io.EOF) }

// FeedError ends the data with err (asyncio's set_exception): reads return
// the buffered bytes first, then err (FeedError(nil) is [Reader.FeedEOF]).
// It never blocks; after the first FeedEOF or FeedError it does nothing.
func (r *Reader) FeedError(err error) {
	if err == nil {
		err = io.EOF
	}
	r.finish(err)
}

func (r *Reader) finish(err error) {
	r.endMu.Lock()
	if r.ended {
		r.endMu.Unlock()
		return
	}
	r.ended, r.endErr = true, err
	if cc := r.chunks.Load(); cc != nil {
		cc.tail = nil
		// The chunk the read pump holds was received: it is read before
		// the end.
		cc.heldAtEnd, cc.held = cc.held, nil
	}
	if err == io.EOF {
		r.flags.Or(readerEOFFed)
	}
	r.flags.Or(readerEnded)
	if r.endCh != nil {
		close(r.endCh)
	}
	r.endMu.Unlock()
	if r.src != nil {
		r.src.wake() // a read call reading the socket stops
	}
}

// commit sends c on the chunk channel, waiting while it is full. It gives up
// with ctx.Err(), with ErrClosed when closed is closed, with errDetached
// when detach is, or with ErrFeedAfterEOF once the stream has ended.
//
// A chunk the read pump holds while it waits was received from the
// connection: its bytes count as received (Buffered, Stats) from the time
// it waits, and are read as the others are: a FeedEOF or FeedError that
// ends the stream meanwhile hands the chunk to the consumer (commit then
// returns errHandedOver), and Detach makes it the stream's leftover. A
// chunk Feed holds does not count until it is sent: a Feed whose ctx ends
// feeds nothing.
func (r *Reader) commit(ctx context.Context, c *chunk, closed, detach <-chan struct{}) error {
	cc := r.chunks.Load() // made before any producer runs
	waited, counted := false, false
	for {
		sent, err := r.trySend(c, counted)
		if !sent && err == nil && r.fedByConn && !counted {
			counted = r.countHeld(c)
		}
		if !sent && err == nil {
			// Register as a waiter, then look again, so that a consumer
			// taking a chunk in between cannot miss us. The room channel
			// is made first: signalRoom uses it once it sees a waiter.
			r.endMu.Lock()
			if cc.room == nil {
				cc.room = make(chan struct{}, 1)
			}
			room := cc.room
			r.endMu.Unlock()
			cc.roomWaiters.Add(1)
			sent, err = r.trySend(c, counted)
			if !sent && err == nil {
				select {
				case <-room:
				case <-r.endChan():
				case <-closed:
					err = ErrClosed
				case <-detach:
					err = errDetached
				case <-ctx.Done():
					err = ctx.Err()
				}
				waited = true
			}
			cc.roomWaiters.Add(-1)
		}
		if sent {
			if waited {
				r.signalRoom() // pass the token on to another waiting producer
			}
			return nil
		}
		if err != nil {
			if counted {
				return r.releaseHeld(c, err)
			}
			return err
		}
	}
}

// errHandedOver is commit's report that the stream ended while the read
// pump held c, and finish handed c to the consumer: it is no longer the
// pump's.
var errHandedOver = errors.New("chanstream: the chunk was handed to the reader at the end")

// countHeld counts c, which the read pump holds, as received, unless the
// stream has ended (c will be dropped). It reports whether it did.
func (r *Reader) countHeld(c *chunk) bool {
	r.endMu.Lock()
	defer r.endMu.Unlock()
	if r.ended {
		return false
	}
	r.received.Add(int64(c.len()))
	r.chunks.Load().held = c
	return true
}

// releaseHeld ends the wait of a counted chunk c that commit gives up on
// with err: errHandedOver if finish took it, else err, and c's bytes are
// uncounted unless Detach keeps them (the stream's leftover).
func (r *Reader) releaseHeld(c *chunk, err error) error {
	r.endMu.Lock()
	defer r.endMu.Unlock()
	cc := r.chunks.Load()
	if cc.held != c {
		return errHandedOver
	}
	cc.held = nil
	if err != errDetached {
		r.received.Add(-int64(c.len())) // dropped: it will never be read
	}
	return err
}

// takeEnd takes in, once the stream has ended, every chunk committed
// before the end, and the chunk the read pump held then.
func (r *Reader) takeEnd() {
	r.drain()
	r.endMu.Lock()
	cc := r.chunks.Load()
	var c *chunk
	if cc != nil {
		c, cc.heldAtEnd = cc.heldAtEnd, nil
	}
	r.endMu.Unlock()
	if c != nil {
		r.push(c)
	}
	r.atEnd = true
}

// trySend sends c on the chunk channel if there is room. counted reports
// that c's bytes are counted as received already (countHeld).
func (r *Reader) trySend(c *chunk, counted bool) (bool, error) {
	r.endMu.Lock()
	defer r.endMu.Unlock()
	if r.ended {
		return false, ErrFeedAfterEOF
	}
	// Count the bytes before the consumer can see them, so that consumed
	// never passes received; c belongs to the consumer once sent.
	n := int64(c.len())
	if !counted {
		r.received.Add(n)
	}
	cc := r.chunks.Load()
	select {
	case cc.ch <- c:
		if !r.fedByConn {
			cc.tail = c
		}
		if counted {
			cc.held = nil
		}
		return true, nil
	default:
		if !counted {
			r.received.Add(-n)
		}
		return false, nil
	}
}

func (r *Reader) signalRoom() {
	if cc := r.chunks.Load(); cc != nil && cc.roomWaiters.Load() > 0 {
		select {
		case cc.room <- struct{}{}:
		default:
		}
	}
}

// receive takes in a chunk from the channel.
func (r *Reader) receive(c *chunk) {
	if !r.fedByConn {
		r.endMu.Lock()
		if cc := r.chunks.Load(); cc.tail == c {
			cc.tail = nil // Feed must not add to it any more
		}
		r.endMu.Unlock()
	}
	r.push(c)
}

// drain takes in every chunk already waiting, without blocking, and reports
// whether there was any.
func (r *Reader) drain() bool {
	ch := r.chunkCh()
	if len(ch) == 0 {
		return false // most often, on a socket read in the reader's goroutine
	}
	got := false
	for {
		select {
		case c := <-ch:
			r.receive(c)
			got = true
		default:
			if got {
				r.signalRoom()
			}
			return got
		}
	}
}

// wait waits on the chunk channel for more data, as fill.
func (r *Reader) wait(ctx context.Context) error {
	select {
	case c := <-r.chunkCh():
		r.receive(c)
		r.drain()
		r.signalRoom()
	case <-r.endChan():
		// Every chunk committed before the end is in the channel by now.
		r.takeEnd()
	case <-ctx.Done():
		return ctx.Err()
	case <-r.closedChan():
		return ErrClosed
	case <-r.deadline.done():
		return errDeadline
	}
	return nil
}

// endChan returns a channel closed at the end of the stream.
func (r *Reader) endChan() <-chan struct{} {
	r.endMu.Lock()
	defer r.endMu.Unlock()
	if r.endCh == nil {
		if r.ended {
			return closedChan
		}
		r.endCh = make(chan struct{})
	}
	return r.endCh
}
