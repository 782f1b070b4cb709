package chanstream

import (
	"context"
	"errors"
	"io"
	"os"
	"time"

	"github.com/chanstream/chanstream/internal/hooks"
)

// How a stream reads its connection.
//
// The read pump is a goroutine that moves the connection's bytes into the
// reader's chunk channel, waiting while the channel is full so that TCP
// flow control holds back a peer whose data is not being read. A read call
// waits on that channel.
//
// A socket (TCP, Unix) is read by one party at a time, and the pump does not
// run while it need not:
//
//   - A read call that has to wait for data, and finds nobody reading the
//     socket, reads it itself, in its own goroutine, as a net.Conn's Read
//     would; its ctx, its deadline and the stream's close wake it with a
//     socket read deadline in the past. A stream whose reader waits thus
//     costs no goroutine of its own, and the data goes to the reader with
//     no hand-off between goroutines. The call gives the socket up once it
//     has read.
//   - When nobody has read the socket for watchDelay (the reader is busy
//     elsewhere, or there is none), the watch (watch.go) starts the pump,
//     so that data is taken in, the end of the stream and errors are seen,
//     and Stats move as they always have.
//   - A read call whose read was large (a quarter of its buffer or more)
//     starts the pump as it returns: a flow of data is read ahead, on
//     another core, while the caller deals with what it got.
//   - A read call that finds the pump running waits on the channel. If the
//     pump then has nothing to read for a whole tick of the watch, it gives
//     the socket to the read call and exits.
//   - AtEOF, with every byte read and nobody on the socket, reads it once
//     without waiting (poll), so that an end of the stream that has arrived
//     is seen at once rather than at the watch's next tick.
//   - After Close, the pump runs until the connection is closed, reading and
//     dropping what comes.
//
// Waiting for data, by either, holds no buffer: the buffer is taken from the
// pool once the socket is readable. Other connections (TLS above all) are
// read by a pump that runs from start to end, blocked in the connection's
// Read.
//
// Stacks. A read call that waits keeps its goroutine's stack, and that
// stack is most of what an idle connection costs. A goroutine starts with
// 2 KiB; one whose calls ever went deeper keeps a larger stack while it
// waits (the runtime halves a waiting goroutine's stack only when a quarter
// of it would do). So what runs under a read call's wait is kept shallow:
// readLine waits itself rather than from within readUntil; readInline calls
// RawConn.Read itself; and sockRead's fn makes its system call with
// RawSyscall, and takes its buffer from a spare slot rather than from
// sync.Pool's slow path or the allocator, whose slow paths run deep.
// listener makes the stream before the handler's goroutine starts, for the
// same reason.

// watchDelay is how long a socket may go unread before the pump starts.
var watchDelay = 10 * time.Millisecond

// readOwner says who reads a socket.
type readOwner uint8

const (
	readNobody  readOwner = iota // the watch (watch.go) will start the pump
	readPumping                  // the read pump runs
	readInline                   // a read call reads the socket itself
	readStopped                  // the stream has ended, or is being detached
)

// handOffChunk is what the pump sends on the chunk channel when it gives the
// socket up, to wake a read call waiting there. It holds no data.
var handOffChunk = &chunk{}

// readPump moves the connection's bytes into the reader's chunk channel
// until the end of the stream or an error, after Close until the connection
// is closed, and, on a socket, until it gives the socket back to a read
// call. Detach stops it with a read deadline in the past.
func (s *Stream) readPump(a *attachment) {
	if !a.isSocket() {
		s.readPumpConn(a)
		return
	}
	sr := &a.sr
	for {
		sr.park = s
		c, err := sr.read(&a.socket)
		sr.park = nil
		timedOut := err != nil && errors.Is(err, os.ErrDeadlineExceeded)
		if timedOut {
			if a.detached.Load() {
				return // stopped by Detach; the stream goes on
			}
			err = nil // a read call asked for the socket (see below), or asked and took it back
		}
		if !s.deliver(a, c, err) {
			s.stopReading()
			return
		}
		s.mu.Lock()
		s.parked = false
		if timedOut && !s.handOff {
			a.conn.SetReadDeadline(time.Time{}) // taken back
		}
		if s.handOff {
			// A read call has been waiting on the channel while the pump
			// waited for the socket for a whole tick of the watch: give
			// the read call the socket, now that what was read has been
			// delivered.
			s.handOff = false
			a.conn.SetReadDeadline(time.Time{})
			s.reading = readNobody
			s.armWatchLocked()
			s.mu.Unlock()
			s.r.trySend(handOffChunk)
			return
		}
		s.mu.Unlock()
	}
}

// pumpParks is called by the pump when the socket has nothing to read,
// before it waits, holding no buffer. If a read call waits on the chunk
// channel, the watch is to give it the socket should the pump find nothing
// more to read by the next tick (watchFired): doing so at once would have
// the pump stop and start again at every pause of a flow of data.
func (s *Stream) pumpParks() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.parked = true
	if s.waiting {
		s.armWatchLocked()
	}
}

// readPumpConn is the read pump of a connection that is not a socket: it
// runs from start to end, blocked in the connection's Read.
func (s *Stream) readPumpConn(a *attachment) {
	defer close(a.readDone) // made for connections that are not sockets
	size := readChunkSize(s.r.limit)
	if _, ok := a.conn.(tlsConn); ok {
		size = recordChunkSize
	}
	for {
		c := getChunk(size)
		n, err := a.conn.Read(c.buf)
		c.w = n
		if n == 0 {
			putChunk(c)
			c = nil
		}
		if err != nil && a.detached.Load() && errors.Is(err, os.ErrDeadlineExceeded) {
			if c != nil {
				s.mu.Lock()
				s.leftover = c
				s.mu.Unlock()
			}
			return // stopped by Detach; the stream goes on
		}
		if err == io.EOF {
			if tc, ok := a.conn.(tlsConn); ok && !tlsCanWriteEOF(tc) {
				// TLS 1.2: the peer's close_notify ends the connection
				// and is answered at once (see answerCloseNotify); on
				// TLS 1.3 it ends one direction, and writing goes on.
				s.w.answerCloseNotify()
			}
		}
		if !s.deliver(a, c, err) {
			return
		}
	}
}

// deliver hands the reader what a read of the connection got: the bytes (c,
// if not nil), then the end of the stream or the error. After Close the
// bytes are dropped. It reports false when reading is over: the stream
// ended, or Detach stopped it.
func (s *Stream) deliver(a *attachment, c *chunk, err error) bool {
	r := &s.r
	if c != nil {
		if r.isClosed() {
			putChunk(c)
		} else if cerr := r.commit(context.Background(), c, r.closedChan(), s.detachChan(a)); cerr != nil {
			switch cerr {
			case errDetached:
				s.mu.Lock()
				s.leftover = c
				s.mu.Unlock()
				return false
			case ErrFeedAfterEOF:
				putChunk(c)
				return false // FeedEOF or FeedError ended the reader
			}
			putChunk(c)
		}
	}
	if err != nil {
		s.readFailed(err)
		return false
	}
	return true
}

// stopReading records that nobody will read the socket any more.
func (s *Stream) stopReading() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reading == readPumping {
		s.reading = readStopped
	}
	s.stopCtxWatchLocked()
}

// startPumpLocked starts the read pump over a.
func (s *Stream) startPumpLocked(a *attachment) {
	s.r.makeChunks()
	s.reading = readPumping
	s.parked = false
	s.pumps.Go(func() { s.readPump(a) }, s.pumpPanicked)
}

// watchFired starts the pump over a socket nobody has read for watchDelay
// (see watch.go), and gives the socket of a pump that has had nothing to
// read for as long to the read call waiting for it.
func (s *Stream) watchFired() {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.run == nil:
	case s.reading == readPumping:
		// A read call waits on the channel: if the pump has found
		// nothing to read since the last tick, the read call is to read
		// the socket itself (readPump gives it up); else look again at
		// the next tick.
		switch {
		case !s.waiting || s.handOff:
		case s.parked:
			s.handOff = true
			s.run.conn.SetReadDeadline(longAgo) // wakes the pump
		default:
			s.armWatchLocked()
		}
	case s.reading != readNobody:
	case s.r.isEnded():
		s.reading = readStopped // FeedEOF or FeedError: nothing more is read
	default:
		s.startPumpLocked(s.run)
	}
}

// takeSocket is called by a connection's reader that must wait for data,
// with the reader's gate held: see the top of this file. It returns the
// attachment if the read call is to read the socket itself (readInline),
// and nil if it is to wait on the chunk channel (waitPump).
func (s *Stream) takeSocket(ctx context.Context) *attachment {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.run
	if a == nil || !a.isSocket() {
		return nil
	}
	switch s.reading {
	case readNobody:
		// The stream stays in its watch list, which leaves it alone
		// while it is read (watchFired) and which leaveSocket moves it
		// to the end of: one lock less per wait.
		s.reading = readInline
		s.pumps.Add() // WaitClosed waits for the socket to be given back
		if ctx != s.ctxFor && cancellable(ctx) {
			s.watchCtxLocked(ctx)
		}
		return a
	case readPumping:
		s.waiting = true
		if s.parked {
			s.armWatchLocked() // see pumpParks
		}
	}
	return nil
}

// waitPump waits on the chunk channel, after takeSocket.
func (s *Stream) waitPump(ctx context.Context) error {
	err := s.r.wait(ctx)
	s.mu.Lock()
	if s.waiting {
		s.waiting = false
		if s.handOff {
			// The pump has not acted on it yet: it goes on.
			s.handOff = false
			s.run.conn.SetReadDeadline(time.Time{})
		}
	}
	s.mu.Unlock()
	return err
}

// readInline reads the socket in the caller's goroutine, waiting until it is
// readable or the read call must give up: its ctx is done, the reader is
// closed, its deadline passes or the stream is ended by FeedEOF or
// FeedError. What it reads goes straight to the reader's buffered data. It
// gives the socket up before it returns (leaveSocket).
//
// Whatever would make it give up wakes it (wake) with a read deadline in the
// past, at any time while the call holds the socket: so it takes no lock
// unless woken.
func (s *Stream) readInline(ctx context.Context, a *attachment) (err error) {
	r := &s.r
	sr := &a.sr
	readAhead := false
	for {
		if err = r.waitErr(ctx); err != nil {
			break
		}
		if r.isEnded() {
			// Every chunk committed before the end is in the channel by now.
			r.drain()
			r.atEnd = true
			break
		}
		c, rerr := sr.read(&a.socket)
		if c != nil {
			// A large read (a quarter of the buffer or more): a flow of
			// data rather than a message, and more is likely coming. The
			// pump is to read on while the caller works (see
			// leaveSocket).
			readAhead = c.w >= len(c.buf)/4
			r.takeIn(c)
			break
		}
		if errors.Is(rerr, os.ErrDeadlineExceeded) {
			s.unwake()
			continue // woken: look again
		}
		s.readFailed(rerr)
		if r.isClosed() {
			err = ErrClosed // Close or Abort closed the connection under us
		}
		break
	}
	s.leaveSocket(a, readAhead)
	return err
}

// poll reads the socket once without waiting, when neither a read call nor
// the pump reads it (for AtEOF): what it holds is taken in, and an end of
// the stream or an error ends the reader, as a read would.
func (s *Stream) poll() {
	r := &s.r
	if r.isClosed() || !r.gate.tryLock() {
		return // a read call is under way: it takes in what comes
	}
	defer r.end()
	s.mu.Lock()
	a := s.run
	if a == nil || !a.isSocket() || s.reading != readNobody {
		s.mu.Unlock()
		return
	}
	s.reading = readInline
	s.pumps.Add() // WaitClosed waits for the socket to be given back
	s.mu.Unlock()

	c, rerr := a.sr.poll(&a.socket)
	switch {
	case c != nil:
		r.takeIn(c)
	case rerr == nil:
		// nothing yet
	case errors.Is(rerr, os.ErrDeadlineExceeded):
		// woken (see wake) as it read: leaveSocket clears it
	default:
		s.readFailed(rerr)
	}
	s.leaveSocket(a, false)
}

// unwake clears the read deadline that woke a read call reading the socket.
func (s *Stream) unwake() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.woken = false
	s.run.conn.SetReadDeadline(time.Time{})
}

// readFailed ends the stream with the error a read of the socket got.
func (s *Stream) readFailed(err error) {
	if s.r.isClosed() {
		// Close or Abort closed the connection under the read: a read
		// call still waiting gets ErrClosed, whichever of the end and the
		// close it sees first.
		s.r.finish(ErrClosed)
		return
	}
	// A reset reaches writers too. A stream cut short (io.ErrUnexpectedEOF:
	// TLS without close_notify) is the peer's end of sending, as EOF is:
	// writing may go on.
	if err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) {
		s.w.fail(err)
	}
	s.r.finish(err)
}

// leaveSocket gives up the socket a read call has been reading: the watch
// will start the pump if no read call takes it first; after Close the
// pump starts at once; after the end of the stream nobody reads it. After
// a large read the pump starts at once too: it reads the flow of data
// ahead, on another core, while the caller deals with what it got, and
// gives the socket back once it has caught up.
func (s *Stream) leaveSocket(a *attachment, readAhead bool) {
	s.mu.Lock()
	if s.woken {
		s.woken = false
		a.conn.SetReadDeadline(time.Time{})
	}
	switch {
	case s.r.isEnded():
		s.reading = readStopped
		s.stopCtxWatchLocked()
	case s.r.isClosed():
		s.startPumpLocked(a) // to read and drop until the connection closes
		s.stopCtxWatchLocked()
	case readAhead:
		s.startPumpLocked(a)
	default:
		s.reading = readNobody
		s.armWatchLocked()
	}
	s.mu.Unlock()
	s.pumps.Done()
}

// waitErr returns why a read call must stop waiting for data now, or nil.
func (r *Reader) waitErr(ctx context.Context) error {
	if r.isClosed() {
		return ErrClosed
	}
	if r.deadline.expired.Load() {
		return errDeadline
	}
	return ctx.Err()
}

// wake wakes a read call reading the socket in its goroutine, so that it
// looks again at why it might stop.
func (s *Stream) wake() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wakeLocked()
}

func (s *Stream) wakeLocked() {
	if s.reading == readInline && !s.woken {
		s.woken = true
		s.run.conn.SetReadDeadline(longAgo)
	}
}

// watchCtxLocked makes ctx's end wake the read calls that read the socket
// with it. The registration is kept for the next call, which is most often
// made with the same ctx.
func (s *Stream) watchCtxLocked(ctx context.Context) {
	s.stopCtxWatchLocked()
	s.ctxFor = ctx
	if sc, ok := ctx.(hooks.StreamCtx); ok && sc.WakesStream(s) {
		s.ctxStop = wokenByCtx // the ctx wakes s itself when it is done
		return
	}
	if s.wakeFn == nil {
		s.wakeFn = s.wake // once: most streams are read with one ctx, or none that can end
	}
	if af, ok := ctx.(afterFuncer); ok {
		// The ctx schedules the call itself, which costs less than
		// context.AfterFunc.
		s.ctxStop = af.AfterFunc(s.wakeFn)
		return
	}
	s.ctxStop = context.AfterFunc(ctx, s.wakeFn)
}

// wokenByCtx is the ctxStop of a ctx that wakes its stream itself
// (hooks.StreamCtx): there is nothing to stop.
var wokenByCtx = func() bool { return false }

// cancellable reports whether ctx can ever be done.
func cancellable(ctx context.Context) bool {
	if _, ok := ctx.(afterFuncer); ok {
		return true // without asking for Done, which may make a channel
	}
	return ctx.Done() != nil
}

// afterFuncer is a ctx that can call a function when it is done, as
// context.AfterFunc does for a ctx with that method.
type afterFuncer interface {
	AfterFunc(func()) func() bool
}

func (s *Stream) stopCtxWatchLocked() {
	if s.ctxStop != nil {
		s.ctxStop()
		s.ctxFor, s.ctxStop = nil, nil
	}
}

// readerClosed is called by Close and Abort once the reader is closed: a
// read call reading the socket wakes up, and the pump starts to read and
// drop what comes until the connection is closed.
func (s *Stream) readerClosed() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wakeLocked()
	if s.reading == readNobody && s.run != nil {
		s.disarmWatchLocked()
		s.startPumpLocked(s.run)
	}
	if s.reading != readInline {
		s.stopCtxWatchLocked()
	}
}
