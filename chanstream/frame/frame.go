package frame

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/chanstream/chanstream/chanstream"
)

// Decoder reads one message from a Reader.
//
// Decode returns the next message, or an error: [io.EOF] when the stream
// ends at a message boundary, an error matching [io.ErrUnexpectedEOF] (the
// ready codecs return a [*chanstream.IncompleteReadError] holding the bytes
// that arrived) when it ends inside one, ctx.Err() when ctx is done. A
// Decode ended by ctx or by the reader's deadline loses nothing: either it
// consumed nothing, or it keeps what it consumed of the message and the next
// Decode on the same Reader completes that message. A Decoder may therefore
// hold state between calls, for one Reader at a time.
type Decoder[T any] interface {
	Decode(ctx context.Context, r *chanstream.Reader) (T, error)
}

// Encoder encodes one message as one frame.
//
// Encode appends the frame of v (its length field or delimiter included) to
// dst and returns the extended slice, as strconv.AppendInt does; on an error
// (a value the codec cannot frame) it returns dst unchanged. Encode does no
// I/O and may be called from several goroutines at once: [Write] and
// [Send] do the writing, so that a frame is queued whole and a burst of
// frames in one write.
type Encoder[T any] interface {
	Encode(dst []byte, v T) ([]byte, error)
}

// Codec is a [Decoder] and an [Encoder] of the same messages.
type Codec[T any] interface {
	Decoder[T]
	Encoder[T]
}

var (
	// ErrFrameTooLarge matches, through errors.Is, every *FrameTooLargeError.
	ErrFrameTooLarge = errors.New("frame: frame too large")

	// ErrFrameSize is returned by Encode for a value a codec cannot frame
	// as given: a fixed-size frame of the wrong length, a delimited frame
	// that contains its delimiter.
	ErrFrameSize = errors.New("frame: value does not fit the frame format")

	// ErrBadLength is returned by a length-prefixed decoder whose length
	// field is not a valid uvarint (longer than 10 bytes, or over 64 bits).
	// The stream cannot be resynchronised after it.
	ErrBadLength = errors.New("frame: invalid uvarint length field")

	// ErrOtherReader is returned by Decode when the decoder is partway
	// through a frame of another Reader (see [Decoder]). Nothing is
	// consumed.
	ErrOtherReader = errors.New("frame: decoder is partway through a frame of another reader")

	// ErrPartialFrame is returned, together with the ctx's error, when ctx
	// ended a write after part of a frame was queued: the stream then holds a
	// cut frame and is out of frame for its peer; close it. It happens only
	// to a frame longer than the room between the writer's watermarks (see
	// [Write]).
	ErrPartialFrame = errors.New("frame: write ended partway through a frame")
)

// FrameTooLargeError reports a frame longer than a codec's maximum.
// errors.Is(err, [ErrFrameTooLarge]) holds.
type FrameTooLargeError struct {
	// Size is the frame's size as its length field gives it; for a
	// delimited frame, the number of bytes seen without a delimiter (the
	// frame is at least that long); for Encode, the value's length.
	Size uint64
	// Max is the largest size the codec accepts.
	Max int
}

// Error reports the frame's size and the maximum.
func (e *FrameTooLargeError) Error() string {
	return fmt.Sprintf("frame: frame of %d bytes, over the maximum of %d", e.Size, e.Max)
}

// Is reports whether target is [ErrFrameTooLarge].
func (e *FrameTooLargeError) Is(target error) bool { return target == ErrFrameTooLarge }

// Write encodes v and queues its frame on w whole, or nothing if ctx is done
// first. As [chanstream.Writer.TryWrite], it queues the frame at once when
// nothing is queued or when it fits below the high watermark; otherwise it
// waits, while ctx allows, for the queue to go down to the low watermark
// ([chanstream.Writer.Drain]) and tries again. Only a frame that then still
// does not fit (longer than the room between the watermarks) is queued piece
// by piece as the writer sends it: if ctx ends that wait, Write returns an
// error matching both [ErrPartialFrame] and ctx.Err(). Otherwise it fails
// with the [Encoder]'s error (nothing queued) or the writer's, as
// [chanstream.Writer.Write] reports it.
func Write[T any](ctx context.Context, w *chanstream.Writer, enc Encoder[T], v T) error {
	buf, err := enc.Encode(nil, v)
	if err != nil {
		return err
	}
	n, err := writeWhole(ctx, w, buf)
	if err != nil && n > 0 {
		return joinPartial(err)
	}
	return err
}

// writeWhole queues p on w, returning how much of it was queued: all of it,
// or, when ctx ends a write over the room between the watermarks, part.
func writeWhole(ctx context.Context, w *chanstream.Writer, p []byte) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if ok, err := w.TryWrite(p); ok || err != nil {
		return okLen(ok, p), err
	}
	if err := w.Drain(ctx); err != nil {
		return 0, err
	}
	if ok, err := w.TryWrite(p); ok || err != nil {
		return okLen(ok, p), err
	}
	return w.WriteContext(ctx, p)
}

func okLen(ok bool, p []byte) int {
	if ok {
		return len(p)
	}
	return 0
}

// atBoundary turns the *IncompleteReadError of a read that found the stream
// ended with nothing of the frame read into io.EOF.
func atBoundary(err error) error {
	var ie *chanstream.IncompleteReadError
	if errors.As(err, &ie) && len(ie.Partial) == 0 {
		return io.EOF
	}
	return err
}

// consumed reports whether a read that failed with err consumed bytes: only
// an *IncompleteReadError does; a done ctx, a passed deadline, a closed
// reader or the stream's error with nothing buffered consume nothing.
func consumed(err error) bool {
	var ie *chanstream.IncompleteReadError
	return errors.As(err, &ie)
}

// isStop reports whether err ends a read without ending the stream: a done
// ctx, or the reader's deadline.
func isStop(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, os.ErrDeadlineExceeded)
}

func joinPartial(err error) error { return fmt.Errorf("%w: %w", ErrPartialFrame, err) }
