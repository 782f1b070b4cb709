package streamtest

import (
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ServeScript listens on 127.0.0.1, on a port of its own, and plays script
// as the peer of the one connection it accepts, so that code that dials
// (a client) can be tested against a script. It returns the address to
// dial.
//
// What the client writes is compared with the script's Expect steps, and
// what the Send steps hold is what the client reads. A SendEOF step
// half-closes the connection toward the client; a Reset, or a ReadError,
// resets it. The end of the client's data plays an ExpectCloseWrite step
// if that is the current one, and otherwise closes the script, as
// ExpectClose; a connection cannot tell a half-close from a close.
//
// When the test ends the listener is closed and, after waiting up to
// ScriptWriteWait for the client's data to end, so is the connection.
func ServeScript(t testing.TB, script *Script) net.Addr {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("streamtest: ServeScript: %v", err)
	}
	var (
		mu      sync.Mutex
		conn    *net.TCPConn // the accepted connection
		stopped bool         // the test has ended: close what is accepted
	)
	fromClientDone := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.AcceptTCP()
		ln.Close()
		if err != nil {
			close(fromClientDone)
			return
		}
		mu.Lock()
		if stopped {
			mu.Unlock()
			c.Close()
			close(fromClientDone)
			return
		}
		conn = c
		mu.Unlock()
		defer c.Close()
		toClientDone := make(chan struct{})
		go func() {
			defer close(toClientDone)
			playToClient(script, c)
		}()
		playFromClient(script, c)
		close(fromClientDone)
		<-toClientDone
	}()
	t.Cleanup(func() {
		ln.Close()
		select {
		case <-fromClientDone:
		case <-time.After(ScriptWriteWait):
		}
		mu.Lock()
		stopped = true
		if conn != nil {
			conn.Close()
		}
		mu.Unlock()
		script.Close()
		<-done
	})
	return ln.Addr()
}

// playToClient copies what the script sends to the client, and its end:
// a half-close after SendEOF, a reset after Reset or ReadError.
func playToClient(script *Script, c *net.TCPConn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := script.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		switch {
		case err == nil:
		case err == io.EOF:
			c.CloseWrite()
			return
		case errors.Is(err, net.ErrClosed), errors.Is(err, ErrScript):
			return
		default: // a Reset or a ReadError step
			c.SetLinger(0)
			c.Close()
			return
		}
	}
}

// playFromClient copies what the client writes into the script until the
// client's data ends, then plays that end.
func playFromClient(script *Script, c *net.TCPConn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := script.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err == nil {
			continue
		}
		if kind, ok := script.current(); err == io.EOF && ok && kind == stepExpectCloseWrite {
			script.CloseWrite()
			return
		}
		if err == io.EOF || errors.Is(err, syscall.ECONNRESET) {
			script.Close()
		}
		return
	}
}

// current returns the kind of the step now played, past Wait steps, and
// false once the script has run out.
func (s *Script) current() (stepKind, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := s.pos; i < len(s.steps); i++ {
		if s.steps[i].kind != stepWait {
			return s.steps[i].kind, true
		}
	}
	return 0, false
}
