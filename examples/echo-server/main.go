// Command echo-server is asyncio's "TCP echo server using streams" (from
// the Python documentation) written with chanstream: it reads up to 100
// bytes from each client, echoes them, and closes the connection, printing
// what the Python original prints.
//
//	go run ./examples/echo-server [-addr 127.0.0.1:8888]
//
// Stop it with Ctrl-C: it then shuts down gracefully.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/internal/pyfmt"
	"github.com/chanstream/chanstream/listener"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8888", "address to listen on")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, os.Stdout, nil); err != nil {
		fmt.Fprintln(os.Stderr, "echo-server:", err)
		os.Exit(1)
	}
}

// run serves on addr until ctx ends. ready, if not nil, gets the addresses
// once the server listens.
func run(ctx context.Context, addr string, stdout io.Writer, ready func([]net.Addr)) error {
	out := &lockedWriter{w: stdout}
	srv, err := listener.Listen(ctx, "tcp", addr, func(ctx context.Context, s *chanstream.Stream) {
		handleEcho(ctx, s, out)
	})
	if err != nil {
		return err
	}
	var addrs []string
	for _, a := range srv.Addrs() {
		addrs = append(addrs, pyfmt.Addr(a))
	}
	out.printf("Serving on %s\n", strings.Join(addrs, ", "))
	if ready != nil {
		ready(srv.Addrs())
	}

	err = srv.Serve(ctx) // asyncio's serve_forever
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(shutdownCtx)
	if err == ctx.Err() {
		return nil // asked to stop
	}
	return err
}

func handleEcho(ctx context.Context, s *chanstream.Stream, out *lockedWriter) {
	data, err := s.ReadChunk(ctx, 100)
	if err != nil && err != io.EOF {
		return
	}
	message, err := pyfmt.DecodeUTF8(data)
	if err != nil {
		// The original's data.decode() raises (the 100 bytes may cut a
		// character in two): asyncio logs the exception and closes the
		// connection, having printed and echoed nothing.
		out.logf("Unhandled exception in client_connected_cb\n%v\n", err)
		s.Close()
		s.WaitClosed(ctx)
		return
	}
	addr, _ := s.ExtraInfo("peername")

	out.printf("Received %s from %s\n", pyfmt.Repr(message), pyfmt.Addr(addr.(net.Addr)))

	out.printf("Send: %s\n", pyfmt.Repr(message))
	s.Write(data)
	s.Drain(ctx)

	out.printf("Close the connection\n")
	s.Close()
	s.WaitClosed(ctx)
}

// lockedWriter keeps the lines of concurrent handlers whole, as Python's
// print does.
type lockedWriter struct {
	mu   sync.Mutex
	w    io.Writer
	errw io.Writer // for logf; os.Stderr if nil
}

// logf prints to the error output, as asyncio's logger does.
func (l *lockedWriter) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.errw
	if w == nil {
		w = os.Stderr
	}
	fmt.Fprintf(w, format, args...)
}

func (l *lockedWriter) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format, args...)
}
