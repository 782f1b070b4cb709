package fanin_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/fanin"
	"github.com/chanstream/chanstream/chanstream/streamtest"
	"github.com/chanstream/chanstream/internal/testnet"
)

// TestMain fails the package's tests on a leaked goroutine: goleak, through
// streamtest.VerifyTestMain, which first waits for chanstream's own to end.
func TestMain(m *testing.M) { streamtest.VerifyTestMain(m) }

// pair returns a loopback TCP connection: the peer's end, and the other end
// as a stream, closed at the end of the test.
func pair(t testing.TB) (*net.TCPConn, *chanstream.Stream) {
	t.Helper()
	peer, conn := streamtest.TCPPair(t)
	s := chanstream.NewStream(conn)
	t.Cleanup(func() {
		s.Abort()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.WaitClosed(ctx)
	})
	return peer, s
}

func lines(prefix string, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%s %d\n", prefix, i)
	}
	return b.String()
}

// receive takes one Msg from f.C, failing the test after a bound.
func receive[K comparable, T any](t *testing.T, ctx context.Context, f *fanin.Fanin[K, T]) fanin.Msg[K, T] {
	t.Helper()
	select {
	case m, ok := <-f.C:
		if !ok {
			t.Fatal("C closed")
		}
		return m
	case <-ctx.Done():
		t.Fatal("no value on C")
		return fanin.Msg[K, T]{}
	}
}

// rest reads s until EOF and returns what it read.
func rest(t *testing.T, ctx context.Context, s *chanstream.Stream) string {
	t.Helper()
	data, err := s.ReadChunk(ctx, -1)
	if err != nil {
		t.Fatalf("reading the rest: %v", err)
	}
	return string(data)
}

func TestFanin_MergesEachStreamInOrderWithEOFInBand(t *testing.T) {
	ctx := testnet.Ctx(t, 20*time.Second)
	const streams, n = 4, 200
	f := fanin.Lines[int](0)
	defer f.Stop()
	for k := range streams {
		peer, s := pair(t)
		if k%2 == 0 {
			if err := f.Add(k, s.Reader()); err != nil {
				t.Fatal(err)
			}
		} else {
			go f.Serve(ctx, k, s.Reader())
		}
		go func() {
			peer.Write([]byte(lines(fmt.Sprint(k), n)))
			peer.CloseWrite()
		}()
	}
	got := make(map[int][]string)
	for ended := 0; ended < streams; {
		m := receive(t, ctx, f)
		if m.Err != nil {
			if m.Err != io.EOF {
				t.Fatalf("stream %d: %v", m.Key, m.Err)
			}
			ended++
			continue
		}
		got[m.Key] = append(got[m.Key], string(m.Value))
	}
	for k := range streams {
		if want := lines(fmt.Sprint(k), n); strings.Join(got[k], "") != want {
			t.Errorf("stream %d: got %d lines, out of order or missing", k, len(got[k]))
		}
	}
	testnet.Eventually(t, "every stream left the set", func() bool { return f.Len() == 0 })
}

func TestFanin_ServeReturnsNilAtTheEndOfTheStream(t *testing.T) {
	ctx := testnet.Ctx(t, 20*time.Second)
	f := fanin.Lines[string](0)
	defer f.Stop()
	peer, s := pair(t)
	peer.Write([]byte("one\ntwo"))
	peer.CloseWrite()
	done := make(chan error, 1)
	go func() {
		_, err := f.Serve(ctx, "a", s.Reader())
		done <- err
	}()
	for _, want := range []fanin.Msg[string, []byte]{{"a", []byte("one\n"), nil}, {"a", []byte("two"), nil}, {"a", nil, io.EOF}} {
		m := receive(t, ctx, f)
		if m.Key != want.Key || string(m.Value) != string(want.Value) || m.Err != want.Err {
			t.Fatalf("got %q %q %v, want %q %q %v", m.Key, m.Value, m.Err, want.Key, want.Value, want.Err)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

func TestFanin_InBandErrors(t *testing.T) {
	ctx := testnet.Ctx(t, 20*time.Second)
	f := fanin.Lines[string](0)
	defer f.Stop()

	peer, s := pair(t)
	peer.Write([]byte("before\n"))
	peer.SetLinger(0)
	peer.Close() // a reset
	f.Add("reset", s.Reader())

	long, s2 := pair(t)
	long.Write([]byte(strings.Repeat("x", chanstream.DefaultLimit+10) + "\n"))
	f.Add("long", s2.Reader())

	var resetErr, longErr error
	sawBefore := false
	for resetErr == nil || longErr == nil {
		m := receive(t, ctx, f)
		switch {
		case m.Key == "reset" && m.Err == nil:
			sawBefore = string(m.Value) == "before\n"
		case m.Key == "reset":
			resetErr = m.Err
		case m.Key == "long":
			if m.Err == nil {
				t.Fatalf("a line over the limit was delivered")
			}
			longErr = m.Err
		}
	}
	if !sawBefore {
		t.Error("the line before the reset was not delivered")
	}
	if resetErr == io.EOF {
		t.Errorf("a reset was delivered as io.EOF")
	}
	if !errors.Is(longErr, chanstream.ErrLimitOverrun) {
		t.Errorf("over-long line: got %v, want ErrLimitOverrun", longErr)
	}
}

func TestFanin_RemoveLosesNothing(t *testing.T) {
	for _, tc := range []struct {
		viaServe bool
		buffer   int
	}{{false, 0}, {true, 0}, {false, fanin.DefaultBuffer}, {true, fanin.DefaultBuffer}} {
		viaServe := tc.viaServe
		t.Run(fmt.Sprintf("serve=%v,buffer=%d", tc.viaServe, tc.buffer), func(t *testing.T) {
			ctx := testnet.Ctx(t, 20*time.Second)
			f := fanin.Lines[string](tc.buffer)
			defer f.Stop()
			peer, s := pair(t)
			const n = 100
			all := lines("l", n)
			peer.Write([]byte(all))
			peer.CloseWrite()
			served := make(chan error, 1)
			if viaServe {
				go func() {
					_, err := f.Serve(ctx, "k", s.Reader())
					served <- err
				}()
			} else if err := f.Add("k", s.Reader()); err != nil {
				t.Fatal(err)
			}
			var got strings.Builder
			for range 10 {
				got.Write(receive(t, ctx, f).Value)
			}
			undelivered, err := f.Remove(ctx, "k")
			if err != nil {
				t.Fatal(err)
			}
			if len(undelivered) > 1 {
				t.Errorf("%d values undelivered, want at most 1", len(undelivered))
			}
			// What C held was read before; Stop gives it.
			for _, m := range f.Stop() {
				got.Write(m.Value)
			}
			for _, v := range undelivered {
				got.Write(v)
			}
			got.WriteString(rest(t, ctx, s))
			if got.String() != all {
				t.Errorf("delivered + undelivered + the rest differ from what was sent:\n%q", got.String())
			}
			if f.Has("k") {
				t.Error("the key is still in the set")
			}
			if tc.buffer == 0 && viaServe {
				if err := <-served; err != fanin.ErrRemoved {
					t.Errorf("Serve: got %v, want ErrRemoved", err)
				}
			}
		})
	}
}

func TestFanin_StopLosesNothing(t *testing.T) {
	for _, buffer := range []int{0, fanin.DefaultBuffer} {
		t.Run(fmt.Sprint("buffer=", buffer), func(t *testing.T) { testStopLosesNothing(t, buffer) })
	}
}

func testStopLosesNothing(t *testing.T, buffer int) {
	ctx := testnet.Ctx(t, 20*time.Second)
	f := fanin.Lines[int](buffer)
	const streams, n = 3, 50
	var ss []*chanstream.Stream
	for k := range streams {
		peer, s := pair(t)
		peer.Write([]byte(lines(fmt.Sprint(k), n)))
		peer.CloseWrite()
		ss = append(ss, s)
		f.Add(k, s.Reader())
	}
	got := make([]strings.Builder, streams)
	for range 20 {
		m := receive(t, ctx, f)
		got[m.Key].Write(m.Value)
	}
	for _, m := range f.Stop() {
		got[m.Key].Write(m.Value)
	}
	if _, ok := <-f.C; ok {
		t.Fatal("C delivered a value after Stop")
	}
	for k, s := range ss {
		got[k].WriteString(rest(t, ctx, s))
		if got[k].String() != lines(fmt.Sprint(k), n) {
			t.Errorf("stream %d lost or repeated lines", k)
		}
	}
	if f.Stop() != nil {
		t.Error("a second Stop returned values")
	}
}

func TestFanin_ServeCtxDoneReturnsTheUndeliveredValue(t *testing.T) {
	ctx := testnet.Ctx(t, 20*time.Second)
	f := fanin.Lines[string](0)
	defer f.Stop()
	peer, s := pair(t)
	peer.Write([]byte("a\nb\nc\n"))
	serveCtx, cancel := context.WithCancel(ctx)
	type result struct {
		undelivered [][]byte
		err         error
	}
	done := make(chan result, 1)
	go func() {
		u, err := f.Serve(serveCtx, "k", s.Reader())
		done <- result{u, err}
	}()
	if m := receive(t, ctx, f); string(m.Value) != "a\n" {
		t.Fatalf("got %q", m.Value)
	}
	// The loop has read "b\n" or is reading it: it cannot deliver it, as
	// nobody receives from C now.
	cancel()
	r := <-done
	if r.err != context.Canceled {
		t.Fatalf("Serve: got %v, want context.Canceled", r.err)
	}
	var got strings.Builder
	for _, v := range r.undelivered {
		got.Write(v)
	}
	peer.CloseWrite()
	got.WriteString(rest(t, ctx, s))
	if got.String() != "b\nc\n" {
		t.Errorf("undelivered + the rest: got %q, want %q", got.String(), "b\nc\n")
	}
	if f.Has("k") {
		t.Error("the key is still in the set")
	}
}

func TestFanin_BadInput(t *testing.T) {
	ctx := testnet.Ctx(t, 20*time.Second)
	f := fanin.Lines[string](0)
	_, s := pair(t)
	if err := f.Add("k", s.Reader()); err != nil {
		t.Fatal(err)
	}
	_, s2 := pair(t)
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"Add duplicate key", func() error { return f.Add("k", s2.Reader()) }, fanin.ErrDuplicateKey},
		{"Serve duplicate key", func() error { _, err := f.Serve(ctx, "k", s2.Reader()); return err }, fanin.ErrDuplicateKey},
		{"Add nil reader", func() error { return f.Add("n", nil) }, fanin.ErrNilReader},
		{"Serve nil reader", func() error { _, err := f.Serve(ctx, "n", nil); return err }, fanin.ErrNilReader},
		{"Remove unknown key", func() error { _, err := f.Remove(ctx, "nope"); return err }, fanin.ErrUnknownKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	if !f.Has("k") || f.Len() != 1 {
		t.Error("bad input changed the set")
	}
	f.Stop()
	if err := f.Add("x", s2.Reader()); err != fanin.ErrStopped {
		t.Errorf("Add after Stop: got %v, want ErrStopped", err)
	}
	if _, err := f.Remove(ctx, "k"); err != fanin.ErrStopped {
		t.Errorf("Remove after Stop: got %v, want ErrStopped", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("New(nil) did not panic")
			}
		}()
		fanin.New[string, []byte](nil, 0)
	}()
	func() {
		defer func() {
			if recover() == nil {
				t.Error("a negative buffer did not panic")
			}
		}()
		fanin.Lines[string](-1)
	}()
}

// TestFanin_ConcurrentAddRemove adds and removes streams from several
// goroutines while the consumer receives, and checks that each stream's
// delivered, undelivered and remaining data add up to what its peer sent.
func TestFanin_ConcurrentAddRemove(t *testing.T) {
	for _, buffer := range []int{0, fanin.DefaultBuffer} {
		t.Run(fmt.Sprint("buffer=", buffer), func(t *testing.T) { testConcurrentAddRemove(t, buffer) })
	}
}

func testConcurrentAddRemove(t *testing.T, buffer int) {
	ctx := testnet.Ctx(t, 60*time.Second)
	f := fanin.Lines[int](buffer)
	const streams, n = 16, 100
	type stream struct {
		s         *chanstream.Stream
		delivered strings.Builder // written by the consumer only
		mu        sync.Mutex
		kept      strings.Builder // undelivered values, under mu
	}
	ss := make([]*stream, streams)
	for k := range ss {
		peer, s := pair(t)
		ss[k] = &stream{s: s}
		go func() {
			peer.Write([]byte(lines(fmt.Sprint(k), n)))
			peer.CloseWrite()
		}()
	}
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		for m := range f.C {
			if m.Err == nil {
				ss[m.Key].delivered.Write(m.Value)
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 20 {
				k := (w*5 + round*3) % streams
				st := ss[k]
				if err := f.Add(k, st.s.Reader()); err != nil {
					continue // another worker has it
				}
				u, err := f.Remove(ctx, k)
				if err != nil && !errors.Is(err, fanin.ErrUnknownKey) {
					t.Errorf("Remove: %v", err)
				}
				st.mu.Lock()
				for _, v := range u {
					st.kept.Write(v)
				}
				st.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for k, st := range ss {
		// Serve lets the streams finish through the fan-in, until EOF.
		if err := f.Add(k, st.s.Reader()); err != nil {
			t.Fatal(err)
		}
	}
	testnet.Eventually(t, "every stream ended", func() bool { return f.Len() == 0 })
	left := f.Stop() // what the consumer had not taken from C yet
	<-consumed
	for _, m := range left {
		if m.Err == nil {
			ss[m.Key].delivered.Write(m.Value)
		}
	}
	for k, st := range ss {
		// Each line is delivered or kept, exactly once, and each of the
		// two parts is in the order sent.
		seen := make(map[string]bool)
		for _, part := range []string{st.delivered.String(), st.kept.String()} {
			last := -1
			for _, line := range strings.SplitAfter(part, "\n") {
				if line == "" {
					continue
				}
				var key, i int
				fmt.Sscanf(line, "%d %d", &key, &i)
				if key != k || i <= last || seen[line] {
					t.Fatalf("stream %d: line %q out of order, repeated or foreign", k, line)
				}
				last = i
				seen[line] = true
			}
		}
		if len(seen) != n {
			t.Errorf("stream %d: %d lines delivered or kept, want %d", k, len(seen), n)
		}
	}
}

// readFrame reads a frame of a 1-byte length and a body: the header with
// ctx, the body without its cancel, so that a frame is never cut in two.
func readFrame(ctx context.Context, r *chanstream.Reader) ([]byte, error) {
	header, err := r.ReadExactly(ctx, 1)
	if err != nil {
		return nil, err
	}
	return r.ReadExactly(context.WithoutCancel(ctx), int(header[0]))
}

func TestFanin_FramesWithACustomReadFunc(t *testing.T) {
	ctx := testnet.Ctx(t, 20*time.Second)
	f := fanin.New[string](readFrame, 0)
	defer f.Stop()
	peer, s := pair(t)
	peer.Write([]byte("\x05hello\x00\x03abc"))
	peer.CloseWrite()
	f.Add("k", s.Reader())
	for _, want := range []string{"hello", "", "abc"} {
		if m := receive(t, ctx, f); m.Err != nil || string(m.Value) != want {
			t.Fatalf("got %q, %v; want %q", m.Value, m.Err, want)
		}
	}
	var ie *chanstream.IncompleteReadError
	if m := receive(t, ctx, f); !errors.As(m.Err, &ie) || len(ie.Partial) != 0 {
		t.Fatalf("at the end: %v, want an IncompleteReadError with nothing read", m.Err)
	}
}
