package chanstream

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// xorConn is a toy "protocol layer" over a detached connection: it XORs
// every byte with key, and reads the bytes detach handed back first.
type xorConn struct {
	net.Conn
	key    byte
	prefix []byte
}

func (c *xorConn) Read(p []byte) (int, error) {
	var n int
	var err error
	if len(c.prefix) > 0 {
		n = copy(p, c.prefix)
		c.prefix = c.prefix[n:]
	} else {
		n, err = c.Conn.Read(p)
	}
	for i := range p[:n] {
		p[i] ^= c.key
	}
	return n, err
}

func (c *xorConn) Write(p []byte) (int, error) {
	q := make([]byte, len(p))
	for i, b := range p {
		q[i] = b ^ c.key
	}
	return c.Conn.Write(q)
}

func xor(p []byte, key byte) []byte {
	q := make([]byte, len(p))
	for i, b := range p {
		q[i] = b ^ key
	}
	return q
}

func TestDetach_UnreadBytesBehindACommandAreHandedBack(t *testing.T) {
	ctx := testCtx(t)
	ours, peer := tcpPair(t)
	s := NewStream(ours)
	defer closeStream(t, s)
	defer peer.Close()
	// The command and the first bytes of the next protocol in one segment.
	behind := xor([]byte("first line after the upgrade\n"), 0x5a)
	peer.Write(append([]byte("STARTTLS\r\n"), behind...))
	line, err := s.ReadLine(ctx)
	if err != nil || string(line) != "STARTTLS\r\n" {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
	s.Write([]byte("220 go ahead\r\n")) // queued; must be sent before the switch
	conn, unread, err := s.detach(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(unread, behind) {
		t.Fatalf("unread = %q; want the bytes behind the command", unread)
	}
	reply := make([]byte, len("220 go ahead\r\n"))
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(peer, reply); err != nil || string(reply) != "220 go ahead\r\n" {
		t.Fatalf("the peer got %q, %v", reply, err)
	}
	if err := s.attach(&xorConn{Conn: conn, key: 0x5a, prefix: unread}, map[string]any{"layer": "xor"}); err != nil {
		t.Fatal(err)
	}
	line, err = s.ReadLine(ctx)
	if err != nil || string(line) != "first line after the upgrade\n" {
		t.Fatalf("ReadLine after attach = %q, %v", line, err)
	}
	peer.Write(xor([]byte("second\n"), 0x5a))
	if line, err := s.ReadLine(ctx); err != nil || string(line) != "second\n" {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
	s.Write([]byte("through the layer"))
	got := make([]byte, len("through the layer"))
	if _, err := io.ReadFull(peer, got); err != nil || string(xor(got, 0x5a)) != "through the layer" {
		t.Fatalf("the peer got %q, %v", xor(got, 0x5a), err)
	}
	if v, ok := s.ExtraInfo("layer"); !ok || v != "xor" {
		t.Fatalf("ExtraInfo(layer) = %v, %v", v, ok)
	}
	if _, ok := s.Conn().(*xorConn); !ok {
		t.Fatalf("Conn() is %T after attach", s.Conn())
	}
}

func TestDetach_LosesNothingFromAFullPipeline(t *testing.T) {
	// The peer floods while we do not read: chunks wait in the channel and
	// the pump holds one it cannot hand over. All of it comes back, in order.
	ctx := testCtx(t)
	ours, peer := tcpPair(t)
	s := NewStream(ours)
	defer closeStream(t, s)
	defer peer.Close()
	data := make([]byte, 3<<20)
	rand.Read(data)
	sent := make(chan error, 1)
	go func() {
		_, err := peer.Write(data)
		sent <- err
	}()
	// Let the pipeline fill up.
	deadline := time.Now().Add(5 * time.Second)
	for s.r.Buffered() < chunkSize && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	head, err := s.ReadExactly(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	conn, unread, err := s.detach(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(io.LimitReader(conn, int64(len(data)-len(head)-len(unread))))
	if err != nil {
		t.Fatal(err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	got := append(append(head, unread...), rest...)
	if !bytes.Equal(got, data) {
		t.Fatalf("bytes lost or reordered across detach (%d of %d, %d unread)", len(got), len(data), len(unread))
	}
	if err := s.attach(conn, nil); err != nil {
		t.Fatal(err)
	}
}

func TestDetach_ReadsWaitUntilAttach(t *testing.T) {
	ctx := testCtx(t)
	ours, peer := tcpPair(t)
	s := NewStream(ours)
	defer closeStream(t, s)
	defer peer.Close()
	conn, _, err := s.detach(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		line, err := s.ReadLine(ctx)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(line)
	}()
	peer.Write([]byte("hello\n"))
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if _, err := s.ReadChunk(short, 10); err != context.DeadlineExceeded {
		t.Fatalf("a read while detached = %v; want it to wait (and honour its ctx)", err)
	}
	if err := s.attach(conn, nil); err != nil {
		t.Fatal(err)
	}
	if line := <-got; line != "hello\n" {
		t.Fatalf("the waiting ReadLine got %q", line)
	}
}

func TestDetach_Refusals(t *testing.T) {
	ctx := testCtx(t)
	t.Run("twice, and attach when attached", func(t *testing.T) {
		ours, peer := tcpPair(t)
		defer peer.Close()
		s := NewStream(ours)
		defer closeStream(t, s)
		if err := s.attach(ours, nil); err != errNotDetached {
			t.Fatalf("attach on an attached stream = %v", err)
		}
		conn, _, err := s.detach(ctx)
		if err != nil {
			t.Fatal(err)
		}
		short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		if _, _, err := s.detach(short); err == nil {
			t.Fatal("a second detach succeeded")
		}
		if err := s.attach(conn, nil); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("after EOF", func(t *testing.T) {
		ours, peer := tcpPair(t)
		s := NewStream(ours)
		defer closeStream(t, s)
		peer.Write([]byte("bye"))
		peer.CloseWrite()
		if _, err := s.ReadChunk(ctx, -1); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.detach(ctx); err == nil {
			t.Fatal("detach after EOF succeeded")
		}
		// The stream goes on: it can still write.
		s.Write([]byte("still here"))
		s.Close()
		got, _ := io.ReadAll(peer)
		if string(got) != "still here" {
			t.Fatalf("the peer got %q", got)
		}
		peer.Close()
	})
	t.Run("ctx ends while a read holds the stream", func(t *testing.T) {
		ours, peer := tcpPair(t)
		defer peer.Close()
		s := NewStream(ours)
		defer closeStream(t, s)
		reading := make(chan struct{})
		s.r.waitHook = func() { close(reading); s.r.waitHook = nil }
		done := make(chan error, 1)
		go func() { _, err := s.ReadLine(ctx); done <- err }()
		<-reading
		short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
		defer cancel()
		if _, _, err := s.detach(short); err != context.DeadlineExceeded {
			t.Fatalf("detach = %v", err)
		}
		peer.Write([]byte("line\n"))
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Close while detached", func(t *testing.T) {
		ours, peer := tcpPair(t)
		defer peer.Close()
		s := NewStream(ours)
		conn, _, err := s.detach(ctx)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		if err := s.WaitClosed(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.attach(conn, nil); err != ErrClosed {
			t.Fatalf("attach after Close = %v", err)
		}
		if _, err := s.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Write after Close = %v", err)
		}
		peer.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := peer.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("the peer read %v; want EOF", err)
		}
	})
}
