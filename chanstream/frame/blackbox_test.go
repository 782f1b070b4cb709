package frame_test

// Black-box tests of the codecs, Receiver and Send, written from the package's
// doc comments alone.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/frame"
	"github.com/chanstream/chanstream/chanstream/streamtest"
)

func bbCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// bbReader returns a reader fed with data in pieces of at most piece bytes,
// then EOF.
func bbReader(t *testing.T, ctx context.Context, data []byte, piece int, opts ...chanstream.Option) *chanstream.Reader {
	t.Helper()
	r := chanstream.NewReader(opts...)
	go func() {
		for len(data) > 0 {
			n := min(piece, len(data))
			if err := r.Feed(ctx, data[:n]); err != nil {
				t.Error(err)
				return
			}
			data = data[n:]
		}
		r.FeedEOF()
	}()
	return r
}

type bbCodec struct {
	name  string
	codec frame.Codec[[]byte]
}

func bbLengthCodecs(t *testing.T, maxSize int) []bbCodec {
	t.Helper()
	var out []bbCodec
	for _, width := range []int{1, 2, 4, 8} {
		for _, order := range []binary.ByteOrder{binary.BigEndian, binary.LittleEndian} {
			c, err := frame.NewLengthPrefixed(width, order, maxSize)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, bbCodec{fmt.Sprintf("%d-%v", width, order), c})
		}
	}
	c, err := frame.NewUvarintPrefixed(maxSize)
	if err != nil {
		t.Fatal(err)
	}
	return append(out, bbCodec{"uvarint", c})
}

// Every length-prefixed codec: the wire format is as documented, a round trip
// through pieces of every size gives the frames back, then io.EOF.
func TestBlackbox_LengthPrefixedRoundTrip(t *testing.T) {
	ctx := bbCtx(t)
	frames := [][]byte{{}, []byte("a"), []byte("hello"), bytes.Repeat([]byte("z"), 200), bytes.Repeat([]byte("q"), 255)}
	for _, tc := range bbLengthCodecs(t, 255) {
		t.Run(tc.name, func(t *testing.T) {
			var wire []byte
			for _, f := range frames {
				var err error
				wire, err = tc.codec.Encode(wire, f)
				if err != nil {
					t.Fatal(err)
				}
			}
			// The wire format, checked by hand.
			var want []byte
			for _, f := range frames {
				want = bbAppendLength(t, want, tc.name, len(f))
				want = append(want, f...)
			}
			if !bytes.Equal(wire, want) {
				t.Fatalf("Encode wrote %x, want %x", wire, want)
			}
			for _, piece := range []int{1, 2, 3, 7, 1 << 20} {
				r := bbReader(t, ctx, wire, piece)
				for i, f := range frames {
					got, err := tc.codec.Decode(ctx, r)
					if err != nil || !bytes.Equal(got, f) {
						t.Fatalf("piece %d frame %d: Decode = %q, %v", piece, i, got, err)
					}
				}
				if got, err := tc.codec.Decode(ctx, r); err != io.EOF {
					t.Fatalf("piece %d: Decode at the end = %q, %v, want io.EOF", piece, got, err)
				}
			}
		})
	}
}

func bbAppendLength(t *testing.T, dst []byte, name string, n int) []byte {
	var w int
	var order binary.AppendByteOrder
	if name == "uvarint" {
		return binary.AppendUvarint(dst, uint64(n))
	}
	fmt.Sscanf(name, "%d-", &w)
	order = binary.BigEndian
	if strings.Contains(name, "Little") {
		order = binary.LittleEndian
	}
	switch w {
	case 1:
		return append(dst, byte(n))
	case 2:
		return order.AppendUint16(dst, uint16(n))
	case 4:
		return order.AppendUint32(dst, uint32(n))
	case 8:
		return order.AppendUint64(dst, uint64(n))
	}
	t.Fatalf("bad name %s", name)
	return nil
}

// Truncated inside the length field: IncompleteReadError with Expected -1;
// inside the body: Expected the whole frame's size, Partial all of it that
// arrived, length field included.
func TestBlackbox_LengthPrefixedTruncated(t *testing.T) {
	ctx := bbCtx(t)
	for _, tc := range bbLengthCodecs(t, 1000) {
		t.Run(tc.name, func(t *testing.T) {
			whole, _ := tc.codec.Encode(nil, bytes.Repeat([]byte("b"), 300))
			if tc.name[:2] == "1-" {
				whole, _ = tc.codec.Encode(nil, bytes.Repeat([]byte("b"), 200))
			}
			head := len(whole) - 300
			if tc.name[:2] == "1-" {
				head = len(whole) - 200
			}
			for cut := 1; cut < len(whole); cut++ {
				if cut > head+3 && cut < len(whole)-2 {
					continue
				}
				r := bbReader(t, ctx, whole[:cut], 2)
				_, err := tc.codec.Decode(ctx, r)
				var ie *chanstream.IncompleteReadError
				if !errors.As(err, &ie) || !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("cut %d: Decode err = %v, want an IncompleteReadError", cut, err)
				}
				if !bytes.Equal(ie.Partial, whole[:cut]) {
					t.Fatalf("cut %d: Partial = %x, want %x", cut, ie.Partial, whole[:cut])
				}
				wantExp := len(whole)
				if cut < head {
					wantExp = -1
				}
				if ie.Expected != wantExp {
					t.Fatalf("cut %d: Expected = %d, want %d", cut, ie.Expected, wantExp)
				}
				if _, err := tc.codec.Decode(ctx, r); err != io.EOF {
					t.Fatalf("cut %d: Decode after the truncated frame = %v, want io.EOF", cut, err)
				}
			}
		})
	}
}

// A frame over the maximum: FrameTooLargeError at once, and the next Decode
// returns the frame after it.
func TestBlackbox_LengthPrefixedTooLargeResyncs(t *testing.T) {
	ctx := bbCtx(t)
	for _, tc := range bbLengthCodecs(t, 10) {
		t.Run(tc.name, func(t *testing.T) {
			big, err := bbOther(t, tc.name).Encode(nil, bytes.Repeat([]byte("X"), 200))
			if err != nil {
				t.Fatal(err)
			}
			wire, _ := tc.codec.Encode(nil, []byte("before"))
			wire = append(wire, big...)
			wire, _ = tc.codec.Encode(wire, []byte("after"))
			r := bbReader(t, ctx, wire, 3)
			if got, err := tc.codec.Decode(ctx, r); string(got) != "before" || err != nil {
				t.Fatalf("Decode = %q, %v", got, err)
			}
			_, err = tc.codec.Decode(ctx, r)
			var tl *frame.FrameTooLargeError
			if !errors.As(err, &tl) || !errors.Is(err, frame.ErrFrameTooLarge) || tl.Size != 200 || tl.Max != 10 {
				t.Fatalf("Decode of the big frame = %v (%+v), want FrameTooLargeError{200, 10}", err, tl)
			}
			if got, err := tc.codec.Decode(ctx, r); string(got) != "after" || err != nil {
				t.Fatalf("Decode after the big frame = %q, %v", got, err)
			}
			if _, err := tc.codec.Decode(ctx, r); err != io.EOF {
				t.Fatalf("Decode at the end = %v", err)
			}
			if _, err := tc.codec.Encode(nil, make([]byte, 11)); !errors.Is(err, frame.ErrFrameTooLarge) {
				t.Fatalf("Encode over the max = %v", err)
			}
		})
	}
}

// bbOther returns a codec of the same wire format as name with a large max.
func bbOther(t *testing.T, name string) frame.Codec[[]byte] {
	for _, c := range bbLengthCodecs(t, 255) {
		if c.name == name {
			return c.codec
		}
	}
	t.Fatal(name)
	return nil
}

func TestBlackbox_UvarintBad(t *testing.T) {
	ctx := bbCtx(t)
	c, _ := frame.NewUvarintPrefixed(100)
	r := bbReader(t, ctx, bytes.Repeat([]byte{0xff}, 12), 5)
	if _, err := c.Decode(ctx, r); !errors.Is(err, frame.ErrBadLength) {
		t.Fatalf("Decode of an 11-byte uvarint = %v, want ErrBadLength", err)
	}
}

func TestBlackbox_BadInput(t *testing.T) {
	for _, tc := range []struct {
		name  string
		width int
		order binary.ByteOrder
		max   int
	}{
		{"width 0", 0, binary.BigEndian, 10},
		{"width 3", 3, binary.BigEndian, 10},
		{"width -1", -1, binary.BigEndian, 10},
		{"nil order", 4, nil, 10},
		{"zero max", 4, binary.BigEndian, 0},
		{"negative max", 4, binary.BigEndian, -5},
	} {
		if c, err := frame.NewLengthPrefixed(tc.width, tc.order, tc.max); err == nil || c != nil {
			t.Errorf("%s: NewLengthPrefixed = %v, %v; want an error", tc.name, c, err)
		} else if !strings.HasPrefix(err.Error(), "frame: ") {
			t.Errorf("%s: error %q lacks the package prefix", tc.name, err)
		}
	}
	for _, max := range []int{0, -1} {
		if _, err := frame.NewUvarintPrefixed(max); err == nil {
			t.Errorf("NewUvarintPrefixed(%d) did not fail", max)
		}
	}
	for _, size := range []int{0, -1} {
		if _, err := frame.NewFixed(size); err == nil {
			t.Errorf("NewFixed(%d) did not fail", size)
		}
	}
	if _, err := frame.NewDelimited(); err == nil {
		t.Error("NewDelimited() did not fail")
	}
	if _, err := frame.NewDelimited([]byte(","), nil); err == nil {
		t.Error("NewDelimited with an empty delimiter did not fail")
	}
	// The one-byte field caps the maximum at 255.
	c, err := frame.NewLengthPrefixed(1, binary.BigEndian, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxSize() > 255 {
		t.Errorf("MaxSize of a one-byte length field = %d", c.MaxSize())
	}
	if _, err := c.Encode(nil, make([]byte, 256)); !errors.Is(err, frame.ErrFrameTooLarge) {
		t.Errorf("Encode of 256 bytes with a one-byte field = %v", err)
	}
	c2, _ := frame.NewLengthPrefixed(2, binary.LittleEndian, 1<<20)
	if c2.MaxSize() > 65535 {
		t.Errorf("MaxSize of a two-byte length field = %d", c2.MaxSize())
	}
	// Encode errors leave dst unchanged.
	f, _ := frame.NewFixed(4)
	if got, err := f.Encode([]byte("ab"), []byte("xyz")); !errors.Is(err, frame.ErrFrameSize) || string(got) != "ab" {
		t.Errorf("Fixed.Encode of 3 bytes = %q, %v", got, err)
	}
	lines := frame.NewLines()
	for _, v := range []string{"a\nb", "ends in cr\r"} {
		if got, err := lines.Encode([]byte("ab"), []byte(v)); !errors.Is(err, frame.ErrFrameSize) || string(got) != "ab" {
			t.Errorf("Lines.Encode(%q) = %q, %v", v, got, err)
		}
	}
}

func TestBlackbox_Fixed(t *testing.T) {
	ctx := bbCtx(t)
	f, err := frame.NewFixed(5)
	if err != nil || f.Size() != 5 {
		t.Fatal(f, err)
	}
	wire := []byte("abcdefghijklm") // two frames and 3 bytes
	r := bbReader(t, ctx, wire, 2)
	for _, want := range []string{"abcde", "fghij"} {
		if got, err := f.Decode(ctx, r); string(got) != want || err != nil {
			t.Fatalf("Decode = %q, %v", got, err)
		}
	}
	_, err = f.Decode(ctx, r)
	var ie *chanstream.IncompleteReadError
	if !errors.As(err, &ie) || string(ie.Partial) != "klm" || ie.Expected != 5 {
		t.Fatalf("Decode of the truncated frame = %v", err)
	}
	if _, err := f.Decode(ctx, r); err != io.EOF {
		t.Fatalf("Decode at the end = %v", err)
	}
	if got, err := f.Encode([]byte("x"), []byte("12345")); string(got) != "x12345" || err != nil {
		t.Fatalf("Encode = %q, %v", got, err)
	}
}

func TestBlackbox_LinesAndDelimited(t *testing.T) {
	ctx := bbCtx(t)
	lines := frame.NewLines()
	r := bbReader(t, ctx, []byte("one\r\ntwo\n\nthree\r\nlast"), 1)
	for _, want := range []string{"one", "two", "", "three"} {
		if got, err := lines.Decode(ctx, r); string(got) != want || err != nil {
			t.Fatalf("Lines.Decode = %q, %v; want %q", got, err, want)
		}
	}
	_, err := lines.Decode(ctx, r)
	var ie *chanstream.IncompleteReadError
	if !errors.As(err, &ie) || string(ie.Partial) != "last" || ie.Expected != -1 {
		t.Fatalf("Lines.Decode of the unterminated line = %v", err)
	}
	if _, err := lines.Decode(ctx, r); err != io.EOF {
		t.Fatalf("Decode at the end = %v", err)
	}
	if got, _ := lines.Encode(nil, []byte("hi")); string(got) != "hi\n" {
		t.Fatalf("Lines.Encode = %q", got)
	}

	d, err := frame.NewDelimited([]byte(";;"), []byte(","), []byte("\n"))
	if err != nil {
		t.Fatal(err)
	}
	r = bbReader(t, ctx, []byte("a,b;;c\nd;,e;;"), 1)
	for _, want := range []string{"a", "b", "c", "d;", "e"} {
		if got, err := d.Decode(ctx, r); string(got) != want || err != nil {
			t.Fatalf("Delimited.Decode = %q, %v; want %q", got, err, want)
		}
	}
	if _, err := d.Decode(ctx, r); err != io.EOF {
		t.Fatalf("Decode at the end = %v", err)
	}
	if got, _ := d.Encode(nil, []byte("x")); string(got) != "x;;" {
		t.Fatalf("Delimited.Encode = %q, want the first delimiter", got)
	}
	if _, err := d.Encode(nil, []byte("a,b")); !errors.Is(err, frame.ErrFrameSize) {
		t.Fatalf("Encode of a frame holding a delimiter = %v", err)
	}
}

// A delimited frame longer than the reader's limit: FrameTooLargeError, then
// the frame after it.
func TestBlackbox_DelimitedTooLargeResyncs(t *testing.T) {
	ctx := bbCtx(t)
	d, _ := frame.NewDelimited([]byte("|"))
	wire := "ok|" + strings.Repeat("y", 5000) + "|next|"
	r := bbReader(t, ctx, []byte(wire), 7, chanstream.WithLimit(64))
	if got, err := d.Decode(ctx, r); string(got) != "ok" || err != nil {
		t.Fatalf("Decode = %q, %v", got, err)
	}
	if _, err := d.Decode(ctx, r); !errors.Is(err, frame.ErrFrameTooLarge) {
		t.Fatalf("Decode of the long frame = %v", err)
	}
	if got, err := d.Decode(ctx, r); string(got) != "next" || err != nil {
		t.Fatalf("Decode after the long frame = %q, %v", got, err)
	}
	if _, err := d.Decode(ctx, r); err != io.EOF {
		t.Fatalf("Decode at the end = %v", err)
	}
}

// A Decode cut by ctx between the length field and the body loses nothing.
func TestBlackbox_DecodeCancelMidFrame(t *testing.T) {
	ctx := bbCtx(t)
	c, _ := frame.NewLengthPrefixed(4, binary.BigEndian, 100)
	wire, _ := c.Encode(nil, []byte("0123456789"))
	r := chanstream.NewReader()
	r.Feed(ctx, wire[:6]) // the length field and 2 bytes of body
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Decode(cctx, r); !errors.Is(err, context.Canceled) {
		t.Fatalf("Decode with a done ctx = %v", err)
	}
	short, sc := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err := c.Decode(short, r)
	sc()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Decode of a partial frame = %v", err)
	}
	// Another reader while partway: ErrOtherReader, nothing consumed.
	other := chanstream.NewReader()
	other.Feed(ctx, wire)
	if _, err := c.Decode(ctx, other); !errors.Is(err, frame.ErrOtherReader) {
		t.Fatalf("Decode on another reader = %v", err)
	}
	if other.Buffered() != len(wire) {
		t.Fatalf("ErrOtherReader consumed: Buffered = %d", other.Buffered())
	}
	r.Feed(ctx, wire[6:])
	if got, err := c.Decode(ctx, r); string(got) != "0123456789" || err != nil {
		t.Fatalf("Decode completing the frame = %q, %v", got, err)
	}
}

// Receiver over a real TCP stream fed by Send: every message in order, then
// io.EOF; Stop halfway gives back what was decoded and not received.
func TestBlackbox_SendAndReceiverOverTCP(t *testing.T) {
	ctx := bbCtx(t)
	a, b := streamtest.TCPPair(t)
	sa := chanstream.NewStream(a, chanstream.WithWriteBufferLimits(2048, 512))
	sb := chanstream.NewStream(b)
	defer streamtest.CloseStreams(t, sa, sb)
	codec, _ := frame.NewLengthPrefixed(2, binary.LittleEndian, 4096)

	const n = 2000
	ch := make(chan []byte)
	sent := make(chan error, 1)
	go func() {
		left, err := frame.Send(ctx, sa.Writer(), codec, ch)
		if err == nil && left != nil {
			err = fmt.Errorf("Send returned %d messages with a nil error", len(left))
		}
		if err == nil {
			err = sa.WriteEOF()
		}
		sent <- err
	}()
	go func() {
		defer close(ch)
		for i := range n {
			select {
			case ch <- []byte(fmt.Sprintf("message %d %s", i, strings.Repeat("p", i%300))):
			case <-ctx.Done():
				return
			}
		}
	}()

	var got [][]byte
	rc := frame.NewReceiver(ctx, sb.Reader(), codec)
	for len(got) < 700 {
		m, ok := <-rc.C
		if !ok {
			t.Fatalf("C closed: %v", rc.Err())
		}
		got = append(got, m)
	}
	got = append(got, rc.Stop()...)
	if _, ok := <-rc.C; ok {
		t.Fatal("C not empty after Stop")
	}
	if rc.Err() != nil {
		t.Fatalf("Err after Stop = %v", rc.Err())
	}
	// The same decoder goes on.
	rc = frame.NewReceiver(ctx, sb.Reader(), codec)
	for m := range rc.C {
		got = append(got, m)
	}
	if err := rc.Err(); err != io.EOF {
		t.Fatalf("Err = %v, want io.EOF", err)
	}
	if left := rc.Stop(); len(left) != 0 {
		t.Fatalf("Stop after the end gave back %d", len(left))
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("got %d messages, want %d", len(got), n)
	}
	for i, m := range got {
		if want := fmt.Sprintf("message %d %s", i, strings.Repeat("p", i%300)); string(m) != want {
			t.Fatalf("message %d = %q", i, m)
		}
	}
}

// A Receiver whose ctx is done: C keeps its messages for the consumer, and
// Stop returns the rest, so that with what was received nothing is lost.
func TestBlackbox_ReceiverCtxDone(t *testing.T) {
	ctx := bbCtx(t)
	f, _ := frame.NewFixed(3)
	const n = 100
	var wire []byte
	for i := range n {
		wire = fmt.Appendf(wire, "%03d", i)
	}
	r := chanstream.NewReader()
	r.Feed(ctx, wire)
	rctx, cancel := context.WithCancel(ctx)
	rc := frame.NewReceiver(rctx, r, f)
	var got []string
	got = append(got, string(<-rc.C))
	deadline := time.Now().Add(20 * time.Second)
	for len(rc.C) < cap(rc.C) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	for m := range rc.C {
		got = append(got, string(m))
		if len(got) == 5 {
			break
		}
	}
	for rc.Err() == nil && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if !errors.Is(rc.Err(), context.Canceled) {
		t.Fatalf("Err = %v", rc.Err())
	}
	for _, m := range rc.Stop() {
		got = append(got, string(m))
	}
	for {
		m, err := f.Decode(ctx, r)
		if err != nil {
			t.Fatalf("Decode after Stop: %v (after %d)", err, len(got))
		}
		got = append(got, string(m))
		if len(got) == n {
			break
		}
	}
	for i, m := range got {
		if m != fmt.Sprintf("%03d", i) {
			t.Fatalf("message %d = %q; all: %q", i, m, got)
		}
	}
}

// Send returns the messages it took but did not queue when the writer fails.
func TestBlackbox_SendClosedWriter(t *testing.T) {
	ctx := bbCtx(t)
	a, _ := streamtest.TCPPair(t)
	s := chanstream.NewStream(a)
	s.Close()
	ch := make(chan []byte, 3)
	ch <- []byte("x")
	ch <- []byte("y")
	close(ch)
	left, err := frame.Send(ctx, s.Writer(), frame.NewLines(), ch)
	if !errors.Is(err, chanstream.ErrClosed) {
		t.Fatalf("Send on a closed writer = %v", err)
	}
	var all []string
	for _, m := range left {
		all = append(all, string(m))
	}
	for m := range ch {
		all = append(all, string(m))
	}
	if strings.Join(all, "") != "xy" {
		t.Fatalf("messages lost: returned and left %q", all)
	}
	if err := frame.Write(ctx, s.Writer(), frame.NewLines(), []byte("z")); !errors.Is(err, chanstream.ErrClosed) {
		t.Fatalf("Write on a closed writer = %v", err)
	}
	streamtest.CloseStreams(t, s)
}

// Send stops on an Encode error, returning the bad message first.
func TestBlackbox_SendEncodeError(t *testing.T) {
	ctx := bbCtx(t)
	a, b := streamtest.TCPPair(t)
	s := chanstream.NewStream(a)
	defer streamtest.CloseStreams(t, s)
	f, _ := frame.NewFixed(2)
	ch := make(chan []byte, 4)
	for _, m := range []string{"ok", "no!", "zz"} {
		ch <- []byte(m)
	}
	close(ch)
	left, err := frame.Send(ctx, s.Writer(), f, ch)
	if !errors.Is(err, frame.ErrFrameSize) {
		t.Fatalf("Send = %v", err)
	}
	var rest []string
	for _, m := range left {
		rest = append(rest, string(m))
	}
	for m := range ch {
		rest = append(rest, string(m))
	}
	if strings.Join(rest, ",") != "no!,zz" {
		t.Fatalf("Send gave back %q, want the bad message and the one after", rest)
	}
	s.WriteEOF()
	got, _ := io.ReadAll(b)
	if string(got) != "ok" {
		t.Fatalf("peer got %q", got)
	}
}

// A Receiver stopped while its Decode is partway through a frame (the length
// field read, the body not all there): the decoder keeps the length field, and
// a new Receiver with the same decoder completes the frame.
func TestBlackbox_ReceiverStopMidFrame(t *testing.T) {
	ctx := bbCtx(t)
	c, _ := frame.NewLengthPrefixed(4, binary.BigEndian, 100)
	wire, _ := c.Encode(nil, []byte("first"))
	second, _ := c.Encode(nil, []byte("0123456789"))
	wire = append(wire, second[:7]...) // the length field and 3 bytes of body
	r := chanstream.NewReader()
	r.Feed(ctx, wire)
	rc := frame.NewReceiver(ctx, r, c)
	if m := <-rc.C; string(m) != "first" {
		t.Fatalf("C gave %q", m)
	}
	deadline := time.Now().Add(20 * time.Second)
	for r.Buffered() != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("Buffered = %d, the length field never read", r.Buffered())
		}
		time.Sleep(time.Millisecond)
	}
	if left := rc.Stop(); len(left) != 0 {
		t.Fatalf("Stop gave back %q", left)
	}
	if rc.Err() != nil {
		t.Fatalf("Err after Stop = %v", rc.Err())
	}
	r.Feed(ctx, second[7:])
	r.FeedEOF()
	rc = frame.NewReceiver(ctx, r, c)
	var got []string
	for m := range rc.C {
		got = append(got, string(m))
	}
	rc.Stop()
	if rc.Err() != io.EOF || strings.Join(got, ",") != "0123456789" {
		t.Fatalf("second Receiver gave %q, %v", got, rc.Err())
	}
}

// Write of a frame longer than the room between the watermarks, ended by ctx
// partway: an error matching both ErrPartialFrame and the ctx's error.
func TestBlackbox_WritePartialFrame(t *testing.T) {
	ctx := bbCtx(t)
	peer, conn := streamtest.PipeSize(t, 4096)
	s := chanstream.NewStream(conn, chanstream.WithWriteBufferLimits(1024, 256))
	defer streamtest.CloseStreams(t, s)
	codec, _ := frame.NewLengthPrefixed(4, binary.BigEndian, 8<<20)
	// Fill the pipe, then queue 100 bytes behind it: the queue is below the
	// low watermark, and stays there while the peer does not read.
	if _, err := s.Write(bytes.Repeat([]byte("p"), 4096)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for peer.Buffered() < 4096 {
		if time.Now().After(deadline) {
			t.Fatal("the pipe never filled")
		}
		time.Sleep(time.Millisecond)
	}
	s.Write(bytes.Repeat([]byte("q"), 96))
	if b := s.Writer().Buffered(); b != 96 {
		t.Fatalf("Buffered = %d", b)
	}
	wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	err := frame.Write(wctx, s.Writer(), codec, bytes.Repeat([]byte("g"), 1<<20))
	if !errors.Is(err, frame.ErrPartialFrame) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Write of a big frame cut by ctx = %v, want ErrPartialFrame and DeadlineExceeded", err)
	}
	// A done ctx queues nothing, even for a frame that would fit.
	before := s.Writer().Buffered()
	dctx, dcancel := context.WithCancel(ctx)
	dcancel()
	if err := frame.Write(dctx, s.Writer(), codec, []byte("small")); !errors.Is(err, context.Canceled) || errors.Is(err, frame.ErrPartialFrame) {
		t.Fatalf("Write with a done ctx = %v", err)
	}
	if after := s.Writer().Buffered(); after > before {
		t.Fatalf("Write with a done ctx queued: Buffered %d -> %d", before, after)
	}
	s.Abort()
}

// NewReceiver with a nil reader or decoder panics in the caller with a clear
// message, rather than in the Receiver's goroutine, which would end the
// program.
func TestBlackbox_NewReceiverNil(t *testing.T) {
	ctx := bbCtx(t)
	var nilCodec *frame.LengthPrefixed
	for name, f := range map[string]func(){
		"nil reader":  func() { frame.NewReceiver(ctx, nil, frame.NewLines()) },
		"nil decoder": func() { frame.NewReceiver[[]byte](ctx, chanstream.NewReader(), nil) },
		"nil pointer decoder": func() {
			frame.NewReceiver[[]byte](ctx, chanstream.NewReader(), nilCodec)
		},
	} {
		func() {
			defer func() {
				msg, _ := recover().(string)
				if !strings.HasPrefix(msg, "frame: ") {
					t.Errorf("%s: panic %q, want a frame message", name, msg)
				}
			}()
			f()
		}()
	}
}

// Send ended by ctx while a burst of small frames waits at the watermark:
// the frames the peer reads, those Send returns and those left in ch are every
// message once, in order, and no frame is cut.
func TestBlackbox_SendBurstCutByCtx(t *testing.T) {
	ctx := bbCtx(t)
	peer, conn := streamtest.PipeSize(t, 4096)
	s := chanstream.NewStream(conn, chanstream.WithWriteBufferLimits(1024, 256))
	codec, _ := frame.NewFixed(100)
	const n = 200
	ch := make(chan []byte, n)
	for i := range n {
		ch <- fmt.Appendf(nil, "%099d\n", i)
	}
	close(ch)
	sctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	left, err := frame.Send(sctx, s.Writer(), codec, ch)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, frame.ErrPartialFrame) {
		t.Fatalf("Send = %v, want the ctx's error alone", err)
	}
	s.Close()
	data, err := io.ReadAll(peer)
	if err != nil || len(data)%100 != 0 {
		t.Fatalf("peer read %d bytes, %v: not whole frames", len(data), err)
	}
	var all []string
	for i := 0; i < len(data); i += 100 {
		all = append(all, string(data[i:i+100]))
	}
	for _, m := range left {
		all = append(all, string(m))
	}
	for m := range ch {
		all = append(all, string(m))
	}
	if len(all) != n {
		t.Fatalf("%d messages read, returned and left, want %d", len(all), n)
	}
	for i, m := range all {
		if m != fmt.Sprintf("%099d\n", i) {
			t.Fatalf("message %d is %.10q", i, m)
		}
	}
	streamtest.CloseStreams(t, s)
}
