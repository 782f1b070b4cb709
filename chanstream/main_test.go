package chanstream

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/chanstream/chanstream/internal/testnet"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testCtx returns a context that ends the test's waits after a bound.
func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// socketPair returns the two ends of a socketpair(2) as net.Conns.
func socketPair(t testing.TB) (net.Conn, net.Conn) { return testnet.SocketPair(t) }

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t testing.TB) (*net.TCPConn, *net.TCPConn) { return testnet.TCPPair(t) }

// closeStream closes s and waits for it, failing the test if that takes too
// long.
func closeStream(t testing.TB, s *Stream) {
	t.Helper()
	s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitClosed(ctx); err != nil && err != context.DeadlineExceeded {
		t.Logf("WaitClosed: %v", err)
	} else if err == context.DeadlineExceeded {
		t.Errorf("WaitClosed did not return in 10s")
		s.Abort()
	}
}
