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
// frames of a 4-byte header and a 1 KiB body. Compare the time per operation
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
		src := bytes.NewReader(callLines)
		br := bufio.NewReaderSize(src, 64<<10)
		b.SetBytes(64)
		for i := 0; i < b.N; i++ {
			if _, err := br.ReadSlice('\n'); err == io.EOF {
				src.Reset(callLines)
				br.Reset(src)
				br.ReadSlice('\n')
			}
		}
	})
	// ReadSlice under the reader's gate, locked and unlocked around each call
	// as a read call takes it: the floor for any read call that serialises
	// with other goroutines' calls.
	b.Run("BufioReadSliceGated", func(b *testing.B) {
		src := bytes.NewReader(callLines)
		br := bufio.NewReaderSize(src, 64<<10)
		var g gate
		var consumed uint64
		b.SetBytes(64)
		for i := 0; i < b.N; i++ {
			if !g.tryLock() {
				b.Fatal("the gate is taken")
			}
			line, err := br.ReadSlice('\n')
			if err == io.EOF {
				src.Reset(callLines)
				br.Reset(src)
				line, _ = br.ReadSlice('\n')
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
		src := bytes.NewReader(callFrames)
		br := bufio.NewReaderSize(src, 64<<10)
		var header [4]byte
		body := make([]byte, 1024)
		b.SetBytes(4 + 1024)
		for i := 0; i < b.N; i++ {
			if _, err := io.ReadFull(br, header[:]); err != nil {
				src.Reset(callFrames)
				br.Reset(src)
				io.ReadFull(br, header[:])
			}
			io.ReadFull(br, body)
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
				if err := r.Feed(ctx, callFrames); err != nil {
					b.Fatal(err)
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

// lineFeeder feeds a standalone Reader a copy of its data, with the timer
// stopped, each time the benchmark has read all its lines.
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
