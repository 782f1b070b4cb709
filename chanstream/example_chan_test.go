package chanstream_test

import (
	"context"
	"fmt"
	"time"

	"github.com/chanstream/chanstream/chanstream"
)

// A stream's lines received in a select, beside a ticker.
func ExampleReader_LineChan() {
	ctx := context.Background()
	r := chanstream.NewReader()
	r.Feed(ctx, []byte("one\ntwo\nthree\n"))
	r.FeedEOF()

	rc := r.LineChan(ctx)
	defer rc.Stop()
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		select {
		case line, ok := <-rc.C:
			if !ok {
				fmt.Println("closed:", rc.Err())
				return
			}
			fmt.Printf("%q\n", line)
		case <-tick.C:
			fmt.Println("tick")
		}
	}
	// Output:
	// "one\n"
	// "two\n"
	// "three\n"
	// closed: EOF
}

// Stop gives back what the consumer has not received: the next read returns
// it.
func ExampleReceiver_Stop() {
	ctx := context.Background()
	r := chanstream.NewReader()
	r.Feed(ctx, []byte("one\ntwo\nthree\n"))
	r.FeedEOF()

	rc := r.LineChan(ctx)
	fmt.Printf("received %q\n", <-rc.C)
	rc.Stop()
	rest, _ := r.ReadChunk(ctx, -1)
	fmt.Printf("then read %q\n", rest)
	// Output:
	// received "one\n"
	// then read "two\nthree\n"
}

// A stream's data in chunks of up to 64 KiB, as ReadChunk returns them.
func ExampleReader_ChunkChan() {
	ctx := context.Background()
	r := chanstream.NewReader()
	r.Feed(ctx, []byte("some bytes"))
	r.FeedEOF()

	rc := r.ChunkChan(ctx)
	defer rc.Stop()
	for chunk := range rc.C {
		fmt.Printf("%q\n", chunk)
	}
	fmt.Println(rc.Err())
	// Output:
	// "some bytes"
	// EOF
}
