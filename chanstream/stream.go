package chanstream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chanstream/chanstream/internal/group"
)

// Stream is one connection with asyncio's stream API: the (reader, writer)
// pair of open_connection and start_server in one value. A read pump
// goroutine moves the connection's bytes into the [Reader]'s bounded chunk
// channel, and a write pump sends what the [Writer] queues; each runs only
// while there is work for it. Reader and Writer return the two halves, so
// that one goroutine can read while another writes.
//
// Every Reader and Writer method is on the Stream too, forwarding to its
// half, except two: Buffered, which both halves have with different
// meanings (use s.Reader().Buffered() or s.Writer().Buffered(), or
// [Stream.Stats], which has both), and Feed, since a stream's connection
// feeds its reader. Stats,
// Close, Abort and [Stream.WaitClosed] act on the whole stream, whichever
// half they are called on.
//
// A *Stream is a [net.Conn]. Its deadlines are the stream's own, kept apart
// from the socket's: they act on the channel selects, and a read call
// waiting on the socket itself is woken through the socket's poller, which
// consumes nothing; either way an expired deadline loses no data.
//
// Close (or Abort) must be called when the stream is no longer needed, as
// for a net.Conn; WaitClosed then waits until its goroutines have finished.
type Stream struct {
	// The halves, and the first run's attachment, are in one allocation
	// with the stream: an idle connection costs the fewer bytes.
	r     Reader
	w     Writer
	first attachment // the run start makes first (Attach makes the next ones)

	pumps     group.Group
	closeOnce sync.Once

	mu       sync.Mutex
	conn     net.Conn
	run      *attachment    // the pumps' current run; nil while detached
	leftover *chunk         // read by the pump but not handed over when Detach stopped it
	extra    map[string]any // ExtraInfo given to Attach

	own sockOwner // mu: who reads the socket
}

// An attachment is one run of the pumps over one connection. Detach ends it;
// Attach starts the next.
type attachment struct {
	socket                 // conn, and its RawConn if it is a socket
	detached atomic.Bool   // set by Detach: the pumps stop
	detachCh chan struct{} // Stream.mu: closed by Detach; made when first asked for (detachChan)
	readDone chan struct{} // closed when the read pump of a connection that is not a socket has finished

	// On a socket: what reads it for whoever reads it, and the Writer's
	// direct writes to it.
	sr sockRead
	sw sockWrite
}

// init makes a an attachment over conn, in place.
func (a *attachment) init(conn net.Conn, chunkSize int) {
	a.conn = conn
	if a.rc = rawConnOf(conn); a.rc != nil {
		a.sr.init(chunkSize)
		a.sw.init()
	} else {
		a.readDone = make(chan struct{})
	}
}

// isSocket reports whether a's connection is read and written through its
// RawConn (a socket).
func (a *attachment) isSocket() bool { return a.rc != nil }

// detachChan returns a channel closed when Detach stops a's pumps.
func (s *Stream) detachChan(a *attachment) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.detachCh == nil {
		if a.detached.Load() {
			return closedChan
		}
		a.detachCh = make(chan struct{})
	}
	return a.detachCh
}

var _ net.Conn = (*Stream)(nil)

// errNilConn is NewStream's panic for a nil connection: caught there, rather
// than by a pump goroutine, where nobody could recover it.
var errNilConn = errors.New("chanstream: NewStream of a nil net.Conn")

// isNilConn reports whether conn is nil or a nil pointer.
func isNilConn(conn net.Conn) bool {
	if conn == nil {
		return true
	}
	v := reflect.ValueOf(conn)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

// NewStream adopts conn: from now on the stream owns it and closes it. It
// starts the two pumps. It panics if conn is nil (or a nil pointer) or an
// option is invalid ([CheckOptions] reports the same error).
func NewStream(conn net.Conn, opts ...Option) *Stream {
	if isNilConn(conn) {
		panic(errNilConn)
	}
	cfg := mustConfig("NewStream", opts)
	s := &Stream{pumps: group.New()}
	s.r.init(cfg, true)
	s.r.src = s
	s.w.init(s, cfg)
	s.w.direct.Store(true)
	s.start(conn, &s.first)
	return s
}

// start runs the stream over conn, with a as the run's attachment: the
// stream's first, or a new one after Detach. The read pump starts, or on
// a socket will if no read call comes first; the write pump will when there
// is something to send.
func (s *Stream) start(conn net.Conn, a *attachment) {
	a.init(conn, readChunkSize(s.r.limit))
	s.w.eofAbility.Store(canWriteEOF(conn))
	s.mu.Lock()
	s.conn, s.run = conn, a
	s.beginLocked(a)
	s.mu.Unlock()
	s.w.mu.Lock()
	s.w.run = a
	s.w.kickLocked()
	s.w.mu.Unlock()
}

// pumpPanicked breaks the stream with the error a pump panicked with, so
// that the panic reaches the readers, the writers and WaitClosed.
func (s *Stream) pumpPanicked(err error) {
	err = fmt.Errorf("chanstream: a stream pump panicked: %w", err)
	s.r.finish(err)
	s.w.fail(err)
	s.w.abort()
	s.closeConn()
}

// shutdownConn closes the connection at the end of a graceful close. Over
// TLS it first sends close_notify. On TLS 1.3, where close_notify ends one
// direction only, it then waits, up to the TLS shutdown timeout, for the
// peer's (the read pump ends on it), as asyncio's SSL shutdown does. On
// TLS 1.2 close_notify ends the connection and the peer must send nothing
// more but its answer, which the sender need not wait for (RFC 5246
// §7.2.1): it closes at once, rather than wait on a peer such as crypto/tls
// that answers only when its own code closes.
func (s *Stream) shutdownConn(a *attachment) {
	if tc, ok := a.conn.(tlsConn); ok {
		timeout := DefaultTLSShutdownTimeout
		if st, ok := a.conn.(interface{ ShutdownTimeout() time.Duration }); ok {
			timeout = st.ShutdownTimeout() // tlsupgrade's
		}
		deadline := time.Now().Add(timeout)
		tc.SetWriteDeadline(deadline) // the alert must not block the close
		// CloseWrite fails before the handshake is done, so the version
		// is known when it succeeds.
		if tc.CloseWrite() == nil && tlsCanWriteEOF(tc) == eofYes {
			timer := time.NewTimer(time.Until(deadline))
			select {
			case <-a.readDone:
			case <-timer.C:
			case <-s.w.abortedChan():
			}
			timer.Stop()
		}
	}
	s.closeConn()
}

// closeConn closes the connection the stream holds now.
func (s *Stream) closeConn() {
	s.closeOnce.Do(func() { s.Conn().Close() })
}

// Reader returns the read half of the stream.
func (s *Stream) Reader() *Reader { return &s.r }

// Writer returns the write half of the stream.
func (s *Stream) Writer() *Writer { return &s.w }

// Conn returns the connection the stream is running over. Reading from or
// writing to it directly bypasses the stream and corrupts it.
func (s *Stream) Conn() net.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn
}

// LocalAddr returns the local address of the connection.
func (s *Stream) LocalAddr() net.Addr { return s.Conn().LocalAddr() }

// RemoteAddr returns the address of the peer.
func (s *Stream) RemoteAddr() net.Addr { return s.Conn().RemoteAddr() }

// ExtraInfo answers asyncio's get_extra_info: "peername" (the
// [Stream.RemoteAddr]), "sockname" (the [Stream.LocalAddr]) and "socket"
// (the [net.Conn]; over TLS the connection under it, as asyncio's is the
// socket under its SSL layer); over TLS also "ssl_object" (the
// [tls.ConnectionState]), "peercert" (the peer's leaf [*x509.Certificate],
// nil if it sent none), "cipher" (a [TLSCipher]) and, after tlsupgrade,
// "sslcontext" (the [*tls.Config]). It reports false for a name it does not
// know.
func (s *Stream) ExtraInfo(name string) (any, bool) {
	s.mu.Lock()
	conn := s.conn
	v, ok := s.extra[name]
	s.mu.Unlock()
	if ok {
		return v, true
	}
	switch name {
	case "peername":
		return conn.RemoteAddr(), true
	case "sockname":
		return conn.LocalAddr(), true
	case "socket":
		// asyncio's is the transport's socket, under TLS too: the
		// connection under a *tls.Conn (or anything with NetConn).
		for {
			u, ok := conn.(interface{ NetConn() net.Conn })
			if !ok {
				break
			}
			conn = u.NetConn()
		}
		return conn, true
	}
	if tc, ok := conn.(tlsConn); ok {
		st := tc.ConnectionState()
		switch name {
		case "ssl_object":
			return st, true
		case "peercert":
			if len(st.PeerCertificates) == 0 {
				return (*x509.Certificate)(nil), true
			}
			return st.PeerCertificates[0], true
		case "cipher":
			return cipherOf(st), true
		}
	}
	return nil, false
}

// Close begins a graceful close (asyncio's writer.close): reads fail from
// now on with [ErrClosed], and so do writes, but the data already queued is
// still sent before the connection is closed. It returns at once, as
// [net.Conn.Close], and a second call does nothing. Use [Stream.WaitClosed]
// to wait until the data has gone and the connection is closed.
func (s *Stream) Close() error {
	s.r.close()
	s.readerClosed()
	s.w.close()
	if s.detached() {
		s.closeConn() // no pump to do it; Detach sent everything queued
	}
	return nil
}

func (s *Stream) detached() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.run == nil
}

// Abort closes the stream at once (asyncio's transport.abort): queued data
// is dropped and the connection closed; pending reads and writes fail with
// [ErrClosed]. The connection is closed as its Close closes it: on TCP the
// peer sees an orderly end (a FIN, after what the kernel still had to send),
// not a reset; use [Stream.AbortReset] to send one.
func (s *Stream) Abort() {
	s.r.close()
	s.readerClosed()
	s.w.abort()
	s.closeConn()
}

// ErrResetUnsupported is returned by AbortReset when the stream's
// connection cannot send a reset (it is not over TCP): the stream was
// aborted all the same.
var ErrResetUnsupported = errors.New("chanstream: the connection cannot be reset (not TCP); it was closed instead")

// AbortReset is Abort with a reset: on TCP (and TLS over TCP) it sets
// SO_LINGER to 0 before the close, so that the peer sees ECONNRESET rather
// than an orderly end, and the kernel drops whatever it had still to send.
// It is the close a relay uses to pass on a reset it received, or a server
// to shed a peer it gives up on. The stream is aborted in every case: on a
// connection that cannot send a reset (a Unix socket, a pipe) AbortReset
// closes it as Abort does and returns [ErrResetUnsupported]; on a stream
// whose connection is already closed it returns [ErrClosed].
func (s *Stream) AbortReset() error {
	err := ErrResetUnsupported
	sock, _ := s.ExtraInfo("socket") // the connection under TLS, if any
	tc, isTCP := sock.(*net.TCPConn)
	if isTCP {
		if err = tc.SetLinger(0); errors.Is(err, net.ErrClosed) {
			err = ErrClosed
		}
	}
	s.r.close()
	s.readerClosed()
	s.w.abort()
	if isTCP && err == nil {
		tc.Close() // first: a TLS layer's Close would send close_notify
	}
	s.closeConn()
	return err
}

// WaitClosed waits until the stream is closed and its goroutines have
// finished, after Close or Abort (asyncio's wait_closed). It returns the
// error that broke the connection before the close completed, as asyncio's
// wait_closed raises the exception the connection was lost with: a reset the
// reader met, or a write that failed (queued data then went unsent), whether
// or not anything was queued. It returns nil if the connection ended cleanly
// or was aborted; the end of the peer's sending ([io.EOF], or a TLS stream
// cut short) is not an error here. If ctx is done first it returns
// ctx.Err(), and the stream stays as it is (Abort ends it).
func (s *Stream) WaitClosed(ctx context.Context) error {
	if err := s.pumps.Wait(ctx); err != nil {
		return err
	}
	if g := s.r.helpers.Load(); g != nil {
		if err := g.Wait(ctx); err != nil {
			return err
		}
	}
	return s.w.closeErr()
}

// SetDeadline sets the read and write deadlines. See [Stream.SetReadDeadline]
// and [Stream.SetWriteDeadline].
func (s *Stream) SetDeadline(t time.Time) error {
	s.r.deadline.set(t, s)
	s.w.deadline.set(t, nil)
	return nil
}

// SetReadDeadline sets the deadline for read calls. See
// [Reader.SetReadDeadline].
func (s *Stream) SetReadDeadline(t time.Time) error { return s.r.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline for write calls. See
// [Writer.SetWriteDeadline].
func (s *Stream) SetWriteDeadline(t time.Time) error { return s.w.SetWriteDeadline(t) }

// Stats returns the stream's counters.
func (s *Stream) Stats() Stats {
	rs, ws := s.r.Stats(), s.w.Stats()
	rs.BytesWritten, rs.WriteBuffered, rs.WriteWaits = ws.BytesWritten, ws.WriteBuffered, ws.WriteWaits
	return rs
}

// The Reader's methods.

// ReadChunk reads up to n bytes. See [Reader.ReadChunk].
func (s *Stream) ReadChunk(ctx context.Context, n int) ([]byte, error) { return s.r.ReadChunk(ctx, n) }

// ReadLine reads one line. See [Reader.ReadLine].
func (s *Stream) ReadLine(ctx context.Context) ([]byte, error) { return s.r.ReadLine(ctx) }

// ReadLineView reads one line without copying it. See [Reader.ReadLineView].
func (s *Stream) ReadLineView(ctx context.Context) ([]byte, error) { return s.r.ReadLineView(ctx) }

// ReadExactlyInto reads exactly len(p) bytes into p. See
// [Reader.ReadExactlyInto].
func (s *Stream) ReadExactlyInto(ctx context.Context, p []byte) (int, error) {
	return s.r.ReadExactlyInto(ctx, p)
}

// WriteTo writes the stream's data to w until EOF; io.Copy(w, s) uses it.
// See [Reader.WriteTo].
func (s *Stream) WriteTo(w io.Writer) (int64, error) { return s.r.WriteTo(w) }

// ReadUntil reads data through a separator. See [Reader.ReadUntil].
func (s *Stream) ReadUntil(ctx context.Context, seps ...[]byte) ([]byte, error) {
	return s.r.ReadUntil(ctx, seps...)
}

// ReadExactly reads exactly n bytes. See [Reader.ReadExactly].
func (s *Stream) ReadExactly(ctx context.Context, n int) ([]byte, error) {
	return s.r.ReadExactly(ctx, n)
}

// Read reads up to len(p) bytes into p, bounded by the read deadline. See
// [Reader.Read].
func (s *Stream) Read(p []byte) (int, error) { return s.r.Read(p) }

// ReadContext is Read with a ctx. See [Reader.ReadContext].
func (s *Stream) ReadContext(ctx context.Context, p []byte) (int, error) {
	return s.r.ReadContext(ctx, p)
}

// Discard skips the next n bytes. See [Reader.Discard].
func (s *Stream) Discard(ctx context.Context, n int) (int, error) { return s.r.Discard(ctx, n) }

// DiscardUntil skips data through the next separator. See
// [Reader.DiscardUntil].
func (s *Stream) DiscardUntil(ctx context.Context, seps ...[]byte) (int, error) {
	return s.r.DiscardUntil(ctx, seps...)
}

// AtEOF reports whether the stream has reached EOF and every byte has been
// read. See [Reader.AtEOF].
func (s *Stream) AtEOF() bool { return s.r.AtEOF() }

// Limit returns the buffer limit set by [WithLimit]. See [Reader.Limit].
func (s *Stream) Limit() int { return s.r.Limit() }

// Err returns the error that ended the stream, if any. See [Reader.Err].
func (s *Stream) Err() error { return s.r.Err() }

// Lines returns an iterator over the lines of the stream. See [Reader.Lines].
func (s *Stream) Lines(ctx context.Context) iter.Seq2[[]byte, error] { return s.r.Lines(ctx) }

// FeedEOF marks the end of the data: reads report EOF once the buffered
// data is read, and the read pump stops reading. See [Reader.FeedEOF].
func (s *Stream) FeedEOF() { s.r.FeedEOF() }

// FeedError ends the data with err: reads report err once the buffered
// data is read, and the read pump stops reading. See [Reader.FeedError].
func (s *Stream) FeedError(err error) { s.r.FeedError(err) }

// The Writer's methods.

// Write queues a copy of p to be sent, bounded by the write deadline. See
// [Writer.Write].
func (s *Stream) Write(p []byte) (int, error) { return s.w.Write(p) }

// WriteContext is Write with a ctx. See [Writer.WriteContext].
func (s *Stream) WriteContext(ctx context.Context, p []byte) (int, error) {
	return s.w.WriteContext(ctx, p)
}

// WriteLines queues every line as one write. See [Writer.WriteLines].
func (s *Stream) WriteLines(lines ...[]byte) error { return s.w.WriteLines(lines...) }

// Drain waits until the queued bytes are at or below the low watermark. See
// [Writer.Drain].
func (s *Stream) Drain(ctx context.Context) error { return s.w.Drain(ctx) }

// WriteEOF closes the write half once the queued data has been sent. See
// [Writer.WriteEOF].
func (s *Stream) WriteEOF() error { return s.w.WriteEOF() }

// CloseWrite half-closes the stream, as [Stream.WriteEOF]. See
// [Writer.CloseWrite]. It makes a [*Stream] an
// interface{ CloseWrite() error }, as [*net.TCPConn] and [*tls.Conn] are.
func (s *Stream) CloseWrite() error { return s.w.WriteEOF() }

// ReadFrom writes what it reads from src to the stream until src's EOF;
// io.Copy(s, src) uses it. See [Writer.ReadFrom].
func (s *Stream) ReadFrom(src io.Reader) (int64, error) { return s.w.ReadFrom(src) }

// TryWrite queues p whole or not at all, without blocking. See
// [Writer.TryWrite].
func (s *Stream) TryWrite(p []byte) (ok bool, err error) { return s.w.TryWrite(p) }

// WriteBufferLimits returns the write-buffer watermarks. See
// [Writer.WriteBufferLimits].
func (s *Stream) WriteBufferLimits() (high, low int) { return s.w.WriteBufferLimits() }

// CanWriteEOF reports whether [Stream.WriteEOF] can half-close the
// connection. See [Writer.CanWriteEOF].
func (s *Stream) CanWriteEOF() bool { return s.w.CanWriteEOF() }

// IsClosing reports whether the stream is closed or being closed. See
// [Writer.IsClosing].
func (s *Stream) IsClosing() bool { return s.w.IsClosing() }

// ChunkChan returns a [Receiver] delivering the stream's data in chunks. See
// [Reader.ChunkChan].
func (s *Stream) ChunkChan(ctx context.Context) *Receiver { return s.r.ChunkChan(ctx) }

// Chunks returns a [Receiver] delivering the stream's data in chunks.
//
// Deprecated: use [Stream.ChunkChan].
func (s *Stream) Chunks(ctx context.Context) *Receiver { return s.r.ChunkChan(ctx) }

// LineChan returns a [Receiver] delivering the data line by line. See
// [Reader.LineChan].
func (s *Stream) LineChan(ctx context.Context) *Receiver { return s.r.LineChan(ctx) }

// WriteFrom writes every slice received from ch until ch is closed. See
// [Writer.WriteFrom].
func (s *Stream) WriteFrom(ctx context.Context, ch <-chan []byte) (int64, error) {
	return s.w.WriteFrom(ctx, ch)
}

// TLSCipher is ExtraInfo's "cipher": asyncio's (name, protocol, secret_bits)
// tuple.
type TLSCipher struct {
	Name       string // the cipher suite, as tls.CipherSuiteName
	Protocol   string // "TLSv1.3", "TLSv1.2", ... as Python's ssl names them
	SecretBits int    // the strength of the cipher's key
}

func cipherOf(st tls.ConnectionState) TLSCipher {
	name := tls.CipherSuiteName(st.CipherSuite)
	bits := 0
	switch {
	case strings.Contains(name, "AES_128"):
		bits = 128
	case strings.Contains(name, "AES_256"), strings.Contains(name, "CHACHA20"):
		bits = 256
	case strings.Contains(name, "3DES"):
		bits = 112
	}
	protocol := map[uint16]string{
		tls.VersionTLS10: "TLSv1", tls.VersionTLS11: "TLSv1.1",
		tls.VersionTLS12: "TLSv1.2", tls.VersionTLS13: "TLSv1.3",
	}[st.Version]
	return TLSCipher{Name: name, Protocol: protocol, SecretBits: bits}
}
