package chanstream

import (
	"context"
	"crypto/tls"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// wbufSize is the size of the buffers Write copies into; small writes share
// one, so the pump hands the kernel few large pieces.
const wbufSize = 32 * 1024

// minPiece is the least a Write queues at a time once there is room below
// the high watermark, so that a large Write near the watermark does not
// crawl forward a few bytes at a time.
const minPiece = 4 * 1024

// A wbuf is one write buffer: buf[:w] has been written into by Write, and
// buf[:taken] handed to the write pump.
type wbuf struct {
	buf      []byte
	w, taken int
}

var wbufPool = sync.Pool{New: func() any { return &wbuf{buf: make([]byte, wbufSize)} }}

func putWbuf(b *wbuf) {
	b.w, b.taken = 0, 0
	wbufPool.Put(b)
}

type writeState uint8

// The states of a Writer, in the order they are passed through.
const (
	writeOpen      writeState = iota
	writeEOFQueued            // WriteEOF: the data before it is being sent
	writeEOFSent              // the write half is closed (CloseWrite done)
	writeClosing              // Close: the queue is being sent, then the connection closes
	writeClosed               // the connection is closed (or Abort)
)

type closeWriter interface{ CloseWrite() error }

// Writer is the write half of a stream: asyncio's StreamWriter. Write copies
// the data into a queue and returns; a write pump goroutine, started when
// there is something to send and gone when the queue is empty, sends
// everything queued in one writev ([net.Buffers]) whenever the connection
// can take it. As asyncio's write, a Write on a TCP or Unix socket with
// nothing queued that answers a read or follows a Drain (see Write) first
// tries to send its data at once, and queues only what the socket does not
// take; the further writes of a burst are queued, so that the pump sends
// them in one writev where asyncio makes a system call each. Backpressure is
// by capacity: Write blocks while the queued-but-unsent bytes are at or
// above the high watermark, and Drain waits until they are at or below the
// low one.
//
// Write methods may be called from several goroutines: each call's data is
// queued whole, never interleaved with another call's. Drain may be called
// from any number of goroutines at once.
type Writer struct {
	s          *Stream
	high, low  int
	eofAbility atomic.Uint32 // can the connection half-close: eofYes, eofNo or eofAsk

	// direct reports that a Write may go to the socket at once: a read
	// waited for data since the last write, so this one is likely an
	// answer, and no burst of small writes is under way.
	direct atomic.Bool

	gate     gate // serialises write calls, so that each is queued whole
	deadline deadline

	mu            sync.Mutex
	state         writeState
	closeNotified bool        // the state went to writeEOFQueued to answer a TLS 1.2 peer's close_notify
	busy          bool        // the pump runs: it looks at the queue again before it stops
	wasAborted    bool        // Abort was called
	run           *attachment // the connection written to; nil while detached
	q             *writeQueue // made by the first write that queues data, or call that waits (queueLocked)
	pending       int         // bytes queued or being written, not yet sent
	err           error       // why the connection broke, sticky

	written atomic.Int64
	waits   atomic.Int64
}

// A writeQueue is what a Writer needs once it queues data or a call waits,
// apart from the Writer: a stream whose writes all go to the socket at once
// (Write's direct path) and that nobody waits on never makes it. It is
// guarded by Writer.mu, but for iov and vec. pending > 0 implies that it
// has been made.
type writeQueue struct {
	bufs     []*wbuf       // queued data; the last buffer may take more
	space    chan struct{} // closed when pending drops below high
	lowWater chan struct{} // closed when pending drops to low or below
	flushed  chan struct{} // closed when pending drops to 0
	closedCh chan struct{} // closed by Close and Abort; made when first asked for (closedChanLocked)
	aborted  chan struct{} // closed by Abort; made when first asked for (abortedChan)
	eofAsked chan struct{} // closed by WriteEOF; made by ReadFrom for its duration
	iov      [][]byte      // the pump's, for each writev
	vec      net.Buffers   // the pump's: iov as WriteTo consumes it, kept here so that it does not escape on each writev
}

// queueLocked returns the write queue, making it if need be.
func (w *Writer) queueLocked() *writeQueue {
	if w.q == nil {
		w.q = new(writeQueue)
	}
	return w.q
}

// init makes w the new Writer of s, in place: it is part of the Stream.
func (w *Writer) init(s *Stream, cfg config) {
	w.s, w.high, w.low = s, cfg.writeHigh, cfg.writeLow
}

// tlsConn is what the stream needs of a TLS connection: *tls.Conn and
// tlsupgrade.Conn have it.
type tlsConn interface {
	ConnectionState() tls.ConnectionState
	CloseWrite() error // sends close_notify
	SetWriteDeadline(time.Time) error
}

// Whether a Writer's connection can half-close (Writer.eofAbility).
const (
	eofNo  uint32 = iota // it cannot, for good
	eofYes               // it can, for good
	eofAsk               // not known yet: ask the connection again (canWriteEOF)
)

// canWriteEOF reports whether conn can half-close: eofYes, eofNo, or eofAsk
// while the answer may still change. A TLS connection can only on TLS 1.3,
// where close_notify closes one direction and reading goes on (RFC 8446
// §6.1); on TLS 1.2 close_notify ends the whole connection. The version is
// known once the handshake is done: until then the answer is eofAsk, and the
// read pump settles it (learnWriteEOF). A connection with its own
// CanWriteEOF (a Stream, perhaps over such a TLS connection) is asked again
// while it says no.
func canWriteEOF(conn net.Conn) uint32 {
	switch conn.(type) {
	case *net.TCPConn, *net.UnixConn:
		return eofYes
	}
	if tc, ok := conn.(tlsConn); ok {
		return tlsCanWriteEOF(tc)
	}
	if c, ok := conn.(interface{ CanWriteEOF() bool }); ok {
		if c.CanWriteEOF() {
			return eofYes
		}
		return eofAsk
	}
	if _, ok := conn.(closeWriter); ok {
		return eofYes
	}
	return eofNo
}

// tlsCanWriteEOF is canWriteEOF for TLS. Its frame holds a
// tls.ConnectionState: keeping it out of canWriteEOF keeps the goroutine
// that makes a stream on a socket within its first stack. ConnectionState
// waits for a handshake under way.
//
//go:noinline
func tlsCanWriteEOF(tc tlsConn) uint32 {
	st := tc.ConnectionState()
	switch {
	case !st.HandshakeComplete:
		return eofAsk
	case st.Version == tls.VersionTLS13:
		return eofYes
	}
	return eofNo
}

// learnWriteEOF is called by the read pump of a TLS connection made before
// its handshake, once the handshake is done: the version is known.
func (w *Writer) learnWriteEOF(tc tlsConn) {
	w.eofAbility.CompareAndSwap(eofAsk, tlsCanWriteEOF(tc))
}

// canWriteEOFLocked is CanWriteEOF with w.mu held. It never waits: a TLS
// connection is not asked (its ConnectionState would wait for the
// handshake), the read pump tells; another connection whose answer was
// not final is asked again.
func (w *Writer) canWriteEOFLocked() bool {
	ability := w.eofAbility.Load()
	if ability == eofAsk && w.run != nil {
		if _, ok := w.run.conn.(tlsConn); !ok {
			ability = canWriteEOF(w.run.conn)
			if ability != eofAsk {
				w.eofAbility.Store(ability)
			}
		}
	}
	return ability == eofYes
}

// stateErrLocked returns why data cannot be queued now, or nil.
func (w *Writer) stateErrLocked() error {
	switch {
	case w.state >= writeClosing:
		return ErrClosed
	case w.err != nil:
		return w.err
	case w.state >= writeEOFQueued:
		if w.closeNotified {
			return ErrWriteAfterCloseNotify
		}
		return ErrWriteAfterEOF
	}
	return nil
}

// answerCloseNotify ends writing after a TLS 1.2 peer's close_notify: what
// is queued is still sent, then the stream's own close_notify, as WriteEOF
// sends it (RFC 5246 §7.2.1: the other party must respond with a
// close_notify; asyncio's SSL transport does at once). Reading is not
// affected: the reader returns what it holds, then io.EOF.
func (w *Writer) answerCloseNotify() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state >= writeEOFQueued || w.err != nil {
		return // already ending, or broken
	}
	w.state, w.closeNotified = writeEOFQueued, true
	w.kickLocked()
}

// Write queues a copy of p to be sent and returns len(p), blocking while the
// queued-but-unsent bytes are at or above the high watermark (asyncio's
// write, with drain's backpressure built in). On a TCP or Unix socket with
// nothing queued, a Write that answers a read (the first Write after a read
// waited for data, or after a Drain that found everything sent, or the
// stream's first) sends p at once, as far as the socket takes it without
// blocking, and queues only the rest: a request-response exchange, or a
// Write + Drain loop, then costs no hand-off to the pump. A large p is
// queued piece by piece as the pump sends, so the memory held stays near the
// watermark. It fails with [ErrClosed] after Close (even for an empty p),
// [ErrWriteAfterEOF] after [Writer.WriteEOF], the connection's error once it
// broke, and an error matching [os.ErrDeadlineExceeded] once the write
// deadline passed; then n is what was queued before. Write(nil) on a working
// writer does nothing.
func (w *Writer) Write(p []byte) (int, error) {
	return w.write(context.Background(), [][]byte{p})
}

// WriteContext is Write with a ctx: if ctx is done while the call waits at
// the watermark, it returns how much of p it had queued (that part will be
// sent; the rest was not queued) and ctx.Err(). A ctx that is already done
// when WriteContext is called queues nothing, even when p would fit: it
// returns 0 and ctx.Err(), or the writer's own error first ([ErrClosed]
// after Close, the connection's error, [os.ErrDeadlineExceeded] past the
// write deadline), as Write would. An empty p ignores ctx and reports only
// the writer's state, as Write(nil) does. To queue a message whole or not at
// all without blocking, use [Writer.TryWrite].
func (w *Writer) WriteContext(ctx context.Context, p []byte) (int, error) {
	return w.write(ctx, [][]byte{p})
}

// TryWrite queues a copy of p whole, or nothing, without blocking: the write
// a broadcaster makes to each of many streams so that one slow peer neither
// holds up the others nor gets a message cut in two. It reports ok when p
// was queued (on a TCP or Unix socket it may have been sent at once, as by
// Write). It queues p when nothing is queued yet, whatever len(p), or when
// the bytes queued would then stay at or below the high watermark (see
// [Writer.WriteBufferLimits]); otherwise, and while another write call is
// under way (a Write waiting at the watermark, a [Writer.ReadFrom]), it
// returns false and a nil error, and the caller may drop p, retry after
// [Writer.Drain], or close the stream. It fails with ok false and the same
// errors as Write: [ErrClosed] after Close (even for an empty p),
// [ErrWriteAfterEOF] after [Writer.WriteEOF], the connection's error once it
// broke, and an error matching [os.ErrDeadlineExceeded] once the write
// deadline passed. An empty p on a working writer reports true.
func (w *Writer) TryWrite(p []byte) (ok bool, err error) {
	w.mu.Lock()
	if err := w.stateErrLocked(); err != nil {
		w.mu.Unlock()
		return false, err
	}
	if w.deadline.expired.Load() {
		w.mu.Unlock()
		return false, errDeadline
	}
	if len(p) == 0 {
		w.mu.Unlock()
		return true, nil
	}
	// A write call holding the gate may be part way through its data:
	// queuing p now would cut into it.
	if w.gate.state.Load()&gateBits != gateUnlocked || (w.pending > 0 && w.pending+len(p) > w.high) {
		w.mu.Unlock()
		return false, nil
	}
	direct := w.direct.Load() && w.direct.Swap(false)
	if direct && w.pending == 0 && !w.busy && w.run != nil && w.run.isSocket() {
		_, err := w.writeDirectLocked(p) // queues what the socket did not take
		return err == nil, err
	}
	w.enqueueLocked(p)
	w.kickLocked()
	w.mu.Unlock()
	return true, nil
}

// WriteBufferLimits returns the write-buffer watermarks, in the order
// [WithWriteBufferLimits] takes them: Write blocks while high or more bytes
// are queued but unsent, and Drain waits until no more than low are. It is
// asyncio's transport.get_write_buffer_limits, which returns them the other
// way round, as (low, high). They are fixed when the stream is made.
func (w *Writer) WriteBufferLimits() (high, low int) { return w.high, w.low }

// WriteLines queues every line as one write (asyncio's writelines): the
// lines are queued whole and together, and sent in one writev when they fit
// below the watermark. It blocks and fails as Write does; when lines over
// the watermark fail partway (a deadline, Close), what was queued before the
// failure is still sent, and WriteLines cannot say how much: use Write or
// [Writer.WriteContext] on the joined lines where that count matters.
func (w *Writer) WriteLines(lines ...[]byte) error {
	_, err := w.write(context.Background(), lines)
	return err
}

func (w *Writer) write(ctx context.Context, bufs [][]byte) (int, error) {
	total := 0
	for _, p := range bufs {
		total += len(p)
	}
	if total == 0 {
		w.mu.Lock()
		err := w.stateErrLocked()
		w.mu.Unlock()
		return 0, err
	}
	if err := w.doneErr(ctx); err != nil {
		return 0, err
	}
	// Fast path: the data fits below the watermark and no other write is
	// under way (one waiting at the watermark holds the gate), so it can
	// be queued whole under the queue's lock alone.
	w.mu.Lock()
	if err := w.stateErrLocked(); err != nil {
		w.mu.Unlock()
		return 0, err
	}
	direct := w.direct.Load() && w.direct.Swap(false)
	if w.gate.state.Load()&gateBits == gateUnlocked && (w.pending == 0 || w.pending < w.high) && total <= max(w.high-w.pending, minPiece) {
		if direct && len(bufs) == 1 && w.pending == 0 && !w.busy && w.run != nil && w.run.isSocket() {
			return w.writeDirectLocked(bufs[0])
		}
		for _, p := range bufs {
			w.enqueueLocked(p)
		}
		w.kickLocked()
		w.mu.Unlock()
		return total, nil
	}
	w.mu.Unlock()
	return w.writeSlow(ctx, bufs)
}

// writeSlow is write when the data does not fit below the watermark, or
// another write is under way: it takes the writers' gate, and queues the
// data piece by piece as the pump makes room. (Apart from write, whose fast
// path then has no deferred call to pay for.)
func (w *Writer) writeSlow(ctx context.Context, bufs [][]byte) (int, error) {
	if err := w.lockGate(ctx); err != nil {
		return 0, err
	}
	defer w.gate.unlock(0)

	n := 0
	w.mu.Lock()
	for _, p := range bufs {
		for len(p) > 0 {
			if err := w.stateErrLocked(); err != nil {
				w.mu.Unlock()
				return n, err
			}
			if w.pending > 0 && w.pending >= w.high {
				if err := w.waitSpaceLocked(ctx, nil); err != nil {
					return n, err
				}
				w.mu.Lock()
				continue
			}
			k := min(len(p), max(w.high-w.pending, minPiece))
			w.enqueueLocked(p[:k])
			p = p[k:]
			n += k
		}
	}
	w.kickLocked()
	w.mu.Unlock()
	return n, nil
}

// writeDirectLocked writes p to the socket at once, from the caller's
// goroutine, as far as the socket takes it without blocking, and queues the
// rest. It is called with w.mu held, with nothing queued and nothing being
// written, and releases it. w.mu stays held over the system call, which
// does not block: so no other write can queue its data before the rest of
// p, and neither the pump, nor WriteEOF or Close, can act on the
// connection meanwhile.
func (w *Writer) writeDirectLocked(p []byte) (int, error) {
	n, err := w.run.sw.write(&w.run.socket, p)
	w.written.Add(int64(n))
	switch {
	case err != nil:
		w.failLocked(err) // reported by the next call, as the pump's errors
	case n < len(p):
		w.enqueueLocked(p[n:])
		w.kickLocked()
	}
	w.mu.Unlock()
	return len(p), nil
}

// doneErr reports why a write cannot start because its deadline passed or
// its ctx is done; a closed or broken writer says so first, whatever the ctx,
// as reads do. It asks ctx for Err rather than Done, which may make a
// channel.
func (w *Writer) doneErr(ctx context.Context) error {
	expired := w.deadline.expired.Load()
	if !expired && ctx.Err() == nil {
		return nil
	}
	w.mu.Lock()
	err := w.stateErrLocked()
	w.mu.Unlock()
	switch {
	case err != nil:
		return err
	case expired:
		return errDeadline
	}
	return ctx.Err()
}

// lockGate waits for the writers' gate.
func (w *Writer) lockGate(ctx context.Context) error {
	if w.gate.tryLock() {
		return nil
	}
	w.mu.Lock()
	closed := w.closedChanLocked()
	w.mu.Unlock()
	return w.gate.lock(ctx, closed, w.deadline.done())
}

// waitFlushed waits until every queued byte has been sent.
func (w *Writer) waitFlushed(ctx context.Context) error {
	for {
		w.mu.Lock()
		if err := w.stateErrLocked(); err != nil {
			w.mu.Unlock()
			return err
		}
		if w.pending == 0 {
			w.mu.Unlock()
			return nil
		}
		q := w.queueLocked()
		if q.flushed == nil {
			q.flushed = make(chan struct{})
		}
		flushed, closed := q.flushed, w.closedChanLocked()
		w.mu.Unlock()
		select {
		case <-flushed:
		case <-ctx.Done():
			return ctx.Err()
		case <-closed:
			return ErrClosed
		}
	}
}

// waitSpaceLocked waits, with w.mu released, until the queue drops below the
// high watermark, or until wake (if not nil) is closed. It returns with
// w.mu unlocked.
func (w *Writer) waitSpaceLocked(ctx context.Context, wake <-chan struct{}) error {
	q := w.queueLocked()
	if q.space == nil {
		q.space = make(chan struct{})
	}
	space, closed := q.space, w.closedChanLocked()
	w.kickLocked()
	w.waits.Add(1)
	w.mu.Unlock()
	select {
	case <-space:
		return nil
	case <-wake:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-closed:
		return ErrClosed
	case <-w.deadline.done():
		return errDeadline
	}
}

// enqueueLocked copies p into the queue.
func (w *Writer) enqueueLocked(p []byte) {
	w.pending += len(p)
	q := w.queueLocked()
	for len(p) > 0 {
		var b *wbuf
		if k := len(q.bufs); k > 0 && q.bufs[k-1].w < len(q.bufs[k-1].buf) {
			b = q.bufs[k-1]
		} else {
			b = wbufPool.Get().(*wbuf)
			q.bufs = append(q.bufs, b)
		}
		n := copy(b.buf[b.w:], p)
		b.w += n
		p = p[n:]
	}
}

// kickLocked makes sure that what is queued will be sent, and that a
// WriteEOF or Close will be carried out: it starts the pump unless it runs
// already. While the stream is detached there is no pump; Attach starts it.
func (w *Writer) kickLocked() {
	if w.busy || w.run == nil || (w.pending == 0 && w.state != writeEOFQueued && w.state != writeClosing) {
		return
	}
	w.busy = true
	a := w.run
	w.s.pumps.Go(func() { w.flush(a) }, w.s.pumpPanicked)
}

// Drain waits until the queued-but-unsent bytes are at or below the low
// watermark (asyncio's drain), returning at once when they already are. It
// returns the connection's error if it broke, [ErrClosed] after Close,
// ctx.Err() if ctx is done first, or an error matching
// [os.ErrDeadlineExceeded] when the write deadline passes. Any number of
// goroutines may call it at once.
func (w *Writer) Drain(ctx context.Context) error {
	for {
		w.mu.Lock()
		switch {
		case w.state >= writeClosing:
			w.mu.Unlock()
			return ErrClosed
		case w.err != nil:
			err := w.err
			w.mu.Unlock()
			return err
		case w.pending <= w.low:
			if w.pending == 0 && !w.direct.Load() {
				// Everything was sent: the caller is in step with the
				// connection, so its next Write (asyncio's write after
				// drain) goes to the socket at once.
				w.direct.Store(true)
			}
			w.mu.Unlock()
			return nil
		}
		q := w.queueLocked()
		if q.lowWater == nil {
			q.lowWater = make(chan struct{})
		}
		lowWater, closed := q.lowWater, w.closedChanLocked()
		w.mu.Unlock()
		select {
		case <-lowWater:
		case <-ctx.Done():
			return ctx.Err()
		case <-closed:
			return ErrClosed
		case <-w.deadline.done():
			return errDeadline
		}
	}
}

// flush is the write pump, started by kickLocked: it writes until the queue
// is empty, closes the write half or the connection when asked to once it
// is, and returns. It reports false when the writer is done for good.
func (w *Writer) flush(a *attachment) bool {
	yields := 0
	for {
		w.mu.Lock()
		if w.state == writeClosed {
			w.mu.Unlock()
			return false
		}
		q := w.q // nil if nothing was ever queued nor waited for; else set for good
		var bufs [][]byte
		if q != nil {
			bufs = w.takeLocked(q.iov[:0])
		}
		if len(bufs) == 0 {
			switch w.state {
			case writeClosing:
				w.state = writeClosed
				w.mu.Unlock()
				w.s.shutdownConn(a)
				return false
			case writeEOFQueued:
				w.mu.Unlock()
				err := a.conn.(closeWriter).CloseWrite()
				w.mu.Lock()
				if w.state == writeEOFQueued {
					w.state = writeEOFSent
				}
				if err != nil {
					w.failLocked(err)
				}
				w.mu.Unlock()
				continue // Close may have come meanwhile
			}
			if yields < pumpYields {
				// A writer in the middle of a burst of small writes is
				// likely to queue more at once: look again rather than
				// stop and be started again.
				yields++
				w.mu.Unlock()
				runtime.Gosched()
				continue
			}
			w.busy = false
			w.releaseAllLocked() // an idle writer holds no buffer
			w.mu.Unlock()
			return true
		}
		w.mu.Unlock()
		yields = 0

		q.vec = bufs
		n, err := q.vec.WriteTo(a.conn)
		q.vec = nil
		clear(bufs)
		q.iov = bufs[:0]

		w.mu.Lock()
		if w.state == writeClosed { // aborted while writing
			w.mu.Unlock()
			return false
		}
		// If the read pump saw the connection break meanwhile, failLocked
		// dropped the whole queue, these bytes with it.
		if w.err == nil {
			w.pending -= int(n)
		}
		w.written.Add(n)
		if err != nil {
			w.failLocked(err)
		} else {
			w.releaseLocked()
		}
		w.signalLocked()
		w.mu.Unlock()
	}
}

// takeLocked appends to iov every queued byte not yet handed to the pump.
// The queue has been made.
func (w *Writer) takeLocked(iov [][]byte) [][]byte {
	for _, b := range w.q.bufs {
		if b.taken < b.w {
			iov = append(iov, b.buf[b.taken:b.w])
			b.taken = b.w
		}
	}
	return iov
}

// releaseLocked recycles the buffers the pump has sent. The last buffer may
// still take more data: it is kept, and rewound when it has been sent whole.
func (w *Writer) releaseLocked() {
	q := w.q // made: the pump has sent data
	k := 0
	for k < len(q.bufs)-1 && q.bufs[k].taken == q.bufs[k].w {
		putWbuf(q.bufs[k])
		k++
	}
	if k > 0 {
		n := copy(q.bufs, q.bufs[k:])
		clear(q.bufs[n:])
		q.bufs = q.bufs[:n]
	}
	if len(q.bufs) == 1 {
		if b := q.bufs[0]; b.taken == b.w {
			b.taken, b.w = 0, 0
		}
	}
}

// pumpYields is how many times the write pump yields the processor and
// looks at its empty queue again before it stops.
const pumpYields = 4

// releaseAllLocked recycles every buffer of a queue that has been sent.
func (w *Writer) releaseAllLocked() {
	if q := w.q; q != nil {
		for _, b := range q.bufs {
			putWbuf(b)
		}
		clear(q.bufs)
		q.bufs = q.bufs[:0]
	}
}

// signalLocked wakes the writers and drainers that can go on.
func (w *Writer) signalLocked() {
	q := w.q
	if q == nil {
		return // nobody ever waited
	}
	if q.space != nil && (w.pending < w.high || w.pending == 0) {
		close(q.space)
		q.space = nil
	}
	if q.lowWater != nil && w.pending <= w.low {
		close(q.lowWater)
		q.lowWater = nil
	}
	if q.flushed != nil && w.pending == 0 {
		close(q.flushed)
		q.flushed = nil
	}
}

// failLocked records that the connection broke: queued data is dropped and
// every waiter wakes to see err.
func (w *Writer) failLocked(err error) {
	if w.err == nil {
		w.err = err
	}
	if w.busy {
		// The pump may be writing from the buffers (the read pump saw the
		// break): they are left to the garbage collector, as by abort,
		// not recycled under it.
		if q := w.q; q != nil {
			clear(q.bufs)
			q.bufs = q.bufs[:0]
		}
	} else {
		w.releaseAllLocked() // drops the queued data, recycling its buffers
	}
	w.pending = 0
	w.signalLocked()
}

// fail is failLocked for the read pump, which saw the connection break.
func (w *Writer) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state < writeClosing {
		w.failLocked(err)
	}
}

// WriteEOF closes the write half of the stream once the data queued before
// it has been sent (asyncio's write_eof); reading goes on. It returns at
// once. Later writes fail with [ErrWriteAfterEOF]. It returns
// [ErrWriteEOFUnsupported] when [Writer.CanWriteEOF] is false, and
// [ErrClosed] after Close; a second WriteEOF does nothing.
func (w *Writer) WriteEOF() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.state >= writeClosing:
		return ErrClosed
	case w.err != nil:
		return w.err
	case w.state >= writeEOFQueued:
		return nil
	case !w.canWriteEOFLocked():
		return ErrWriteEOFUnsupported
	}
	w.state = writeEOFQueued
	if q := w.q; q != nil && q.eofAsked != nil {
		close(q.eofAsked)
		q.eofAsked = nil
	}
	w.kickLocked()
	return nil
}

// CloseWrite is [Writer.WriteEOF] under the name [net.TCPConn] and
// [tls.Conn] give the half-close, so that code looking for
// interface{ CloseWrite() error } (io.Copy-based proxies,
// [net/http/httputil.ReverseProxy]) finds it. It returns at once; the write
// half closes once the data queued before it has been sent.
func (w *Writer) CloseWrite() error { return w.WriteEOF() }

// CanWriteEOF reports whether [Writer.WriteEOF] can half-close the
// connection (asyncio's can_write_eof): true for TCP and Unix sockets and
// for TLS 1.3 (where WriteEOF sends close_notify and reading goes on), false
// for TLS 1.2 and for connections without [Writer.CloseWrite]. Over a TLS connection made before
// its handshake the version is not known yet: the stream's read pump makes
// the handshake at once (as a *tls.Conn's first Read would), and until it
// is done CanWriteEOF reports false and WriteEOF returns
// ErrWriteEOFUnsupported; from then on, and at the latest once the stream
// has read a byte, they follow the version agreed. CanWriteEOF never waits
// for the handshake.
func (w *Writer) CanWriteEOF() bool {
	if ability := w.eofAbility.Load(); ability != eofAsk {
		return ability == eofYes
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.canWriteEOFLocked()
}

// IsClosing reports whether the stream is closed or being closed (asyncio's
// is_closing).
func (w *Writer) IsClosing() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.state >= writeClosing
}

// close begins a graceful close: the queue is still sent, then the pump
// closes the connection.
func (w *Writer) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state >= writeClosing {
		return
	}
	w.state = writeClosing
	if q := w.q; q != nil && q.closedCh != nil {
		close(q.closedCh)
	}
	w.kickLocked()
}

// closedChanLocked returns a channel closed by Close and Abort.
func (w *Writer) closedChanLocked() <-chan struct{} {
	if w.q == nil || w.q.closedCh == nil {
		if w.state >= writeClosing {
			return closedChan
		}
		w.queueLocked().closedCh = make(chan struct{})
	}
	return w.q.closedCh
}

// abortedChan returns a channel closed by Abort.
func (w *Writer) abortedChan() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.q == nil || w.q.aborted == nil {
		if w.wasAborted {
			return closedChan
		}
		w.queueLocked().aborted = make(chan struct{})
	}
	return w.q.aborted
}

// abort drops the queue and stops the pump; the caller closes the
// connection. Buffers the pump may be writing from are left to the garbage
// collector.
func (w *Writer) abort() {
	w.mu.Lock()
	defer w.mu.Unlock()
	q := w.q
	if w.state < writeClosing && q != nil && q.closedCh != nil {
		close(q.closedCh)
	}
	if !w.wasAborted {
		w.wasAborted = true
		if q != nil && q.aborted != nil {
			close(q.aborted)
		}
	}
	w.state = writeClosed
	if q != nil {
		q.bufs = nil
	}
	w.pending = 0
	w.signalLocked()
}

// closeErr returns the error that broke the connection before it was
// closed, if any.
func (w *Writer) closeErr() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Close begins a graceful close of the whole stream: see [Stream.Close].
func (w *Writer) Close() error { return w.s.Close() }

// Abort closes the whole stream at once: see [Stream.Abort].
func (w *Writer) Abort() { w.s.Abort() }

// AbortReset closes the whole stream at once with a reset: see
// [Stream.AbortReset].
func (w *Writer) AbortReset() error { return w.s.AbortReset() }

// WaitClosed waits until the stream is closed: see [Stream.WaitClosed].
func (w *Writer) WaitClosed(ctx context.Context) error { return w.s.WaitClosed(ctx) }

// SetWriteDeadline sets the deadline for write calls (Write,
// [Writer.WriteContext], [Writer.WriteLines], Drain), with [net.Conn]'s
// semantics: once it passes, pending and future calls fail with an error
// matching [os.ErrDeadlineExceeded]; data already queued is still sent. A
// new deadline in the future, or the zero time, makes writes work again.
func (w *Writer) SetWriteDeadline(t time.Time) error {
	w.deadline.set(t, nil)
	return nil
}

// Buffered returns how many bytes are queued but not yet sent (asyncio's
// get_write_buffer_size), counting those a write is sending at the moment
// until it returns. Once the connection broke, or after Abort, the queue is
// dropped and Buffered is 0.
func (w *Writer) Buffered() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pending
}
