package chanstream

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chanstream/chanstream/internal/testnet"
)

// Tests of streams over real sockets: socketpair(2) and loopback TCP.

// streamPair returns our stream over one end of a loopback TCP connection,
// and the raw other end.
func streamPair(t *testing.T, opts ...Option) (*Stream, *net.TCPConn) {
	t.Helper()
	ours, peer := tcpPair(t)
	s := NewStream(ours, opts...)
	t.Cleanup(func() {
		s.Abort()
		peer.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.WaitClosed(ctx)
	})
	return s, peer
}

// shrinkBuffers makes the kernel hold only a few KiB between s and peer,
// so that a peer that does not read stalls our writes at once, and a peer
// that starts reading later catches up at once.
func shrinkBuffers(s *Stream, peer *net.TCPConn) {
	peer.SetReadBuffer(4096)
	s.Conn().(*net.TCPConn).SetWriteBuffer(4096)
}

// fillUntilStuck writes until a write stays blocked at the watermark: the
// peer must not read. A write that times out proves nothing on a busy
// machine (the pump may not have run yet), so the writer counts as stuck
// only once, after a timed-out write, nothing more reaches the connection
// for 200 ms while the queue is at the high watermark.
func fillUntilStuck(t *testing.T, s *Stream) {
	t.Helper()
	chunk := bytes.Repeat([]byte("f"), 1024)
	high, _ := s.WriteBufferLimits()
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		_, err := s.WriteContext(ctx, chunk)
		cancel()
		if err == context.DeadlineExceeded {
			before := s.Stats()
			time.Sleep(200 * time.Millisecond)
			after := s.Stats()
			if after.BytesWritten == before.BytesWritten && after.WriteBuffered >= high {
				return
			}
			continue
		}
		if err != nil || i > 100000 {
			t.Fatalf("filling the write side: %v after %d writes", err, i)
		}
	}
}

// eventually is testnet.Eventually.
func eventually(t *testing.T, what string, cond func() bool) { testnet.Eventually(t, what, cond) }

// returnsWithin runs f and fails if it has not returned within d.
func returnsWithin[T any](t *testing.T, d time.Duration, f func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- f() }()
	select {
	case v := <-done:
		return v
	case <-time.After(d):
		t.Fatalf("did not return within %v", d)
		panic("unreachable")
	}
}

func TestStream_PeerHalfCloseReadsEOFAndWritesGoOn(t *testing.T) {
	ctx := testCtx(t)
	s, peer := streamPair(t)
	peer.Write([]byte("request\npartial"))
	peer.CloseWrite()
	if line, err := s.ReadLine(ctx); err != nil || string(line) != "request\n" {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
	if line, err := s.ReadLine(ctx); err != nil || string(line) != "partial" {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
	if line, err := s.ReadLine(ctx); err != io.EOF || len(line) != 0 {
		t.Fatalf("ReadLine at EOF = %q, %v", line, err)
	}
	if got, err := s.ReadChunk(ctx, 10); err != io.EOF || len(got) != 0 {
		t.Fatalf("ReadChunk at EOF = %q, %v", got, err)
	}
	if !s.AtEOF() {
		t.Fatal("AtEOF false")
	}
	// Echo after EOF.
	s.Write([]byte("response after your EOF"))
	s.Close()
	got, err := io.ReadAll(peer)
	if err != nil || string(got) != "response after your EOF" {
		t.Fatalf("the peer read %q, %v", got, err)
	}
}

func TestStream_WriteEOFHalfCloses(t *testing.T) {
	ctx := testCtx(t)
	for _, kind := range []string{"tcp", "socketpair"} {
		t.Run(kind, func(t *testing.T) {
			var ours, peer net.Conn
			if kind == "tcp" {
				ours, peer = tcpPair(t)
			} else {
				ours, peer = socketPair(t)
			}
			defer peer.Close()
			s := NewStream(ours)
			defer closeStream(t, s)
			if !s.CanWriteEOF() {
				t.Fatal("CanWriteEOF false")
			}
			big := bytes.Repeat([]byte("q"), 1<<20)
			type result struct {
				data []byte
				err  error
			}
			read := make(chan result, 1)
			go func() { // all the data, then EOF
				got, err := io.ReadAll(peer)
				read <- result{got, err}
			}()
			if _, err := s.WriteContext(ctx, big); err != nil {
				t.Fatal(err)
			}
			if err := s.WriteEOF(); err != nil {
				t.Fatal(err)
			}
			if err := s.WriteEOF(); err != nil {
				t.Fatalf("second WriteEOF = %v", err)
			}
			if _, err := s.Write([]byte("more")); !errors.Is(err, net.ErrClosed) || !errors.Is(err, ErrWriteAfterEOF) {
				t.Fatalf("Write after WriteEOF = %v", err)
			}
			res := <-read
			if res.err != nil || !bytes.Equal(res.data, big) {
				t.Fatalf("the peer read %d bytes, %v", len(res.data), res.err)
			}
			peer.Write([]byte("still reading"))
			if got, err := s.ReadChunk(ctx, 100); err != nil || string(got) != "still reading" {
				t.Fatalf("ReadChunk after WriteEOF = %q, %v", got, err)
			}
		})
	}
}

func TestStream_PeerResetAfterData(t *testing.T) {
	ctx := testCtx(t)
	s, peer := streamPair(t)
	peer.Write([]byte("last words\nand more"))
	eventually(t, "the data to arrive", func() bool { return s.Stats().ReadBuffered == len("last words\nand more") })
	peer.SetLinger(0)
	peer.Close() // RST
	eventually(t, "the reset to reach the stream", func() bool { return s.r.Err() != nil })
	if line, err := s.ReadLine(ctx); err != nil || string(line) != "last words\n" {
		t.Fatalf("ReadLine = %q, %v; want the buffered line first", line, err)
	}
	if line, err := s.ReadLine(ctx); err != nil || string(line) != "and more" {
		t.Fatalf("ReadLine = %q, %v; want the buffered partial line", line, err)
	}
	_, err := s.ReadLine(ctx)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("ReadLine after the data = %v; want ECONNRESET", err)
	}
	if _, err := s.Write([]byte("x")); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Write after the reset = %v; want ECONNRESET", err)
	}
	if err := s.Drain(ctx); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Drain after the reset = %v; want ECONNRESET", err)
	}
}

func TestStream_SlowReaderBlocksWritesAtTheWatermark(t *testing.T) {
	const high, low = 64 << 10, 16 << 10
	ctx := testCtx(t)
	s, peer := streamPair(t, WithWriteBufferLimits(high, low))
	shrinkBuffers(s, peer)

	chunk := bytes.Repeat([]byte("w"), 1024)
	queued := 0
	for { // until a write stays blocked
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		n, err := s.WriteContext(short, chunk)
		cancel()
		queued += n
		if err != nil {
			if err != context.DeadlineExceeded {
				t.Fatal(err)
			}
			break
		}
		if queued > 64<<20 {
			t.Fatal("Write never blocked")
		}
	}
	st := s.Stats()
	if st.WriteWaits == 0 {
		t.Fatal("no write waited at the watermark")
	}
	if st.WriteBuffered < high || st.WriteBuffered > high+minPiece+len(chunk) {
		t.Fatalf("WriteBuffered = %d when blocked; want about the high watermark %d", st.WriteBuffered, high)
	}
	// A WriteContext that times out says what it queued; exactly that
	// arrives, nothing twice.
	marker := bytes.Repeat([]byte("M"), 300<<10)
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	n, err := s.WriteContext(short, marker)
	cancel()
	if err != context.DeadlineExceeded || n >= len(marker) {
		t.Fatalf("WriteContext at the watermark = %d, %v", n, err)
	}
	queued += n
	// WaitClosed gives up at its ctx instead of hanging.
	s.Close()
	waitCtx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := s.WaitClosed(waitCtx); err != context.DeadlineExceeded {
		t.Fatalf("WaitClosed with a peer not reading = %v", err)
	}
	// The peer reads at last: everything queued arrives, then EOF.
	got, err := io.ReadAll(peer)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != queued {
		t.Fatalf("the peer got %d bytes; %d were queued", len(got), queued)
	}
	if !bytes.Equal(got[len(got)-n:], marker[:n]) || bytes.Contains(got[:len(got)-n], []byte("M")) {
		t.Fatal("the partly queued write arrived wrong")
	}
	if err := s.WaitClosed(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestStream_AbortFreesAStuckWriter(t *testing.T) {
	ctx := testCtx(t)
	s, peer := streamPair(t, WithWriteBufferLimits(1<<10, 0))
	shrinkBuffers(s, peer)
	blocked := make(chan error, 1)
	go func() {
		_, err := s.Write(bytes.Repeat([]byte("x"), 8<<20))
		blocked <- err
	}()
	eventually(t, "the writer to block", func() bool { return s.Stats().WriteWaits > 0 })
	s.Abort()
	if err := <-blocked; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("the blocked Write after Abort = %v", err)
	}
	if err := returnsWithin(t, 5*time.Second, func() error { return s.WaitClosed(ctx) }); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Fatalf("WaitClosed after Abort = %v", err)
	}
}

func TestStream_MemoryIsBoundedWhenNotReading(t *testing.T) {
	s, peer := streamPair(t)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	flood := make(chan int64, 1)
	go func() {
		n, _ := io.Copy(peer, io.LimitReader(zeros{}, 64<<20))
		flood <- n
	}()
	// The pump stops once its channel is full; the peer then blocks.
	time.Sleep(300 * time.Millisecond)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	buffered := s.Stats().ReadBuffered
	if limit := 2*DefaultLimit + 2*chunkSize; buffered > limit {
		t.Errorf("ReadBuffered = %d while not reading; want at most about 2×limit + a chunk (%d)", buffered, limit)
	}
	if growth := int64(after.HeapAlloc) - int64(before.HeapAlloc); growth > 1<<20 {
		t.Errorf("the heap grew by %d bytes while a peer flooded an unread stream", growth)
	}
	s.Abort()
	peer.Close()
	<-flood
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestStream_CloseSendsEverythingQueued(t *testing.T) {
	ctx := testCtx(t)
	s, peer := streamPair(t)
	data := make([]byte, 8<<20)
	rand.Read(data)
	go func() {
		s.Write(data)
		s.Close() // at once: the data is still queued
	}()
	got, err := io.ReadAll(peer)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the peer got %d of %d bytes, %v", len(got), len(data), err)
	}
	if err := s.WaitClosed(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestStream_AbortDropsQueuedData(t *testing.T) {
	ctx := testCtx(t)
	s, peer := streamPair(t)
	shrinkBuffers(s, peer)
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	s.WriteContext(short, bytes.Repeat([]byte("z"), 4<<20)) // queues what fits
	s.Abort()
	if err := returnsWithin(t, 5*time.Second, func() error { return s.WaitClosed(ctx) }); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(peer)
	if len(got) >= 4<<20 {
		t.Fatal("Abort sent everything")
	}
}

func TestStream_CloseUnblocksEveryWaiter(t *testing.T) {
	ctx := testCtx(t)
	s, peer := streamPair(t, WithWriteBufferLimits(1<<10, 0))
	shrinkBuffers(s, peer)
	// Fill the write side until a write stays stuck, so that Write and
	// Drain block.
	fillUntilStuck(t, s)
	calls := map[string]func() error{
		"ReadLine":    func() error { _, err := s.ReadLine(ctx); return err },
		"ReadExactly": func() error { _, err := s.ReadExactly(ctx, 10); return err },
		"ReadChunk":   func() error { _, err := s.ReadChunk(ctx, 10); return err },
		"Read":        func() error { _, err := s.Read(make([]byte, 10)); return err },
		"Write":       func() error { _, err := s.Write([]byte("more")); return err },
		"Drain":       func() error { return s.Drain(ctx) },
	}
	errs := make(chan string, len(calls))
	for name, call := range calls {
		go func() {
			err := call()
			if !errors.Is(err, net.ErrClosed) {
				errs <- fmt.Sprintf("%s = %v; want net.ErrClosed", name, err)
				return
			}
			errs <- ""
		}()
	}
	time.Sleep(50 * time.Millisecond) // let them block
	s.Close()
	for range calls {
		select {
		case msg := <-errs:
			if msg != "" {
				t.Error(msg)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a blocked call did not return after Close")
		}
	}
	// After Close, everything fails with net.ErrClosed, even empty writes.
	for _, p := range [][]byte{nil, {}, []byte("x")} {
		if _, err := s.Write(p); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Write(%q) after Close = %v", p, err)
		}
	}
	if _, err := s.ReadLine(ctx); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ReadLine after Close = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if !s.IsClosing() {
		t.Error("IsClosing false after Close")
	}
}

func TestStream_WriteNilIsANoOp(t *testing.T) {
	s, _ := streamPair(t)
	if n, err := s.Write(nil); n != 0 || err != nil {
		t.Fatalf("Write(nil) = %d, %v", n, err)
	}
}

func TestStream_ConcurrentWritesNeverInterleave(t *testing.T) {
	ctx := testCtx(t)
	s, peer := streamPair(t, WithWriteBufferLimits(8<<10, 2<<10))
	const writers, messages, size = 16, 200, 1000
	var wg sync.WaitGroup
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := bytes.Repeat([]byte{byte('A' + g)}, size)
			for i := 0; i < messages; i++ {
				if _, err := s.Write(msg); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	received := make(chan []byte, 1)
	go func() {
		got, _ := io.ReadAll(io.LimitReader(peer, writers*messages*size))
		received <- got
	}()
	wg.Wait()
	if err := s.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	got := <-received
	if len(got) != writers*messages*size {
		t.Fatalf("received %d bytes", len(got))
	}
	for i := 0; i < len(got); i += size {
		if bytes.Count(got[i:i+size], got[i:i+1]) != size {
			t.Fatalf("message at %d is interleaved: %q...", i, got[i:i+40])
		}
	}
}

func TestStream_ConcurrentReadLinesGetWholeLines(t *testing.T) {
	ctx := testCtx(t)
	s, peer := streamPair(t)
	const n = 20000
	go func() {
		var b bytes.Buffer
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "%08d\n", i)
		}
		peer.Write(b.Bytes())
		peer.CloseWrite()
	}()
	seen := linesFromTwoReaders(t, func() ([]byte, error) { return s.ReadLine(ctx) }, 9)
	if len(seen) != n {
		t.Fatalf("%d lines; want %d", len(seen), n)
	}
}

func TestStream_ManyConcurrentDrains(t *testing.T) {
	ctx := testCtx(t)
	s, peer := streamPair(t, WithWriteBufferLimits(16<<10, 4<<10))
	go io.Copy(io.Discard, peer)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 2000; i++ {
			s.Write(bytes.Repeat([]byte("d"), 512))
		}
	}()
	errs := make(chan error, 64)
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				if err := s.Drain(ctx); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestStream_CancelMidReadLosesNothing(t *testing.T) {
	s, peer := streamPair(t)
	peer.Write([]byte("01234"))
	eventually(t, "the first half", func() bool { return s.Stats().ReadBuffered == 5 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.ReadExactly(ctx, 10); err != context.DeadlineExceeded {
		t.Fatalf("ReadExactly = %v", err)
	}
	peer.Write([]byte("56789"))
	got, err := s.ReadExactly(testCtx(t), 10)
	if err != nil || string(got) != "0123456789" {
		t.Fatalf("ReadExactly after the cancel = %q, %v", got, err)
	}
}

func TestStream_ReadDeadlineAsNetConn(t *testing.T) {
	s, peer := streamPair(t)
	// A passed deadline fails pending and future reads, with a timeout.
	pending := make(chan error, 1)
	go func() { _, err := s.Read(make([]byte, 10)); pending <- err }()
	time.Sleep(20 * time.Millisecond)
	s.SetReadDeadline(time.Now())
	err := <-pending
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("pending Read after the deadline = %v", err)
	}
	peer.Write([]byte("arrived late\n"))
	eventually(t, "the data", func() bool { return s.Stats().ReadBuffered > 0 })
	if _, err := s.ReadLine(testCtx(t)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("ReadLine with the deadline passed = %v", err)
	}
	// Extending it revives the stream, with nothing lost.
	s.SetReadDeadline(time.Now().Add(time.Hour))
	if line, err := s.ReadLine(testCtx(t)); err != nil || string(line) != "arrived late\n" {
		t.Fatalf("ReadLine after extending = %q, %v", line, err)
	}
	// A deadline in the future fires while waiting.
	s.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	start := time.Now()
	if _, err := s.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read = %v", err)
	}
	if time.Since(start) < 20*time.Millisecond {
		t.Fatal("the deadline fired early")
	}
	s.SetDeadline(time.Time{})
	peer.Write([]byte("x"))
	if _, err := s.Read(make([]byte, 1)); err != nil {
		t.Fatalf("Read with no deadline = %v", err)
	}
}

func TestStream_WriteDeadlineFailsABlockedWrite(t *testing.T) {
	s, peer := streamPair(t, WithWriteBufferLimits(1<<10, 0))
	shrinkBuffers(s, peer)
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := s.Write(bytes.Repeat([]byte("x"), 16<<20))
		done <- result{n, err}
	}()
	// Once the Write is held at the watermark, a deadline that passes
	// fails it with what it queued so far.
	eventually(t, "the Write waits at the watermark", func() bool { return s.Stats().WriteWaits > 0 })
	s.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
	var r result
	select {
	case r = <-done:
	case <-testCtx(t).Done():
		t.Fatal("the deadline did not fail the blocked Write")
	}
	if n, err := r.n, r.err; !errors.Is(err, os.ErrDeadlineExceeded) || n == 0 || n >= 16<<20 {
		t.Fatalf("Write past the deadline = %d, %v", n, err)
	}
	if err := s.Drain(testCtx(t)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Drain past the deadline = %v", err)
	}
	s.SetWriteDeadline(time.Time{})
	go io.Copy(io.Discard, peer)
	if _, err := s.Write([]byte("after")); err != nil {
		t.Fatalf("Write after clearing the deadline = %v", err)
	}
}

func TestStream_IsANetConn(t *testing.T) {
	a, b := socketPair(t)
	sa, sb := NewStream(a), NewStream(b)
	var conn net.Conn = sa
	data := make([]byte, 3<<20)
	rand.Read(data)
	go func() {
		conn.Write(data)
		sa.WriteEOF()
	}()
	var got bytes.Buffer
	if _, err := io.Copy(&got, sb); err != nil || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("io.Copy through a Stream: %d bytes, %v", got.Len(), err)
	}
	if conn.LocalAddr() == nil || conn.RemoteAddr() == nil {
		t.Fatal("no addresses")
	}
	closeStream(t, sa)
	closeStream(t, sb)
}

func TestStream_ExtraInfoAndStats(t *testing.T) {
	ctx := testCtx(t)
	s, peer := streamPair(t)
	for name, want := range map[string]any{
		"peername": s.RemoteAddr(),
		"sockname": s.LocalAddr(),
		"socket":   s.Conn(),
	} {
		if got, ok := s.ExtraInfo(name); !ok || got != want {
			t.Errorf("ExtraInfo(%q) = %v, %v", name, got, ok)
		}
	}
	if _, ok := s.ExtraInfo("peercert"); ok {
		t.Error("peercert on a plain stream")
	}
	peer.Write([]byte("hello\n"))
	s.ReadLine(ctx)
	s.Write([]byte("abc"))
	s.Drain(ctx)
	eventually(t, "the write", func() bool { return s.Stats().BytesWritten == 3 })
	st := s.Stats()
	if st.BytesRead != 6 || st.ReadBuffered != 0 || st.WriteBuffered != 0 {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestReceiver_LineChanInASelect(t *testing.T) {
	ctx := testCtx(t)
	s1, p1 := streamPair(t)
	s2, p2 := streamPair(t)
	go func() {
		for i := 0; i < 50; i++ {
			fmt.Fprintf(p1, "one %d\n", i)
		}
		p1.CloseWrite()
	}()
	go func() {
		for i := 0; i < 30; i++ {
			fmt.Fprintf(p2, "two %d\n", i)
		}
		p2.CloseWrite()
	}()
	a, b := s1.LineChan(ctx), s2.LineChan(ctx)
	defer a.Stop()
	defer b.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	counts := map[string]int{}
	ac, bc := a.C, b.C
	for ac != nil || bc != nil {
		select {
		case line, ok := <-ac:
			if !ok {
				ac = nil
				continue
			}
			if want := fmt.Sprintf("one %d\n", counts["one"]); string(line) != want {
				t.Fatalf("got %q; want %q", line, want)
			}
			counts["one"]++
		case line, ok := <-bc:
			if !ok {
				bc = nil
				continue
			}
			if want := fmt.Sprintf("two %d\n", counts["two"]); string(line) != want {
				t.Fatalf("got %q; want %q", line, want)
			}
			counts["two"]++
		case <-tick.C:
			counts["ticks"]++
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
	if counts["one"] != 50 || counts["two"] != 30 {
		t.Fatalf("counts %v", counts)
	}
	if a.Err() != io.EOF || b.Err() != io.EOF {
		t.Fatalf("Err = %v, %v; want io.EOF", a.Err(), b.Err())
	}
}

func TestReceiver_StopGivesBackWhatItHeld(t *testing.T) {
	ctx := testCtx(t)
	s, peer := streamPair(t)
	peer.Write([]byte("first\nsecond\nthird\n"))
	rc := s.LineChan(ctx)
	if line := <-rc.C; string(line) != "first\n" {
		t.Fatalf("got %q", line)
	}
	// The receiver now reads "second\n" and waits to deliver it (a value
	// held so is still counted as buffered: nothing shows it from outside,
	// so give it the time).
	time.Sleep(20 * time.Millisecond)
	if got := s.Stats().ReadBuffered; got != len("second\nthird\n") {
		t.Fatalf("ReadBuffered = %d with the receiver holding a value it has not delivered", got)
	}
	rc.Stop()
	if rc.Err() != nil {
		t.Fatalf("Err after Stop = %v", rc.Err())
	}
	if _, ok := <-rc.C; ok {
		t.Fatal("C still open after Stop")
	}
	for _, want := range []string{"second\n", "third\n"} {
		if line, err := s.ReadLine(ctx); err != nil || string(line) != want {
			t.Fatalf("ReadLine after Stop = %q, %v; want %q", line, err, want)
		}
	}
}

func TestReceiver_ChunkChanAndWriteFrom(t *testing.T) {
	ctx := testCtx(t)
	a, b := socketPair(t)
	sa, sb := NewStream(a), NewStream(b)
	defer closeStream(t, sb)
	out := make(chan []byte)
	done := make(chan error, 1)
	go func() {
		_, err := sa.WriteFrom(ctx, out)
		sa.Close()
		done <- err
	}()
	want := strings.Repeat("payload ", 50000)
	go func() {
		for i := 0; i < len(want); i += 1000 {
			out <- []byte(want[i:min(i+1000, len(want))])
		}
		close(out)
	}()
	rc := sb.ChunkChan(ctx)
	defer rc.Stop()
	var got strings.Builder
	for chunk := range rc.C {
		if len(chunk) > chunkSize {
			t.Fatalf("a chunk of %d bytes", len(chunk))
		}
		got.Write(chunk)
	}
	if rc.Err() != io.EOF || got.String() != want {
		t.Fatalf("received %d bytes, Err %v", got.Len(), rc.Err())
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	closeStream(t, sa)
}

func TestReceiver_ClosedByItsStream(t *testing.T) {
	s, _ := streamPair(t)
	rc := s.LineChan(context.Background())
	s.Close()
	if _, ok := <-rc.C; ok {
		t.Fatal("a line from a closed stream")
	}
	if !errors.Is(rc.Err(), net.ErrClosed) {
		t.Fatalf("Err = %v", rc.Err())
	}
	rc.Stop()
}
