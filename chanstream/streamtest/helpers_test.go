package streamtest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
)

func TestBuffer_ConcurrentWritesAndReads(t *testing.T) {
	t.Parallel()
	var b Buffer
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				b.Write([]byte("x"))
				_ = b.String()
				_ = b.Len()
			}
		}()
	}
	wg.Wait()
	if got := b.String(); got != strings.Repeat("x", 400) || b.Len() != 400 {
		t.Fatalf("the buffer holds %d bytes; want 400", len(got))
	}
	snapshot := b.Bytes()
	b.Write([]byte("more"))
	if len(snapshot) != 400 {
		t.Fatalf("Bytes' result changed with a later Write: %d bytes", len(snapshot))
	}
}

func TestCloseStreams_WaitsForEachStream(t *testing.T) {
	a, b := Pipe(t)
	s1, s2 := chanstream.NewStream(a), chanstream.NewStream(b)
	if _, err := s1.Write([]byte("sent before the close\n")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if line, err := s2.ReadLine(ctx); err != nil || string(line) != "sent before the close\n" {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
	if err := CloseStreams(t, s1, s2); err != nil {
		t.Fatalf("CloseStreams = %v; want nil", err)
	}
	for i, s := range []*chanstream.Stream{s1, s2} {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // already closed: WaitClosed must not need to wait
		if err := s.WaitClosed(ctx); err != nil {
			t.Errorf("stream %d: WaitClosed after CloseStreams = %v; want nil at once", i, err)
		}
	}
}

func TestCloseStreams_ReturnsTheReset(t *testing.T) {
	a, b := TCPPair(t)
	s := chanstream.NewStream(a)
	b.SetLinger(0)
	b.Close()
	// The reader meets the reset; WaitClosed then reports it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.ReadLine(ctx); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("ReadLine after the peer's reset = %v", err)
	}
	if err := CloseStreams(t, s); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("CloseStreams = %v; want the reset", err)
	}
}

func TestCloseStreams_NoStreams(t *testing.T) {
	var err error
	if got := report(t, func(t testing.TB) { err = CloseStreams(t) }); got != "" || err != nil {
		t.Fatalf("CloseStreams with no streams = %v, reported %q", err, got)
	}
}
