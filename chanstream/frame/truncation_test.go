package frame

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/chanstream/chanstream/chanstream"
)

// truncationCodec is a codec under the truncation and maximum-size tables.
type truncationCodec struct {
	name string
	// make returns a codec; maxSize is the frame maximum for the codecs
	// that have one (the delimited ones take theirs from the reader's limit).
	make func(t testing.TB, maxSize int) Codec[[]byte]
	// first, second are two frames the codec can carry.
	first, second string
	// bodyExpected is IncompleteReadError.Expected for a stream that ends
	// inside the second frame's body: "frame" for the whole encoded frame,
	// "body" for the frame itself, "unknown" for -1.
	bodyExpected string
	// hasMax: the codec has a maximum frame size.
	hasMax bool
	// delimited: the maximum is the reader's limit.
	delimited bool
}

var long = strings.Repeat("x", 200) // a two-byte uvarint length

var truncationCodecs = []truncationCodec{
	{"lines", func(t testing.TB, _ int) Codec[[]byte] { return NewLines() }, "abc", long, "unknown", true, true},
	{"any-delimiter", func(t testing.TB, _ int) Codec[[]byte] { return mustDelimited(t, "\x00", "||") }, "abc", long, "unknown", true, true},
	{"fixed", func(t testing.TB, _ int) Codec[[]byte] { return mustFixed(t, 4) }, "abcd", "efgh", "body", false, false},
	{"len1", func(t testing.TB, m int) Codec[[]byte] { return mustLen(t, 1, binary.BigEndian, m) }, "abc", long, "frame", true, false},
	{"len2be", func(t testing.TB, m int) Codec[[]byte] { return mustLen(t, 2, binary.BigEndian, m) }, "abc", long, "frame", true, false},
	{"len2le", func(t testing.TB, m int) Codec[[]byte] { return mustLen(t, 2, binary.LittleEndian, m) }, "abc", long, "frame", true, false},
	{"len4be", func(t testing.TB, m int) Codec[[]byte] { return mustLen(t, 4, binary.BigEndian, m) }, "abc", long, "frame", true, false},
	{"len4le", func(t testing.TB, m int) Codec[[]byte] { return mustLen(t, 4, binary.LittleEndian, m) }, "abc", long, "frame", true, false},
	{"len8be", func(t testing.TB, m int) Codec[[]byte] { return mustLen(t, 8, binary.BigEndian, m) }, "abc", long, "frame", true, false},
	{"len8le", func(t testing.TB, m int) Codec[[]byte] { return mustLen(t, 8, binary.LittleEndian, m) }, "abc", long, "frame", true, false},
	{"uvarint", func(t testing.TB, m int) Codec[[]byte] { return mustUvarint(t, m) }, "abc", long, "frame", true, false},
}

// decodePath reads a stream's frames with one codec until an error, either
// with Decode calls or through a Receiver; it returns the frames and the
// error (for a Receiver, its Err once C is closed).
type decodePath struct {
	name string
	run  func(t *testing.T, r *chanstream.Reader, dec Decoder[[]byte]) ([]string, error)
}

var decodePaths = []decodePath{
	{"Decode", func(t *testing.T, r *chanstream.Reader, dec Decoder[[]byte]) ([]string, error) {
		return decodeAll(t, r, dec)
	}},
	{"Receiver", func(t *testing.T, r *chanstream.Reader, dec Decoder[[]byte]) ([]string, error) {
		rc := NewReceiver(testCtx(t), r, dec)
		var got []string
		for v := range rc.C {
			got = append(got, string(v))
		}
		err := rc.Err()
		if rest := rc.Stop(); len(rest) != 0 {
			t.Errorf("Stop after C closed gave back %d frames; want none", len(rest))
		}
		return got, err
	}},
}

// sent returns the reader of a stream over loopback TCP whose peer sent
// wire and then an EOF.
func sent(t *testing.T, wire string, opts ...chanstream.Option) *chanstream.Reader {
	t.Helper()
	a, b := streamPair(t, opts...)
	if _, err := a.Write([]byte(wire)); err != nil {
		t.Fatal(err)
	}
	if err := a.WriteEOF(); err != nil {
		t.Fatal(err)
	}
	return b.Reader()
}

// TestCodecs_TruncatedStream checks, for each ready codec and both ways of
// decoding, what a stream that ends gives: io.EOF at a frame boundary, and
// inside a frame's length field or body an *IncompleteReadError (matching
// io.ErrUnexpectedEOF, not io.EOF) with the frame's bytes that arrived.
func TestCodecs_TruncatedStream(t *testing.T) {
	t.Parallel()
	for _, tc := range truncationCodecs {
		for _, path := range decodePaths {
			t.Run(tc.name+"/"+path.name, func(t *testing.T) {
				t.Parallel()
				first := encodeAll(t, tc.make(t, 1000), tc.first)
				second := encodeAll(t, tc.make(t, 1000), tc.second)
				header := 0
				if tc.bodyExpected == "frame" {
					header = len(second) - len(tc.second)
				}
				type cut struct {
					name     string
					wire     string
					partial  string // "" for a clean io.EOF
					expected int
				}
				cuts := []cut{
					{"empty stream", "", "", 0},
					{"at a frame boundary", first, "", 0},
					{"after two frames", first + second, "", 0},
				}
				if header >= 2 {
					cuts = append(cuts, cut{"inside the length field", first + second[:1], second[:1], -1})
				}
				expected := map[string]int{"frame": len(second), "body": len(tc.second), "unknown": -1}[tc.bodyExpected]
				cuts = append(cuts, cut{"inside the body", first + second[:header+2], second[:header+2], expected})
				for _, c := range cuts {
					got, err := path.run(t, sent(t, c.wire), tc.make(t, 1000))
					var want []string
					if c.wire != "" {
						want = append(want, tc.first)
					}
					if c.name == "after two frames" {
						want = append(want, tc.second)
					}
					if !equal(got, want) {
						t.Errorf("%s: frames %q; want %q", c.name, got, want)
					}
					if c.partial == "" {
						if err != io.EOF {
							t.Errorf("%s: %v; want io.EOF", c.name, err)
						}
						continue
					}
					var ie *chanstream.IncompleteReadError
					if !errors.As(err, &ie) || !errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
						t.Errorf("%s: %v; want an *IncompleteReadError, not io.EOF", c.name, err)
						continue
					}
					if string(ie.Partial) != c.partial || ie.Expected != c.expected {
						t.Errorf("%s: Partial %q, Expected %d; want %q, %d", c.name, ie.Partial, ie.Expected, c.partial, c.expected)
					}
				}
			})
		}
	}
}

// TestCodecs_OverTheMaximum checks, for each codec with a maximum frame size
// and both ways of decoding, that a frame over it gives a
// *FrameTooLargeError and leaves the stream in sync: the same decoder (in a
// new Receiver, after one ended on the error) goes on with the frame after
// it, and a stream that ends inside the skipped frame gives an error
// matching io.ErrUnexpectedEOF, not io.EOF.
func TestCodecs_OverTheMaximum(t *testing.T) {
	t.Parallel()
	const maxSize, limit = 4, 16
	big := strings.Repeat("B", 64)
	for _, tc := range truncationCodecs {
		if !tc.hasMax {
			continue
		}
		for _, path := range decodePaths {
			t.Run(tc.name+"/"+path.name, func(t *testing.T) {
				t.Parallel()
				wide := tc.make(t, 1000) // encodes the frame over the maximum
				whole := encodeAll(t, wide, "ok", big, "next")
				skipped := encodeAll(t, wide, "ok", big)
				skipped = skipped[:len(skipped)-3] // ends inside the big frame
				if tc.delimited {
					skipped = "ok" + whole[2:len(whole)/2]
					if bytes.ContainsAny([]byte(skipped[3:]), "\x00|\n") {
						t.Fatal("the cut stream holds a delimiter after the first frame")
					}
				}
				wantMax := maxSize
				if tc.delimited {
					wantMax = limit
				}
				for _, c := range []struct {
					name     string
					wire     string
					rest     []string
					clean    bool
					sizeKnow bool
				}{
					{"resynchronises", whole, []string{"next"}, true, !tc.delimited},
					{"the stream ends inside the skipped frame", skipped, nil, false, !tc.delimited},
				} {
					r := sent(t, c.wire, chanstream.WithLimit(limit))
					dec := tc.make(t, maxSize)
					got, err := path.run(t, r, dec)
					var tl *FrameTooLargeError
					if !equal(got, []string{"ok"}) || !errors.Is(err, ErrFrameTooLarge) || !errors.As(err, &tl) {
						t.Errorf("%s: %q, %v; want \"ok\" and a *FrameTooLargeError", c.name, got, err)
						continue
					}
					if tl.Max != wantMax || (c.sizeKnow && tl.Size != uint64(len(big))) {
						t.Errorf("%s: %+v; want Max %d, Size %d", c.name, tl, wantMax, len(big))
					}
					got, err = path.run(t, r, dec)
					if !equal(got, c.rest) {
						t.Errorf("%s: after the error, frames %q; want %q", c.name, got, c.rest)
					}
					if c.clean {
						if err != io.EOF {
							t.Errorf("%s: after the error, %v; want io.EOF", c.name, err)
						}
					} else if !errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
						t.Errorf("%s: after the error, %v; want io.ErrUnexpectedEOF, not io.EOF", c.name, err)
					}
				}
			})
		}
	}
}
