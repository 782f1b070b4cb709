package frame

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
)

// fed returns a standalone Reader holding data, ended by EOF if eof.
func fed(t testing.TB, data string, eof bool, opts ...chanstream.Option) *chanstream.Reader {
	t.Helper()
	r := chanstream.NewReader(opts...)
	if data != "" {
		if err := r.Feed(testCtx(t), []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	if eof {
		r.FeedEOF()
	}
	return r
}

// decodeAll decodes until an error and returns the frames and the error.
func decodeAll(t testing.TB, r *chanstream.Reader, dec Decoder[[]byte]) ([]string, error) {
	t.Helper()
	ctx := testCtx(t)
	var got []string
	for i := 0; i < 1_000_000; i++ {
		b, err := dec.Decode(ctx, r)
		if err != nil {
			return got, err
		}
		got = append(got, string(b))
	}
	t.Fatal("no end after a million frames")
	return nil, nil
}

func mustLen(t testing.TB, width int, order binary.ByteOrder, max int) *LengthPrefixed {
	t.Helper()
	c, err := NewLengthPrefixed(width, order, max)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustUvarint(t testing.TB, max int) *LengthPrefixed {
	t.Helper()
	c, err := NewUvarintPrefixed(max)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustDelimited(t testing.TB, delims ...string) *Delimited {
	t.Helper()
	var seps [][]byte
	for _, d := range delims {
		seps = append(seps, []byte(d))
	}
	c, err := NewDelimited(seps...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustFixed(t testing.TB, size int) *Fixed {
	t.Helper()
	c, err := NewFixed(size)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func encodeAll(t testing.TB, enc Encoder[[]byte], frames ...string) string {
	t.Helper()
	var buf []byte
	for _, f := range frames {
		var err error
		if buf, err = enc.Encode(buf, []byte(f)); err != nil {
			t.Fatalf("Encode(%q): %v", f, err)
		}
	}
	return string(buf)
}

// TestCodecs_RoundTripAndTruncation encodes frames, decodes them back, and
// checks what each codec gives for a stream cut at a frame boundary and
// inside a frame.
func TestCodecs_RoundTripAndTruncation(t *testing.T) {
	t.Parallel()
	codecs := []struct {
		name  string
		codec func(t testing.TB) Codec[[]byte]
	}{
		{"lines", func(t testing.TB) Codec[[]byte] { return NewLines() }},
		{"delimited", func(t testing.TB) Codec[[]byte] { return mustDelimited(t, "\x00", "||") }},
		{"fixed", func(t testing.TB) Codec[[]byte] { return mustFixed(t, 3) }},
		{"len1", func(t testing.TB) Codec[[]byte] { return mustLen(t, 1, binary.BigEndian, 100) }},
		{"len2be", func(t testing.TB) Codec[[]byte] { return mustLen(t, 2, binary.BigEndian, 100) }},
		{"len2le", func(t testing.TB) Codec[[]byte] { return mustLen(t, 2, binary.LittleEndian, 100) }},
		{"len4be", func(t testing.TB) Codec[[]byte] { return mustLen(t, 4, binary.BigEndian, 100) }},
		{"len4le", func(t testing.TB) Codec[[]byte] { return mustLen(t, 4, binary.LittleEndian, 100) }},
		{"len8be", func(t testing.TB) Codec[[]byte] { return mustLen(t, 8, binary.BigEndian, 100) }},
		{"len8le", func(t testing.TB) Codec[[]byte] { return mustLen(t, 8, binary.LittleEndian, 100) }},
		{"uvarint", func(t testing.TB) Codec[[]byte] { return mustUvarint(t, 1000) }},
	}
	for _, tc := range codecs {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			frames := []string{"abc", "def", "ghi"}
			if tc.name == "uvarint" {
				frames = append(frames, string(bytes.Repeat([]byte("x"), 300))) // a two-byte uvarint
			}
			wire := encodeAll(t, tc.codec(t), frames...)

			got, err := decodeAll(t, fed(t, wire, true), tc.codec(t))
			if err != io.EOF || !equal(got, frames) {
				t.Fatalf("whole stream: %q, %v; want %q, io.EOF", got, err, frames)
			}

			oneFrame := len(encodeAll(t, tc.codec(t), frames[0]))
			cut := wire[:oneFrame+2] // the first frame, and two bytes of the next
			got, err = decodeAll(t, fed(t, cut, true), tc.codec(t))
			var ie *chanstream.IncompleteReadError
			if !errors.As(err, &ie) || !errors.Is(err, io.ErrUnexpectedEOF) || !equal(got, frames[:1]) {
				t.Fatalf("cut inside a frame: %q, %v; want %q and an *IncompleteReadError", got, err, frames[:1])
			}
			if string(ie.Partial) != cut[oneFrame:] {
				t.Fatalf("Partial = %q; want %q", ie.Partial, cut[oneFrame:])
			}
		})
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLengthPrefixed_CutInsideTheLengthField(t *testing.T) {
	t.Parallel()
	c := mustLen(t, 4, binary.BigEndian, 100)
	_, err := c.Decode(testCtx(t), fed(t, "\x00\x00", true))
	var ie *chanstream.IncompleteReadError
	if !errors.As(err, &ie) || string(ie.Partial) != "\x00\x00" || ie.Expected != -1 {
		t.Fatalf("Decode = %v; want an *IncompleteReadError with the two bytes, Expected -1", err)
	}
	u := mustUvarint(t, 1000)
	_, err = u.Decode(testCtx(t), fed(t, "\x80", true))
	if !errors.As(err, &ie) || string(ie.Partial) != "\x80" || ie.Expected != -1 {
		t.Fatalf("uvarint Decode = %v; want an *IncompleteReadError with the byte, Expected -1", err)
	}
}

func TestLengthPrefixed_IncompleteBodyCountsTheHeader(t *testing.T) {
	t.Parallel()
	c := mustLen(t, 2, binary.BigEndian, 100)
	_, err := c.Decode(testCtx(t), fed(t, "\x00\x05ab", true))
	var ie *chanstream.IncompleteReadError
	if !errors.As(err, &ie) || string(ie.Partial) != "\x00\x05ab" || ie.Expected != 7 {
		t.Fatalf("Decode = %#v; want Partial %q, Expected 7", err, "\x00\x05ab")
	}
}

func TestLengthPrefixed_EmptyFrame(t *testing.T) {
	t.Parallel()
	c := mustLen(t, 4, binary.BigEndian, 100)
	wire := encodeAll(t, c, "", "x", "")
	got, err := decodeAll(t, fed(t, wire, true), c)
	if err != io.EOF || !equal(got, []string{"", "x", ""}) {
		t.Fatalf("decoded %q, %v", got, err)
	}
}

// An over-long frame gives a *FrameTooLargeError at once; the next Decode
// skips its body and returns the frame after it.
func TestLengthPrefixed_TooLargeResynchronises(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		codec *LengthPrefixed
	}{
		{"len4", mustLen(t, 4, binary.BigEndian, 10)},
		{"uvarint", mustUvarint(t, 10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			big := string(bytes.Repeat([]byte("B"), 5000))
			var wide *LengthPrefixed
			if tc.codec.width == 0 {
				wide = mustUvarint(t, 1<<20)
			} else {
				wide = mustLen(t, tc.codec.width, binary.BigEndian, 1<<20)
			}
			wire := encodeAll(t, wide, "ok", big, "after")
			r := fed(t, wire, true, chanstream.WithLimit(64))
			ctx := testCtx(t)
			if b, err := tc.codec.Decode(ctx, r); err != nil || string(b) != "ok" {
				t.Fatalf("first Decode = %q, %v", b, err)
			}
			_, err := tc.codec.Decode(ctx, r)
			var tl *FrameTooLargeError
			if !errors.Is(err, ErrFrameTooLarge) || !errors.As(err, &tl) || tl.Size != 5000 || tl.Max != 10 {
				t.Fatalf("Decode of the big frame = %v; want a *FrameTooLargeError{5000, 10}", err)
			}
			if b, err := tc.codec.Decode(ctx, r); err != nil || string(b) != "after" {
				t.Fatalf("Decode after the big frame = %q, %v; want \"after\"", b, err)
			}
			if _, err := tc.codec.Decode(ctx, r); err != io.EOF {
				t.Fatalf("last Decode = %v; want io.EOF", err)
			}
		})
	}
}

func TestLengthPrefixed_StreamEndsInsideASkippedFrame(t *testing.T) {
	t.Parallel()
	c := mustLen(t, 1, binary.BigEndian, 2)
	r := fed(t, "\x09abc", true)
	ctx := testCtx(t)
	if _, err := c.Decode(ctx, r); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("Decode = %v; want ErrFrameTooLarge", err)
	}
	if _, err := c.Decode(ctx, r); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Decode = %v; want io.ErrUnexpectedEOF", err)
	}
}

func TestLengthPrefixed_BadUvarint(t *testing.T) {
	t.Parallel()
	c := mustUvarint(t, 100)
	_, err := c.Decode(testCtx(t), fed(t, string(bytes.Repeat([]byte{0xff}, 11)), true))
	if !errors.Is(err, ErrBadLength) {
		t.Fatalf("Decode = %v; want ErrBadLength", err)
	}
}

// A done ctx consumes nothing; a ctx that ends between the length field and
// the body leaves the length with the codec, and the next Decode completes
// the frame.
func TestLengthPrefixed_CancelLosesNothing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		codec func() *LengthPrefixed
	}{
		{"len4", func() *LengthPrefixed { return mustLen(t, 4, binary.LittleEndian, 100) }},
		{"uvarint", func() *LengthPrefixed { return mustUvarint(t, 1000) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := string(bytes.Repeat([]byte("y"), 200))
			if tc.name == "len4" {
				body = "hello"
			}
			wire := encodeAll(t, tc.codec(), body, "next")
			done, cancel := context.WithCancel(context.Background())
			cancel()
			// Feed the frame byte by byte; between bytes, a Decode with a
			// done ctx and one with a short deadline must lose nothing.
			r := chanstream.NewReader()
			c := tc.codec()
			ctx := testCtx(t)
			for i := 0; i < len(wire); i++ {
				if _, err := c.Decode(done, r); !errors.Is(err, context.Canceled) {
					t.Fatalf("at byte %d: Decode(done) = %v; want context.Canceled", i, err)
				}
				if err := r.Feed(ctx, []byte{wire[i]}); err != nil {
					t.Fatal(err)
				}
				short, cancelShort := context.WithTimeout(ctx, time.Millisecond)
				b, err := c.Decode(short, r)
				cancelShort()
				if err == nil {
					if string(b) != body {
						t.Fatalf("at byte %d: Decode = %q; want the body", i, b)
					}
					r.Feed(ctx, []byte(wire[i+1:]))
					r.FeedEOF()
					got, err := decodeAll(t, r, c)
					if err != io.EOF || !equal(got, []string{"next"}) {
						t.Fatalf("after the first frame: %q, %v", got, err)
					}
					return
				}
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("at byte %d: Decode = %v; want context.DeadlineExceeded", i, err)
				}
			}
			t.Fatal("the first frame was never decoded")
		})
	}
}

func TestLengthPrefixed_OtherReaderWhilePartway(t *testing.T) {
	t.Parallel()
	c := mustLen(t, 4, binary.BigEndian, 100)
	r1 := fed(t, "\x00\x00\x00\x03a", false)
	r2 := fed(t, "\x00\x00\x00\x01z", true)
	short, cancel := context.WithTimeout(testCtx(t), 10*time.Millisecond)
	defer cancel()
	if _, err := c.Decode(short, r1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Decode(r1) = %v; want a deadline", err)
	}
	if _, err := c.Decode(testCtx(t), r2); !errors.Is(err, ErrOtherReader) {
		t.Fatalf("Decode(r2) = %v; want ErrOtherReader", err)
	}
	if r2.Buffered() != 5 {
		t.Fatalf("r2 buffers %d bytes; want 5 (nothing consumed)", r2.Buffered())
	}
	r1.Feed(testCtx(t), []byte("bc"))
	if b, err := c.Decode(testCtx(t), r1); err != nil || string(b) != "abc" {
		t.Fatalf("Decode(r1) = %q, %v; want \"abc\"", b, err)
	}
}

func TestLengthPrefixed_ReadDeadlineKeepsTheLength(t *testing.T) {
	t.Parallel()
	c := mustLen(t, 2, binary.BigEndian, 100)
	r := fed(t, "\x00\x02", false)
	r.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := c.Decode(testCtx(t), r); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Decode = %v; want os.ErrDeadlineExceeded", err)
	}
	r.SetReadDeadline(time.Time{})
	r.Feed(testCtx(t), []byte("hi"))
	if b, err := c.Decode(testCtx(t), r); err != nil || string(b) != "hi" {
		t.Fatalf("Decode = %q, %v; want \"hi\"", b, err)
	}
}

func TestConstructors_BadInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		make func() (any, error)
	}{
		{"width 0", func() (any, error) { return NewLengthPrefixed(0, binary.BigEndian, 10) }},
		{"width 3", func() (any, error) { return NewLengthPrefixed(3, binary.BigEndian, 10) }},
		{"width 16", func() (any, error) { return NewLengthPrefixed(16, binary.BigEndian, 10) }},
		{"width -4", func() (any, error) { return NewLengthPrefixed(-4, binary.BigEndian, 10) }},
		{"nil order", func() (any, error) { return NewLengthPrefixed(4, nil, 10) }},
		{"max 0", func() (any, error) { return NewLengthPrefixed(4, binary.BigEndian, 0) }},
		{"max -1", func() (any, error) { return NewLengthPrefixed(4, binary.BigEndian, -1) }},
		{"uvarint max 0", func() (any, error) { return NewUvarintPrefixed(0) }},
		{"uvarint max -5", func() (any, error) { return NewUvarintPrefixed(-5) }},
		{"fixed 0", func() (any, error) { return NewFixed(0) }},
		{"fixed -1", func() (any, error) { return NewFixed(-1) }},
		{"no delimiter", func() (any, error) { return NewDelimited() }},
		{"empty delimiter", func() (any, error) { return NewDelimited([]byte("\n"), nil) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := tc.make()
			if err == nil {
				t.Fatalf("got %v and no error", v)
			}
			t.Log(err)
		})
	}
}

func TestLengthPrefixed_MaxBoundedByTheField(t *testing.T) {
	t.Parallel()
	c := mustLen(t, 1, binary.BigEndian, 1000)
	if c.MaxSize() != 255 {
		t.Fatalf("MaxSize = %d; want 255", c.MaxSize())
	}
	if _, err := c.Encode(nil, make([]byte, 256)); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("Encode of 256 bytes = %v; want ErrFrameTooLarge", err)
	}
	dst := []byte("keep")
	out, err := mustLen(t, 2, binary.BigEndian, 3).Encode(dst, []byte("four"))
	if !errors.Is(err, ErrFrameTooLarge) || string(out) != "keep" {
		t.Fatalf("Encode over the max = %q, %v; want dst unchanged and ErrFrameTooLarge", out, err)
	}
}

func TestEncode_BadValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		enc  Encoder[[]byte]
		v    string
	}{
		{"line with newline", NewLines(), "a\nb"},
		{"line ending in CR", NewLines(), "a\r"},
		{"delimited containing a delimiter", mustDelimited(t, ";", "||"), "a||b"},
		{"fixed too short", mustFixed(t, 4), "abc"},
		{"fixed too long", mustFixed(t, 4), "abcde"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := tc.enc.Encode([]byte("keep"), []byte(tc.v))
			if !errors.Is(err, ErrFrameSize) || string(out) != "keep" {
				t.Fatalf("Encode = %q, %v; want dst unchanged and ErrFrameSize", out, err)
			}
		})
	}
}

func TestLines_DropCRAndLastLine(t *testing.T) {
	t.Parallel()
	got, err := decodeAll(t, fed(t, "a\r\nb\n\nc", true), NewLines())
	var ie *chanstream.IncompleteReadError
	if !equal(got, []string{"a", "b", ""}) || !errors.As(err, &ie) || string(ie.Partial) != "c" {
		t.Fatalf("decoded %q, %v; want a, b, \"\" and an *IncompleteReadError with \"c\"", got, err)
	}
}

func TestDelimited_NearestDelimiterAndLongestStripped(t *testing.T) {
	t.Parallel()
	c := mustDelimited(t, "\n", "\r\n", ";")
	got, err := decodeAll(t, fed(t, "a\r\nb;c\nd", true), c)
	if !equal(got, []string{"a", "b", "c"}) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("decoded %q, %v", got, err)
	}
}

// A frame with no delimiter within the reader's limit gives a
// *FrameTooLargeError at once; the next Decode skips it through its
// delimiter and returns the frame after it.
func TestDelimited_TooLargeResynchronises(t *testing.T) {
	t.Parallel()
	r := chanstream.NewReader(chanstream.WithLimit(8))
	ctx := testCtx(t)
	c := NewLines()
	errc := make(chan error, 1)
	go func() {
		err := r.Feed(ctx, []byte("ok\n"+string(bytes.Repeat([]byte("L"), 100))))
		if err == nil {
			err = r.Feed(ctx, []byte(string(bytes.Repeat([]byte("L"), 100))+"\nafter\n"))
		}
		r.FeedEOF()
		errc <- err
	}()
	if b, err := c.Decode(ctx, r); err != nil || string(b) != "ok" {
		t.Fatalf("Decode = %q, %v", b, err)
	}
	_, err := c.Decode(ctx, r)
	var tl *FrameTooLargeError
	if !errors.As(err, &tl) || tl.Max != 8 {
		t.Fatalf("Decode = %v; want a *FrameTooLargeError with Max 8", err)
	}
	if b, err := c.Decode(ctx, r); err != nil || string(b) != "after" {
		t.Fatalf("Decode = %q, %v; want \"after\"", b, err)
	}
	if _, err := c.Decode(ctx, r); err != io.EOF {
		t.Fatalf("Decode = %v; want io.EOF", err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestDecoders_DoneCtxConsumesNothing(t *testing.T) {
	t.Parallel()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		dec  Decoder[[]byte]
		wire string
	}{
		{"lines", NewLines(), "abc\n"},
		{"delimited", mustDelimited(t, ";"), "abc;"},
		{"fixed", mustFixed(t, 3), "abc"},
		{"len2", mustLen(t, 2, binary.BigEndian, 10), "\x00\x03abc"},
		{"uvarint", mustUvarint(t, 10), "\x03abc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := fed(t, tc.wire, true)
			if _, err := tc.dec.Decode(done, r); !errors.Is(err, context.Canceled) {
				t.Fatalf("Decode(done) = %v; want context.Canceled", err)
			}
			if r.Buffered() != len(tc.wire) {
				t.Fatalf("%d bytes buffered after a done ctx; want %d", r.Buffered(), len(tc.wire))
			}
			if b, err := tc.dec.Decode(testCtx(t), r); err != nil || string(b) != "abc" {
				t.Fatalf("Decode = %q, %v; want \"abc\"", b, err)
			}
		})
	}
}

func TestDecoders_StreamErrorAfterFrames(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	r := chanstream.NewReader()
	c := mustLen(t, 1, binary.BigEndian, 10)
	r.Feed(testCtx(t), []byte(encodeAll(t, c, "a", "b")))
	r.FeedError(boom)
	got, err := decodeAll(t, r, c)
	if !equal(got, []string{"a", "b"}) || !errors.Is(err, boom) {
		t.Fatalf("decoded %q, %v; want a, b and the stream's error", got, err)
	}
}

func TestDelimited_OtherReaderWhileSkipping(t *testing.T) {
	t.Parallel()
	c := NewLines()
	r1 := fed(t, "0123456789", false, chanstream.WithLimit(4))
	r2 := fed(t, "z\n", true)
	if _, err := c.Decode(testCtx(t), r1); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("Decode(r1) = %v; want ErrFrameTooLarge", err)
	}
	if _, err := c.Decode(testCtx(t), r2); !errors.Is(err, ErrOtherReader) {
		t.Fatalf("Decode(r2) = %v; want ErrOtherReader", err)
	}
	if r2.Buffered() != 2 {
		t.Fatalf("r2 buffers %d bytes; want 2 (nothing consumed)", r2.Buffered())
	}
	r1.Feed(testCtx(t), []byte("rest\nnext\n"))
	if b, err := c.Decode(testCtx(t), r1); err != nil || string(b) != "next" {
		t.Fatalf("Decode(r1) = %q, %v; want \"next\"", b, err)
	}
	if b, err := NewLines().Decode(testCtx(t), r2); err != nil || string(b) != "z" {
		t.Fatalf("a new Lines on r2 = %q, %v; want \"z\"", b, err)
	}
}
