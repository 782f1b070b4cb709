package streamtest_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/streamtest"
)

// A Buffer takes what a logger writes from the goroutine that serves a
// stream, while the test reads it.
func ExampleBuffer() {
	var logs streamtest.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	done := make(chan struct{})
	go func() {
		defer close(done)
		logger.Info("served", "lines", 2)
	}()
	<-done
	fmt.Print(logs.String())
	// Output:
	// level=INFO msg=served lines=2
}

// CloseStreams ends a test's streams and waits until their goroutines have
// finished, so that a leak check after it finds none.
func ExampleCloseStreams() {
	t := newExampleTB()
	defer t.done()
	a, b := streamtest.Pipe(t)
	client, server := chanstream.NewStream(a), chanstream.NewStream(b)
	client.Write([]byte("bye\n"))
	line, _ := server.ReadLine(context.Background())
	fmt.Print(strings.ToUpper(string(line)))
	err := streamtest.CloseStreams(t, client, server)
	fmt.Println("closed:", err)
	// Output:
	// BYE
	// closed: <nil>
}

// ServeScript plays a script as the server a client dials: here a client
// built on chanstream that sends a request and reads the reply, which the
// script sends in two pieces.
func ExampleServeScript() {
	t := newExampleTB()
	defer t.done()
	server := streamtest.NewScript(t).
		Expect("GET /motd\n").
		Send("hello, ").
		Send("world\n").
		ExpectClose()
	addr := streamtest.ServeScript(t, server)

	conn, err := net.Dial("tcp", addr.String())
	if err != nil {
		panic(err)
	}
	s := chanstream.NewStream(conn)
	s.Write([]byte("GET /motd\n"))
	line, err := s.ReadLine(context.Background())
	fmt.Printf("%q %v\n", line, err)
	fmt.Println("closed:", streamtest.CloseStreams(t, s))
	// Output:
	// "hello, world\n" <nil>
	// closed: <nil>
}
