package chanstream

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
)

// ErrLimitOverrun matches, through [errors.Is], every error about data
// longer than a [Reader]'s limit: the [*LimitOverrunError] of ReadUntil and
// ReadLine.
var ErrLimitOverrun = errors.New("chanstream: limit overrun")

// ErrClosed is returned by operations on a stream, reader or writer that was
// closed locally. errors.Is(ErrClosed, [net.ErrClosed]) holds.
var ErrClosed = fmt.Errorf("chanstream: %w", net.ErrClosed)

// ErrWriteAfterEOF is returned by writes after WriteEOF. It matches
// [net.ErrClosed]: the write half of the stream is closed.
var ErrWriteAfterEOF = fmt.Errorf("chanstream: write after WriteEOF: %w", net.ErrClosed)

// ErrWriteAfterCloseNotify is returned by writes on a TLS 1.2 stream after
// the peer's close_notify, which the stream answers with its own at once, as
// RFC 5246 requires and asyncio does: on TLS 1.2 close_notify ends the
// connection. It matches [net.ErrClosed].
var ErrWriteAfterCloseNotify = fmt.Errorf("chanstream: write after the TLS 1.2 peer's close_notify, which ends the connection: %w", net.ErrClosed)

// ErrNegativeCount is returned for a negative byte count (ReadExactly,
// Discard).
var ErrNegativeCount = errors.New("chanstream: negative count")

// ErrEmptySeparator is returned by ReadUntil and DiscardUntil when a
// separator is empty.
var ErrEmptySeparator = errors.New("chanstream: separator should be at least one byte")

// ErrFeedAfterEOF is returned by Feed after FeedEOF or FeedError.
var ErrFeedAfterEOF = errors.New("chanstream: feed after the end of the stream")

// ErrFeedConnected is returned by Feed on the [Reader] of a [Stream]: its
// connection feeds it.
var ErrFeedConnected = errors.New("chanstream: feed on a reader fed by a connection")

// ErrWriteEOFUnsupported is returned by WriteEOF when the connection cannot
// half-close (CanWriteEOF is false).
var ErrWriteEOFUnsupported = errors.New("chanstream: the connection cannot write EOF")

// errDeadline is what reads and writes return once their deadline has passed.
// It is os.ErrDeadlineExceeded, as net.Conn's, so Timeout() reports true.
var errDeadline error = os.ErrDeadlineExceeded

// LimitOverrunError is asyncio's LimitOverrunError: ReadUntil found no
// separator within the reader's limit, or found one further away than the
// limit. errors.Is(err, [ErrLimitOverrun]) holds.
//
// From ReadUntil, the data stays buffered and Consumed is the number of bytes
// to consume (with Discard, or ReadChunk) to move past the over-long part.
// From ReadLine, which discards the data as asyncio's readline does, Consumed
// is the number of bytes it discarded.
type LimitOverrunError struct {
	Consumed int
}

func (e *LimitOverrunError) Error() string {
	return "chanstream: separator is not found within the limit (consumed " + strconv.Itoa(e.Consumed) + " bytes)"
}

// Is reports whether target is [ErrLimitOverrun].
func (e *LimitOverrunError) Is(target error) bool { return target == ErrLimitOverrun }

// IncompleteReadError is asyncio's IncompleteReadError: the stream ended
// before ReadExactly had Expected bytes (Expected >= 0), or before ReadUntil
// found a separator (Expected == -1). Partial holds the bytes read, which
// are no longer buffered. errors.Is(err, [io.ErrUnexpectedEOF]) holds.
type IncompleteReadError struct {
	Partial  []byte
	Expected int
}

func (e *IncompleteReadError) Error() string {
	expected := "undefined"
	if e.Expected >= 0 {
		expected = strconv.Itoa(e.Expected)
	}
	return "chanstream: " + strconv.Itoa(len(e.Partial)) + " bytes read on a total of " + expected + " expected bytes"
}

// Unwrap returns [io.ErrUnexpectedEOF].
func (e *IncompleteReadError) Unwrap() error { return io.ErrUnexpectedEOF }
