package listener

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
)

// A client that only receives is not idle while the server's writes reach
// it: the idle timeout is shorter than the whole response, but longer than
// each gap between its pieces.
func TestServer_IdleTimeoutCountsWrites(t *testing.T) {
	const (
		idle   = 2 * time.Second
		gap    = 50 * time.Millisecond // far below idle, even on a loaded machine
		pieces = 60                    // 3 s of response at least: longer than idle
		size   = 4 << 10
	)
	piece := bytes.Repeat([]byte("x"), size)
	handlerErr := make(chan error, 1)
	srv := serve(t, "tcp", "127.0.0.1:0", func(ctx context.Context, s *chanstream.Stream) {
		for range pieces {
			if _, err := s.Write(piece); err != nil {
				handlerErr <- err
				return
			}
			if err := s.Drain(ctx); err != nil {
				handlerErr <- err
				return
			}
			time.Sleep(gap)
		}
		handlerErr <- nil
	}, WithIdleTimeout(idle))
	c := dialServer(t, srv)
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	got, err := io.ReadAll(c) // the client never writes
	if err != nil {
		t.Fatalf("after %d of %d bytes: %v", len(got), pieces*size, err)
	}
	if len(got) != pieces*size {
		t.Fatalf("got %d of %d bytes", len(got), pieces*size)
	}
	if err := <-handlerErr; err != nil {
		t.Fatalf("handler: %v", err)
	}
	if st := srv.Stats(); st.Evicted != 0 {
		t.Fatalf("Stats = %+v", st)
	}
}

// A client that neither sends nor reads what the server writes is idle once
// the kernel's buffers are full: nothing moves either way.
func TestServer_IdleTimeoutEvictsStalledReceiver(t *testing.T) {
	const maxPieces = 1024 // 64 MiB: far more than loopback buffers hold
	piece := make([]byte, 64<<10)
	handlerErr := make(chan error, 1)
	srv := serve(t, "tcp", "127.0.0.1:0", func(ctx context.Context, s *chanstream.Stream) {
		for range maxPieces {
			if _, err := s.Write(piece); err != nil {
				handlerErr <- err
				return
			}
		}
		handlerErr <- errors.New("every write went through to a client that reads nothing")
	}, WithIdleTimeout(300*time.Millisecond))
	dialServer(t, srv) // reads nothing, writes nothing
	select {
	case err := <-handlerErr:
		if !errors.Is(err, chanstream.ErrClosed) {
			t.Fatalf("handler's write: %v, want chanstream.ErrClosed", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the stalled connection was not evicted")
	}
	eventually(t, "the eviction counted", func() bool { return srv.Stats().Evicted == 1 })
}

// A connection on which nothing moves is evicted, whether or not its
// handler waits to read.
func TestServer_IdleTimeoutEvictsSilentPeer(t *testing.T) {
	srv := serve(t, "tcp", "127.0.0.1:0", func(ctx context.Context, s *chanstream.Stream) {
		<-ctx.Done() // neither reads nor writes
	}, WithIdleTimeout(200*time.Millisecond))
	c := dialServer(t, srv)
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read = %v, want the eviction's close", err)
	}
	eventually(t, "the eviction counted", func() bool { return srv.Stats().Evicted == 1 })
}

// A response queued in one large write, which the write pump hands the
// kernel in one system call, keeps the connection alive while the client
// reads it, slowly, over longer than the idle timeout (on Linux, where the
// kernel says how much of it the peer has acknowledged).
func TestServer_IdleTimeoutCountsOneLongWrite(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("only Linux tells how much of a write under way the peer has")
	}
	const (
		idle  = 2 * time.Second
		size  = 4 << 20
		piece = 32 << 10
		gap   = 40 * time.Millisecond // 128 pieces: 5 s at least, over two idle periods
	)
	handlerErr := make(chan error, 1)
	srv := serve(t, "tcp", "127.0.0.1:0", func(ctx context.Context, s *chanstream.Stream) {
		// Small kernel buffers: the write stays under way while the
		// client reads.
		s.Conn().(*net.TCPConn).SetWriteBuffer(piece)
		if _, err := s.Write(make([]byte, size)); err != nil {
			handlerErr <- err
			return
		}
		handlerErr <- s.Drain(ctx)
	}, WithIdleTimeout(idle), chanstream.WithWriteBufferLimits(2*size, 0))
	c := dialServer(t, srv)
	c.(*net.TCPConn).SetReadBuffer(piece)
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	buf := make([]byte, piece)
	total := 0
	for total < size {
		n, err := io.ReadFull(c, buf)
		total += n
		if err != nil {
			t.Fatalf("after %d of %d bytes: %v", total, size, err)
		}
		time.Sleep(gap)
	}
	if err := <-handlerErr; err != nil {
		t.Fatalf("handler: %v", err)
	}
	if st := srv.Stats(); st.Evicted != 0 {
		t.Fatalf("Stats = %+v", st)
	}
}
