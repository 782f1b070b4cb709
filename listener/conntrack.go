package listener

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/tlsupgrade"
	"github.com/sourcegraph/conc/panics"
)

// conn is one accepted connection, from Accept until its goroutine ends.
type conn struct {
	srv *Server
	raw net.Conn

	ctx    context.Context // the handler's
	cancel context.CancelFunc

	mu       sync.Mutex
	stream   *chanstream.Stream // nil while handshaking
	aborted  bool               // abort was called
	closing  bool               // close was called
	lastRead int64              // BytesRead when the idle timer last looked
	timers   []*time.Timer
	onAbort  context.CancelFunc // ends the wait for a graceful close
}

// startConn tracks raw and starts its goroutine, unless the server is
// closed or full, in which case raw is closed at once.
func (srv *Server) startConn(raw net.Conn) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.state == stateClosed || (srv.cfg.maxConns > 0 && len(srv.conns) >= srv.cfg.maxConns) {
		raw.Close()
		srv.rejected.Add(1)
		return
	}
	c := &conn{srv: srv, raw: raw}
	c.ctx, c.cancel = context.WithCancel(srv.connCtx)
	srv.conns[c] = struct{}{}
	srv.handlers.Go(c.serve, srv.reportPanic("connection goroutine"))
}

func (srv *Server) forget(c *conn) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	delete(srv.conns, c)
}

// serve runs the TLS handshake, the handler, and the graceful close.
func (c *conn) serve() {
	srv := c.srv
	defer srv.forget(c)
	defer c.cancel()
	c.armTimers()
	defer c.stopTimers()

	s := chanstream.NewStream(c.raw, srv.cfg.stream...)
	c.mu.Lock()
	c.stream = s
	aborted, closing := c.aborted, c.closing
	c.mu.Unlock()
	switch {
	case aborted: // AbortClients came before the stream existed
		s.Abort()
	case closing:
		s.Close()
	}
	if srv.cfg.tls != nil && !c.handshake(s) {
		s.WaitClosed(context.Background()) // the failed upgrade aborted it
		return
	}

	var pc panics.Catcher
	pc.Try(func() { srv.handler(c.ctx, s) })
	if r := pc.Recovered(); r != nil {
		srv.panics.Add(1)
		srv.cfg.logger.Error("listener: handler panicked; its connection is closed",
			"remote", remoteAddr(c.raw), "panic", r.Value, "stack", string(r.Stack))
		s.Abort()
	} else {
		s.Close()
	}
	// Wait for the queued data to go, unless the connection is aborted
	// meanwhile (AbortClients, or Shutdown running out of time).
	c.cancel()
	if err := s.WaitClosed(c.abortCtx()); err != nil {
		s.Abort()
		s.WaitClosed(context.Background())
	}
}

// abortCtx returns a ctx that is done once the connection is aborted.
func (c *conn) abortCtx() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.aborted {
		cancel()
		return ctx
	}
	c.onAbort = cancel
	return ctx
}

// handshake upgrades the stream with tlsupgrade, bounded by the handshake
// timeout and the handler's ctx (which Shutdown and AbortClients cancel). On
// failure the stream is closed.
func (c *conn) handshake(s *chanstream.Stream) bool {
	srv := c.srv
	srv.handshaking.Add(1)
	defer srv.handshaking.Add(-1)
	err := tlsupgrade.Server(c.ctx, s, srv.cfg.tls,
		tlsupgrade.WithHandshakeTimeout(srv.cfg.handshakeTimeout), tlsupgrade.WithShutdownTimeout(srv.cfg.shutdownTimeout))
	if err != nil {
		srv.handshakeErrors.Add(1)
		srv.cfg.logger.Debug("listener: TLS handshake failed", "remote", remoteAddr(c.raw), "err", err)
		return false
	}
	return true
}

// close closes the connection gracefully.
func (c *conn) close() {
	c.mu.Lock()
	c.closing = true
	s := c.stream
	c.mu.Unlock()
	if s != nil {
		s.Close()
	}
}

// abort closes the connection at once and cancels its handler's ctx.
func (c *conn) abort() {
	c.cancel()
	c.mu.Lock()
	c.aborted = true
	s, onAbort := c.stream, c.onAbort
	c.mu.Unlock()
	if s != nil {
		s.Abort()
	} else {
		c.raw.Close() // before the stream exists
	}
	if onAbort != nil {
		onAbort()
	}
}

// armTimers starts the idle and first-byte timers.
func (c *conn) armTimers() {
	cfg := c.srv.cfg
	c.mu.Lock()
	defer c.mu.Unlock()
	if cfg.firstByteTimeout > 0 {
		c.timers = append(c.timers, time.AfterFunc(cfg.firstByteTimeout, func() {
			if c.bytesRead() == 0 {
				c.evict()
			}
		}))
	}
	if cfg.idleTimeout > 0 {
		var t *time.Timer
		t = time.AfterFunc(cfg.idleTimeout, func() {
			if c.idle() {
				c.evict()
				return
			}
			t.Reset(cfg.idleTimeout)
		})
		c.timers = append(c.timers, t)
	}
}

func (c *conn) stopTimers() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.timers {
		t.Stop()
	}
}

// bytesRead returns how much the peer has sent (0 in the handshake).
func (c *conn) bytesRead() int64 {
	c.mu.Lock()
	s := c.stream
	c.mu.Unlock()
	if s == nil {
		return 0
	}
	return s.Stats().BytesRead
}

// idle reports whether the peer has sent nothing since the last look. A
// connection whose read pump is paused is not idle: its handler is behind,
// and the pump waits for it rather than for the peer.
func (c *conn) idle() bool {
	c.mu.Lock()
	s := c.stream
	c.mu.Unlock()
	if s == nil {
		return true // still in the TLS handshake
	}
	st := s.Stats()
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.BytesRead != c.lastRead || st.ReadPaused {
		c.lastRead = st.BytesRead
		return false
	}
	return true
}

func (c *conn) evict() {
	c.mu.Lock()
	done := c.aborted
	c.mu.Unlock()
	if done {
		return
	}
	c.srv.evicted.Add(1)
	c.abort()
}

func remoteAddr(c net.Conn) string {
	if a := c.RemoteAddr(); a != nil {
		return a.String()
	}
	return ""
}
