package chanstream

import (
	"bytes"
	"slices"
)

// segBuffer is the data a Reader has received and not yet returned: a queue
// of chunks, in order, read from the front. It knows nothing of where the
// chunks come from nor of waiting; a Reader holds one and uses it with its
// gate held.
//
// Results come out three ways. take returns a slice the caller owns, which
// aliases a chunk when the bytes lie in one (the chunk is then marked shared
// and never recycled) and is a copy otherwise; view returns a slice valid only
// until the next release; copyOut copies into the caller's slice. Chunks read
// to their end go back to the pool unless a slice of them was handed out.
type segBuffer struct {
	segs     []*chunk // unread bytes, in order; none is empty
	buffered int      // bytes in segs
	consumed int64    // bytes taken out, less the bytes put back by unread
	viewed   *chunk   // read through by a view: recycled by release
	scratch  []byte   // holds a view that straddles chunks
}

// push appends c's bytes; c belongs to the buffer from then on. A chunk less
// than a quarter full is copied into the free space of the last one when it
// fits, so that a peer sending tiny segments cannot make the buffer hold a
// whole chunk per byte.
func (b *segBuffer) push(c *chunk) {
	n := c.len()
	if n == 0 {
		putChunk(c)
		return
	}
	b.buffered += n
	if k := len(b.segs); k > 0 {
		if last := b.segs[k-1]; last.room() >= n && n <= len(c.buf)/4 {
			last.append(c.bytes())
			putChunk(c)
			return
		}
	}
	b.segs = append(b.segs, c)
}

// unread puts p back in front of the buffered data, uncounting it from
// consumed. The buffer keeps p (it does not copy it) and never writes to it.
func (b *segBuffer) unread(p []byte) {
	if len(p) == 0 {
		return
	}
	c := &chunk{buf: p[:len(p):len(p)], w: len(p), shared: true}
	b.segs = slices.Insert(b.segs, 0, c)
	b.buffered += len(p)
	b.consumed -= int64(len(p))
}

// popFront drops the first chunk, which has been read through.
func (b *segBuffer) popFront() {
	putChunk(b.segs[0])
	n := copy(b.segs, b.segs[1:])
	b.segs[n] = nil
	b.segs = b.segs[:n]
}

// skip consumes n bytes (n <= b.buffered).
func (b *segBuffer) skip(n int) {
	b.buffered -= n
	b.consumed += int64(n)
	for n > 0 {
		c := b.segs[0]
		k := min(n, c.len())
		c.r += k
		n -= k
		if c.r == c.w {
			b.popFront()
		}
	}
}

// take consumes and returns the first n bytes (n <= b.buffered). Within one
// chunk the result aliases it, capped so that an append by the caller cannot
// reach the bytes after it; across chunks it is a copy. So is a result from
// a pooled chunk that holds only a small read (a request, a line typed at a
// terminal): one small allocation then lets the chunk go back to the pool,
// where sharing it would cost a whole chunk for a few bytes.
func (b *segBuffer) take(n int) []byte {
	if n == 0 {
		return []byte{}
	}
	if c := b.segs[0]; n <= c.len() {
		return b.takeFirst(c, n)
	}
	return b.takeCopy(n)
}

// takeFirst is take of n > 0 bytes that lie in c, the first chunk.
func (b *segBuffer) takeFirst(c *chunk, n int) []byte {
	if !c.shared && c.pooled && c.w <= len(c.buf)/smallReadRatio {
		return b.takeCopy(n)
	}
	p := c.buf[c.r : c.r+n : c.r+n]
	c.shared = true
	c.r += n
	b.buffered -= n
	b.consumed += int64(n)
	if c.r == c.w { // popFront, but a shared chunk never goes back to the pool
		m := copy(b.segs, b.segs[1:])
		b.segs[m] = nil
		b.segs = b.segs[:m]
	}
	return p
}

// takeCopy is take of n bytes into a new slice.
func (b *segBuffer) takeCopy(n int) []byte {
	p := make([]byte, n)
	b.copyOut(p)
	return p
}

// smallReadRatio makes a read small for take: at most 1/16 of its chunk
// (4 KiB of a 64 KiB chunk).
const smallReadRatio = 16

// view consumes and returns the first n bytes (n <= b.buffered) as a slice
// that is valid until the next release and must not be modified: a slice of
// the first chunk when they lie in it (a chunk read through is kept from the
// pool until release), else a copy in the buffer's scratch space.
func (b *segBuffer) view(n int) []byte {
	if n == 0 {
		return []byte{}
	}
	if c := b.segs[0]; n <= c.len() {
		return b.viewFirst(c, n)
	}
	if cap(b.scratch) < n {
		b.scratch = make([]byte, n)
	}
	p := b.scratch[:n:n]
	b.copyOut(p)
	return p
}

// viewLine is view of the line that ends in the first chunk, if it is no
// longer than limit (not counting the '\n'); it returns nil if there is none.
func (b *segBuffer) viewLine(limit int) []byte {
	if len(b.segs) == 0 {
		return nil
	}
	c := b.segs[0]
	i := bytes.IndexByte(c.buf[c.r:c.w], '\n')
	if i < 0 || i > limit {
		return nil
	}
	return b.viewFirst(c, i+1)
}

// takeLine is take of the line that ends in the first chunk, if it is no
// longer than limit (not counting the '\n'); it returns nil if there is none.
func (b *segBuffer) takeLine(limit int) []byte {
	if len(b.segs) == 0 {
		return nil
	}
	c := b.segs[0]
	i := bytes.IndexByte(c.buf[c.r:c.w], '\n')
	if i < 0 || i > limit {
		return nil
	}
	// takeFirst, written out: this is the hottest call.
	n := i + 1
	if !c.shared && c.pooled && c.w <= len(c.buf)/smallReadRatio {
		return b.takeCopy(n)
	}
	p := c.buf[c.r : c.r+n : c.r+n]
	c.shared = true
	c.r += n
	b.buffered -= n
	b.consumed += int64(n)
	if c.r == c.w {
		m := copy(b.segs, b.segs[1:])
		b.segs[m] = nil
		b.segs = b.segs[:m]
	}
	return p
}

// viewFirst is view of n bytes that lie in c, the first chunk.
func (b *segBuffer) viewFirst(c *chunk, n int) []byte {
	p := c.buf[c.r : c.r+n : c.r+n]
	c.r += n
	b.buffered -= n
	b.consumed += int64(n)
	if c.r == c.w {
		m := copy(b.segs, b.segs[1:])
		b.segs[m] = nil
		b.segs = b.segs[:m]
		b.viewed = c // kept from the pool while the view lives
	}
	return p
}

// release ends the validity of the last view, recycling the chunk it was
// read from.
func (b *segBuffer) release() {
	if b.viewed != nil {
		putChunk(b.viewed)
		b.viewed = nil
	}
}

// copyOut consumes min(len(p), b.buffered) bytes into p and returns how many.
func (b *segBuffer) copyOut(p []byte) int {
	if len(b.segs) > 0 {
		if c := b.segs[0]; len(p) < c.w-c.r { // the common case: within the first chunk, which stays
			n := copy(p, c.buf[c.r:c.w])
			c.r += n
			b.buffered -= n
			b.consumed += int64(n)
			return n
		}
	}
	n := 0
	for n < len(p) && len(b.segs) > 0 {
		c := b.segs[0]
		k := copy(p[n:], c.bytes())
		n += k
		c.r += k
		if c.r == c.w {
			b.popFront()
		}
	}
	b.buffered -= n
	b.consumed += int64(n)
	return n
}

// byteAt returns the byte at offset i (i < b.buffered).
func (b *segBuffer) byteAt(i int) byte {
	for _, c := range b.segs {
		if i < c.len() {
			return c.buf[c.r+i]
		}
		i -= c.len()
	}
	panic("chanstream: byteAt beyond the buffered data")
}

// gather copies the bytes at offsets [from, to) into dst[:0] and returns it.
func (b *segBuffer) gather(dst []byte, from, to int) []byte {
	dst = dst[:0]
	base := 0
	for _, c := range b.segs {
		d := c.bytes()
		lo, hi := max(from-base, 0), min(to-base, len(d))
		if lo < hi {
			dst = append(dst, d[lo:hi]...)
		}
		base += len(d)
		if base >= to {
			break
		}
	}
	return dst
}

// index returns the offset of the first occurrence of sep (not empty) that
// starts at or after from and ends at or before to, or -1. It searches chunk
// by chunk and, at each boundary between chunks, a small window for an
// occurrence that straddles it.
func (b *segBuffer) index(sep []byte, from, to int) int {
	var scratch [64]byte
	L := len(sep)
	to = min(to, b.buffered)
	base := 0
	for i, c := range b.segs {
		if to-max(from, base-(L-1)) < L {
			break // no occurrence fits in what is left before to
		}
		d := c.bytes()
		if i > 0 && L > 1 {
			ws, we := max(from, base-(L-1)), min(to, base+L-1)
			if ws < base && we-ws >= L {
				w := b.gather(scratch[:], ws, we)
				if j := bytes.Index(w, sep); j >= 0 && ws+j < base {
					return ws + j
				}
			}
		}
		if lo, hi := max(from-base, 0), min(to-base, len(d)); hi-lo >= L {
			if j := bytes.Index(d[lo:hi], sep); j >= 0 {
				return base + lo + j
			}
		}
		base += len(d)
	}
	return -1
}

// sepFrom returns where the separator that ends first in the buffered data
// starts and ends, looking only at occurrences that start at or after from;
// between equal ends the shorter wins, seps being sorted shortest first. It
// returns -1, -1 if there is none. Each separator after the first is
// searched only where it could end before the best found so far.
func (b *segBuffer) sepFrom(seps [][]byte, from int) (start, end int) {
	start, end = -1, -1
	to := b.buffered
	for _, sep := range seps {
		if i := b.index(sep, from, to); i >= 0 {
			start, end = i, i+len(sep)
			to = end - 1 // a longer separator wins only by ending before
		}
	}
	return start, end
}

// firstLen returns how many bytes the first chunk holds: those a read can
// take without a copy.
func (b *segBuffer) firstLen() int {
	if len(b.segs) == 0 {
		return 0
	}
	return b.segs[0].len()
}

// firstSep returns the offset just past the separator that ends first in
// the first chunk (between equal ends the shorter, seps being sorted
// shortest first), if that separator starts at an offset of at most limit,
// and -1 otherwise. An occurrence that ends first in the whole buffer ends
// there if one does, so the answer is the whole buffer's.
func (b *segBuffer) firstSep(seps [][]byte, limit int) int {
	if len(b.segs) == 0 {
		return -1
	}
	if start, end := sepIn(b.segs[0].bytes(), seps); start <= limit {
		return end // -1 if there is none
	}
	return -1
}

// sepIn is sepFrom over d alone. When every separator ends in the same byte
// (as "\r\n" and "\n" do), it is one pass: each place that byte occurs is
// where an occurrence may end, and the first place where one does is the
// answer. Otherwise each separator after the first is searched only where
// it could end before the best found so far.
func sepIn(d []byte, seps [][]byte) (start, end int) {
	if len(seps) == 1 {
		if i := bytes.Index(d, seps[0]); i >= 0 {
			return i, i + len(seps[0])
		}
		return -1, -1
	}
	if last, ok := commonLast(seps); ok {
		for e := 0; ; {
			i := bytes.IndexByte(d[e:], last)
			if i < 0 {
				return -1, -1
			}
			e += i + 1
			for _, sep := range seps {
				if s := e - len(sep); s >= 0 && string(d[s:e]) == string(sep) {
					return s, e
				}
			}
		}
	}
	start, end = -1, -1
	for _, sep := range seps {
		if i := bytes.Index(d, sep); i >= 0 {
			start, end = i, i+len(sep)
			d = d[:end-1] // a longer separator wins only by ending before
		}
	}
	return start, end
}

// commonLast returns the byte every separator ends in, if they all end in
// the same one.
func commonLast(seps [][]byte) (byte, bool) {
	last := seps[0][len(seps[0])-1]
	for _, sep := range seps[1:] {
		if sep[len(sep)-1] != last {
			return 0, false
		}
	}
	return last, true
}
