// Command echo-client is asyncio's "TCP echo client using streams" (from
// the Python documentation) written with chanstream: it sends a message to
// the echo server, prints the reply and closes, printing what the Python
// original prints.
//
//	go run ./examples/echo-client [-addr 127.0.0.1:8888] [message]
//
// The message defaults to "Hello World!".
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/chanstream/chanstream/dial"
	"github.com/chanstream/chanstream/internal/pyfmt"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8888", "address of the echo server")
	flag.Parse()
	message := "Hello World!"
	if flag.NArg() > 0 {
		message = strings.Join(flag.Args(), " ")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := tcpEchoClient(ctx, *addr, message, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "echo-client:", err)
		os.Exit(1)
	}
}

func tcpEchoClient(ctx context.Context, addr, message string, out io.Writer) error {
	s, err := dial.Dial(ctx, "tcp", addr) // asyncio.open_connection
	if err != nil {
		return err
	}

	fmt.Fprintf(out, "Send: %s\n", pyfmt.Repr(message))
	s.Write([]byte(message))
	if err := s.Drain(ctx); err != nil {
		s.Abort()
		return err
	}

	data, err := s.ReadChunk(ctx, 100)
	if err != nil && err != io.EOF {
		s.Abort()
		return err
	}
	received, err := pyfmt.DecodeUTF8(data)
	if err != nil {
		s.Abort() // the original's data.decode() raises: it prints no more
		return err
	}
	fmt.Fprintf(out, "Received: %s\n", pyfmt.Repr(received))

	fmt.Fprintln(out, "Close the connection")
	s.Close()
	return s.WaitClosed(ctx)
}
