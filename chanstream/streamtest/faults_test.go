package streamtest

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// pattern returns n bytes that differ from one offset to the next.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

// sendAndHalfClose writes data on conn and half-closes it, in a goroutine
// the test waits for at its end.
func sendAndHalfClose(t testing.TB, conn *PipeConn, data []byte) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn.Write(data)
		conn.CloseWrite()
	}()
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
}

// readSizes reads c to the end with a large buffer and returns the bytes
// and the size of each read.
func readSizes(t testing.TB, c net.Conn) ([]byte, []int) {
	t.Helper()
	var got []byte
	var sizes []int
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			got = append(got, buf[:n]...)
			sizes = append(sizes, n)
		}
		if err == io.EOF {
			return got, sizes
		} else if err != nil {
			t.Fatalf("Read: %v", err)
		}
	}
}

func TestChop_ReadsComeInPiecesUpToMax(t *testing.T) {
	a, b := Pipe(t)
	data := pattern(10000)
	sendAndHalfClose(t, b, data)
	fc := Inject(t, a, 1, Chop(Reads, 7))
	got, sizes := readSizes(t, fc)
	if !bytes.Equal(got, data) {
		t.Fatal("the bytes read differ from the bytes sent")
	}
	seen := map[int]bool{}
	for _, n := range sizes {
		if n < 1 || n > 7 {
			t.Fatalf("a read of %d bytes; want 1..7", n)
		}
		seen[n] = true
	}
	if len(seen) != 7 {
		t.Fatalf("read sizes seen %v; want all of 1..7 over %d reads", seen, len(sizes))
	}
}

func TestChop_SameSeedSamePieces(t *testing.T) {
	sizesFor := func(seed uint64) []int {
		a, b := Pipe(t)
		sendAndHalfClose(t, b, pattern(2000))
		_, sizes := readSizes(t, Inject(t, a, seed, Chop(Reads, 50)))
		return sizes
	}
	one, again, other := sizesFor(7), sizesFor(7), sizesFor(8)
	if !slicesEqual(one, again) {
		t.Fatalf("seed 7 gave pieces %v, then %v", one, again)
	}
	if slicesEqual(one, other) {
		t.Fatalf("seeds 7 and 8 gave the same pieces %v", one)
	}
}

func slicesEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// writeRecorder is a net.Conn that records the size of each Write.
type writeRecorder struct {
	*PipeConn
	mu    sync.Mutex
	sizes []int
}

func (w *writeRecorder) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.sizes = append(w.sizes, len(p))
	w.mu.Unlock()
	return w.PipeConn.Write(p)
}

func TestChop_WritesGoOnInPiecesUpToMax(t *testing.T) {
	a, b := Pipe(t)
	rec := &writeRecorder{PipeConn: a}
	fc := Inject(t, rec, 1, Chop(Writes, 5))
	data := pattern(1000)
	if n, err := fc.Write(data); n != len(data) || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	for _, n := range rec.sizes {
		if n < 1 || n > 5 {
			t.Fatalf("a piece of %d bytes reached the connection; want 1..5", n)
		}
	}
	got := make([]byte, len(data))
	if _, err := io.ReadFull(b, got); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the peer read different bytes (%v)", err)
	}
}

func TestLatency_HoldsEachPieceBack(t *testing.T) {
	const d, pieces = 10 * time.Millisecond, 5
	t.Run("Reads", func(t *testing.T) {
		a, b := Pipe(t)
		sendAndHalfClose(t, b, pattern(pieces))
		fc := Inject(t, a, 1, Chop(Reads, 1), Latency(Reads, d, 0))
		start := time.Now()
		readSizes(t, fc)
		if took := time.Since(start); took < pieces*d {
			t.Fatalf("%d reads with latency %v took %v", pieces, d, took)
		}
	})
	t.Run("Writes", func(t *testing.T) {
		a, _ := Pipe(t)
		fc := Inject(t, a, 1, Chop(Writes, 1), Latency(Writes, d, 0))
		start := time.Now()
		fc.Write(pattern(pieces))
		if took := time.Since(start); took < pieces*d {
			t.Fatalf("%d pieces written with latency %v took %v", pieces, d, took)
		}
	})
}

func TestLatency_JitterIsDrawnFromTheSeed(t *testing.T) {
	const jitter, pieces, seed = 20 * time.Millisecond, 10, 3
	// The draws Inject makes for seed: one per piece.
	rnd := rand.New(rand.NewPCG(seed, 1))
	var want time.Duration
	for range pieces {
		want += time.Duration(rnd.Int64N(int64(jitter) + 1))
	}
	if want < jitter { // a test that would pass with the jitter off proves nothing
		t.Fatalf("the draws for seed %d add up to only %v", seed, want)
	}
	a, b := Pipe(t)
	sendAndHalfClose(t, b, pattern(pieces))
	fc := Inject(t, a, seed, Chop(Reads, 1), Latency(Reads, 0, jitter))
	b.Buffered() // the data is in the pipe at once; only the jitter holds reads back
	start := time.Now()
	readSizes(t, fc)
	if took := time.Since(start); took < want {
		t.Fatalf("%d reads with jitter up to %v took %v; the seed's draws add up to %v", pieces, jitter, took, want)
	}
}

func TestBandwidth_CapsTheRate(t *testing.T) {
	const rate, size = 20000, 4000 // 200 ms worth
	minimum := time.Duration(size) * time.Second / rate
	t.Run("Reads", func(t *testing.T) {
		a, b := Pipe(t)
		sendAndHalfClose(t, b, pattern(size))
		fc := Inject(t, a, 1, Bandwidth(Reads, rate))
		start := time.Now()
		got, _ := readSizes(t, fc)
		if took := time.Since(start); took < minimum || len(got) != size {
			t.Fatalf("read %d bytes at %d B/s in %v; want %d in %v or more", len(got), rate, took, size, minimum)
		}
	})
	t.Run("Writes", func(t *testing.T) {
		a, _ := Pipe(t)
		fc := Inject(t, a, 1, Bandwidth(Writes, rate))
		start := time.Now()
		fc.Write(pattern(size))
		if took := time.Since(start); took < minimum {
			t.Fatalf("wrote %d bytes at %d B/s in %v; want %v or more", size, rate, took, minimum)
		}
	})
}

func TestEOFAfter_Reads(t *testing.T) {
	a, b := Pipe(t)
	data := pattern(5000)
	sendAndHalfClose(t, b, data)
	got, _ := readSizes(t, Inject(t, a, 1, EOFAfter(Reads, 1000)))
	if !bytes.Equal(got, data[:1000]) {
		t.Fatalf("read %d bytes before EOF; want exactly the first 1000", len(got))
	}
}

func TestEOFAfter_Writes(t *testing.T) {
	a, b := Pipe(t)
	fc := Inject(t, a, 1, EOFAfter(Writes, 1000))
	data := pattern(5000)
	n, err := fc.Write(data)
	if n != 1000 || !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("Write = %d, %v; want 1000, EPIPE", n, err)
	}
	got, err := io.ReadAll(b)
	if err != nil || !bytes.Equal(got, data[:1000]) {
		t.Fatalf("the peer read %d bytes, %v; want exactly the first 1000 then EOF", len(got), err)
	}
	// Reading goes on: it was a half-close.
	b.Write([]byte("still here"))
	buf := make([]byte, 10)
	if _, err := io.ReadFull(fc, buf); err != nil {
		t.Fatalf("Read after the early half-close: %v", err)
	}
}

func TestResetAfter_Reads(t *testing.T) {
	a, b := Pipe(t)
	sendAndHalfClose(t, b, pattern(5000))
	fc := Inject(t, a, 1, ResetAfter(Reads, 1000))
	var total int
	buf := make([]byte, 4096)
	var err error
	for err == nil {
		var n int
		n, err = fc.Read(buf)
		total += n
	}
	if total != 1000 || !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read %d bytes, then %v; want 1000 then ECONNRESET", total, err)
	}
	if _, err := fc.Write([]byte("x")); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Write after the reset = %v", err)
	}
}

func TestResetAfter_WritesResetsATCPPeer(t *testing.T) {
	client, server := TCPPair(t)
	fc := Inject(t, client, 1, ResetAfter(Writes, 1000))
	n, err := fc.Write(pattern(5000))
	if n != 1000 || !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Write = %d, %v; want 1000, ECONNRESET", n, err)
	}
	server.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(server)
	if len(got) > 1000 || !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("the peer read %d bytes, then %v; want at most 1000, then ECONNRESET", len(got), err)
	}
}

func TestStallAfter_Reads(t *testing.T) {
	a, b := Pipe(t)
	b.Write(pattern(1000))
	fc := Inject(t, a, 1, StallAfter(Reads, 100))
	buf := make([]byte, 4096)
	if _, err := io.ReadFull(fc, buf[:100]); err != nil {
		t.Fatalf("reading the 100 bytes before the stall: %v", err)
	}
	// The rest is there, but does not come.
	fc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := fc.Read(buf); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read after the stall = %d, %v; want 0, the deadline", n, err)
	}
	if got := a.Buffered(); got != 900 {
		t.Fatalf("%d bytes wait in the connection; want the 900 the stall holds back", got)
	}
	// The connection stays open both ways; Close wakes the stalled read.
	if _, err := fc.Write([]byte("x")); err != nil {
		t.Fatalf("Write while reads stall: %v", err)
	}
	fc.SetReadDeadline(time.Time{})
	readErr := make(chan error, 1)
	go func() {
		_, err := fc.Read(buf)
		readErr <- err
	}()
	fc.Close()
	if err := <-readErr; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("a stalled Read across Close = %v", err)
	}
}

func TestStallAfter_Writes(t *testing.T) {
	a, b := Pipe(t)
	fc := Inject(t, a, 1, StallAfter(Writes, 100))
	data := pattern(1000)
	if n, err := fc.Write(data[:100]); n != 100 || err != nil {
		t.Fatalf("Write of the 100 bytes before the stall = %d, %v", n, err)
	}
	fc.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	n, err := fc.Write(data[100:])
	if n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write after the stall = %d, %v; want 0, the deadline", n, err)
	}
	if got := b.Buffered(); got != 100 {
		t.Fatalf("the peer received %d bytes; want 100", got)
	}
	b.Write([]byte("reply"))
	buf := make([]byte, 5)
	if _, err := io.ReadFull(fc, buf); err != nil {
		t.Fatalf("Read while writes stall: %v", err)
	}
}

func TestInject_BadFaultsFail(t *testing.T) {
	cases := []struct {
		fault Fault
		want  string
	}{
		{Chop(Reads, 0), "pieces must be at least 1 byte"},
		{Latency(Writes, -1, 0), "negative duration"},
		{Latency(Writes, 0, -1), "negative duration"},
		{Bandwidth(Both, 0), "the rate must be positive"},
		{EOFAfter(Reads, -1), "negative byte count"},
		{ResetAfter(Writes, -1), "negative byte count"},
		{StallAfter(Reads, -1), "negative byte count"},
		{Chop(0, 3), "bad direction"},
		{Chop(Direction(8), 3), "bad direction"},
		{Fault{}, "the zero Fault"},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			a, _ := Pipe(t)
			got := report(t, func(t testing.TB) { Inject(t, a, 1, tc.fault) })
			if !strings.Contains(got, tc.want) {
				t.Fatalf("report %q; want it to say %q", got, tc.want)
			}
		})
	}
}
