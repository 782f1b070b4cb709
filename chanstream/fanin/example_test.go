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
