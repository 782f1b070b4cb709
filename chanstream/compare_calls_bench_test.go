package chanstream

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"testing"
)

// In-memory comparisons of the read calls on buffered data with what a Go
// user would write instead over a bufio.Reader: 64 KiB of 64-byte lines, and
// frames of a 4-byte header and a 1 KiB body. Both sides bring the data in
// with the timer stopped (Feed; a bufio.Reader refilled by Peek), so that
// what is timed is the calls alone. Compare the time per operation
// within one run (Calls/ReadLineView against Calls/BufioReadSlice, and so on);
// docs/performance.md quotes the ratios. Run them with
//
//	go test -run '^$' -bench Calls -count 6 ./chanstream

// callLines is 1,024 lines of 63 'x' and '\n': 64 KiB.
var callLines = bytes.Repeat(append(bytes.Repeat([]byte("x"), 63), '\n'), 1024)

// callLinesCRLF is callLines with every line ending in "\r\n", for ReadUntil
// with two separators.
var callLinesCRLF = bytes.Repeat(append(bytes.Repeat([]byte("x"), 62), '\r', '\n'), 1024)

// callFrames is 64 frames of a 4-byte header and a 1 KiB body.
var callFrames = make([]byte, 64*(4+1024))

func BenchmarkCalls(b *testing.B) {
	b.Run("BufioReadSlice", func(b *testing.B) {
		br, lf := bufferedBufio(b, callLines)
		for i := 0; i < b.N; i++ {
			lf.refillIfRead(b, br)
			if _, err := br.ReadSlice('\n'); err != nil {
				b.Fatal(err)
			}
		}
	})
	// ReadSlice under the reader's gate, locked and unlocked around each call
	// as a read call takes it: the floor for any read call that serialises
	// with other goroutines' calls.
	b.Run("BufioReadSliceGated", func(b *testing.B) {
		br, lf := bufferedBufio(b, callLines)
		var g gate
		var consumed uint64
		for i := 0; i < b.N; i++ {
			lf.refillIfRead(b, br)
			if !g.tryLock() {
				b.Fatal("the gate is taken")
			}
			line, err := br.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			consumed += uint64(len(line))
			g.unlock(consumed)
		}
	})
	b.Run("ReadLineView", func(b *testing.B) {
		ctx, r, lf := bufferedLines(b, callLines)
		for i := 0; i < b.N; i++ {
			lf.feedIfRead(b, r)
			if _, err := r.ReadLineView(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ReadLine", func(b *testing.B) {
		ctx, r, lf := bufferedLines(b, callLines)
		for i := 0; i < b.N; i++ {
			lf.feedIfRead(b, r)
			if _, err := r.ReadLine(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	crlf := [][]byte{[]byte("\r\n"), []byte("\n")}
	b.Run("ReadUntilTwoSeps", func(b *testing.B) {
		ctx, r, lf := bufferedLines(b, callLinesCRLF)
		for i := 0; i < b.N; i++ {
			lf.feedIfRead(b, r)
			if _, err := r.ReadUntil(ctx, crlf...); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("BufioReadFull", func(b *testing.B) {
		br := bufio.NewReaderSize(nil, len(callFrames))
		var header [4]byte
		body := make([]byte, 1024)
		b.SetBytes(4 + 1024)
		left := 0
		for i := 0; i < b.N; i++ {
			if left == 0 {
				b.StopTimer()
				br.Reset(bytes.NewReader(callFrames))
				br.Peek(len(callFrames))
				left = 64
				b.StartTimer()
			}
			if _, err := io.ReadFull(br, header[:]); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(br, body); err != nil {
				b.Fatal(err)
			}
			left--
		}
	})
	// The same under the reader's gate, taken and released around each
	// ReadFull as ReadExactlyInto takes it.
	b.Run("BufioReadFullGated", func(b *testing.B) {
		br := bufio.NewReaderSize(nil, len(callFrames))
		var header [4]byte
		body := make([]byte, 1024)
		b.SetBytes(4 + 1024)
		left := 0
		var g gate
		var consumed uint64
		for i := 0; i < b.N; i++ {
			if left == 0 {
				b.StopTimer()
				br.Reset(bytes.NewReader(callFrames))
				br.Peek(len(callFrames))
				left = 64
				b.StartTimer()
			}
			for _, p := range [][]byte{header[:], body} {
				if !g.tryLock() {
					b.Fatal("the gate is taken")
				}
				if _, err := io.ReadFull(br, p); err != nil {
					b.Fatal(err)
				}
				consumed += uint64(len(p))
				g.unlock(consumed)
			}
			left--
		}
	})
	b.Run("ReadExactlyInto", func(b *testing.B) {
		ctx := context.Background()
		r := NewReader()
		var header [4]byte
		body := make([]byte, 1024)
		b.SetBytes(4 + 1024)
		left := 0
		for i := 0; i < b.N; i++ {
			if left == 0 {
				b.StopTimer()
				// In two halves, as a socket's reads would come (at most
				// 64 KiB each): each fits a pooled chunk, which
				// ReadExactlyInto, copying out, gives back for the next.
				half := len(callFrames) / 2
				for _, p := range [][]byte{callFrames[:half], callFrames[half:]} {
					if err := r.Feed(ctx, p); err != nil {
						b.Fatal(err)
					}
				}
				left = 64
				b.StartTimer()
			}
			if _, err := r.ReadExactlyInto(ctx, header[:]); err != nil {
				b.Fatal(err)
			}
			if _, err := r.ReadExactlyInto(ctx, body); err != nil {
				b.Fatal(err)
			}
			left--
		}
	})
}

// lineFeeder feeds a standalone Reader a copy of its data, or refills a
// bufio.Reader with it, with the timer stopped, each time the benchmark has
// read all its lines: both sides read lines already buffered, and neither
// pays for bringing them in.
type lineFeeder struct {
	data  []byte
	lines int
	left  int
}

// bufferedLines returns the pieces of a benchmark that reads the lines of
// data (all of one length) from a standalone Reader, one per operation.
func bufferedLines(b *testing.B, data []byte) (context.Context, *Reader, *lineFeeder) {
	lines := bytes.Count(data, []byte("\n"))
	b.SetBytes(int64(len(data) / lines))
	return context.Background(), NewReader(), &lineFeeder{data: data, lines: lines}
}

// bufferedBufio is bufferedLines for a bufio.Reader that holds all of data.
func bufferedBufio(b *testing.B, data []byte) (*bufio.Reader, *lineFeeder) {
	lines := bytes.Count(data, []byte("\n"))
	b.SetBytes(int64(len(data) / lines))
	return bufio.NewReaderSize(nil, len(data)), &lineFeeder{data: data, lines: lines}
}

func (lf *lineFeeder) feedIfRead(b *testing.B, r *Reader) {
	if lf.left == 0 {
		b.StopTimer()
		if err := r.Feed(context.Background(), lf.data); err != nil {
			b.Fatal(err)
		}
		lf.left = lf.lines
		b.StartTimer()
	}
	lf.left--
}

func (lf *lineFeeder) refillIfRead(b *testing.B, br *bufio.Reader) {
	if lf.left == 0 {
		b.StopTimer()
		br.Reset(bytes.NewReader(lf.data))
		if _, err := br.Peek(len(lf.data)); err != nil {
			b.Fatal(err)
		}
		lf.left = lf.lines
		b.StartTimer()
	}
	lf.left--
}
