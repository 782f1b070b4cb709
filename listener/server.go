package listener

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/internal/group"
)

// Handler serves one connection (asyncio's client_connected_cb). It runs in
// its own goroutine, owned by the server. ctx is cancelled when the server
// shuts down (Shutdown), so that a handler that never goes idle can finish
// politely, and when the handler returns. When the handler returns, the
// server closes the stream gracefully: what it queued is still sent.
type Handler func(ctx context.Context, s *chanstream.Stream)

// ErrServerClosed is returned by Serve once the server is closed: a stop
// was asked for, rather than a failure.
var ErrServerClosed = errors.New("listener: server closed")

// ErrNilHandler is returned by [Listen], [FromListener] and [FromFile] when
// the Handler is nil.
var ErrNilHandler = errors.New("listener: nil Handler")

type serverState uint8

// The states of a Server, in the order they are passed through.
const (
	stateBound   serverState = iota // listening sockets bound; not accepting yet
	stateServing                    // accepting
	stateClosed                     // not listening any more; connections may live on
)

// Server is a running server (asyncio.Server): its listening sockets, the
// goroutines accepting on them, and one goroutine per connection.
type Server struct {
	cfg      config
	handler  Handler
	lns      []net.Listener
	cleanups []func() // remove Unix socket files at Close

	values    context.Context // what every handler's ctx carries: Listen's ctx, without its cancellation
	connPanic func(error)     // reports the panic of a connection's goroutine

	mu       sync.Mutex
	state    serverState
	conns    map[*conn]struct{}
	closedCh chan struct{} // closed by Close

	acceptors group.Group
	handlers  group.Group

	accepted        atomic.Int64
	rejected        atomic.Int64
	panics          atomic.Int64
	evicted         atomic.Int64
	handshakeErrors atomic.Int64
	handshaking     atomic.Int64
}

// Listen listens on address and serves every connection with h (asyncio's
// start_server, and start_unix_server for network "unix"). network is
// "tcp", "tcp4", "tcp6" or "unix". For TCP, an empty host listens on every
// interface; a host name listens on each address it resolves to (asyncio
// does the same), so Addrs may return several. For Unix sockets, a stale
// socket file left by a dead server is removed first, but a path where a
// server still answers is an error and is left alone; the file is removed
// when the server closes, unless another server replaced it meanwhile.
// "@name" is Linux's abstract namespace.
//
// The server starts accepting at once unless WithStartServing(false) is
// given. ctx bounds the setting up (resolving the host name); its values,
// not its cancellation, are passed on to the handlers' ctx.
//
// The errors can be told apart with [errors.Is] and [errors.As]: an address
// in use matches [syscall.EADDRINUSE], as [net.Listen]'s does (for a Unix
// path also when a server answers there, or when a file that is not a socket
// is in the way); a network it does not know is a [net.UnknownNetworkError];
// a malformed address a [*net.AddrError]; a nil h is [ErrNilHandler]; and
// [WithReusePort] where the system has no SO_REUSEPORT matches
// [errors.ErrUnsupported].
func Listen(ctx context.Context, network, address string, h Handler, opts ...Option) (*Server, error) {
	cfg, err := newConfig("Listen", opts)
	if err != nil {
		return nil, err
	}
	if h == nil {
		return nil, ErrNilHandler
	}
	var lns []net.Listener
	var cleanups []func()
	switch network {
	case "tcp", "tcp4", "tcp6":
		lns, err = cfg.listenTCP(ctx, network, address)
	case "unix":
		var ln net.Listener
		var cleanup func()
		ln, cleanup, err = cfg.listenUnix(ctx, address)
		if err == nil {
			lns = []net.Listener{ln}
			cleanups = []func(){cleanup}
		}
	default:
		err = fmt.Errorf("listener: %w (want tcp, tcp4, tcp6 or unix)", net.UnknownNetworkError(network))
	}
	if err != nil {
		return nil, err
	}
	return newServer(ctx, cfg, h, lns, cleanups), nil
}

// FromListener serves the connections of an existing listener (asyncio's
// sock= for start_server, or a socket from systemd's socket activation): the
// server owns it from now on and closes it, but never removes a Unix socket
// file it did not create.
func FromListener(ln net.Listener, h Handler, opts ...Option) (*Server, error) {
	cfg, err := newConfig("FromListener", opts)
	if err != nil {
		return nil, err
	}
	if h == nil {
		return nil, ErrNilHandler
	}
	if ul, ok := ln.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false)
	}
	return newServer(context.Background(), cfg, h, []net.Listener{ln}, nil), nil
}

// FromFile serves the connections of the listening socket f, as
// [FromListener]; f is closed (the server holds its own descriptor).
func FromFile(f *os.File, h Handler, opts ...Option) (*Server, error) {
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("listener: FromFile(%s): %w", f.Name(), err)
	}
	f.Close()
	srv, err := FromListener(ln, h, opts...)
	if err != nil {
		ln.Close()
	}
	return srv, err
}

func newServer(ctx context.Context, cfg config, h Handler, lns []net.Listener, cleanups []func()) *Server {
	srv := &Server{
		cfg:       cfg,
		handler:   h,
		lns:       lns,
		cleanups:  cleanups,
		conns:     make(map[*conn]struct{}),
		closedCh:  make(chan struct{}),
		acceptors: group.New(),
		handlers:  group.New(),
	}
	srv.values = context.WithoutCancel(ctx)
	srv.connPanic = srv.reportPanic("connection goroutine")
	if cfg.startServing {
		srv.Start()
	}
	return srv
}

// Addrs returns the addresses the server listens on (asyncio's
// server.sockets).
func (srv *Server) Addrs() []net.Addr {
	addrs := make([]net.Addr, len(srv.lns))
	for i, ln := range srv.lns {
		addrs[i] = ln.Addr()
	}
	return addrs
}

// Start starts accepting connections (asyncio's start_serving), if the
// server was made with WithStartServing(false). It does nothing if the
// server is already serving or closed.
func (srv *Server) Start() {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.state != stateBound {
		return
	}
	srv.state = stateServing
	for _, ln := range srv.lns {
		srv.acceptors.Go(func() { srv.acceptLoop(ln) }, srv.reportPanic("accept loop"))
	}
}

// IsServing reports whether the server is accepting connections (asyncio's
// is_serving).
func (srv *Server) IsServing() bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.state == stateServing
}

// Serve accepts connections until the server is closed, then returns
// [ErrServerClosed] (asyncio's serve_forever); it starts the server if it
// was not serving yet. If ctx is done first, it closes the server (stops
// listening, as serve_forever does when cancelled) and returns ctx.Err();
// open connections stay, as after Close.
func (srv *Server) Serve(ctx context.Context) error {
	srv.Start()
	select {
	case <-srv.closedCh:
		return ErrServerClosed
	case <-ctx.Done():
		srv.Close()
		return ctx.Err()
	}
}

// Close stops listening (asyncio's close): the listening sockets are closed,
// and a Unix socket file the server made is removed. Open connections stay
// and their handlers go on; see [Server.CloseClients], [Server.AbortClients]
// and Shutdown. A connection accepted in the same instant is either served
// in full or closed at once, never left behind. Close is idempotent.
func (srv *Server) Close() error {
	srv.mu.Lock()
	if srv.state == stateClosed {
		srv.mu.Unlock()
		return nil
	}
	srv.state = stateClosed
	close(srv.closedCh)
	srv.mu.Unlock()
	var errs []error
	for _, ln := range srv.lns {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	for _, cleanup := range srv.cleanups {
		cleanup()
	}
	return errors.Join(errs...)
}

// CloseClients closes every connection gracefully (asyncio 3.13's
// close_clients): their queued data is still sent, and their handlers' reads
// and writes fail from now on with [chanstream.ErrClosed].
func (srv *Server) CloseClients() {
	for _, c := range srv.snapshot() {
		c.close()
	}
}

// AbortClients closes every connection at once (asyncio 3.13's
// abort_clients): queued data is dropped, handlers' ctx is cancelled and
// their reads and writes fail.
func (srv *Server) AbortClients() {
	for _, c := range srv.snapshot() {
		c.abort()
	}
}

// Shutdown stops the server in one bounded call: it stops listening, cancels
// every handler's ctx so that handlers can finish politely, and waits for
// them until ctx is done; then it aborts the connections left and returns
// ctx.Err(). It returns nil when every handler finished in time and the
// listening sockets closed cleanly; an error closing them (what Close would
// return) is returned too, joined with ctx.Err() if both happened, so that
// [errors.Is] finds each. A handler that ignores its ctx and does no I/O
// cannot be stopped: Shutdown returns at ctx's end all the same, and
// [Server.WaitClosed] waits for it.
func (srv *Server) Shutdown(ctx context.Context) error {
	closeErr := srv.Close()
	for _, c := range srv.snapshot() { // Close let no new one in
		c.ctx.cancel()
	}
	if err := srv.acceptors.Wait(ctx); err != nil {
		srv.AbortClients()
		return joinErrors(err, closeErr)
	}
	if err := srv.handlers.Wait(ctx); err != nil {
		srv.AbortClients()
		return joinErrors(err, closeErr)
	}
	return closeErr
}

// joinErrors is errors.Join, but returns a lone error as it is, so that a
// caller comparing Shutdown's error with == context.DeadlineExceeded still
// can.
func joinErrors(ctxErr, closeErr error) error {
	if closeErr == nil {
		return ctxErr
	}
	return errors.Join(ctxErr, closeErr)
}

// WaitClosed waits until the server is closed and every connection's
// goroutine has finished (asyncio 3.12's wait_closed), or ctx is done.
func (srv *Server) WaitClosed(ctx context.Context) error {
	select {
	case <-srv.closedCh:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := srv.acceptors.Wait(ctx); err != nil {
		return err
	}
	return srv.handlers.Wait(ctx)
}

// Stats are a server's counters.
type Stats struct {
	Active          int   // connections being served (in the TLS handshake, in the handler, or closing)
	Handshaking     int   // connections in their TLS handshake
	Accepted        int64 // connections accepted in all
	Rejected        int64 // connections closed as soon as accepted: over WithMaxConns, or arriving as the server closed
	Panics          int64 // handlers that panicked
	Evicted         int64 // connections closed by WithIdleTimeout or WithFirstByteTimeout
	HandshakeErrors int64 // TLS handshakes that failed or timed out
}

// Stats returns the server's counters.
func (srv *Server) Stats() Stats {
	srv.mu.Lock()
	active := len(srv.conns)
	srv.mu.Unlock()
	return Stats{
		Active:          active,
		Handshaking:     int(srv.handshaking.Load()),
		Accepted:        srv.accepted.Load(),
		Rejected:        srv.rejected.Load(),
		Panics:          srv.panics.Load(),
		Evicted:         srv.evicted.Load(),
		HandshakeErrors: srv.handshakeErrors.Load(),
	}
}

func (srv *Server) snapshot() []*conn {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	conns := make([]*conn, 0, len(srv.conns))
	for c := range srv.conns {
		conns = append(conns, c)
	}
	return conns
}

// acceptLoop accepts connections from ln until it is closed. A temporary
// failure (out of file descriptors, say) is logged and retried after a
// pause that grows from 5 ms to 1 s, so the loop neither spins nor exits.
func (srv *Server) acceptLoop(ln net.Listener) {
	var pause time.Duration
	for {
		raw, err := ln.Accept()
		if err != nil {
			select {
			case <-srv.closedCh:
				return
			default:
			}
			if !isTemporary(err) {
				srv.cfg.logger.Error("listener: accept failed; no longer accepting on this address", "addr", ln.Addr().String(), "err", err)
				return
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			srv.cfg.logger.Warn("listener: accept failed; retrying", "addr", ln.Addr().String(), "err", err, "retry_in", pause)
			select {
			case <-time.After(pause):
			case <-srv.closedCh:
				return
			}
			continue
		}
		pause = 0
		srv.accepted.Add(1)
		srv.startConn(raw)
	}
}

func isTemporary(err error) bool {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.EINTR} {
		if errors.Is(err, errno) {
			return true
		}
	}
	var ne interface{ Temporary() bool }
	return errors.As(err, &ne) && ne.Temporary()
}

// reportPanic returns the panic reporter of a server goroutine.
func (srv *Server) reportPanic(what string) func(error) {
	return func(err error) {
		srv.cfg.logger.Error("listener: "+what+" panicked", "err", err)
	}
}
