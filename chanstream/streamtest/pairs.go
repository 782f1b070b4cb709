package streamtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
)

// DefaultPipeBuffer is how many bytes each direction of a [Pipe] holds
// before a Write waits for the reader: about what a loopback socket's
// kernel buffers hold.
const DefaultPipeBuffer = 256 * 1024

// pipeAddr is the address of one end of a pipe.
type pipeAddr string

func (a pipeAddr) Network() string { return "pipe" }
func (a pipeAddr) String() string  { return string(a) }

// pipeDir is one direction of a pipe: the bytes written by one end and not
// yet read by the other.
type pipeDir struct {
	buf          []byte
	eof          bool // the writing end closed its write half (or closed)
	readerClosed bool // the reading end closed: writes fail
}

// pipe is what the two ends of a pipe share; mu guards everything in it
// and in its PipeConns.
type pipe struct {
	mu      sync.Mutex
	changed signal
	size    int
	dirs    [2]pipeDir // dirs[i] flows toward end i
}

// PipeConn is one end of an in-memory connection made by [Pipe] or
// [PipeSize]. Unlike [net.Pipe], whose writes wait for a reader, each
// direction has a bounded buffer, as a socket's kernel buffers: a Write
// completes as soon as its bytes fit in the buffer, and waits only while the
// buffer is full. It can half-close ([PipeConn.CloseWrite]) and has
// [net.Conn]'s deadlines. Its errors are [*net.OpError] values, as a
// socket's are: after Close, calls fail with an error matching
// [net.ErrClosed]; a Write after [PipeConn.CloseWrite], or after the other
// end closed, fails with one matching [syscall.EPIPE]; an expired deadline
// gives one matching [os.ErrDeadlineExceeded] whose Timeout method reports
// true.
//
// A PipeConn may be used from several goroutines at once.
type PipeConn struct {
	p      *pipe
	end    int // 0 or 1: this end reads p.dirs[end]
	local  pipeAddr
	remote pipeAddr
	// The rest is guarded by p.mu.
	closed        bool
	readDeadline  time.Time
	writeDeadline time.Time
}

var _ net.Conn = (*PipeConn)(nil)

// Pipe returns the two ends of an in-memory connection whose directions
// each buffer [DefaultPipeBuffer] bytes. Both ends are closed when the test
// ends.
func Pipe(t testing.TB) (a, b *PipeConn) {
	t.Helper()
	return PipeSize(t, DefaultPipeBuffer)
}

// PipeSize is [Pipe] with each direction buffering size bytes. A size
// below 1 fails the test.
func PipeSize(t testing.TB, size int) (a, b *PipeConn) {
	t.Helper()
	a, b, err := NewPipe(size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.Close()
		b.Close()
	})
	return a, b
}

// NewPipe returns the two ends of an in-memory connection whose directions
// each buffer size bytes, for use outside a test: the caller closes them.
// It fails if size is below 1.
func NewPipe(size int) (a, b *PipeConn, err error) {
	if size < 1 {
		return nil, nil, fmt.Errorf("streamtest: pipe buffer size %d: must be at least 1", size)
	}
	p := &pipe{size: size}
	a = &PipeConn{p: p, end: 0, local: "pipe:a", remote: "pipe:b"}
	b = &PipeConn{p: p, end: 1, local: "pipe:b", remote: "pipe:a"}
	return a, b, nil
}

func (c *PipeConn) opError(op string, err error) error {
	return opError(op, "pipe", c.local, c.remote, err)
}

// Read reads what the other end wrote, waiting until at least one byte is
// there. It returns [io.EOF] once the other end has closed or half-closed
// and every byte it wrote has been read.
func (c *PipeConn) Read(b []byte) (int, error) {
	p := c.p
	p.mu.Lock()
	defer p.mu.Unlock()
	in := &p.dirs[c.end]
	for {
		switch {
		case c.closed:
			return 0, c.opError("read", net.ErrClosed)
		case passed(c.readDeadline):
			return 0, c.opError("read", errDeadline)
		case len(in.buf) > 0:
			n := copy(b, in.buf)
			in.buf = in.buf[n:]
			if n > 0 {
				p.changed.broadcast()
			}
			return n, nil
		case in.eof:
			return 0, io.EOF
		case len(b) == 0:
			return 0, nil
		}
		waitLocked(&p.mu, &p.changed, c.readDeadline, time.Time{})
	}
}

// Write copies b into the buffer toward the other end, waiting while the
// buffer is full. On an error it returns how many bytes it buffered.
func (c *PipeConn) Write(b []byte) (int, error) {
	p := c.p
	p.mu.Lock()
	defer p.mu.Unlock()
	out := &p.dirs[1-c.end]
	n := 0
	for {
		switch {
		case c.closed:
			return n, c.opError("write", net.ErrClosed)
		case out.eof || out.readerClosed:
			return n, c.opError("write", syscall.EPIPE)
		case passed(c.writeDeadline):
			return n, c.opError("write", errDeadline)
		case n == len(b):
			return n, nil
		}
		if room := p.size - len(out.buf); room > 0 {
			k := min(room, len(b)-n)
			out.buf = append(out.buf, b[n:n+k]...)
			n += k
			p.changed.broadcast()
			continue
		}
		waitLocked(&p.mu, &p.changed, c.writeDeadline, time.Time{})
	}
}

// CloseWrite closes the write half: the other end reads what was written,
// then [io.EOF], and can still write; writes on this end fail.
func (c *PipeConn) CloseWrite() error {
	p := c.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.closed {
		return c.opError("close", net.ErrClosed)
	}
	p.dirs[1-c.end].eof = true
	p.changed.broadcast()
	return nil
}

// Close closes this end: its blocked and later calls fail with an error
// matching [net.ErrClosed], the bytes it had not read are dropped, the other
// end reads what this end wrote and then [io.EOF], and its writes fail. A
// second Close returns an error matching net.ErrClosed.
func (c *PipeConn) Close() error {
	p := c.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.closed {
		return c.opError("close", net.ErrClosed)
	}
	c.closed = true
	in := &p.dirs[c.end]
	in.readerClosed, in.buf = true, nil
	p.dirs[1-c.end].eof = true
	p.changed.broadcast()
	return nil
}

// Buffered returns how many bytes this end has received and not read.
func (c *PipeConn) Buffered() int {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	return len(c.p.dirs[c.end].buf)
}

// LocalAddr returns "pipe:a" or "pipe:b".
func (c *PipeConn) LocalAddr() net.Addr { return c.local }

// RemoteAddr returns the other end's address.
func (c *PipeConn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets both deadlines.
func (c *PipeConn) SetDeadline(t time.Time) error {
	return c.setDeadlines(t, true, true)
}

// SetReadDeadline sets the deadline of Read, waking a Read that waits.
func (c *PipeConn) SetReadDeadline(t time.Time) error {
	return c.setDeadlines(t, true, false)
}

// SetWriteDeadline sets the deadline of Write, waking a Write that waits.
func (c *PipeConn) SetWriteDeadline(t time.Time) error {
	return c.setDeadlines(t, false, true)
}

func (c *PipeConn) setDeadlines(t time.Time, read, write bool) error {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	if c.closed {
		return c.opError("set deadline", net.ErrClosed)
	}
	if read {
		c.readDeadline = t
	}
	if write {
		c.writeDeadline = t
	}
	c.p.changed.broadcast()
	return nil
}

// SocketPair returns the two ends of a connected stream socket pair: a
// Unix socketpair(2) on Unix systems, a loopback TCP connection on
// Windows. Both are closed when the test ends.
func SocketPair(t testing.TB) (a, b net.Conn) {
	t.Helper()
	a, b, err := socketPair()
	if err != nil {
		t.Fatalf("streamtest: socket pair: %v", err)
	}
	t.Cleanup(func() {
		a.Close()
		b.Close()
	})
	return a, b
}

// TCPPair returns the two ends of a TCP connection over 127.0.0.1. Both
// are closed when the test ends.
func TCPPair(t testing.TB) (client, server *net.TCPConn) {
	t.Helper()
	client, server, err := tcpPair()
	if err != nil {
		t.Fatalf("streamtest: TCP pair: %v", err)
	}
	t.Cleanup(func() {
		client.Close()
		server.Close()
	})
	return client, server
}

// tcpPair connects a TCP connection over 127.0.0.1 to itself through a
// listener it closes before it returns.
func tcpPair() (client, server *net.TCPConn, err error) {
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, nil, err
	}
	defer ln.Close()
	type result struct {
		c   *net.TCPConn
		err error
	}
	accepted := make(chan result, 1)
	go func() {
		c, err := ln.AcceptTCP()
		accepted <- result{c, err}
	}()
	c, err := net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		ln.Close()
		<-accepted
		return nil, nil, err
	}
	res := <-accepted
	if res.err != nil {
		c.Close()
		return nil, nil, res.err
	}
	return c, res.c, nil
}

// TLSPair runs a TLS handshake over a and b, a as the client and b as the
// server, with the configurations of [TLSConfigs] (TLS 1.3), and returns
// the two TLS connections. They are closed when the test ends, after a and
// b are, so that closing them does not wait for the peer's close_notify.
func TLSPair(t testing.TB, a, b net.Conn) (client, server *tls.Conn) {
	t.Helper()
	clientConfig, serverConfig := TLSConfigs(t)
	return TLSPairWith(t, a, b, clientConfig, serverConfig)
}

// TLSPairWith is [TLSPair] with the given configurations (say, to pin
// TLS 1.2 with MaxVersion). A handshake that fails, or does not end
// within 10 seconds, fails the test.
func TLSPairWith(t testing.TB, a, b net.Conn, clientConfig, serverConfig *tls.Config) (client, server *tls.Conn) {
	t.Helper()
	client, server = tls.Client(a, clientConfig), tls.Server(b, serverConfig)
	t.Cleanup(func() {
		a.Close()
		b.Close()
		client.Close()
		server.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	serverErr := make(chan error, 1)
	go func() { serverErr <- server.HandshakeContext(ctx) }()
	clientErr := client.HandshakeContext(ctx)
	if clientErr != nil {
		a.Close() // the server's handshake must not wait for the client
	}
	if err := <-serverErr; err != nil {
		t.Fatalf("streamtest: TLS handshake, server side: %v", err)
	}
	if clientErr != nil {
		t.Fatalf("streamtest: TLS handshake, client side: %v", clientErr)
	}
	return client, server
}

// TLSServerName is the name the certificate of [TLSConfigs] is for, besides
// 127.0.0.1 and ::1.
const TLSServerName = "streamtest.invalid"

var testCert struct {
	once  sync.Once
	roots *x509.CertPool
	cert  tls.Certificate
	err   error
}

// TLSConfigs returns a client and a server configuration, TLS 1.3 at
// least: the server presents a certificate for [TLSServerName],
// 127.0.0.1 and ::1, made on the spot by a certificate authority that
// only the client trusts. The configurations are new on each call; the
// certificate is made once per process.
func TLSConfigs(t testing.TB) (client, server *tls.Config) {
	t.Helper()
	testCert.once.Do(func() { testCert.roots, testCert.cert, testCert.err = makeCert() })
	if testCert.err != nil {
		t.Fatalf("streamtest: making a TLS certificate: %v", testCert.err)
	}
	client = &tls.Config{RootCAs: testCert.roots, ServerName: TLSServerName, MinVersion: tls.VersionTLS13}
	server = &tls.Config{Certificates: []tls.Certificate{testCert.cert}, MinVersion: tls.VersionTLS13}
	return client, server
}

// makeCert makes a certificate authority and a server certificate it
// signs, valid for a day around now.
func makeCert() (*x509.CertPool, tls.Certificate, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "streamtest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: TLSServerName},
		DNSNames:     []string{TLSServerName},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	return roots, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
