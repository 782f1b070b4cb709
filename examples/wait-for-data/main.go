// Command wait-for-data is asyncio's "Register an open socket to wait for
// data using streams" (from the Python documentation) written with
// chanstream: one end of a socket pair is registered as a stream (asyncio's
// open_connection(sock=...), here dial.FromConn), data is sent from the
// other end, and the stream waits for it. The pair is a socketpair(2) on
// Unix and, as Python's socket.socketpair makes it elsewhere, a loopback TCP
// connection on other systems.
//
//	go run ./examples/wait-for-data
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/chanstream/chanstream/dial"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := waitForData(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "wait-for-data:", err)
		os.Exit(1)
	}
}

func waitForData(ctx context.Context, out io.Writer) error {
	// Create a pair of connected sockets.
	rsock, wsock, err := socketPair()
	if err != nil {
		return err
	}

	// Register the open socket to wait for data.
	s := dial.FromConn(rsock)

	// Simulate the reception of data from the network
	var sent sync.WaitGroup
	sent.Add(1)
	go func() {
		defer sent.Done()
		wsock.Write([]byte("abc"))
	}()
	defer sent.Wait()

	// Wait for data
	data, err := s.ReadChunk(ctx, 100)
	if err != nil {
		s.Abort()
		wsock.Close()
		return err
	}

	// Got data, we are done: close the socket
	fmt.Fprintln(out, "Received:", string(data))
	s.Close()
	err = s.WaitClosed(ctx)

	// Close the second socket
	wsock.Close()
	return err
}
