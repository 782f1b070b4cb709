package streamtest_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
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
func (t *exampleTB) Error(args ...any)                 { panic(fmt.Sprint(args...)) }
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

// greet is a protocol handler: it answers each HELO line, and returns at
// the end of the client's data.
func greet(ctx context.Context, s *chanstream.Stream) error {
	for {
		line, err := s.ReadLine(ctx)
		if err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		name := strings.TrimSpace(strings.TrimPrefix(string(line), "HELO "))
		if _, err := fmt.Fprintf(s, "250 hello %s\r\n", name); err != nil {
			return err
		}
	}
}

// A Script plays the client: the line arrives in two pieces, so the
// handler meets a boundary in the middle of it, and what the handler
// writes is checked against the script as it arrives.
func ExampleScript() {
	t := newExampleTB() // in a test, the *testing.T
	defer t.done()
	peer := streamtest.NewScript(t).
		Send("HELO wor").
		Send("ld\r\n").
		Expect("250 hello world\r\n").
		SendEOF()
	s := chanstream.NewStream(peer)
	err := greet(context.Background(), s)
	s.Close()
	s.WaitClosed(context.Background())
	fmt.Println("handler returned", err)
	// Output: handler returned <nil>
}

// Faults cut what the stream reads into pieces of 1 to 3 bytes, the same
// pieces on every run for one seed, and end the data early: the handler
// must still see whole lines, then the end.
func ExampleInject() {
	t := newExampleTB() // in a test, the *testing.T
	defer t.done()
	client, server := streamtest.Pipe(t)
	client.Write([]byte("one\ntwo\nthree\n"))
	conn := streamtest.Inject(t, server, 42,
		streamtest.Chop(streamtest.Reads, 3),
		streamtest.EOFAfter(streamtest.Reads, 8), // "one\ntwo\n", then EOF
	)
	s := chanstream.NewStream(conn)
	defer s.Close()
	for line, err := range s.Lines(context.Background()) {
		if err != nil {
			fmt.Println("error:", err)
			break
		}
		fmt.Printf("%q\n", line)
	}
	// Output:
	// "one\n"
	// "two\n"
}

// VerifyNone, called first in a test, checks at its end that nothing was
// left running; a stream closed without WaitClosed is given time to finish.
func ExampleVerifyNone() {
	t := newExampleTB() // in a test, the *testing.T
	streamtest.VerifyNone(t)
	client, server := streamtest.Pipe(t)
	s := chanstream.NewStream(server)
	client.Write([]byte("hello\n"))
	line, _ := s.ReadLine(context.Background())
	s.Close() // the pumps finish after the test body returns
	t.done()  // the end of the test: the cleanups, then the check
	fmt.Printf("%q, no leak\n", line)
	// Output: "hello\n", no leak
}

// TestStream checks a stream over the user's own connection type (here a
// FaultConn standing for it) in subtests; it needs the test's *testing.T.
func ExampleTestStream() {
	testStream := func(t *testing.T) {
		streamtest.TestStream(t, func(t testing.TB) (*chanstream.Stream, net.Conn) {
			a, b := streamtest.SocketPair(t)
			wrapped := streamtest.Inject(t, a, 1, streamtest.Chop(streamtest.Both, 3))
			return chanstream.NewStream(wrapped), b
		})
	}
	_ = testStream // in a _test.go file: func TestMyConn(t *testing.T) { ... }
}
