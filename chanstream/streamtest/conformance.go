package streamtest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
)

// MakePair makes the two ends of a connection for one conformance check.
// It should arrange for them to be closed at the end of the test (the
// pairs of this package do).
type MakePair func(t testing.TB) (c1, c2 net.Conn)

// MakeStream makes a stream under test and the connection that plays its
// peer, for one conformance check: say, [chanstream.NewStream] over a user's
// wrapper of one end of a [Pipe], and the other end. [TestStream] closes
// both at the end of each check.
type MakeStream func(t testing.TB) (s *chanstream.Stream, peer net.Conn)

// conformanceWait bounds every wait of the conformance checks.
const conformanceWait = 10 * time.Second

// TestConn checks that the connections makePair makes behave as a [net.Conn]
// should, in subtests, as golang.org/x/net/nettest's TestConn does: data
// goes through whole and in order both ways, concurrently; Close wakes
// blocked Reads and Writes; deadlines in the past, present and future make
// blocked and later calls fail with an error matching
// [os.ErrDeadlineExceeded] that is a [net.Error] whose Timeout is true, lose
// no data, and can be cleared; all methods may be called concurrently (run
// with -race); and, for connections with CloseWrite, a half-close ends the
// data one way only.
func TestConn(t *testing.T, makePair MakePair) {
	t.Helper()
	checks := []struct {
		name string
		run  func(t *testing.T, c1, c2 net.Conn)
	}{
		{"BasicIO", connBasicIO},
		{"PingPong", connPingPong},
		{"ReadDeadlinePast", connReadDeadlinePast},
		{"ReadDeadlineFuture", connReadDeadlineFuture},
		{"WriteDeadline", connWriteDeadline},
		{"CloseWakesRead", connCloseWakesRead},
		{"CloseWakesWrite", connCloseWakesWrite},
		{"ConcurrentMethods", connConcurrentMethods},
		{"HalfClose", connHalfClose},
	}
	for _, check := range checks {
		t.Run(check.name, func(t *testing.T) {
			c1, c2 := makePair(t)
			t.Cleanup(func() {
				c1.Close()
				c2.Close()
			})
			check.run(t, c1, c2)
		})
	}
}

// goFunc runs f in a goroutine and returns a channel that gets its error;
// the test waits for it at its end.
func goFunc(t testing.TB, f func() error) <-chan error {
	done := make(chan error, 1)
	joined := make(chan struct{})
	go func() {
		defer close(joined)
		done <- f()
	}()
	t.Cleanup(func() { <-joined })
	return done
}

// await returns what done gets, failing the test if it gets nothing
// within conformanceWait.
func await(t testing.TB, what string, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(conformanceWait):
		t.Fatalf("%s did not return within %v", what, conformanceWait)
		return nil
	}
}

func randomData(n int, seed uint64) []byte {
	rnd := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rnd.Uint32())
	}
	return b
}

func connBasicIO(t *testing.T, c1, c2 net.Conn) {
	want := randomData(256<<10, 1)
	back := randomData(128<<10, 2)
	sent := goFunc(t, func() error {
		rnd := rand.New(rand.NewPCG(3, 3))
		for rest := want; len(rest) > 0; {
			n := min(len(rest), 1+rnd.IntN(64<<10))
			if _, err := c1.Write(rest[:n]); err != nil {
				return err
			}
			rest = rest[n:]
		}
		return nil
	})
	sentBack := goFunc(t, func() error { _, err := c2.Write(back); return err })
	gotBack := goFunc(t, func() error {
		buf := make([]byte, len(back))
		if _, err := io.ReadFull(c1, buf); err != nil {
			return err
		}
		if !bytes.Equal(buf, back) {
			return errors.New("the bytes read differ from the bytes written")
		}
		return nil
	})
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c2, got); err != nil {
		t.Fatalf("reading: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the bytes read differ from the bytes written")
	}
	for what, done := range map[string]<-chan error{"Write": sent, "Write the other way": sentBack, "Read the other way": gotBack} {
		if err := await(t, what, done); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
}

func connPingPong(t *testing.T, c1, c2 net.Conn) {
	const rounds = 100
	pong := goFunc(t, func() error {
		buf := make([]byte, 8)
		for i := range rounds {
			if _, err := io.ReadFull(c2, buf); err != nil {
				return err
			}
			if got := string(buf); got != fmt.Sprintf("ping%04d", i) {
				return fmt.Errorf("got %q in round %d", got, i)
			}
			if _, err := fmt.Fprintf(c2, "pong%04d", i); err != nil {
				return err
			}
		}
		return nil
	})
	buf := make([]byte, 8)
	for i := range rounds {
		if _, err := fmt.Fprintf(c1, "ping%04d", i); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c1, buf); err != nil {
			t.Fatal(err)
		}
		if got := string(buf); got != fmt.Sprintf("pong%04d", i) {
			t.Fatalf("got %q in round %d", got, i)
		}
	}
	if err := await(t, "the other end", pong); err != nil {
		t.Fatal(err)
	}
}

// checkTimeout fails the test unless err is a deadline error as net.Conn
// documents it.
func checkTimeout(t testing.TB, what string, err error) {
	t.Helper()
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("%s = %v; want an error matching os.ErrDeadlineExceeded whose Timeout is true", what, err)
	}
}

func connReadDeadlinePast(t *testing.T, c1, c2 net.Conn) {
	if _, err := c2.Write([]byte("kept")); err != nil {
		t.Fatal(err)
	}
	c1.SetReadDeadline(time.Now().Add(-time.Second))
	for range 2 {
		_, err := c1.Read(make([]byte, 4))
		checkTimeout(t, "Read with a deadline in the past", err)
	}
	c1.SetReadDeadline(time.Time{})
	got := make([]byte, 4)
	if _, err := io.ReadFull(c1, got); err != nil || string(got) != "kept" {
		t.Fatalf("Read after clearing the deadline = %q, %v; want the data, nothing lost", got, err)
	}
}

func connReadDeadlineFuture(t *testing.T, c1, c2 net.Conn) {
	read := goFunc(t, func() error {
		_, err := c1.Read(make([]byte, 1))
		return err
	})
	c1.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	checkTimeout(t, "a blocked Read at its deadline", await(t, "a blocked Read", read))
	c1.SetReadDeadline(time.Now().Add(time.Hour))
	c2.Write([]byte("x"))
	if _, err := io.ReadFull(c1, make([]byte, 1)); err != nil {
		t.Fatalf("Read with a deadline in the future: %v", err)
	}
}

func connWriteDeadline(t *testing.T, c1, c2 net.Conn) {
	c1.SetWriteDeadline(time.Now().Add(-time.Second))
	_, err := c1.Write([]byte("x"))
	checkTimeout(t, "Write with a deadline in the past", err)
	// A Write blocked by a peer that does not read ends at its deadline.
	c1.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	chunk := make([]byte, 64<<10)
	for range 4096 { // 256 MiB: more than any buffer
		if _, err = c1.Write(chunk); err != nil {
			break
		}
	}
	checkTimeout(t, "Write blocked at its deadline", err)
}

func connCloseWakesRead(t *testing.T, c1, c2 net.Conn) {
	read := goFunc(t, func() error {
		_, err := c1.Read(make([]byte, 1))
		return err
	})
	c1.Close()
	if err := await(t, "a Read blocked across Close", read); err == nil {
		t.Fatal("a Read blocked across Close returned no error")
	}
	if _, err := c1.Read(make([]byte, 1)); err == nil {
		t.Fatal("Read after Close returned no error")
	}
	if _, err := c1.Write([]byte("x")); err == nil {
		t.Fatal("Write after Close returned no error")
	}
}

func connCloseWakesWrite(t *testing.T, c1, c2 net.Conn) {
	wrote := make(chan struct{}, 1)
	write := goFunc(t, func() error {
		chunk := make([]byte, 64<<10)
		for range 4096 { // 256 MiB: more than any buffer
			if _, err := c1.Write(chunk); err != nil {
				return err
			}
			select {
			case wrote <- struct{}{}:
			default:
			}
		}
		return errors.New("256 MiB went into a connection nobody reads")
	})
	<-wrote
	c1.Close()
	if err := await(t, "a Write blocked across Close", write); err == nil {
		t.Fatal("a Write blocked across Close returned no error")
	}
}

func connConcurrentMethods(t *testing.T, c1, c2 net.Conn) {
	var wg sync.WaitGroup
	defer wg.Wait()
	drain := goFunc(t, func() error { _, err := io.Copy(io.Discard, c2); return err })
	for range 4 {
		wg.Add(3)
		go func() {
			defer wg.Done()
			for range 50 {
				c1.Write([]byte("some data"))
			}
		}()
		go func() {
			defer wg.Done()
			buf := make([]byte, 16)
			for range 50 {
				c1.SetReadDeadline(time.Now().Add(time.Millisecond))
				c1.Read(buf)
			}
		}()
		go func() {
			defer wg.Done()
			for range 50 {
				c1.SetWriteDeadline(time.Now().Add(time.Hour))
				c1.SetWriteDeadline(time.Time{})
				_ = c1.LocalAddr()
				_ = c1.RemoteAddr()
			}
		}()
	}
	wg.Wait()
	c1.Close()
	await(t, "reading to the end", drain)
}

func connHalfClose(t *testing.T, c1, c2 net.Conn) {
	cw, ok := c1.(interface{ CloseWrite() error })
	if !ok {
		t.Skipf("a %T has no CloseWrite", c1)
	}
	c1.Write([]byte("last"))
	if err := cw.CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
	got := goFunc(t, func() error {
		data, err := io.ReadAll(c2)
		if err == nil && string(data) != "last" {
			err = fmt.Errorf("read %q before EOF; want \"last\"", data)
		}
		return err
	})
	if err := await(t, "reading to the half-close", got); err != nil {
		t.Fatal(err)
	}
	if _, err := c1.Write([]byte("x")); err == nil {
		t.Fatal("Write after CloseWrite returned no error")
	}
	c2.Write([]byte("back"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c1, buf); err != nil || string(buf) != "back" {
		t.Fatalf("reading after the half-close = %q, %v", buf, err)
	}
}
