package chanstream_test

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/chanstream/chanstream/chanstream"
)

func Example() {
	ctx := context.Background()
	a, b := socketPair()
	client, server := chanstream.NewStream(a), chanstream.NewStream(b)

	// The server echoes one line back, upper-cased, and closes.
	go func() {
		line, _ := server.ReadLine(ctx)
		server.Write([]byte("ECHO " + string(line)))
		server.Close()
	}()

	client.Write([]byte("hello\n"))
	client.Drain(ctx)
	reply, _ := client.ReadLine(ctx)
	fmt.Printf("%q\n", reply)
	_, err := client.ReadLine(ctx)
	fmt.Println(err)

	client.Close()
	client.WaitClosed(ctx)
	server.WaitClosed(ctx)
	// Output:
	// "ECHO hello\n"
	// EOF
}

func ExampleNewReader() {
	ctx := context.Background()
	r := chanstream.NewReader()
	r.Feed(ctx, []byte("HELO there\r\nDATA"))
	r.FeedEOF()
	line, _ := r.ReadUntil(ctx, []byte("\r\n"))
	rest, _ := r.ReadChunk(ctx, -1)
	fmt.Printf("%q %q %v\n", line, rest, r.AtEOF())
	// Output: "HELO there\r\n" "DATA" true
}

func ExampleReader_ReadUntil_severalSeparators() {
	ctx := context.Background()
	r := chanstream.NewReader()
	r.Feed(ctx, []byte("one\r\ntwo\nthree"))
	r.FeedEOF()
	for {
		// The shortest record ending in either separator, as Python 3.13.
		rec, err := r.ReadUntil(ctx, []byte("\r\n"), []byte("\n"))
		var incomplete *chanstream.IncompleteReadError
		if errors.As(err, &incomplete) {
			fmt.Printf("end, %d bytes left\n", len(incomplete.Partial))
			return
		}
		fmt.Printf("%q\n", rec)
	}
	// Output:
	// "one\r\n"
	// "two\n"
	// end, 5 bytes left
}

func ExampleReader_ReadLine_limit() {
	ctx := context.Background()
	r := chanstream.NewReader(chanstream.WithLimit(8))
	r.Feed(ctx, []byte("short\nfar too long for the limit\nok\n"))
	r.FeedEOF()
	for {
		line, err := r.ReadLine(ctx)
		if err == io.EOF {
			return
		}
		if errors.Is(err, chanstream.ErrLimitOverrun) {
			fmt.Println("line over the limit, skipped")
			continue
		}
		fmt.Printf("%q\n", line)
	}
	// Output:
	// "short\n"
	// line over the limit, skipped
	// "ok\n"
}

func ExampleReader_Lines() {
	ctx := context.Background()
	r := chanstream.NewReader()
	r.Feed(ctx, []byte("a\nb\nc"))
	r.FeedEOF()
	for line, err := range r.Lines(ctx) {
		if err != nil {
			fmt.Println("error:", err)
			break
		}
		fmt.Printf("%q\n", line)
	}
	// Output:
	// "a\n"
	// "b\n"
	// "c"
}

func ExampleReader_ReadExactly() {
	ctx := context.Background()
	r := chanstream.NewReader()
	r.Feed(ctx, []byte{0, 5, 'h', 'e', 'l', 'l', 'o', 0, 9, 'c', 'u', 't'})
	r.FeedEOF()
	for {
		header, err := r.ReadExactly(ctx, 2)
		if err != nil {
			break
		}
		body, err := r.ReadExactly(ctx, int(header[0])<<8|int(header[1]))
		var incomplete *chanstream.IncompleteReadError
		if errors.As(err, &incomplete) {
			fmt.Printf("truncated: %q of %d bytes\n", incomplete.Partial, incomplete.Expected)
			break
		}
		fmt.Printf("frame %q\n", body)
	}
	// Output:
	// frame "hello"
	// truncated: "cut" of 9 bytes
}
