package reliability

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/streamtest"
	"github.com/chanstream/chanstream/dial"
	"github.com/chanstream/chanstream/internal/testnet"
	"github.com/chanstream/chanstream/listener"
	"github.com/chanstream/chanstream/tlsupgrade"
)

// misuse is one case of scenario 16: a call that is wrong, the error it
// must give, and (for stream calls) the check that nothing was lost.
type misuse struct {
	name  string
	call  func(t *testing.T) error
	want  func(error) bool
	about string // the documented error, for the figure
}

func is(target error) func(error) bool { return func(err error) bool { return errors.Is(err, target) } }

func isDialError(op string) func(error) bool {
	return func(err error) bool {
		var de *dial.Error
		return errors.As(err, &de) && de.Op == op
	}
}

func contains(s string) func(error) bool {
	return func(err error) bool { return err != nil && strings.Contains(err.Error(), s) }
}

// panicOf runs f and returns what it panicked with, as an error.
func panicOf(f func()) (err error) {
	defer func() {
		if v := recover(); v != nil {
			if e, ok := v.(error); ok {
				err = e
			} else {
				err = fmt.Errorf("%v", v)
			}
		}
	}()
	f()
	return nil
}

// withData returns a stream whose reader holds "keep me\n", and checks at
// the end of the test that the bad call lost none of it.
func withData(t *testing.T) *chanstream.Stream {
	t.Helper()
	s, peer := streams(t)
	if _, err := peer.Write([]byte("keep me\n")); err != nil {
		t.Fatal(err)
	}
	testnet.Eventually(t, "the data to arrive", func() bool { return s.Stats().ReadBuffered == 8 })
	t.Cleanup(func() {
		if line, err := s.ReadLine(ctxFor(t, 10*time.Second)); err != nil || string(line) != "keep me\n" {
			t.Errorf("after the bad call, ReadLine = %q, %v: data was lost", line, err)
		}
	})
	return s
}

// Scenario 16: every misuse gives its documented error, and a bad read call
// loses no buffered byte.
func TestScenario16_BadInputAndMisuse(t *testing.T) {
	used := testnet.ListenTCP(t, "127.0.0.1", 0)
	longPath := "/tmp/" + strings.Repeat("p", 200) + ".sock"
	noop := func(context.Context, *chanstream.Stream) {}
	ctx := ctxFor(t, 30*time.Second)

	cases := []misuse{
		{"ReadExactly(-1)", func(t *testing.T) error {
			_, err := withData(t).ReadExactly(ctx, -1)
			return err
		}, is(chanstream.ErrNegativeCount), "ErrNegativeCount, nothing consumed"},
		{"Discard(-1)", func(t *testing.T) error {
			_, err := withData(t).Discard(ctx, -1)
			return err
		}, is(chanstream.ErrNegativeCount), "ErrNegativeCount, nothing consumed"},
		{"ReadUntil with an empty separator", func(t *testing.T) error {
			_, err := withData(t).ReadUntil(ctx, []byte{})
			return err
		}, is(chanstream.ErrEmptySeparator), "ErrEmptySeparator, nothing consumed"},
		{"ReadUntil with one empty separator among others", func(t *testing.T) error {
			_, err := withData(t).ReadUntil(ctx, []byte("\n"), nil)
			return err
		}, is(chanstream.ErrEmptySeparator), "ErrEmptySeparator, nothing consumed"},
		{"DiscardUntil with an empty separator", func(t *testing.T) error {
			_, err := withData(t).DiscardUntil(ctx, []byte{})
			return err
		}, is(chanstream.ErrEmptySeparator), "ErrEmptySeparator, nothing consumed"},
		{"WithLimit(0)", func(t *testing.T) error {
			return chanstream.CheckOptions(chanstream.WithLimit(0))
		}, contains("the limit must be positive"), "CheckOptions error"},
		{"WithLimit(-1)", func(t *testing.T) error {
			return chanstream.CheckOptions(chanstream.WithLimit(-1))
		}, contains("the limit must be positive"), "CheckOptions error"},
		{"NewReader(WithLimit(0)) panics", func(t *testing.T) error {
			return panicOf(func() { chanstream.NewReader(chanstream.WithLimit(0)) })
		}, contains("the limit must be positive"), "documented panic with CheckOptions' error"},
		{"NewStream(WithLimit(-1)) panics", func(t *testing.T) error {
			a, _ := streamtest.SocketPair(t)
			return panicOf(func() { chanstream.NewStream(a, chanstream.WithLimit(-1)) })
		}, contains("the limit must be positive"), "documented panic with CheckOptions' error"},
		{"watermarks with low > high", func(t *testing.T) error {
			return chanstream.CheckOptions(chanstream.WithWriteBufferLimits(16, 64))
		}, contains("need high >= low >= 0"), "CheckOptions error"},
		{"negative watermarks", func(t *testing.T) error {
			return chanstream.CheckOptions(chanstream.WithWriteBufferLimits(-1, -2))
		}, contains("need high >= low >= 0"), "CheckOptions error"},
		{"Dial with WithLimit(0)", func(t *testing.T) error {
			_, err := dial.Dial(ctx, "tcp", used.Addr().String(), chanstream.WithLimit(0))
			return err
		}, contains("the limit must be positive"), "error, no connection made"},
		{"Listen with low > high", func(t *testing.T) error {
			_, err := listener.Listen(ctx, "tcp", "127.0.0.1:0", noop, chanstream.WithWriteBufferLimits(1, 2))
			return err
		}, contains("need high >= low >= 0"), "error, nothing listening"},
		{"Write after Close", func(t *testing.T) error {
			s, _ := streams(t)
			s.Close()
			_, err := s.Write([]byte("late"))
			return err
		}, is(net.ErrClosed), "ErrClosed (matches net.ErrClosed)"},
		{"empty Write after Close", func(t *testing.T) error {
			s, _ := streams(t)
			s.Close()
			_, err := s.Write(nil)
			return err
		}, is(net.ErrClosed), "ErrClosed (matches net.ErrClosed)"},
		{"Drain after Close", func(t *testing.T) error {
			s, _ := streams(t)
			s.Close()
			return s.Drain(ctx)
		}, is(net.ErrClosed), "ErrClosed"},
		{"ReadLine after Close", func(t *testing.T) error {
			s, _ := streams(t)
			s.Close()
			_, err := s.ReadLine(ctx)
			return err
		}, is(net.ErrClosed), "ErrClosed"},
		{"Write after WriteEOF", func(t *testing.T) error {
			s, _ := streams(t)
			if err := s.WriteEOF(); err != nil {
				return fmt.Errorf("WriteEOF: %w", err)
			}
			_, err := s.Write([]byte("late"))
			return err
		}, is(chanstream.ErrWriteAfterEOF), "ErrWriteAfterEOF (matches net.ErrClosed)"},
		{"WriteEOF on TLS 1.2", func(t *testing.T) error {
			s := tlsStream(t, tls.VersionTLS12)
			if s.CanWriteEOF() {
				return errors.New("CanWriteEOF is true on TLS 1.2")
			}
			return s.WriteEOF()
		}, is(chanstream.ErrWriteEOFUnsupported), "ErrWriteEOFUnsupported; CanWriteEOF false"},
		{"Feed on a stream's reader", func(t *testing.T) error {
			return withData(t).Reader().Feed(ctx, []byte("x"))
		}, is(chanstream.ErrFeedConnected), "ErrFeedConnected, nothing fed"},
		{"Feed after FeedEOF", func(t *testing.T) error {
			r := chanstream.NewReader()
			r.FeedEOF()
			return r.Feed(ctx, []byte("x"))
		}, is(chanstream.ErrFeedAfterEOF), "ErrFeedAfterEOF"},
		{"Dial with no port", func(t *testing.T) error {
			_, err := dial.Dial(ctx, "tcp", "127.0.0.1")
			return err
		}, isDialError("address"), "*dial.Error, Op \"address\""},
		{"Dial with a bad port", func(t *testing.T) error {
			_, err := dial.Dial(ctx, "tcp", "127.0.0.1:http-x")
			return err
		}, isDialError("address"), "*dial.Error, Op \"address\""},
		{"Dial with an unclosed bracket", func(t *testing.T) error {
			_, err := dial.Dial(ctx, "tcp6", "[::1:80")
			return err
		}, isDialError("address"), "*dial.Error, Op \"address\""},
		{"Dial on an unknown network", func(t *testing.T) error {
			_, err := dial.Dial(ctx, "udp", "127.0.0.1:53")
			return err
		}, isDialError("address"), "*dial.Error, Op \"address\""},
		{"Dial a Unix path too long", func(t *testing.T) error {
			_, err := dial.Dial(ctx, "unix", longPath)
			return err
		}, contains("too long"), "*dial.Error naming the length"},
		{"Listen on a used port", func(t *testing.T) error {
			_, err := listener.Listen(ctx, "tcp", used.Addr().String(), noop)
			return err
		}, is(syscall.EADDRINUSE), "error matching syscall.EADDRINUSE"},
		{"Listen on a Unix path too long", func(t *testing.T) error {
			_, err := listener.Listen(ctx, "unix", longPath, noop)
			return err
		}, contains("too long"), "error naming the length"},
		{"Listen with a malformed address", func(t *testing.T) error {
			_, err := listener.Listen(ctx, "tcp", "127.0.0.1:99999", noop)
			return err
		}, func(err error) bool { return err != nil }, "error"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.call(t)
			if !c.want(err) {
				t.Fatalf("got %v (%T), want %s", err, err, c.about)
			}
			t.Logf("%s: %v", c.name, err)
		})
	}
	figure(t, 16, "%d misuse cases, each with its documented error; bad read calls lost 0 buffered bytes", len(cases))
}

// tlsStream returns the client end of a TLS connection of the given
// version, upgraded with tlsupgrade, with a server that reads to EOF.
func tlsStream(t *testing.T, version uint16) *chanstream.Stream {
	t.Helper()
	cliCfg, srvCfg := streamtest.TLSConfigs(t)
	cliCfg.MinVersion, cliCfg.MaxVersion = version, version
	srvCfg.MinVersion, srvCfg.MaxVersion = version, version
	a, b := streamtest.TCPPair(t)
	cs, ss := chanstream.NewStream(a), chanstream.NewStream(b)
	t.Cleanup(func() {
		cs.Abort()
		ss.Abort()
		streamtest.CloseStreams(t, cs, ss)
	})
	ctx := ctxFor(t, 20*time.Second)
	done := make(chan error, 1)
	go func() {
		if err := tlsupgrade.Server(ctx, ss, srvCfg); err != nil {
			done <- err
			return
		}
		_, err := io.Copy(io.Discard, ss)
		done <- err
	}()
	if err := tlsupgrade.Client(ctx, cs, cliCfg, tlsupgrade.WithServerName(streamtest.TLSServerName)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Abort(); <-done })
	return cs
}
