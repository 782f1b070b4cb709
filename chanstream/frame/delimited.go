package frame

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/chanstream/chanstream/chanstream"
)

// Delimited is the codec of frames ended by a delimiter: lines, or records
// ended by any of several delimiters (tokio's LinesCodec and
// AnyDelimiterCodec). Its frames are []byte without their delimiter, and are
// limited in size by the Reader's limit ([chanstream.WithLimit]).
//
// Decode reads through the nearest delimiter ([chanstream.Reader.ReadUntil])
// and returns the frame before it. At the end of the stream it returns
// [io.EOF] if nothing is left, or a [*chanstream.IncompleteReadError]
// (Expected == -1) whose Partial holds the last, undelimited bytes, which
// are consumed. A frame with no delimiter within the reader's limit gives a
// [*FrameTooLargeError] at once (Size: the bytes seen so far); the next
// Decode skips through the next delimiter ([chanstream.Reader.DiscardUntil],
// however long that takes) and returns the frame after it, so the stream
// stays in sync. If the stream ends before that delimiter, that Decode
// returns an error matching [io.ErrUnexpectedEOF] (not io.EOF: a frame was
// cut short), and the next one io.EOF. A done ctx or deadline consumes
// nothing, except while skipping, where what was skipped stays skipped and
// the next Decode goes on skipping.
//
// Encode appends the frame followed by the first delimiter; a frame that
// contains a delimiter fails with an error matching [ErrFrameSize].
//
// A Delimited decodes one Reader at a time once it is skipping (see
// [Decoder]); Encode may be called from any goroutine.
type Delimited struct {
	delims  [][]byte
	dropCR  bool
	skipFor *chanstream.Reader // the reader whose over-long frame the next Decode skips
}

// NewLines returns the codec of lines ended by "\n": Decode returns a line
// without its "\n" and without a "\r" before it, as [bufio.ScanLines] does;
// Encode appends "\n", and refuses a line that contains "\n" or ends in "\r"
// ([ErrFrameSize]), which would not decode as written.
func NewLines() *Delimited {
	return &Delimited{delims: [][]byte{{'\n'}}, dropCR: true}
}

// NewDelimited returns the codec of frames ended by any of delims (the
// nearest one ends a frame). Encode appends the first. It fails with a
// clear error when delims is empty or one of them is.
func NewDelimited(delims ...[]byte) (*Delimited, error) {
	if len(delims) == 0 {
		return nil, errors.New("frame: NewDelimited needs at least one delimiter")
	}
	d := &Delimited{}
	for i, sep := range delims {
		if len(sep) == 0 {
			return nil, fmt.Errorf("frame: NewDelimited: delimiter %d is empty", i)
		}
		d.delims = append(d.delims, bytes.Clone(sep))
	}
	return d, nil
}

// Decode reads the next frame; see [Delimited].
func (d *Delimited) Decode(ctx context.Context, r *chanstream.Reader) ([]byte, error) {
	if d.skipFor != nil {
		if d.skipFor != r {
			return nil, ErrOtherReader
		}
		if _, err := r.DiscardUntil(ctx, d.delims...); err != nil {
			if !isStop(err) {
				d.skipFor = nil
				if err == io.EOF {
					err = io.ErrUnexpectedEOF // the frame was cut short
				}
				return nil, fmt.Errorf("frame: the stream ended inside an over-long frame being skipped: %w", err)
			}
			return nil, err
		}
		d.skipFor = nil
	}
	b, err := r.ReadUntil(ctx, d.delims...)
	if err != nil {
		var le *chanstream.LimitOverrunError
		if errors.As(err, &le) {
			d.skipFor = r
			return nil, &FrameTooLargeError{Size: uint64(le.Consumed), Max: r.Limit()}
		}
		return nil, atBoundary(err)
	}
	b = b[:len(b)-d.delimAt(b)]
	if d.dropCR && len(b) > 0 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	return b, nil
}

// delimAt returns the length of the longest delimiter b ends with.
func (d *Delimited) delimAt(b []byte) int {
	n := 0
	for _, sep := range d.delims {
		if len(sep) > n && bytes.HasSuffix(b, sep) {
			n = len(sep)
		}
	}
	return n
}

// Encode appends v and the first delimiter to dst; see [Delimited].
func (d *Delimited) Encode(dst, v []byte) ([]byte, error) {
	for _, sep := range d.delims {
		if bytes.Contains(v, sep) {
			return dst, fmt.Errorf("%w: the frame contains the delimiter %q", ErrFrameSize, sep)
		}
	}
	if d.dropCR && len(v) > 0 && v[len(v)-1] == '\r' {
		return dst, fmt.Errorf("%w: a line ends in \"\\r\"", ErrFrameSize)
	}
	dst = append(dst, v...)
	return append(dst, d.delims[0]...), nil
}
