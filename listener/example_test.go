package listener_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/listener"
)

// Serve until the program is told to stop, then shut down with a grace
// period that starts at that moment.
func ExampleServer_Shutdown() {
	// In a program: ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt).
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	srv, err := listener.Listen(ctx, "tcp", "127.0.0.1:0", func(ctx context.Context, s *chanstream.Stream) {
		// An echo server that says goodbye when the server shuts down.
		for line, err := range s.Lines(ctx) {
			if err != nil {
				s.Write([]byte("goodbye\n"))
				return
			}
			s.Write(line)
		}
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()

	client, err := net.Dial("tcp", srv.Addrs()[0].String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	replies := bufio.NewReader(client)
	fmt.Fprintln(client, "hello")
	reply, _ := replies.ReadString('\n')
	fmt.Print(reply)

	stop() // the interrupt
	fmt.Println("Serve:", <-served)

	// The grace period is measured from here: its ctx is made now, not
	// before Serve, and not from ctx, which is done.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fmt.Println("Shutdown:", srv.Shutdown(shutdownCtx))
	reply, _ = replies.ReadString('\n')
	fmt.Print(reply)
	// Output:
	// hello
	// Serve: context canceled
	// Shutdown: <nil>
	// goodbye
}
