package listener

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/internal/opt"
	"github.com/chanstream/chanstream/tlsupgrade"
)

// Option configures [Listen], [FromListener] and [FromFile]. It is
// [chanstream.Option], so stream options such as [chanstream.WithLimit] and
// [chanstream.WithWriteBufferLimits] are passed here too, next to this
// package's, and apply to every accepted stream.
type Option = chanstream.Option

// DefaultTLSHandshakeTimeout is [tlsupgrade.DefaultTLSHandshakeTimeout].
//
// Deprecated: use tlsupgrade.DefaultTLSHandshakeTimeout.
const DefaultTLSHandshakeTimeout = tlsupgrade.DefaultTLSHandshakeTimeout

// DefaultTLSShutdownTimeout is [chanstream.DefaultTLSShutdownTimeout].
//
// Deprecated: use chanstream.DefaultTLSShutdownTimeout.
const DefaultTLSShutdownTimeout = chanstream.DefaultTLSShutdownTimeout

type settings struct {
	tls              *tls.Config
	tlsNil           bool // WithTLS(nil): an error, not plain text
	handshakeTimeout time.Duration
	shutdownTimeout  time.Duration
	reusePort        bool
	reuseAddress     bool
	backlog          int // unset: Go's default (the kernel's somaxconn)
	logger           *slog.Logger
	startServing     bool
	maxConns         int // unset: no cap
	idleTimeout      time.Duration
	firstByteTimeout time.Duration
}

// unset marks a number no option has set.
const unset = math.MinInt

func newSettings() *settings {
	return &settings{
		handshakeTimeout: tlsupgrade.DefaultTLSHandshakeTimeout,
		shutdownTimeout:  chanstream.DefaultTLSShutdownTimeout,
		reuseAddress:     true,
		startServing:     true,
		backlog:          unset,
		maxConns:         unset,
		idleTimeout:      unset,
		firstByteTimeout: unset,
	}
}

// layer holds this package's settings among the options.
var layer = opt.Layer[settings]{Scope: opt.Listen, New: newSettings}

func listenOption(name string, apply func(*settings)) Option {
	return opt.Wrap[Option](layer.Option(name, apply))
}

// WithTLS serves TLS (asyncio's ssl=): every accepted connection does the
// server handshake, bounded by the handshake timeout, before its handler
// runs; one that fails is closed and counted in Stats().HandshakeErrors. The
// config must have a certificate (Certificates or GetCertificate or
// GetConfigForClient); a nil config is an error, not plain text.
func WithTLS(config *tls.Config) Option {
	return listenOption("listener.WithTLS(...)", func(s *settings) { s.tls, s.tlsNil = config, config == nil })
}

// WithTLSHandshakeTimeout bounds each connection's TLS handshake (asyncio's
// ssl_handshake_timeout; default [tlsupgrade.DefaultTLSHandshakeTimeout],
// 60 s). It must be positive.
func WithTLSHandshakeTimeout(d time.Duration) Option {
	return listenOption(fmt.Sprintf("listener.WithTLSHandshakeTimeout(%v)", d), func(s *settings) { s.handshakeTimeout = d })
}

// WithTLSShutdownTimeout bounds how long closing a TLS stream waits for the
// close_notify exchange (asyncio's ssl_shutdown_timeout; default
// [chanstream.DefaultTLSShutdownTimeout], 30 s). It must be positive.
func WithTLSShutdownTimeout(d time.Duration) Option {
	return listenOption(fmt.Sprintf("listener.WithTLSShutdownTimeout(%v)", d), func(s *settings) { s.shutdownTimeout = d })
}

// WithReusePort sets SO_REUSEPORT on the listening sockets (asyncio's
// reuse_port), so that several servers can listen on one port and the kernel
// spreads connections between them.
func WithReusePort(on bool) Option {
	return listenOption(fmt.Sprintf("listener.WithReusePort(%v)", on), func(s *settings) { s.reusePort = on })
}

// WithReuseAddress sets or clears SO_REUSEADDR on TCP listening sockets
// (asyncio's reuse_address; default true on Unix, as both asyncio and Go
// do): it lets a restarted server bind a port whose old connections are in
// TIME_WAIT.
func WithReuseAddress(on bool) Option {
	return listenOption(fmt.Sprintf("listener.WithReuseAddress(%v)", on), func(s *settings) { s.reuseAddress = on })
}

// WithBacklog sets the listen(2) backlog: how many connections the kernel
// completes and queues before they are accepted (asyncio's backlog=). It
// must not be negative; the kernel caps it at net.core.somaxconn. Without it
// the backlog is Go's, which is somaxconn (4096 on current Linux), where
// asyncio's default is 100.
func WithBacklog(n int) Option {
	return listenOption(fmt.Sprintf("listener.WithBacklog(%d)", n), func(s *settings) { s.backlog = n })
}

// WithLogger sets where the server reports handler panics (with the value
// and the stack), accept errors and failed TLS handshakes. The default is
// slog.Default().
func WithLogger(l *slog.Logger) Option {
	return listenOption("listener.WithLogger(...)", func(s *settings) { s.logger = l })
}

// WithStartServing(false) makes [Listen] bind without accepting (asyncio's
// start_serving=False): connections wait in the backlog until Start or Serve
// is called. The default is true.
func WithStartServing(on bool) Option {
	return listenOption(fmt.Sprintf("listener.WithStartServing(%v)", on), func(s *settings) { s.startServing = on })
}

// WithMaxConns caps the connections served at once, counting those still in
// their TLS handshake (beyond asyncio). A connection over the cap is closed
// as soon as it is accepted and counted in Stats().Rejected. n must be
// positive.
func WithMaxConns(n int) Option {
	return listenOption(fmt.Sprintf("listener.WithMaxConns(%d)", n), func(s *settings) { s.maxConns = n })
}

// WithIdleTimeout evicts a connection on which nothing has moved, in either
// direction, for d (beyond asyncio; it is how a server sheds slowloris
// peers): the peer has sent nothing, and the kernel has taken nothing the
// handler wrote. A client that only receives a long response is not idle
// while it reads it; one that neither sends nor reads is. An evicted
// connection's stream is aborted, so the handler's reads and writes fail,
// and it is counted in Stats().Evicted. A connection whose handler has not
// read what arrived (its read pump is paused) is never idle. Time spent in
// the TLS handshake counts. d must be positive.
//
// On Linux TCP the kernel's count of acknowledged bytes shows a write in
// progress; elsewhere a write counts once the kernel has taken all of it,
// which with the default write buffer limits is at most about
// [chanstream.DefaultWriteHigh] bytes at a time.
//
// To bound the wait for the peer's next message alone, give the read call a
// ctx with a deadline.
func WithIdleTimeout(d time.Duration) Option {
	return listenOption(fmt.Sprintf("listener.WithIdleTimeout(%v)", d), func(s *settings) { s.idleTimeout = d })
}

// WithFirstByteTimeout evicts a connection whose first byte has not arrived
// d after it was accepted (beyond asyncio). d must be positive.
func WithFirstByteTimeout(d time.Duration) Option {
	return listenOption(fmt.Sprintf("listener.WithFirstByteTimeout(%v)", d), func(s *settings) { s.firstByteTimeout = d })
}

type config struct {
	settings
	stream []Option
}

// newConfig validates opts for the function named where.
func newConfig(where string, opts []Option) (config, error) {
	all, err := opt.Apply(opt.Listen|opt.Stream, where, opts)
	if err != nil {
		return config{}, fmt.Errorf("listener: %w", err)
	}
	c := config{settings: *layer.Get(&all)}
	c.stream = opt.Filter(opt.Stream, opts)
	if err := chanstream.CheckOptions(c.stream...); err != nil {
		return c, err
	}
	switch {
	case c.tlsNil:
		return c, fmt.Errorf("listener: WithTLS(nil): a TLS server needs a config with a certificate")
	case c.tls != nil && !opt.HasCertificate(c.tls):
		return c, fmt.Errorf("listener: WithTLS: the config has no certificate")
	case c.handshakeTimeout <= 0:
		return c, fmt.Errorf("listener: WithTLSHandshakeTimeout(%v): must be positive", c.handshakeTimeout)
	case c.shutdownTimeout <= 0:
		return c, fmt.Errorf("listener: WithTLSShutdownTimeout(%v): must be positive", c.shutdownTimeout)
	case c.backlog < 0 && c.backlog != unset:
		return c, fmt.Errorf("listener: WithBacklog(%d): must not be negative", c.backlog)
	case c.maxConns <= 0 && c.maxConns != unset:
		return c, fmt.Errorf("listener: WithMaxConns(%d): must be positive", c.maxConns)
	case c.idleTimeout <= 0 && c.idleTimeout != unset:
		return c, fmt.Errorf("listener: WithIdleTimeout(%v): must be positive", c.idleTimeout)
	case c.firstByteTimeout <= 0 && c.firstByteTimeout != unset:
		return c, fmt.Errorf("listener: WithFirstByteTimeout(%v): must be positive", c.firstByteTimeout)
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	return c, nil
}
