package frame

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/streamtest"
)

// streamPair returns two chanstream streams over loopback TCP, closed when
// the test ends.
func streamPair(t testing.TB, opts ...chanstream.Option) (a, b *chanstream.Stream) {
	t.Helper()
	c1, c2 := streamtest.TCPPair(t)
	a, b = chanstream.NewStream(c1, opts...), chanstream.NewStream(c2, opts...)
	t.Cleanup(func() { streamtest.CloseStreams(t, a, b) })
	return a, b
}

func numbered(n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, fmt.Sprintf("frame %d", i))
	}
	return out
}

// receive takes n messages from rc.C, failing on a close or a timeout.
func receive[T any](t testing.TB, rc *Receiver[T], n int) []T {
	t.Helper()
	var got []T
	timeout := time.After(20 * time.Second)
	for len(got) < n {
		select {
		case v, ok := <-rc.C:
			if !ok {
				t.Fatalf("C closed after %d messages (Err %v); want %d", len(got), rc.Err(), n)
			}
			got = append(got, v)
		case <-timeout:
			t.Fatalf("%d messages in 20s; want %d", len(got), n)
		}
	}
	return got
}

func strs(bs [][]byte) []string {
	var out []string
	for _, b := range bs {
		out = append(out, string(b))
	}
	return out
}

func TestReceiver_DeliversEveryFrameThenEOF(t *testing.T) {
	t.Parallel()
	a, b := streamPair(t)
	codec := mustLen(t, 4, binary.BigEndian, 1<<16)
	frames := numbered(500)
	go func() {
		a.Write([]byte(encodeAll(t, codec, frames...)))
		a.WriteEOF()
	}()
	rc := NewReceiver(testCtx(t), b.Reader(), codec)
	defer rc.Stop()
	var got []string
	for v := range rc.C {
		got = append(got, string(v))
	}
	if !equal(got, frames) || rc.Err() != io.EOF {
		t.Fatalf("got %d frames, Err %v; want %d and io.EOF", len(got), rc.Err(), len(frames))
	}
}

// Stop gives back what was decoded and not received, in order; the rest is
// still in the reader, for the same decoder.
func TestReceiver_StopGivesBackWhatWasNotReceived(t *testing.T) {
	t.Parallel()
	codec := mustLen(t, 2, binary.LittleEndian, 100)
	frames := numbered(60)
	r := fed(t, encodeAll(t, codec, frames...), true)
	rc := NewReceiver(testCtx(t), r, codec)
	got := strs(receive(t, rc, 5))
	// Wait until the Receiver has filled C and holds one more.
	deadline := time.Now().Add(20 * time.Second)
	for len(rc.C) < cap(rc.C) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	back := rc.Stop()
	if len(back) < ReceiverCap {
		t.Fatalf("Stop gave back %d messages; want at least %d (C was full)", len(back), ReceiverCap)
	}
	if rc.Err() != nil {
		t.Fatalf("Err after Stop = %v; want nil", rc.Err())
	}
	if _, ok := <-rc.C; ok {
		t.Fatal("C is open after Stop")
	}
	if more := rc.Stop(); len(more) != 0 {
		t.Fatalf("a second Stop gave back %d messages", len(more))
	}
	got = append(got, strs(back)...)
	rest, err := decodeAll(t, r, codec)
	got = append(got, rest...)
	if !equal(got, frames) || err != io.EOF {
		t.Fatalf("received + given back + still in the reader = %q, %v; want every frame once, in order", got, err)
	}
}

// A Stop while the decoder has read a length and waits for the body leaves
// the length with the decoder: a new Receiver with it completes the frame.
func TestReceiver_StopInsideAFrame(t *testing.T) {
	t.Parallel()
	codec := mustLen(t, 4, binary.BigEndian, 100)
	r := fed(t, encodeAll(t, codec, "one")+"\x00\x00\x00\x05ab", false)
	rc := NewReceiver(testCtx(t), r, codec)
	if got := strs(receive(t, rc, 1)); !equal(got, []string{"one"}) {
		t.Fatalf("got %q", got)
	}
	deadline := time.Now().Add(20 * time.Second)
	for r.Buffered() > 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // until the Receiver has read the length and waits for the body
	}
	if back := rc.Stop(); len(back) != 0 {
		t.Fatalf("Stop gave back %q; want nothing", strs(back))
	}
	r.Feed(testCtx(t), []byte("cde"))
	r.FeedEOF()
	rc = NewReceiver(testCtx(t), r, codec)
	defer rc.Stop()
	var got []string
	for v := range rc.C {
		got = append(got, string(v))
	}
	if !equal(got, []string{"abcde"}) || rc.Err() != io.EOF {
		t.Fatalf("got %q, %v; want [abcde], io.EOF", got, rc.Err())
	}
}

// When ctx ends the Receiver, C's messages stay for the consumer and Stop
// returns the one that missed C; nothing is lost.
func TestReceiver_CtxDoneLosesNothing(t *testing.T) {
	t.Parallel()
	codec := mustFixed(t, 8)
	var frames []string
	for i := 0; i < 50; i++ {
		frames = append(frames, fmt.Sprintf("frame%03d", i))
	}
	r := fed(t, encodeAll(t, codec, frames...), true)
	ctx, cancel := context.WithCancel(testCtx(t))
	rc := NewReceiver(ctx, r, codec)
	deadline := time.Now().Add(20 * time.Second)
	for len(rc.C) < cap(rc.C) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	var got []string
	for v := range rc.C {
		got = append(got, string(v))
	}
	if !errors.Is(rc.Err(), context.Canceled) {
		t.Fatalf("Err = %v; want context.Canceled", rc.Err())
	}
	got = append(got, strs(rc.Stop())...)
	if !errors.Is(rc.Err(), context.Canceled) {
		t.Fatalf("Err after Stop = %v; want still context.Canceled", rc.Err())
	}
	rest, err := decodeAll(t, r, codec)
	got = append(got, rest...)
	if !equal(got, frames) || err != io.EOF {
		t.Fatalf("got %d frames, %v; want all %d in order", len(got), err, len(frames))
	}
}

func TestReceiver_DecodeErrorEndsC(t *testing.T) {
	t.Parallel()
	codec := mustLen(t, 1, binary.BigEndian, 4)
	r := fed(t, "\x01a\x01b\x09toolong..\x01c", true)
	rc := NewReceiver(testCtx(t), r, codec)
	defer rc.Stop()
	var got []string
	for v := range rc.C {
		got = append(got, string(v))
	}
	if !equal(got, []string{"a", "b"}) || !errors.Is(rc.Err(), ErrFrameTooLarge) {
		t.Fatalf("got %q, %v; want [a b] and ErrFrameTooLarge", got, rc.Err())
	}
	// The stream stays in sync: the decoder skips the frame.
	if b, err := codec.Decode(testCtx(t), r); err != nil || string(b) != "c" {
		t.Fatalf("Decode after = %q, %v; want \"c\"", b, err)
	}
}

func TestReceiver_StopAfterEOFGivesBackC(t *testing.T) {
	t.Parallel()
	r := fed(t, "a\nb\nc\n", true)
	rc := NewReceiver(testCtx(t), r, NewLines())
	deadline := time.Now().Add(20 * time.Second)
	for rc.Err() == nil && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if rc.Err() != io.EOF {
		t.Fatalf("Err = %v; want io.EOF", rc.Err())
	}
	if back := strs(rc.Stop()); !equal(back, []string{"a", "b", "c"}) {
		t.Fatalf("Stop gave back %q", back)
	}
	if rc.Err() != io.EOF {
		t.Fatalf("Err after Stop = %v; want io.EOF", rc.Err())
	}
}

// A typed codec over the ready ones: the Receiver delivers T values.
type point struct{ X, Y int32 }

type pointCodec struct{ fixed *Fixed }

func (c pointCodec) Decode(ctx context.Context, r *chanstream.Reader) (point, error) {
	b, err := c.fixed.Decode(ctx, r)
	if err != nil {
		return point{}, err
	}
	return point{int32(binary.BigEndian.Uint32(b)), int32(binary.BigEndian.Uint32(b[4:]))}, nil
}

func (c pointCodec) Encode(dst []byte, p point) ([]byte, error) {
	dst = binary.BigEndian.AppendUint32(dst, uint32(p.X))
	return binary.BigEndian.AppendUint32(dst, uint32(p.Y)), nil
}

func TestReceiverAndSend_TypedValuesOverUnixSockets(t *testing.T) {
	t.Parallel()
	c1, c2 := streamtest.SocketPair(t)
	a, b := chanstream.NewStream(c1), chanstream.NewStream(c2)
	t.Cleanup(func() { streamtest.CloseStreams(t, a, b) })
	codec := pointCodec{mustFixed(t, 8)}
	ctx := testCtx(t)
	ch := make(chan point)
	sent := make(chan error, 1)
	go func() {
		unsent, err := Send(ctx, a.Writer(), codec, ch)
		if len(unsent) > 0 {
			err = fmt.Errorf("unsent %v: %w", unsent, err)
		}
		a.WriteEOF()
		sent <- err
	}()
	go func() {
		defer close(ch)
		for i := int32(0); i < 1000; i++ {
			ch <- point{i, -i}
		}
	}()
	rc := NewReceiver(ctx, b.Reader(), codec)
	defer rc.Stop()
	var i int32
	for p := range rc.C {
		if p != (point{i, -i}) {
			t.Fatalf("message %d = %v", i, p)
		}
		i++
	}
	if i != 1000 || rc.Err() != io.EOF {
		t.Fatalf("%d messages, Err %v; want 1000 and io.EOF", i, rc.Err())
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}

// countingCtx is a parent context that counts the children registered on it
// and not yet released: context.WithCancel registers through AfterFunc on a
// parent that has one, and releases when the child is cancelled. It is
// never done.
type countingCtx struct {
	done chan struct{}
	live atomic.Int64
}

func (c *countingCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *countingCtx) Done() <-chan struct{}       { return c.done }
func (c *countingCtx) Err() error                  { return nil }
func (c *countingCtx) Value(any) any               { return nil }

func (c *countingCtx) AfterFunc(func()) func() bool {
	c.live.Add(1)
	var once sync.Once
	return func() bool {
		stopped := false
		once.Do(func() { c.live.Add(-1); stopped = true })
		return stopped
	}
}

// A Receiver that ended at the end of the stream leaves nothing registered
// on the caller's ctx, without a Stop.
func TestReceiver_EndReleasesItsContext(t *testing.T) {
	t.Parallel()
	a, b := streamPair(t)
	codec := mustLen(t, 2, binary.BigEndian, 100)
	a.Write([]byte(encodeAll(t, codec, "x", "y")))
	a.WriteEOF()
	parent := &countingCtx{done: make(chan struct{})}
	rc := NewReceiver(parent, b.Reader(), codec)
	var got []string
	for v := range rc.C {
		got = append(got, string(v))
	}
	if !equal(got, []string{"x", "y"}) || rc.Err() != io.EOF {
		t.Fatalf("got %q, Err %v", got, rc.Err())
	}
	if n := parent.live.Load(); n != 0 {
		t.Errorf("%d contexts still registered on the parent after C was closed", n)
	}
}
