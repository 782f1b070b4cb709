package fanin_test

// Black-box tests of Fanin, written from the package's doc comments alone.

import (
	"context"
	"encoding/binary"
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
	"github.com/chanstream/chanstream/chanstream/frame"
	"github.com/chanstream/chanstream/chanstream/streamtest"
)

func bbCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func bbLines(key string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s %d\n", key, i)
	}
	return out
}

func bbRecv[K comparable, T any](t *testing.T, ctx context.Context, f *fanin.Fanin[K, T]) fanin.Msg[K, T] {
	t.Helper()
	select {
	case m, ok := <-f.C:
		if !ok {
			t.Fatal("C closed")
		}
		return m
	case <-ctx.Done():
		t.Fatal("no value on C")
	}
	panic("unreachable")
}

// Streams join (Add and Serve) and leave (Remove, their end) while the fan-in
// runs; every value is tagged with its stream, each stream's arrive in order,
// its end is in band, and what Remove and Stop return together with what the
// streams still buffer is everything: nothing lost, nothing twice.
func TestBlackbox_ChangingSetNothingLost(t *testing.T) {
	for _, buffer := range []int{0, 1, 7, fanin.DefaultBuffer} {
		t.Run(fmt.Sprint("buffer ", buffer), func(t *testing.T) {
			bbChangingSet(t, buffer)
		})
	}
}

func bbChangingSet(t *testing.T, buffer int) {
	ctx := bbCtx(t)
	const perStream = 300
	keys := []string{"s0", "s1", "s2", "s3", "s4", "s5"}
	readers := map[string]*chanstream.Reader{}
	want := map[string][]string{}
	for i, k := range keys {
		r := chanstream.NewReader()
		want[k] = bbLines(k, perStream)
		if err := r.Feed(ctx, []byte(strings.Join(want[k], ""))); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			r.FeedEOF() // ends in band; the others never end
		}
		readers[k] = r
	}
	f := fanin.Lines[string](buffer)
	got := map[string][]string{}
	ends := map[string]int{}
	record := func(m fanin.Msg[string, []byte]) {
		if ends[m.Key] > 0 {
			t.Fatalf("%s: value after its end: %q, %v", m.Key, m.Value, m.Err)
		}
		if m.Err != nil {
			if m.Err != io.EOF {
				t.Fatalf("%s: in-band error %v", m.Key, m.Err)
			}
			if len(m.Value) != 0 {
				t.Fatalf("%s: value with the end: %q", m.Key, m.Value)
			}
			ends[m.Key]++
			return
		}
		got[m.Key] = append(got[m.Key], string(m.Value))
	}

	for _, k := range keys[:3] {
		if err := f.Add(k, readers[k]); err != nil {
			t.Fatal(err)
		}
	}
	var serving sync.WaitGroup
	serveErr := map[string]error{}
	serveLeft := map[string][][]byte{}
	var mu sync.Mutex
	serve := func(k string) {
		serving.Add(1)
		go func() {
			defer serving.Done()
			left, err := f.Serve(ctx, k, readers[k])
			mu.Lock()
			serveErr[k], serveLeft[k] = err, left
			mu.Unlock()
		}()
	}
	removed := map[string][][]byte{}
	for n := 0; n < 1000; n++ {
		record(bbRecv(t, ctx, f))
		switch n {
		case 50:
			if err := f.Add("s4", readers["s4"]); err != nil {
				t.Fatal(err)
			}
			serve("s3") // never ends: only Remove takes it out
		case 150:
			bbRemove(t, ctx, f, "s1", removed)
		case 400:
			serve("s5")
		case 600:
			// s3 may not have joined yet: wait until it has.
			bbWait(t, func() bool { return f.Has("s3") })
			bbRemove(t, ctx, f, "s3", removed)
		}
	}
	left := f.Stop()
	for _, m := range left {
		record(m)
	}
	if _, ok := <-f.C; ok {
		t.Fatal("C open after Stop")
	}
	if again := f.Stop(); again != nil {
		t.Fatalf("second Stop returned %d", len(again))
	}
	serving.Wait()
	if !errors.Is(serveErr["s3"], fanin.ErrRemoved) {
		t.Errorf("Serve of a removed stream = %v, want ErrRemoved", serveErr["s3"])
	}
	if len(serveLeft["s3"]) != 0 {
		t.Errorf("Serve of a removed stream returned values: %q", serveLeft["s3"])
	}
	if err := serveErr["s5"]; err != nil && !errors.Is(err, fanin.ErrStopped) {
		t.Errorf("Serve ended by Stop = %v, want ErrStopped or nil (ended first)", err)
	}
	if err := f.Add("s9", chanstream.NewReader()); !errors.Is(err, fanin.ErrStopped) {
		t.Errorf("Add after Stop = %v", err)
	}
	if _, err := f.Remove(ctx, "s0"); !errors.Is(err, fanin.ErrStopped) {
		t.Errorf("Remove after Stop = %v", err)
	}

	for i, k := range keys {
		all := got[k]
		for _, v := range removed[k] {
			all = append(all, string(v))
		}
		if i%2 == 1 {
			readers[k].FeedEOF()
		}
		for {
			line, err := readers[k].ReadLine(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: ReadLine after Stop: %v", k, err)
			}
			all = append(all, string(line))
		}
		if strings.Join(all, "") != strings.Join(want[k], "") {
			t.Errorf("%s: %d lines delivered, given back and left, want %d in order; got\n%q", k, len(all), perStream, all)
		}
		if ends[k] > 1 {
			t.Errorf("%s: %d ends", k, ends[k])
		}
		if ends[k] == 1 && i%2 == 1 {
			t.Errorf("%s: an end for a stream that never ended", k)
		}
	}
}

func bbRemove(t *testing.T, ctx context.Context, f *fanin.Fanin[string, []byte], key string, removed map[string][][]byte) {
	t.Helper()
	und, err := f.Remove(ctx, key)
	if err != nil {
		t.Fatalf("Remove(%s): %v", key, err)
	}
	if len(und) > 1 {
		t.Fatalf("Remove(%s) returned %d values, at most one", key, len(und))
	}
	if f.Has(key) {
		t.Fatalf("Has(%s) after Remove", key)
	}
	removed[key] = und
	if _, err := f.Remove(ctx, key); !errors.Is(err, fanin.ErrUnknownKey) {
		t.Fatalf("second Remove(%s) = %v", key, err)
	}
}

// With buffer 0, Remove returns everything read and not received: the next
// read of the stream is the value after what the consumer took.
func TestBlackbox_RemoveUnbuffered(t *testing.T) {
	ctx := bbCtx(t)
	r := chanstream.NewReader()
	lines := bbLines("x", 10)
	r.Feed(ctx, []byte(strings.Join(lines, "")))
	f := fanin.Lines[int](0)
	defer f.Stop()
	if err := f.Add(1, r); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if m := bbRecv(t, ctx, f); string(m.Value) != lines[i] || m.Key != 1 {
			t.Fatalf("Msg %d = %+v", i, m)
		}
	}
	und, err := f.Remove(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	next := 3
	for _, v := range und {
		if string(v) != lines[next] {
			t.Fatalf("Remove gave back %q, want %q", v, lines[next])
		}
		next++
	}
	if line, err := r.ReadLine(ctx); string(line) != lines[next] || err != nil {
		t.Fatalf("ReadLine after Remove = %q, %v; want %q", line, err, lines[next])
	}
	select {
	case m := <-f.C:
		t.Fatalf("C holds %+v after Remove with buffer 0", m)
	default:
	}
}

// The end of each stream is in band: io.EOF at a clean end, the stream's
// error otherwise; the stream leaves the set.
func TestBlackbox_InBandEnds(t *testing.T) {
	ctx := bbCtx(t)
	boom := errors.New("boom")
	clean := chanstream.NewReader()
	clean.Feed(ctx, []byte("a\nlast"))
	clean.FeedEOF()
	broken := chanstream.NewReader()
	broken.Feed(ctx, []byte("b\n"))
	broken.FeedError(boom)
	f := fanin.Lines[string](4)
	defer f.Stop()
	f.Add("clean", clean)
	f.Add("broken", broken)
	got := map[string][]string{}
	errs := map[string]error{}
	for len(errs) < 2 {
		m := bbRecv(t, ctx, f)
		if m.Err != nil {
			errs[m.Key] = m.Err
			continue
		}
		got[m.Key] = append(got[m.Key], string(m.Value))
	}
	if strings.Join(got["clean"], "") != "a\nlast" || errs["clean"] != io.EOF {
		t.Errorf("clean: %q, %v", got["clean"], errs["clean"])
	}
	if strings.Join(got["broken"], "") != "b\n" || errs["broken"] != boom {
		t.Errorf("broken: %q, %v", got["broken"], errs["broken"])
	}
	for _, k := range []string{"clean", "broken"} {
		bbWait(t, func() bool { return !f.Has(k) })
	}
	if f.Len() != 0 {
		t.Errorf("Len = %d after both ended", f.Len())
	}
	if _, err := f.Remove(ctx, "clean"); !errors.Is(err, fanin.ErrUnknownKey) {
		t.Errorf("Remove of an ended stream = %v", err)
	}
	// The key may be used again once its stream ended.
	again := chanstream.NewReader()
	again.FeedEOF()
	if err := f.Add("clean", again); err != nil {
		t.Errorf("Add under an ended key = %v", err)
	}
}

func bbWait(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}

// Over real TCP: a peer's half-close is the stream's in-band io.EOF; a peer's
// reset is an in-band error; a line over the limit ends the stream's loop.
func TestBlackbox_TCPEnds(t *testing.T) {
	ctx := bbCtx(t)
	f := fanin.Lines[string](fanin.DefaultBuffer)
	defer f.Stop()
	peers := map[string]interface {
		Write([]byte) (int, error)
		CloseWrite() error
		SetLinger(int) error
		Close() error
	}{}
	var streams []*chanstream.Stream
	for _, k := range []string{"eof", "reset", "limit"} {
		p, c := streamtest.TCPPair(t)
		s := chanstream.NewStream(c, chanstream.WithLimit(32))
		streams = append(streams, s)
		peers[k] = p
		if err := f.Add(k, s.Reader()); err != nil {
			t.Fatal(err)
		}
	}
	defer streamtest.CloseStreams(t, streams...)
	peers["eof"].Write([]byte("one\ntwo\n"))
	peers["eof"].CloseWrite()
	peers["limit"].Write([]byte("ok\n" + strings.Repeat("L", 100) + "\n"))
	got := map[string][]string{}
	errs := map[string]error{}
	for len(errs) < 2 {
		m := bbRecv(t, ctx, f)
		if m.Err != nil {
			errs[m.Key] = m.Err
		} else {
			got[m.Key] = append(got[m.Key], string(m.Value))
		}
	}
	peers["reset"].Write([]byte("r\n"))
	peers["reset"].SetLinger(0)
	peers["reset"].Close()
	for len(errs) < 3 {
		m := bbRecv(t, ctx, f)
		if m.Err != nil {
			errs[m.Key] = m.Err
		} else {
			got[m.Key] = append(got[m.Key], string(m.Value))
		}
	}
	if strings.Join(got["eof"], "") != "one\ntwo\n" || errs["eof"] != io.EOF {
		t.Errorf("eof: %q, %v", got["eof"], errs["eof"])
	}
	if strings.Join(got["limit"], "") != "ok\n" || !errors.Is(errs["limit"], chanstream.ErrLimitOverrun) {
		t.Errorf("limit: %q, %v", got["limit"], errs["limit"])
	}
	if errs["reset"] == nil || errs["reset"] == io.EOF {
		t.Errorf("reset: in-band %v, want the reset", errs["reset"])
	}
	if strings.Join(got["reset"], "") != "r\n" {
		t.Errorf("reset: lines %q, want the line sent before the reset", got["reset"])
	}
}

// Serve ended by its ctx returns what it read and did not deliver, with
// ctx.Err(); the stream's next read is the value after it.
func TestBlackbox_ServeCtxDone(t *testing.T) {
	ctx := bbCtx(t)
	r := chanstream.NewReader()
	lines := bbLines("v", 20)
	r.Feed(ctx, []byte(strings.Join(lines, "")))
	f := fanin.Lines[int](0)
	defer f.Stop()
	sctx, cancel := context.WithCancel(ctx)
	type result struct {
		left [][]byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		left, err := f.Serve(sctx, 7, r)
		done <- result{left, err}
	}()
	var all []string
	for range 4 {
		all = append(all, string(bbRecv(t, ctx, f).Value))
	}
	cancel()
	res := <-done
	if !errors.Is(res.err, context.Canceled) {
		t.Fatalf("Serve = %v, want context.Canceled", res.err)
	}
	if f.Has(7) {
		t.Fatal("key still in the set after Serve returned")
	}
	for _, v := range res.left {
		all = append(all, string(v))
	}
	r.FeedEOF()
	for {
		line, err := r.ReadLine(ctx)
		if err == io.EOF {
			break
		}
		all = append(all, string(line))
	}
	if strings.Join(all, "") != strings.Join(lines, "") {
		t.Fatalf("got %q", all)
	}
}

func TestBlackbox_BadInput(t *testing.T) {
	ctx := bbCtx(t)
	f := fanin.Lines[string](0)
	defer f.Stop()
	if err := f.Add("a", nil); !errors.Is(err, fanin.ErrNilReader) {
		t.Errorf("Add(nil) = %v", err)
	}
	if _, err := f.Serve(ctx, "a", nil); !errors.Is(err, fanin.ErrNilReader) {
		t.Errorf("Serve(nil) = %v", err)
	}
	r := chanstream.NewReader()
	r.Feed(ctx, []byte("x\n"))
	if err := f.Add("a", r); err != nil {
		t.Fatal(err)
	}
	other := chanstream.NewReader()
	other.Feed(ctx, []byte("y\n"))
	if err := f.Add("a", other); !errors.Is(err, fanin.ErrDuplicateKey) {
		t.Errorf("Add of a key in the set = %v", err)
	}
	if _, err := f.Serve(ctx, "a", other); !errors.Is(err, fanin.ErrDuplicateKey) {
		t.Errorf("Serve of a key in the set = %v", err)
	}
	if other.Buffered() != 2 {
		t.Errorf("a refused Add or Serve read from the stream")
	}
	if _, err := f.Remove(ctx, "nope"); !errors.Is(err, fanin.ErrUnknownKey) {
		t.Errorf("Remove of an unknown key = %v", err)
	}
	if f.Len() != 1 {
		t.Errorf("Len = %d", f.Len())
	}
	for name, fn := range map[string]func(){
		"nil read":        func() { fanin.New[string, []byte](nil, 0) },
		"negative buffer": func() { fanin.Lines[string](-1) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			fn()
		}()
	}
	left := f.Stop()
	var all []string
	for _, m := range left {
		all = append(all, string(m.Value))
	}
	if rest := r.Buffered(); rest > 0 {
		line, _ := r.ReadLine(ctx)
		all = append(all, string(line))
	}
	if strings.Join(all, "") != "x\n" {
		t.Errorf("Stop and the reader hold %q, want x", all)
	}
	if _, err := f.Serve(ctx, "b", other); !errors.Is(err, fanin.ErrStopped) {
		t.Errorf("Serve after Stop = %v", err)
	}
}

// With buffer 0 and nobody receiving, Remove and Stop called from the consumer
// goroutine take back the value a loop is blocked sending.
func TestBlackbox_RemoveAndStopWhileBlockedOnC(t *testing.T) {
	ctx := bbCtx(t)
	f := fanin.Lines[string](0)
	readers := map[string]*chanstream.Reader{}
	for _, k := range []string{"a", "b", "c"} {
		r := chanstream.NewReader()
		r.Feed(ctx, []byte(strings.Join(bbLines(k, 5), "")))
		readers[k] = r
		if err := f.Add(k, r); err != nil {
			t.Fatal(err)
		}
	}
	// Every loop read its first line and waits to send it: Buffered drops.
	for k, r := range readers {
		want := len(strings.Join(bbLines(k, 5)[1:], ""))
		bbWait(t, func() bool { return r.Buffered() == want })
	}
	und, err := f.Remove(ctx, "b")
	if err != nil || len(und) != 1 || string(und[0]) != "b 0\n" {
		t.Fatalf("Remove = %q, %v; want the first line", und, err)
	}
	left := f.Stop()
	got := map[string]string{}
	for _, m := range left {
		if m.Err != nil {
			t.Fatalf("Stop returned an end: %+v", m)
		}
		got[m.Key] += string(m.Value)
	}
	if got["a"] != "a 0\n" || got["c"] != "c 0\n" || got["b"] != "" {
		t.Fatalf("Stop returned %q", got)
	}
	for k, r := range readers {
		if line, err := r.ReadLine(ctx); err != nil || string(line) != k+" 1\n" {
			t.Fatalf("%s: ReadLine after Stop = %q, %v", k, line, err)
		}
	}
}

// A stream closed locally while in the set ends in band with ErrClosed.
func TestBlackbox_StreamClosedInSet(t *testing.T) {
	ctx := bbCtx(t)
	peer, conn := streamtest.TCPPair(t)
	s := chanstream.NewStream(conn)
	f := fanin.Lines[int](fanin.DefaultBuffer)
	defer f.Stop()
	f.Add(1, s.Reader())
	peer.Write([]byte("hi\n"))
	if m := bbRecv(t, ctx, f); string(m.Value) != "hi\n" || m.Err != nil {
		t.Fatalf("Msg = %+v", m)
	}
	s.Close()
	m := bbRecv(t, ctx, f)
	if !errors.Is(m.Err, chanstream.ErrClosed) {
		t.Fatalf("Msg after Close = %+v, want ErrClosed", m)
	}
	streamtest.CloseStreams(t, s)
}

// A fan-in of frames, with a length-prefixed decoder per stream: a stream
// removed partway through a frame loses nothing, and its decoder completes
// the frame on the next Decode.
func TestBlackbox_FramesRemovedMidFrame(t *testing.T) {
	ctx := bbCtx(t)
	decoders := map[*chanstream.Reader]*frame.LengthPrefixed{}
	var mu sync.Mutex
	read := func(ctx context.Context, r *chanstream.Reader) ([]byte, error) {
		mu.Lock()
		d := decoders[r]
		mu.Unlock()
		return d.Decode(ctx, r)
	}
	f := fanin.New[string](read, fanin.DefaultBuffer)
	defer f.Stop()
	type side struct {
		peer net.Conn
		s    *chanstream.Stream
	}
	sides := map[string]side{}
	var streams []*chanstream.Stream
	for _, k := range []string{"x", "y"} {
		peer, conn := streamtest.TCPPair(t)
		s := chanstream.NewStream(conn)
		streams = append(streams, s)
		d, _ := frame.NewLengthPrefixed(2, binary.BigEndian, 1000)
		mu.Lock()
		decoders[s.Reader()] = d
		mu.Unlock()
		sides[k] = side{peer, s}
		if err := f.Add(k, s.Reader()); err != nil {
			t.Fatal(err)
		}
	}
	defer streamtest.CloseStreams(t, streams...)
	enc, _ := frame.NewLengthPrefixed(2, binary.BigEndian, 1000)
	one, _ := enc.Encode(nil, []byte("x first"))
	two, _ := enc.Encode(nil, []byte("x second, cut in two"))
	sides["x"].peer.Write(append(one, two[:5]...))
	other, _ := enc.Encode(nil, []byte("y only"))
	sides["y"].peer.Write(other)
	got := map[string]string{}
	for len(got) < 2 {
		m := bbRecv(t, ctx, f)
		if m.Err != nil {
			t.Fatalf("%s: %v", m.Key, m.Err)
		}
		got[m.Key] = string(m.Value)
	}
	if got["x"] != "x first" || got["y"] != "y only" {
		t.Fatalf("got %q", got)
	}
	// Wait until x's loop has read the second frame's length field and waits
	// for its body.
	bbWait(t, func() bool { return sides["x"].s.Reader().Buffered() == 3 })
	und, err := f.Remove(ctx, "x")
	if err != nil || len(und) != 0 {
		t.Fatalf("Remove = %q, %v", und, err)
	}
	sides["x"].peer.Write(two[5:])
	x := sides["x"].s.Reader()
	mu.Lock()
	d := decoders[x]
	mu.Unlock()
	if v, err := d.Decode(ctx, x); err != nil || string(v) != "x second, cut in two" {
		t.Fatalf("Decode after Remove = %q, %v", v, err)
	}
}

// A Remove whose ctx is already done loses nothing: the value the loop held
// comes back from Remove, or arrives on C once the loop lets go, or comes
// back from Stop; and the stream's next read returns the value after it.
func TestBlackbox_RemoveWithADoneCtxLosesNothing(t *testing.T) {
	ctx := bbCtx(t)
	for i := 0; i < 100; i++ {
		f := fanin.Lines[int](0)
		r := chanstream.NewReader()
		lines := bbLines("a", 3)
		r.Feed(ctx, []byte(strings.Join(lines, "")))
		if err := f.Add(1, r); err != nil {
			t.Fatal(err)
		}
		// The loop has read the first line and waits to put it in C.
		bbWait(t, func() bool { return r.Buffered() == len(strings.Join(lines[1:], "")) })
		done, cancel := context.WithCancel(ctx)
		cancel()
		und, err := f.Remove(done, 1)
		var got []string
		for _, v := range und {
			got = append(got, string(v))
		}
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Remove: %v", err)
			}
			if i%2 == 0 { // the consumer receives it
				select {
				case m := <-f.C:
					if m.Key != 1 || m.Err != nil {
						t.Fatalf("C gave %+v", m)
					}
					got = append(got, string(m.Value))
				case <-ctx.Done():
					t.Fatal("the held line never reached C")
				}
			}
		}
		for _, m := range f.Stop() {
			got = append(got, string(m.Value))
		}
		if len(got) != 1 || got[0] != lines[0] {
			t.Fatalf("round %d: Remove (err %v), C and Stop gave %q, want [%q]", i, err, got, lines[0])
		}
		if line, err := r.ReadLine(ctx); err != nil || string(line) != lines[1] {
			t.Fatalf("round %d: next ReadLine = %q, %v; want %q", i, line, err, lines[1])
		}
	}
}
