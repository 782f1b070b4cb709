package chanstream

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chanstream/chanstream/internal/testnet"
)

// Tests of the write side's Go conventions: CloseWrite, TryWrite, the
// watermarks read back, AbortReset and ReadFrom.

// halfCloser is what io.Copy-based proxies and httputil.ReverseProxy look
// for to propagate a half-close.
type halfCloser interface{ CloseWrite() error }

var (
	_ halfCloser    = (*Stream)(nil)
	_ halfCloser    = (*Writer)(nil)
	_ io.ReaderFrom = (*Stream)(nil)
	_ io.ReaderFrom = (*Writer)(nil)
)

// socketPairs makes our end and the peer's end of a TCP connection and of
// a socketpair(2).
func socketPairs(t *testing.T) map[string]func() (ours, peer net.Conn) {
	return map[string]func() (net.Conn, net.Conn){
		"tcp": func() (net.Conn, net.Conn) {
			a, b := tcpPair(t)
			t.Cleanup(func() { b.Close() })
			return a, b
		},
		"socketpair": func() (net.Conn, net.Conn) {
			a, b := socketPair(t)
			t.Cleanup(func() { b.Close() })
			return a, b
		},
	}
}

func TestStream_CloseWriteHalfClosesAfterQueuedData(t *testing.T) {
	for name, makePair := range socketPairs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t)
			ours, peer := makePair()
			s := NewStream(ours)
			defer closeStream(t, s)
			want := bytes.Repeat([]byte("q"), 200<<10) // over the watermark: some of it is queued
			wrote := make(chan error, 1)
			go func() {
				_, err := s.Write(want)
				wrote <- err
			}()
			hc, ok := any(s).(halfCloser)
			if !ok {
				t.Fatal("a *Stream is not an interface{ CloseWrite() error }")
			}
			// The Write above may not have queued all yet: wait for it
			// through the byte count, then half-close.
			testnet.Eventually(t, "the write queued", func() bool {
				st := s.Stats()
				return st.BytesWritten+int64(st.WriteBuffered) == int64(len(want))
			})
			if err := hc.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			peer.SetReadDeadline(time.Now().Add(20 * time.Second))
			got, err := io.ReadAll(peer)
			if werr := <-wrote; werr != nil {
				t.Fatalf("Write = %v", werr)
			}
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("peer read %d bytes, %v; want %d bytes and EOF", len(got), err, len(want))
			}
			// The stream still reads.
			if _, err := peer.Write([]byte("reply\n")); err != nil {
				t.Fatal(err)
			}
			if line, err := s.ReadLine(ctx); string(line) != "reply\n" || err != nil {
				t.Fatalf("ReadLine = %q, %v", line, err)
			}
			if _, err := s.Write([]byte("x")); !errors.Is(err, ErrWriteAfterEOF) {
				t.Fatalf("Write after CloseWrite = %v; want ErrWriteAfterEOF", err)
			}
			if err := hc.CloseWrite(); err != nil {
				t.Fatalf("a second CloseWrite = %v; want nil", err)
			}
		})
	}
}

func TestStream_CloseWriteAfterCloseFails(t *testing.T) {
	s, _ := streamPair(t)
	s.Close()
	if err := s.CloseWrite(); !errors.Is(err, ErrClosed) {
		t.Fatalf("CloseWrite after Close = %v; want ErrClosed", err)
	}
}

func TestStream_OverStreamHalfClosesThroughIt(t *testing.T) {
	ours, peer := tcpPair(t)
	defer peer.Close()
	inner := NewStream(ours)
	outer := NewStream(inner) // a stream over a stream: WriteEOF reaches the socket
	defer closeStream(t, outer)
	if !outer.CanWriteEOF() {
		t.Fatal("CanWriteEOF = false over a stream that can")
	}
	outer.Write([]byte("last"))
	if err := outer.WriteEOF(); err != nil {
		t.Fatal(err)
	}
	peer.SetReadDeadline(time.Now().Add(20 * time.Second))
	if got, err := io.ReadAll(peer); string(got) != "last" || err != nil {
		t.Fatalf("peer read %q, %v; want \"last\" and EOF", got, err)
	}
}

func TestWriter_WriteBufferLimits(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opts      []Option
		high, low int
	}{
		{"defaults", nil, DefaultWriteHigh, DefaultWriteLow},
		{"set", []Option{WithWriteBufferLimits(1000, 10)}, 1000, 10},
		{"zero", []Option{WithWriteBufferLimits(0, 0)}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := streamPair(t, tc.opts...)
			if high, low := s.WriteBufferLimits(); high != tc.high || low != tc.low {
				t.Fatalf("Stream.WriteBufferLimits = %d, %d; want %d, %d", high, low, tc.high, tc.low)
			}
			if high, low := s.Writer().WriteBufferLimits(); high != tc.high || low != tc.low {
				t.Fatalf("Writer.WriteBufferLimits = %d, %d; want %d, %d", high, low, tc.high, tc.low)
			}
		})
	}
}

func TestWriteContext_DoneCtxQueuesNothing(t *testing.T) {
	s, peer := streamPair(t)
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if n, err := s.WriteContext(done, []byte("never\n")); n != 0 || err != context.Canceled {
		t.Fatalf("WriteContext(done ctx) = %d, %v; want 0, context.Canceled", n, err)
	}
	if n, err := s.WriteContext(done, nil); n != 0 || err != nil {
		t.Fatalf("WriteContext(done ctx, nil) = %d, %v; want 0, nil", n, err)
	}
	if b := s.Writer().Buffered(); b != 0 {
		t.Fatalf("Buffered = %d after a done ctx; want 0", b)
	}
	// Nothing went out: the peer's first bytes are the next write's.
	s.Write([]byte("next\n"))
	peer.SetReadDeadline(time.Now().Add(20 * time.Second))
	got := make([]byte, 5)
	if _, err := io.ReadFull(peer, got); err != nil || string(got) != "next\n" {
		t.Fatalf("peer read %q, %v; want \"next\\n\"", got, err)
	}
	// The writer's own state is reported before the ctx's.
	s.SetWriteDeadline(time.Now().Add(-time.Second))
	if _, err := s.WriteContext(done, []byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("WriteContext(done ctx) past the deadline = %v; want os.ErrDeadlineExceeded", err)
	}
	s.Close()
	if _, err := s.WriteContext(done, []byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("WriteContext(done ctx) after Close = %v; want ErrClosed", err)
	}
}

// message is a TryWrite test's message: its number, then padding.
func message(i uint32, size int) []byte {
	p := bytes.Repeat([]byte{byte(i)}, size)
	binary.BigEndian.PutUint32(p, i)
	return p
}

func TestTryWrite_QueuesWholeMessagesOrNothing(t *testing.T) {
	const size, high = 1000, 8 * 1000
	s, peer := streamPair(t, WithWriteBufferLimits(high, 0))
	shrinkBuffers(s, peer)
	ctx := testCtx(t)
	accepted, refused := uint32(0), 0
	for i := 0; refused == 0; i++ {
		if i > 1<<20 {
			t.Fatal("TryWrite never refused a message with a peer that does not read")
		}
		ok, err := s.TryWrite(message(accepted, size))
		switch {
		case err != nil:
			t.Fatal(err)
		case ok:
			accepted++
		default:
			refused++
		}
		if b := s.Writer().Buffered(); b > high {
			t.Fatalf("Buffered = %d, over the high watermark %d", b, high)
		}
	}
	if accepted == 0 {
		t.Fatal("TryWrite refused the first message")
	}
	// The peer reads; every message accepted arrives whole and in order,
	// then the next one TryWrite takes after a Drain.
	got := make(chan error, 1)
	go func() {
		buf := make([]byte, size)
		for i := uint32(0); i <= accepted; i++ {
			if _, err := io.ReadFull(peer, buf); err != nil {
				got <- err
				return
			}
			if !bytes.Equal(buf, message(i, size)) {
				got <- errors.New("a message arrived cut or out of order")
				return
			}
		}
		got <- nil
	}()
	if err := s.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.TryWrite(message(accepted, size)); !ok || err != nil {
		t.Fatalf("TryWrite after Drain = %v, %v; want true, nil", ok, err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("the peer did not get every message")
	}
}

func TestTryWrite_LargerThanTheWatermarkOnAnEmptyQueue(t *testing.T) {
	s, peer := streamPair(t, WithWriteBufferLimits(100, 0))
	big := bytes.Repeat([]byte("b"), 10_000)
	if ok, err := s.TryWrite(big); !ok || err != nil {
		t.Fatalf("TryWrite of %d bytes on an empty queue = %v, %v; want true, nil", len(big), ok, err)
	}
	peer.SetReadDeadline(time.Now().Add(20 * time.Second))
	got := make([]byte, len(big))
	if _, err := io.ReadFull(peer, got); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("peer read %d bytes, %v", len(got), err)
	}
}

func TestTryWrite_Errors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(s *Stream)
		p     []byte
		want  error
	}{
		{"empty", func(*Stream) {}, nil, nil},
		{"after Close", func(s *Stream) { s.Close() }, []byte("x"), ErrClosed},
		{"empty after Close", func(s *Stream) { s.Close() }, nil, ErrClosed},
		{"after WriteEOF", func(s *Stream) { s.WriteEOF() }, []byte("x"), ErrWriteAfterEOF},
		{"past the deadline", func(s *Stream) { s.SetWriteDeadline(time.Now().Add(-time.Second)) }, []byte("x"), os.ErrDeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := streamPair(t)
			tc.setup(s)
			ok, err := s.TryWrite(tc.p)
			if !errors.Is(err, tc.want) || (err != nil) == ok {
				t.Fatalf("TryWrite = %v, %v; want %v, %v", ok, err, tc.want == nil, tc.want)
			}
		})
	}
}

// readReset reads from peer until an error, which it returns.
func readReset(peer net.Conn) error {
	peer.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err := io.Copy(io.Discard, peer)
	if err == nil {
		return io.EOF
	}
	return err
}

func TestAbortReset_PeerSeesReset(t *testing.T) {
	s, peer := streamPair(t)
	s.Write(bytes.Repeat([]byte("d"), 1000))
	if err := s.AbortReset(); err != nil {
		t.Fatalf("AbortReset = %v", err)
	}
	if err := readReset(peer); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("peer read ended with %v; want ECONNRESET", err)
	}
	if _, err := s.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after AbortReset = %v; want ErrClosed", err)
	}
	if err := s.AbortReset(); !errors.Is(err, ErrClosed) {
		t.Fatalf("a second AbortReset = %v; want ErrClosed", err)
	}
}

func TestAbort_PeerSeesOrderlyEnd(t *testing.T) {
	s, peer := streamPair(t)
	s.Abort()
	if err := readReset(peer); err != io.EOF {
		t.Fatalf("peer read ended with %v after Abort; want EOF (a FIN)", err)
	}
}

func TestAbortReset_OverTLSResetsTheTCPConnection(t *testing.T) {
	ctx := testCtx(t)
	x := testnet.NewTLS(t, "localhost")
	c, srv := tcpPair(t)
	server := tls.Server(srv, x.ServerConfig())
	defer server.Close()
	cfg := x.ClientConfig()
	cfg.ServerName = "localhost"
	s := NewStream(tls.Client(c, cfg))
	defer closeStream(t, s)
	if _, err := s.Write([]byte("hello\n")); err != nil { // the handshake runs
		t.Fatal(err)
	}
	server.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(server, make([]byte, 6)); err != nil {
		t.Fatal(err)
	}
	server.Write([]byte("hi\n"))
	if _, err := s.ReadLine(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.AbortReset(); err != nil {
		t.Fatalf("AbortReset over TLS = %v", err)
	}
	if err := readReset(server); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("peer read ended with %v; want ECONNRESET", err)
	}
}

func TestAbortReset_NotTCPClosesAndSaysSo(t *testing.T) {
	ours, peer := socketPair(t)
	defer peer.Close()
	s := NewStream(ours)
	defer closeStream(t, s)
	if err := s.AbortReset(); !errors.Is(err, ErrResetUnsupported) {
		t.Fatalf("AbortReset on a socketpair = %v; want ErrResetUnsupported", err)
	}
	if !s.IsClosing() {
		t.Fatal("the stream is not closed")
	}
	if err := readReset(peer); err != io.EOF {
		t.Fatalf("peer read ended with %v; want EOF", err)
	}
}

// tcpSource returns a TCP connection to copy from, and the end that feeds
// it.
func tcpSource(t *testing.T) (src, feed *net.TCPConn) {
	src, feed = tcpPair(t)
	t.Cleanup(func() { src.Close(); feed.Close() })
	return src, feed
}

// readAllFrom reads peer until EOF in the background.
func readAllFrom(peer net.Conn) <-chan []byte {
	got := make(chan []byte, 1)
	go func() {
		peer.SetReadDeadline(time.Now().Add(30 * time.Second))
		b, _ := io.ReadAll(peer)
		got <- b
	}()
	return got
}

// opaqueReader hides every method of its reader but Read.
type opaqueReader struct{ r io.Reader }

func (o opaqueReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestReadFrom_CopiesEverything(t *testing.T) {
	data := make([]byte, 3<<20+17)
	for i := range data {
		data[i] = byte(i * 7)
	}
	type source func(t *testing.T) io.Reader
	fromTCP := func(limit int64) source {
		return func(t *testing.T) io.Reader {
			src, feed := tcpSource(t)
			go func() { feed.Write(data); feed.CloseWrite() }()
			if limit >= 0 {
				return &io.LimitedReader{R: src, N: limit}
			}
			return src
		}
	}
	opaque := func(t *testing.T) io.Reader { return opaqueReader{bytes.NewReader(data)} }
	for _, tc := range []struct {
		name   string
		pair   func(t *testing.T) (net.Conn, net.Conn)
		src    source
		want   int
		socket bool // the bytes go straight to the socket, never queued
	}{
		{"tcp from tcp", func(t *testing.T) (net.Conn, net.Conn) { return tcpPair(t) }, fromTCP(-1), len(data), true},
		{"tcp from limited tcp", func(t *testing.T) (net.Conn, net.Conn) { return tcpPair(t) }, fromTCP(1 << 20), 1 << 20, true},
		{"tcp from a plain reader", func(t *testing.T) (net.Conn, net.Conn) { return tcpPair(t) }, opaque, len(data), true},
		{"socketpair from a plain reader", func(t *testing.T) (net.Conn, net.Conn) { return socketPair(t) }, opaque, len(data), false},
		{"socketpair from tcp", func(t *testing.T) (net.Conn, net.Conn) { return socketPair(t) }, fromTCP(-1), len(data), false},
		{"tls from tcp", func(t *testing.T) (net.Conn, net.Conn) { return notSocketPairs(t)["TLS"]() }, fromTCP(-1), len(data), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ours, peer := tc.pair(t)
			defer peer.Close()
			s := NewStream(ours, WithWriteBufferLimits(16<<10, 4<<10))
			defer closeStream(t, s)
			got := readAllFrom(peer)
			n, err := io.Copy(s, tc.src(t))
			if n != int64(tc.want) || err != nil {
				t.Fatalf("io.Copy = %d, %v; want %d, nil", n, err, tc.want)
			}
			if tc.socket && socketsPolled { // else the pumps write everything
				s.w.mu.Lock()
				queued := s.w.q != nil && len(s.w.q.bufs) > 0
				s.w.mu.Unlock()
				if queued {
					t.Error("the copy went through the queue")
				}
			}
			s.Close() // the peer reads to EOF; it closes its end then
			b := <-got
			peer.Close()
			if !bytes.Equal(b, data[:tc.want]) {
				t.Fatalf("peer got %d bytes, not the %d copied", len(b), tc.want)
			}
			if st := s.Stats(); st.BytesWritten != int64(tc.want) {
				t.Fatalf("Stats.BytesWritten = %d; want %d", st.BytesWritten, tc.want)
			}
		})
	}
}

// failingReader gives its data, then err.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestReadFrom_ReturnsSourceError(t *testing.T) {
	s, peer := streamPair(t)
	boom := errors.New("boom")
	n, err := s.ReadFrom(&failingReader{data: []byte("partial"), err: boom})
	if n != 7 || !errors.Is(err, boom) {
		t.Fatalf("ReadFrom = %d, %v; want 7, boom", n, err)
	}
	// What it read is sent, and the stream goes on.
	s.Write([]byte("!"))
	peer.SetReadDeadline(time.Now().Add(20 * time.Second))
	got := make([]byte, 8)
	if _, err := io.ReadFull(peer, got); err != nil || string(got) != "partial!" {
		t.Fatalf("peer read %q, %v", got, err)
	}
}

func TestReadFrom_AfterCloseFails(t *testing.T) {
	s, _ := streamPair(t)
	s.Close()
	if n, err := s.ReadFrom(bytes.NewReader([]byte("x"))); n != 0 || !errors.Is(err, ErrClosed) {
		t.Fatalf("ReadFrom after Close = %d, %v; want 0, ErrClosed", n, err)
	}
}

// A copyPath is one of ReadFrom's ways: straight to a TCP socket from a
// TCP connection (splice) or from any reader, or through the queue.
type copyPath struct {
	name   string
	unix   bool // a socketpair, which has no ReadFrom of its own: the queue
	opaque bool // src is hidden behind a plain Read
}

var copyPaths = []copyPath{
	{name: "socket-splice"},
	{name: "socket-generic", opaque: true},
	{name: "queued", unix: true},
}

// pair makes a stream with opts over the path's connection, and the
// peer's end. Over TCP, shrink makes the kernel buffer little between them.
func (p copyPath) pair(t *testing.T, shrink bool, opts ...Option) (*Stream, net.Conn) {
	if !p.unix {
		s, peer := streamPair(t, opts...)
		if shrink {
			shrinkBuffers(s, peer)
		}
		return s, peer
	}
	ours, peer := socketPair(t)
	s := NewStream(ours, opts...)
	t.Cleanup(func() {
		s.Abort()
		peer.Close()
		s.WaitClosed(context.Background())
	})
	return s, peer
}

func (p copyPath) src(src io.Reader) io.Reader {
	if p.opaque {
		return opaqueReader{src}
	}
	return src
}

// TestReadFrom_IsOneWriteCall checks that writes made during a ReadFrom
// wait for it, and that TryWrite refuses meanwhile.
func TestReadFrom_IsOneWriteCall(t *testing.T) {
	for _, path := range copyPaths {
		t.Run(path.name, func(t *testing.T) {
			ctx := testCtx(t)
			s, peer := path.pair(t, true)
			src, feed := tcpSource(t)
			r := path.src(src)
			copied := make(chan error, 1)
			go func() {
				_, err := s.ReadFrom(r)
				copied <- err
			}()
			feed.Write(bytes.Repeat([]byte("a"), 1000))
			peer.SetReadDeadline(time.Now().Add(20 * time.Second))
			if _, err := io.ReadFull(peer, make([]byte, 1000)); err != nil {
				t.Fatal(err)
			}
			// ReadFrom now waits in src.Read.
			if ok, err := s.TryWrite([]byte("T")); ok || err != nil {
				t.Fatalf("TryWrite during ReadFrom = %v, %v; want false, nil", ok, err)
			}
			wrote := make(chan error, 1)
			go func() {
				_, err := s.WriteContext(ctx, []byte("BBB"))
				wrote <- err
			}()
			feed.Write(bytes.Repeat([]byte("a"), 1000))
			feed.CloseWrite()
			if err := <-copied; err != nil {
				t.Fatalf("ReadFrom = %v", err)
			}
			if err := <-wrote; err != nil {
				t.Fatalf("Write = %v", err)
			}
			got := make([]byte, 1003)
			if _, err := io.ReadFull(peer, got); err != nil {
				t.Fatal(err)
			}
			if want := strings.Repeat("a", 1000) + "BBB"; string(got) != want {
				t.Fatalf("the write cut into the copy: peer read %q...", got[len(got)-10:])
			}
		})
	}
}

// TestReadFrom_CountsBytesAsTheyGo checks that Stats counts what a
// ReadFrom still running has written, as an idle timeout watching the
// stream's counters needs.
func TestReadFrom_CountsBytesAsTheyGo(t *testing.T) {
	const size = 1 << 20
	for _, path := range copyPaths {
		t.Run(path.name, func(t *testing.T) {
			s, peer := path.pair(t, false)
			src, feed := tcpSource(t)
			copied := make(chan error, 1)
			go func() {
				_, err := s.ReadFrom(path.src(src))
				copied <- err
			}()
			fed := make(chan error, 1)
			go func() {
				_, err := feed.Write(make([]byte, size))
				fed <- err
			}()
			peer.SetReadDeadline(time.Now().Add(20 * time.Second))
			if _, err := io.ReadFull(peer, make([]byte, size)); err != nil {
				t.Fatal(err)
			}
			if err := <-fed; err != nil {
				t.Fatal(err)
			}
			// ReadFrom waits for more from src; what it wrote is counted.
			testnet.Eventually(t, "BytesWritten to count the copy", func() bool {
				return s.Stats().BytesWritten == size
			})
			feed.CloseWrite()
			if err := <-copied; err != nil {
				t.Fatalf("ReadFrom = %v", err)
			}
		})
	}
}

// TestReadFrom_EndsOnCloseDeadlineAndWriteEOF checks that a ReadFrom stuck
// on a peer that does not read ends when the stream is closed, its write
// deadline passes or WriteEOF is called, on each path, and that the stream is usable after a deadline.
func TestReadFrom_EndsOnCloseDeadlineAndWriteEOF(t *testing.T) {
	for _, path := range copyPaths {
		for _, tc := range []struct {
			name string
			end  func(s *Stream)
			want error
		}{
			{"Close", func(s *Stream) { s.Close() }, ErrClosed},
			{"Abort", func(s *Stream) { s.Abort() }, ErrClosed},
			{"deadline", func(s *Stream) { s.SetWriteDeadline(time.Now().Add(10 * time.Millisecond)) }, os.ErrDeadlineExceeded},
			{"WriteEOF", func(s *Stream) { s.WriteEOF() }, ErrWriteAfterEOF},
		} {
			t.Run(path.name+"/"+tc.name, func(t *testing.T) {
				ctx := testCtx(t)
				s, peer := path.pair(t, true, WithWriteBufferLimits(8<<10, 0))
				src, feed := tcpSource(t)
				r := path.src(src)
				fed := make(chan struct{})
				go func() { // more than the peer's buffers take, then the end
					defer close(fed)
					chunk := bytes.Repeat([]byte("z"), 64<<10)
					for range 64 {
						if _, err := feed.Write(chunk); err != nil {
							return
						}
					}
					feed.CloseWrite()
				}()
				copied := make(chan error, 1)
				go func() {
					_, err := s.ReadFrom(r)
					copied <- err
				}()
				testnet.Eventually(t, "the copy to start", func() bool {
					return s.w.gate.state.Load()&gateBits != gateUnlocked
				})
				tc.end(s)
				select {
				case err := <-copied:
					if !errors.Is(err, tc.want) {
						t.Fatalf("ReadFrom = %v; want %v", err, tc.want)
					}
				case <-ctx.Done():
					t.Fatal("ReadFrom did not end")
				}
				src.Close() // ends the feeder
				<-fed
				if tc.name != "deadline" {
					return
				}
				// The stream writes again once the deadline is lifted.
				s.SetWriteDeadline(time.Time{})
				got := readAllFrom(peer)
				if _, err := s.Write([]byte("after")); err != nil {
					t.Fatalf("Write after the deadline was lifted = %v", err)
				}
				if err := s.CloseWrite(); err != nil {
					t.Fatal(err)
				}
				if b := <-got; !bytes.HasSuffix(b, []byte("after")) {
					t.Fatalf("peer's last bytes = %q; want \"after\"", b[max(0, len(b)-10):])
				}
			})
		}
	}
}

// zeroReader reads zeros for ever, and hides the type of what it is.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// BenchmarkReadFrom copies into a stream with io.Copy, next to io.Copy
// into the raw connection: over TCP from a TCP connection (splice) and from
// a reader the kernel cannot read (a buffer, and blocking writes), and over
// a socketpair from such a reader (the stream's queue). A peer discards
// what arrives.
func BenchmarkReadFrom(b *testing.B) {
	const block = 64 << 10
	run := func(b *testing.B, stream, fromTCP, unix bool) {
		var ours, peer net.Conn
		if unix {
			ours, peer = socketPair(b)
			b.Cleanup(func() { ours.Close(); peer.Close() })
		} else {
			ours, peer = benchPair(b)
		}
		var src io.Reader
		if fromTCP {
			r, w := benchPair(b)
			sendBlocks(b, w, bytes.Repeat([]byte("k"), block), b.N)
			src = r
		} else {
			src = &io.LimitedReader{R: opaqueReader{zeroReader{}}, N: int64(b.N) * block}
		}
		drained := make(chan int64, 1)
		go func() {
			n, _ := io.Copy(io.Discard, peer)
			drained <- n
		}()
		b.SetBytes(block)
		b.ReportAllocs()
		b.ResetTimer()
		var n int64
		var err error
		if stream {
			s := benchStream(b, ours)
			n, err = io.Copy(s, src)
			s.CloseWrite()
		} else {
			n, err = io.Copy(ours, src)
			ours.(halfCloser).CloseWrite()
		}
		if got := <-drained; err != nil || n != int64(b.N)*block || got != n {
			b.Fatalf("copied %d, %v; the peer got %d; want %d", n, err, got, b.N*block)
		}
	}
	b.Run("tcp-from-tcp/chanstream", func(b *testing.B) { run(b, true, true, false) })
	b.Run("tcp-from-tcp/net.Conn", func(b *testing.B) { run(b, false, true, false) })
	b.Run("tcp-from-reader/chanstream", func(b *testing.B) { run(b, true, false, false) })
	b.Run("tcp-from-reader/net.Conn", func(b *testing.B) { run(b, false, false, false) })
	b.Run("unix-from-reader/chanstream", func(b *testing.B) { run(b, true, false, true) })
	b.Run("unix-from-reader/net.Conn", func(b *testing.B) { run(b, false, false, true) })
}
