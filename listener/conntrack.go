package listener

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/internal/hooks"
	"github.com/chanstream/chanstream/tlsupgrade"
	"github.com/sourcegraph/conc/panics"
)

// conn is one accepted connection, from Accept until its goroutine ends.
type conn struct {
	srv *Server
	raw net.Conn
	ctx handlerCtx // the handler's

	mu        sync.Mutex
	stream    *chanstream.Stream // nil while handshaking
	aborted   bool               // abort was called
	closing   bool               // close was called
	progress  int64              // what had moved when the idle timer last looked: see idle
	firstByte *time.Timer        // WithFirstByteTimeout's, if set
	idleTimer *time.Timer        // WithIdleTimeout's, if set
	onAbort   context.CancelFunc // ends the wait for a graceful close
}

// startConn tracks raw and starts its goroutine, unless the server is
// closed or full, in which case raw is closed at once.
func (srv *Server) startConn(raw net.Conn) {
	srv.mu.Lock()
	if srv.state == stateClosed || (srv.cfg.maxConns > 0 && len(srv.conns) >= srv.cfg.maxConns) {
		srv.rejected.Add(1) // before the peer can see the close
		srv.mu.Unlock()
		raw.Close()
		return
	}
	c := &conn{srv: srv, raw: raw}
	c.ctx.values = srv.values
	srv.conns[c] = struct{}{}
	srv.handlers.Add() // Shutdown and WaitClosed wait for it from now on
	srv.mu.Unlock()
	// The stream and the timers are made here rather than in the
	// connection's goroutine: see serve.
	c.armTimers()
	c.makeStream()
	go c.serve() // a goroutine of srv.handlers: serve ends it
}

func (srv *Server) forget(c *conn) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	delete(srv.conns, c)
}

// serve runs the TLS handshake, the handler, and the graceful close.
//
// A goroutine whose stack grows past its first 2 KiB keeps the larger
// stack while it waits, and the stack is most of what an idle connection
// costs. So the handler, which runs on top of serve and runHandler, gets
// as much of it as can be: their frames are small, with the rare work in
// functions of their own, and what allocates (the stream, the timers; the
// allocator's slow path runs deep) was done by the accepting goroutine.
func (c *conn) serve() {
	defer c.end() // as srv.handlers.Go would: the goroutine was counted by startConn
	s := c.handshake()
	if s == nil {
		return
	}
	if c.runHandler(s) {
		s.Close()
	} else {
		s.Abort()
	}
	c.closeStream(s)
}

// end ends the connection's goroutine, reporting its panic (not the
// handler's: runHandler catches that) if it panicked.
func (c *conn) end() {
	if v := recover(); v != nil {
		r := panics.NewRecovered(1, v)
		c.srv.connPanic(r.AsError())
	}
	c.stopTimers()
	c.ctx.cancel()
	c.srv.forget(c)
	c.srv.handlers.Done()
}

// makeStream makes the connection's stream, and closes it at once if
// CloseClients or AbortClients came first.
func (c *conn) makeStream() {
	s := chanstream.NewStream(c.raw, c.srv.cfg.stream...)
	c.ctx.setStream(s)
	hooks.WatchCtx(s, &c.ctx)
	c.mu.Lock()
	c.stream = s
	aborted, closing := c.aborted, c.closing
	c.mu.Unlock()
	switch {
	case aborted:
		s.Abort()
	case closing:
		s.Close()
	}
}

// handshake runs the TLS handshake if the server serves TLS, and returns
// the stream, or nil if the handshake failed (the stream is then closed).
func (c *conn) handshake() *chanstream.Stream {
	c.mu.Lock()
	s := c.stream
	c.mu.Unlock()
	if c.srv.cfg.tls != nil && !c.upgrade(s) {
		s.WaitClosed(context.Background()) // the failed upgrade aborted it
		return nil
	}
	return s
}

// runHandler runs the handler and reports whether it returned without
// panicking (after a panic, it returns the zero value).
func (c *conn) runHandler(s *chanstream.Stream) bool {
	defer c.recoverHandler()
	c.srv.handler(&c.ctx, s)
	return true
}

// recoverHandler logs and counts a handler's panic.
func (c *conn) recoverHandler() {
	v := recover()
	if v == nil {
		return
	}
	r := panics.NewRecovered(1, v)
	c.srv.panics.Add(1)
	c.srv.cfg.logger.Error("listener: handler panicked; its connection is closed",
		"remote", remoteAddr(c.raw), "panic", r.Value, "stack", string(r.Stack))
}

// closeStream waits for the queued data to go, unless the connection is
// aborted meanwhile (AbortClients, or Shutdown running out of time).
func (c *conn) closeStream(s *chanstream.Stream) {
	c.ctx.cancel()
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

// upgrade upgrades the stream with tlsupgrade, bounded by the handshake
// timeout and the handler's ctx (which Shutdown and AbortClients cancel). On
// failure the stream is closed.
func (c *conn) upgrade(s *chanstream.Stream) bool {
	srv := c.srv
	srv.handshaking.Add(1)
	defer srv.handshaking.Add(-1)
	err := tlsupgrade.Server(&c.ctx, s, srv.cfg.tls,
		tlsupgrade.WithTLSHandshakeTimeout(srv.cfg.handshakeTimeout), tlsupgrade.WithTLSShutdownTimeout(srv.cfg.shutdownTimeout))
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
	c.ctx.cancel()
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
		c.firstByte = time.AfterFunc(cfg.firstByteTimeout, func() {
			if c.bytesRead() == 0 {
				c.evict()
			}
		})
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
		c.idleTimer = t
	}
}

func (c *conn) stopTimers() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range [...]*time.Timer{c.firstByte, c.idleTimer} {
		if t != nil {
			t.Stop()
		}
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

// idle reports whether nothing has moved in either direction since the
// last look: the peer has sent nothing, and the kernel has taken nothing
// the handler wrote (on Linux TCP, the kernel's count of acknowledged bytes
// shows a long write making progress before it returns). A connection whose
// read pump is paused is not idle: its handler is behind, and the pump waits
// for it rather than for the peer.
func (c *conn) idle() bool {
	c.mu.Lock()
	s := c.stream
	c.mu.Unlock()
	if s == nil {
		return true // still in the TLS handshake
	}
	st := s.Stats()
	acked, _ := bytesAcked(c.raw)
	// Each count only grows, so their sum changes when any of them does.
	progress := st.BytesRead + st.BytesWritten + acked
	c.mu.Lock()
	defer c.mu.Unlock()
	moved := progress != c.progress
	c.progress = progress
	return !moved && !st.ReadPaused
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
