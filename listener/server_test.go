package listener

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/streamtest"
	"github.com/chanstream/chanstream/internal/testnet"
)

// TestMain fails the package's tests on a leaked goroutine: goleak, through
// streamtest.VerifyTestMain, which first waits for chanstream's own to end.
func TestMain(m *testing.M) {
	streamtest.VerifyTestMain(m)
}

// echo is a handler echoing lines until EOF or its ctx ends.
func echo(ctx context.Context, s *chanstream.Stream) {
	for line, err := range s.Lines(ctx) {
		if err != nil {
			return
		}
		if _, err := s.Write(line); err != nil {
			return
		}
	}
}

// serve starts a server on loopback and shuts it down when the test ends.
func serve(t *testing.T, network, address string, h Handler, opts ...Option) *Server {
	t.Helper()
	srv, err := Listen(testnet.Ctx(t, 10*time.Second), network, address, h, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := srv.WaitClosed(ctx); err != nil {
			t.Errorf("WaitClosed: %v", err)
		}
	})
	return srv
}

func dialServer(t *testing.T, srv *Server) net.Conn {
	t.Helper()
	a := srv.Addrs()[0]
	c, err := net.DialTimeout(a.Network(), a.String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// exchange sends a line and reads the reply line.
func exchange(t *testing.T, c net.Conn, line string) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, line); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	b := make([]byte, 1)
	for !strings.HasSuffix(buf.String(), "\n") {
		if _, err := c.Read(b); err != nil {
			t.Fatalf("reading the reply to %q: %v (got %q)", line, err, buf.String())
		}
		buf.Write(b)
	}
	return buf.String()
}

// logBuffer holds what a server logs, safe to read while it logs.
type logBuffer struct {
	streamtest.Buffer
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// eventually is testnet.Eventually.
func eventually(t *testing.T, what string, cond func() bool) { testnet.Eventually(t, what, cond) }

func TestServer_EchoesAndReportsAddrs(t *testing.T) {
	srv := serve(t, "tcp", "127.0.0.1:0", echo, chanstream.WithLimit(1024))
	if len(srv.Addrs()) != 1 || srv.Addrs()[0].(*net.TCPAddr).Port == 0 {
		t.Fatalf("Addrs = %v", srv.Addrs())
	}
	if !srv.IsServing() {
		t.Fatal("not serving after Listen")
	}
	c := dialServer(t, srv)
	for i := 0; i < 3; i++ {
		msg := fmt.Sprintf("hello %d\n", i)
		if got := exchange(t, c, msg); got != msg {
			t.Fatalf("echo = %q", got)
		}
	}
	if st := srv.Stats(); st.Accepted != 1 || st.Active != 1 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestServer_HostNameListensOnEachAddress(t *testing.T) {
	srv := serve(t, "tcp4", "localhost:0", echo)
	for _, a := range srv.Addrs() {
		if !a.(*net.TCPAddr).IP.IsLoopback() {
			t.Fatalf("listening on %v for localhost", a)
		}
	}
}

func TestServer_ServeReturnsWhenClosed(t *testing.T) {
	srv := serve(t, "tcp", "127.0.0.1:0", echo)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background()) }()
	srv.Close()
	if err := <-done; err != ErrServerClosed {
		t.Fatalf("Serve = %v; want ErrServerClosed", err)
	}
	if srv.IsServing() {
		t.Fatal("IsServing after Close")
	}
	if _, err := net.DialTimeout("tcp", srv.Addrs()[0].String(), time.Second); err == nil {
		t.Fatal("still accepting after Close")
	}
}

func TestServer_ServeClosesWhenCtxEnds(t *testing.T) {
	srv := serve(t, "tcp", "127.0.0.1:0", echo)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := srv.Serve(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Serve = %v", err)
	}
	if srv.IsServing() {
		t.Fatal("still serving after Serve's ctx ended")
	}
}

func TestServer_StartServingFalse(t *testing.T) {
	srv := serve(t, "tcp", "127.0.0.1:0", echo, WithStartServing(false))
	if srv.IsServing() {
		t.Fatal("serving with WithStartServing(false)")
	}
	// The kernel completes the connection; nobody serves it yet.
	c := dialServer(t, srv)
	io.WriteString(c, "early\n")
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := c.Read(make([]byte, 10)); err == nil {
		t.Fatalf("served before Start: read %d bytes", n)
	}
	srv.Start()
	if !srv.IsServing() {
		t.Fatal("not serving after Start")
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 6)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "early\n" {
		t.Fatalf("after Start: %q, %v", buf, err)
	}
}

func TestServer_HandlerReturnClosesGracefully(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789"), 200_000) // 2 MB, more than the socket buffers
	srv := serve(t, "tcp", "127.0.0.1:0", func(ctx context.Context, s *chanstream.Stream) {
		s.Write(payload)
		// return at once: the server must still send everything
	})
	c := dialServer(t, srv)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("read %d bytes of %d, %v", len(got), len(payload), err)
	}
}

func TestServer_HandlerPanicLosesOnlyItsConnection(t *testing.T) {
	var logs logBuffer
	srv := serve(t, "tcp", "127.0.0.1:0", func(ctx context.Context, s *chanstream.Stream) {
		for line, err := range s.Lines(ctx) {
			if err != nil {
				return
			}
			if string(line) == "panic\n" {
				panic("handler exploded")
			}
			s.Write(line)
		}
	}, WithLogger(logs.logger()))
	good := dialServer(t, srv)
	bad := dialServer(t, srv)
	if got := exchange(t, good, "before\n"); got != "before\n" {
		t.Fatal(got)
	}
	io.WriteString(bad, "panic\n")
	bad.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := bad.Read(make([]byte, 1)); err == nil {
		t.Fatal("the panicking handler's connection is still open")
	}
	if got := exchange(t, good, "after\n"); got != "after\n" {
		t.Fatal(got)
	}
	eventually(t, "the panic to be counted", func() bool { return srv.Stats().Panics == 1 })
	log := logs.String()
	if !strings.Contains(log, "handler exploded") || !strings.Contains(log, "server_test.go") {
		t.Fatalf("the log lacks the panic value or its stack:\n%s", log)
	}
	// And a new connection is still served.
	if got := exchange(t, dialServer(t, srv), "new\n"); got != "new\n" {
		t.Fatal(got)
	}
}

func TestServer_ShutdownLetsHandlersFinishPolitely(t *testing.T) {
	// A chat-like handler: never idle, it leaves when its ctx ends, saying
	// goodbye.
	srv, err := Listen(testnet.Ctx(t, 10*time.Second), "tcp", "127.0.0.1:0", func(ctx context.Context, s *chanstream.Stream) {
		for {
			_, err := s.ReadLine(ctx)
			if err != nil {
				s.Write([]byte("bye\n"))
				return
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	c := dialServer(t, srv)
	eventually(t, "the connection to be active", func() bool { return srv.Stats().Active == 1 })
	// Shutdown returns nil, before its ctx ends, once the handler has
	// said goodbye.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, _ := io.ReadAll(c)
	if string(got) != "bye\n" {
		t.Fatalf("the client got %q; want the handler's goodbye", got)
	}
	if err := srv.WaitClosed(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestServer_ShutdownAbortsSlowHandlersAtTheDeadline(t *testing.T) {
	// Handlers that ignore their ctx: blocked reading with no ctx at all.
	srv, err := Listen(testnet.Ctx(t, 10*time.Second), "tcp", "127.0.0.1:0", func(_ context.Context, s *chanstream.Stream) {
		s.ReadLine(context.Background())
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		dialServer(t, srv)
	}
	eventually(t, "5 active connections", func() bool { return srv.Stats().Active == 5 })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := srv.Shutdown(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Shutdown = %v; want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 10*time.Second {
		t.Errorf("Shutdown returned after %v; want its 200ms deadline", d)
	}
	// The aborted handlers' reads fail, so they return.
	if err := srv.WaitClosed(testnet.Ctx(t, 5*time.Second)); err != nil {
		t.Fatalf("WaitClosed after the abort: %v", err)
	}
}

func TestServer_CloseKeepsConnections(t *testing.T) {
	srv := serve(t, "tcp", "127.0.0.1:0", echo)
	c := dialServer(t, srv)
	exchange(t, c, "one\n")
	srv.Close()
	if got := exchange(t, c, "two\n"); got != "two\n" {
		t.Fatalf("after Close: %q", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := srv.WaitClosed(ctx); err != context.DeadlineExceeded {
		t.Fatalf("WaitClosed with a live connection = %v; want it to wait", err)
	}
	srv.CloseClients()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after CloseClients: %v; want EOF", err)
	}
	if err := srv.WaitClosed(testnet.Ctx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
}

func TestServer_AbortClients(t *testing.T) {
	handlerErr := make(chan error, 1)
	srv := serve(t, "tcp", "127.0.0.1:0", func(ctx context.Context, s *chanstream.Stream) {
		_, err := s.ReadLine(context.Background())
		handlerErr <- err
	})
	dialServer(t, srv)
	eventually(t, "an active connection", func() bool { return srv.Stats().Active == 1 })
	srv.AbortClients()
	select {
	case err := <-handlerErr:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("the handler's read after AbortClients = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("AbortClients did not unblock the handler")
	}
}

func TestServer_ConnectingDuringCloseIsServedOrRefused(t *testing.T) {
	for round := 0; round < 30; round++ {
		srv, err := Listen(testnet.Ctx(t, 10*time.Second), "tcp", "127.0.0.1:0", echo)
		if err != nil {
			t.Fatal(err)
		}
		addr := srv.Addrs()[0].String()
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := net.DialTimeout("tcp", addr, time.Second)
				if err != nil {
					return // refused
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				io.WriteString(c, "x\n")
				buf := make([]byte, 2)
				if _, err := io.ReadFull(c, buf); err == nil && string(buf) != "x\n" {
					t.Errorf("garbled echo %q", buf)
				}
				// Otherwise closed at once (EOF or reset): refused. A hang
				// would fail the deadline above and leave the handler.
			}()
		}
		srv.Close()
		wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := srv.Shutdown(ctx); err != nil {
			t.Fatalf("round %d: Shutdown = %v (an orphaned connection?)", round, err)
		}
		cancel()
	}
}

func TestServer_MaxConnsRejects(t *testing.T) {
	srv := serve(t, "tcp", "127.0.0.1:0", echo, WithMaxConns(2))
	c1, c2 := dialServer(t, srv), dialServer(t, srv)
	exchange(t, c1, "a\n")
	exchange(t, c2, "b\n")
	c3 := dialServer(t, srv)
	c3.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c3.Read(make([]byte, 1)); err == nil {
		t.Fatal("a third connection was served over WithMaxConns(2)")
	}
	if st := srv.Stats(); st.Rejected != 1 {
		t.Fatalf("Stats = %+v", st)
	}
	c1.Close()
	eventually(t, "a slot to free", func() bool { return srv.Stats().Active == 1 })
	if got := exchange(t, dialServer(t, srv), "c\n"); got != "c\n" {
		t.Fatal(got)
	}
}

func TestServer_IdleTimeoutEvictsSlowPeers(t *testing.T) {
	// The active client talks every 20 ms: an idle timeout of a second
	// leaves room for a loaded machine to starve it for a while.
	srv := serve(t, "tcp", "127.0.0.1:0", echo, WithIdleTimeout(time.Second))
	slow := dialServer(t, srv)
	active := dialServer(t, srv)
	evicted := make(chan error, 1)
	go func() {
		slow.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, err := slow.Read(make([]byte, 1))
		evicted <- err
	}()
	for talking := true; talking; {
		exchange(t, active, "tick\n")
		select {
		case err := <-evicted:
			if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("the idle connection was not evicted: %v", err)
			}
			talking = false
		case <-time.After(20 * time.Millisecond):
		}
	}
	if got := exchange(t, active, "still here\n"); got != "still here\n" {
		t.Fatal(got)
	}
	if st := srv.Stats(); st.Evicted != 1 {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestServer_FirstByteTimeout(t *testing.T) {
	// A second leaves the talker room to send its first byte on a loaded
	// machine; then it stays quiet for longer than that.
	const timeout = time.Second
	srv := serve(t, "tcp", "127.0.0.1:0", echo, WithFirstByteTimeout(timeout))
	silent := dialServer(t, srv)
	talker := dialServer(t, srv)
	exchange(t, talker, "hi\n")
	silent.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := silent.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the silent connection was not evicted: %v", err)
	}
	time.Sleep(timeout + timeout/2)
	if got := exchange(t, talker, "later\n"); got != "later\n" {
		t.Fatal(got)
	}
}

func TestServer_TLS(t *testing.T) {
	clientConfig, serverConfig := streamtest.TLSConfigs(t)
	var logs logBuffer
	srv := serve(t, "tcp", "127.0.0.1:0", echo, WithTLS(serverConfig), WithTLSHandshakeTimeout(2*time.Second), WithLogger(logs.logger()))
	addr := srv.Addrs()[0].String()
	c, err := tls.Dial("tcp", addr, clientConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := exchange(t, c, "secret\n"); got != "secret\n" {
		t.Fatal(got)
	}
	// A plain-text client fails the handshake; one that says nothing
	// times out. Neither reaches the handler.
	plain := dialServer(t, srv)
	io.WriteString(plain, "GET / HTTP/1.0\r\n\r\n")
	dialServer(t, srv)
	// The two counters move one after the other: wait for both.
	eventually(t, "two failed handshakes, none left handshaking", func() bool {
		st := srv.Stats()
		return st.HandshakeErrors == 2 && st.Handshaking == 0
	})
	if st := srv.Stats(); st.HandshakeErrors != 2 || st.Handshaking != 0 {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestServer_MaxConnsCountsHandshakes(t *testing.T) {
	_, serverConfig := streamtest.TLSConfigs(t)
	srv := serve(t, "tcp", "127.0.0.1:0", echo, WithTLS(serverConfig), WithMaxConns(1))
	dialServer(t, srv) // connects, never says hello: stays in the handshake
	eventually(t, "a handshake in progress", func() bool { return srv.Stats().Handshaking == 1 })
	c := dialServer(t, srv)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("served past the cap")
	}
	if st := srv.Stats(); st.Rejected != 1 {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestServer_Unix(t *testing.T) {
	path := filepath.Join(t.TempDir(), "echo.sock")
	srv, err := Listen(testnet.Ctx(t, 10*time.Second), "unix", path, echo)
	if err != nil {
		t.Fatal(err)
	}
	c := dialServer(t, srv)
	if got := exchange(t, c, "unix\n"); got != "unix\n" {
		t.Fatal(got)
	}
	// A second server on a live path is an error and leaves the file.
	if _, err := Listen(testnet.Ctx(t, 10*time.Second), "unix", path, echo); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("Listen on a live socket = %v; want EADDRINUSE", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the live socket file was removed: %v", err)
	}
	c.Close()
	if err := srv.Shutdown(testnet.Ctx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the socket file is still there after Close: %v", err)
	}
}

func TestServer_UnixRemovesAStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stale.sock")
	// A server that died without removing its file.
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	srv := serve(t, "unix", path, echo)
	if got := exchange(t, dialServer(t, srv), "fresh\n"); got != "fresh\n" {
		t.Fatal(got)
	}
	// A file that is not a socket is left alone.
	notSock := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notSock, []byte("x"), 0o600)
	if _, err := Listen(testnet.Ctx(t, 10*time.Second), "unix", notSock, echo); err == nil {
		t.Fatal("Listen over a regular file succeeded")
	}
}

func TestServer_UnixAbstractAndAdopted(t *testing.T) {
	srv := serve(t, "unix", "@chanstream-listener-test", echo)
	if got := exchange(t, dialServer(t, srv), "abstract\n"); got != "abstract\n" {
		t.Fatal(got)
	}
	path := filepath.Join(t.TempDir(), "adopted.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	adopted, err := FromListener(ln, echo)
	if err != nil {
		t.Fatal(err)
	}
	if got := exchange(t, dialServer(t, adopted), "adopted\n"); got != "adopted\n" {
		t.Fatal(got)
	}
	if err := adopted.Shutdown(testnet.Ctx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the adopted listener's socket file was removed: %v", err)
	}
}

func TestServer_ReusePort(t *testing.T) {
	a := serve(t, "tcp", "127.0.0.1:0", echo, WithReusePort(true))
	port := a.Addrs()[0].(*net.TCPAddr).Port
	b := serve(t, "tcp", fmt.Sprintf("127.0.0.1:%d", port), echo, WithReusePort(true))
	if got := exchange(t, dialServer(t, b), "b\n"); got != "b\n" {
		t.Fatal(got)
	}
	if _, err := Listen(testnet.Ctx(t, 10*time.Second), "tcp", fmt.Sprintf("127.0.0.1:%d", port), echo); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("Listen without reuse_port on a used port = %v; want EADDRINUSE", err)
	}
}

func TestServer_Backlog(t *testing.T) {
	srv := serve(t, "tcp", "127.0.0.1:0", echo, WithBacklog(7), WithStartServing(false))
	ss, err := exec.LookPath("ss")
	if err != nil {
		t.Skip("ss (iproute2) is not installed: cannot read the backlog back")
	}
	port := srv.Addrs()[0].(*net.TCPAddr).Port
	out, err := exec.Command(ss, "-ltnH", fmt.Sprintf("sport = :%d", port)).Output()
	if err != nil {
		t.Fatal(err)
	}
	// For a listening socket, ss shows the backlog as Send-Q.
	fields := strings.Fields(string(out))
	if len(fields) < 3 || fields[2] != "7" {
		t.Fatalf("ss -ltn: %q; want Send-Q 7", out)
	}
}

func TestListen_Errors(t *testing.T) {
	t.Parallel()
	used := serve(t, "tcp", "127.0.0.1:0", echo)
	ctx := testnet.Ctx(t, 10*time.Second)
	tests := []struct {
		name, network, address string
		h                      Handler
		opts                   []Option
		is                     error
	}{
		{"port in use", "tcp", used.Addrs()[0].String(), echo, nil, syscall.EADDRINUSE},
		{"unknown network", "udp", "127.0.0.1:0", echo, nil, nil},
		{"nil handler", "tcp", "127.0.0.1:0", nil, nil, nil},
		{"bad address", "tcp", "127.0.0.1", echo, nil, nil},
		{"unix path too long", "unix", "/tmp/" + strings.Repeat("x", 200), echo, nil, nil},
		{"bad limit", "tcp", "127.0.0.1:0", echo, []Option{chanstream.WithLimit(-1)}, nil},
		{"max conns 0", "tcp", "127.0.0.1:0", echo, []Option{WithMaxConns(0)}, nil},
		{"negative backlog", "tcp", "127.0.0.1:0", echo, []Option{WithBacklog(-1)}, nil},
		{"TLS without a certificate", "tcp", "127.0.0.1:0", echo, []Option{WithTLS(&tls.Config{})}, nil},
		{"TLS with a nil config", "tcp", "127.0.0.1:0", echo, []Option{WithTLS(nil)}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, err := Listen(ctx, tc.network, tc.address, tc.h, tc.opts...)
			if err == nil {
				srv.Close()
				t.Fatal("Listen succeeded")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("Listen = %v; want %v", err, tc.is)
			}
			if !strings.HasPrefix(err.Error(), "listener: ") && !strings.HasPrefix(err.Error(), "chanstream: ") {
				t.Errorf("error %q does not say where it comes from", err)
			}
		})
	}
}

func TestServer_ManyConcurrentConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("2,000 connections: skipped with -short")
	}
	fdsBefore := countFDs(t)
	srv, err := Listen(testnet.Ctx(t, 30*time.Second), "tcp", "127.0.0.1:0", echo)
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.Addrs()[0].String()
	const n = 2000
	var wg, echoed sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 200) // connects in flight
	release := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		echoed.Add(1)
		go func() {
			defer wg.Done()
			once := sync.OnceFunc(echoed.Done)
			defer once()
			sem <- struct{}{}
			c, err := net.DialTimeout("tcp", addr, 10*time.Second)
			<-sem
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			msg := bytes.Repeat([]byte(fmt.Sprintf("%05d", i)), 400)
			msg = append(msg, '\n')
			if _, err := c.Write(msg); err != nil {
				errs <- err
				return
			}
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
				errs <- fmt.Errorf("connection %d: %v", i, err)
				return
			}
			once()
			<-release // every connection stays open until all have echoed
		}()
	}
	echoed.Wait()
	if st := srv.Stats(); st.Active != n {
		t.Errorf("%d connections open at once; want all %d", st.Active, n)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := srv.Stats(); st.Accepted != n {
		t.Errorf("accepted %d", st.Accepted)
	}
	if err := srv.Shutdown(testnet.Ctx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the descriptors to be released", func() bool { return countFDs(t) <= fdsBefore })
}

func countFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	return len(entries)
}

// echoOnce answers one line, then returns: the server closes first.
func echoOnce(ctx context.Context, s *chanstream.Stream) {
	if line, err := s.ReadLine(ctx); err == nil {
		s.Write(line)
	}
}

// closeFirst serves one exchange on a fresh server at address, whose
// handler closes first (leaving its side of the connection in TIME_WAIT),
// and shuts the server down.
func closeFirst(t *testing.T, address string, opts ...Option) int {
	t.Helper()
	srv, err := Listen(testnet.Ctx(t, 10*time.Second), "tcp", address, echoOnce, opts...)
	if err != nil {
		t.Fatal(err)
	}
	c := dialServer(t, srv)
	if got := exchange(t, c, "once\n"); got != "once\n" {
		t.Fatal(got)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after the handler returned, Read = %v; want EOF", err)
	}
	c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	srv.WaitClosed(ctx)
	return srv.Addrs()[0].(*net.TCPAddr).Port
}

func TestServer_ReuseAddress(t *testing.T) {
	// The server closed first, so its end of the connection waits in
	// TIME_WAIT on the port: a restart binds it only with SO_REUSEADDR,
	// which is on by default.
	port := closeFirst(t, "127.0.0.1:0")
	again := fmt.Sprintf("127.0.0.1:%d", port)
	if _, err := Listen(testnet.Ctx(t, 10*time.Second), "tcp", again, echo, WithReuseAddress(false)); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("Listen without reuse_address next to a TIME_WAIT connection = %v; want EADDRINUSE", err)
	}
	srv := serve(t, "tcp", again, echo) // the default: reuse_address on
	if got := exchange(t, dialServer(t, srv), "again\n"); got != "again\n" {
		t.Fatal(got)
	}
}

func TestServer_FromFile(t *testing.T) {
	ln := testnet.ListenTCP(t, "127.0.0.1", 0)
	f, err := ln.File()
	if err != nil {
		t.Fatal(err)
	}
	ln.Close() // f holds its own descriptor
	srv, err := FromFile(f, echo)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		srv.WaitClosed(ctx)
	}()
	if got := exchange(t, dialServer(t, srv), "adopted\n"); got != "adopted\n" {
		t.Fatal(got)
	}
	if _, err := f.Stat(); err == nil {
		t.Error("FromFile left f open; it documents that it closes it")
	}
}

func TestServer_TLSShutdownTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	clientConfig, serverConfig := streamtest.TLSConfigs(t)
	srv := serve(t, "tcp", "127.0.0.1:0", echoOnce, WithTLS(serverConfig), WithTLSShutdownTimeout(timeout))
	c, err := tls.Dial("tcp", srv.Addrs()[0].String(), clientConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The handler returns after one line; the server sends close_notify
	// and waits for ours, which never comes (we stop reading): it gives up
	// after the shutdown timeout and closes the connection.
	// The server's wait for close_notify begins after "bye" is sent, so
	// no sooner than the timeout after start, whatever the load.
	c.SetDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	io.WriteString(c, "bye\n")
	if got, err := bufio.NewReader(c).ReadString('\n'); err != nil || got != "bye\n" {
		t.Fatalf("echo = %q, %v", got, err)
	}
	eventually(t, "the connection to close", func() bool { return srv.Stats().Active == 0 })
	if took := time.Since(start); took < timeout {
		t.Fatalf("the server closed after %v without waiting for close_notify (timeout %v)", took, timeout)
	}
}
