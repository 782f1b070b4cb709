package chanstream_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/streamtest"
	"github.com/chanstream/chanstream/internal/testnet"
)

// quirksCtx bounds a test's waits.
func quirksCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// closeStream aborts s and waits for its goroutines when the test ends.
func closeStream(t *testing.T, s *chanstream.Stream) {
	t.Cleanup(func() {
		s.Abort()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.WaitClosed(ctx)
	})
}

// A Stream made over a *tls.Conn before its handshake learns the version
// once the handshake is done: CanWriteEOF and WriteEOF follow it from then
// on, and report false and ErrWriteEOFUnsupported before.
func TestCanWriteEOF_TLSConnMadeBeforeItsHandshake(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version uint16
		want    bool
	}{
		{"TLS 1.3", tls.VersionTLS13, true},
		{"TLS 1.2", tls.VersionTLS12, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := quirksCtx(t)
			a, b := testnet.TCPPair(t)
			clientConfig, serverConfig := streamtest.TLSConfigs(t)
			clientConfig.MinVersion, clientConfig.MaxVersion = tc.version, tc.version
			serverConfig.MinVersion, serverConfig.MaxVersion = tc.version, tc.version
			// The client's read pump starts the handshake at once; it
			// cannot end before the server's side exists.
			client := chanstream.NewStream(tls.Client(a, clientConfig))
			closeStream(t, client)
			if client.CanWriteEOF() {
				t.Fatal("CanWriteEOF = true before the handshake")
			}
			if err := client.WriteEOF(); !errors.Is(err, chanstream.ErrWriteEOFUnsupported) {
				t.Fatalf("WriteEOF before the handshake = %v; want ErrWriteEOFUnsupported", err)
			}
			server := chanstream.NewStream(tls.Server(b, serverConfig))
			closeStream(t, server)
			// The handshake runs meanwhile. Each side knows the version
			// by the time it has read a byte.
			if _, err := client.Write([]byte("ping\n")); err != nil {
				t.Fatal(err)
			}
			if line, err := server.ReadLine(ctx); err != nil || string(line) != "ping\n" {
				t.Fatalf("server ReadLine = %q, %v", line, err)
			}
			if got := server.CanWriteEOF(); got != tc.want {
				t.Fatalf("server CanWriteEOF after the handshake = %v; want %v", got, tc.want)
			}
			if _, err := server.Write([]byte("pong\n")); err != nil {
				t.Fatal(err)
			}
			if line, err := client.ReadLine(ctx); err != nil || string(line) != "pong\n" {
				t.Fatalf("client ReadLine = %q, %v", line, err)
			}
			if got := client.CanWriteEOF(); got != tc.want {
				t.Fatalf("client CanWriteEOF after the handshake = %v; want %v", got, tc.want)
			}
			err := client.WriteEOF()
			if !tc.want {
				if !errors.Is(err, chanstream.ErrWriteEOFUnsupported) {
					t.Fatalf("WriteEOF on %s = %v; want ErrWriteEOFUnsupported", tc.name, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("WriteEOF on %s = %v", tc.name, err)
			}
			// The half-close: the server sees the end, and can still answer.
			if b, err := server.ReadChunk(ctx, -1); err != nil || len(b) != 0 {
				t.Fatalf("server ReadChunk(-1) after the client's WriteEOF = %q, %v; want the end", b, err)
			}
			if _, err := server.Write([]byte("bye\n")); err != nil {
				t.Fatal(err)
			}
			if line, err := client.ReadLine(ctx); err != nil || string(line) != "bye\n" {
				t.Fatalf("client ReadLine after its WriteEOF = %q, %v", line, err)
			}
			if _, err := client.Write([]byte("x")); !errors.Is(err, chanstream.ErrWriteAfterEOF) {
				t.Fatalf("Write after WriteEOF = %v; want ErrWriteAfterEOF", err)
			}
		})
	}
}

// Every byte handed to the writer is in BytesWritten or in WriteBuffered,
// in each Stats: the write pump moves the bytes it sent from one to the
// other at once.
func TestStats_WrittenPlusBufferedCountsEveryByte(t *testing.T) {
	a, peer := testnet.TCPPair(t)
	s := chanstream.NewStream(a)
	closeStream(t, s)
	const messages, size = 20_000, 1000
	go io.Copy(io.Discard, peer)
	msg := bytes.Repeat([]byte("m"), size)
	accepted := int64(0)
	for i := range messages {
		if _, err := s.Write(msg); err != nil {
			t.Fatal(err)
		}
		accepted += size
		st := s.Stats()
		if got := st.BytesWritten + int64(st.WriteBuffered); got != accepted {
			t.Fatalf("after write %d: BytesWritten %d + WriteBuffered %d = %d; want the %d bytes written",
				i, st.BytesWritten, st.WriteBuffered, got, accepted)
		}
	}
}

// blockingConn is a connection that is not a socket, whose Write waits
// until release is closed and whose Read waits until readErr is sent.
type blockingConn struct {
	net.Conn               // the rest: never called
	writing  chan struct{} // closed when the first Write starts
	release  chan struct{}
	readErr  chan error
	once     sync.Once
	mu       sync.Mutex
	got      []byte // what Write was given, copied once released
}

func newBlockingConn() *blockingConn {
	return &blockingConn{writing: make(chan struct{}), release: make(chan struct{}), readErr: make(chan error, 1)}
}

func (c *blockingConn) Write(p []byte) (int, error) {
	c.once.Do(func() { close(c.writing) })
	<-c.release
	c.mu.Lock()
	c.got = append(c.got, p...)
	c.mu.Unlock()
	return len(p), nil
}

func (c *blockingConn) Read([]byte) (int, error)         { return 0, <-c.readErr }
func (c *blockingConn) Close() error                     { return nil }
func (c *blockingConn) SetReadDeadline(time.Time) error  { return nil }
func (c *blockingConn) SetWriteDeadline(time.Time) error { return nil }
func (c *blockingConn) SetDeadline(time.Time) error      { return nil }

// When the read side sees the connection break while the write pump is
// writing, the queue is dropped, the bytes being written with it: Buffered
// goes to 0 and stays there when the write returns, and the buffers under
// that write are not handed to another stream meanwhile.
func TestWriter_BreakSeenByTheReaderWhileThePumpWrites(t *testing.T) {
	ctx := quirksCtx(t)
	conn := newBlockingConn()
	s := chanstream.NewStream(conn)
	closeStream(t, s)
	t.Cleanup(func() {
		select {
		case <-conn.release:
		default:
			close(conn.release)
		}
	})
	msg := bytes.Repeat([]byte("a"), 10_000)
	if _, err := s.Write(msg); err != nil {
		t.Fatal(err)
	}
	select {
	case <-conn.writing:
	case <-ctx.Done():
		t.Fatal("the write pump did not write")
	}
	if got := s.Writer().Buffered(); got != len(msg) {
		t.Fatalf("Buffered while the pump writes = %d; want %d", got, len(msg))
	}
	broken := errors.New("broken")
	conn.readErr <- broken
	for {
		if _, err := s.Write(nil); errors.Is(err, broken) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("writes did not see the read side's error")
		default:
			runtime.Gosched()
		}
	}
	if got := s.Writer().Buffered(); got != 0 {
		t.Fatalf("Buffered after the break = %d; want 0 (the queue is dropped)", got)
	}
	// Another stream queues data now: it must not get the buffers the
	// first stream's pump is still writing from.
	other, otherPeer := streamtest.Pipe(t)
	o := chanstream.NewStream(other)
	closeStream(t, o)
	go io.Copy(io.Discard, otherPeer)
	for range 8 {
		o.Write(bytes.Repeat([]byte("X"), 32<<10))
	}
	close(conn.release)
	for s.Stats().BytesWritten != int64(len(msg)) {
		select {
		case <-ctx.Done():
			t.Fatalf("BytesWritten = %d; want %d", s.Stats().BytesWritten, len(msg))
		default:
			runtime.Gosched()
		}
	}
	if st := s.Stats(); st.WriteBuffered != 0 {
		t.Fatalf("WriteBuffered after the pump's write returned = %d; want 0", st.WriteBuffered)
	}
	conn.mu.Lock()
	defer conn.mu.Unlock()
	if !bytes.Equal(conn.got, msg) {
		t.Fatal("the connection was sent another stream's data")
	}
}

// countingReader counts the bytes read from it; it has no WriteTo, so
// that ReadFrom copies it through its own buffer.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// ReadFrom writing to a TCP socket itself counts the piece it is writing
// as buffered until the write returns: with the peer not reading, the bytes
// taken from src are all in BytesWritten or WriteBuffered.
func TestReadFrom_ThePieceBeingWrittenIsBuffered(t *testing.T) {
	ctx := quirksCtx(t)
	a, peer := testnet.TCPPair(t)
	peer.SetReadBuffer(4096)
	a.SetWriteBuffer(4096)
	s := chanstream.NewStream(a)
	closeStream(t, s)
	src := &countingReader{r: bytes.NewReader(make([]byte, 8<<20))}
	done := make(chan error, 1)
	go func() {
		_, err := s.ReadFrom(src)
		done <- err
	}()
	for {
		st := s.Stats()
		if taken := src.n.Load(); st.WriteBuffered > 0 && st.BytesWritten+int64(st.WriteBuffered) == taken {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("with ReadFrom stuck on a peer that does not read: %+v, %d bytes taken from src", st, src.n.Load())
		case <-time.After(time.Millisecond):
		}
	}
	// Drain would wait for it: with a ctx already done it says so.
	done0, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Drain(done0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Drain with the piece unsent = %v; want it to wait (context.Canceled)", err)
	}
	s.Abort()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("ReadFrom did not return after Abort")
	}
	peer.Close()
}

// The read pump of a connection that is not a socket pauses when the chunk
// channel is full, which with the default limit is one chunk however small;
// the chunk it holds then was received from the connection, and is counted
// as buffered, and read next.
func TestStats_ThePausedPumpsChunkIsBuffered(t *testing.T) {
	ctx := quirksCtx(t)
	a, peer := streamtest.Pipe(t)
	s := chanstream.NewStream(a)
	closeStream(t, s)
	if _, err := peer.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	for s.Stats().BytesRead != 5 { // the first chunk is in the channel
		select {
		case <-ctx.Done():
			t.Fatalf("Stats = %+v; want 5 bytes read", s.Stats())
		case <-time.After(time.Millisecond):
		}
	}
	if _, err := peer.Write([]byte("world!")); err != nil {
		t.Fatal(err)
	}
	for !s.Stats().ReadPaused {
		select {
		case <-ctx.Done():
			t.Fatalf("Stats = %+v; want the pump paused with the second chunk", s.Stats())
		case <-time.After(time.Millisecond):
		}
	}
	st := s.Stats()
	if st.BytesRead != 11 || st.ReadBuffered != 11 || s.Reader().Buffered() != 11 {
		t.Fatalf("paused: Stats = %+v, Buffered = %d; want 11 bytes read and buffered", st, s.Reader().Buffered())
	}
	got, err := s.ReadExactly(ctx, 11)
	if err != nil || string(got) != "helloworld!" {
		t.Fatalf("ReadExactly(11) = %q, %v", got, err)
	}
	if st := s.Stats(); st.BytesRead != 11 || st.ReadBuffered != 0 || st.ReadPaused {
		t.Fatalf("after reading: Stats = %+v; want 11 read, none buffered, not paused", st)
	}
}

// Bytes counted as buffered are read before an end fed meanwhile: the
// chunk a paused pump holds included.
func TestFeedError_ThePausedPumpsChunkIsReadFirst(t *testing.T) {
	ctx := quirksCtx(t)
	a, peer := streamtest.Pipe(t)
	s := chanstream.NewStream(a)
	closeStream(t, s)
	peer.Write([]byte("hello"))
	for s.Stats().BytesRead != 5 {
		select {
		case <-ctx.Done():
			t.Fatalf("Stats = %+v; want 5 bytes read", s.Stats())
		case <-time.After(time.Millisecond):
		}
	}
	peer.Write([]byte("world!"))
	for !s.Stats().ReadPaused {
		select {
		case <-ctx.Done():
			t.Fatalf("Stats = %+v; want the pump paused with the second chunk", s.Stats())
		case <-time.After(time.Millisecond):
		}
	}
	stored := errors.New("stored")
	s.FeedError(stored)
	got, err := s.ReadChunk(ctx, -1)
	if string(got) != "helloworld!" || !errors.Is(err, stored) {
		t.Fatalf("ReadChunk(-1) after FeedError = %q, %v; want every byte buffered, then the error", got, err)
	}
	if st := s.Stats(); st.BytesRead != 11 || st.ReadBuffered != 0 {
		t.Fatalf("Stats = %+v; want 11 read, none buffered", st)
	}
}
