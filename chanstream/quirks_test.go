package chanstream_test

import (
	"context"
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/streamtest"
	"github.com/chanstream/chanstream/internal/testnet"
)

// quirksCtx bounds a test's waits.
func quirksCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// closeStream aborts s and waits for its goroutines when the test ends.
func closeStream(t *testing.T, s *chanstream.Stream) {
	t.Cleanup(func() {
		s.Abort()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.WaitClosed(ctx)
	})
}

// A Stream made over a *tls.Conn before its handshake learns the version
// once the handshake is done: CanWriteEOF and WriteEOF follow it from then
// on, and report false and ErrWriteEOFUnsupported before.
func TestCanWriteEOF_TLSConnMadeBeforeItsHandshake(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version uint16
		want    bool
	}{
		{"TLS 1.3", tls.VersionTLS13, true},
		{"TLS 1.2", tls.VersionTLS12, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := quirksCtx(t)
			a, b := testnet.TCPPair(t)
			clientConfig, serverConfig := streamtest.TLSConfigs(t)
			clientConfig.MinVersion, clientConfig.MaxVersion = tc.version, tc.version
			serverConfig.MinVersion, serverConfig.MaxVersion = tc.version, tc.version
			// The client's read pump starts the handshake at once; it
			// cannot end before the server's side exists.
			client := chanstream.NewStream(tls.Client(a, clientConfig))
			closeStream(t, client)
			if client.CanWriteEOF() {
				t.Fatal("CanWriteEOF = true before the handshake")
			}
			if err := client.WriteEOF(); !errors.Is(err, chanstream.ErrWriteEOFUnsupported) {
				t.Fatalf("WriteEOF before the handshake = %v; want ErrWriteEOFUnsupported", err)
			}
			server := chanstream.NewStream(tls.Server(b, serverConfig))
			closeStream(t, server)
			// The handshake runs meanwhile. Each side knows the version
			// by the time it has read a byte.
			if _, err := client.Write([]byte("ping\n")); err != nil {
				t.Fatal(err)
			}
			if line, err := server.ReadLine(ctx); err != nil || string(line) != "ping\n" {
				t.Fatalf("server ReadLine = %q, %v", line, err)
			}
			if got := server.CanWriteEOF(); got != tc.want {
				t.Fatalf("server CanWriteEOF after the handshake = %v; want %v", got, tc.want)
			}
			if _, err := server.Write([]byte("pong\n")); err != nil {
				t.Fatal(err)
			}
			if line, err := client.ReadLine(ctx); err != nil || string(line) != "pong\n" {
				t.Fatalf("client ReadLine = %q, %v", line, err)
			}
			if got := client.CanWriteEOF(); got != tc.want {
				t.Fatalf("client CanWriteEOF after the handshake = %v; want %v", got, tc.want)
			}
			err := client.WriteEOF()
			if !tc.want {
				if !errors.Is(err, chanstream.ErrWriteEOFUnsupported) {
					t.Fatalf("WriteEOF on %s = %v; want ErrWriteEOFUnsupported", tc.name, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("WriteEOF on %s = %v", tc.name, err)
			}
			// The half-close: the server sees the end, and can still answer.
			if b, err := server.ReadChunk(ctx, -1); err != nil || len(b) != 0 {
				t.Fatalf("server ReadChunk(-1) after the client's WriteEOF = %q, %v; want the end", b, err)
			}
			if _, err := server.Write([]byte("bye\n")); err != nil {
				t.Fatal(err)
			}
			if line, err := client.ReadLine(ctx); err != nil || string(line) != "bye\n" {
				t.Fatalf("client ReadLine after its WriteEOF = %q, %v", line, err)
			}
			if _, err := client.Write([]byte("x")); !errors.Is(err, chanstream.ErrWriteAfterEOF) {
				t.Fatalf("Write after WriteEOF = %v; want ErrWriteAfterEOF", err)
			}
		})
	}
}
