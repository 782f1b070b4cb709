package reliability

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/streamtest"
)

// message builds a self-checking line: "<writer> <seq> <len> <body>\n",
// whose body is len copies of one letter picked from writer and seq.
func message(writer, seq, n int) []byte {
	letter := byte('a' + (writer*7+seq)%26)
	return fmt.Appendf(nil, "%d %d %d %s\n", writer, seq, n, bytes.Repeat([]byte{letter}, n))
}

// parseMessage checks a line built by message and returns its writer and seq.
func parseMessage(line []byte) (writer, seq int, err error) {
	var n int
	if _, err := fmt.Sscanf(string(line), "%d %d %d ", &writer, &seq, &n); err != nil {
		return 0, 0, fmt.Errorf("line %.60q...: %v", line, err)
	}
	if writer < 0 || seq < 0 || n < 0 || n > 1<<30 {
		return 0, 0, fmt.Errorf("line %.60q...: bad header", line)
	}
	if want := message(writer, seq, n); !bytes.Equal(line, want) {
		return 0, 0, fmt.Errorf("line of writer %d, seq %d is torn: %d bytes, want %d", writer, seq, len(line), len(want))
	}
	return writer, seq, nil
}

// Scenario 11: 16 goroutines each Write whole messages, one Write per
// message, of sizes from a few bytes to four times the high watermark
// (those take the slow path, queued piece by piece): at the peer, no
// message is interleaved with another and every one arrives, each writer's
// in order.
func TestScenario11_ConcurrentWritersNeverInterleave(t *testing.T) {
	const writers = 16
	perWriter := 200
	if testing.Short() {
		perWriter = 40
	}
	s, peer := streams(t)
	ctx := ctxFor(t, 60*time.Second)

	received := make(chan error, 1)
	counts := make([]int, writers)
	var bytesIn int64
	go func() {
		br := bufio.NewReaderSize(peer, 1<<20)
		next := make([]int, writers)
		for {
			line, err := br.ReadBytes('\n')
			if err == io.EOF && len(line) == 0 {
				received <- nil
				return
			}
			if err != nil {
				received <- err
				return
			}
			bytesIn += int64(len(line))
			w, seq, err := parseMessage(line)
			if err != nil {
				received <- err
				return
			}
			if w < 0 || w >= writers || seq != next[w] {
				received <- fmt.Errorf("writer %d: seq %d, want %d", w, seq, next[w])
				return
			}
			next[w]++
			counts[w]++
		}
	}()

	var wg sync.WaitGroup
	var bytesOut atomic.Int64
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			for seq := range perWriter {
				n := rng.IntN(64)
				if seq%10 == 0 {
					n = rng.IntN(4 * chanstream.DefaultWriteHigh)
				}
				m := message(w, seq, n)
				if k, err := s.WriteContext(ctx, m); err != nil || k != len(m) {
					errs <- fmt.Errorf("writer %d: Write = %d, %v", w, k, err)
					return
				}
				bytesOut.Add(int64(len(m)))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := s.WriteEOF(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-received:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("the peer did not get EOF")
	}
	for w, n := range counts {
		if n != perWriter {
			t.Fatalf("writer %d: %d messages arrived, want %d", w, n, perWriter)
		}
	}
	if bytesIn != bytesOut.Load() {
		t.Fatalf("%d bytes arrived, %d written", bytesIn, bytesOut.Load())
	}
	figure(t, 11, "writers=%d messages=%d bytes=%d interleaved=0 lost=0", writers, writers*perWriter, bytesIn)
}

// Scenario 12: two goroutines call ReadLine on one stream while the peer
// sends lines of many sizes (up to half the limit, so across chunks): every
// line goes whole to exactly one of them, and each sees its lines in the
// order they were sent. The stream reads the socket in pieces of 1 to 4096
// bytes (streamtest.Chop), so that lines arrive cut at every offset.
func TestScenario12_TwoReadersSplitLinesWhole(t *testing.T) {
	lines := 20000
	if testing.Short() {
		lines = 2000
	}
	ours, peer := streamtest.TCPPair(t)
	s := streamOver(t, streamtest.Inject(t, ours, 12, streamtest.Chop(streamtest.Reads, 4096)))
	ctx := ctxFor(t, 60*time.Second)

	sent := make(chan error, 1)
	go func() {
		bw := bufio.NewWriterSize(peer, 1<<16)
		rng := rand.New(rand.NewPCG(12, 12))
		for seq := range lines {
			n := rng.IntN(100)
			if seq%50 == 0 {
				n = rng.IntN(chanstream.DefaultLimit / 2)
			}
			if _, err := bw.Write(message(0, seq, n)); err != nil {
				sent <- err
				return
			}
		}
		if err := bw.Flush(); err != nil {
			sent <- err
			return
		}
		sent <- peer.CloseWrite()
	}()

	got := make([][]int, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				line, err := s.ReadLine(ctx)
				if len(line) == 0 && errors.Is(err, io.EOF) {
					return
				}
				if err != nil {
					errs[r] = err
					return
				}
				_, seq, err := parseMessage(line)
				if err != nil {
					errs[r] = err
					return
				}
				got[r] = append(got[r], seq)
			}
		}()
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			s.Abort() // unblocks the sender
			t.Fatalf("reader %d after %d lines: %v", r, len(got[r]), err)
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	seen := make([]int, lines)
	for r, seqs := range got {
		for i, seq := range seqs {
			if i > 0 && seq <= seqs[i-1] {
				t.Fatalf("reader %d: line %d after line %d", r, seq, seqs[i-1])
			}
			seen[seq]++
		}
	}
	for seq, n := range seen {
		if n != 1 {
			t.Fatalf("line %d was read %d times", seq, n)
		}
	}
	figure(t, 12, "lines=%d reader0=%d reader1=%d whole=all duplicated=0 lost=0", lines, len(got[0]), len(got[1]))
}

// Scenario 13: 64 goroutines call Drain over and over while a writer
// writes 64 MiB to a peer that reads slowly at first: no Drain panics or
// hangs, each returns nil, every byte arrives, and once the peer stops reading and the stream is aborted,
// every Drain in flight returns an error.
func TestScenario13_ManyDrainsWhileWriting(t *testing.T) {
	const drainers = 64
	// The drainers spin while the writer writes: under the race detector,
	// on a loaded machine, that is slow, so it writes less then. The bound
	// only catches a hang.
	total := 64 << 20
	switch {
	case testing.Short():
		total = 8 << 20
	case raceEnabled:
		total = 16 << 20
	}
	s, peer := streams(t)
	ctx := ctxFor(t, 5*time.Minute)

	readDone := make(chan int64, 1)
	// Slow for the first MiB, so the drainers really wait: reads of at
	// most 4 KiB, each held back 100 µs. The faults read no more than they
	// return, so the rest is read from the socket itself, at full speed.
	slow := streamtest.Inject(t, peer, 13, streamtest.Chop(streamtest.Reads, 4096), streamtest.Latency(streamtest.Reads, 100*time.Microsecond, 0))
	go func() {
		n, err := io.Copy(io.Discard, io.LimitReader(slow, 1<<20))
		if err != nil || n < 1<<20 {
			readDone <- n
			return
		}
		m, _ := io.Copy(io.Discard, peer)
		readDone <- n + m
	}()

	stop := make(chan struct{})
	var drains atomic.Int64
	var wg sync.WaitGroup
	drainErrs := make(chan error, drainers)
	for range drainers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := s.Drain(ctx); err != nil {
					drainErrs <- err
					return
				}
				drains.Add(1)
			}
		}()
	}
	piece := make([]byte, 64<<10)
	for written := 0; written < total; written += len(piece) {
		if _, err := s.WriteContext(ctx, piece); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	close(drainErrs)
	for err := range drainErrs {
		t.Fatalf("a Drain failed while the writer wrote: %v", err)
	}
	if err := s.WriteEOF(); err != nil {
		t.Fatal(err)
	}
	if n := <-readDone; n != int64(total) {
		t.Fatalf("the peer read %d bytes, want %d", n, total)
	}

	// Now a peer that stops reading: the queue fills, 64 Drains wait,
	// and Abort wakes every one of them with an error.
	s2, peer2 := streams(t, chanstream.WithWriteBufferLimits(64<<10, 0))
	_ = peer2 // open, never read
	writeErr := make(chan error, 1)
	go func() { // blocks at the watermark; Abort ends it
		_, err := s2.WriteContext(ctx, make([]byte, 16<<20))
		writeErr <- err
	}()
	// The kernel's buffers take a few MiB first: wait until they are full
	// and the writer is held at the watermark, so that every Drain has
	// something to wait for.
	stuck(t, s2)
	waiting := make(chan error, drainers)
	for range drainers {
		go func() { waiting <- s2.Drain(ctx) }()
	}
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-waiting:
		t.Fatalf("a Drain returned %v while the peer read nothing", err)
	default:
	}
	s2.Abort()
	for range drainers {
		select {
		case err := <-waiting:
			if !errors.Is(err, net.ErrClosed) {
				t.Fatalf("Drain after Abort: %v, want net.ErrClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a Drain did not return after Abort")
		}
	}
	if err := <-writeErr; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("the blocked Write after Abort: %v, want net.ErrClosed", err)
	}
	waitCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s2.WaitClosed(waitCtx); errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("WaitClosed after Abort hung")
	}
	figure(t, 13, "drainers=%d written=%d drains_returned=%d hung=0 after_abort=all_failed", drainers, total, drains.Load())
}
