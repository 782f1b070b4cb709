// Package hooks lets chanstream's other packages, and its tests in other
// packages, reach into a Stream or a Reader: chanstream registers the
// functions here when it initialises. Nothing outside this module can
// import it.
package hooks

import (
	"context"
	"net"
)

// SetWaitHook makes f run each time the reader (a *chanstream.Reader) is
// about to wait for data; nil removes it.
var SetWaitHook func(reader any, f func())

// WatchCtx makes the end of ctx wake the read calls of stream (a
// *chanstream.Stream) that wait on its socket with ctx, as the first such
// call would arrange. listener calls it for each handler's ctx when it
// makes the stream, so that the handler's goroutine does not have to.
var WatchCtx func(stream any, ctx context.Context)

// A StreamCtx is a ctx that, when it is done, wakes the read calls of one
// stream itself, by calling WakeStream (listener's handler ctx does): a
// stream read with it registers no function with it, which saves an idle
// connection the allocations of an AfterFunc.
type StreamCtx interface {
	// WakesStream reports whether the ctx wakes stream's read calls.
	WakesStream(stream any) bool
}

// WakeStream wakes the read calls of stream (a *chanstream.Stream) that
// wait on its socket, so that they look at their ctx again.
var WakeStream func(stream any)

// Detach stops the pumps of stream (a *chanstream.Stream) without closing
// its connection, and returns the connection and the bytes received and not
// yet read, so that tlsupgrade can run a handshake over the connection and
// Attach the result. Until Attach, the stream's read and write calls wait.
// On an error the stream goes on as before.
var Detach func(stream any, ctx context.Context) (conn net.Conn, unread []byte, err error)

// Attach resumes stream, detached by Detach, over conn; extra adds to what
// its ExtraInfo answers. If the stream was closed meanwhile, conn is closed
// and the error is chanstream.ErrClosed.
var Attach func(stream any, conn net.Conn, extra map[string]any) error

// TakeBufferedLines appends to lines the next lines of reader (a
// *chanstream.Reader), "\n" included, while the next line is whole in the
// buffer and within the reader's limit, until lines holds max; it returns
// lines unchanged if a read call is under way. It never waits, and consumes
// only the lines it appends, which belong to the caller, as ReadLine's.
var TakeBufferedLines func(reader any, lines [][]byte, max int) [][]byte
