package frame

import (
	"context"
	"fmt"

	"github.com/chanstream/chanstream/chanstream"
)

// Fixed is the codec of frames of one fixed size, as []byte.
//
// Decode reads exactly Size bytes (Reader.ReadExactly). At the end of the
// stream it returns [io.EOF] if nothing is left, or a
// [*chanstream.IncompleteReadError] whose Partial holds the bytes of the
// truncated frame, which are consumed. A done ctx or deadline consumes
// nothing. Fixed has no state: one may serve any number of readers.
//
// Encode appends v, which must be Size bytes long (else an error matching
// [ErrFrameSize]).
type Fixed struct {
	size int
}

// NewFixed returns the codec of frames of size bytes; size must be positive.
func NewFixed(size int) (*Fixed, error) {
	if size <= 0 {
		return nil, fmt.Errorf("frame: NewFixed(%d): the size must be positive", size)
	}
	return &Fixed{size: size}, nil
}

// Size returns the frame size.
func (f *Fixed) Size() int { return f.size }

// Decode reads the next frame; see [Fixed].
func (f *Fixed) Decode(ctx context.Context, r *chanstream.Reader) ([]byte, error) {
	b, err := r.ReadExactly(ctx, f.size)
	if err != nil {
		return nil, atBoundary(err)
	}
	return b, nil
}

// Encode appends v to dst; see [Fixed].
func (f *Fixed) Encode(dst, v []byte) ([]byte, error) {
	if len(v) != f.size {
		return dst, fmt.Errorf("%w: %d bytes for a fixed frame of %d", ErrFrameSize, len(v), f.size)
	}
	return append(dst, v...), nil
}
