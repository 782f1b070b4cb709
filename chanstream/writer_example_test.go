package chanstream_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/chanstream/chanstream/chanstream"
)

// A *Stream half-closes as *net.TCPConn does, so code written for
// interface{ CloseWrite() error } (proxies, httputil.ReverseProxy) works on
// it: the peer reads to EOF, and the stream still reads the reply.
func ExampleStream_CloseWrite() {
	ctx := context.Background()
	a, b := socketPair()
	s := chanstream.NewStream(a)
	go func() {
		request, _ := io.ReadAll(b) // until the half-close
		fmt.Fprintf(b, "got %q\n", request)
		b.Close()
	}()

	io.Copy(s, strings.NewReader("the whole request"))
	if hc, ok := any(s).(interface{ CloseWrite() error }); ok {
		hc.CloseWrite()
	}
	reply, _ := s.ReadLine(ctx)
	fmt.Print(string(reply))

	s.Close()
	s.WaitClosed(ctx)
	// Output:
	// got "the whole request"
}

// A broadcaster sends each message to each peer with TryWrite: a message
// is queued whole or not at all, and a peer too slow to keep its queue
// under the high watermark is skipped (or disconnected) without holding up
// the others.
func ExampleWriter_TryWrite() {
	ctx := context.Background()
	a, b := socketPair()
	s := chanstream.NewStream(a, chanstream.WithWriteBufferLimits(1024, 0))
	high, low := s.WriteBufferLimits()
	fmt.Println("watermarks:", high, low)

	ok, err := s.Writer().TryWrite([]byte("tick\n"))
	switch {
	case err != nil:
		fmt.Println("the peer is gone:", err)
	case !ok:
		fmt.Println("slow peer: message dropped")
	default:
		fmt.Println("queued")
	}
	line, _ := bufio.NewReader(b).ReadString('\n')
	fmt.Print(line)

	b.Close()
	s.Close()
	s.WaitClosed(ctx)
	// Output:
	// watermarks: 1024 0
	// queued
	// tick
}
