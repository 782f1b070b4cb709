package relay_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/relay"
	"github.com/chanstream/chanstream/chanstream/streamtest"
	"github.com/chanstream/chanstream/internal/testnet"
)

// TestMain fails the package's tests on a leaked goroutine: goleak, through
// streamtest.VerifyTestMain, which first waits for chanstream's own to end.
func TestMain(m *testing.M) { streamtest.VerifyTestMain(m) }

// setup is a relay under test: peerA talks to a, peerB to b, and the relay
// copies between a and b.
type setup struct {
	peerA, a, b, peerB net.Conn
	aTCP, bTCP         bool // a, b can send a reset (TCP, or TLS over TCP)
}

// topology makes the four connections of a setup.
type topology struct {
	name string
	make func(t *testing.T) setup
}

func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	c, s := streamtest.TCPPair(t)
	return c, s
}

func stream(c net.Conn, opts ...chanstream.Option) net.Conn { return chanstream.NewStream(c, opts...) }

var topologies = []topology{
	{"tcp conns", func(t *testing.T) setup {
		pa, a := tcpPair(t)
		b, pb := tcpPair(t)
		return setup{pa, a, b, pb, true, true}
	}},
	{"tcp streams", func(t *testing.T) setup {
		pa, a := tcpPair(t)
		b, pb := tcpPair(t)
		return setup{pa, stream(a), stream(b), pb, true, true}
	}},
	{"tcp stream to conn", func(t *testing.T) setup {
		pa, a := tcpPair(t)
		b, pb := tcpPair(t)
		return setup{pa, stream(a), b, pb, true, true}
	}},
	{"unix streams", func(t *testing.T) setup {
		pa, a := streamtest.SocketPair(t)
		b, pb := streamtest.SocketPair(t)
		return setup{pa, stream(a), stream(b), pb, false, false}
	}},
	{"tls stream to tcp conn", func(t *testing.T) setup {
		pa, a := tlsPair(t, tls.VersionTLS13)
		b, pb := tcpPair(t)
		return setup{pa, stream(a), b, pb, true, true}
	}},
	{"tls conn to unix conn", func(t *testing.T) setup {
		pa, a := tlsPair(t, tls.VersionTLS13)
		b, pb := streamtest.SocketPair(t)
		return setup{pa, a, b, pb, true, false}
	}},
}

// tlsPair returns a TLS client and the server end over loopback TCP, at
// version (the handshake happens on first use).
func tlsPair(t *testing.T, version uint16) (client, server net.Conn) {
	c, s := tcpPair(t)
	ccfg, scfg := streamtest.TLSConfigs(t)
	ccfg.MinVersion, ccfg.MaxVersion = version, version
	scfg.MinVersion, scfg.MaxVersion = version, version
	// Handshake first (TLSPairWith does), as listener and dial do: a Stream
	// made over a tls.Conn before its handshake cannot half-close.
	return streamtest.TLSPairWith(t, c, s, ccfg, scfg)
}

// run starts Relay and returns a function that waits for its result.
func run(t *testing.T, ctx context.Context, a, b net.Conn) func() (relay.Result, error) {
	t.Helper()
	type result struct {
		res relay.Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := relay.Relay(ctx, a, b)
		done <- result{res, err}
	}()
	waited := false
	var r result
	wait := func() (relay.Result, error) {
		if !waited {
			select {
			case r = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("Relay did not return")
			}
			waited = true
		}
		return r.res, r.err
	}
	t.Cleanup(func() { wait() })
	return wait
}

func closeWrite(t *testing.T, c net.Conn) {
	t.Helper()
	if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
}

func readAll(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading: %v", err)
	}
	return string(b)
}

func TestRelay_HalfCloseEitherOrder(t *testing.T) {
	for _, top := range topologies {
		for _, aFirst := range []bool{true, false} {
			name := top.name + "/a ends first"
			if !aFirst {
				name = top.name + "/b ends first"
			}
			t.Run(name, func(t *testing.T) {
				s := top.make(t)
				defer s.peerA.Close()
				defer s.peerB.Close()
				wait := run(t, testnet.Ctx(t, 30*time.Second), s.a, s.b)

				first, firstPeer, second, secondPeer := s.peerA, s.peerB, s.peerB, s.peerA
				if !aFirst {
					first, firstPeer, second, secondPeer = s.peerB, s.peerA, s.peerA, s.peerB
				}
				first.Write([]byte("request"))
				closeWrite(t, first)
				if got := readAll(t, firstPeer); got != "request" {
					t.Fatalf("the far peer read %q, want %q", got, "request")
				}
				// The other direction still works after the half-close.
				second.Write([]byte("the response"))
				closeWrite(t, second)
				if got := readAll(t, secondPeer); got != "the response" {
					t.Fatalf("the first peer read %q, want %q", got, "the response")
				}
				res, err := wait()
				if err != nil {
					t.Fatalf("Relay = %v", err)
				}
				want := relay.Result{AToB: 7, BToA: 12}
				if !aFirst {
					want = relay.Result{AToB: 12, BToA: 7}
				}
				if res != want {
					t.Errorf("Relay counted %+v, want %+v", res, want)
				}
			})
		}
	}
}

// resetConn closes c with a reset.
func resetConn(t *testing.T, c net.Conn) {
	t.Helper()
	if err := c.(*net.TCPConn).SetLinger(0); err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// readUntilErr reads c until an error and returns it.
func readUntilErr(c net.Conn) error {
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err := io.Copy(io.Discard, c)
	if err == nil {
		return io.EOF
	}
	return err
}

func TestRelay_ResetPassesOn(t *testing.T) {
	for _, top := range topologies {
		t.Run(top.name, func(t *testing.T) {
			s := top.make(t)
			if !s.aTCP || !s.bTCP {
				s.peerA.Close()
				s.peerB.Close()
				s.a.Close()
				s.b.Close()
				t.Skip("a reset needs TCP on both sides")
			}
			defer s.peerA.Close()
			wait := run(t, testnet.Ctx(t, 30*time.Second), s.a, s.b)
			// Traffic first, so that a TLS handshake is done.
			s.peerA.Write([]byte("ping"))
			buf := make([]byte, 4)
			s.peerB.SetReadDeadline(time.Now().Add(20 * time.Second))
			if _, err := io.ReadFull(s.peerB, buf); err != nil {
				t.Fatal(err)
			}
			resetConn(t, s.peerB)
			if err := readUntilErr(s.peerA); !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("peer a read %v, want ECONNRESET", err)
			}
			res, err := wait()
			var rerr *relay.Error
			if !errors.As(err, &rerr) || !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("Relay = %v, want a *relay.Error matching ECONNRESET", err)
			}
			if rerr.Dir != relay.BToA {
				t.Errorf("the error's direction is %v, want %v", rerr.Dir, relay.BToA)
			}
			if res.AToB != 4 {
				t.Errorf("AToB = %d, want 4", res.AToB)
			}
		})
	}
}

func TestRelay_CancelResetsBoth(t *testing.T) {
	for _, top := range topologies {
		t.Run(top.name, func(t *testing.T) {
			s := top.make(t)
			defer s.peerA.Close()
			defer s.peerB.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			wait := run(t, ctx, s.a, s.b)
			s.peerA.Write([]byte("ping"))
			buf := make([]byte, 4)
			s.peerB.SetReadDeadline(time.Now().Add(20 * time.Second))
			if _, err := io.ReadFull(s.peerB, buf); err != nil {
				t.Fatal(err)
			}
			cancel()
			if _, err := wait(); err != context.Canceled {
				t.Fatalf("Relay = %v, want context.Canceled", err)
			}
			for _, p := range []struct {
				conn  net.Conn
				reset bool
			}{{s.peerA, s.aTCP}, {s.peerB, s.bTCP}} {
				err := readUntilErr(p.conn)
				if p.reset {
					if !errors.Is(err, syscall.ECONNRESET) {
						t.Errorf("peer %v read %v, want ECONNRESET", p.conn.LocalAddr(), err)
					}
				} else if err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
					t.Errorf("a peer read %v, want the end of the connection", err)
				}
			}
		})
	}
}

func TestRelay_CancelBeforeStart(t *testing.T) {
	pa, a := tcpPair(t)
	b, pb := tcpPair(t)
	defer pa.Close()
	defer pb.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := relay.Relay(ctx, stream(a), b); err != context.Canceled {
		t.Fatalf("Relay = %v, want context.Canceled", err)
	}
	if err := readUntilErr(pb); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("peer b read %v, want ECONNRESET", err)
	}
}

// TestRelay_LargeTransferBothWays sends 8 MiB each way at once and checks
// what arrives.
func TestRelay_LargeTransferBothWays(t *testing.T) {
	const size = 8 << 20
	for _, top := range topologies {
		t.Run(top.name, func(t *testing.T) {
			s := top.make(t)
			defer s.peerA.Close()
			defer s.peerB.Close()
			wait := run(t, testnet.Ctx(t, 60*time.Second), s.a, s.b)
			type sum struct {
				n   int64
				sum [32]byte
				err error
			}
			send := func(c net.Conn) [32]byte {
				data := make([]byte, size)
				rand.Read(data)
				go func() {
					c.SetWriteDeadline(time.Now().Add(60 * time.Second))
					c.Write(data)
					c.(interface{ CloseWrite() error }).CloseWrite()
				}()
				return sha256.Sum256(data)
			}
			receive := func(c net.Conn, out chan<- sum) {
				c.SetReadDeadline(time.Now().Add(60 * time.Second))
				h := sha256.New()
				n, err := io.Copy(h, c)
				var s sum
				s.n, s.err = n, err
				copy(s.sum[:], h.Sum(nil))
				out <- s
			}
			gotA, gotB := make(chan sum, 1), make(chan sum, 1)
			go receive(s.peerA, gotA)
			go receive(s.peerB, gotB)
			wantAToB := send(s.peerA)
			wantBToA := send(s.peerB)
			for _, c := range []struct {
				name string
				got  chan sum
				want [32]byte
			}{{"a to b", gotB, wantAToB}, {"b to a", gotA, wantBToA}} {
				g := <-c.got
				if g.err != nil || g.n != size || g.sum != c.want {
					t.Errorf("%s: received %d bytes, err %v, checksum match %v", c.name, g.n, g.err, g.sum == c.want)
				}
			}
			res, err := wait()
			if err != nil || res != (relay.Result{AToB: size, BToA: size}) {
				t.Errorf("Relay = %+v, %v; want %d each way", res, err, size)
			}
		})
	}
}

// TestRelay_PeerThatNeverReads checks that a relay toward a peer that does
// not read holds no more than the destination stream's watermark and one
// chunk, and holds the sender back.
func TestRelay_PeerThatNeverReads(t *testing.T) {
	const high, chunk = 64 << 10, 64 << 10
	pa, a := tcpPair(t)
	b, pb := tcpPair(t)
	defer pa.Close()
	defer pb.Close() // never read
	bs := chanstream.NewStream(b, chanstream.WithWriteBufferLimits(high, high/4))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wait := run(t, ctx, stream(a), bs)

	// Write until the relay stops taking data: TCP's buffers and the
	// stream's are full. The deadline only ends the loop.
	block := make([]byte, 256<<10)
	var sent int64
	pa.SetWriteDeadline(time.Now().Add(3 * time.Second))
	for i := 0; i < 1024; i++ {
		n, err := pa.Write(block)
		sent += int64(n)
		if err != nil {
			break
		}
		if got := bs.Stats().WriteBuffered; got > high+chunk {
			t.Fatalf("the destination stream holds %d bytes, over %d", got, high+chunk)
		}
	}
	if sent >= 1024*int64(len(block)) {
		t.Fatalf("a peer that never reads took all %d bytes", sent)
	}
	if got := bs.Stats().WriteBuffered; got > high+chunk {
		t.Errorf("the destination stream holds %d bytes, over %d", got, high+chunk)
	}
	cancel()
	res, err := wait()
	if err != context.Canceled {
		t.Errorf("Relay = %v, want context.Canceled", err)
	}
	if res.AToB > sent {
		t.Errorf("AToB = %d, more than the %d bytes sent", res.AToB, sent)
	}
}

// TestRelay_CannotHalfClose checks that an EOF toward a connection that
// cannot half-close (a stream over TLS 1.2) closes it, after the data, and
// ends the relay cleanly.
func TestRelay_CannotHalfClose(t *testing.T) {
	pa, a := tlsPair(t, tls.VersionTLS12)
	b, pb := tcpPair(t)
	defer pa.Close()
	defer pb.Close()
	as := chanstream.NewStream(a)
	wait := run(t, testnet.Ctx(t, 30*time.Second), as, b)
	pa.Write([]byte("request"))
	buf := make([]byte, 7)
	pb.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(pb, buf); err != nil {
		t.Fatal(err)
	}
	if as.CanWriteEOF() {
		t.Fatal("a TLS 1.2 stream can write EOF: the test proves nothing")
	}
	pb.Write([]byte("response"))
	closeWrite(t, pb)
	if got := readAll(t, pa); got != "response" {
		t.Errorf("peer a read %q, want %q", got, "response")
	}
	pa.Close()
	res, err := wait()
	if err != nil {
		t.Errorf("Relay = %v", err)
	}
	if res != (relay.Result{AToB: 7, BToA: 8}) {
		t.Errorf("Relay counted %+v", res)
	}
	if got := readAll(t, pb); got != "" {
		t.Errorf("peer b read %q after the relay ended", got)
	}
}

// TestRelay_TLS12EndsWithoutThePeersCloseNotify checks that a relay that
// closes a TLS 1.2 stream to pass on an EOF returns once both directions are
// done, without waiting for the peer to answer the stream's close_notify: on
// TLS 1.2 the side that sends close_notify need not wait for the answer
// (RFC 5246 §7.2.1), and a peer such as crypto/tls answers only when its own
// code closes. The peer here closes only after Relay has returned. The ctx's
// deadline, well under the default TLS shutdown timeout, is only a bound:
// the test fails if it was what ended the relay.
func TestRelay_TLS12EndsWithoutThePeersCloseNotify(t *testing.T) {
	pa, a := tlsPair(t, tls.VersionTLS12)
	b, pb := tcpPair(t)
	defer pa.Close()
	defer pb.Close()
	as := chanstream.NewStream(a)
	if as.CanWriteEOF() {
		t.Fatal("a TLS 1.2 stream can write EOF: the test proves nothing")
	}
	ctx, cancel := context.WithTimeout(context.Background(), chanstream.DefaultTLSShutdownTimeout/2)
	defer cancel()
	done := make(chan error, 1)
	var res relay.Result
	go func() {
		var err error
		res, err = relay.Relay(ctx, as, b)
		done <- err
	}()
	pa.Write([]byte("request"))
	buf := make([]byte, 7)
	pb.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(pb, buf); err != nil || string(buf) != "request" {
		t.Fatalf("peer b read %q, %v", buf, err)
	}
	pb.Write([]byte("response"))
	closeWrite(t, pb)
	// The stream's close_notify ends what peer a reads: a clean io.EOF.
	if got := readAll(t, pa); got != "response" {
		t.Errorf("peer a read %q, want %q", got, "response")
	}
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = <-done
	}
	if ctx.Err() != nil {
		t.Fatalf("the ctx's deadline ended the relay (Relay = %v): it waited for peer a's close_notify", err)
	}
	if err != nil {
		t.Errorf("Relay = %v", err)
	}
	if res != (relay.Result{AToB: 7, BToA: 8}) {
		t.Errorf("Relay counted %+v; want 7 bytes a to b, 8 b to a", res)
	}
	if got := readAll(t, pb); got != "" {
		t.Errorf("peer b read %q after the relay ended", got)
	}
}

// TestRelay_BufferedFirst checks that what a stream had buffered before
// Relay is relayed first.
func TestRelay_BufferedFirst(t *testing.T) {
	pa, a := tcpPair(t)
	b, pb := tcpPair(t)
	defer pa.Close()
	defer pb.Close()
	as := chanstream.NewStream(a)
	ctx := testnet.Ctx(t, 30*time.Second)
	pa.Write([]byte("CONNECT x\nhello"))
	closeWrite(t, pa)
	if line, err := as.ReadLine(ctx); err != nil || string(line) != "CONNECT x\n" {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
	wait := run(t, ctx, as, b)
	if got := readAll(t, pb); got != "hello" {
		t.Errorf("peer b read %q, want %q", got, "hello")
	}
	closeWrite(t, pb)
	if _, err := wait(); err != nil {
		t.Errorf("Relay = %v", err)
	}
}

func TestRelay_BadInput(t *testing.T) {
	pa, a := tcpPair(t)
	b, pb := tcpPair(t)
	defer pa.Close()
	defer pb.Close()
	defer a.Close()
	defer b.Close()
	as := chanstream.NewStream(a)
	defer as.Abort()
	ctx := testnet.Ctx(t, 10*time.Second)
	var nilTCP *net.TCPConn
	var nilStream *chanstream.Stream
	for _, tc := range []struct {
		name string
		a, b net.Conn
		want error
	}{
		{"nil a", nil, b, relay.ErrNilConn},
		{"nil b", b, nil, relay.ErrNilConn},
		{"nil pointer", nilTCP, b, relay.ErrNilConn},
		{"nil stream", b, nilStream, relay.ErrNilConn},
		{"same conn", b, b, relay.ErrSameConn},
		{"same stream", as, as, relay.ErrSameConn},
		{"a stream and its conn", as, a, relay.ErrSameConn},
		{"a conn and its stream", a, as, relay.ErrSameConn},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := relay.Relay(ctx, tc.a, tc.b)
			if !errors.Is(err, tc.want) || res != (relay.Result{}) {
				t.Fatalf("Relay = %+v, %v; want %v", res, err, tc.want)
			}
		})
	}
	// Nothing was closed or read: both still work.
	if _, err := b.Write([]byte("b")); err != nil {
		t.Errorf("b was closed: %v", err)
	}
	pa.Write([]byte("a"))
	if got, err := as.ReadExactly(ctx, 1); err != nil || string(got) != "a" {
		t.Errorf("the stream read %q, %v", got, err)
	}
}

func TestRelay_ErrorText(t *testing.T) {
	err := &relay.Error{Dir: relay.BToA, Err: io.ErrUnexpectedEOF}
	if got, want := err.Error(), "relay: b to a: unexpected EOF"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Error("the error does not unwrap to its cause")
	}
	if _, err := relay.Relay(context.Background(), nil, nil); err == nil || err.Error() != "relay: nil connection: a" {
		t.Errorf("Relay(nil, nil) = %v", err)
	}
}

// countingConn counts its Close calls and hides the connection's
// CloseWrite (it embeds only net.Conn).
type countingConn struct {
	net.Conn
	closes atomic.Int32
}

func (c *countingConn) Close() error {
	c.closes.Add(1)
	return c.Conn.Close()
}

// halfCloser is a countingConn that can half-close.
type halfCloser struct{ *countingConn }

func (h halfCloser) CloseWrite() error { return h.Conn.(*net.TCPConn).CloseWrite() }

func TestRelay_ClosesEachOnce(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cancel bool
	}{{"both directions end", false}, {"cancel", true}} {
		t.Run(tc.name, func(t *testing.T) {
			pa, a := tcpPair(t)
			b, pb := tcpPair(t)
			defer pa.Close()
			defer pb.Close()
			ca, cb := &countingConn{Conn: a}, &countingConn{Conn: b}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			wait := run(t, ctx, ca, halfCloser{cb})
			if tc.cancel {
				cancel()
			} else {
				// b's EOF closes a, which cannot half-close; that ends
				// the other direction too.
				pb.Write([]byte("bye"))
				closeWrite(t, pb)
				if got := readAll(t, pa); got != "bye" {
					t.Errorf("peer a read %q", got)
				}
				if got := readAll(t, pb); got != "" {
					t.Errorf("peer b read %q", got)
				}
			}
			_, err := wait()
			if tc.cancel != (err == context.Canceled) || !tc.cancel && err != nil {
				t.Errorf("Relay = %v", err)
			}
			if ca.closes.Load() != 1 || cb.closes.Load() != 1 {
				t.Errorf("a was closed %d times, b %d; want once each", ca.closes.Load(), cb.closes.Load())
			}
		})
	}
}

// panicConn panics on Read.
type panicConn struct{ net.Conn }

func (panicConn) Read([]byte) (int, error) { panic("read exploded") }

func TestRelay_PanicReachesTheCaller(t *testing.T) {
	pa, a := tcpPair(t)
	b, pb := tcpPair(t)
	defer pa.Close()
	defer pb.Close()
	defer func() {
		v := recover()
		err, ok := v.(error)
		if !ok || !strings.Contains(err.Error(), "read exploded") {
			t.Fatalf("recovered %v, want the direction's panic", v)
		}
		if err := readUntilErr(pb); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("peer b read %v, want ECONNRESET", err)
		}
	}()
	relay.Relay(testnet.Ctx(t, 20*time.Second), panicConn{a}, b)
	t.Fatal("Relay returned")
}
