package reliability

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/streamtest"
	"github.com/chanstream/chanstream/listener"
)

// Scenario 8: 1 GiB without a newline into a ReadLine loop.
//
// The heap figures of scenarios 8 and 9 hold without the race detector:
// under it, sync.Pool drops recycled buffers on purpose, and the garbage
// counts until the next GC.
func TestScenario08_GiBWithoutNewline(t *testing.T) {
	heavy(t)
	for _, limit := range []int{chanstream.DefaultLimit, 1 << 20} {
		ctx := ctxFor(t, 120*time.Second)
		s, peer := streams(t, chanstream.WithLimit(limit))
		block := bytes.Repeat([]byte("x"), 1<<20)
		baseline := settledHeap()
		stop := make(chan struct{})
		peak := peakHeap(stop)
		go func() {
			for i := 0; i < 1024; i++ {
				if _, err := peer.Write(block); err != nil {
					return
				}
			}
			peer.Write([]byte("\nnext line\n"))
		}()
		_, err := s.ReadLine(ctx)
		if !errors.Is(err, chanstream.ErrLimitOverrun) {
			t.Fatalf("limit %d: ReadLine on the flood = %v; want ErrLimitOverrun", limit, err)
		}
		// Resynchronise: skip the rest of the over-long line without
		// holding it.
		skipped, err := s.DiscardUntil(ctx, []byte("\n"))
		if err != nil {
			t.Fatalf("limit %d: DiscardUntil = %v", limit, err)
		}
		line, err := s.ReadLine(ctx)
		close(stop)
		growth := int64(<-peak) - int64(baseline)
		if err != nil || string(line) != "next line\n" {
			t.Fatalf("limit %d: after the flood: %d bytes, %v", limit, len(line), err)
		}
		if growth > int64(4*limit) && !raceEnabled {
			t.Errorf("limit %d: the heap grew by %d bytes; want under 4 × limit", limit, growth)
		}
		if st := s.Stats(); st.LimitErrors != 1 || st.BytesRead != 1<<30+11 {
			t.Errorf("limit %d: Stats = %+v", limit, st)
		}
		figure(t, 8, "1 GiB with no newline, limit %s: ErrLimitOverrun, DiscardUntil skipped %d bytes without holding them, the next line read fine; peak heap growth %s (4 × limit = %s)", kib(float64(limit)), skipped, kib(float64(max(growth, 0))), kib(float64(4*limit)))
	}
}

// Scenario 9: one 256 MiB Write to a slow reader.
func TestScenario09_HugeWriteToASlowReader(t *testing.T) {
	heavy(t)
	const high, low = 64 << 10, 16 << 10
	ctx := ctxFor(t, 120*time.Second)
	s, peer := streams(t, chanstream.WithWriteBufferLimits(high, low))
	payload := make([]byte, 256<<20)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	baseline := settledHeap()
	stop := make(chan struct{})
	peak := peakHeap(stop)
	var received int64
	var mismatch atomic.Bool
	readDone := make(chan struct{})
	// A slow reader: 256 KiB per ms at most (streamtest.Bandwidth).
	slow := streamtest.Inject(t, peer, 9, streamtest.Bandwidth(streamtest.Reads, 256<<10*1000))
	go func() {
		defer close(readDone)
		buf := make([]byte, 256<<10)
		for received < int64(len(payload)) {
			n, err := io.ReadFull(slow, buf[:min(len(buf), len(payload)-int(received))])
			if !bytes.Equal(buf[:n], payload[received:received+int64(n)]) {
				mismatch.Store(true)
			}
			received += int64(n)
			if err != nil {
				return
			}
		}
	}()
	start := time.Now()
	n, err := s.WriteContext(ctx, payload)
	if err != nil || n != len(payload) {
		t.Fatalf("Write = %d, %v", n, err)
	}
	<-readDone
	took := time.Since(start)
	close(stop)
	growth := int64(<-peak) - int64(baseline)
	if received != int64(len(payload)) || mismatch.Load() {
		t.Fatalf("the reader got %d bytes (mismatch %v)", received, mismatch.Load())
	}
	if growth > 4<<20 && !raceEnabled {
		t.Errorf("the heap grew by %d bytes during a 256 MiB Write; want it near the %d B watermark", growth, high)
	}
	figure(t, 9, "one 256 MiB Write to a reader taking 256 KiB per ms: all of it arrived intact in %v; peak heap growth %s (high watermark %s; the payload itself is not copied)", took.Round(time.Millisecond), kib(float64(max(growth, 0))), kib(high))
}

// Scenario 10: slowloris. 2,000 connections send one byte a second; the idle
// timeout evicts every one of them while a normal client is served.
//
// The test counts events and bounds its waits generously: how soon the
// evictions come and the normal client's latencies are figures, not
// assertions, since a loaded machine stretches them.
func TestScenario10_Slowloris(t *testing.T) {
	heavy(t)
	const (
		conns       = 2000
		idleTimeout = 500 * time.Millisecond
		bound       = 90 * time.Second // for every loris to be evicted
		minTrips    = 20               // the normal client's round trips, at least
	)
	srv, err := listener.Listen(ctxFor(t, 10*time.Second), "tcp", "127.0.0.1:0", func(ctx context.Context, s *chanstream.Stream) {
		for line, err := range s.Lines(ctx) {
			if err != nil {
				return
			}
			s.Write(line)
		}
	}, listener.WithIdleTimeout(idleTimeout), listener.WithBacklog(4096))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		srv.WaitClosed(ctx)
	}()
	addr := srv.Addrs()[0].String()

	// Each loris sends a byte a second (streamtest's Chop and Bandwidth on
	// its writes) until it sees its connection evicted (EOF or a reset on
	// a read), or until the bound ends the test.
	ctx, stopLoris := context.WithTimeout(context.Background(), bound)
	start := time.Now()
	var loris sync.WaitGroup
	var dialed, evicted atomic.Int64
	var lastEviction atomic.Int64 // nanoseconds after start
	dialErrs := make(chan error, conns)
	for i := 0; i < conns; i++ {
		loris.Add(1)
		go func() {
			defer loris.Done()
			c, err := net.DialTimeout("tcp", addr, 30*time.Second)
			if err != nil {
				dialErrs <- err
				return
			}
			dialed.Add(1)
			slow, err := streamtest.NewFaultConn(c, uint64(i), streamtest.Chop(streamtest.Writes, 1), streamtest.Bandwidth(streamtest.Writes, 1))
			if err != nil {
				c.Close()
				dialErrs <- err
				return
			}
			defer slow.Close()
			writeDone := make(chan struct{})
			go func() {
				defer close(writeDone)
				slow.Write(bytes.Repeat([]byte("G"), int(bound/time.Second)+1))
			}()
			stop := context.AfterFunc(ctx, func() { slow.Close() })
			c.Read(make([]byte, 1)) // the server sends nothing: this ends at the eviction, or at the bound's Close
			if stop() {
				evicted.Add(1)
				lastEviction.Store(int64(time.Since(start)))
			}
			slow.Close() // ends the Write
			<-writeDone
		}()
	}
	lorisDone := make(chan struct{})
	go func() {
		loris.Wait()
		close(lorisDone)
	}()
	defer func() { // on a failure too, no loris outlives the test
		stopLoris()
		<-lorisDone
	}()

	// A normal client, meanwhile, until every loris has gone and it has
	// made minTrips round trips. A loaded machine may starve it for longer
	// than the idle timeout, and the server then evicts it as it should:
	// it dials again, and the evictions it saw are reported.
	var (
		c          net.Conn
		br         *bufio.Reader
		latencies  []time.Duration
		redials    int
		lastErr    error
		done       bool
		normalEnds = time.Now().Add(bound + 30*time.Second)
	)
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for !done || len(latencies) < minTrips {
		if time.Now().After(normalEnds) {
			t.Fatalf("the normal client made %d round trips (%d redials, last error %v)", len(latencies), redials, lastErr)
		}
		if c == nil {
			if c, err = net.DialTimeout("tcp", addr, 30*time.Second); err != nil {
				t.Fatalf("the normal client: %v", err)
			}
			br = bufio.NewReader(c)
		}
		sent := time.Now()
		c.SetDeadline(sent.Add(30 * time.Second))
		_, err := c.Write([]byte("normal request\n"))
		line, rerr := br.ReadString('\n')
		switch {
		case err == nil && rerr == nil && line == "normal request\n":
			latencies = append(latencies, time.Since(sent))
		case err == nil && rerr == nil:
			t.Fatalf("the normal client got %q", line)
		case errors.Is(rerr, os.ErrDeadlineExceeded):
			t.Fatalf("the normal client got no answer in 30 s")
		default:
			// Evicted: EOF or a reset.
			lastErr = errors.Join(err, rerr)
			redials++
			c.Close()
			c = nil
		}
		select {
		case <-lorisDone:
			done = true
		case <-time.After(5 * time.Millisecond):
		}
	}
	close(dialErrs)
	for err := range dialErrs {
		t.Fatalf("a loris could not connect: %v", err)
	}
	if n := evicted.Load(); n != conns {
		t.Fatalf("%d of %d slowloris connections evicted in %v", n, conns, bound)
	}
	if st := srv.Stats(); st.Evicted < conns {
		t.Fatalf("the server counted %d evictions; %d slowloris connections saw theirs", st.Evicted, conns)
	}
	slices.Sort(latencies)
	p50, p99 := latencies[len(latencies)/2], latencies[len(latencies)*99/100]
	figure(t, 10, "%d connections sending 1 byte/s, idle timeout %v: all %d evicted, the last seen %v after the first dial (a loris sees its eviction at once, on a blocked read); a normal client meanwhile: %d round trips, p50 %v, p99 %v, evicted itself %d times", conns, idleTimeout, dialed.Load(), time.Duration(lastEviction.Load()).Round(time.Millisecond), len(latencies), p50.Round(time.Microsecond), p99.Round(time.Microsecond), redials)
}
