package chanstream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/chanstream/chanstream/internal/hooks"
)

// errDetached is what commit returns to the read pump when detach stops it.
var errDetached = errors.New("chanstream: detached")

// errAlreadyDetached is returned by detach on a stream that is detached
// already; errNotDetached by attach on one that is not.
var (
	errAlreadyDetached = errors.New("chanstream: the stream is detached already")
	errNotDetached     = errors.New("chanstream: the stream is not detached")
)

func init() {
	hooks.Detach = func(stream any, ctx context.Context) (net.Conn, []byte, error) {
		return stream.(*Stream).detach(ctx)
	}
	hooks.Attach = func(stream any, conn net.Conn, extra map[string]any) error {
		return stream.(*Stream).attach(conn, extra)
	}
}

// longAgo is a deadline in the past, to stop a blocked Read.
var longAgo = time.Unix(1, 0)

// detach stops the stream's pumps without closing the connection and returns
// the connection together with the bytes the read pump took from it that
// nobody has read yet, so that a protocol layer can take over the
// connection where the stream left it and attach the result. tlsupgrade's
// Client and Server reach it through hooks.Detach to put TLS on the
// connection, as asyncio's start_tls does.
//
// detach first waits for its turn as a reader and as a writer (so no read or
// write call is in progress or can start), then until every queued byte has
// been sent, then stops the pumps; the read pump, blocked in Read, is
// stopped with a read deadline in the past, which detach clears again.
// Nothing is lost: unread holds, in order, every byte received and not yet
// returned by a read method. Until attach, read and write calls wait (they
// still honour their ctx and deadlines), and Close or Abort closes the
// connection.
//
// If ctx ends first, or the stream has ended, is closing, or cannot stop
// its read pump (the connection has no deadlines), detach returns an error
// and the stream goes on as before.
func (s *Stream) detach(ctx context.Context) (conn net.Conn, unread []byte, err error) {
	if err := s.r.begin(ctx); err != nil {
		return nil, nil, err
	}
	if err := s.w.lockGate(ctx); err != nil {
		s.r.end()
		return nil, nil, err
	}
	release := func() {
		s.w.gate.unlock(0)
		s.r.end()
	}
	s.mu.Lock()
	a := s.run
	s.mu.Unlock()
	if a == nil {
		release()
		return nil, nil, errAlreadyDetached
	}
	if err := s.detachable(); err != nil {
		release()
		return nil, nil, err
	}
	if err := s.w.waitFlushed(ctx); err != nil {
		release()
		return nil, nil, err
	}
	// Clearing the deadline changes nothing but tells whether the
	// connection has deadlines at all.
	if err := a.conn.SetReadDeadline(time.Time{}); err != nil {
		release()
		return nil, nil, fmt.Errorf("the connection has no deadlines: %w", err)
	}
	// Mark the run detached before the deadline stops the read pump, so
	// that the pump takes the timeout for a stop; and let nobody start
	// reading the socket any more.
	s.mu.Lock()
	s.detachOwnerLocked(false)
	a.detached.Store(true)
	if a.detachCh != nil {
		close(a.detachCh)
	}
	s.mu.Unlock()
	a.conn.SetReadDeadline(longAgo)
	s.pumps.Wait(context.Background()) // both stop at once now
	a.conn.SetReadDeadline(time.Time{})

	s.w.mu.Lock()
	s.w.run = nil
	s.w.mu.Unlock()
	s.mu.Lock()
	s.run = nil
	s.detachOwnerLocked(true)
	leftover := s.leftover
	s.leftover = nil
	s.mu.Unlock()
	s.r.drain()
	if leftover != nil {
		s.r.push(leftover)
	}
	if err := s.detachable(); err != nil {
		// The stream ended (or began closing) while the pumps stopped:
		// carry on over the same connection.
		s.start(a.conn, new(attachment))
		release()
		return nil, nil, err
	}
	unread = s.r.take(s.r.buffered)
	// The gates stay held until attach.
	return a.conn, unread, nil
}

// detachable reports why the stream cannot be detached now, if it cannot.
// The caller (tlsupgrade) says that it could not detach.
func (s *Stream) detachable() error {
	if s.r.isEnded() {
		if err := s.r.Err(); err != nil {
			return fmt.Errorf("the stream broke: %w", err)
		}
		return errors.New("the peer has closed the stream (EOF)")
	}
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	return s.w.stateErrLocked()
}

// attach resumes a detached stream over conn, typically a *tls.Conn made
// over the connection detach returned and fed the unread bytes first. The
// pumps start over conn, and the read and write calls waiting since detach
// go on through it; the Stream, its Reader and its Writer stay the same
// values. extra adds to what ExtraInfo answers (tlsupgrade gives
// "sslcontext"). attach returns errNotDetached if the stream is not
// detached, and ErrClosed if it was closed meanwhile, in which case conn is
// closed.
func (s *Stream) attach(conn net.Conn, extra map[string]any) error {
	s.mu.Lock()
	if s.run != nil {
		s.mu.Unlock()
		return errNotDetached
	}
	for k, v := range extra {
		if s.extra == nil {
			s.extra = make(map[string]any)
		}
		s.extra[k] = v
	}
	s.mu.Unlock()
	if s.r.isClosed() {
		conn.Close()
		return ErrClosed
	}
	s.start(conn, new(attachment))
	s.w.gate.unlock(0)
	s.r.end()
	return nil
}
