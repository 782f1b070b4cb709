package chanstream

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chanstream/chanstream/internal/testnet"
	"go.uber.org/goleak"
)

// Tests of how a stream reads and writes a socket (the read pump, the
// watch, sockRead and Writer.writeDirectLocked): read calls that read the
// socket themselves, the pump the watch starts and that gives the socket back,
// writes that go to the socket at once, and connections that are not
// sockets.

// needPolledSockets skips a test of how a socket is read or written through
// its RawConn where sockets are not (see socketsPolled): there the pumps
// read and write every connection, which the other tests cover.
func needPolledSockets(t *testing.T) {
	t.Helper()
	if !socketsPolled {
		t.Skip("sockets are read and written by the pumps alone in this build (chanstream_nopoll, or a platform without the raw socket path)")
	}
}

// readingOf returns who reads s's socket.
func readingOf(s *Stream) ownerState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.own.state
}

// waitingInline waits until a read call of s holds its socket.
func waitingInline(t *testing.T, s *Stream) {
	t.Helper()
	eventually(t, "a read call reads the socket itself", func() bool { return readingOf(s) == ownerInline })
}

func TestSocket_IdleReadHoldsNoPumpAndReadsLateData(t *testing.T) {
	needPolledSockets(t)
	ctx := testCtx(t)
	s, peer := streamPair(t)
	type result struct {
		line []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		line, err := s.ReadLine(ctx)
		done <- result{line, err}
	}()
	waitingInline(t, s)
	// Should the watch have started the pump before the read call took the
	// socket, that pump has handed the socket over and ends.
	eventually(t, "only the read call holds the stream", func() bool { return pumpMembers(s) == 1 })
	time.Sleep(20 * watchDelay) // many ticks of the watch
	if got := readingOf(s); got != ownerInline {
		t.Fatalf("after a long idle, the socket is read by %v, not the waiting read call", got)
	}
	if n := pumpMembers(s); n != 1 {
		t.Fatalf("%d pumps run besides the read call for an idle stream whose read call waits", n-1)
	}
	if _, err := peer.Write([]byte("late\n")); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if string(r.line) != "late\n" || r.err != nil {
		t.Fatalf("ReadLine = %q, %v", r.line, r.err)
	}
}

func TestSocket_PumpTakesDataInWhileNobodyReads(t *testing.T) {
	needPolledSockets(t)
	ctx := testCtx(t)
	s, peer := streamPair(t)
	// Nobody reads: the watch starts the pump, which takes the data in,
	// so Stats move.
	if _, err := peer.Write([]byte("one\ntwo\n")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the pump took the data in", func() bool { return s.Stats().BytesRead == 8 })
	if got := readingOf(s); got != ownerPump {
		t.Fatalf("the socket is read by %v, not the pump", got)
	}
	if line, err := s.ReadLine(ctx); string(line) != "one\n" || err != nil {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
	if line, err := s.ReadLine(ctx); string(line) != "two\n" || err != nil {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
	// A read call that waits while the pump has nothing to read gets the
	// socket within a tick or two, and the pump goes.
	done := make(chan []byte, 1)
	go func() {
		line, _ := s.ReadLine(ctx)
		done <- line
	}()
	waitingInline(t, s)
	eventually(t, "the pump has gone", func() bool { return pumpMembers(s) == 1 }) // the read call
	peer.Write([]byte("three\n"))
	if line := <-done; string(line) != "three\n" {
		t.Fatalf("ReadLine = %q", line)
	}
}

func TestSocket_PeerEOFAndResetAreSeenWhileNobodyReads(t *testing.T) {
	s, peer := streamPair(t)
	peer.Write([]byte("x"))
	peer.CloseWrite()
	eventually(t, "EOF taken in", func() bool { return s.Stats().BytesRead == 1 && s.r.isEnded() })
	if s.Err() != nil || s.AtEOF() {
		t.Fatalf("Err = %v, AtEOF = %v with a byte buffered", s.Err(), s.AtEOF())
	}

	s2, peer2 := streamPair(t)
	peer2.SetLinger(0)
	peer2.Close() // RST
	eventually(t, "the reset reaches Err", func() bool { return s2.Err() != nil })
	if !errors.Is(s2.Err(), syscall.ECONNRESET) {
		t.Fatalf("Err = %v", s2.Err())
	}
	var oe *net.OpError
	if !errors.As(s2.Err(), &oe) || oe.Op != "read" {
		t.Fatalf("Err = %#v, want a read *net.OpError as the net.Conn's", s2.Err())
	}
}

func TestSocket_InlineReadWakesUp(t *testing.T) {
	needPolledSockets(t)
	cases := []struct {
		name    string
		trigger func(s *Stream, cancel context.CancelFunc)
		want    error // after the buffered "half", which the stream's end returns first
		reuse   bool  // the stream goes on: the data sent next is read whole
	}{
		{"ctx", func(_ *Stream, cancel context.CancelFunc) { cancel() }, context.Canceled, true},
		{"deadline", func(s *Stream, _ context.CancelFunc) { s.SetReadDeadline(time.Now().Add(20 * time.Millisecond)) }, os.ErrDeadlineExceeded, true},
		{"deadline in the past", func(s *Stream, _ context.CancelFunc) { s.SetReadDeadline(longAgo) }, os.ErrDeadlineExceeded, true},
		{"Close", func(s *Stream, _ context.CancelFunc) { s.Close() }, ErrClosed, false},
		{"Abort", func(s *Stream, _ context.CancelFunc) { s.Abort() }, ErrClosed, false},
		{"FeedEOF", func(s *Stream, _ context.CancelFunc) { s.FeedEOF() }, io.EOF, false},
		{"FeedError", func(s *Stream, _ context.CancelFunc) { s.FeedError(errBoom) }, errBoom, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, peer := streamPair(t)
			peer.Write([]byte("half"))
			ctx, cancel := context.WithCancel(testCtx(t))
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := s.ReadLine(ctx)
				done <- err
			}()
			waitingInline(t, s)
			c.trigger(s, cancel)
			err := returnsWithin(t, 5*time.Second, func() error { return <-done })
			if c.name == "FeedEOF" || c.name == "FeedError" {
				// The end of the stream: the last, unterminated line first.
				if err != nil {
					t.Fatalf("ReadLine = %v, want the partial line", err)
				}
				_, err = s.ReadLine(ctx)
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("ReadLine = %v, want %v", err, c.want)
			}
			if !c.reuse {
				return
			}
			s.SetReadDeadline(time.Time{})
			peer.Write([]byte(" and the rest\n"))
			line, err := s.ReadLine(testCtx(t))
			if string(line) != "half and the rest\n" || err != nil {
				t.Fatalf("after the wake-up, ReadLine = %q, %v", line, err)
			}
		})
	}
}

var errBoom = errors.New("boom")

func TestSocket_ReadAheadKeepsTheOrder(t *testing.T) {
	ctx := testCtx(t)
	s, peer := streamPair(t)
	const total = 8 << 20
	data := make([]byte, total)
	for i := range data {
		data[i] = byte(i * 7 / 3)
	}
	go func() {
		peer.Write(data)
		peer.CloseWrite()
	}()
	var got []byte
	for i := 0; ; i++ {
		var p []byte
		var err error
		switch i % 3 {
		case 0:
			p, err = s.ReadChunk(ctx, 64<<10)
		case 1:
			p, err = s.ReadExactly(ctx, 1000+i%5000)
			var ie *IncompleteReadError
			if errors.As(err, &ie) {
				p, err = ie.Partial, io.EOF
			}
		case 2:
			buf := make([]byte, 3000)
			var n int
			n, err = s.Read(buf)
			p = buf[:n]
		}
		got = append(got, p...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, not the %d sent in order", len(got), len(data))
	}
}

func TestWrite_DirectThenTheRestQueued(t *testing.T) {
	needPolledSockets(t)
	ctx := testCtx(t)
	s, peer := streamPair(t, WithWriteBufferLimits(64<<20, 1<<20))
	// A fresh stream with nothing queued: the Write goes to the socket at
	// once, which takes what its buffers and the peer's window hold (about
	// 4 MiB over loopback with Linux's defaults, the peer not reading); the
	// rest is queued, and a second Write queues behind it. 32 MiB, below
	// the watermark, is surely more.
	first := bytes.Repeat([]byte("0123456789abcdef"), 2<<20)
	second := []byte("and then this")
	if n, err := s.Write(first); n != len(first) || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	direct := s.Stats().BytesWritten
	t.Logf("%d of %d bytes went to the socket at once", direct, len(first))
	if direct == 0 || direct >= int64(len(first)) {
		t.Fatalf("%d bytes went to the socket at once, want some but not all of %d", direct, len(first))
	}
	if got := s.Stats().WriteBuffered; got != len(first)-int(direct) {
		t.Fatalf("WriteBuffered = %d, want the %d bytes left", got, len(first)-int(direct))
	}
	if _, err := s.Write(second); err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte{}, first...), second...)
	got := make([]byte, len(want))
	if _, err := io.ReadFull(peer, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the peer received the bytes out of order")
	}
	if err := s.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "everything counted as written", func() bool {
		st := s.Stats()
		return st.BytesWritten == int64(len(want)) && st.WriteBuffered == 0
	})
}

func TestWrite_AnswerGoesToTheSocketAtOnce(t *testing.T) {
	needPolledSockets(t)
	ctx := testCtx(t)
	s, peer := streamPair(t)
	for i := range 50 {
		fmt.Fprintf(peer, "ping %d\n", i)
		line, err := s.ReadLine(ctx)
		if err != nil {
			t.Fatal(err)
		}
		before := s.Stats().BytesWritten
		if _, err := s.Write(line); err != nil {
			t.Fatal(err)
		}
		// Written from Write's own goroutine: counted when it returns.
		if got := s.Stats().BytesWritten - before; got != int64(len(line)) {
			t.Fatalf("answer %d: %d of %d bytes written when Write returned", i, got, len(line))
		}
		if err := s.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		echo := make([]byte, len(line))
		if _, err := io.ReadFull(peer, echo); err != nil || !bytes.Equal(echo, line) {
			t.Fatalf("echo %q, %v", echo, err)
		}
	}
}

// AtEOF sees an end of the stream that has arrived without waiting for the
// stream to read the socket again (the watch would, after watchDelay): as
// asyncio's at_eof, once its event loop fed the EOF. A loop on AtEOF then
// ends without a last read that returns io.EOF.
func TestStream_AtEOFSeesAnArrivedEndAtOnce(t *testing.T) {
	ctx := testCtx(t)
	s, peer := streamPair(t)
	if s.AtEOF() {
		t.Fatal("AtEOF before anything arrived")
	}
	peer.Write([]byte("abc"))
	peer.CloseWrite()
	time.Sleep(time.Millisecond) // the FIN is queued behind the data
	data, err := s.ReadChunk(ctx, 100)
	if string(data) != "abc" || err != nil {
		t.Fatalf("ReadChunk = %q, %v", data, err)
	}
	if !s.AtEOF() {
		t.Fatal("AtEOF is false with the end of the stream in the socket")
	}
	if data, err := s.ReadChunk(ctx, 100); len(data) != 0 || err != io.EOF {
		t.Fatalf("ReadChunk at the end = %q, %v", data, err)
	}
	// Writing goes on after the peer's half-close.
	if _, err := s.Write([]byte("bye")); err != nil {
		t.Fatal(err)
	}
	if err := s.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 3)
	if _, err := io.ReadFull(peer, got); err != nil || string(got) != "bye" {
		t.Fatalf("the peer read %q, %v", got, err)
	}
}

// AtEOF with data not yet read, or nothing arrived, stays false, and a read
// call under way keeps the socket to itself.
func TestStream_AtEOFWithoutTheEnd(t *testing.T) {
	ctx := testCtx(t)
	s, peer := streamPair(t)
	peer.Write([]byte("line\nmore"))
	time.Sleep(time.Millisecond)
	if s.AtEOF() {
		t.Fatal("AtEOF with data buffered")
	}
	if line, err := s.ReadLine(ctx); string(line) != "line\n" || err != nil {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
	if s.AtEOF() {
		t.Fatal("AtEOF with \"more\" unread")
	}
	if data, err := s.ReadChunk(ctx, 100); string(data) != "more" || err != nil {
		t.Fatalf("ReadChunk = %q, %v", data, err)
	}
	for range 100 {
		if s.AtEOF() {
			t.Fatal("AtEOF while the peer is still open")
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.ReadLine(ctx)
		done <- err
	}()
	time.Sleep(5 * time.Millisecond)
	if s.AtEOF() {
		t.Fatal("AtEOF while the peer is still open and a read waits")
	}
	peer.Write([]byte("last\n"))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// asyncio's write-then-drain loop: after a Drain that found everything
// sent, the next Write goes to the socket from the caller, as asyncio's
// does; the Writes of a burst between two Drains are queued and coalesced.
func TestWrite_AfterDrainGoesToTheSocketAtOnce(t *testing.T) {
	needPolledSockets(t)
	ctx := testCtx(t)
	s, peer := streamPair(t)
	var want []byte
	for i := range 50 {
		msg := []byte(fmt.Sprintf("message %d\n", i))
		want = append(want, msg...)
		before := s.Stats().BytesWritten
		if _, err := s.Write(msg); err != nil {
			t.Fatal(err)
		}
		if got := s.Stats().BytesWritten - before; got != int64(len(msg)) {
			t.Fatalf("write %d: %d of %d bytes written when Write returned", i, got, len(msg))
		}
		if err := s.Drain(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// A burst: the first goes at once, the rest are queued for one writev.
	for i := range 10 {
		msg := []byte(fmt.Sprintf("burst %d\n", i))
		want = append(want, msg...)
		if _, err := s.Write(msg); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(peer, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the peer received %q, want %q", got, want)
	}
}

func TestWrite_DirectWritesRaceWithThePump(t *testing.T) {
	ctx := testCtx(t)
	s, peer := streamPair(t, WithWriteBufferLimits(8<<10, 2<<10))
	const rounds, size = 300, 700
	record := func(id byte, seq int) []byte {
		p := bytes.Repeat([]byte{id}, size)
		binary.BigEndian.PutUint32(p[1:], uint32(seq))
		return p
	}
	var wg sync.WaitGroup
	wg.Add(3)
	// A answers each line the peer sends: after the read waited, its
	// Write goes to the socket at once, unless the pump is busy.
	go func() {
		defer wg.Done()
		for i := range rounds {
			if _, err := s.ReadLine(ctx); err != nil {
				t.Error(err)
				return
			}
			if _, err := s.Write(record('A', i)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	// B floods through the queue and the pump.
	go func() {
		defer wg.Done()
		for i := range rounds {
			if _, err := s.Write(record('B', i)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for range rounds {
			if _, err := peer.Write([]byte("go\n")); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(50 * time.Microsecond)
		}
	}()
	next := map[byte]int{}
	buf := make([]byte, size)
	for range 2 * rounds {
		if _, err := io.ReadFull(peer, buf); err != nil {
			t.Fatal(err)
		}
		id := buf[0]
		if id != 'A' && id != 'B' || bytes.Count(buf[5:], buf[:1]) != size-5 {
			t.Fatalf("a record is cut or interleaved: %q...", buf[:40])
		}
		if seq := int(binary.BigEndian.Uint32(buf[1:])); seq != next[id] {
			t.Fatalf("writer %c: record %d came when %d was due", id, seq, next[id])
		}
		next[id]++
	}
	wg.Wait()
	if err := s.Drain(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestWrite_PumpStartedOnDemandIsJoinedByWaitClosed(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	ours, peer := tcpPair(t)
	s := NewStream(ours)
	payload := bytes.Repeat([]byte("p"), 32<<20) // more than the kernel holds
	wrote := make(chan error, 1)
	go func() {
		_, err := s.Write(payload) // blocks at the watermark: the pump runs
		wrote <- err
	}()
	eventually(t, "the write waits at the watermark", func() bool { return s.Stats().WriteWaits > 0 })
	received := make(chan int64, 1)
	go func() {
		n, _ := io.Copy(io.Discard, peer)
		received <- n
	}()
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := s.WaitClosed(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if n := <-received; n != int64(len(payload)) {
		t.Fatalf("the peer received %d bytes of %d", n, len(payload))
	}
	peer.Close()
	goleak.VerifyNone(t, ignore)
}

func TestWrite_IdleWriterHoldsNoBuffer(t *testing.T) {
	ctx := testCtx(t)
	s, peer := streamPair(t)
	s.w.direct.Store(false) // through the queue and the pump
	s.Write([]byte("hello"))
	if err := s.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	io.ReadFull(peer, make([]byte, 5))
	eventually(t, "the pump has gone and the queue is empty", func() bool {
		s.w.mu.Lock()
		defer s.w.mu.Unlock()
		return !s.w.busy && (s.w.q == nil || len(s.w.q.bufs) == 0)
	})
}

// notSocketPairs makes the two ends of connections that are not sockets:
// net.Pipe, and TLS over loopback TCP.
func notSocketPairs(t *testing.T) map[string]func() (ours, peer net.Conn) {
	return map[string]func() (net.Conn, net.Conn){
		"net.Pipe": func() (net.Conn, net.Conn) {
			a, b := net.Pipe()
			t.Cleanup(func() { a.Close(); b.Close() })
			return a, b
		},
		"TLS": func() (net.Conn, net.Conn) {
			x := testnet.NewTLS(t, "localhost")
			c, srv := tcpPair(t)
			server := tls.Server(srv, x.ServerConfig())
			cfg := x.ClientConfig()
			cfg.ServerName = "localhost"
			client := tls.Client(c, cfg)
			t.Cleanup(func() { server.Close(); client.Close() })
			return client, server
		},
	}
}

func TestStream_OverConnectionsThatAreNotSockets(t *testing.T) {
	for name, makePair := range notSocketPairs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t)
			ours, peer := makePair()
			s := NewStream(ours)
			if s.run.isSocket() {
				t.Fatal("taken for a socket")
			}
			wantSocket := ours
			if tc, ok := ours.(*tls.Conn); ok {
				wantSocket = tc.NetConn() // asyncio's "socket" is the one under TLS
			}
			if got, _ := s.ExtraInfo("socket"); got != wantSocket {
				t.Fatalf("ExtraInfo(socket) = %T, want %T", got, wantSocket)
			}
			echoed := make(chan error, 1)
			go func() { // the peer echoes lines
				br := bytesReader{peer}
				for {
					line, err := br.readLine()
					if err != nil {
						echoed <- err
						return
					}
					if _, err := peer.Write(line); err != nil {
						echoed <- err
						return
					}
				}
			}()
			for i := range 20 {
				msg := fmt.Sprintf("line %d\n", i)
				if i == 10 {
					time.Sleep(5 * watchDelay) // an idle spell
				}
				if _, err := s.Write([]byte(msg)); err != nil {
					t.Fatal(err)
				}
				if err := s.Drain(ctx); err != nil {
					t.Fatal(err)
				}
				line, err := s.ReadLine(ctx)
				if string(line) != msg || err != nil {
					t.Fatalf("ReadLine = %q, %v", line, err)
				}
			}
			big := bytes.Repeat([]byte("b"), 300<<10)
			big[len(big)-1] = '\n'
			if _, err := s.Write(big); err != nil {
				t.Fatal(err)
			}
			got, err := s.ReadExactly(ctx, len(big))
			if err != nil || !bytes.Equal(got, big) {
				t.Fatalf("ReadExactly: %d bytes, %v", len(got), err)
			}
			s.Close()
			peer.Close()
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			s.WaitClosed(wctx)
			if wctx.Err() != nil {
				t.Fatal("WaitClosed did not return")
			}
			<-echoed
		})
	}
}

// bytesReader reads lines from a connection a byte at a time, so that it
// never reads past a line (the peers above echo line by line).
type bytesReader struct{ c net.Conn }

func (r bytesReader) readLine() ([]byte, error) {
	var line []byte
	b := make([]byte, 1)
	for {
		if _, err := io.ReadFull(r.c, b); err != nil {
			return line, err
		}
		line = append(line, b[0])
		if b[0] == '\n' {
			return line, nil
		}
	}
}

func TestSocket_UnixPacketIsNotReadAsAStream(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("unixpacket", dir+"/s")
	if err != nil {
		t.Skip("unixpacket:", err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("unixpacket", dir+"/s")
	if err != nil {
		t.Fatal(err)
	}
	peer := <-accepted
	defer peer.Close()
	s := NewStream(c)
	defer func() {
		s.Abort()
		s.WaitClosed(testCtx(t))
	}()
	if s.run.isSocket() {
		t.Fatal("a unixpacket connection taken for a stream socket")
	}
	peer.Write([]byte("a message\n"))
	if line, err := s.ReadLine(testCtx(t)); string(line) != "a message\n" || err != nil {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
}

// A read cut short by Close or Abort fails with ErrClosed, also when the
// read pump's read of the closed connection ended the stream first (the
// waiting read then saw the end and the close at once, and could return
// the socket's "use of closed network connection").
func TestStream_ReadCutShortByCloseIsErrClosed(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	for i := range 200 {
		s, peer := streamPair(t)
		go func() {
			for range 200 {
				if _, err := peer.Write([]byte("line\n")); err != nil {
					return
				}
			}
		}()
		errc := make(chan error, 1)
		go func() {
			for {
				if _, err := s.ReadLine(context.Background()); err != nil {
					errc <- err
					return
				}
			}
		}()
		time.Sleep(time.Duration(rnd.IntN(2000)) * time.Microsecond)
		if i%2 == 1 {
			s.Abort()
		} else {
			s.Close()
		}
		if err := <-errc; err != ErrClosed {
			t.Fatalf("round %d: the read cut short by Close/Abort returned %v, want ErrClosed", i, err)
		}
		peer.Close()
	}
}

// While a Receiver holds a value it has not delivered, the value is not
// counted as read: Stop gives it back, so AtEOF must not have been true,
// nor Stats().ReadBuffered zero.
func TestReceiver_UndeliveredValueIsNotConsumed(t *testing.T) {
	ctx := testCtx(t)
	s, peer := streamPair(t)
	peer.Write([]byte("abc"))
	time.Sleep(2 * time.Millisecond)
	rc := s.ChunkChan(ctx)
	eventually(t, "the receiver to hold the data", func() bool { return s.Stats().BytesRead == 3 })
	peer.CloseWrite()
	for range 50 { // the watch reads the EOF meanwhile
		if s.AtEOF() {
			t.Fatal("AtEOF while the receiver holds undelivered bytes")
		}
		time.Sleep(time.Millisecond)
	}
	if got := s.Stats().ReadBuffered; got != 3 {
		t.Fatalf("ReadBuffered = %d with 3 bytes undelivered", got)
	}
	rc.Stop()
	if data, err := s.ReadChunk(ctx, 100); string(data) != "abc" || err != nil {
		t.Fatalf("after Stop, ReadChunk = %q, %v", data, err)
	}
	if !s.AtEOF() {
		t.Fatal("AtEOF false with everything read and the peer's EOF in")
	}
}
