package chanstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// numberedLines returns n lines "line 0\n", "line 1\n", ... joined.
func numberedLines(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	return b.Bytes()
}

// A Receiver that stops, by Stop or by its ctx, with its C full gives every
// value the consumer has not received back to the reader, in order and
// ahead of what the reader still buffers: the next read sees exactly the
// bytes the consumer did not get.
func TestReceiver_StopWithAFullBufferGivesBackInOrder(t *testing.T) {
	t.Parallel()
	data := numberedLines(200)
	for _, tc := range []struct {
		name     string
		start    func(*Reader, context.Context) *Receiver
		capacity int
		cancel   bool // stop by the ctx rather than Stop
	}{
		{"LineChan/Stop", (*Reader).LineChan, lineChanBuffer, false},
		{"LineChan/ctx", (*Reader).LineChan, lineChanBuffer, true},
		{"ChunkChan/Stop", (*Reader).ChunkChan, chunkChanBuffer, false},
		{"ChunkChan/ctx", (*Reader).ChunkChan, chunkChanBuffer, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			r := NewReader()
			rctx, cancel := context.WithCancel(ctx)
			defer cancel()
			rc := tc.start(r, rctx)
			// Fed in pieces, each taken in before the next while C has
			// room, so that ChunkChan has several values to hold.
			var got []byte
			for i := 0; i < len(data); i += 300 {
				if err := r.Feed(ctx, data[i:min(i+300, len(data))]); err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					got = append(got, <-rc.C...)
				}
				eventually(t, "the piece to be put in C", func() bool {
					return len(rc.C) >= min(i/300, tc.capacity)
				})
			}
			eventually(t, "C to fill up", func() bool { return len(rc.C) == tc.capacity })
			if want := len(data) - len(got); r.Buffered() != want {
				t.Fatalf("Buffered = %d with %d bytes not received; want %d", r.Buffered(), want, want)
			}
			if r.AtEOF() {
				t.Fatal("AtEOF with data undelivered")
			}
			if tc.cancel {
				cancel()
				// The consumer may still be receiving: C keeps what it
				// holds, counted as buffered, until Stop gives it back.
				eventually(t, "the receiver to stop", func() bool { return rc.Err() != nil })
				if !errors.Is(rc.Err(), context.Canceled) {
					t.Fatalf("Err = %v; want context.Canceled", rc.Err())
				}
				if len(rc.C) != tc.capacity {
					t.Fatalf("C holds %d values after the ctx was cancelled; want the %d it held", len(rc.C), tc.capacity)
				}
				if want := len(data) - len(got); r.Buffered() != want {
					t.Fatalf("Buffered after the ctx was cancelled = %d; want %d", r.Buffered(), want)
				}
				rc.Stop()
				if _, ok := <-rc.C; ok {
					t.Fatal("C holds a value after Stop")
				}
			} else {
				rc.Stop()
				if _, ok := <-rc.C; ok {
					t.Fatal("C holds a value after Stop")
				}
				if rc.Err() != nil {
					t.Fatalf("Err after Stop = %v", rc.Err())
				}
			}
			rc.Stop()
			if want := len(data) - len(got); r.Buffered() != want {
				t.Fatalf("Buffered after the stop = %d; want %d", r.Buffered(), want)
			}
			r.FeedEOF()
			rest, err := r.ReadChunk(ctx, -1)
			if err != nil || string(got)+string(rest) != string(data) {
				t.Fatalf("ReadChunk(-1) after the stop = %d bytes, %v; the received and the rest differ from what was fed", len(rest), err)
			}
			if !r.AtEOF() {
				t.Fatal("AtEOF false with everything read")
			}
		})
	}
}

// When C is closed by the end of the stream, the values still in it stay
// there for the consumer and count as buffered until received; Stop gives
// them back.
func TestReceiver_EndLeavesValuesInC(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	data := numberedLines(10)
	r := NewReader()
	r.Feed(ctx, data)
	r.FeedEOF()
	rc := r.LineChan(ctx)
	eventually(t, "the receiver to reach the end", func() bool { return rc.Err() == io.EOF })
	if r.AtEOF() || r.Buffered() != len(data) || r.Stats().ReadBuffered != len(data) {
		t.Fatalf("AtEOF %v, Buffered %d with every line in C; want false, %d", r.AtEOF(), r.Buffered(), len(data))
	}
	first, second := <-rc.C, <-rc.C
	if string(first) != "line 0\n" || string(second) != "line 1\n" {
		t.Fatalf("got %q, %q", first, second)
	}
	if want := len(data) - len(first) - len(second); r.Buffered() != want {
		t.Fatalf("Buffered = %d after two lines received; want %d", r.Buffered(), want)
	}
	rc.Stop()
	if rc.Err() != io.EOF {
		t.Fatalf("Err after the end and Stop = %v; want io.EOF", rc.Err())
	}
	rest, err := r.ReadChunk(ctx, -1)
	if err != nil || string(rest) != string(data[len(first)+len(second):]) {
		t.Fatalf("ReadChunk(-1) after Stop = %q, %v", rest, err)
	}
	if !r.AtEOF() || r.Buffered() != 0 {
		t.Fatalf("AtEOF %v, Buffered %d with everything read", r.AtEOF(), r.Buffered())
	}
}

// A consumer that receives every value, C closed, has read everything: Stop
// then gives nothing back.
func TestReceiver_DrainedToTheEnd(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	data := numberedLines(100)
	r := NewReader()
	r.Feed(ctx, data)
	r.FeedEOF()
	rc := r.LineChan(ctx)
	var got []byte
	for line := range rc.C {
		got = append(got, line...)
	}
	if rc.Err() != io.EOF || !bytes.Equal(got, data) {
		t.Fatalf("received %d bytes of %d, Err %v", len(got), len(data), rc.Err())
	}
	if !r.AtEOF() || r.Buffered() != 0 {
		t.Fatalf("AtEOF %v, Buffered %d with every line received", r.AtEOF(), r.Buffered())
	}
	rc.Stop()
	if b, err := r.ReadChunk(ctx, -1); len(b) != 0 || err != nil {
		t.Fatalf("ReadChunk(-1) after Stop = %q, %v", b, err)
	}
}

// LineChan stops at a line over the limit: the lines before it are in C,
// and the next read goes on after the discarded line.
func TestReceiver_LineChanStopsAtTheLimit(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	r := NewReader(WithLimit(16))
	r.Feed(ctx, []byte("a\nb\n"+strings.Repeat("x", 40)+"\nc\n"))
	r.FeedEOF()
	rc := r.LineChan(ctx)
	var lines []string
	for line := range rc.C {
		lines = append(lines, string(line))
	}
	var overrun *LimitOverrunError
	if !errors.As(rc.Err(), &overrun) || strings.Join(lines, "") != "a\nb\n" {
		t.Fatalf("lines %q, Err %v", lines, rc.Err())
	}
	rc.Stop()
	if line, err := r.ReadLine(ctx); string(line) != "c\n" || err != nil {
		t.Fatalf("ReadLine after the overrun = %q, %v", line, err)
	}
}

// A new Receiver started while an ended one's C still holds values takes
// them back first: they are delivered again, in order, and nothing is lost.
func TestReceiver_NewReceiverTakesBackWhatAnEndedOneHeld(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	r := NewReader(WithLimit(16))
	r.Feed(ctx, []byte("a\nb\n"+strings.Repeat("x", 40)+"\nc\n"))
	r.FeedEOF()
	old := r.LineChan(ctx)
	var overrun *LimitOverrunError
	eventually(t, "the overrun", func() bool { return errors.As(old.Err(), &overrun) })
	if line := <-old.C; string(line) != "a\n" {
		t.Fatalf("got %q", line)
	}
	rc := r.LineChan(ctx)
	defer rc.Stop()
	var lines []string
	for line := range rc.C {
		lines = append(lines, string(line))
	}
	if strings.Join(lines, "") != "b\nc\n" || rc.Err() != io.EOF {
		t.Fatalf("the new receiver delivered %q, Err %v; want b, c", lines, rc.Err())
	}
	old.Stop() // nothing left: it must not wait for anything
	if _, ok := <-old.C; ok {
		t.Fatal("the old C still holds a value")
	}
}

// Stopping while the consumer receives and others read the counters: every
// byte fed is either received or read after the stop, in order, and the
// bytes counted as read never exceed what the consumer received.
func TestReceiver_StopWhileReceiving(t *testing.T) {
	t.Parallel()
	data := numberedLines(3000)
	for round := range 20 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			ctx := testCtx(t)
			rng := rand.New(rand.NewSource(int64(round)))
			r := NewReader()
			var wg sync.WaitGroup
			defer wg.Wait()
			wg.Add(1)
			go func() { // the feeder
				defer wg.Done()
				for i := 0; i < len(data); {
					n := min(1+rand.Intn(300), len(data)-i)
					if r.Feed(ctx, data[i:i+n]) != nil {
						return
					}
					i += n
				}
				r.FeedEOF()
			}()
			rctx, cancel := context.WithCancel(ctx)
			defer cancel()
			// A value the consumer has received but not yet counted is
			// at most a line, or all the data for ChunkChan.
			start, inHand := (*Reader).LineChan, int64(len("line 2999\n"))
			if round%2 == 1 {
				start, inHand = (*Reader).ChunkChan, int64(len(data))
			}
			rc := start(r, rctx)
			var received atomic.Int64
			stopCounting, countersDone := make(chan struct{}), make(chan struct{})
			go func() { // the counters
				defer close(countersDone)
				for {
					select {
					case <-stopCounting:
						return
					default:
					}
					st := r.Stats()
					read := st.BytesRead - int64(st.ReadBuffered)
					if after := received.Load(); read > after+inHand || st.ReadBuffered < 0 {
						t.Errorf("Stats %+v: %d bytes counted as read, the consumer has %d", st, read, after)
						return
					}
				}
			}()
			stopAfter := rng.Intn(2000)
			var got []byte
			stopped := false
			for v := range rc.C {
				got = append(got, v...)
				received.Add(int64(len(v)))
				if !stopped && len(got) >= stopAfter {
					stopped = true
					if round%4 < 2 {
						rc.Stop() // from the goroutine that receives, as its doc asks
					} else {
						cancel()
					}
				}
			}
			close(stopCounting)
			<-countersDone
			rc.Stop()
			rest, err := r.ReadChunk(ctx, -1)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(append(got, rest...), data) {
				t.Fatalf("received %d bytes and read %d after the stop; they differ from the %d fed", len(got), len(rest), len(data))
			}
			if !r.AtEOF() || r.Buffered() != 0 {
				t.Fatalf("AtEOF %v, Buffered %d with everything read", r.AtEOF(), r.Buffered())
			}
		})
	}
}

// Chunks is the deprecated name of ChunkChan.
func TestReceiver_ChunksIsChunkChan(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	r := NewReader()
	r.Feed(ctx, []byte("abc"))
	r.FeedEOF()
	rc := r.Chunks(ctx)
	defer rc.Stop()
	if v := <-rc.C; string(v) != "abc" {
		t.Fatalf("got %q", v)
	}
	if _, ok := <-rc.C; ok || rc.Err() != io.EOF {
		t.Fatalf("C open %v, Err %v", ok, rc.Err())
	}
}

// WriteFrom queues every slice waiting in the channel, in order, across
// batches and the watermark.
func TestWriteFrom_Batches(t *testing.T) {
	ctx := testCtx(t)
	a, b := socketPair(t)
	sa, sb := NewStream(a, WithWriteBufferLimits(4096, 1024)), NewStream(b)
	defer closeStream(t, sb)
	ch := make(chan []byte, 500)
	var want bytes.Buffer
	for i := range 500 {
		p := []byte(fmt.Sprintf("message %d;", i))
		if i%100 == 7 {
			p = bytes.Repeat([]byte{'z'}, 10000) // over the watermark
		}
		want.Write(p)
		ch <- p
	}
	close(ch)
	done := make(chan error, 1)
	go func() {
		n, err := sa.WriteFrom(ctx, ch)
		if err == nil && n != int64(want.Len()) {
			err = fmt.Errorf("WriteFrom queued %d bytes of %d", n, want.Len())
		}
		sa.Close()
		done <- err
	}()
	got, err := sb.ReadChunk(ctx, -1)
	if err != nil || !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("received %d bytes of %d, %v", len(got), want.Len(), err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	closeStream(t, sa)
}

// WriteFrom returns ctx.Err() when ctx is done while it waits for the
// channel, with what it queued before sent.
func TestWriteFrom_CtxDone(t *testing.T) {
	ctx := testCtx(t)
	a, b := socketPair(t)
	sa, sb := NewStream(a), NewStream(b)
	defer closeStream(t, sb)
	ch := make(chan []byte, 1)
	ch <- []byte("hello\n")
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	var n int64
	go func() {
		var err error
		n, err = sa.WriteFrom(wctx, ch)
		done <- err
	}()
	if line, err := sb.ReadLine(ctx); string(line) != "hello\n" || err != nil {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) || n != 6 {
		t.Fatalf("WriteFrom = %d, %v; want 6, context.Canceled", n, err)
	}
	closeStream(t, sa)
}

// Stop after C was closed and drained gives nothing back, so it does not
// wait for a read call that waits for data.
func TestReceiver_StopAfterADrainedEndDoesNotWait(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	r := NewReader(WithLimit(4))
	r.Feed(ctx, []byte("a\nlong line\n"))
	rc := r.LineChan(ctx)
	for range rc.C {
	}
	var overrun *LimitOverrunError
	if !errors.As(rc.Err(), &overrun) {
		t.Fatalf("Err = %v; want a *LimitOverrunError", rc.Err())
	}
	read := make(chan error, 1)
	go func() {
		_, err := r.ReadLine(ctx) // waits: no more data yet
		read <- err
	}()
	eventually(t, "the read call to hold the reader", func() bool { return r.gate.state.Load()&gateBits != gateUnlocked })
	returnsWithin(t, 10*time.Second, func() struct{} { rc.Stop(); return struct{}{} })
	r.FeedEOF()
	if err := <-read; err != io.EOF {
		t.Fatalf("ReadLine = %v; want io.EOF", err)
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

// A Receiver that ended (EOF, an error, its ctx) and whose C the consumer
// has emptied holds nothing without a Stop: its ctx is no longer registered
// on the caller's, and the reader drops it at its next look at its counts,
// which are then right. Over loopback TCP, for both kinds of Receiver.
func TestReceiver_EndedAndDrainedHoldsNothingWithoutStop(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		start func(*Reader, context.Context) *Receiver
		byCtx bool // ended by its ctx rather than by the stream's EOF
	}{
		{"LineChan/EOF", (*Reader).LineChan, false},
		{"ChunkChan/EOF", (*Reader).ChunkChan, false},
		{"LineChan/ctx", (*Reader).LineChan, true},
		{"ChunkChan/ctx", (*Reader).ChunkChan, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, peer := streamPair(t)
			parent := &countingCtx{done: make(chan struct{})}
			ctx := context.Context(parent)
			cancel := func() {}
			if tc.byCtx {
				ctx, cancel = context.WithCancel(parent)
				defer cancel()
			}
			rc := tc.start(s.Reader(), ctx)
			if got := parent.live.Load(); got != 1 {
				t.Fatalf("%d contexts registered on the parent; want 1", got)
			}
			if _, err := peer.Write([]byte("a\nb\nc\n")); err != nil {
				t.Fatal(err)
			}
			want := "a\nb\nc\n"
			var got []byte
			if tc.byCtx {
				// Take everything, so that C is empty when ctx ends it.
				for len(got) < len(want) {
					got = append(got, <-rc.C...)
				}
				cancel()
			} else {
				peer.CloseWrite()
				// C holds values when the Receiver ends: the reader
				// still counts them as buffered.
				eventually(t, "the Receiver to end", func() bool { return rc.Err() != nil })
			}
			for v := range rc.C {
				got = append(got, v...)
			}
			wantErr := io.EOF
			if tc.byCtx {
				wantErr = context.Canceled
			}
			if string(got) != want || rc.Err() != wantErr {
				t.Fatalf("received %q, Err %v; want %q, %v", got, rc.Err(), want, wantErr)
			}
			if n := parent.live.Load(); n != 0 {
				t.Errorf("%d contexts still registered on the parent after the Receiver ended", n)
			}
			if n := s.Reader().Buffered(); n != 0 {
				t.Errorf("Buffered = %d after C was emptied; want 0", n)
			}
			if rc := s.r.helpers.Load().active.Load(); rc != nil {
				t.Error("the reader still refers to the ended, emptied Receiver")
			}
			if st := s.Reader().Stats(); st.BytesRead != int64(len(want)) {
				t.Errorf("BytesRead = %d; want %d", st.BytesRead, len(want))
			}
			if tc.byCtx {
				// The reader is free: a read call takes what comes next.
				peer.Write([]byte("d\n"))
				if line, err := s.ReadLine(testCtx(t)); err != nil || string(line) != "d\n" {
					t.Errorf("ReadLine after the Receiver = %q, %v", line, err)
				}
			}
		})
	}
}
