package fanin_test

import (
	"context"
	"fmt"
	"io"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/fanin"
)

// A fan-in of two readers: each value comes tagged with its reader's key,
// and each reader's end arrives in band.
func Example() {
	ctx := context.Background()
	alice, bob := chanstream.NewReader(), chanstream.NewReader()
	alice.Feed(ctx, []byte("hi\nbye\n"))
	alice.FeedEOF()
	bob.Feed(ctx, []byte("hello\n"))
	bob.FeedEOF()

	f := fanin.Lines[string](0)
	defer f.Stop()
	f.Add("alice", alice)
	f.Add("bob", bob)

	got := map[string][]string{}
	for ended := 0; ended < 2; {
		m := <-f.C
		if m.Err == io.EOF {
			ended++
			continue
		}
		got[m.Key] = append(got[m.Key], string(m.Value))
	}
	fmt.Printf("alice: %q\nbob: %q\n", got["alice"], got["bob"])
	// Output:
	// alice: ["hi\n" "bye\n"]
	// bob: ["hello\n"]
}

// A fan-in of lines in batches: each value holds the lines of one reader
// that had arrived when it was read, so that the consumer wakes once per
// batch rather than once per line.
func ExampleLineBatches() {
	ctx := context.Background()
	r := chanstream.NewReader()
	r.Feed(ctx, []byte("one\ntwo\nthree\n"))
	r.FeedEOF()

	f := fanin.LineBatches[string](fanin.DefaultBuffer)
	defer f.Stop()
	f.Add("r", r)
	for m := range f.C {
		if m.Err != nil {
			fmt.Println(m.Key, m.Err)
			break
		}
		fmt.Printf("%s: %q\n", m.Key, m.Value)
	}
	// Output:
	// r: ["one\n" "two\n" "three\n"]
	// r EOF
}
