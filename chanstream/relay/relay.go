package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"

	"github.com/chanstream/chanstream/internal/group"
)

// ErrNilConn is returned by Relay when a connection is nil (or a nil pointer).
var ErrNilConn = errors.New("relay: nil connection")

// ErrSameConn is returned by Relay when a and b are the same connection, or
// one is the connection under the other (a Stream's Conn, a tls.Conn's
// NetConn).
var ErrSameConn = errors.New("relay: a and b are the same connection")

// Direction names one direction of a relay.
type Direction int

const (
	AToB Direction = iota // from a to b
	BToA                  // from b to a
)

// String returns "a to b" or "b to a".
func (d Direction) String() string {
	if d == AToB {
		return "a to b"
	}
	return "b to a"
}

// Result counts the bytes Relay moved each way: read from one connection
// and written to the other (or queued on it, when it is a *chanstream.Stream).
type Result struct {
	AToB int64 // bytes read from a and handed to b
	BToA int64 // bytes read from b and handed to a
}

// Error is the error that ended a relay: what went wrong in one direction,
// reading its source, writing its destination, or half-closing or closing
// the destination.
type Error struct {
	Dir Direction // the direction that failed
	Err error     // what failed in it; never io.EOF
}

// Error returns "relay: ", the direction and the cause's message.
func (e *Error) Error() string { return "relay: " + e.Dir.String() + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Relay copies what a sends to b and what b sends to a, each direction in a
// goroutine of its own, until both directions have ended, and returns the
// bytes moved each way and the first error. a and b may be
// *chanstream.Stream values or any other net.Conn (TCP, Unix, TLS); bytes
// already buffered in a Stream's reader are relayed first. Nobody else may
// read from or write to them while Relay runs.
//
// Relay owns a and b from the call on: it closes each exactly once before it
// returns, and its goroutines have finished when it returns. Only bad input
// leaves them untouched: a nil connection ([ErrNilConn]), or the same
// connection twice ([ErrSameConn]).
//
// How a relay ends:
//
//   - When a direction's source reaches EOF, the destination is half-closed
//     (Stream.CloseWrite, or the connection's CloseWrite, after the data
//     already handed to it) and the other direction goes on. A destination
//     that cannot half-close is closed instead, its queued data still sent,
//     and that ends the other direction too, as if it had reached EOF: a
//     Stream whose CanWriteEOF is false (over TLS 1.2, or over a tls.Conn
//     whose handshake is not done yet), a net.Conn without CloseWrite.
//   - Once both directions have ended that way, both connections are closed,
//     a Stream's with Close and WaitClosed(ctx): Relay returns once its
//     queued data has been sent, or with the error that kept it from being
//     sent. The error is then nil.
//   - An error in either direction (a reset or any other read error, a
//     failed write, a passed deadline) resets both connections: each peer
//     sees ECONNRESET, not an orderly end that would pass what it received
//     off as complete. A Stream is closed with AbortReset, a *net.TCPConn (on
//     its own or under a *tls.Conn, whose close_notify is then not sent)
//     with SO_LINGER 0 and Close; a connection that cannot send a reset
//     (a Unix socket) is closed. Data still queued is dropped. Relay returns
//     an [*Error] naming the direction; EOF is never an error.
//   - When ctx is done, both connections are reset in the same way, and
//     Relay returns ctx.Err(). A relay whose peers never end a direction runs
//     until ctx is done, or until a deadline set on a connection passes.
//
// Memory stays bounded by the connections' own buffers: a Stream's read
// limit and write watermarks, and io.Copy's 32 KiB buffer between two
// other connections. From a *net.TCPConn to a TCP Stream with nothing queued,
// or between two *net.TCPConn, the kernel moves the bytes (splice) without
// their passing through the process; a Stream as the source writes its
// chunks to the destination as they are, with no buffer of the relay's own.
//
// If a direction panics (a net.Conn's method did), both connections are
// reset and the panic is raised again in Relay's goroutine.
func Relay(ctx context.Context, a, b net.Conn) (Result, error) {
	if err := checkConns(a, b); err != nil {
		return Result{}, err
	}
	ends := [2]*end{newEnd(a), newEnd(b)}
	outcomes := make(chan outcome, 2) // one per direction: sends never block
	var g group.Group
	for _, dir := range []Direction{AToB, BToA} {
		src, dst := ends[dir], ends[1-dir]
		g.Go(func() {
			n, err := copyOne(dst, src)
			outcomes <- outcome{dir: dir, n: n, err: err}
		}, func(p error) {
			outcomes <- outcome{dir: dir, panicked: p}
		})
	}

	var res Result
	var first, panicked error
	torn := false
	tearDown := func() {
		torn = true
		// Mark both before resetting either, so that the direction the
		// first reset ends does not take it for an EOF to pass on.
		var was [2]endState
		for i, e := range ends {
			was[i] = e.advance(reset)
		}
		for i, e := range ends {
			e.reset(was[i])
		}
	}
	done := ctx.Done()
	for pending := 2; pending > 0; {
		select {
		case o := <-outcomes:
			pending--
			if o.dir == AToB {
				res.AToB = o.n
			} else {
				res.BToA = o.n
			}
			switch {
			case o.panicked != nil:
				panicked = o.panicked
				if !torn {
					tearDown()
				}
			case o.err != nil && !torn:
				first = &Error{Dir: o.dir, Err: o.err}
				tearDown()
			}
		case <-done:
			done = nil
			if !torn {
				first = ctx.Err()
				tearDown()
			}
		}
	}
	g.Wait(context.Background()) // both have sent their outcome: this returns at once

	for i, e := range ends {
		if err := e.finish(ctx); err != nil && first == nil {
			if ctxErr := ctx.Err(); err == ctxErr {
				first = ctxErr
			} else {
				first = &Error{Dir: Direction(1 - i), Err: err} // the direction into e
			}
		}
	}
	if panicked != nil {
		panic(panicked)
	}
	return res, first
}

// outcome is how one direction ended.
type outcome struct {
	dir      Direction
	n        int64
	err      error
	panicked error
}

// copyOne copies src to dst until src's EOF, then half-closes dst.
// io.Copy takes the shortest path there is: src's WriteTo (a Stream hands
// over its chunks; a *net.TCPConn hands itself to dst's ReadFrom), or dst's
// ReadFrom (a Stream's or a *net.TCPConn's, which splice from a TCP source).
func copyOne(dst, src *end) (int64, error) {
	n, err := io.Copy(dst.conn, src.conn)
	if err != nil && src.current() == closed {
		// The other direction closed src to pass on its EOF, since src
		// could not half-close: this direction ends with it.
		err = nil
	}
	if err == nil {
		err = dst.closeWrite()
	}
	return n, err
}

// checkConns rejects nil connections and one connection given twice.
func checkConns(a, b net.Conn) error {
	if isNil(a) {
		return fmt.Errorf("%w: a", ErrNilConn)
	}
	if isNil(b) {
		return fmt.Errorf("%w: b", ErrNilConn)
	}
	for _, x := range layers(a) {
		for _, y := range layers(b) {
			if sameConn(x, y) {
				return ErrSameConn
			}
		}
	}
	return nil
}

func isNil(c net.Conn) bool {
	if c == nil {
		return true
	}
	v := reflect.ValueOf(c)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

// layers returns c and the connections under it, outermost first.
func layers(c net.Conn) []net.Conn {
	out := []net.Conn{c}
	for len(out) < 8 {
		var next net.Conn
		switch x := c.(type) {
		case interface{ Conn() net.Conn }: // a *chanstream.Stream
			next = x.Conn()
		case interface{ NetConn() net.Conn }: // a *tls.Conn
			next = x.NetConn()
		}
		if isNil(next) {
			break
		}
		out = append(out, next)
		c = next
	}
	return out
}

// sameConn reports whether x and y are the same value, without panicking
// on connection types that cannot be compared.
func sameConn(x, y net.Conn) bool {
	t := reflect.TypeOf(x)
	return t == reflect.TypeOf(y) && t.Comparable() && x == y
}
