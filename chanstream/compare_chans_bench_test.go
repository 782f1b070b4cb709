package chanstream_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"sync"
	"testing"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/internal/testnet"
)

// The in-process comparison of chanstream's channels with the Go a user
// would write instead: a goroutine that reads lines with bufio and sends
// them on a channel of 16, and a goroutine that drains a channel into a
// bufio.Writer. Compare the time per operation of each pair within one run
// (docs/performance.md): CSLineChan with GoChanOfLines, CSLinesIter with
// GoPipeReadBytes, CSWriteFrom with GoBufioFromChan.

// chanLines is 1,024 lines of 63 'x' and '\n': 64 KiB.
var chanLines = bytes.Repeat(append(bytes.Repeat([]byte("x"), 63), '\n'), 1024)

// feedLines feeds rd chanLines until it holds at least n lines, then
// FeedEOF, in a goroutine joined when the benchmark ends.
func feedLines(b *testing.B, rd *chanstream.Reader, n int) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ctx := context.Background()
		for fed := 0; fed < n; fed += 1024 {
			if err := rd.Feed(ctx, chanLines); err != nil {
				b.Error(err)
				break
			}
		}
		rd.FeedEOF()
	}()
	b.Cleanup(wg.Wait)
}

// pipeLines writes chanLines to pw until at least n lines are written, then
// closes it, in a goroutine joined when the benchmark ends.
func pipeLines(b *testing.B, pw *io.PipeWriter, n int) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for written := 0; written < n; written += 1024 {
			if _, err := pw.Write(chanLines); err != nil {
				break
			}
		}
		pw.Close()
	}()
	b.Cleanup(wg.Wait)
}

func BenchmarkCSLineChan(b *testing.B) {
	rd := chanstream.NewReader()
	b.SetBytes(64)
	feedLines(b, rd, b.N)
	rc := rd.LineChan(context.Background())
	defer rc.Stop()
	n := 0
	for range rc.C {
		n++
	}
	if n < b.N || rc.Err() != io.EOF {
		b.Fatalf("%d lines of %d, Err %v", n, b.N, rc.Err())
	}
}

func BenchmarkCSLinesIter(b *testing.B) {
	rd := chanstream.NewReader()
	b.SetBytes(64)
	feedLines(b, rd, b.N)
	n := 0
	for _, err := range rd.Lines(context.Background()) {
		if err != nil {
			b.Fatal(err)
		}
		n++
	}
	if n < b.N {
		b.Fatalf("%d lines of %d", n, b.N)
	}
}

// BenchmarkGoChanOfLines is the hand-written Go pipeline: a goroutine scans
// lines and sends them on a channel of 16.
func BenchmarkGoChanOfLines(b *testing.B) {
	pr, pw := io.Pipe()
	b.SetBytes(64)
	pipeLines(b, pw, b.N)
	ch := make(chan []byte, 16)
	go func() {
		defer close(ch)
		br := bufio.NewReaderSize(pr, 64<<10)
		for {
			line, err := br.ReadBytes('\n')
			if err != nil {
				return
			}
			ch <- line
		}
	}()
	n := 0
	for range ch {
		n++
	}
	if n < b.N {
		b.Fatalf("%d lines of %d", n, b.N)
	}
}

// BenchmarkGoPipeReadBytes is the hand-written Go loop over a byte stream fed
// by another goroutine, with owned lines (ReadBytes).
func BenchmarkGoPipeReadBytes(b *testing.B) {
	pr, pw := io.Pipe()
	b.SetBytes(64)
	pipeLines(b, pw, b.N)
	br := bufio.NewReaderSize(pr, 64<<10)
	n := 0
	for {
		if _, err := br.ReadBytes('\n'); err != nil {
			break
		}
		n++
	}
	if n < b.N {
		b.Fatalf("%d lines of %d", n, b.N)
	}
}

// chanMsg is the message the write benchmarks send.
var chanMsg = make([]byte, 64)

// sendMsgs sends chanMsg n times on a channel of 16, then closes it, in a
// goroutine joined when the benchmark ends.
func sendMsgs(b *testing.B, n int) <-chan []byte {
	ch := make(chan []byte, 16)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range n {
			ch <- chanMsg
		}
		close(ch)
	}()
	b.Cleanup(wg.Wait)
	return ch
}

// discardPeer reads conn to its end in a goroutine and returns a channel
// closed when it has.
func discardPeer(conn io.Reader) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		io.Copy(io.Discard, conn)
		close(done)
	}()
	return done
}

func BenchmarkCSWriteFrom(b *testing.B) {
	a, z := testnet.TCPPair(b)
	done := discardPeer(z)
	s := chanstream.NewStream(a)
	b.SetBytes(int64(len(chanMsg)))
	ctx := context.Background()
	if _, err := s.WriteFrom(ctx, sendMsgs(b, b.N)); err != nil {
		b.Fatal(err)
	}
	s.Close()
	s.WaitClosed(ctx)
	<-done
	z.Close()
}

// BenchmarkGoBufioFromChan is the hand-written Go writer: a goroutine drains
// a channel into a bufio.Writer and flushes when the channel is empty.
func BenchmarkGoBufioFromChan(b *testing.B) {
	a, z := testnet.TCPPair(b)
	done := discardPeer(z)
	b.SetBytes(int64(len(chanMsg)))
	ch := sendMsgs(b, b.N)
	bw := bufio.NewWriterSize(a, 64<<10)
	for p := range ch {
		bw.Write(p)
		if len(ch) == 0 {
			bw.Flush()
		}
	}
	if err := bw.Flush(); err != nil {
		b.Fatal(err)
	}
	a.Close()
	<-done
	z.Close()
}
