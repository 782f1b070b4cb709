// Command chat is a line-based chat server built from chanstream's fan-in and
// broadcast: every line a client sends goes to every client, prefixed with the
// sender's name. Clients join and leave at any time; a client that does not
// read is dropped from the messages it has no room for (-policy drop) or
// disconnected (-policy disconnect).
//
//	go run ./examples/chat [-addr 127.0.0.1:8888] [-policy drop|disconnect] [-drain 1s]
//
// Talk to it with `nc 127.0.0.1 8888` from several terminals; the line
// "/stats" shows every client's counters (messages sent, dropped). A line
// longer than 4 KiB ends its client's session. Stop the server with
// Ctrl-C: it tells the clients and shuts down gracefully.
//
// Each client costs its handler goroutine and nothing more: the handler
// serves the client's lines into the fan-in ([fanin.Fanin.Serve]), and one hub
// goroutine receives them all and broadcasts them ([broadcast.Broadcaster.Send],
// which never blocks).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/signal"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/broadcast"
	"github.com/chanstream/chanstream/chanstream/fanin"
	"github.com/chanstream/chanstream/listener"
)

// config is the server's command line.
type config struct {
	addr   string
	policy broadcast.Policy
	drain  time.Duration
}

func main() {
	cfg := config{}
	policy := flag.String("policy", "drop", "what to do with a client that does not read: drop or disconnect")
	flag.StringVar(&cfg.addr, "addr", "127.0.0.1:8888", "address to listen on")
	flag.DurationVar(&cfg.drain, "drain", time.Second, "with -policy disconnect, how long a disconnected client's queue may take to drain")
	flag.Parse()
	switch *policy {
	case "drop":
		cfg.policy = broadcast.Drop
	case "disconnect":
		cfg.policy = broadcast.Disconnect
	default:
		fmt.Fprintf(os.Stderr, "chat: -policy %q: want drop or disconnect\n", *policy)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout, nil); err != nil {
		fmt.Fprintln(os.Stderr, "chat:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends. ready, if not nil, gets the address once the
// server listens.
func run(ctx context.Context, cfg config, stdout io.Writer, ready func(net.Addr)) error {
	out := &lockedWriter{w: stdout}
	peers, err := broadcast.New[string](broadcast.Config{Policy: cfg.policy, DrainTimeout: cfg.drain})
	if err != nil {
		return err
	}
	lines := fanin.Lines[string](fanin.DefaultBuffer)

	// The hub: every client's lines, to every client.
	hubDone := make(chan struct{})
	go func() {
		defer close(hubDone)
		for m := range lines.C {
			switch {
			case m.Err != nil:
				// The client's handler says goodbye.
			case string(m.Value) == "/stats\n":
				sendStats(peers, m.Key)
			default:
				peers.Send(append([]byte(m.Key+": "), m.Value...))
			}
		}
	}()

	var clients atomic.Int64
	srv, err := listener.Listen(ctx, "tcp", cfg.addr, func(ctx context.Context, s *chanstream.Stream) {
		name := fmt.Sprintf("client%d", clients.Add(1))
		if err := peers.Add(name, s); err != nil {
			return // shutting down
		}
		peers.SendTo(name, []byte("* you are "+name+"\n"))
		peers.Send([]byte("* " + name + " joined\n"))
		out.printf("%s joined from %s\n", name, s.RemoteAddr())

		_, err := lines.Serve(ctx, name, s.Reader())

		st, _ := peers.Remove(name)
		peers.Send([]byte("* " + name + " left\n"))
		why := "left"
		switch {
		case errors.Is(st.Err, broadcast.ErrEvicted):
			why = "disconnected: too slow"
		case err != nil:
			why = "stopped: " + err.Error()
		}
		out.printf("%s %s (sent %d, dropped %d)\n", name, why, st.Sent, st.Dropped)
	}, chanstream.WithLimit(4096))
	if err != nil {
		peers.Close()
		lines.Stop()
		<-hubDone
		return err
	}
	out.printf("Serving on %s\n", srv.Addrs()[0])
	if ready != nil {
		ready(srv.Addrs()[0])
	}

	err = srv.Serve(ctx)
	// Graceful shutdown: tell the clients, then give their handlers the
	// grace period, which starts now.
	peers.Send([]byte("* server shutting down\n"))
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(shutdownCtx)
	lines.Stop()
	<-hubDone
	peers.Close()
	out.printf("Stopped\n")
	if err == ctx.Err() {
		return nil // asked to stop
	}
	return err
}

// sendStats sends every client's counters to the client to, one line each in
// name order, then "* end of stats".
func sendStats(peers *broadcast.Broadcaster[string], to string) {
	stats := peers.Stats()
	for _, name := range slices.Sorted(maps.Keys(stats)) {
		st := stats[name]
		peers.SendTo(to, fmt.Appendf(nil, "* %s sent=%d dropped=%d active=%v\n", name, st.Sent, st.Dropped, st.Active))
	}
	peers.SendTo(to, []byte("* end of stats\n"))
}

// lockedWriter keeps the lines of concurrent handlers whole.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format, args...)
}
