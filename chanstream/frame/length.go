package frame

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/chanstream/chanstream/chanstream"
)

// LengthPrefixed is the codec of length-prefixed frames (tokio's
// LengthDelimitedCodec, Netty's LengthFieldBasedFrameDecoder with the length
// field first): a length field of 1, 2, 4 or 8 bytes in a given byte order,
// or a uvarint (encoding/binary's, 1 to 10 bytes), then that many bytes of
// body. The length counts the body only. Frames are the bodies, as []byte.
//
// Decode reads the length field, then the body. Truncation: the stream
// ending before any byte of a frame gives [io.EOF]; ending inside one gives
// a [*chanstream.IncompleteReadError] whose Partial holds the frame's bytes
// that arrived, length field included, and whose Expected is the whole
// frame's size (-1 when it ended inside the length field); they are
// consumed.
//
// A length over the maximum gives a [*FrameTooLargeError] at once, with the
// length field consumed and the body not read: the next Decode skips the
// body ([chanstream.Reader.Discard], whatever its size, holding no more than
// a chunk) and returns the frame after it, so the stream stays in sync; if
// the stream ends inside the skipped body, that Decode returns an error
// matching [io.ErrUnexpectedEOF], and the next one io.EOF. A caller that
// would rather not read on closes the stream. An invalid uvarint
// gives [ErrBadLength], after which the stream cannot be resynchronised.
//
// A done ctx or an expired deadline loses nothing: if the length field was
// read (or part of a uvarint), the LengthPrefixed keeps it and the next
// Decode on the same Reader reads the rest of the frame; and what a skip
// skipped stays skipped. So a LengthPrefixed decodes one Reader at a time:
// make one per reader (Decode with another Reader while one is partway
// through a frame returns [ErrOtherReader]). Encode may be called from any
// goroutine.
//
// Encode appends the length field and v; a v longer than the maximum gives a
// *FrameTooLargeError and appends nothing.
type LengthPrefixed struct {
	width int // 1, 2, 4 or 8; 0 for a uvarint
	order binary.ByteOrder
	max   int

	// Decoding state, for the reader in pending.
	pending *chanstream.Reader
	header  [binary.MaxVarintLen64]byte
	nheader int    // bytes of the length field read
	size    int    // the body's size, once the length field is complete; -1 before
	skip    uint64 // bytes of an over-long body still to skip
}

// NewLengthPrefixed returns the codec of frames with a width-byte length
// field (1, 2, 4 or 8) in order ([binary.BigEndian] or
// [binary.LittleEndian]), and bodies of at most maxSize bytes, which must be
// positive; the maximum is also bounded by what the length field can hold
// (255 for one byte). Any other width, a nil order or a maxSize <= 0 is an
// error.
func NewLengthPrefixed(width int, order binary.ByteOrder, maxSize int) (*LengthPrefixed, error) {
	switch width {
	case 1, 2, 4, 8:
	default:
		return nil, fmt.Errorf("frame: NewLengthPrefixed: a length field of %d bytes; it must be 1, 2, 4 or 8", width)
	}
	if order == nil {
		return nil, errors.New("frame: NewLengthPrefixed: nil byte order")
	}
	if maxSize <= 0 {
		return nil, fmt.Errorf("frame: NewLengthPrefixed: maximum frame size %d; it must be positive", maxSize)
	}
	if width < 8 {
		if fieldMax := uint64(1)<<(8*width) - 1; uint64(maxSize) > fieldMax {
			maxSize = int(fieldMax)
		}
	}
	return &LengthPrefixed{width: width, order: order, max: maxSize, size: -1}, nil
}

// NewUvarintPrefixed returns the codec of frames with a uvarint length field
// and bodies of at most maxSize bytes, which must be positive.
func NewUvarintPrefixed(maxSize int) (*LengthPrefixed, error) {
	if maxSize <= 0 {
		return nil, fmt.Errorf("frame: NewUvarintPrefixed: maximum frame size %d; it must be positive", maxSize)
	}
	return &LengthPrefixed{max: maxSize, size: -1}, nil
}

// MaxSize returns the largest body the codec accepts.
func (c *LengthPrefixed) MaxSize() int { return c.max }

// Decode reads the next frame; see [LengthPrefixed].
func (c *LengthPrefixed) Decode(ctx context.Context, r *chanstream.Reader) ([]byte, error) {
	if c.pending != nil && c.pending != r {
		return nil, ErrOtherReader
	}
	if c.skip > 0 {
		if err := c.skipBody(ctx, r); err != nil {
			return nil, err
		}
	}
	if c.size < 0 {
		if err := c.readLength(ctx, r); err != nil {
			return nil, err
		}
	}
	if c.size == 0 {
		c.reset()
		return []byte{}, nil
	}
	body, err := r.ReadExactly(ctx, c.size)
	if err != nil {
		if !consumed(err) {
			return nil, err // the length stays with c
		}
		var ie *chanstream.IncompleteReadError
		errors.As(err, &ie)
		err = &chanstream.IncompleteReadError{
			Partial:  append(c.header[:c.nheader:c.nheader], ie.Partial...),
			Expected: c.nheader + c.size,
		}
		c.reset()
		return nil, err
	}
	c.reset()
	return body, nil
}

func (c *LengthPrefixed) reset() {
	c.pending, c.nheader, c.size, c.skip = nil, 0, -1, 0
}

// readLength reads the length field, or the rest of it, and sets c.size,
// or c.skip for a frame over the maximum.
func (c *LengthPrefixed) readLength(ctx context.Context, r *chanstream.Reader) error {
	var size uint64
	if c.width > 0 {
		n, err := r.ReadExactlyInto(ctx, c.header[:c.width])
		if err != nil {
			if n == 0 {
				return atBoundary(err)
			}
			return &chanstream.IncompleteReadError{Partial: append([]byte(nil), c.header[:n]...), Expected: -1}
		}
		c.nheader = c.width
		size = c.fixedLength()
	} else {
		for {
			if _, err := r.ReadExactlyInto(ctx, c.header[c.nheader:c.nheader+1]); err != nil {
				if !consumed(err) && c.nheader > 0 {
					c.pending = r // keep the uvarint's first bytes
					return err
				}
				if c.nheader == 0 {
					return atBoundary(err)
				}
				err = &chanstream.IncompleteReadError{Partial: append([]byte(nil), c.header[:c.nheader]...), Expected: -1}
				c.reset()
				return err
			}
			c.nheader++
			if c.header[c.nheader-1] < 0x80 {
				break
			}
			if c.nheader == len(c.header) {
				c.reset()
				return ErrBadLength
			}
		}
		var n int
		size, n = binary.Uvarint(c.header[:c.nheader])
		if n <= 0 {
			c.reset()
			return ErrBadLength
		}
	}
	if size > uint64(c.max) {
		c.nheader = 0
		c.skip = size
		c.pending = r
		return &FrameTooLargeError{Size: size, Max: c.max}
	}
	c.size = int(size)
	c.pending = r
	return nil
}

func (c *LengthPrefixed) fixedLength() uint64 {
	switch c.width {
	case 1:
		return uint64(c.header[0])
	case 2:
		return uint64(c.order.Uint16(c.header[:2]))
	case 4:
		return uint64(c.order.Uint32(c.header[:4]))
	default:
		return c.order.Uint64(c.header[:8])
	}
}

// skipBody discards the rest of an over-long body.
func (c *LengthPrefixed) skipBody(ctx context.Context, r *chanstream.Reader) error {
	for c.skip > 0 {
		step := int(min(c.skip, math.MaxInt32))
		n, err := r.Discard(ctx, step)
		c.skip -= uint64(n)
		if err != nil {
			if isStop(err) {
				return err
			}
			c.reset()
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("frame: the stream ended inside an over-long frame being skipped: %w", err)
		}
	}
	c.reset()
	return nil
}

// Encode appends the length field and v to dst; see [LengthPrefixed].
func (c *LengthPrefixed) Encode(dst, v []byte) ([]byte, error) {
	if len(v) > c.max {
		return dst, &FrameTooLargeError{Size: uint64(len(v)), Max: c.max}
	}
	n := uint64(len(v))
	switch c.width {
	case 0:
		dst = binary.AppendUvarint(dst, n)
	case 1:
		dst = append(dst, byte(n))
	case 2:
		dst = appendUint(dst, c.order, 2, n)
	case 4:
		dst = appendUint(dst, c.order, 4, n)
	default:
		dst = appendUint(dst, c.order, 8, n)
	}
	return append(dst, v...), nil
}

func appendUint(dst []byte, order binary.ByteOrder, width int, n uint64) []byte {
	var b [8]byte
	switch width {
	case 2:
		order.PutUint16(b[:], uint16(n))
	case 4:
		order.PutUint32(b[:], uint32(n))
	default:
		order.PutUint64(b[:], n)
	}
	return append(dst, b[:width]...)
}
