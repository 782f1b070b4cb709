package frame

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
)

// readAllFrames decodes frames from s until EOF.
func readAllFrames(t testing.TB, s *chanstream.Stream, dec Decoder[[]byte]) []string {
	t.Helper()
	got, err := decodeAll(t, s.Reader(), dec)
	if err != io.EOF {
		t.Fatalf("after %d frames: %v; want io.EOF", len(got), err)
	}
	return got
}

func TestSend_EveryMessageInOrderUntilClosed(t *testing.T) {
	t.Parallel()
	a, b := streamPair(t)
	codec := mustUvarint(t, 1<<16)
	frames := numbered(2000)
	ch := make(chan []byte, 100)
	go func() {
		defer close(ch)
		for _, f := range frames {
			ch <- []byte(f)
		}
	}()
	result := make(chan error, 1)
	go func() {
		unsent, err := Send(testCtx(t), a.Writer(), codec, ch)
		if err == nil && len(unsent) > 0 {
			err = errors.New("unsent messages with a nil error")
		}
		a.WriteEOF()
		result <- err
	}()
	if got := readAllFrames(t, b, codec); !equal(got, frames) {
		t.Fatalf("received %d frames; want %d in order", len(got), len(frames))
	}
	if err := <-result; err != nil {
		t.Fatal(err)
	}
}

// When ctx ends Send while the writer is full, the messages it took and did
// not queue come back; with what the peer received, they are every message,
// once, in order.
func TestSend_CtxDoneGivesBackWhatWasNotQueued(t *testing.T) {
	t.Parallel()
	a, b := streamPair(t, chanstream.WithWriteBufferLimits(4096, 1024))
	codec := mustLen(t, 4, binary.BigEndian, 1<<16)
	frame := bytes.Repeat([]byte("x"), 2000)
	const total = 16000 // 32 MB: more than the socket buffers hold
	ch := make(chan []byte, total)
	for i := 0; i < total; i++ {
		f := append([]byte(nil), frame...)
		binary.BigEndian.PutUint32(f, uint32(i))
		ch <- f
	}
	close(ch)
	ctx, cancel := context.WithTimeout(testCtx(t), 200*time.Millisecond)
	defer cancel()
	unsent, err := Send(ctx, a.Writer(), codec, ch) // nobody reads b yet
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrPartialFrame) {
		t.Fatalf("Send = %v; want context.DeadlineExceeded without ErrPartialFrame", err)
	}
	a.WriteEOF()
	got, derr := decodeAll(t, b.Reader(), codec)
	if derr != io.EOF {
		t.Fatalf("reading the peer: %v", derr)
	}
	next := 0
	check := func(f []byte) {
		if n := int(binary.BigEndian.Uint32(f)); n != next {
			t.Fatalf("message %d where %d was due", n, next)
		}
		next++
	}
	for _, f := range got {
		check([]byte(f))
	}
	for _, f := range unsent {
		check(f)
	}
	for f := range ch {
		check(f)
	}
	if next != total || len(unsent) == 0 {
		t.Fatalf("accounted for %d messages (%d given back); want %d", next, len(unsent), total)
	}
}

// A frame larger than the high watermark, with nothing queued before it, is
// queued whole at once (as TryWrite queues it).
func TestSend_FrameLargerThanTheWatermarks(t *testing.T) {
	t.Parallel()
	a, b := streamPair(t, chanstream.WithWriteBufferLimits(1024, 256))
	codec := mustLen(t, 4, binary.BigEndian, 64<<20)
	big := bytes.Repeat([]byte("0123456789abcdef"), 4<<20/16)
	ch := make(chan []byte, 2)
	ch <- big
	ch <- []byte("small")
	close(ch)
	if unsent, err := Send(testCtx(t), a.Writer(), codec, ch); err != nil || len(unsent) > 0 {
		t.Fatalf("Send = %d unsent, %v", len(unsent), err)
	}
	a.WriteEOF()
	got := readAllFrames(t, b, codec)
	if len(got) != 2 || got[0] != string(big) || got[1] != "small" {
		t.Fatalf("peer received %d frames", len(got))
	}
}

func TestSend_EncodeErrorQueuesTheMessagesBefore(t *testing.T) {
	t.Parallel()
	a, b := streamPair(t)
	codec := mustLen(t, 1, binary.BigEndian, 3)
	ch := make(chan []byte, 4)
	for _, s := range []string{"a", "bb", "toolong", "c"} {
		ch <- []byte(s)
	}
	close(ch)
	unsent, err := Send(testCtx(t), a.Writer(), codec, ch)
	if !errors.Is(err, ErrFrameTooLarge) || !equal(strs(unsent), []string{"toolong", "c"}) {
		t.Fatalf("Send = %q, %v; want [toolong c] and ErrFrameTooLarge", strs(unsent), err)
	}
	a.WriteEOF()
	if got := readAllFrames(t, b, codec); !equal(got, []string{"a", "bb"}) {
		t.Fatalf("peer received %q", got)
	}
}

func TestSend_ClosedWriter(t *testing.T) {
	t.Parallel()
	a, _ := streamPair(t)
	a.Close()
	ch := make(chan []byte, 2)
	ch <- []byte("a")
	ch <- []byte("b")
	close(ch)
	unsent, err := Send(testCtx(t), a.Writer(), NewLines(), ch)
	if !errors.Is(err, chanstream.ErrClosed) || !equal(strs(unsent), []string{"a", "b"}) {
		t.Fatalf("Send = %q, %v; want both back and ErrClosed", strs(unsent), err)
	}
}

func TestSend_DoneCtxTakesNothing(t *testing.T) {
	t.Parallel()
	a, _ := streamPair(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ch := make(chan []byte) // nothing waiting
	if unsent, err := Send(ctx, a.Writer(), NewLines(), ch); err != context.Canceled || unsent != nil {
		t.Fatalf("Send = %v, %v; want nil, context.Canceled", unsent, err)
	}
}

func TestWrite_QueuesAFrameWhole(t *testing.T) {
	t.Parallel()
	a, b := streamPair(t)
	codec := mustLen(t, 2, binary.BigEndian, 1000)
	ctx := testCtx(t)
	for _, f := range []string{"one", "", "three"} {
		if err := Write(ctx, a.Writer(), codec, []byte(f)); err != nil {
			t.Fatal(err)
		}
	}
	if err := Write(ctx, a.Writer(), codec, make([]byte, 1001)); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("Write of an over-long frame = %v; want ErrFrameTooLarge", err)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := Write(done, a.Writer(), codec, []byte("never")); err != context.Canceled {
		t.Fatalf("Write(done) = %v; want context.Canceled", err)
	}
	a.WriteEOF()
	if got := readAllFrames(t, b, codec); !equal(got, []string{"one", "", "three"}) {
		t.Fatalf("peer received %q", got)
	}
}

// A frame that does not fit below the high watermark, behind data the peer
// has not read, is queued piece by piece as the writer sends it: when ctx
// ends that, Write and Send report ErrPartialFrame with ctx's error, and
// Send gives back the cut message first. The watermarks are equal, so that
// Drain returns at once with the first frame still queued, and the peer
// never reads, so that the second frame cannot be sent whole.
func TestWriteAndSend_CtxEndsAFrameHalfQueued(t *testing.T) {
	t.Parallel()
	const first, second, watermark = 3 << 20, 16 << 20, 4 << 20
	for _, viaSend := range []bool{false, true} {
		name := "Write"
		if viaSend {
			name = "Send"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a, b := streamPair(t, chanstream.WithWriteBufferLimits(watermark, watermark)) // b never reads
			// Small socket buffers: the kernel takes in little of the frames.
			a.Conn().(*net.TCPConn).SetWriteBuffer(64 << 10)
			b.Conn().(*net.TCPConn).SetReadBuffer(64 << 10)
			codec := mustLen(t, 4, binary.BigEndian, second)
			if err := Write(testCtx(t), a.Writer(), codec, bytes.Repeat([]byte("1"), first)); err != nil {
				t.Fatal(err)
			}
			firstLen := int64(4 + first)
			msg := bytes.Repeat([]byte("2"), second)
			ctx, cancel := context.WithCancel(testCtx(t))
			defer cancel()
			type result struct {
				unsent [][]byte
				err    error
			}
			done := make(chan result, 1)
			go func() {
				if viaSend {
					ch := make(chan []byte, 1)
					ch <- msg
					close(ch)
					unsent, err := Send(ctx, a.Writer(), codec, ch)
					done <- result{unsent, err}
					return
				}
				done <- result{nil, Write(ctx, a.Writer(), codec, msg)}
			}()
			out := func() int64 {
				st := a.Writer().Stats()
				return st.BytesWritten + int64(st.WriteBuffered)
			}
			waitFor(t, "part of the second frame to be queued", func() bool { return out() > firstLen })
			cancel()
			res := <-done
			if !errors.Is(res.err, ErrPartialFrame) || !errors.Is(res.err, context.Canceled) {
				t.Fatalf("%s = %v; want ErrPartialFrame and context.Canceled", name, res.err)
			}
			if viaSend && (len(res.unsent) != 1 || !bytes.Equal(res.unsent[0], msg)) {
				t.Errorf("Send gave back %d messages; want the cut one", len(res.unsent))
			}
			if n := out(); n <= firstLen || n >= firstLen+4+second {
				t.Errorf("%d bytes queued or sent; want the first frame and part of the second", n)
			}
		})
	}
}

// waitFor polls cond until it holds, failing the test after 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 20s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
