package chanstream_test

// Black-box tests of the Receiver (LineChan, ChunkChan) and of bad input,
// written from the package's doc comments alone.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/streamtest"
)

// bbCtx bounds a test's waits.
func bbCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// bbWaitFor polls cond until it holds, failing the test after a generous bound.
func bbWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func bbLines(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("line %d\n", i)
	}
	return out
}

// bbFedReader returns a standalone reader fed with lines, without EOF.
func bbFedReader(t *testing.T, ctx context.Context, lines []string) *chanstream.Reader {
	t.Helper()
	r := chanstream.NewReader()
	if err := r.Feed(ctx, []byte(strings.Join(lines, ""))); err != nil {
		t.Fatal(err)
	}
	return r
}

// bbReadLines reads n lines from r and checks them against want.
func bbReadLines(t *testing.T, ctx context.Context, r *chanstream.Reader, want []string) {
	t.Helper()
	for _, w := range want {
		got, err := r.ReadLine(ctx)
		if err != nil || string(got) != w {
			t.Fatalf("ReadLine = %q, %v; want %q", got, err, w)
		}
	}
}

func TestBlackbox_LineChanStopGivesBackC(t *testing.T) {
	ctx := bbCtx(t)
	lines := bbLines(100)
	r := bbFedReader(t, ctx, lines)
	rc := r.LineChan(ctx)
	for i := range 3 {
		got := <-rc.C
		if string(got) != lines[i] {
			t.Fatalf("C gave %q, want %q", got, lines[i])
		}
	}
	bbWaitFor(t, "C to fill", func() bool { return len(rc.C) == cap(rc.C) })
	if cap(rc.C) == 0 {
		t.Fatal("C is not buffered")
	}
	rc.Stop()
	if _, ok := <-rc.C; ok {
		t.Fatal("C gave a value after Stop")
	}
	if err := rc.Err(); err != nil {
		t.Fatalf("Err after Stop = %v, want nil", err)
	}
	if got, want := r.Buffered(), len(strings.Join(lines[3:], "")); got != want {
		t.Fatalf("Buffered after Stop = %d, want %d", got, want)
	}
	bbReadLines(t, ctx, r, lines[3:])
	rc.Stop() // a second Stop does nothing
	r.FeedEOF()
	if got, err := r.ReadLine(ctx); len(got) != 0 || err != io.EOF {
		t.Fatalf("ReadLine at the end = %q, %v", got, err)
	}
}

// Values in C not yet received count as buffered, not read.
func TestBlackbox_LineChanCHeldCountsAsBuffered(t *testing.T) {
	ctx := bbCtx(t)
	lines := bbLines(40)
	r := bbFedReader(t, ctx, lines)
	total := len(strings.Join(lines, ""))
	rc := r.LineChan(ctx)
	defer rc.Stop()
	bbWaitFor(t, "C to fill", func() bool { return len(rc.C) == cap(rc.C) })
	if got := r.Buffered(); got != total {
		t.Fatalf("Buffered with C full = %d, want %d", got, total)
	}
	<-rc.C
	// The count may lag behind a send under way (never low): wait for it.
	want := total - len(lines[0])
	bbWaitFor(t, "Buffered to drop by the line received", func() bool { return r.Buffered() == want })
	bbWaitFor(t, "C to fill", func() bool { return len(rc.C) == cap(rc.C) })
	if got := r.Buffered(); got != want {
		t.Fatalf("Buffered after one receive, with C full again = %d, want %d", got, want)
	}
}

func TestBlackbox_LineChanCtxDoneLeavesCThenStop(t *testing.T) {
	ctx := bbCtx(t)
	lines := bbLines(60)
	r := bbFedReader(t, ctx, lines)
	rctx, cancel := context.WithCancel(ctx)
	rc := r.LineChan(rctx)
	if got := <-rc.C; string(got) != lines[0] {
		t.Fatalf("C gave %q", got)
	}
	bbWaitFor(t, "C to fill", func() bool { return len(rc.C) == cap(rc.C) })
	held := len(rc.C)
	cancel()
	// C is closed with what it holds still in it: the consumer receives them.
	next := 1
	for range 2 {
		got, ok := <-rc.C
		if !ok {
			t.Fatalf("C closed after %d values, though it held %d", next-1, held)
		}
		if string(got) != lines[next] {
			t.Fatalf("C gave %q, want %q", got, lines[next])
		}
		next++
	}
	// Wait until C is closed (the Receiver saw ctx done), without receiving.
	bbWaitFor(t, "Err", func() bool { return rc.Err() != nil })
	if err := rc.Err(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Err = %v, want context.Canceled", err)
	}
	rc.Stop()
	if _, ok := <-rc.C; ok {
		t.Fatal("C not empty after Stop")
	}
	bbReadLines(t, ctx, r, lines[next:])
}

// After a done ctx, a new Receiver on the same reader gives back what the old C
// held, in order, without a Stop.
func TestBlackbox_LineChanCtxDoneThenNewReceiver(t *testing.T) {
	ctx := bbCtx(t)
	lines := bbLines(50)
	r := bbFedReader(t, ctx, lines)
	r.FeedEOF()
	rctx, cancel := context.WithCancel(ctx)
	rc := r.LineChan(rctx)
	bbWaitFor(t, "C to fill", func() bool { return len(rc.C) == cap(rc.C) })
	cancel()
	bbWaitFor(t, "Err", func() bool { return rc.Err() != nil })
	rc2 := r.LineChan(ctx)
	var got []string
	for v := range rc2.C {
		got = append(got, string(v))
	}
	if err := rc2.Err(); err != io.EOF {
		t.Fatalf("second Receiver's Err = %v, want io.EOF", err)
	}
	rc2.Stop()
	rc.Stop()
	if strings.Join(got, "") != strings.Join(lines, "") {
		t.Fatalf("second Receiver gave %d lines, want %d in order:\n%q", len(got), len(lines), got)
	}
	if got, err := r.ReadLine(ctx); len(got) != 0 || err != io.EOF {
		t.Fatalf("ReadLine at the end = %q, %v", got, err)
	}
}

func TestBlackbox_ChunkChanStopGivesBack(t *testing.T) {
	ctx := bbCtx(t)
	r := chanstream.NewReader()
	var all bytes.Buffer
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		for i := range 10 {
			p := bytes.Repeat([]byte{byte('a' + i)}, 40<<10)
			all.Write(p)
			if err := r.Feed(ctx, p); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	rc := r.ChunkChan(ctx)
	var got bytes.Buffer
	first := <-rc.C
	got.Write(first)
	bbWaitFor(t, "C to fill", func() bool { return len(rc.C) == cap(rc.C) })
	rc.Stop()
	<-fed
	r.FeedEOF()
	rest, err := r.ReadChunk(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	got.Write(rest)
	if !bytes.Equal(got.Bytes(), all.Bytes()) {
		t.Fatalf("got %d bytes, want %d, in order", got.Len(), all.Len())
	}
}

// Over a real TCP stream: a Receiver stopped halfway leaves the rest in order,
// and a Receiver on the stream sees the peer's EOF.
func TestBlackbox_LineChanOverTCP(t *testing.T) {
	ctx := bbCtx(t)
	peer, conn := streamtest.TCPPair(t)
	s := chanstream.NewStream(conn)
	defer streamtest.CloseStreams(t, s)
	lines := bbLines(500)
	go func() {
		peer.Write([]byte(strings.Join(lines, "")))
		peer.CloseWrite()
	}()
	rc := s.LineChan(ctx)
	var got []string
	for len(got) < 123 {
		v, ok := <-rc.C
		if !ok {
			t.Fatalf("C closed: %v", rc.Err())
		}
		got = append(got, string(v))
	}
	rc.Stop()
	for {
		v, err := s.ReadLine(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(v))
		if len(got) == 300 {
			break
		}
	}
	rc = s.LineChan(ctx)
	for v := range rc.C {
		got = append(got, string(v))
	}
	if err := rc.Err(); err != io.EOF {
		t.Fatalf("Err = %v, want io.EOF", err)
	}
	rc.Stop()
	if strings.Join(got, "") != strings.Join(lines, "") {
		t.Fatalf("got %d lines, want %d in order", len(got), len(lines))
	}
	if !s.AtEOF() {
		t.Fatal("AtEOF false after every line was received")
	}
}

// LineChan stops at a line over the limit; the lines before it are in C.
func TestBlackbox_LineChanLimit(t *testing.T) {
	ctx := bbCtx(t)
	r := chanstream.NewReader(chanstream.WithLimit(16))
	r.Feed(ctx, []byte("a\nb\n"+strings.Repeat("x", 40)+"\nc\n"))
	r.FeedEOF()
	rc := r.LineChan(ctx)
	var got []string
	for v := range rc.C {
		got = append(got, string(v))
	}
	rc.Stop()
	if strings.Join(got, "|") != "a\n|b\n" {
		t.Fatalf("C gave %q", got)
	}
	if !errors.Is(rc.Err(), chanstream.ErrLimitOverrun) {
		t.Fatalf("Err = %v, want ErrLimitOverrun", rc.Err())
	}
}

// A Receiver's C is closed with the stream's error after the data before it.
func TestBlackbox_ChunkChanFeedError(t *testing.T) {
	ctx := bbCtx(t)
	r := chanstream.NewReader()
	boom := errors.New("boom")
	r.Feed(ctx, []byte("hello"))
	r.FeedError(boom)
	rc := r.ChunkChan(ctx)
	var got []byte
	for v := range rc.C {
		got = append(got, v...)
	}
	rc.Stop()
	if string(got) != "hello" || rc.Err() != boom {
		t.Fatalf("got %q, Err %v; want hello, boom", got, rc.Err())
	}
}

func TestBlackbox_BadInput(t *testing.T) {
	ctx := bbCtx(t)
	for _, opt := range []chanstream.Option{
		chanstream.WithLimit(0),
		chanstream.WithLimit(-1),
		chanstream.WithWriteBufferLimits(10, 20),
		chanstream.WithWriteBufferLimits(-1, -2),
		chanstream.WithWriteBufferLimits(10, -1),
	} {
		err := chanstream.CheckOptions(opt)
		if err == nil || !strings.HasPrefix(err.Error(), "chanstream: ") {
			t.Errorf("CheckOptions(%v) = %v, want a chanstream error", opt, err)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewReader(%v) did not panic", opt)
				}
			}()
			chanstream.NewReader(opt)
		}()
	}
	if err := chanstream.CheckOptions(chanstream.WithWriteBufferLimits(0, 0)); err != nil {
		t.Errorf("WithWriteBufferLimits(0, 0): %v", err)
	}

	r := chanstream.NewReader()
	r.Feed(ctx, []byte("abc\n"))
	if _, err := r.ReadExactly(ctx, -1); !errors.Is(err, chanstream.ErrNegativeCount) {
		t.Errorf("ReadExactly(-1) = %v", err)
	}
	if _, err := r.Discard(ctx, -1); !errors.Is(err, chanstream.ErrNegativeCount) {
		t.Errorf("Discard(-1) = %v", err)
	}
	if _, err := r.ReadUntil(ctx, []byte{}); !errors.Is(err, chanstream.ErrEmptySeparator) {
		t.Errorf("ReadUntil(empty) = %v", err)
	}
	if _, err := r.ReadUntil(ctx, []byte("c"), nil); !errors.Is(err, chanstream.ErrEmptySeparator) {
		t.Errorf("ReadUntil(c, nil) = %v", err)
	}
	if _, err := r.DiscardUntil(ctx, []byte{}); !errors.Is(err, chanstream.ErrEmptySeparator) {
		t.Errorf("DiscardUntil(empty) = %v", err)
	}
	if got := r.Buffered(); got != 4 {
		t.Errorf("bad input consumed data: Buffered = %d", got)
	}
	r.FeedEOF()
	if err := r.Feed(ctx, []byte("x")); !errors.Is(err, chanstream.ErrFeedAfterEOF) {
		t.Errorf("Feed after EOF = %v", err)
	}
	bbReadLines(t, ctx, r, []string{"abc\n"})
}

// TryWrite queues whole or nothing, and WriteBufferLimits reads back what
// WithWriteBufferLimits set.
func TestBlackbox_TryWriteWholeOrNothing(t *testing.T) {
	ctx := bbCtx(t)
	peer, conn := streamtest.TCPPair(t)
	s := chanstream.NewStream(conn, chanstream.WithWriteBufferLimits(4096, 1024))
	defer streamtest.CloseStreams(t, s)
	if high, low := s.WriteBufferLimits(); high != 4096 || low != 1024 {
		t.Fatalf("WriteBufferLimits = %d, %d", high, low)
	}
	if high, low := s.Writer().WriteBufferLimits(); high != 4096 || low != 1024 {
		t.Fatalf("Writer().WriteBufferLimits = %d, %d", high, low)
	}
	msg := bytes.Repeat([]byte("m"), 1000)
	var queued, refused int
	for i := 0; i < 100000 && refused == 0; i++ {
		ok, err := s.TryWrite(msg)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			queued++
		} else {
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("TryWrite never refused though the peer does not read")
	}
	if b := s.Writer().Buffered(); b > 4096 {
		t.Fatalf("TryWrite queued past the high watermark: Buffered = %d", b)
	}
	if ok, err := s.TryWrite(nil); !ok || err != nil {
		t.Fatalf("TryWrite(nil) = %v, %v", ok, err)
	}
	// Everything queued arrives whole: a multiple of the message size.
	go func() {
		s.Drain(ctx)
		s.Close()
	}()
	got, err := io.ReadAll(peer)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != queued*len(msg) {
		t.Fatalf("peer got %d bytes, want %d messages of %d", len(got), queued, len(msg))
	}
	if ok, err := s.TryWrite(nil); ok || !errors.Is(err, chanstream.ErrClosed) {
		t.Fatalf("TryWrite(nil) after Close = %v, %v; want ErrClosed", ok, err)
	}
}

// AbortReset: the TCP peer sees ECONNRESET; over a Unix socket the stream is
// closed all the same, with ErrResetUnsupported; a second one returns
// ErrClosed.
func TestBlackbox_AbortReset(t *testing.T) {
	ctx := bbCtx(t)
	peer, conn := streamtest.TCPPair(t)
	s := chanstream.NewStream(conn)
	s.Write([]byte("queued before the reset\n"))
	if err := s.AbortReset(); err != nil {
		t.Fatalf("AbortReset over TCP = %v", err)
	}
	peer.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err := io.Copy(io.Discard, peer)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("TCP peer read %v, want ECONNRESET", err)
	}
	if err := s.AbortReset(); !errors.Is(err, chanstream.ErrClosed) {
		t.Fatalf("second AbortReset = %v, want ErrClosed", err)
	}
	if _, err := s.ReadLine(ctx); !errors.Is(err, chanstream.ErrClosed) {
		t.Fatalf("ReadLine after AbortReset = %v", err)
	}
	if err := s.WaitClosed(ctx); err != nil {
		t.Fatalf("WaitClosed after AbortReset = %v", err)
	}

	upeer, uconn := streamtest.SocketPair(t)
	us := chanstream.NewStream(uconn)
	if err := us.AbortReset(); !errors.Is(err, chanstream.ErrResetUnsupported) {
		t.Fatalf("AbortReset over a Unix socket = %v", err)
	}
	upeer.SetReadDeadline(time.Now().Add(20 * time.Second))
	if got, err := io.ReadAll(upeer); err != nil || len(got) != 0 {
		t.Fatalf("Unix peer read %q, %v; want EOF", got, err)
	}
	if !us.IsClosing() {
		t.Fatal("IsClosing false after AbortReset")
	}
	if err := us.WaitClosed(ctx); err != nil {
		t.Fatalf("WaitClosed = %v", err)
	}
}

// A Receiver made with a done ctx closes C at once with ctx.Err(), consuming
// nothing.
func TestBlackbox_ReceiverDoneCtx(t *testing.T) {
	ctx := bbCtx(t)
	r := chanstream.NewReader()
	r.Feed(ctx, []byte("a\nb\n"))
	dctx, cancel := context.WithCancel(ctx)
	cancel()
	for _, rc := range []*chanstream.Receiver{r.LineChan(dctx), r.ChunkChan(dctx)} {
		for v := range rc.C {
			t.Errorf("C gave %q with a done ctx", v)
		}
		if !errors.Is(rc.Err(), context.Canceled) {
			t.Errorf("Err = %v", rc.Err())
		}
		rc.Stop()
	}
	bbReadLines(t, ctx, r, []string{"a\n", "b\n"})
}

// A second Receiver made while the first runs waits for it; once the first
// stops, the second delivers what the first gave back, in order.
func TestBlackbox_SecondReceiverWaits(t *testing.T) {
	ctx := bbCtx(t)
	lines := bbLines(80)
	r := bbFedReader(t, ctx, lines)
	r.FeedEOF()
	rc1 := r.LineChan(ctx)
	got := []string{string(<-rc1.C)}
	bbWaitFor(t, "C to fill", func() bool { return len(rc1.C) == cap(rc1.C) })
	rc2 := r.LineChan(ctx)
	rc1.Stop()
	for v := range rc2.C {
		got = append(got, string(v))
	}
	rc2.Stop()
	if rc2.Err() != io.EOF {
		t.Fatalf("Err = %v", rc2.Err())
	}
	if strings.Join(got, "") != strings.Join(lines, "") {
		t.Fatalf("got %d lines, want %d in order", len(got), len(lines))
	}
}

// Lines iterates to EOF; a break leaves the rest for the next read.
func TestBlackbox_LinesIterator(t *testing.T) {
	ctx := bbCtx(t)
	r := bbFedReader(t, ctx, []string{"a\n", "b\n", "c\n", "d"})
	r.FeedEOF()
	var got []string
	for line, err := range r.Lines(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(line))
		if len(got) == 2 {
			break
		}
	}
	for line, err := range r.Lines(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(line))
	}
	if strings.Join(got, "|") != "a\n|b\n|c\n|d" {
		t.Fatalf("Lines gave %q", got)
	}
}

// A Stream closed locally while a Receiver waits: C closes with ErrClosed.
func TestBlackbox_ReceiverStreamClosed(t *testing.T) {
	ctx := bbCtx(t)
	peer, conn := streamtest.TCPPair(t)
	s := chanstream.NewStream(conn)
	peer.Write([]byte("one\n"))
	rc := s.LineChan(ctx)
	if v := <-rc.C; string(v) != "one\n" {
		t.Fatalf("C gave %q", v)
	}
	s.Close()
	for v := range rc.C {
		t.Errorf("C gave %q after Close", v)
	}
	if !errors.Is(rc.Err(), chanstream.ErrClosed) {
		t.Fatalf("Err = %v, want ErrClosed", rc.Err())
	}
	rc.Stop()
	if err := s.WaitClosed(ctx); err != nil {
		t.Fatal(err)
	}
}

// TryWrite refuses while another write waits at the watermark, and queues a
// message of any size when nothing is queued.
func TestBlackbox_TryWriteWhileWriteBlocked(t *testing.T) {
	ctx := bbCtx(t)
	peer, conn := streamtest.TCPPair(t)
	peer.SetReadBuffer(4096)
	conn.SetWriteBuffer(4096)
	s := chanstream.NewStream(conn, chanstream.WithWriteBufferLimits(1024, 256))
	defer streamtest.CloseStreams(t, s)
	if ok, err := s.TryWrite(bytes.Repeat([]byte("b"), 100<<10)); !ok || err != nil {
		t.Fatalf("TryWrite of 100 KiB with nothing queued = %v, %v", ok, err)
	}
	wrote := make(chan error, 1)
	go func() {
		_, err := s.WriteContext(ctx, []byte("blocked\n"))
		wrote <- err
	}()
	bbWaitFor(t, "the write to wait", func() bool { return s.Stats().WriteWaits > 0 })
	if ok, err := s.TryWrite([]byte("x")); ok || err != nil {
		t.Fatalf("TryWrite during a blocked Write = %v, %v; want false, nil", ok, err)
	}
	go io.Copy(io.Discard, peer)
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
}

// Receivers stopped at many points (Stop alone, a done ctx then Stop, a done
// ctx with values received from the closed C, a cancel racing Stop), with
// plain reads between them, over TCP with the data arriving in pieces: the
// bytes received, in order, are exactly what the peer sent.
func TestBlackbox_ReceiverStopAnywhereLosesNothing(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 100 {
		ctx, cancelIter := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancelIter()
		mode := iter % 4
		chunks := iter%3 == 0
		peer, conn := streamtest.TCPPair(t)
		s := chanstream.NewStream(conn)
		var want strings.Builder
		for i := range 400 {
			fmt.Fprintf(&want, "it %d line %d\n", iter, i)
		}
		data := want.String()
		go func() {
			for p := data; len(p) > 0; {
				n := min(len(p), 1+rng.IntN(700))
				peer.Write([]byte(p[:n]))
				p = p[n:]
			}
			peer.CloseWrite()
		}()
		var got strings.Builder
		stops := 0
		for {
			rctx, cancel := context.WithCancel(ctx)
			var rc *chanstream.Receiver
			if chunks {
				rc = s.ChunkChan(rctx)
			} else {
				rc = s.LineChan(rctx)
			}
			k := 1 + (iter*7+stops*13)%40
			ended := false
			for range k {
				v, ok := <-rc.C
				if !ok {
					ended = true
					break
				}
				got.WriteString(string(v))
			}
			switch mode {
			case 0:
				rc.Stop()
			case 1:
				cancel()
				rc.Stop()
			case 2:
				cancel()
				for range 3 {
					v, ok := <-rc.C
					if !ok {
						break
					}
					got.WriteString(string(v))
				}
				rc.Stop()
			case 3:
				go cancel()
				rc.Stop()
			}
			cancel()
			if ended && rc.Err() == io.EOF {
				break
			}
			if ended && rc.Err() != nil && rc.Err() != context.Canceled {
				t.Fatalf("iter %d: Err %v", iter, rc.Err())
			}
			stops++
			if stops%3 == 0 {
				line, err := s.ReadLine(ctx)
				got.Write(line)
				if err == io.EOF {
					break
				}
			}
		}
		if got.String() != data {
			g := got.String()
			i := 0
			for i < len(g) && i < len(data) && g[i] == data[i] {
				i++
			}
			t.Fatalf("iter %d mode %d chunks %v: got %d bytes, want %d; differ at %d: got %q want %q", iter, mode, chunks, len(g), len(data), i, g[i:min(len(g), i+40)], data[i:min(len(data), i+40)])
		}
		streamtest.CloseStreams(t, s)
		peer.Close()
	}
}

// At the end of the stream, values left in C count as buffered: AtEOF is
// false until the consumer received the last one. ChunkChan's pieces are at
// most 64 KiB.
func TestBlackbox_ReceiverAtEOFAndChunkSize(t *testing.T) {
	ctx := bbCtx(t)
	lines := bbLines(10)
	r := bbFedReader(t, ctx, lines)
	r.FeedEOF()
	rc := r.LineChan(ctx)
	bbWaitFor(t, "C to be closed", func() bool { return rc.Err() != nil })
	left := len(strings.Join(lines, ""))
	for _, line := range lines {
		if r.AtEOF() || r.Buffered() != left || r.Stats().ReadBuffered != left {
			t.Fatalf("with %d bytes in C: AtEOF %v, Buffered %d, Stats %+v", left, r.AtEOF(), r.Buffered(), r.Stats())
		}
		if v := <-rc.C; string(v) != line {
			t.Fatalf("C gave %q, want %q", v, line)
		}
		left -= len(line)
	}
	if !r.AtEOF() || r.Buffered() != 0 {
		t.Fatalf("C drained: AtEOF %v, Buffered %d", r.AtEOF(), r.Buffered())
	}
	rc.Stop()

	r = chanstream.NewReader()
	r.Feed(ctx, bytes.Repeat([]byte("z"), 1<<20))
	r.FeedEOF()
	rc = r.ChunkChan(ctx)
	sum := 0
	for v := range rc.C {
		if len(v) == 0 || len(v) > 64<<10 {
			t.Fatalf("ChunkChan gave a piece of %d bytes", len(v))
		}
		sum += len(v)
	}
	rc.Stop()
	if sum != 1<<20 || rc.Err() != io.EOF || !r.AtEOF() {
		t.Fatalf("ChunkChan gave %d bytes, Err %v, AtEOF %v", sum, rc.Err(), r.AtEOF())
	}
}

// NewStream of a nil connection panics in the caller with a clear message,
// rather than in a pump goroutine, which would end the program.
func TestBlackbox_NewStreamNilConn(t *testing.T) {
	var nilTCP *net.TCPConn
	for name, conn := range map[string]net.Conn{"nil": nil, "nil *net.TCPConn": nilTCP} {
		func() {
			defer func() {
				r := recover()
				err, ok := r.(error)
				if !ok || !strings.HasPrefix(err.Error(), "chanstream: ") {
					t.Errorf("NewStream(%s) panicked with %v, want a chanstream error", name, r)
				}
			}()
			chanstream.NewStream(conn)
		}()
	}
}

// A read deadline ends a Receiver that waits for data with
// os.ErrDeadlineExceeded, after the values before it; a new Receiver, once the
// deadline is cleared, goes on with the data that arrives later.
func TestBlackbox_ReceiverDeadline(t *testing.T) {
	ctx := bbCtx(t)
	peer, conn := streamtest.TCPPair(t)
	s := chanstream.NewStream(conn)
	defer streamtest.CloseStreams(t, s)
	lines := bbLines(100)
	peer.Write([]byte(strings.Join(lines[:50], "")))
	s.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	rc := s.LineChan(ctx)
	var got []string
	for v := range rc.C {
		got = append(got, string(v))
	}
	if !errors.Is(rc.Err(), os.ErrDeadlineExceeded) {
		t.Fatalf("Err = %v, want os.ErrDeadlineExceeded", rc.Err())
	}
	rc.Stop()
	s.SetReadDeadline(time.Time{})
	peer.Write([]byte(strings.Join(lines[50:], "")))
	peer.CloseWrite()
	rc = s.LineChan(ctx)
	for v := range rc.C {
		got = append(got, string(v))
	}
	rc.Stop()
	if rc.Err() != io.EOF {
		t.Fatalf("Err = %v, want io.EOF", rc.Err())
	}
	if strings.Join(got, "") != strings.Join(lines, "") {
		t.Fatalf("got %d lines, want %d in order", len(got), len(lines))
	}
}

// A reset ends a Receiver with the error after the data before it, and the
// reads after it return the error.
func TestBlackbox_ReceiverReset(t *testing.T) {
	ctx := bbCtx(t)
	peer, conn := streamtest.TCPPair(t)
	s := chanstream.NewStream(conn)
	defer streamtest.CloseStreams(t, s)
	data := strings.Join(bbLines(2000), "")
	peer.Write([]byte(data))
	rc := s.ChunkChan(ctx)
	got := string(<-rc.C)
	peer.SetLinger(0)
	peer.Close()
	for v := range rc.C {
		got += string(v)
	}
	if !errors.Is(rc.Err(), syscall.ECONNRESET) {
		t.Fatalf("Err = %v, want ECONNRESET", rc.Err())
	}
	rc.Stop()
	rest, err := s.ReadChunk(ctx, -1)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("ReadChunk(-1) = %v, want ECONNRESET", err)
	}
	got += string(rest)
	if !strings.HasPrefix(data, got) || len(got) == 0 {
		t.Fatalf("got %d bytes, not a prefix of what was sent", len(got))
	}
}
