package dial

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/streamtest"
	"github.com/chanstream/chanstream/internal/testnet"
	"github.com/chanstream/chanstream/tlsupgrade"
)

// TestMain fails the package's tests on a leaked goroutine: goleak, through
// streamtest.VerifyTestMain, which first waits for chanstream's own to end.
func TestMain(m *testing.M) {
	streamtest.VerifyTestMain(m)
}

// echoServer accepts connections on ln and echoes each back until EOF,
// until the test ends.
func echoServer(t *testing.T, ln net.Listener) {
	t.Helper()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
}

// closeStream closes s and fails the test unless it closed cleanly.
func closeStream(t *testing.T, s *chanstream.Stream) {
	t.Helper()
	if err := streamtest.CloseStreams(t, s); err != nil {
		t.Errorf("WaitClosed: %v", err)
	}
}

// tlsConfigs returns streamtest's TLS configurations, the client's with no
// server name, so that Dial chooses it.
func tlsConfigs(t *testing.T) (client, server *tls.Config) {
	client, server = streamtest.TLSConfigs(t)
	client.ServerName = ""
	return client, server
}

func roundTrip(t *testing.T, s *chanstream.Stream) {
	t.Helper()
	ctx := testnet.Ctx(t, 10*time.Second)
	if _, err := s.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	line, err := s.ReadLine(ctx)
	if err != nil || string(line) != "ping\n" {
		t.Fatalf("echo = %q, %v", line, err)
	}
}

func TestDial_TCPRoundTrip(t *testing.T) {
	ln := testnet.ListenTCP(t, "127.0.0.1", 0)
	echoServer(t, ln)
	s, err := Dial(testnet.Ctx(t, 10*time.Second), "tcp", ln.Addr().String(), chanstream.WithLimit(1024))
	if err != nil {
		t.Fatal(err)
	}
	defer closeStream(t, s)
	roundTrip(t, s)
	if s.Reader().Limit() != 1024 {
		t.Errorf("limit = %d; chanstream.WithLimit did not reach the stream", s.Reader().Limit())
	}
	if peer, _ := s.ExtraInfo("peername"); peer.(*net.TCPAddr).AddrPort() != ln.Addr().(*net.TCPAddr).AddrPort() {
		t.Errorf("peername = %v", peer)
	}
}

func TestDial_IPv6Loopback(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	echoServer(t, ln)
	s, err := Dial(testnet.Ctx(t, 10*time.Second), "tcp6", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer closeStream(t, s)
	roundTrip(t, s)
}

func TestDial_Unix(t *testing.T) {
	for _, path := range []string{filepath.Join(t.TempDir(), "s.sock"), "@chanstream-dial-test-" + strings.ReplaceAll(t.Name(), "/", "-")} {
		ln, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		echoServer(t, ln)
		s, err := Dial(testnet.Ctx(t, 10*time.Second), "unix", path)
		if err != nil {
			t.Fatalf("Dial unix %s: %v", path, err)
		}
		roundTrip(t, s)
		if !s.CanWriteEOF() {
			t.Error("CanWriteEOF false on a Unix socket")
		}
		closeStream(t, s)
	}
}

func TestDial_ClosedPortIsRefused(t *testing.T) {
	ln := testnet.ListenTCP(t, "127.0.0.1", 0)
	addr := ln.Addr().String()
	ln.Close()
	_, err := Dial(testnet.Ctx(t, 10*time.Second), "tcp", addr)
	var de *Error
	if !errors.As(err, &de) || de.Op != "connect" {
		t.Fatalf("Dial to a closed port = %v; want a connect *Error", err)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("errors.Is(err, ECONNREFUSED) false: %v", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) {
		t.Errorf("no *net.OpError in %v", err)
	}
}

func TestDial_BlackHoleTimesOutWithCtx(t *testing.T) {
	hole := testnet.BlackHole(t, "127.0.0.1", 0)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Dial(ctx, "tcp", hole.String())
	if time.Since(start) > 5*time.Second {
		t.Fatalf("Dial took %v", time.Since(start))
	}
	var de *Error
	if !errors.As(err, &de) || de.Op != "connect" || !de.Timeout() {
		t.Fatalf("Dial into a black hole = %v; want a connect timeout", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("errors.Is(err, context.DeadlineExceeded) false: %v", err)
	}
	if !strings.Contains(err.Error(), "timed out") {
		t.Errorf("message does not say it timed out: %v", err)
	}
}

func TestDial_CancelAbortsConnect(t *testing.T) {
	hole := testnet.BlackHole(t, "127.0.0.1", 0)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := Dial(ctx, "tcp", hole.String())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Dial with a cancelled ctx = %v", err)
	}
}

// twoAddrs serves on port P of two loopback addresses: a black hole on the
// first and an echo server on the second, and returns a lookup resolving
// "twin.test" to both, in that order.
func twoAddrs(t *testing.T) (port int, lookup LookupFunc) {
	t.Helper()
	for try := 0; try < 20; try++ {
		hole := testnet.BlackHole(t, "127.0.0.2", 0)
		ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 3), Port: int(hole.Port())})
		if err != nil {
			continue // that port is taken on 127.0.0.3; try another
		}
		echoServer(t, ln)
		return int(hole.Port()), func(ctx context.Context, host string) ([]netip.Addr, error) {
			if host != "twin.test" {
				return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
			}
			return []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")}, nil
		}
	}
	t.Fatal("no port free on both 127.0.0.2 and 127.0.0.3")
	return 0, nil
}

func TestDial_HappyEyeballsSkipsABlackHole(t *testing.T) {
	port, lookup := twoAddrs(t)
	const delay = 150 * time.Millisecond
	start := time.Now()
	s, err := Dial(testnet.Ctx(t, 10*time.Second), "tcp", net.JoinHostPort("twin.test", itoa(port)),
		WithLookup(lookup), WithHappyEyeballs(delay))
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	defer closeStream(t, s)
	roundTrip(t, s)
	if got := s.RemoteAddr().(*net.TCPAddr).IP.String(); got != "127.0.0.3" {
		t.Errorf("connected to %s; want the live 127.0.0.3", got)
	}
	// It connected at all: a dial that waited on the black hole would be
	// stuck there until its ctx ended (see
	// TestDial_WithoutHappyEyeballsWaitsOnTheBlackHole). And it waited the
	// delay before starting the next attempt.
	if elapsed < delay {
		t.Errorf("connected after %v; the next attempt starts after %v", elapsed, delay)
	}
}

// WithHappyEyeballs(0) is asyncio's happy_eyeballs_delay=0: every attempt
// starts at once, so the black hole first in line costs nothing.
func TestDial_HappyEyeballsZeroStartsEveryAttemptAtOnce(t *testing.T) {
	port, lookup := twoAddrs(t)
	// Connecting at all shows the second attempt did not wait for the
	// first: a dial that waited on the black hole would be stuck there
	// until its ctx ended.
	s, err := Dial(testnet.Ctx(t, 10*time.Second), "tcp", net.JoinHostPort("twin.test", itoa(port)),
		WithLookup(lookup), WithHappyEyeballs(0))
	if err != nil {
		t.Fatal(err)
	}
	defer closeStream(t, s)
	roundTrip(t, s)
	if got := s.RemoteAddr().(*net.TCPAddr).IP.String(); got != "127.0.0.3" {
		t.Errorf("connected to %s; want the live 127.0.0.3", got)
	}
}

func TestDial_WithoutHappyEyeballsWaitsOnTheBlackHole(t *testing.T) {
	port, lookup := twoAddrs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := Dial(ctx, "tcp", net.JoinHostPort("twin.test", itoa(port)), WithLookup(lookup))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("sequential Dial = %v; want it stuck on the black hole until ctx ends", err)
	}
}

// closedOnBoth returns a port that nothing listens on at any of addrs.
func closedOnBoth(t *testing.T, addrs []netip.Addr) int {
	t.Helper()
	for try := 0; try < 20; try++ {
		ln := testnet.ListenTCP(t, addrs[0].String(), 0)
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		free := true
		for _, ip := range addrs[1:] {
			other, err := net.ListenTCP("tcp", &net.TCPAddr{IP: ip.AsSlice(), Port: port})
			if err != nil {
				free = false // taken there; try another
				break
			}
			other.Close()
		}
		if free {
			return port
		}
	}
	t.Fatal("no port free on every address")
	return 0
}

func TestDial_AllAttemptsFailListsEach(t *testing.T) {
	addrs := []netip.Addr{netip.MustParseAddr("127.0.0.4"), netip.MustParseAddr("127.0.0.5")}
	port := closedOnBoth(t, addrs)
	lookup := func(context.Context, string) ([]netip.Addr, error) { return addrs, nil }
	for _, he := range []time.Duration{0, 50 * time.Millisecond} {
		_, err := Dial(testnet.Ctx(t, 10*time.Second), "tcp", net.JoinHostPort("two.test", itoa(port)),
			WithLookup(lookup), WithHappyEyeballs(he))
		if err == nil {
			t.Fatal("Dial succeeded to closed ports")
		}
		for _, ip := range []string{"127.0.0.4", "127.0.0.5"} {
			if !strings.Contains(err.Error(), ip) {
				t.Errorf("happy eyeballs %v: error does not list the attempt to %s: %v", he, ip, err)
			}
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("errors.Is(err, ECONNREFUSED) false: %v", err)
		}
	}
}

func TestDial_ResolveError(t *testing.T) {
	t.Parallel()
	lookup := func(ctx context.Context, host string) ([]netip.Addr, error) {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	_, err := Dial(testnet.Ctx(t, 10*time.Second), "tcp", "nowhere.test:80", WithLookup(lookup))
	var de *Error
	var dnsErr *net.DNSError
	if !errors.As(err, &de) || de.Op != "resolve" || !errors.As(err, &dnsErr) {
		t.Fatalf("Dial to an unknown host = %v; want a resolve *Error wrapping the *net.DNSError", err)
	}
}

func TestDial_BadArguments(t *testing.T) {
	t.Parallel()
	ctx := testnet.Ctx(t, 10*time.Second)
	tests := []struct {
		name, network, address string
		opts                   []Option
	}{
		{"unknown network", "udp", "127.0.0.1:1", nil},
		{"no port", "tcp", "127.0.0.1", nil},
		{"bad port", "tcp", "127.0.0.1:http-nope", nil},
		{"bad limit", "tcp", "127.0.0.1:1", []Option{chanstream.WithLimit(0)}},
		{"bad watermarks", "tcp", "127.0.0.1:1", []Option{chanstream.WithWriteBufferLimits(1, 2)}},
		{"server name without TLS", "tcp", "127.0.0.1:1", []Option{WithServerName("x")}},
		{"negative happy eyeballs", "tcp", "127.0.0.1:1", []Option{WithHappyEyeballs(-time.Second)}},
		{"negative interleave", "tcp", "127.0.0.1:1", []Option{WithInterleave(-2)}},
		{"interleave -1", "tcp", "127.0.0.1:1", []Option{WithInterleave(-1)}},
		{"malformed local address", "tcp", "127.0.0.1:1", []Option{WithLocalAddr("not an address")}},
		{"tcp4 with IPv6 family", "tcp4", "127.0.0.1:1", []Option{WithFamily(FamilyIPv6)}},
		{"family on unix", "unix", "/nonexistent", []Option{WithFamily(FamilyIPv4)}},
		{"zero handshake timeout", "tcp", "127.0.0.1:1", []Option{WithTLS(nil), WithTLSHandshakeTimeout(0)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Dial(ctx, tc.network, tc.address, tc.opts...)
			var de *Error
			if !errors.As(err, &de) || de.Op != "address" {
				t.Fatalf("Dial = %v; want an address *Error", err)
			}
		})
	}
}

func TestDial_FamilyFiltersAddresses(t *testing.T) {
	ln := testnet.ListenTCP(t, "127.0.0.1", 0)
	echoServer(t, ln)
	port := ln.Addr().(*net.TCPAddr).Port
	lookup := func(context.Context, string) ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("::1"), netip.MustParseAddr("127.0.0.1")}, nil
	}
	s, err := Dial(testnet.Ctx(t, 10*time.Second), "tcp", net.JoinHostPort("both.test", itoa(port)), WithLookup(lookup), WithFamily(FamilyIPv4))
	if err != nil {
		t.Fatal(err)
	}
	defer closeStream(t, s)
	roundTrip(t, s)
	_, err = Dial(testnet.Ctx(t, 10*time.Second), "tcp6", "127.0.0.1:1")
	var de *Error
	if !errors.As(err, &de) || de.Op != "resolve" {
		t.Fatalf("tcp6 to an IPv4 address = %v; want a resolve error", err)
	}
}

func TestDial_LocalAddr(t *testing.T) {
	ln := testnet.ListenTCP(t, "127.0.0.1", 0)
	echoServer(t, ln)
	s, err := Dial(testnet.Ctx(t, 10*time.Second), "tcp", ln.Addr().String(), WithLocalAddr("127.0.0.7:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer closeStream(t, s)
	if got := s.LocalAddr().(*net.TCPAddr).IP.String(); got != "127.0.0.7" {
		t.Fatalf("local address %s; want 127.0.0.7", got)
	}
	roundTrip(t, s)
}

func TestInterleave(t *testing.T) {
	t.Parallel()
	mk := func(ips ...string) []target {
		var ts []target
		for _, ip := range ips {
			ts = append(ts, target{remote: netip.AddrPortFrom(netip.MustParseAddr(ip), 1)})
		}
		return ts
	}
	str := func(ts []target) string {
		var s []string
		for _, t := range ts {
			s = append(s, t.remote.Addr().String())
		}
		return strings.Join(s, " ")
	}
	in := mk("::1", "::2", "::3", "127.0.0.1", "127.0.0.2")
	tests := []struct {
		n    int
		want string
	}{
		{1, "::1 127.0.0.1 ::2 127.0.0.2 ::3"},
		{2, "::1 ::2 127.0.0.1 ::3 127.0.0.2"},
		{3, "::1 ::2 ::3 127.0.0.1 127.0.0.2"},
	}
	for _, tc := range tests {
		if got := str(interleave(in, tc.n)); got != tc.want {
			t.Errorf("interleave(%d) = %s; want %s", tc.n, got, tc.want)
		}
	}
}

func tlsServer(t *testing.T, config *tls.Config) net.Listener {
	t.Helper()
	ln := testnet.ListenTCP(t, "127.0.0.1", 0)
	tln := tls.NewListener(ln, config)
	echoServer(t, tln)
	return tln
}

func TestDial_TLS(t *testing.T) {
	clientConfig, serverConfig := tlsConfigs(t)
	ln := tlsServer(t, serverConfig)
	ctx := testnet.Ctx(t, 10*time.Second)
	t.Run("verified by IP", func(t *testing.T) {
		s, err := Dial(ctx, "tcp", ln.Addr().String(), WithTLS(clientConfig))
		if err != nil {
			t.Fatal(err)
		}
		defer closeStream(t, s)
		roundTrip(t, s)
		if _, ok := s.Conn().(*tlsupgrade.Conn); !ok {
			t.Fatalf("Conn is %T, not TLS", s.Conn())
		}
		if st, ok := s.ExtraInfo("ssl_object"); !ok || !st.(tls.ConnectionState).HandshakeComplete {
			t.Fatalf("ExtraInfo(ssl_object) = %v, %v", st, ok)
		}
	})
	t.Run("server name", func(t *testing.T) {
		s, err := Dial(ctx, "tcp", ln.Addr().String(), WithTLS(clientConfig), WithServerName(streamtest.TLSServerName))
		if err != nil {
			t.Fatal(err)
		}
		defer closeStream(t, s)
		roundTrip(t, s)
	})
	t.Run("wrong name", func(t *testing.T) {
		_, err := Dial(ctx, "tcp", ln.Addr().String(), WithTLS(clientConfig), WithServerName("other.test"))
		var de *Error
		var he x509.HostnameError
		if !errors.As(err, &de) || de.Op != "tls handshake" {
			t.Fatalf("Dial = %v; want a tls handshake *Error", err)
		}
		var ve *tls.CertificateVerificationError
		if !errors.As(err, &ve) || !errors.As(err, &he) {
			t.Errorf("the x509 cause is not reachable with errors.As: %v", err)
		}
	})
	t.Run("unknown authority", func(t *testing.T) {
		_, err := Dial(ctx, "tcp", ln.Addr().String(), WithTLS(nil), WithServerName(streamtest.TLSServerName))
		var ua x509.UnknownAuthorityError
		if !errors.As(err, &ua) {
			t.Fatalf("Dial = %v; want x509.UnknownAuthorityError", err)
		}
	})
}

func TestDial_TLSToAPlainServer(t *testing.T) {
	ln := testnet.ListenTCP(t, "127.0.0.1", 0)
	// A plain-text server that greets and hangs up.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Write([]byte("220 plain text here\r\n"))
		c.Close()
	}()
	defer wg.Wait()
	_, err := Dial(testnet.Ctx(t, 10*time.Second), "tcp", ln.Addr().String(), WithTLS(&tls.Config{InsecureSkipVerify: true}))
	var de *Error
	if !errors.As(err, &de) || de.Op != "tls handshake" {
		t.Fatalf("TLS to a plain server = %v; want a tls handshake *Error", err)
	}
}

func TestDial_TLSHandshakeTimeout(t *testing.T) {
	ln := testnet.ListenTCP(t, "127.0.0.1", 0)
	// A server that accepts and never answers.
	held := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			held <- c
		}
		close(held)
	}()
	start := time.Now()
	_, err := Dial(testnet.Ctx(t, 10*time.Second), "tcp", ln.Addr().String(),
		WithTLS(&tls.Config{InsecureSkipVerify: true}), WithTLSHandshakeTimeout(100*time.Millisecond))
	var de *Error
	if !errors.As(err, &de) || de.Op != "tls handshake" || !de.Timeout() {
		t.Fatalf("Dial = %v; want a tls handshake timeout", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
	for c := range held {
		c.Close()
	}
}

func TestFromConn_AdoptsTheConnection(t *testing.T) {
	a, b := streamtest.SocketPair(t)
	sa := FromConn(a, chanstream.WithLimit(100))
	sb := FromConn(b)
	defer closeStream(t, sb)
	ctx := testnet.Ctx(t, 10*time.Second)
	sb.Write([]byte("abc"))
	got, err := sa.ReadChunk(ctx, 100)
	if err != nil || string(got) != "abc" {
		t.Fatalf("ReadChunk = %q, %v", got, err)
	}
	closeStream(t, sa)
	// The stream closed the adopted connection.
	if _, err := a.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write on the adopted conn after Close = %v; want net.ErrClosed", err)
	}
}

func TestFromConn_PanicsOnADialOption(t *testing.T) {
	a, _ := streamtest.SocketPair(t)
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(error).Error(), "WithTLS") {
			t.Fatalf("FromConn with WithTLS: recover() = %v", r)
		}
	}()
	FromConn(a, WithTLS(nil))
}

func TestPipe(t *testing.T) {
	a, b, err := Pipe(chanstream.WithLimit(10))
	if err != nil {
		t.Fatal(err)
	}
	defer closeStream(t, a)
	defer closeStream(t, b)
	ctx := testnet.Ctx(t, 10*time.Second)
	a.Write([]byte("hello\n"))
	a.WriteEOF()
	line, err := b.ReadLine(ctx)
	if err != nil || string(line) != "hello\n" {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
	if _, err := b.ReadLine(ctx); err != io.EOF {
		t.Fatalf("after WriteEOF: %v", err)
	}
	b.Write([]byte("back"))
	got, err := a.ReadChunk(ctx, 10)
	if err != nil || string(got) != "back" {
		t.Fatalf("half-closed pipe reply = %q, %v", got, err)
	}
	if _, _, err := Pipe(WithTLS(nil)); err == nil {
		t.Error("Pipe(WithTLS) = nil error")
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestDial_TLSCloseSendsCloseNotifyAndWaitsBounded(t *testing.T) {
	clientConfig, serverConfig := tlsConfigs(t)
	ln := testnet.ListenTCP(t, "127.0.0.1", 0)
	tln := tls.NewListener(ln, serverConfig)
	type result struct {
		readErr error
		conn    net.Conn
	}
	results := make(chan result, 2)
	go func() {
		for i := 0; i < 2; i++ {
			c, err := tln.Accept()
			if err != nil {
				return
			}
			_, err = io.Copy(io.Discard, c)
			// Keep the connection open without answering the close_notify.
			results <- result{err, c}
		}
	}()
	ctx := testnet.Ctx(t, 30*time.Second)
	for _, timeout := range []time.Duration{100 * time.Millisecond, 300 * time.Millisecond} {
		s, err := Dial(ctx, "tcp", ln.Addr().String(), WithTLS(clientConfig), WithTLSShutdownTimeout(timeout))
		if err != nil {
			t.Fatal(err)
		}
		s.Write([]byte("bye"))
		start := time.Now()
		s.Close()
		if err := s.WaitClosed(ctx); err != nil {
			t.Fatal(err)
		}
		elapsed := time.Since(start)
		res := <-results
		res.conn.Close()
		if res.readErr != nil {
			t.Errorf("the server read %v; want a clean EOF from close_notify", res.readErr)
		}
		if elapsed < timeout || elapsed > timeout+10*time.Second {
			t.Errorf("WaitClosed after %v with a peer that never answers close_notify; want about %v", elapsed, timeout)
		}
	}
}
