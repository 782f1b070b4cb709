package streamtest

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

func TestNewPipe_RejectsBadSize(t *testing.T) {
	for _, size := range []int{0, -1} {
		if _, _, err := NewPipe(size); err == nil {
			t.Errorf("NewPipe(%d) = nil error; want one", size)
		}
	}
}

func TestPipe_WriteCompletesIntoBuffer(t *testing.T) {
	a, b := PipeSize(t, 8)
	if n, err := a.Write([]byte("12345678")); n != 8 || err != nil {
		t.Fatalf("Write into an empty buffer = %d, %v; want 8, nil without a reader", n, err)
	}
	// The buffer is full: a Write waits, and its deadline ends the wait.
	a.SetWriteDeadline(time.Now().Add(20 * time.Millisecond))
	n, err := a.Write([]byte("9"))
	if n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write into a full buffer = %d, %v; want 0, deadline exceeded", n, err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("deadline error %v is not a net.Error with Timeout", err)
	}
	a.SetWriteDeadline(time.Time{})
	if got := b.Buffered(); got != 8 {
		t.Fatalf("Buffered = %d; want 8", got)
	}
}

func TestPipe_WriteWaitsForRoom(t *testing.T) {
	a, b := PipeSize(t, 4)
	data := []byte("a longer message than the buffer")
	done := make(chan error, 1)
	go func() {
		_, err := a.Write(data)
		done <- err
	}()
	got := make([]byte, 0, len(data))
	buf := make([]byte, 16)
	for len(got) < len(data) {
		n, err := b.Read(buf)
		if n > 4 {
			t.Fatalf("Read returned %d bytes from a 4-byte buffer", n)
		}
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read %q; want %q", got, data)
	}
}

func TestPipe_CloseWriteHalfCloses(t *testing.T) {
	a, b := Pipe(t)
	a.Write([]byte("last words"))
	if err := a.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(b)
	if string(got) != "last words" || err != nil {
		t.Fatalf("ReadAll after CloseWrite = %q, %v", got, err)
	}
	if _, err := a.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("Write after CloseWrite = %v; want EPIPE", err)
	}
	// The other direction still works.
	b.Write([]byte("reply"))
	b.Close()
	got, err = io.ReadAll(a)
	if string(got) != "reply" || err != nil {
		t.Fatalf("reading the reply = %q, %v", got, err)
	}
}

func TestPipe_CloseWakesAndEnds(t *testing.T) {
	a, b := Pipe(t)
	readErr := make(chan error, 1)
	go func() {
		_, err := a.Read(make([]byte, 1))
		readErr <- err
	}()
	b.Write([]byte("x"))
	if err := <-readErr; err != nil {
		t.Fatal(err)
	}
	go func() {
		_, err := a.Read(make([]byte, 1))
		readErr <- err
	}()
	a.Close()
	if err := <-readErr; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("a Read blocked across Close = %v; want net.ErrClosed", err)
	}
	if _, err := b.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the peer's Read after Close = %v; want io.EOF", err)
	}
	if _, err := b.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("the peer's Write after Close = %v; want EPIPE", err)
	}
	if err := a.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close = %v; want net.ErrClosed", err)
	}
	if _, err := a.Write(nil); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close = %v; want net.ErrClosed", err)
	}
}

func TestPipe_ReadDeadline(t *testing.T) {
	a, b := Pipe(t)
	a.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := a.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past the deadline = %v", err)
	}
	// A deadline set while a Read waits wakes it.
	a.SetReadDeadline(time.Time{})
	readErr := make(chan error, 1)
	go func() {
		_, err := a.Read(make([]byte, 1))
		readErr <- err
	}()
	a.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if err := <-readErr; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read across a new deadline = %v", err)
	}
	// Clearing it makes reads work again, and nothing was lost.
	a.SetReadDeadline(time.Time{})
	b.Write([]byte("y"))
	buf := make([]byte, 1)
	if n, err := a.Read(buf); n != 1 || err != nil || buf[0] != 'y' {
		t.Fatalf("Read after clearing the deadline = %d, %v", n, err)
	}
}

// pairMakers are the pairs of the package, for the tests that run on each.
var pairMakers = []struct {
	name string
	make func(t testing.TB) (a, b net.Conn)
}{
	{"Pipe", func(t testing.TB) (net.Conn, net.Conn) { a, b := Pipe(t); return a, b }},
	{"SocketPair", SocketPair},
	{"TCPPair", func(t testing.TB) (net.Conn, net.Conn) { a, b := TCPPair(t); return a, b }},
	{"TLSPair/Pipe", func(t testing.TB) (net.Conn, net.Conn) {
		x, y := Pipe(t)
		a, b := TLSPair(t, x, y)
		return a, b
	}},
	{"TLSPair/SocketPair", func(t testing.TB) (net.Conn, net.Conn) {
		x, y := SocketPair(t)
		a, b := TLSPair(t, x, y)
		return a, b
	}},
	{"TLSPair/TCPPair", func(t testing.TB) (net.Conn, net.Conn) {
		c, s := TCPPair(t)
		a, b := TLSPair(t, c, s)
		return a, b
	}},
}

func TestPairs_EchoAndHalfClose(t *testing.T) {
	for _, pm := range pairMakers {
		t.Run(pm.name, func(t *testing.T) {
			a, b := pm.make(t)
			msg := bytes.Repeat([]byte("0123456789"), 10000)
			go func() {
				a.Write(msg)
				a.(interface{ CloseWrite() error }).CloseWrite()
			}()
			got, err := io.ReadAll(b)
			if err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("read %d bytes, %v; want %d, nil", len(got), err, len(msg))
			}
			if _, err := b.Write([]byte("back")); err != nil {
				t.Fatalf("Write after the peer's half-close: %v", err)
			}
			buf := make([]byte, 4)
			if _, err := io.ReadFull(a, buf); err != nil || string(buf) != "back" {
				t.Fatalf("read %q, %v after half-closing", buf, err)
			}
		})
	}
}

func TestTLSPair_IsTLS13WithTheCertificate(t *testing.T) {
	x, y := Pipe(t)
	client, server := TLSPair(t, x, y)
	st := client.ConnectionState()
	if st.Version != 0x0304 || !st.HandshakeComplete {
		t.Fatalf("version %x, complete %v; want TLS 1.3", st.Version, st.HandshakeComplete)
	}
	if got := st.PeerCertificates[0].DNSNames; len(got) != 1 || got[0] != TLSServerName {
		t.Fatalf("server certificate names %v", got)
	}
	if !server.ConnectionState().HandshakeComplete {
		t.Fatal("server handshake not complete")
	}
}
