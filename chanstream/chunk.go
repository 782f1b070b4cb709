package chanstream

import (
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
}

func (c *chunk) len() int        { return c.w - c.r }
func (c *chunk) bytes() []byte   { return c.buf[c.r:c.w] }
func (c *chunk) room() int       { return len(c.buf) - c.w }
func (c *chunk) append(p []byte) { c.w += copy(c.buf[c.w:], p) }

// smallChunkSize is the size of the buffers the read pump uses when the
// reader's limit is below chunkSize: two of them make the limit, which keeps
// what a stream holds for a reader that is not reading near 2 × limit. From
// the default limit up a read takes 64 KiB, as a 64 KiB bufio.Reader does: a
// flow of data costs half the read(2) calls that 32 KiB would.
const smallChunkSize = 32 * 1024

// readChunkSize returns the size of the read pump's buffers for a reader
// with the given limit.
func readChunkSize(limit int) int {
	if limit < chunkSize {
		return smallChunkSize
	}
	return chunkSize
}

// recordChunkSize is the size of the buffers for a TLS connection, whose
// Read returns one record (at most 16 KiB of plaintext) at a time: a 64 KiB
// buffer would hold a quarter of that.
const recordChunkSize = 16*1024 + 512

// A chunkPool holds the buffers of one size: a sync.Pool, and a few spare
// slots that a goroutine can fill without a call deeper than a
// compare-and-swap. A read of a socket that finds nothing to read puts its
// buffer there before it waits, from within the RawConn's callback, where
// every byte of stack counts; the next get takes it back.
type chunkPool struct {
	size  int
	pool  sync.Pool
	spare [4]atomic.Pointer[chunk]
}

// chunkPools holds the buffers of each pooled size.
var chunkPools = [...]*chunkPool{newChunkPool(chunkSize), newChunkPool(smallChunkSize), newChunkPool(recordChunkSize)}

func newChunkPool(size int) *chunkPool {
	p := &chunkPool{size: size}
	p.pool.New = func() any { return &chunk{buf: make([]byte, size), pooled: true} }
	return p
}

// poolFor returns the pool of buffers of size n; chunkSize's if there is
// none of that size.
func poolFor(n int) *chunkPool {
	for _, p := range chunkPools {
		if p.size == n {
			return p
		}
	}
	return chunkPools[0]
}

// get returns an empty chunk from the pool.
func (p *chunkPool) get() *chunk {
	c := p.getSpare()
	if c == nil {
		c = p.pool.Get().(*chunk)
	}
	c.r, c.w, c.shared = 0, 0, false
	return c
}

// getSpare returns an empty chunk from a spare slot, or nil.
func (p *chunkPool) getSpare() *chunk {
	for i := range p.spare {
		if p.spare[i].Load() != nil {
			if c := p.spare[i].Swap(nil); c != nil {
				c.r, c.w, c.shared = 0, 0, false
				return c
			}
		}
	}
	return nil
}

// putSpare keeps c in a spare slot if one is free, and leaves it to the
// garbage collector if not.
func (p *chunkPool) putSpare(c *chunk) {
	for i := range p.spare {
		if p.spare[i].CompareAndSwap(nil, c) {
			return
		}
	}
}

// getChunk returns an empty chunk whose buffer holds at least n bytes: a
// pooled one when n is one of the pooled sizes (or less than chunkSize),
// else one of exactly n bytes.
func getChunk(n int) *chunk {
	if n > chunkSize {
		return &chunk{buf: make([]byte, n)}
	}
	return poolFor(n).get()
}

// putChunk recycles c unless a slice of it was handed out.
func putChunk(c *chunk) {
	if c.pooled && !c.shared {
		poolFor(len(c.buf)).pool.Put(c)
	}
}
