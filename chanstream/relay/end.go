package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"

	"github.com/chanstream/chanstream/chanstream"
)

// endState is how far one connection of a relay has been closed. It only
// moves forward: open → writeClosed → closed → reset, skipping steps.
//
//	open         both halves in use
//	writeClosed  half-closed: the EOF of the direction into it was passed on
//	closed       closed in an orderly way: at the end, or to pass on an EOF
//	             it could not take as a half-close
//	reset        reset (or, when it cannot be, closed) on an error or a cancel
type endState int

const (
	open endState = iota
	writeClosed
	closed
	reset
)

// end is one of the two connections of a relay. Its methods carry out each
// close at most once, whichever goroutine asks.
type end struct {
	conn   net.Conn
	stream *chanstream.Stream // conn, when it is a Stream

	mu    sync.Mutex
	state endState
}

func newEnd(c net.Conn) *end {
	s, _ := c.(*chanstream.Stream)
	return &end{conn: c, stream: s}
}

// advance moves the state to to, if that is forward, and returns the state
// it was in.
func (e *end) advance(to endState) endState {
	e.mu.Lock()
	defer e.mu.Unlock()
	was := e.state
	if to > was {
		e.state = to
	}
	return was
}

// current returns the state.
func (e *end) current() endState {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.state
}

// closeWrite passes an EOF on: a half-close, or a close when the
// connection cannot half-close.
func (e *end) closeWrite() error {
	if e.advance(writeClosed) != open {
		return nil
	}
	if e.stream != nil {
		err := e.stream.CloseWrite()
		if errors.Is(err, chanstream.ErrWriteEOFUnsupported) {
			if e.advance(closed) == writeClosed {
				e.stream.Close()
			}
			return nil
		}
		return err
	}
	if cw, ok := e.conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	if e.advance(closed) == writeClosed {
		e.conn.Close()
	}
	return nil
}

// reset closes the connection with a reset, once advance(reset) has
// returned was. A Stream the relay closed in an orderly way is reset all
// the same, which drops what it still had to send.
func (e *end) reset(was endState) {
	if was == reset || (was == closed && e.stream == nil) {
		return
	}
	if e.stream != nil {
		e.stream.AbortReset() // ErrResetUnsupported: it was closed instead
		return
	}
	resetConn(e.conn)
}

// resetConn closes c with SO_LINGER 0 when it is TCP (or TLS over TCP), so
// that the peer gets a reset; other connections are closed. A *tls.Conn is
// closed under its TLS layer: the close_notify its Close would send is what
// a reset must not look like, and sending it could block.
func resetConn(c net.Conn) {
	if t, ok := c.(*tls.Conn); ok {
		c = t.NetConn()
	}
	if l, ok := c.(interface{ SetLinger(sec int) error }); ok {
		l.SetLinger(0)
	}
	c.Close()
}

// finish closes the connection if nothing has yet, and for a Stream waits
// until it is closed: until its queued data has been sent, or ctx is done
// (the Stream is then reset, and ctx.Err() returned). It returns the error
// that kept a Stream's queued data from being sent. A net.Conn's own Close
// error says nothing about the data and is not returned.
func (e *end) finish(ctx context.Context) error {
	was := e.advance(closed)
	if was < closed {
		if e.stream != nil {
			e.stream.Close()
		} else {
			e.conn.Close()
		}
	}
	if e.stream == nil {
		return nil
	}
	if was == reset {
		e.stream.WaitClosed(context.Background()) // aborted: nothing left to wait for
		return nil
	}
	err := e.stream.WaitClosed(ctx)
	if err != nil && err == ctx.Err() {
		e.reset(e.advance(reset))
		e.stream.WaitClosed(context.Background())
	}
	return err
}
