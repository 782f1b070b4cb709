package chanstream

import (
	"runtime"
	"sync"
	"sync/atomic"
)

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

	// state lets Feed append to the chunk it sent last while the Reader has
	// not taken it yet: Feed moves it open -> appending -> open around its
	// copy, and the Reader seals it (open -> sealed) when it receives it.
	state atomic.Uint32
}

const (
	chunkOpen uint32 = iota
	chunkAppending
	chunkSealed
)

func (c *chunk) len() int        { return c.w - c.r }
func (c *chunk) bytes() []byte   { return c.buf[c.r:c.w] }
func (c *chunk) room() int       { return len(c.buf) - c.w }
func (c *chunk) append(p []byte) { c.w += copy(c.buf[c.w:], p) }

// seal takes the chunk from its producer. It waits out a Feed that is still
// appending to it, which takes no longer than one copy.
func (c *chunk) seal() {
	for !c.state.CompareAndSwap(chunkOpen, chunkSealed) {
		if c.state.Load() == chunkSealed {
			return
		}
		runtime.Gosched()
	}
}

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
	c.state.Store(chunkOpen)
	return c
}

// putChunk recycles c unless a slice of it was handed out.
func putChunk(c *chunk) {
	if c.pooled && !c.shared {
		chunkPool.Put(c)
	}
}
