package dial

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/internal/opt"
	"github.com/chanstream/chanstream/tlsupgrade"
)

// Option configures [Dial], [FromConn], [FromFile] and [Pipe]. It is
// [chanstream.Option], so stream options such as [chanstream.WithLimit] and
// [chanstream.WithWriteBufferLimits] are passed here too, next to this
// package's. Only stream options apply to FromConn, FromFile and Pipe.
type Option = chanstream.Option

// DefaultTLSHandshakeTimeout is [tlsupgrade.DefaultTLSHandshakeTimeout].
//
// Deprecated: use tlsupgrade.DefaultTLSHandshakeTimeout.
const DefaultTLSHandshakeTimeout = tlsupgrade.DefaultTLSHandshakeTimeout

// DefaultTLSShutdownTimeout is [chanstream.DefaultTLSShutdownTimeout].
//
// Deprecated: use chanstream.DefaultTLSShutdownTimeout.
const DefaultTLSShutdownTimeout = chanstream.DefaultTLSShutdownTimeout

// Family restricts the address family of a connection (asyncio's family=).
type Family int

// The families.
const (
	FamilyAny  Family = iota // AF_UNSPEC: any address the name resolves to
	FamilyIPv4               // AF_INET
	FamilyIPv6               // AF_INET6
)

func (f Family) String() string {
	switch f {
	case FamilyAny:
		return "any"
	case FamilyIPv4:
		return "IPv4"
	case FamilyIPv6:
		return "IPv6"
	}
	return fmt.Sprintf("Family(%d)", int(f))
}

// LookupFunc resolves a host name to addresses, as
// [net.Resolver.LookupNetIP] with network "ip".
type LookupFunc func(ctx context.Context, host string) ([]netip.Addr, error)

// settings are dial's own settings, kept in opt.Settings by layer.
type settings struct {
	tls              *tls.Config
	tlsSet           bool
	serverName       string
	handshakeTimeout time.Duration
	shutdownTimeout  time.Duration
	localAddr        string
	family           Family
	happyEyeballs    time.Duration // the stagger, when raceAttempts
	raceAttempts     bool          // WithHappyEyeballs was given; else attempts one after another
	interleave       int           // -1: unset
	interleaveSet    bool          // WithInterleave was given: a negative n is an error
	lookup           LookupFunc
	dialer           *net.Dialer
}

func newSettings() *settings {
	return &settings{
		handshakeTimeout: tlsupgrade.DefaultTLSHandshakeTimeout,
		shutdownTimeout:  chanstream.DefaultTLSShutdownTimeout,
		interleave:       -1,
	}
}

// layer holds this package's settings among the options.
var layer = opt.Layer[settings]{Scope: opt.Dial, New: newSettings}

func dialOption(name string, apply func(*settings)) Option {
	return opt.Wrap[Option](layer.Option(name, apply))
}

// WithTLS makes the connection TLS from the start (asyncio's ssl=). A nil
// config means a default one: the system's roots, and the host name from the
// address (or [WithServerName]) as the name to verify. The config is cloned;
// its ServerName, when empty, is filled in the clone.
func WithTLS(config *tls.Config) Option {
	return dialOption("dial.WithTLS(...)", func(s *settings) {
		s.tls, s.tlsSet = config, true
	})
}

// WithServerName sets the name the server's certificate is checked against
// and sent in SNI (asyncio's server_hostname). It requires [WithTLS].
func WithServerName(name string) Option {
	return dialOption(fmt.Sprintf("dial.WithServerName(%q)", name), func(s *settings) {
		s.serverName = name
	})
}

// WithTLSHandshakeTimeout bounds the TLS handshake (asyncio's
// ssl_handshake_timeout; default [tlsupgrade.DefaultTLSHandshakeTimeout],
// 60 s). It must be positive.
func WithTLSHandshakeTimeout(d time.Duration) Option {
	return dialOption(fmt.Sprintf("dial.WithTLSHandshakeTimeout(%v)", d), func(s *settings) {
		s.handshakeTimeout = d
	})
}

// WithTLSShutdownTimeout bounds how long closing a TLS stream waits for the
// close_notify exchange (asyncio's ssl_shutdown_timeout; default
// [chanstream.DefaultTLSShutdownTimeout], 30 s). It must be positive.
func WithTLSShutdownTimeout(d time.Duration) Option {
	return dialOption(fmt.Sprintf("dial.WithTLSShutdownTimeout(%v)", d), func(s *settings) {
		s.shutdownTimeout = d
	})
}

// WithLocalAddr binds the connection to a local address before connecting
// (asyncio's local_addr), "host:port" for TCP (port 0 for any) or a path for
// Unix sockets. Only remote addresses of the local address's family are
// tried.
func WithLocalAddr(address string) Option {
	return dialOption(fmt.Sprintf("dial.WithLocalAddr(%q)", address), func(s *settings) {
		s.localAddr = address
	})
}

// WithFamily restricts the addresses tried to one family (asyncio's
// family=); network "tcp4" or "tcp6" does the same.
func WithFamily(f Family) Option {
	return dialOption(fmt.Sprintf("dial.WithFamily(%v)", f), func(s *settings) {
		s.family = f
	})
}

// WithHappyEyeballs races the resolved addresses as RFC 8305 and asyncio's
// happy_eyeballs_delay do: the first attempt starts at once, and each next
// one when the previous fails or delay after it started, whichever is first.
// The first connection made wins; the other attempts are cancelled and their
// connections closed. It also sets interleave to 1 unless [WithInterleave]
// says otherwise. delay must not be negative; 0 starts every attempt at
// once, as asyncio's happy_eyeballs_delay=0 (asyncio recommends 250 ms).
// Without it, addresses are tried one after another, each to completion, as
// asyncio does with happy_eyeballs_delay=None (Go's [net.Dialer] would
// instead race IPv6 and IPv4 after 300 ms).
func WithHappyEyeballs(delay time.Duration) Option {
	return dialOption(fmt.Sprintf("dial.WithHappyEyeballs(%v)", delay), func(s *settings) {
		s.happyEyeballs, s.raceAttempts = delay, true
	})
}

// WithInterleave reorders the resolved addresses by family before they are
// tried (asyncio's interleave): the first n come from the first family, then
// the families alternate. 0 keeps the resolver's order. n must not be
// negative.
func WithInterleave(n int) Option {
	return dialOption(fmt.Sprintf("dial.WithInterleave(%d)", n), func(s *settings) {
		s.interleave, s.interleaveSet = n, true
	})
}

// WithLookup replaces the resolver used for host names (the default is
// [net.DefaultResolver]).
func WithLookup(lookup LookupFunc) Option {
	return dialOption("dial.WithLookup(...)", func(s *settings) {
		s.lookup = lookup
	})
}

// WithDialer uses d as the template of every connection attempt (for
// KeepAlive, Control, and so on). Its LocalAddr is replaced by
// [WithLocalAddr] when both are given; [Dial]'s own staggering replaces
// FallbackDelay.
func WithDialer(d *net.Dialer) Option {
	return dialOption("dial.WithDialer(...)", func(s *settings) {
		s.dialer = d
	})
}

// config is every setting of a dial, validated.
type config struct {
	settings
	stream []Option // the options to pass to chanstream.NewStream
}

// newConfig validates opts for Dial.
func newConfig(opts []Option) (config, error) {
	all, err := opt.Apply(opt.Dial|opt.Stream, "Dial", opts)
	if err != nil {
		return config{}, err
	}
	c := config{settings: *layer.Get(&all)}
	c.stream = opt.Filter(opt.Stream, opts)
	if err := chanstream.CheckOptions(c.stream...); err != nil {
		return c, err
	}
	switch {
	case c.serverName != "" && !c.tlsSet:
		return c, fmt.Errorf("WithServerName(%q) without WithTLS", c.serverName)
	case c.handshakeTimeout <= 0:
		return c, fmt.Errorf("WithTLSHandshakeTimeout(%v): must be positive", c.handshakeTimeout)
	case c.shutdownTimeout <= 0:
		return c, fmt.Errorf("WithTLSShutdownTimeout(%v): must be positive", c.shutdownTimeout)
	case c.happyEyeballs < 0:
		return c, fmt.Errorf("WithHappyEyeballs(%v): must not be negative", c.happyEyeballs)
	case c.interleaveSet && c.interleave < 0:
		return c, fmt.Errorf("WithInterleave(%d): must not be negative", c.interleave)
	case c.family < FamilyAny || c.family > FamilyIPv6:
		return c, fmt.Errorf("WithFamily(%v): unknown family", c.family)
	}
	if c.interleave == -1 {
		c.interleave = 0
		if c.raceAttempts {
			c.interleave = 1
		}
	}
	return c, nil
}
