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

// recordChunkSize is the size of the buffers for a TLS connection, whose
// Read returns one record (at most 16 KiB of plaintext) at a time: a 64 KiB
// buffer would hold a quarter of that.
const recordChunkSize = 16*1024 + 512

var (
	chunkPool       = sync.Pool{New: func() any { return &chunk{buf: make([]byte, chunkSize), pooled: true} }}
	recordChunkPool = sync.Pool{New: func() any { return &chunk{buf: make([]byte, recordChunkSize), pooled: true} }}
)

// getChunk returns an empty chunk whose buffer holds at least n bytes: a
// pooled one of chunkSize or recordChunkSize, or one of exactly n bytes.
func getChunk(n int) *chunk {
	var c *chunk
	switch {
	case n > chunkSize:
		return &chunk{buf: make([]byte, n)}
	case n == recordChunkSize:
		c = recordChunkPool.Get().(*chunk)
	default:
		c = chunkPool.Get().(*chunk)
	}
	c.r, c.w, c.shared = 0, 0, false
	return c
}

// putChunk recycles c unless a slice of it was handed out.
func putChunk(c *chunk) {
	if !c.pooled || c.shared {
		return
	}
	if len(c.buf) == recordChunkSize {
		recordChunkPool.Put(c)
	} else {
		chunkPool.Put(c)
	}
}
