package chanstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

func TestReadLineView_MatchesReadLine(t *testing.T) {
	// The same lines as ReadLine, across chunk boundaries, over the limit
	// and at EOF.
	input := "short\n" + strings.Repeat("x", 100) + "\nstraddles a boundary\nlast"
	for _, cut := range []int{1, 7, 64, 1000} {
		a, b := NewReader(WithLimit(50)), NewReader(WithLimit(50))
		for i := 0; i < len(input); i += cut {
			piece := []byte(input[i:min(i+cut, len(input))])
			feed(t, a, string(piece))
			feed(t, b, string(piece))
		}
		a.FeedEOF()
		b.FeedEOF()
		for {
			want, wantErr := a.ReadLine(testCtx(t))
			got, err := b.ReadLineView(testCtx(t))
			if string(got) != string(want) || (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
				t.Fatalf("cut %d: ReadLineView = %q, %v; ReadLine = %q, %v", cut, got, err, want, wantErr)
			}
			if err == io.EOF {
				break
			}
		}
	}
}

func TestReadLineView_ValidUntilTheNextCall(t *testing.T) {
	// Views from many chunks: each stays intact until the next call, even
	// as chunks are recycled and refilled behind it.
	r := NewReader()
	ctx := testCtx(t)
	go func() {
		for i := 0; i < 20000; i++ {
			r.Feed(ctx, []byte(fmt.Sprintf("line %06d\n", i)))
		}
		r.FeedEOF()
	}()
	for i := 0; ; i++ {
		line, err := r.ReadLineView(ctx)
		if err == io.EOF {
			if i != 20000 {
				t.Fatalf("%d lines", i)
			}
			return
		}
		if want := fmt.Sprintf("line %06d\n", i); string(line) != want {
			t.Fatalf("view %q; want %q", line, want)
		}
	}
}

func TestReadExactlyInto(t *testing.T) {
	r := NewReader()
	feed(t, r, "0123", "456789", "ab")
	r.FeedEOF()
	p := make([]byte, 5)
	if n, err := r.ReadExactlyInto(testCtx(t), p); n != 5 || err != nil || string(p) != "01234" {
		t.Fatalf("ReadExactlyInto = %d, %v, %q", n, err, p)
	}
	if n, err := r.ReadExactlyInto(testCtx(t), p); n != 5 || err != nil || string(p) != "56789" {
		t.Fatalf("ReadExactlyInto = %d, %v, %q", n, err, p)
	}
	n, err := r.ReadExactlyInto(testCtx(t), p)
	var ie *IncompleteReadError
	if n != 2 || !errors.As(err, &ie) || string(ie.Partial) != "ab" || ie.Expected != 5 {
		t.Fatalf("at EOF: %d, %v", n, err)
	}
}

func TestWriteTo_CopiesEverything(t *testing.T) {
	a, b := socketPair(t)
	sa, sb := NewStream(a), NewStream(b)
	defer closeStream(t, sb)
	data := bytes.Repeat([]byte("0123456789abcdef"), 100000)
	go func() {
		sa.Write(data)
		sa.Close()
	}()
	var got bytes.Buffer
	n, err := io.Copy(&got, sb) // through WriteTo
	if err != nil || n != int64(len(data)) || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("io.Copy = %d, %v", n, err)
	}
	closeStream(t, sa)
}

// socketWatcher is the io.Writer of TestWriteTo_ReadsTheSocketBetweenItsWrites:
// at each Write it records who reads the stream's socket and how many of
// its pumps run; Write number blockAt (the first if 0) then blocks until
// release is closed.
type socketWatcher struct {
	s       *Stream
	blockAt int
	got     bytes.Buffer
	readers []ownerState
	pumps   []int
	blocked chan struct{} // closed by Write number blockAt
	release chan struct{}
}

func (w *socketWatcher) Write(p []byte) (int, error) {
	w.readers = append(w.readers, readingOf(w.s))
	w.pumps = append(w.pumps, pumpMembers(w.s))
	if len(w.readers) == max(w.blockAt, 1) {
		close(w.blocked)
		<-w.release
	}
	return w.got.Write(p)
}

// WriteTo reads the socket in its own goroutine between its writes, as
// io.Copy does: while it writes, nobody reads the socket and no pump runs,
// even after large reads and while a write blocks for many ticks of the
// watch; what came meanwhile is read once the write returns, nothing lost.
func TestWriteTo_ReadsTheSocketBetweenItsWrites(t *testing.T) {
	needPolledSockets(t)
	s, peer := streamPair(t)
	w := &socketWatcher{s: s, blocked: make(chan struct{}), release: make(chan struct{})}
	type result struct {
		n   int64
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := s.WriteTo(w)
		done <- result{n, err}
	}()
	waitingInline(t, s)
	// Should the watch have started the pump before WriteTo took the
	// socket, that pump has handed the socket over and ends.
	eventually(t, "only WriteTo holds the stream", func() bool { return pumpMembers(s) == 1 })
	data := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB: large reads
	if _, err := peer.Write(data[:1000]); err != nil {
		t.Fatal(err)
	}
	<-w.blocked
	sent := make(chan error, 1)
	go func() {
		_, err := peer.Write(data[1000:])
		if err == nil {
			err = peer.CloseWrite()
		}
		sent <- err
	}()
	time.Sleep(20 * watchDelay) // many ticks of the watch while the write blocks
	if got := readingOf(s); got != ownerNobody {
		t.Errorf("while WriteTo's write blocks, the socket is read by %v", got)
	}
	if n := pumpMembers(s); n != 0 {
		t.Errorf("while WriteTo's write blocks, %d pumps run", n)
	}
	close(w.release)
	r := <-done
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if r.err != nil || r.n != int64(len(data)) || !bytes.Equal(w.got.Bytes(), data) {
		t.Fatalf("WriteTo = %d, %v; wrote %d bytes of %d, equal %v", r.n, r.err, w.got.Len(), len(data), bytes.Equal(w.got.Bytes(), data))
	}
	for i := range w.readers {
		if w.readers[i] != ownerNobody || w.pumps[i] != 0 {
			t.Fatalf("write %d of %d: the socket read by %v, %d pumps running", i+1, len(w.readers), w.readers[i], w.pumps[i])
		}
	}
	if len(w.readers) < 2 {
		t.Fatalf("%d writes", len(w.readers))
	}
}

// errWriter fails every Write.
type errWriter struct{}

var errWriterFailed = errors.New("errWriter failed")

func (errWriter) Write([]byte) (int, error) { return 0, errWriterFailed }

// Once WriteTo has returned, the socket is watched again: what comes is
// taken in by the pump, as for any stream nobody reads.
func TestWriteTo_SocketWatchedAgainOnceItReturns(t *testing.T) {
	needPolledSockets(t)
	s, peer := streamPair(t)
	if _, err := peer.Write([]byte("one\n")); err != nil {
		t.Fatal(err)
	}
	if n, err := s.WriteTo(errWriter{}); n != 0 || err != errWriterFailed {
		t.Fatalf("WriteTo = %d, %v", n, err)
	}
	if _, err := peer.Write([]byte("two\n")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the pump took the data in", func() bool { return s.Stats().BytesRead == 8 })
	if line, err := s.ReadLine(testCtx(t)); string(line) != "one\n" || err != nil {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
}

// A Close while WriteTo's write blocks: WaitClosed does not wait for that
// write, and WriteTo returns ErrClosed once it has returned.
func TestWriteTo_CloseWhileItsWriteBlocks(t *testing.T) {
	needPolledSockets(t)
	s, peer := streamPair(t)
	w := &socketWatcher{s: s, blocked: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := s.WriteTo(w)
		done <- err
	}()
	if _, err := peer.Write([]byte("one\n")); err != nil {
		t.Fatal(err)
	}
	<-w.blocked
	s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitClosed(ctx); err != nil {
		t.Errorf("WaitClosed while WriteTo's write blocks: %v", err)
	}
	close(w.release)
	if err := <-done; err != ErrClosed {
		t.Fatalf("WriteTo = %v, want ErrClosed", err)
	}
}

// A WriteTo that finds the pump running waits on it until the pump gives
// it the socket; from then on it reads the socket between its writes, and
// no pump starts again while a write blocks.
func TestWriteTo_TakesTheSocketFromThePump(t *testing.T) {
	needPolledSockets(t)
	s, peer := streamPair(t)
	if _, err := peer.Write([]byte("0")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the pump took the data in", func() bool { return s.Stats().BytesRead == 1 })
	w := &socketWatcher{s: s, blockAt: 2, blocked: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := s.WriteTo(w)
		done <- err
	}()
	waitingInline(t, s)
	eventually(t, "only WriteTo holds the stream", func() bool { return pumpMembers(s) == 1 })
	if _, err := peer.Write([]byte("1")); err != nil {
		t.Fatal(err)
	}
	<-w.blocked
	time.Sleep(20 * watchDelay) // many ticks of the watch while the write blocks
	if got := readingOf(s); got != ownerNobody {
		t.Errorf("while WriteTo's write blocks, the socket is read by %v", got)
	}
	if n := pumpMembers(s); n != 0 {
		t.Errorf("while WriteTo's write blocks, %d pumps run", n)
	}
	close(w.release)
	if err := peer.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil || w.got.String() != "01" {
		t.Fatalf("WriteTo wrote %q, %v", w.got.String(), err)
	}
}
