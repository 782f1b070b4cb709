package listener

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/internal/testnet"
)

// Tests that the listener's errors can be matched, and that Shutdown
// reports them.

func TestListen_ErrorsCanBeMatched(t *testing.T) {
	used := serve(t, "tcp", "127.0.0.1:0", echo)
	usedUnix := serve(t, "unix", filepath.Join(t.TempDir(), "used.sock"), echo)
	notSock := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notSock, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := testnet.Ctx(t, 10*time.Second)
	tests := []struct {
		name, network, address string
		h                      Handler
		match                  func(error) bool
	}{
		{"port in use", "tcp", used.Addrs()[0].String(), echo, func(err error) bool { return errors.Is(err, syscall.EADDRINUSE) }},
		{"unix path where a server listens", "unix", usedUnix.Addrs()[0].String(), echo, func(err error) bool { return errors.Is(err, syscall.EADDRINUSE) }},
		{"unix path that is not a socket", "unix", notSock, echo, func(err error) bool { return errors.Is(err, syscall.EADDRINUSE) }},
		{"unknown network", "udp", "127.0.0.1:0", echo, func(err error) bool {
			var ue net.UnknownNetworkError
			return errors.As(err, &ue) && string(ue) == "udp"
		}},
		{"bad address", "tcp", "127.0.0.1", echo, func(err error) bool {
			var ae *net.AddrError
			return errors.As(err, &ae)
		}},
		{"nil handler", "tcp", "127.0.0.1:0", nil, func(err error) bool { return errors.Is(err, ErrNilHandler) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := Listen(ctx, tc.network, tc.address, tc.h)
			if err == nil {
				srv.Close()
				t.Fatal("Listen succeeded")
			}
			if !tc.match(err) {
				t.Fatalf("Listen = %v: not matched", err)
			}
		})
	}
	if _, err := os.Stat(notSock); err != nil {
		t.Fatalf("the file that is not a socket was touched: %v", err)
	}
}

func TestFromListener_NilHandler(t *testing.T) {
	ln := testnet.ListenTCP(t, "127.0.0.1", 0)
	defer ln.Close()
	if _, err := FromListener(ln, nil); !errors.Is(err, ErrNilHandler) {
		t.Fatalf("FromListener(nil handler) = %v; want ErrNilHandler", err)
	}
}

var errCloseFailed = errors.New("close failed")

// failingCloseListener is a listener whose Close closes it, then fails.
type failingCloseListener struct{ net.Listener }

func (l failingCloseListener) Close() error {
	l.Listener.Close()
	return errCloseFailed
}

func TestServer_ShutdownReturnsTheListenersCloseError(t *testing.T) {
	srv, err := FromListener(failingCloseListener{testnet.ListenTCP(t, "127.0.0.1", 0)}, echo)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Shutdown(testnet.Ctx(t, 10*time.Second)); !errors.Is(err, errCloseFailed) {
		t.Fatalf("Shutdown = %v; want the listener's close error", err)
	}
	if err := srv.WaitClosed(testnet.Ctx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
}

func TestServer_ShutdownJoinsTheCloseErrorWithCtxs(t *testing.T) {
	entered := make(chan struct{})
	// The handler ignores its ctx: only the abort at Shutdown's deadline
	// ends its read.
	stubborn := func(_ context.Context, s *chanstream.Stream) {
		close(entered)
		s.ReadLine(context.Background())
	}
	srv, err := FromListener(failingCloseListener{testnet.ListenTCP(t, "127.0.0.1", 0)}, stubborn)
	if err != nil {
		t.Fatal(err)
	}
	c := dialServer(t, srv)
	defer c.Close()
	waitEntered(t, entered)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = srv.Shutdown(ctx)
	if !errors.Is(err, errCloseFailed) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v; want the close error and context.DeadlineExceeded", err)
	}
	if err := srv.WaitClosed(testnet.Ctx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
}

func TestServer_ShutdownWithoutACloseErrorReturnsCtxErrAsIs(t *testing.T) {
	entered := make(chan struct{})
	stubborn := func(_ context.Context, s *chanstream.Stream) {
		close(entered)
		s.ReadLine(context.Background())
	}
	srv := serve(t, "tcp", "127.0.0.1:0", stubborn)
	c := dialServer(t, srv)
	defer c.Close()
	waitEntered(t, entered)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Shutdown = %v; want context.DeadlineExceeded itself", err)
	}
}

// waitEntered waits for a handler to start.
func waitEntered(t *testing.T, entered <-chan struct{}) {
	t.Helper()
	select {
	case <-entered:
	case <-time.After(20 * time.Second):
		t.Fatal("the handler did not start")
	}
}
