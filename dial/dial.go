package dial

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/internal/opt"
	"github.com/chanstream/chanstream/tlsupgrade"
	"github.com/sourcegraph/conc/panics"
)

// Error is the error of a failed [Dial]. Op says which step failed:
// "address" (a malformed address or option), "resolve", "connect" or "tls
// handshake". It wraps its cause, so [errors.Is] and [errors.As] reach the
// [*net.OpError] of each connection attempt, [context.DeadlineExceeded], or
// crypto/tls's and crypto/x509's errors.
//
// Its message names the network and address once, then the step (but for
// "address", where the cause says what is wrong), then the cause without
// what the message has said already:
//
//	dial tcp 127.0.0.1: missing port in address
//	dial tcp example.invalid:80: resolve: no such host
//	dial tcp 127.0.0.1:1: connect: connection refused
type Error struct {
	Op      string
	Net     string
	Addr    string
	Err     error
	timeout bool
}

func (e *Error) Error() string {
	msg := "dial " + e.Net
	if e.Addr != "" {
		msg += " " + e.Addr
	}
	msg += ": "
	if e.Op != "address" {
		msg += e.Op
		if e.timeout {
			msg += " timed out"
		}
		msg += ": "
	}
	return msg + describe(e.Err)
}

// describe returns err's message without what Error's own message says: the
// network and address of a *net.OpError or *net.AddrError, the "connect"
// of a connect(2) error, the "lookup host" of a *net.DNSError and
// tlsupgrade's prefix.
func describe(err error) string {
	switch e := err.(type) {
	case *net.OpError:
		if e.Err == nil {
			break
		}
		if se, ok := e.Err.(*os.SyscallError); ok && se.Syscall == "connect" {
			return describe(se.Err)
		}
		return describe(e.Err)
	case *net.AddrError:
		return e.Err
	case *net.DNSError:
		return e.Err
	case *tlsupgrade.Error:
		return describe(e.Err)
	}
	return err.Error()
}

// labelled is an error whose message is a label and its cause's message, as
// describe gives it.
type labelled struct {
	label string
	err   error
}

func (e *labelled) Error() string { return e.label + ": " + describe(e.err) }
func (e *labelled) Unwrap() error { return e.err }

// Unwrap returns the cause. With several connection attempts, it is an
// error whose Unwrap() []error returns every attempt's error, in the order
// they were started.
func (e *Error) Unwrap() error { return e.Err }

// Timeout reports whether the step failed because a deadline passed: the
// ctx's, or the TLS handshake timeout.
func (e *Error) Timeout() bool { return e.timeout }

// Dial connects to address and returns a stream over the connection
// (asyncio's open_connection, and open_unix_connection for network "unix").
// network is "tcp", "tcp4", "tcp6" or "unix"; address is "host:port" for TCP
// and a path for Unix sockets ("@name" is Linux's abstract namespace).
// Cancelling ctx aborts the connect and the TLS handshake.
//
// Options are this package's and chanstream's stream options; see the With
// functions. Without [WithHappyEyeballs], the resolved addresses are tried
// one after another, as asyncio does; the error then lists every attempt.
func Dial(ctx context.Context, network, address string, opts ...Option) (*chanstream.Stream, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, &Error{Op: "address", Net: network, Addr: address, Err: err}
	}
	var (
		conn net.Conn
		host string
	)
	switch network {
	case "tcp", "tcp4", "tcp6":
		conn, host, err = c.dialTCP(ctx, network, address)
	case "unix":
		conn, err = c.dialUnix(ctx, address)
	default:
		err = &Error{Op: "address", Net: network, Addr: address, Err: errors.New("unknown network (want tcp, tcp4, tcp6 or unix)")}
	}
	if err != nil {
		return nil, err
	}
	s := chanstream.NewStream(conn, c.stream...)
	if c.tlsSet {
		if err := c.upgrade(ctx, s, network, address, host); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// target is one address to connect to.
type target struct {
	remote netip.AddrPort
	local  *net.TCPAddr
}

func (c *config) dialTCP(ctx context.Context, network, address string) (net.Conn, string, error) {
	fail := func(op string, err error) (net.Conn, string, error) {
		return nil, "", &Error{Op: op, Net: network, Addr: address, Err: err, timeout: isTimeout(err)}
	}
	host, portName, err := net.SplitHostPort(address)
	if err != nil {
		return fail("address", err)
	}
	port, err := net.LookupPort(network, portName)
	if err != nil {
		return fail("address", err)
	}
	family := c.family
	switch {
	case network == "tcp4" && family != FamilyIPv6:
		family = FamilyIPv4
	case network == "tcp6" && family != FamilyIPv4:
		family = FamilyIPv6
	case network != "tcp":
		return fail("address", fmt.Errorf("network %s with WithFamily(%v)", network, c.family))
	}
	if c.localAddr != "" {
		if _, _, err := net.SplitHostPort(c.localAddr); err != nil {
			return fail("address", &labelled{"local address " + strconv.Quote(c.localAddr), err}) // malformed: nothing to resolve
		}
	}
	addrs, err := c.resolve(ctx, host, family)
	if err != nil {
		return fail("resolve", err)
	}
	var locals []netip.AddrPort
	if c.localAddr != "" {
		if locals, err = c.resolveLocal(ctx, c.localAddr, family); err != nil {
			return fail("resolve", &labelled{"local address " + strconv.Quote(c.localAddr), err})
		}
	}
	var targets []target
	for _, a := range addrs {
		t := target{remote: netip.AddrPortFrom(a, uint16(port))}
		if locals != nil {
			i := indexFamily(locals, a.Is4())
			if i < 0 {
				continue
			}
			t.local = net.TCPAddrFromAddrPort(locals[i])
		}
		targets = append(targets, t)
	}
	if len(targets) == 0 {
		return fail("resolve", fmt.Errorf("no local address of the family of %v", addrs))
	}
	if c.interleave > 0 {
		targets = interleave(targets, c.interleave)
	}
	conn, err := c.connect(ctx, targets)
	if err != nil {
		return fail("connect", err)
	}
	return conn, host, nil
}

func indexFamily(addrs []netip.AddrPort, is4 bool) int {
	for i, a := range addrs {
		if a.Addr().Is4() == is4 {
			return i
		}
	}
	return -1
}

// resolve returns the addresses of host of the family wanted.
func (c *config) resolve(ctx context.Context, host string, family Family) ([]netip.Addr, error) {
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		if host == "" {
			return nil, errors.New("missing host")
		}
		lookup := c.lookup
		if lookup == nil {
			lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
				return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
			}
		}
		if addrs, err = lookup(ctx, host); err != nil {
			return nil, err
		}
	}
	var out []netip.Addr
	for _, a := range addrs {
		a = a.Unmap()
		if family == FamilyAny || (family == FamilyIPv4) == a.Is4() {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no %v address for %q", family, host)
	}
	return out, nil
}

func (c *config) resolveLocal(ctx context.Context, address string, family Family) ([]netip.AddrPort, error) {
	host, portName, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	port, err := net.LookupPort("tcp", portName)
	if err != nil {
		return nil, err
	}
	if host == "" {
		return []netip.AddrPort{netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(port)), netip.AddrPortFrom(netip.IPv6Unspecified(), uint16(port))}, nil
	}
	addrs, err := c.resolve(ctx, host, family)
	if err != nil {
		return nil, err
	}
	out := make([]netip.AddrPort, len(addrs))
	for i, a := range addrs {
		out[i] = netip.AddrPortFrom(a, uint16(port))
	}
	return out, nil
}

// interleave reorders targets by family as asyncio's _interleave_addrinfos:
// the first n-1 of the first family, then one of each family in turn.
func interleave(targets []target, n int) []target {
	var families [2][]target // in order of first appearance
	first4 := targets[0].remote.Addr().Is4()
	for _, t := range targets {
		if t.remote.Addr().Is4() == first4 {
			families[0] = append(families[0], t)
		} else {
			families[1] = append(families[1], t)
		}
	}
	out := make([]target, 0, len(targets))
	if n > 1 {
		k := min(n-1, len(families[0]))
		out = append(out, families[0][:k]...)
		families[0] = families[0][k:]
	}
	for i := 0; i < max(len(families[0]), len(families[1])); i++ {
		for _, f := range families {
			if i < len(f) {
				out = append(out, f[i])
			}
		}
	}
	return out
}

// connect makes the connection: to each target in turn, or, with happy
// eyeballs, in a staggered race.
func (c *config) connect(ctx context.Context, targets []target) (net.Conn, error) {
	if !c.raceAttempts || len(targets) == 1 {
		var errs []error
		for _, t := range targets {
			conn, err := c.attempt(ctx, t)
			if err == nil {
				return conn, nil
			}
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
		return nil, joinAttempts(ctx, errs)
	}
	return c.race(ctx, targets)
}

func (c *config) attempt(ctx context.Context, t target) (net.Conn, error) {
	var d net.Dialer
	if c.dialer != nil {
		d = *c.dialer
	}
	if t.local != nil {
		d.LocalAddr = t.local
	}
	d.FallbackDelay = -1 // we stagger ourselves
	return d.DialContext(ctx, "tcp", t.remote.String())
}

// race runs RFC 8305's staggered connection attempts, as asyncio's
// staggered_race: attempt i+1 starts when attempt i fails or c.happyEyeballs
// after it started. The first connection wins; the others are cancelled, and
// any connection they still make is closed. Every attempt has returned when
// race returns.
func (c *config) race(ctx context.Context, targets []target) (net.Conn, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		i    int
		conn net.Conn
		err  error
	}
	results := make(chan result, len(targets))
	errs := make([]error, len(targets))
	next, running := 0, 0
	timer := time.NewTimer(c.happyEyeballs)
	defer timer.Stop()
	start := func() {
		i := next
		next++
		running++
		go func() {
			var res result
			var pc panics.Catcher
			pc.Try(func() { res.conn, res.err = c.attempt(ctx, targets[i]) })
			if r := pc.Recovered(); r != nil {
				res.err = r.AsError()
			}
			res.i = i
			results <- res
		}()
		timer.Reset(c.happyEyeballs)
	}
	start()
	var winner net.Conn
	for running > 0 {
		var stagger <-chan time.Time
		if winner == nil && next < len(targets) && ctx.Err() == nil {
			stagger = timer.C
		}
		select {
		case res := <-results:
			running--
			switch {
			case res.err != nil:
				errs[res.i] = res.err
				if winner == nil && next < len(targets) && ctx.Err() == nil {
					start() // a failure starts the next attempt at once
				}
			case winner == nil:
				winner = res.conn
				cancel()
			default:
				res.conn.Close()
			}
		case <-stagger:
			start()
		}
	}
	if winner != nil {
		return winner, nil
	}
	return nil, joinAttempts(ctx, errs[:next])
}

// joinAttempts joins the attempts' errors, and the ctx's error when it is
// why they stopped.
func joinAttempts(ctx context.Context, errs []error) error {
	err := ctx.Err()
	if dl, ok := ctx.Deadline(); ok && err == nil && !time.Now().Before(dl) {
		// net.Dialer times out at the ctx's deadline, a moment before
		// the ctx itself reports it.
		err = context.DeadlineExceeded
	}
	if err != nil && !errors.Is(errors.Join(errs...), err) {
		errs = append(errs, err)
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return attemptsError(errs)
}

// attemptsError is the error of several connection attempts: each one's
// error, in the order they were started, and the ctx's when it is why they
// stopped.
type attemptsError []error

// Error lists each attempt's address and cause: "127.0.0.1:7: connection
// refused; 127.0.0.2:7: connection refused".
func (e attemptsError) Error() string {
	var msg strings.Builder
	for i, err := range e {
		if i > 0 {
			msg.WriteString("; ")
		}
		if oe, ok := err.(*net.OpError); ok && oe.Addr != nil {
			msg.WriteString(oe.Addr.String() + ": ")
		}
		msg.WriteString(describe(err))
	}
	return msg.String()
}

func (e attemptsError) Unwrap() []error { return e }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

func (c *config) dialUnix(ctx context.Context, path string) (net.Conn, error) {
	var d net.Dialer
	if c.dialer != nil {
		d = *c.dialer
	}
	if c.localAddr != "" {
		d.LocalAddr = &net.UnixAddr{Name: c.localAddr, Net: "unix"}
	}
	if c.family != FamilyAny {
		return nil, &Error{Op: "address", Net: "unix", Addr: path, Err: fmt.Errorf("WithFamily(%v) on a Unix socket", c.family)}
	}
	if err := opt.CheckUnixPath(path); err != nil {
		return nil, &Error{Op: "address", Net: "unix", Addr: path, Err: err}
	}
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, &Error{Op: "connect", Net: "unix", Addr: path, Err: err, timeout: isTimeout(err)}
	}
	return conn, nil
}

// upgrade runs the TLS client handshake with tlsupgrade, the code path
// start_tls uses too; on failure the stream is closed.
func (c *config) upgrade(ctx context.Context, s *chanstream.Stream, network, address, host string) error {
	cfg := c.tls
	if cfg == nil {
		cfg = &tls.Config{}
	}
	name := c.serverName
	if name == "" && cfg.ServerName == "" {
		name = host
	}
	if name == "" && cfg.ServerName == "" && !cfg.InsecureSkipVerify {
		s.Abort()
		return &Error{Op: "tls handshake", Net: network, Addr: address, Err: errors.New("no server name to verify: use WithServerName")}
	}
	opts := []tlsupgrade.Option{tlsupgrade.WithTLSHandshakeTimeout(c.handshakeTimeout), tlsupgrade.WithTLSShutdownTimeout(c.shutdownTimeout)}
	if name != "" {
		opts = append(opts, tlsupgrade.WithServerName(name))
	}
	if err := tlsupgrade.Client(ctx, s, cfg, opts...); err != nil {
		var te *tlsupgrade.Error
		timeout := errors.As(err, &te) && te.Timeout()
		return &Error{Op: "tls handshake", Net: network, Addr: address, Err: err, timeout: timeout}
	}
	return nil
}

// FromConn adopts conn, an established connection (asyncio's sock= for
// open_connection): the stream owns it from now on and closes it. Only
// stream options apply; FromConn panics on an invalid or inapplicable option
// ([chanstream.CheckOptions] reports the same). To run TLS over an adopted
// connection, upgrade the stream with [tlsupgrade.Client].
func FromConn(conn net.Conn, opts ...Option) *chanstream.Stream {
	if err := checkAdopt("FromConn", opts); err != nil {
		panic(err)
	}
	return chanstream.NewStream(conn, opts...)
}

// FromFile adopts the connected socket f: the stream owns the socket from
// now on, and f is closed (the stream holds its own descriptor).
func FromFile(f *os.File, opts ...Option) (*chanstream.Stream, error) {
	if err := checkAdopt("FromFile", opts); err != nil {
		return nil, err
	}
	conn, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("dial: FromFile(%s): %w", f.Name(), err)
	}
	f.Close()
	return chanstream.NewStream(conn, opts...), nil
}

func checkAdopt(fn string, opts []Option) error {
	if _, err := opt.Apply(opt.Stream, fn, opts); err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	return chanstream.CheckOptions(opts...)
}

// socketPairName names the files of Pipe's sockets.
func socketPairName(i int) string { return "socketpair:" + strconv.Itoa(i) }
