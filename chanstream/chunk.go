package chanstream

import "sync"

// chunkSize is the size of the buffers the read pump reads into and Feed
// copies small pieces into.
const chunkSize = 64 * 1024

// A chunk is one buffer of bytes on its way from a producer (the read pump or
// Feed) to a Reader. buf[r:w] are the unread bytes: the producer fills buf up
// to w before it sends the chunk, and the Reader advances r.
//
// Slices the Reader hands to its caller may alias buf (that is how ReadLine
// and ReadExactly avoid copying); such a chunk is marked shared and never goes
// back to the pool, so the caller's slice stays valid for as long as it is
// kept.
type chunk struct {
	buf    []byte
	r, w   int
	shared bool // a slice of buf was handed out: never recycle
	pooled bool // buf came from chunkPool
}

func (c *chunk) len() int        { return c.w - c.r }
func (c *chunk) bytes() []byte   { return c.buf[c.r:c.w] }
func (c *chunk) room() int       { return len(c.buf) - c.w }
func (c *chunk) append(p []byte) { c.w += copy(c.buf[c.w:], p) }

var chunkPool = sync.Pool{New: func() any {
	return &chunk{buf: make([]byte, chunkSize), pooled: true}
}}

// getChunk returns an empty chunk whose buffer holds at least n bytes.
func getChunk(n int) *chunk {
	if n > chunkSize {
		return &chunk{buf: make([]byte, n)}
	}
	c := chunkPool.Get().(*chunk)
	c.r, c.w, c.shared = 0, 0, false
	return c
}

// putChunk recycles c unless a slice of it was handed out.
func putChunk(c *chunk) {
	if c.pooled && !c.shared {
		chunkPool.Put(c)
	}
}
