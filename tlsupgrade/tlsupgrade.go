package tlsupgrade

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/internal/hooks"
	"github.com/chanstream/chanstream/internal/opt"
)

// Option configures [Client] and [Server]. It is [chanstream.Option]: an
// option of another package, such as a stream option, is an error here.
type Option = chanstream.Option

// DefaultTLSHandshakeTimeout is how long a handshake may take by default, as
// asyncio's ssl_handshake_timeout: for [Client] and [Server], and for the
// handshakes of dial and listener. The default of [WithTLSShutdownTimeout]
// is [chanstream.DefaultTLSShutdownTimeout].
const DefaultTLSHandshakeTimeout = 60 * time.Second

// DefaultHandshakeTimeout is [DefaultTLSHandshakeTimeout].
//
// Deprecated: use DefaultTLSHandshakeTimeout.
const DefaultHandshakeTimeout = DefaultTLSHandshakeTimeout

// DefaultShutdownTimeout is [chanstream.DefaultTLSShutdownTimeout].
//
// Deprecated: use chanstream.DefaultTLSShutdownTimeout.
const DefaultShutdownTimeout = chanstream.DefaultTLSShutdownTimeout

type settings struct {
	serverName       string
	handshakeTimeout time.Duration
	shutdownTimeout  time.Duration
}

func newSettings() *settings {
	return &settings{handshakeTimeout: DefaultTLSHandshakeTimeout, shutdownTimeout: chanstream.DefaultTLSShutdownTimeout}
}

// layer holds this package's settings among the options.
var layer = opt.Layer[settings]{Scope: opt.Upgrade, New: newSettings}

func upgradeOption(name string, apply func(*settings)) Option {
	return opt.Wrap[Option](layer.Option(name, apply))
}

// WithServerName sets the name the server's certificate is checked against
// and sent in SNI (asyncio's server_hostname). It overrides cfg.ServerName.
// For [Client] only.
func WithServerName(name string) Option {
	return upgradeOption(fmt.Sprintf("tlsupgrade.WithServerName(%q)", name), func(s *settings) { s.serverName = name })
}

// WithTLSHandshakeTimeout bounds the handshake (asyncio's
// ssl_handshake_timeout; default [DefaultTLSHandshakeTimeout], 60 s). It
// must be positive.
func WithTLSHandshakeTimeout(d time.Duration) Option {
	return upgradeOption(fmt.Sprintf("tlsupgrade.WithTLSHandshakeTimeout(%v)", d), func(s *settings) { s.handshakeTimeout = d })
}

// WithTLSShutdownTimeout bounds how long closing the stream waits for the
// peer's close_notify after sending its own, before it closes the connection
// anyway (asyncio's ssl_shutdown_timeout; default
// [chanstream.DefaultTLSShutdownTimeout], 30 s). Only TLS 1.3 waits: on
// TLS 1.2 close_notify ends the connection, which closes at once. It must
// be positive.
func WithTLSShutdownTimeout(d time.Duration) Option {
	return upgradeOption(fmt.Sprintf("tlsupgrade.WithTLSShutdownTimeout(%v)", d), func(s *settings) { s.shutdownTimeout = d })
}

// WithHandshakeTimeout is [WithTLSHandshakeTimeout].
//
// Deprecated: use WithTLSHandshakeTimeout, the name dial and listener use
// too.
func WithHandshakeTimeout(d time.Duration) Option { return WithTLSHandshakeTimeout(d) }

// WithShutdownTimeout is [WithTLSShutdownTimeout].
//
// Deprecated: use WithTLSShutdownTimeout, the name dial and listener use
// too.
func WithShutdownTimeout(d time.Duration) Option { return WithTLSShutdownTimeout(d) }

// newSettingsFrom validates opts for the function named where.
func newSettingsFrom(where string, opts []Option) (*settings, error) {
	all, err := opt.Apply(opt.Upgrade, where, opts)
	if err != nil {
		return nil, err
	}
	s := layer.Get(&all)
	switch {
	case s.handshakeTimeout <= 0:
		return nil, fmt.Errorf("WithTLSHandshakeTimeout(%v): must be positive", s.handshakeTimeout)
	case s.shutdownTimeout <= 0:
		return nil, fmt.Errorf("WithTLSShutdownTimeout(%v): must be positive", s.shutdownTimeout)
	}
	return s, nil
}

// Error is the error of a failed upgrade. The stream is closed.
type Error struct {
	// Op is the step that failed: "options", "detach" (the stream could
	// not be handed over: it had ended, was closing, or ctx ended while a
	// read or write was in progress) or "handshake".
	Op string
	// Canceled reports that ctx ended (the error matches ctx.Err()).
	Canceled bool
	// Err is the cause: crypto/tls's error (a
	// *tls.CertificateVerificationError wrapping x509's; an alert the peer
	// sent is crypto/tls's unexported alert type, "remote error: ..."),
	// io.EOF when the peer hung up, or the ctx's error.
	Err error

	timeout bool
}

// Timeout reports whether the upgrade failed because a deadline passed: the
// handshake timeout ([WithHandshakeTimeout]), or ctx's deadline. The error
// then matches [context.DeadlineExceeded]. It is the method of [net.Error]
// and dial.Error, so that errors.As(err, &te) with te an interface{
// Timeout() bool } finds it.
func (e *Error) Timeout() bool { return e.timeout }

func (e *Error) Error() string {
	what := "failed"
	switch {
	case e.timeout:
		what = "timed out"
	case e.Canceled:
		what = "was cancelled"
	}
	return "tlsupgrade: " + e.Op + " " + what + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Client upgrades s to TLS as a client (asyncio's StreamWriter.start_tls):
// the queued data is sent, the pumps stop, the handshake runs over the
// connection — fed first with any bytes the stream had received and not
// handed out — and, once it succeeds, the same s reads and writes through
// TLS. A nil cfg means a default config. The server's certificate is checked
// against [WithServerName], else cfg.ServerName; one of them must be set
// unless cfg.InsecureSkipVerify is.
//
// On any error the stream is closed, and the error, an [*Error], says
// whether the handshake failed, timed out ([WithTLSHandshakeTimeout]) or was
// cancelled (ctx).
func Client(ctx context.Context, s *chanstream.Stream, cfg *tls.Config, opts ...Option) error {
	return upgrade(ctx, s, cfg, opts, true)
}

// Server upgrades s to TLS as a server; see [Client]. cfg must hold a
// certificate.
func Server(ctx context.Context, s *chanstream.Stream, cfg *tls.Config, opts ...Option) error {
	return upgrade(ctx, s, cfg, opts, false)
}

func upgrade(ctx context.Context, s *chanstream.Stream, cfg *tls.Config, opts []Option, client bool) error {
	fail := func(op string, err error) error {
		s.Abort()
		return &Error{Op: op, Err: err}
	}
	where := "Server"
	if client {
		where = "Client"
	}
	set, err := newSettingsFrom(where, opts)
	if err != nil {
		return fail("options", err)
	}
	if !client && !opt.HasCertificate(cfg) {
		// Every handshake would fail, after the peer's ClientHello.
		return fail("options", errors.New("Server needs a config with a certificate (Certificates, GetCertificate or GetConfigForClient)"))
	}
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg = cfg.Clone()
	if client {
		if set.serverName != "" {
			cfg.ServerName = set.serverName
		}
		if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
			return fail("options", errors.New("no server name to verify the certificate against: use WithServerName"))
		}
	} else if set.serverName != "" {
		return fail("options", errors.New("WithServerName is for Client, not Server"))
	}

	raw, unread, err := hooks.Detach(s, ctx)
	if err != nil {
		e := &Error{Op: "detach", Err: err, Canceled: ctx.Err() != nil, timeout: ctx.Err() == context.DeadlineExceeded}
		s.Abort()
		return e
	}
	spy := &rawConn{Conn: raw, prefix: unread}
	var tc *tls.Conn
	if client {
		tc = tls.Client(spy, cfg)
	} else {
		tc = tls.Server(spy, cfg)
	}
	hctx, cancel := context.WithTimeout(ctx, set.handshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		raw.Close()
		s.Abort()
		e := &Error{Op: "handshake", Err: err}
		switch {
		case ctx.Err() != nil:
			e.Canceled = true
			e.timeout = ctx.Err() == context.DeadlineExceeded
			e.Err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		case hctx.Err() != nil:
			e.timeout = true
			e.Err = fmt.Errorf("no handshake within %v: %w (%w)", set.handshakeTimeout, context.DeadlineExceeded, err)
		}
		return e
	}
	conn := &Conn{Conn: tc, raw: spy, shutdownTimeout: set.shutdownTimeout}
	// asyncio's "socket" stays the transport's socket under TLS.
	if err := hooks.Attach(s, conn, map[string]any{"sslcontext": cfg, "socket": raw}); err != nil {
		conn.Close()
		return &Error{Op: "handshake", Err: err}
	}
	return nil
}

// ErrTruncated is what reads return when the connection ended without the
// peer's close_notify, whether on a record boundary or inside a record: the
// data may have been cut short by an attacker or a crash. It matches
// [io.ErrUnexpectedEOF] (so code that treats a stream cut short as such, as
// chanstream's reader does, still sees one), and is distinct from [io.EOF],
// which reads return after close_notify.
var ErrTruncated = fmt.Errorf("tlsupgrade: the connection ended without close_notify (truncated): %w", io.ErrUnexpectedEOF)

// Conn is the TLS connection a stream runs over after an upgrade (what
// Stream.Conn returns): a [*tls.Conn] that tells truncation from a clean
// end.
type Conn struct {
	*tls.Conn
	raw             *rawConn
	shutdownTimeout time.Duration
}

// Read reads through TLS. At the end of the stream it returns [io.EOF] if
// the peer sent close_notify, and [ErrTruncated] if the connection simply
// ended, wherever in the record stream it was cut.
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if (err == io.EOF || err == io.ErrUnexpectedEOF) && c.raw.eof.Load() {
		// crypto/tls takes a bare EOF of the connection on a record
		// boundary as the end, and one inside a record as
		// io.ErrUnexpectedEOF: either way no close_notify came.
		err = ErrTruncated
	}
	return n, err
}

// ShutdownTimeout returns how long closing the stream waits for the peer's
// close_notify.
func (c *Conn) ShutdownTimeout() time.Duration { return c.shutdownTimeout }

// rawConn is the connection under TLS: it reads the bytes the stream had
// received first, and notes when the connection itself reaches EOF.
type rawConn struct {
	net.Conn
	prefix []byte
	eof    atomic.Bool
}

func (c *rawConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	n, err := c.Conn.Read(p)
	if err == io.EOF {
		c.eof.Store(true)
	}
	return n, err
}
