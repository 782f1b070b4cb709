package frame

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/chanstream/chanstream/chanstream"
)

// fuzzCodec picks a length-prefixed codec from cfg: the field's width and
// order, and a small maximum so that over-long frames occur.
func fuzzCodec(t testing.TB, cfg byte, max int) *LengthPrefixed {
	width := []int{0, 1, 2, 4, 8}[int(cfg)%5]
	var order binary.ByteOrder = binary.BigEndian
	if cfg&8 != 0 {
		order = binary.LittleEndian
	}
	var c *LengthPrefixed
	var err error
	if width == 0 {
		c, err = NewUvarintPrefixed(max)
	} else {
		c, err = NewLengthPrefixed(width, order, max)
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// feedPieces feeds wire to r in pieces of piece bytes from a goroutine,
// then FeedEOF; the returned func waits for it.
func feedPieces(ctx context.Context, r *chanstream.Reader, wire []byte, piece int) func() error {
	done := make(chan error, 1)
	go func() {
		var err error
		for len(wire) > 0 && err == nil {
			n := min(piece, len(wire))
			err = r.Feed(ctx, wire[:n])
			wire = wire[n:]
		}
		r.FeedEOF()
		done <- err
	}()
	return func() error { return <-done }
}

// FuzzLengthPrefixed encodes the frames of data (split at 0xff) with a codec
// that takes them all, and decodes them with one whose maximum is smaller:
// every frame within the maximum comes back, in order, and every other one
// gives a *FrameTooLargeError and is skipped. Then it decodes data itself as
// a stream, which must end in a bounded number of steps without a panic.
func FuzzLengthPrefixed(f *testing.F) {
	f.Add([]byte("hello\xffworld\xff\xff"), byte(0), byte(3), uint8(5))
	f.Add([]byte("a\xffbb\xffccc"), byte(3), byte(1), uint8(2))
	f.Add(bytes.Repeat([]byte("z"), 300), byte(9), byte(2), uint8(200))
	f.Add([]byte{0xff, 0xff, 0xff, 0x80, 0x01}, byte(5), byte(0), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, cfg, piece byte, max uint8) {
		ctx := testCtx(t)
		limit := int(max) + 1
		wide := fuzzCodec(t, cfg, 1<<16)
		narrow := fuzzCodec(t, cfg, limit)
		var wire []byte
		var want []string
		var tooLarge int
		for _, fr := range bytes.Split(data, []byte{0xff}) {
			if len(fr) > wide.MaxSize() {
				fr = fr[:wide.MaxSize()]
			}
			var err error
			if wire, err = wide.Encode(wire, fr); err != nil {
				t.Fatal(err)
			}
			if len(fr) <= narrow.MaxSize() {
				want = append(want, string(fr))
			} else {
				tooLarge++
			}
		}
		r := chanstream.NewReader()
		wait := feedPieces(ctx, r, wire, int(piece)%9+1)
		var got []string
		var errs int
		for {
			b, err := narrow.Decode(ctx, r)
			if errors.Is(err, ErrFrameTooLarge) {
				errs++
				continue
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			got = append(got, string(b))
		}
		if err := wait(); err != nil {
			t.Fatal(err)
		}
		if !equal(got, want) || errs != tooLarge {
			t.Fatalf("decoded %q with %d too large; want %q with %d", got, errs, want, tooLarge)
		}

		// data as a stream: each step consumes bytes or ends it.
		r = chanstream.NewReader()
		wait = feedPieces(ctx, r, data, int(piece)%9+1)
		for steps := 0; ; steps++ {
			if steps > len(data)+1 {
				t.Fatalf("%d Decode calls on %d bytes", steps, len(data))
			}
			_, err := narrow.Decode(ctx, r)
			if err == nil || errors.Is(err, ErrFrameTooLarge) {
				continue
			}
			if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, ErrBadLength) {
				break
			}
			t.Fatalf("Decode: %v", err)
		}
		r.ReadChunk(ctx, -1) // let the feeder finish
		if err := wait(); err != nil {
			t.Fatal(err)
		}
	})
}
