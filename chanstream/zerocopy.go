package chanstream

import (
	"context"
	"io"
)

// The calls in this file hand out no memory: they serve the hottest loops,
// where even one allocation per chunk shows. Results are views into the
// reader's buffers, valid until the next call on the reader, or are copied
// into the caller's buffer; the buffers go back to the pool.

// ReadLineView is ReadLine without the allocation: the line it returns is
// only valid until the next call on the reader (as bufio.Reader.ReadSlice),
// and must not be modified. Everything else (the limit, EOF, errors) is as
// ReadLine.
func (r *Reader) ReadLineView(ctx context.Context) ([]byte, error) {
	if r.enter(ctx) {
		if line := r.viewLine(r.limit); line != nil {
			r.end()
			return line, nil
		}
	} else if err := r.beginWait(ctx); err != nil {
		return nil, err
	}
	defer r.end()
	_, end, err := r.readUntil(ctx, newline)
	if err == nil {
		return r.view(end), nil
	}
	if _, ok := err.(*IncompleteReadError); ok && r.buffered > 0 {
		return r.view(r.buffered), nil
	}
	// The rare endings (EOF, the limit, an error) take ReadLine's path.
	return r.lineEnd(err)
}

// ReadExactlyInto reads exactly len(p) bytes into p: ReadExactly into the
// caller's buffer, with no allocation. If the stream ends first, it returns
// how many bytes it read and an *IncompleteReadError whose Partial is p[:n].
// On a done ctx or a passed deadline nothing is consumed (n is 0).
func (r *Reader) ReadExactlyInto(ctx context.Context, p []byte) (int, error) {
	if r.enter(ctx) {
		if len(p) <= r.buffered {
			n := r.copyOut(p)
			r.end()
			return n, nil
		}
	} else if err := r.beginWait(ctx); err != nil {
		return 0, err
	}
	defer r.end()
	if r.buffered < len(p) {
		r.drain()
		for r.buffered < len(p) {
			if r.atEnd {
				if r.buffered == 0 && r.endSeen() != io.EOF {
					return 0, r.endSeen()
				}
				n := r.copyOut(p)
				return n, &IncompleteReadError{Partial: p[:n], Expected: len(p)}
			}
			if err := r.fill(ctx); err != nil {
				return 0, err
			}
		}
	}
	return r.copyOut(p), nil
}

// WriteTo writes the stream's data to w until EOF, with no copy but the
// one into w: the Reader is an io.WriterTo, so io.Copy(w, r) uses it. It
// returns the number of bytes written and nil at EOF, or the error that
// ended the stream or w's error. w must not keep the slices it is given
// (the io.Writer rule): their buffers are reused.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	ctx := context.Background()
	if err := r.begin(ctx); err != nil {
		return 0, err
	}
	defer r.end()
	var total int64
	for {
		for len(r.segs) > 0 {
			c := r.segs[0]
			n, err := w.Write(c.bytes())
			total += int64(n)
			r.skip(n)
			if err != nil {
				return total, err
			}
		}
		if r.atEnd {
			if r.endSeen() == io.EOF {
				return total, nil
			}
			return total, r.endSeen()
		}
		if err := r.fill(ctx); err != nil {
			return total, err
		}
	}
}
