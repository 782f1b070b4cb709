package streamtest_test

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/streamtest"
)

// exampleTB stands for the test's *testing.T in the examples: it runs the
// cleanups when done is called, and panics on a failure.
type exampleTB struct {
	testing.TB
	cleanups []func()
}

func newExampleTB() *exampleTB { return &exampleTB{} }

func (t *exampleTB) Helper()                           {}
func (t *exampleTB) Cleanup(f func())                  { t.cleanups = append(t.cleanups, f) }
func (t *exampleTB) Fatal(args ...any)                 { panic(fmt.Sprint(args...)) }
func (t *exampleTB) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (t *exampleTB) Errorf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (t *exampleTB) Logf(format string, args ...any)   {}
func (t *exampleTB) Name() string                      { return "Example" }

// done runs the cleanups, last first, as the end of a test does.
func (t *exampleTB) done() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}

// A Pipe buffers as a socket does: the write returns before anyone reads,
// and the half-close reaches the stream as the end of the data.
func ExamplePipe() {
	t := newExampleTB() // in a test, the *testing.T
	defer t.done()
	client, server := streamtest.Pipe(t)
	client.Write([]byte("ping\n"))
	client.CloseWrite()

	s := chanstream.NewStream(server)
	defer s.Close()
	ctx := context.Background()
	line, _ := s.ReadLine(ctx)
	_, err := s.ReadLine(ctx)
	fmt.Printf("%q %v\n", line, err)
	// Output: "ping\n" EOF
}

// A TLS pair runs its handshake over any pair of connections.
func ExampleTLSPair() {
	t := newExampleTB() // in a test, the *testing.T
	defer t.done()
	a, b := streamtest.SocketPair(t)
	client, server := streamtest.TLSPair(t, a, b)
	go func() {
		client.Write([]byte("over TLS 1.3"))
		client.CloseWrite()
	}()
	data, err := io.ReadAll(server)
	fmt.Printf("%s %v\n", data, err)
	// Output: over TLS 1.3 <nil>
}
