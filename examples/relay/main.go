// Command relay is a TCP proxy built on chanstream's relay package: it
// accepts connections on -listen (TCP or a Unix socket, with TLS when
// -tls-cert and -tls-key are given) and relays each, both ways, to -target.
// A client's half-close reaches the target as an EOF and the answer still
// comes back; a reset on either side resets the other.
//
//	go run ./examples/relay -listen 127.0.0.1:8000 -target 127.0.0.1:6379
//	go run ./examples/relay -listen unix:/tmp/relay.sock -target 127.0.0.1:6379
//	go run ./examples/relay -listen 127.0.0.1:8443 -tls-cert cert.pem -tls-key key.pem -target 127.0.0.1:8080
//
// An address is host:port, or unix:PATH for a Unix socket. It prints one line
// per connection when it ends: the bytes relayed each way and the error, if
// any. Stop it with Ctrl-C: it stops accepting, lets the connections under
// way finish for up to -grace, then resets those left.
package main

import (
	"context"
	"crypto/tls"
	"errors"
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
	"github.com/chanstream/chanstream/chanstream/relay"
	"github.com/chanstream/chanstream/listener"
)

// config is what the flags say.
type config struct {
	listen, target  string
	tlsCert, tlsKey string
	grace           time.Duration
}

func main() {
	var cfg config
	flag.StringVar(&cfg.listen, "listen", "127.0.0.1:8000", "address to listen on: host:port or unix:PATH")
	flag.StringVar(&cfg.target, "target", "", "address to relay to: host:port or unix:PATH (required)")
	flag.StringVar(&cfg.tlsCert, "tls-cert", "", "PEM certificate: terminate TLS on -listen (with -tls-key)")
	flag.StringVar(&cfg.tlsKey, "tls-key", "", "PEM private key of -tls-cert")
	flag.DurationVar(&cfg.grace, "grace", 10*time.Second, "on Ctrl-C, how long the connections under way may go on")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout, nil); err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		os.Exit(1)
	}
}

// network splits an address into the network and address net.Dial takes.
func network(addr string) (string, string) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		return "unix", path
	}
	return "tcp", addr
}

// run relays until ctx ends, then shuts down within cfg.grace. ready, if
// not nil, gets the listening addresses.
func run(ctx context.Context, cfg config, stdout io.Writer, ready func([]net.Addr)) error {
	if cfg.target == "" {
		return errors.New("-target is required")
	}
	if (cfg.tlsCert == "") != (cfg.tlsKey == "") {
		return errors.New("-tls-cert and -tls-key go together")
	}
	var opts []listener.Option
	if cfg.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.tlsCert, cfg.tlsKey)
		if err != nil {
			return err
		}
		opts = append(opts, listener.WithTLS(&tls.Config{Certificates: []tls.Certificate{cert}}))
	}
	out := &lockedWriter{w: stdout}
	targetNet, targetAddr := network(cfg.target)

	// The relays run until the grace period ends, not until ctx does:
	// Shutdown aborts the streams still open then, which ends their relays.
	relayCtx, stopRelays := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRelays()
	handle := func(_ context.Context, s *chanstream.Stream) {
		var d net.Dialer
		up, err := d.DialContext(relayCtx, targetNet, targetAddr)
		if err != nil {
			out.printf("%s: %v\n", s.RemoteAddr(), err)
			s.AbortReset() // the client sees a reset, as from the target itself
			return
		}
		res, err := relay.Relay(relayCtx, s, up)
		if err != nil {
			out.printf("%s: %d bytes up, %d down: %v\n", s.RemoteAddr(), res.AToB, res.BToA, err)
			return
		}
		out.printf("%s: %d bytes up, %d down\n", s.RemoteAddr(), res.AToB, res.BToA)
	}
	listenNet, listenAddr := network(cfg.listen)
	srv, err := listener.Listen(ctx, listenNet, listenAddr, handle, opts...)
	if err != nil {
		return err
	}
	out.printf("Relaying %s to %s\n", srv.Addrs()[0], cfg.target)
	if ready != nil {
		ready(srv.Addrs())
	}
	err = srv.Serve(ctx)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.grace)
	defer cancel()
	srv.Shutdown(shutdownCtx)
	stopRelays()
	srv.WaitClosed(context.Background())
	if err == ctx.Err() {
		return nil // asked to stop
	}
	return err
}

// lockedWriter keeps the lines of concurrent connections whole.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format, args...)
}
