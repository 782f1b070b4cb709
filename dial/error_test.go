package dial

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/streamtest"
	"github.com/chanstream/chanstream/internal/testnet"
	"github.com/chanstream/chanstream/listener"
)

// TestError_MessageSaysEachThingOnce pins the whole message of a few
// representative failures: the network and address once, the step, and the
// cause without what was said already.
func TestError_MessageSaysEachThingOnce(t *testing.T) {
	ctx := testnet.Ctx(t, 10*time.Second)
	notFound := func(context.Context, string) ([]netip.Addr, error) {
		return nil, &net.DNSError{Err: "no such host", Name: "nowhere.test", IsNotFound: true}
	}
	tests := []struct {
		name, network, address string
		opts                   []Option
		want                   string
	}{
		{"no port", "tcp", "127.0.0.1", nil,
			"dial tcp 127.0.0.1: missing port in address"},
		{"unknown port name", "tcp", "127.0.0.1:http-nope", nil,
			"dial tcp 127.0.0.1:http-nope: unknown port"},
		{"unknown network", "udp", "127.0.0.1:1", nil,
			"dial udp 127.0.0.1:1: unknown network (want tcp, tcp4, tcp6 or unix)"},
		{"malformed local address", "tcp", "127.0.0.1:1", []Option{WithLocalAddr("not an address")},
			`dial tcp 127.0.0.1:1: local address "not an address": missing port in address`},
		{"empty unix path", "unix", "", nil,
			"dial unix: empty unix socket path"},
		{"unix path too long", "unix", "/tmp/" + strings.Repeat("x", 200), nil,
			"dial unix /tmp/" + strings.Repeat("x", 200) + ": unix socket path too long (205 bytes; at most 107)"},
		{"no such socket", "unix", "/nonexistent/socket", nil,
			"dial unix /nonexistent/socket: connect: no such file or directory"},
		{"host not found", "tcp", "nowhere.test:80", []Option{WithLookup(notFound)},
			"dial tcp nowhere.test:80: resolve: no such host"},
		{"invalid stream option", "tcp", "127.0.0.1:1", []Option{chanstream.WithLimit(0)},
			"dial tcp 127.0.0.1:1: chanstream: WithLimit(0): the limit must be positive"},
		{"invalid dial option", "tcp", "127.0.0.1:1", []Option{WithInterleave(-2)},
			"dial tcp 127.0.0.1:1: WithInterleave(-2): must not be negative"},
		{"server name without TLS", "tcp", "127.0.0.1:1", []Option{WithServerName("x")},
			`dial tcp 127.0.0.1:1: WithServerName("x") without WithTLS`},
		{"option of another package", "tcp", "127.0.0.1:1", []Option{listener.WithBacklog(1)},
			"dial tcp 127.0.0.1:1: listener.WithBacklog is not an option of Dial"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := Dial(ctx, tc.network, tc.address, tc.opts...)
			if err == nil {
				s.Close()
				t.Fatal("Dial succeeded")
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("Dial error\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestError_MessageListsEachAttempt pins the message of a connect that
// failed on two addresses: each address once, with its own cause.
func TestError_MessageListsEachAttempt(t *testing.T) {
	refused := func(ip string) error {
		return &net.OpError{Op: "dial", Net: "tcp", Addr: net.TCPAddrFromAddrPort(netip.MustParseAddrPort(ip + ":7")),
			Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	}
	e := &Error{Op: "connect", Net: "tcp", Addr: "two.test:7", Err: attemptsError{refused("127.0.0.1"), refused("127.0.0.2")}}
	want := "dial tcp two.test:7: connect: 127.0.0.1:7: connection refused; 127.0.0.2:7: connection refused"
	if got := e.Error(); got != want {
		t.Errorf("Error()\n got %q\nwant %q", got, want)
	}
	if !errors.Is(e, syscall.ECONNREFUSED) {
		t.Error("the attempts' causes are not reachable with errors.Is")
	}
}

// TestError_TLSHandshakeMessage pins the message of a TLS handshake with a
// plain-text server: the step once, then crypto/tls's error.
func TestError_TLSHandshakeMessage(t *testing.T) {
	ln := testnet.ListenTCP(t, "127.0.0.1", 0)
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
	want := "dial tcp " + ln.Addr().String() + ": tls handshake: tls: first record does not look like a TLS handshake"
	if err == nil || err.Error() != want {
		t.Errorf("Dial error\n got %v\nwant %s", err, want)
	}
}

// TestOptions_OfAnotherFunction pins what the functions that take only
// stream options say of a dial option.
func TestOptions_OfAnotherFunction(t *testing.T) {
	if _, _, err := Pipe(WithTLS(nil)); err == nil || err.Error() != "dial: dial.WithTLS is not an option of Pipe" {
		t.Errorf("Pipe(WithTLS(nil)) = %v", err)
	}
	a, _ := streamtest.SocketPair(t)
	defer func() {
		r := recover()
		if err, ok := r.(error); !ok || err.Error() != "dial: dial.WithTLS is not an option of FromConn" {
			t.Errorf("FromConn(conn, WithTLS(nil)) panicked with %v", r)
		}
	}()
	FromConn(a, WithTLS(nil))
}

// TestError_CertificateMessage checks the message of a certificate that does
// not match: the step once, then crypto/tls's and x509's words, with no
// tlsupgrade prefix in between.
func TestError_CertificateMessage(t *testing.T) {
	clientConfig, serverConfig := tlsConfigs(t)
	ln := tlsServer(t, serverConfig)
	_, err := Dial(testnet.Ctx(t, 10*time.Second), "tcp", ln.Addr().String(), WithTLS(clientConfig), WithServerName("other.test"))
	want := "dial tcp " + ln.Addr().String() + ": tls handshake: tls: failed to verify certificate: x509: "
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "other.test") {
		t.Errorf("Dial error\n got %v\nwant %s...other.test...", err, want)
	}
}
