package chanstream

import (
	"context"
	"errors"
	"io"
	"os"
	"time"
)

// How a stream reads its connection.
//
// The read pump is a goroutine that moves the connection's bytes into the
// reader's chunk channel, waiting while the channel is full so that TCP
// flow control holds back a peer whose data is not being read. A read call
// waits on that channel.
//
// A socket (TCP, Unix, where sockets are polled: see socket) is read by
// one party at a time, which the stream's sockOwner records, with
// the table of who may take it from whom; the pump does not run while it
// need not:
//
//   - A read call that has to wait for data, and finds nobody reading the
//     socket, reads it itself, in its own goroutine, as a net.Conn's Read
//     would; its ctx, its deadline and the stream's close wake it with a
//     socket read deadline in the past. A stream whose reader waits thus
//     costs no goroutine of its own, and the data goes to the reader with
//     no hand-off between goroutines. The call gives the socket up once it
//     has read.
//   - When nobody has read the socket for watchDelay (the reader is busy
//     elsewhere, or there is none), the watch starts the pump, so that data
//     is taken in, the end of the stream and errors are seen, and Stats
//     move.
//   - A read call whose read was large (a quarter of its buffer or more)
//     starts the pump as it returns: a flow of data is read ahead, on
//     another core, while the caller deals with what it got.
//   - WriteTo, a copy loop, reads the socket itself between its writes, as
//     io.Copy does: its reads neither start the pump nor arm the watch, so
//     one goroutine reads and writes, with no hand-off (see copying).
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
// pool once the socket is readable. Other connections (TLS above all, and
// every connection where sockets are not polled) are read by a pump that
// runs from start to end, blocked in the connection's Read.
//
// Stacks. What runs under a read call's wait is kept shallow, so that a
// waiting goroutine keeps the stack it started with: readLine waits itself
// rather than from within readUntil; sockRead.read calls RawConn.Read
// itself; and sockRead's fn makes its system call with nothing deeper in
// between and takes its buffer from a spare slot, not from sync.Pool's slow
// path or the allocator. docs/internals.md ("The memory of an idle
// connection") says why and how it is checked.

// watchDelay is how long a socket may go unread before the pump starts.
var watchDelay = 10 * time.Millisecond

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
		if s.pumpRead(a, timedOut) {
			return // gave the socket to the read call waiting
		}
	}
}

// readPumpConn is the read pump of a connection that is not a socket: it
// runs from start to end, blocked in the connection's Read.
func (s *Stream) readPumpConn(a *attachment) {
	defer close(a.readDone) // made for connections that are not sockets
	size := readChunkSize(s.r.limit)
	if tc, ok := a.conn.(tlsConn); ok {
		size = recordChunkSize
		if hs, ok := a.conn.(interface{ HandshakeContext(context.Context) error }); ok && s.w.eofAbility.Load() == eofAsk {
			// Made before its handshake: make it now, as the first Read
			// would, and learn the version, which tells whether WriteEOF
			// can half-close. A handshake that fails fails that Read.
			if hs.HandshakeContext(context.Background()) == nil {
				s.w.learnWriteEOF(tc)
			}
		}
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
				s.r.received.Add(int64(c.len())) // as commit counts a chunk it holds
				s.mu.Lock()
				s.leftover = c
				s.mu.Unlock()
			}
			return // stopped by Detach; the stream goes on
		}
		if err == io.EOF {
			if tc, ok := a.conn.(tlsConn); ok && tlsCanWriteEOF(tc) != eofYes {
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
			case errHandedOver:
				return false // the same, with c read before the end
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
		if err = s.waitErr(ctx); err != nil {
			break
		}
		if r.isEnded() {
			// Every chunk committed before the end is in the channel by now.
			r.takeEnd()
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
	a := s.takeSocketToPoll()
	if a == nil {
		return // somebody reads the socket: they take in what comes
	}
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
