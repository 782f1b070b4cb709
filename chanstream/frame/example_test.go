package frame_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/frame"
	"github.com/chanstream/chanstream/dial"
)

// Frames with a 4-byte big-endian length, decoded one at a time; the stream
// ends between frames with io.EOF.
func ExampleNewLengthPrefixed() {
	ctx := context.Background()
	codec, err := frame.NewLengthPrefixed(4, binary.BigEndian, 1<<20)
	if err != nil {
		panic(err)
	}
	var wire []byte
	for _, msg := range []string{"hello", "framed", "world"} {
		wire, _ = codec.Encode(wire, []byte(msg))
	}
	r := chanstream.NewReader()
	r.Feed(ctx, wire)
	r.FeedEOF()
	for {
		msg, err := codec.Decode(ctx, r)
		if err != nil {
			fmt.Println(err)
			break
		}
		fmt.Printf("%q\n", msg)
	}
	// Output:
	// "hello"
	// "framed"
	// "world"
	// EOF
}

// A Receiver delivers the frames on a channel, for a select; Err says why it
// was closed. Here the stream is cut inside the last frame.
func ExampleNewReceiver() {
	ctx := context.Background()
	r := chanstream.NewReader()
	r.Feed(ctx, []byte("GET /a\r\nGET /b\r\nGET /c"))
	r.FeedEOF()
	rc := frame.NewReceiver(ctx, r, frame.NewLines())
	defer rc.Stop()
	for line := range rc.C {
		fmt.Printf("%q\n", line)
	}
	var ie *chanstream.IncompleteReadError
	if errors.As(rc.Err(), &ie) {
		fmt.Printf("cut: %q\n", ie.Partial)
	}
	// Output:
	// "GET /a"
	// "GET /b"
	// cut: "GET /c"
}

// Stop gives back the frames the Receiver decoded that nobody received; the
// rest are still in the reader.
func ExampleReceiver_Stop() {
	ctx := context.Background()
	codec, _ := frame.NewFixed(2)
	r := chanstream.NewReader()
	r.Feed(ctx, []byte("aabbcc"))
	rc := frame.NewReceiver(ctx, r, codec)
	fmt.Printf("received %q\n", <-rc.C)
	for len(rc.C) < 2 { // until the Receiver has decoded the other two
		time.Sleep(time.Millisecond)
	}
	fmt.Printf("given back %q\n", rc.Stop())
	// Output:
	// received "aa"
	// given back ["bb" "cc"]
}

// Send drains a channel of messages into a stream; the peer's Receiver
// delivers them.
func ExampleSend() {
	ctx := context.Background()
	a, b, err := dial.Pipe()
	if err != nil {
		panic(err)
	}
	defer a.Close()
	defer b.Close()
	codec, _ := frame.NewUvarintPrefixed(1 << 16)

	ch := make(chan []byte, 3)
	ch <- []byte("one")
	ch <- []byte("two")
	ch <- []byte("three")
	close(ch)
	if unsent, err := frame.Send(ctx, a.Writer(), codec, ch); err != nil {
		fmt.Println(len(unsent), "unsent:", err)
	}
	a.WriteEOF()

	rc := frame.NewReceiver(ctx, b.Reader(), codec)
	defer rc.Stop()
	for msg := range rc.C {
		fmt.Printf("%s\n", msg)
	}
	fmt.Println(rc.Err())
	// Output:
	// one
	// two
	// three
	// EOF
}

// A frame over the maximum gives a *FrameTooLargeError; the next Decode
// skips it, so the stream stays in sync.
func ExampleFrameTooLargeError() {
	ctx := context.Background()
	codec, _ := frame.NewLengthPrefixed(2, binary.LittleEndian, 8)
	big, _ := frame.NewLengthPrefixed(2, binary.LittleEndian, 100)
	var wire []byte
	wire, _ = big.Encode(wire, []byte("small"))
	wire, _ = big.Encode(wire, []byte("a frame far too large"))
	wire, _ = big.Encode(wire, []byte("next"))
	r := chanstream.NewReader()
	r.Feed(ctx, wire)
	r.FeedEOF()
	for {
		msg, err := codec.Decode(ctx, r)
		if errors.Is(err, frame.ErrFrameTooLarge) {
			fmt.Println(err)
			continue
		}
		if err == io.EOF {
			break
		}
		fmt.Printf("%q\n", msg)
	}
	// Output:
	// "small"
	// frame: frame of 21 bytes, over the maximum of 8
	// "next"
}

// Records ended by any of several delimiters.
func ExampleNewDelimited() {
	ctx := context.Background()
	codec, err := frame.NewDelimited([]byte(";"), []byte("\n"))
	if err != nil {
		panic(err)
	}
	r := chanstream.NewReader()
	r.Feed(ctx, []byte("a=1;b=2\nc=3;"))
	r.FeedEOF()
	for {
		rec, err := codec.Decode(ctx, r)
		if err != nil {
			fmt.Println(err)
			break
		}
		fmt.Printf("%s\n", rec)
	}
	// Output:
	// a=1
	// b=2
	// c=3
	// EOF
}
