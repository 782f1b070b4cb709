package streamtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
)

// TestStream checks, in subtests, that a [chanstream.Stream] made by
// makeStream keeps chanstream's guarantees, whatever the connection under it
// (a user's wrapper, a protocol layer, faults):
//
//   - a done ctx or an expired read deadline makes each read method
//     return at once without consuming anything, whether the ctx was done
//     before the call or ended while it waited;
//   - the peer's half-close ends the data after every byte, and the stream
//     can still write; WriteEOF, where CanWriteEOF, ends the data the peer
//     reads while the stream can still read;
//   - buffered data is returned before a stored error, and before EOF;
//   - Close wakes blocked reads, writes and drains with an error matching
//     [net.ErrClosed], and writes after Close fail even for no data;
//   - concurrent readers each get whole results, and together every
//     byte once.
//
// It also runs [TestConn] on the stream and its peer, since a *Stream is a
// [net.Conn].
func TestStream(t *testing.T, makeStream MakeStream) {
	t.Helper()
	t.Run("Conn", func(t *testing.T) {
		TestConn(t, func(t testing.TB) (net.Conn, net.Conn) {
			s, peer := makeStreamForCheck(t, makeStream)
			return s, peer
		})
	})
	checks := []struct {
		name string
		run  func(t *testing.T, s *chanstream.Stream, peer net.Conn)
	}{
		{"CancelLosesNothing", streamCancelLosesNothing},
		{"DeadlineLosesNothing", streamDeadlineLosesNothing},
		{"PeerHalfClose", streamPeerHalfClose},
		{"WriteEOF", streamWriteEOF},
		{"DataBeforeStoredError", streamDataBeforeStoredError},
		{"DataBeforeEOF", streamDataBeforeEOF},
		{"CloseWakesBlockedCalls", streamCloseWakesBlockedCalls},
		{"ConcurrentReadersGetWholeResults", streamConcurrentReaders},
	}
	for _, check := range checks {
		t.Run(check.name, func(t *testing.T) {
			s, peer := makeStreamForCheck(t, makeStream)
			check.run(t, s, peer)
		})
	}
}

// makeStreamForCheck makes a stream and its peer, and closes both at the
// end of the check: the peer first, so that a stream over TLS does not
// wait for a close_notify that never comes.
func makeStreamForCheck(t testing.TB, makeStream MakeStream) (*chanstream.Stream, net.Conn) {
	s, peer := makeStream(t)
	t.Cleanup(func() {
		peer.Close()
		s.Close()
		ctx, cancel := context.WithTimeout(context.Background(), conformanceWait)
		defer cancel()
		if err := s.WaitClosed(ctx); errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("the stream did not finish closing within %v of Close", conformanceWait)
			s.Abort()
		}
	})
	return s, peer
}

// checkCtx returns a ctx bounding one check's waits.
func checkCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), conformanceWait)
	t.Cleanup(cancel)
	return ctx
}

// waitArrived waits until the stream has received some data not yet
// read. (How much it takes in ahead of the reads is the stream's choice.)
func waitArrived(t testing.TB, s *chanstream.Stream) {
	t.Helper()
	deadline := time.Now().Add(conformanceWait)
	for s.Reader().Buffered() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no data arrived within %v", conformanceWait)
		}
		time.Sleep(time.Millisecond)
	}
}

// readCalls are the read methods, each made to read the whole 11-byte
// record "abcdefghij\n". waits says whether the call waits while only
// part of the record is buffered.
var readCalls = []struct {
	name  string
	waits bool
	call  func(ctx context.Context, s *chanstream.Stream) ([]byte, error)
}{
	{"ReadLine", true, func(ctx context.Context, s *chanstream.Stream) ([]byte, error) { return s.ReadLine(ctx) }},
	{"ReadLineView", true, func(ctx context.Context, s *chanstream.Stream) ([]byte, error) {
		b, err := s.ReadLineView(ctx)
		return append([]byte(nil), b...), err
	}},
	{"ReadUntil", true, func(ctx context.Context, s *chanstream.Stream) ([]byte, error) {
		return s.ReadUntil(ctx, []byte("j\n"))
	}},
	{"ReadExactly", true, func(ctx context.Context, s *chanstream.Stream) ([]byte, error) { return s.ReadExactly(ctx, 11) }},
	{"ReadExactlyInto", true, func(ctx context.Context, s *chanstream.Stream) ([]byte, error) {
		b := make([]byte, 11)
		n, err := s.ReadExactlyInto(ctx, b)
		return b[:n], err
	}},
	{"DiscardUntil", false, func(ctx context.Context, s *chanstream.Stream) ([]byte, error) {
		n, err := s.DiscardUntil(ctx, []byte("\n"))
		if n != 11 && err == nil {
			err = fmt.Errorf("DiscardUntil skipped %d bytes", n)
		}
		return []byte("abcdefghij\n")[:n], err
	}},
	{"ReadChunk", false, func(ctx context.Context, s *chanstream.Stream) ([]byte, error) {
		return s.ReadChunk(ctx, 11)
	}},
	{"ReadContext", false, func(ctx context.Context, s *chanstream.Stream) ([]byte, error) {
		b := make([]byte, 11)
		n, err := s.ReadContext(ctx, b)
		return b[:n], err
	}},
	{"Discard", false, func(ctx context.Context, s *chanstream.Stream) ([]byte, error) {
		n, err := s.Discard(ctx, 11)
		return []byte("abcdefghij\n")[:n], err
	}},
}

// readRecord reads the rest of the record after a call that may return
// part of it (ReadChunk, ReadContext).
func readRecord(ctx context.Context, s *chanstream.Stream, first []byte) ([]byte, error) {
	rest, err := s.ReadExactly(ctx, 11-len(first))
	return append(first, rest...), err
}

func streamCancelLosesNothing(t *testing.T, s *chanstream.Stream, peer net.Conn) {
	ctx := checkCtx(t)
	done, cancelDone := context.WithCancel(context.Background())
	cancelDone()
	for _, rc := range readCalls {
		if _, err := peer.Write([]byte("abcde")); err != nil {
			t.Fatal(err)
		}
		waitArrived(t, s)
		buffered := s.Reader().Buffered()
		if b, err := rc.call(done, s); !errors.Is(err, context.Canceled) || len(b) > 0 {
			t.Fatalf("%s with a done ctx = %q, %v; want nothing and context.Canceled", rc.name, b, err)
		}
		if rc.waits {
			waiting, cancel := context.WithCancel(ctx)
			result := goFunc(t, func() error {
				b, err := rc.call(waiting, s)
				if !errors.Is(err, context.Canceled) || len(b) > 0 {
					return fmt.Errorf("%s cancelled while it waits = %q, %v; want nothing and context.Canceled", rc.name, b, err)
				}
				return nil
			})
			cancel()
			if err := await(t, rc.name+" cancelled", result); err != nil {
				t.Fatal(err)
			}
		}
		if got := s.Reader().Buffered(); got < buffered {
			t.Fatalf("%d bytes buffered after %s was cancelled, %d before", got, rc.name, buffered)
		}
		if _, err := peer.Write([]byte("fghij\n")); err != nil {
			t.Fatal(err)
		}
		b, err := rc.call(ctx, s)
		if err == nil && !rc.waits {
			b, err = readRecord(ctx, s, b)
		}
		if err != nil || string(b) != "abcdefghij\n" {
			t.Fatalf("%s after the cancels = %q, %v; want the whole record", rc.name, b, err)
		}
	}
}

func streamDeadlineLosesNothing(t *testing.T, s *chanstream.Stream, peer net.Conn) {
	ctx := checkCtx(t)
	peer.Write([]byte("abcde"))
	waitArrived(t, s)
	s.SetReadDeadline(time.Now().Add(-time.Second))
	for _, rc := range readCalls {
		if b, err := rc.call(ctx, s); !errors.Is(err, os.ErrDeadlineExceeded) || len(b) > 0 {
			t.Fatalf("%s past the read deadline = %q, %v; want nothing and os.ErrDeadlineExceeded", rc.name, b, err)
		}
	}
	// A deadline that passes while a call waits.
	s.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if b, err := s.ReadLine(ctx); !errors.Is(err, os.ErrDeadlineExceeded) || len(b) > 0 {
		t.Fatalf("ReadLine waiting across the read deadline = %q, %v", b, err)
	}
	s.SetReadDeadline(time.Time{})
	peer.Write([]byte("fghij\n"))
	if b, err := s.ReadLine(ctx); err != nil || string(b) != "abcdefghij\n" {
		t.Fatalf("ReadLine after the deadlines = %q, %v; want the whole line", b, err)
	}
}

// closeWrite half-closes conn, skipping the check if it cannot.
func closeWrite(t testing.TB, conn net.Conn) {
	t.Helper()
	cw, ok := conn.(interface{ CloseWrite() error })
	if !ok {
		t.Skipf("the peer, a %T, cannot half-close", conn)
	}
	if err := cw.CloseWrite(); err != nil {
		t.Fatalf("the peer's CloseWrite: %v", err)
	}
}

func streamPeerHalfClose(t *testing.T, s *chanstream.Stream, peer net.Conn) {
	ctx := checkCtx(t)
	peer.Write([]byte("line\nlast"))
	closeWrite(t, peer)
	for _, want := range []string{"line\n", "last"} {
		if b, err := s.ReadLine(ctx); err != nil || string(b) != want {
			t.Fatalf("ReadLine = %q, %v; want %q", b, err, want)
		}
	}
	if b, err := s.ReadLine(ctx); err != io.EOF || len(b) > 0 {
		t.Fatalf("ReadLine at the end = %q, %v; want io.EOF", b, err)
	}
	if !s.AtEOF() {
		t.Fatal("AtEOF is false after EOF")
	}
	if _, err := s.Write([]byte("reply")); err != nil {
		t.Fatalf("Write after the peer's half-close: %v", err)
	}
	buf := make([]byte, 5)
	peer.SetReadDeadline(time.Now().Add(conformanceWait))
	if _, err := io.ReadFull(peer, buf); err != nil || string(buf) != "reply" {
		t.Fatalf("the peer read %q, %v; want the reply", buf, err)
	}
}

func streamWriteEOF(t *testing.T, s *chanstream.Stream, peer net.Conn) {
	ctx := checkCtx(t)
	if !s.CanWriteEOF() {
		if err := s.WriteEOF(); !errors.Is(err, chanstream.ErrWriteEOFUnsupported) {
			t.Fatalf("WriteEOF where CanWriteEOF is false = %v; want ErrWriteEOFUnsupported", err)
		}
		t.Skip("the stream cannot write EOF")
	}
	s.Write([]byte("before EOF"))
	if err := s.WriteEOF(); err != nil {
		t.Fatalf("WriteEOF: %v", err)
	}
	if _, err := s.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after WriteEOF = %v; want an error matching net.ErrClosed", err)
	}
	peer.SetReadDeadline(time.Now().Add(conformanceWait))
	got, err := io.ReadAll(peer)
	if err != nil || string(got) != "before EOF" {
		t.Fatalf("the peer read %q, %v; want the data, then EOF", got, err)
	}
	peer.Write([]byte("still read\n"))
	if b, err := s.ReadLine(ctx); err != nil || string(b) != "still read\n" {
		t.Fatalf("ReadLine after WriteEOF = %q, %v", b, err)
	}
}

func streamDataBeforeStoredError(t *testing.T, s *chanstream.Stream, peer net.Conn) {
	ctx := checkCtx(t)
	stored := errors.New("streamtest: the stored error")
	sent := "line\npartial"
	peer.Write([]byte(sent))
	waitArrived(t, s)
	received := s.Reader().Buffered()
	s.FeedError(stored)
	// Every byte received is read before the error.
	got, err := s.ReadChunk(ctx, -1)
	if !errors.Is(err, stored) || len(got) < received || !strings.HasPrefix(sent, string(got)) {
		t.Fatalf("ReadChunk(-1) after FeedError = %q, %v; want the %d bytes received (of %q), then the stored error", got, err, received, sent)
	}
	if _, err := s.ReadLine(ctx); !errors.Is(err, stored) {
		t.Fatalf("ReadLine after the data = %v; want the stored error", err)
	}
	if !errors.Is(s.Err(), stored) {
		t.Fatalf("Err = %v; want the stored error", s.Err())
	}
}

func streamDataBeforeEOF(t *testing.T, s *chanstream.Stream, peer net.Conn) {
	ctx := checkCtx(t)
	peer.Write([]byte("abc"))
	peer.Close()
	var ie *chanstream.IncompleteReadError
	if _, err := s.ReadExactly(ctx, 10); !errors.As(err, &ie) || string(ie.Partial) != "abc" || ie.Expected != 10 {
		t.Fatalf("ReadExactly across EOF = %v; want an IncompleteReadError with the 3 bytes", err)
	}
	if b, err := s.ReadChunk(ctx, 10); err != io.EOF || len(b) > 0 {
		t.Fatalf("ReadChunk at EOF = %q, %v; want io.EOF", b, err)
	}
}

func streamCloseWakesBlockedCalls(t *testing.T, s *chanstream.Stream, peer net.Conn) {
	ctx := checkCtx(t)
	read := goFunc(t, func() error { _, err := s.ReadLine(ctx); return err })
	// Fill the write buffer: the peer does not read.
	wrote := make(chan struct{}, 1)
	write := goFunc(t, func() error {
		chunk := make([]byte, 64<<10)
		for range 4096 {
			if _, err := s.Write(chunk); err != nil {
				return err
			}
			select {
			case wrote <- struct{}{}:
			default:
			}
		}
		return errors.New("256 MiB went into a stream whose peer does not read")
	})
	<-wrote
	deadline := time.Now().Add(conformanceWait)
	for s.Stats().WriteWaits == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // until a Write waits at the high watermark
	}
	drain := goFunc(t, func() error { return s.Drain(ctx) })
	s.Close()
	for what, done := range map[string]<-chan error{"ReadLine": read, "Write": write, "Drain": drain} {
		err := await(t, "a "+what+" blocked across Close", done)
		if what == "Drain" && err == nil {
			// The kernel's buffers may have taken enough of the queue for
			// the Drain to finish before Close: it returned, which is all
			// a Drain that was blocked must do too.
			continue
		}
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("%s blocked across Close = %v; want an error matching net.ErrClosed", what, err)
		}
	}
	if _, err := s.Write(nil); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write(nil) after Close = %v; want an error matching net.ErrClosed", err)
	}
	if _, err := s.ReadChunk(ctx, 1); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ReadChunk after Close = %v; want an error matching net.ErrClosed", err)
	}
	s.Abort() // the peer reads nothing: drop what is queued
}

// recordPattern matches one whole record of streamConcurrentReaders.
var recordPattern = regexp.MustCompile(`^record (\d{4}) [a-z]{1,50}\n$`)

func streamConcurrentReaders(t *testing.T, s *chanstream.Stream, peer net.Conn) {
	ctx := checkCtx(t)
	const records, readers = 400, 4
	var all []byte
	for i := range records {
		all = fmt.Appendf(all, "record %04d %s\n", i, "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwx"[:1+i%50])
	}
	sent := goFunc(t, func() error {
		for rest := all; len(rest) > 0; {
			n := min(len(rest), 7)
			if _, err := peer.Write(rest[:n]); err != nil {
				return err
			}
			rest = rest[n:]
		}
		closeWriteOrClose(peer)
		return nil
	})
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				line, err := s.ReadLine(ctx)
				if err == io.EOF {
					return
				} else if err != nil {
					errs <- err
					return
				}
				m := recordPattern.FindSubmatch(line)
				if m == nil {
					errs <- fmt.Errorf("a reader got %q, not a whole record", line)
					return
				}
				mu.Lock()
				seen[string(m[1])]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := await(t, "the peer's writes", sent); err != nil {
		t.Fatal(err)
	}
	for i := range records {
		if n := seen[fmt.Sprintf("%04d", i)]; n != 1 {
			t.Fatalf("record %d was read %d times; want once", i, n)
		}
	}
}

// closeWriteOrClose ends the data conn sends.
func closeWriteOrClose(conn net.Conn) {
	if cw, ok := conn.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		return
	}
	conn.Close()
}
