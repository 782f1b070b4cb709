package tlsupgrade

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/streamtest"
	"github.com/chanstream/chanstream/internal/testnet"
)

// TestMain fails the package's tests on a leaked goroutine: goleak, through
// streamtest.VerifyTestMain, which first waits for chanstream's own to end.
func TestMain(m *testing.M) { streamtest.VerifyTestMain(m) }

// pair returns two streams over loopback TCP, closed when the test ends.
func pair(t *testing.T) (client, server *chanstream.Stream) {
	t.Helper()
	c, s := streamtest.TCPPair(t)
	client, server = chanstream.NewStream(c), chanstream.NewStream(s)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, st := range []*chanstream.Stream{client, server} {
			st.Abort()
			if err := st.WaitClosed(ctx); err != nil && !errors.Is(err, net.ErrClosed) {
				t.Logf("WaitClosed: %v", err)
			}
		}
	})
	return client, server
}

// both runs f and g at once and returns their errors.
func both(f, g func() error) (error, error) {
	var wg sync.WaitGroup
	var errF, errG error
	wg.Add(2)
	go func() { defer wg.Done(); errF = f() }()
	go func() { defer wg.Done(); errG = g() }()
	wg.Wait()
	return errF, errG
}

func configs(t *testing.T, version uint16) (client, server *tls.Config) {
	client, server = streamtest.TLSConfigs(t)
	if version != 0 {
		client.MinVersion = min(client.MinVersion, version)
		server.MinVersion, server.MaxVersion = version, version
	}
	return client, server
}

// upgradedPair returns the two ends of a connection upgraded to TLS at
// version (0: crypto/tls's default), the client with copts.
func upgradedPair(t *testing.T, ctx context.Context, version uint16, copts ...Option) (client, server *chanstream.Stream) {
	t.Helper()
	ccfg, scfg := configs(t, version)
	client, server = pair(t)
	errC, errS := both(func() error { return Client(ctx, client, ccfg, copts...) }, func() error { return Server(ctx, server, scfg) })
	if errC != nil || errS != nil {
		t.Fatalf("client: %v; server: %v", errC, errS)
	}
	return client, server
}

func TestUpgrade_DataInFlightBothWays(t *testing.T) {
	// Each side sends the command, then at once its first TLS bytes come
	// right behind the plain text. Nothing may be lost or duplicated.
	ctx := testnet.Ctx(t, 20*time.Second)
	ccfg, scfg := configs(t, 0)
	client, server := pair(t)
	payload := make([]byte, 1<<20)
	rand.Read(payload)

	errC, errS := both(func() error {
		client.Write([]byte("STARTTLS\r\n"))
		if line, err := client.ReadLine(ctx); err != nil || string(line) != "220 go ahead\r\n" {
			return errors.New("client: bad reply " + string(line))
		}
		if err := Client(ctx, client, ccfg); err != nil {
			return err
		}
		client.Write(payload)
		got, err := client.ReadExactly(ctx, len(payload))
		if err != nil || !bytes.Equal(got, payload) {
			return errors.New("client: the echo differs")
		}
		return nil
	}, func() error {
		if line, err := server.ReadLine(ctx); err != nil || string(line) != "STARTTLS\r\n" {
			return errors.New("server: bad command " + string(line))
		}
		server.Write([]byte("220 go ahead\r\n"))
		if err := Server(ctx, server, scfg); err != nil {
			return err
		}
		got, err := server.ReadExactly(ctx, len(payload))
		if err != nil {
			return err
		}
		server.Write(got)
		return server.Drain(ctx)
	})
	if errC != nil || errS != nil {
		t.Fatalf("client: %v; server: %v", errC, errS)
	}
	if _, ok := server.Conn().(*Conn); !ok {
		t.Fatalf("the server's stream runs over %T", server.Conn())
	}
}

func TestUpgrade_UndrainedWritesAndFullDuplexAfter(t *testing.T) {
	// Neither side drains before it upgrades: the plain text still queued
	// must leave before the handshake. Right after the upgrade both sides
	// send at once, each reading the other's data while its own is in
	// flight.
	ctx := testnet.Ctx(t, 20*time.Second)
	ccfg, scfg := configs(t, 0)
	client, server := pair(t)
	up, down := make([]byte, 3<<20), make([]byte, 2<<20)
	rand.Read(up)
	rand.Read(down)
	exchange := func(s *chanstream.Stream, send, want []byte) error {
		sent := make(chan error, 1)
		go func() {
			_, err := s.WriteContext(ctx, send)
			if err == nil {
				err = s.Drain(ctx)
			}
			sent <- err
		}()
		got, err := s.ReadExactly(ctx, len(want))
		if err := errors.Join(err, <-sent); err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			return errors.New("the data differs")
		}
		return nil
	}
	errC, errS := both(func() error {
		client.Write([]byte("STARTTLS\r\n")) // not drained
		if line, err := client.ReadLine(ctx); err != nil || string(line) != "220 go ahead\r\n" {
			return errors.New("client: bad reply " + string(line))
		}
		if err := Client(ctx, client, ccfg); err != nil {
			return err
		}
		return exchange(client, up, down)
	}, func() error {
		if line, err := server.ReadLine(ctx); err != nil || string(line) != "STARTTLS\r\n" {
			return errors.New("server: bad command " + string(line))
		}
		server.Write([]byte("220 go ahead\r\n")) // not drained: Server must send it first
		if err := Server(ctx, server, scfg); err != nil {
			return err
		}
		return exchange(server, down, up)
	})
	if errC != nil || errS != nil {
		t.Fatalf("client: %v; server: %v", errC, errS)
	}
}

// corkConn holds back what is written to it until the next write, so that a
// plain-text line and the ClientHello leave in one segment.
type corkConn struct {
	net.Conn
	held []byte
}

func (c *corkConn) Write(p []byte) (int, error) {
	if c.held == nil {
		c.held = append([]byte{}, p...)
		return len(p), nil
	}
	_, err := c.Conn.Write(append(c.held, p...))
	c.held = c.held[:0]
	return len(p), err
}

func TestUpgrade_LineAndClientHelloInOneSegment(t *testing.T) {
	// cpython#142352: the server reads the line, upgrades, and the
	// ClientHello it already received must reach the TLS layer.
	ctx := testnet.Ctx(t, 20*time.Second)
	ccfg, scfg := configs(t, 0)
	rawClient, rawServer := streamtest.TCPPair(t)
	server := chanstream.NewStream(rawServer)
	defer func() {
		server.Abort()
		server.WaitClosed(ctx)
	}()
	cork := &corkConn{Conn: rawClient}
	cork.Write([]byte("STARTTLS\r\n"))
	tc := tls.Client(cork, ccfg)
	defer tc.Close()
	errC, errS := both(func() error {
		if err := tc.HandshakeContext(ctx); err != nil {
			return err
		}
		_, err := tc.Write([]byte("hello over TLS\n"))
		return err
	}, func() error {
		line, err := server.ReadLine(ctx)
		if err != nil || string(line) != "STARTTLS\r\n" {
			return errors.New("server: bad command " + string(line))
		}
		if server.Reader().Buffered() == 0 {
			return errors.New("the ClientHello did not arrive with the line: the test proves nothing")
		}
		if err := Server(ctx, server, scfg); err != nil {
			return err
		}
		line, err = server.ReadLine(ctx)
		if err != nil || string(line) != "hello over TLS\n" {
			return errors.New("server: after the upgrade: " + string(line))
		}
		return nil
	})
	if errC != nil || errS != nil {
		t.Fatalf("client: %v; server: %v", errC, errS)
	}
}

func TestUpgrade_ExtraInfo(t *testing.T) {
	ctx := testnet.Ctx(t, 20*time.Second)
	ccfg, scfg := configs(t, tls.VersionTLS13)
	client, server := pair(t)
	if _, ok := client.ExtraInfo("ssl_object"); ok {
		t.Fatal("ssl_object before the upgrade")
	}
	plainSocket, _ := client.ExtraInfo("socket")
	errC, errS := both(func() error { return Client(ctx, client, ccfg) }, func() error { return Server(ctx, server, scfg) })
	if errC != nil || errS != nil {
		t.Fatalf("client: %v; server: %v", errC, errS)
	}
	st, ok := client.ExtraInfo("ssl_object")
	if !ok || st.(tls.ConnectionState).Version != tls.VersionTLS13 {
		t.Fatalf("ssl_object = %v", st)
	}
	cert, _ := client.ExtraInfo("peercert")
	if c, ok := cert.(*x509.Certificate); !ok || c == nil || c.DNSNames[0] != streamtest.TLSServerName {
		t.Fatalf("peercert = %v", cert)
	}
	if cert, _ := server.ExtraInfo("peercert"); cert.(*x509.Certificate) != nil {
		t.Fatalf("the server's peercert = %v; the client sent none", cert)
	}
	cipher, _ := client.ExtraInfo("cipher")
	if c := cipher.(chanstream.TLSCipher); c.Protocol != "TLSv1.3" || c.SecretBits < 128 || c.Name == "" {
		t.Fatalf("cipher = %+v", c)
	}
	if cfg, _ := client.ExtraInfo("sslcontext"); cfg.(*tls.Config).ServerName != streamtest.TLSServerName {
		t.Fatalf("sslcontext = %v", cfg)
	}
	if peer, _ := client.ExtraInfo("peername"); peer == nil {
		t.Fatal("peername lost after the upgrade")
	}
	// As asyncio's: the socket under TLS, the same one as before.
	if sock, _ := client.ExtraInfo("socket"); sock != plainSocket {
		t.Fatalf("socket after the upgrade = %T %v; want the connection it was before, %T", sock, sock, plainSocket)
	}
}

func TestUpgrade_HalfCloseOnTLS13(t *testing.T) {
	ctx := testnet.Ctx(t, 20*time.Second)
	client, server := upgradedPair(t, ctx, tls.VersionTLS13)
	if !client.CanWriteEOF() || !server.CanWriteEOF() {
		t.Fatal("CanWriteEOF false on TLS 1.3")
	}
	client.Write([]byte("request\n"))
	if err := client.WriteEOF(); err != nil {
		t.Fatal(err)
	}
	got, err := server.ReadChunk(ctx, -1)
	if err != nil || string(got) != "request\n" {
		t.Fatalf("the server read %q, %v; want the request and a clean EOF (close_notify)", got, err)
	}
	// The other direction still works: echo after EOF.
	server.Write([]byte("response after your EOF\n"))
	server.Close()
	got, err = client.ReadChunk(ctx, -1)
	if err != nil || string(got) != "response after your EOF\n" {
		t.Fatalf("the client read %q, %v", got, err)
	}
}

func TestUpgrade_NoHalfCloseOnTLS12(t *testing.T) {
	ctx := testnet.Ctx(t, 20*time.Second)
	client, _ := upgradedPair(t, ctx, tls.VersionTLS12)
	if client.CanWriteEOF() {
		t.Fatal("CanWriteEOF true on TLS 1.2")
	}
	if err := client.WriteEOF(); !errors.Is(err, chanstream.ErrWriteEOFUnsupported) {
		t.Fatalf("WriteEOF on TLS 1.2 = %v", err)
	}
}

// On TLS 1.2 close_notify ends the connection (RFC 5246 §7.2.1: the other
// party must answer with its own), and asyncio's SSL transport answers at
// once: so does a stream whose code is not reading or writing, and a peer's
// Close does not wait out its shutdown timeout. What the answering side had
// queued is still sent before its close_notify, and its reader still returns
// what it holds, then io.EOF.
func TestUpgrade_CloseNotifyAnsweredAtOnceOnTLS12(t *testing.T) {
	ctx := testnet.Ctx(t, 2*time.Minute)
	client, server := upgradedPair(t, ctx, tls.VersionTLS12, WithShutdownTimeout(time.Minute))
	if _, err := client.Write([]byte("last words\n")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	if err := client.WaitClosed(ctx); err != nil {
		t.Fatalf("WaitClosed: %v", err)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Fatalf("the client's Close took %v: the server did not answer its close_notify", took)
	}
	// The server's code had not read yet: everything is still there.
	if line, err := server.ReadLine(ctx); string(line) != "last words\n" || err != nil {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
	if _, err := server.ReadLine(ctx); err != io.EOF {
		t.Fatalf("after close_notify: %v, want io.EOF", err)
	}
	if _, err := server.Write([]byte("too late")); !errors.Is(err, chanstream.ErrWriteAfterCloseNotify) || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after the peer's close_notify = %v", err)
	}
}

// On TLS 1.3 close_notify closes one direction only: the side that receives
// it may go on writing (the half-close TestUpgrade_HalfCloseOnTLS13 uses),
// so it does not answer until it is closed itself.
func TestUpgrade_CloseNotifyIsAHalfCloseOnTLS13(t *testing.T) {
	ctx := testnet.Ctx(t, 20*time.Second)
	client, server := upgradedPair(t, ctx, tls.VersionTLS13)
	if err := client.WriteEOF(); err != nil {
		t.Fatal(err)
	}
	if _, err := server.ReadLine(ctx); err != io.EOF {
		t.Fatalf("after close_notify: %v, want io.EOF", err)
	}
	if _, err := server.Write([]byte("answer after EOF\n")); err != nil {
		t.Fatalf("Write after the peer's close_notify on TLS 1.3: %v", err)
	}
	if err := server.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if line, err := client.ReadLine(ctx); string(line) != "answer after EOF\n" || err != nil {
		t.Fatalf("the client read %q, %v", line, err)
	}
}

// A connection that ends without close_notify reads as ErrTruncated, not
// io.EOF, wherever it is cut: on a record boundary (which crypto/tls alone
// would take as a clean end), inside a record's header, or inside its body.
func TestUpgrade_TruncationIsNotEOF(t *testing.T) {
	// An application-data record of 64 bytes, as TLS 1.2 and 1.3 frame it.
	header := []byte{23, 3, 3, 0, 64}
	cuts := []struct {
		name string
		tail []byte // written raw after the last whole record, before the cut
	}{
		{"on a record boundary", nil},
		{"inside a record header", header[:3]},
		{"inside a record body", append(header, make([]byte, 20)...)},
	}
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for _, cut := range cuts {
			t.Run(tls.VersionName(version)+" "+cut.name, func(t *testing.T) {
				ctx := testnet.Ctx(t, 20*time.Second)
				ccfg, scfg := configs(t, version)
				rawClient, rawServer := streamtest.TCPPair(t)
				server := chanstream.NewStream(rawServer)
				defer func() {
					server.Abort()
					server.WaitClosed(ctx)
				}()
				tc := tls.Client(rawClient, ccfg)
				errC, errS := both(func() error { return tc.HandshakeContext(ctx) }, func() error { return Server(ctx, server, scfg) })
				if errC != nil || errS != nil {
					t.Fatalf("client: %v; server: %v", errC, errS)
				}
				if _, err := tc.Write([]byte("partial")); err != nil {
					t.Fatal(err)
				}
				if len(cut.tail) > 0 {
					if _, err := rawClient.Write(cut.tail); err != nil {
						t.Fatal(err)
					}
				}
				rawClient.CloseWrite() // a FIN, and no close_notify
				got, err := server.ReadChunk(ctx, 100)
				if err != nil || string(got) != "partial" {
					t.Fatalf("ReadChunk = %q, %v", got, err)
				}
				_, err = server.ReadChunk(ctx, 100)
				if !errors.Is(err, ErrTruncated) || !errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF {
					t.Fatalf("after the cut: %v; want ErrTruncated", err)
				}
			})
		}
	}
}

func TestUpgrade_CloseSendsCloseNotifyWithinTheShutdownTimeout(t *testing.T) {
	ctx := testnet.Ctx(t, 20*time.Second)
	ccfg, scfg := configs(t, 0)
	rawClient, rawServer := streamtest.TCPPair(t)
	server := chanstream.NewStream(rawServer)
	tc := tls.Client(rawClient, ccfg)
	defer tc.Close()
	errC, errS := both(func() error { return tc.HandshakeContext(ctx) }, func() error {
		return Server(ctx, server, scfg, WithShutdownTimeout(200*time.Millisecond))
	})
	if errC != nil || errS != nil {
		t.Fatalf("client: %v; server: %v", errC, errS)
	}
	server.Write([]byte("last words"))
	start := time.Now()
	server.Close()
	// The peer reads everything and a clean EOF: close_notify arrived.
	got, err := io.ReadAll(tc)
	if err != nil || string(got) != "last words" {
		t.Fatalf("the peer read %q, %v", got, err)
	}
	// It never answers with its own close_notify: Close waits the shutdown
	// timeout, no longer.
	if err := server.WaitClosed(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 10*time.Second {
		t.Fatalf("the close took %v; want the 200ms shutdown timeout", d)
	}
}

func TestUpgrade_Failures(t *testing.T) {
	ccfg, scfg := configs(t, 0)
	tests := []struct {
		name string
		// peer plays the other side over the raw connection.
		peer    func(ctx context.Context, raw net.Conn)
		opts    []Option
		cfg     *tls.Config
		ctx     func() (context.Context, context.CancelFunc)
		check   func(t *testing.T, e *Error)
		maxTime time.Duration
	}{
		{
			name: "handshake timeout: the server never answers",
			peer: func(ctx context.Context, raw net.Conn) { <-ctx.Done() },
			opts: []Option{WithHandshakeTimeout(100 * time.Millisecond)},
			check: func(t *testing.T, e *Error) {
				expect(t, e.Timeout() && !e.Canceled && errors.Is(e, context.DeadlineExceeded), "a timeout")
				// Found as net.Error's and dial.Error's is.
				var te interface{ Timeout() bool }
				expect(t, errors.As(error(e), &te) && te.Timeout(), "an interface{ Timeout() bool } that says so")
			},
			maxTime: 10 * time.Second,
		},
		{
			name: "ctx cancelled mid-handshake",
			peer: func(ctx context.Context, raw net.Conn) { <-ctx.Done() },
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(50*time.Millisecond, cancel)
				return ctx, cancel
			},
			check: func(t *testing.T, e *Error) {
				expect(t, e.Canceled && !e.Timeout() && errors.Is(e, context.Canceled), "a cancel")
			},
			maxTime: 10 * time.Second,
		},
		{
			name: "ctx deadline mid-handshake",
			peer: func(ctx context.Context, raw net.Conn) { <-ctx.Done() },
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 50*time.Millisecond)
			},
			check: func(t *testing.T, e *Error) {
				expect(t, e.Canceled && e.Timeout() && errors.Is(e, context.DeadlineExceeded), "a timeout of ctx")
			},
		},
		{
			name: "wrong host name",
			peer: func(ctx context.Context, raw net.Conn) {
				tls.Server(raw, scfg).HandshakeContext(ctx)
			},
			opts: []Option{WithServerName("other.test")},
			check: func(t *testing.T, e *Error) {
				var he x509.HostnameError
				expect(t, !e.Timeout() && !e.Canceled && errors.As(e, &he), "an x509.HostnameError")
			},
		},
		{
			name: "unknown authority",
			peer: func(ctx context.Context, raw net.Conn) {
				tls.Server(raw, scfg).HandshakeContext(ctx)
			},
			cfg: &tls.Config{ServerName: streamtest.TLSServerName},
			check: func(t *testing.T, e *Error) {
				var ua x509.UnknownAuthorityError
				expect(t, errors.As(e, &ua), "an x509.UnknownAuthorityError")
			},
		},
		{
			name: "the peer closes mid-handshake",
			peer: func(ctx context.Context, raw net.Conn) {
				raw.Read(make([]byte, 100)) // part of the ClientHello
				raw.Close()
			},
			check: func(t *testing.T, e *Error) { expect(t, e.Op == "handshake" && !e.Timeout(), "a handshake error") },
		},
		{
			name:  "no server name",
			peer:  func(ctx context.Context, raw net.Conn) {},
			cfg:   &tls.Config{},
			check: func(t *testing.T, e *Error) { expect(t, e.Op == "options", "an options error") },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if tc.ctx != nil {
				cancel()
				ctx, cancel = tc.ctx()
			}
			defer cancel()
			rawClient, rawServer := streamtest.TCPPair(t)
			s := chanstream.NewStream(rawClient)
			peerCtx, stopPeer := context.WithCancel(context.Background())
			var peerDone sync.WaitGroup
			peerDone.Add(1)
			go func() {
				defer peerDone.Done()
				tc.peer(peerCtx, rawServer)
			}()
			cfg := ccfg
			if tc.cfg != nil {
				cfg = tc.cfg
			}
			start := time.Now()
			err := Client(ctx, s, cfg, tc.opts...)
			stopPeer()
			rawServer.Close()
			peerDone.Wait()
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Client = %v; want an *Error", err)
			}
			tc.check(t, e)
			if tc.maxTime > 0 && time.Since(start) > tc.maxTime {
				t.Errorf("took %v", time.Since(start))
			}
			// The stream is closed, and its goroutines end.
			if _, err := s.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
				t.Errorf("Write after a failed upgrade = %v; want net.ErrClosed", err)
			}
			wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer wcancel()
			if err := s.WaitClosed(wctx); err == context.DeadlineExceeded {
				t.Error("the stream's goroutines did not end")
			}
		})
	}
}

func expect(t *testing.T, ok bool, what string) {
	t.Helper()
	if !ok {
		t.Errorf("want %s", what)
	}
}

func TestUpgrade_BadOptions(t *testing.T) {
	_, scfg := configs(t, 0)
	client, server := pair(t)
	if err := Client(context.Background(), client, nil, WithHandshakeTimeout(0)); err == nil {
		t.Fatal("WithHandshakeTimeout(0) accepted")
	}
	if err := Server(context.Background(), server, scfg, WithServerName("x")); err == nil {
		t.Fatal("WithServerName on Server accepted")
	}
	// A server config without a certificate fails at once, before any
	// handshake (the peer here never sends a ClientHello), and says so.
	for _, cfg := range []*tls.Config{nil, {}} {
		_, server := pair(t)
		start := time.Now()
		err := Server(context.Background(), server, cfg)
		var e *Error
		if !errors.As(err, &e) || e.Op != "options" || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("Server with config %v = %v; want an options error about the certificate", cfg, err)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Fatalf("Server with a config without a certificate took %v", took)
		}
		if !server.IsClosing() {
			t.Fatal("the stream is not closed after the error")
		}
	}
}
