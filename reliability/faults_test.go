package reliability

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/streamtest"
	"github.com/chanstream/chanstream/internal/hooks"
	"github.com/chanstream/chanstream/internal/testnet"
	"github.com/chanstream/chanstream/listener"
)

// Scenario 1: the peer resets the connection mid-stream (SO_LINGER 0), at
// a point drawn from the round's seed: streamtest.ResetAfter lets the peer's
// Write send that many bytes, then resets.
func TestScenario01_PeerResetMidStream(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	data := make([]byte, 8<<20)
	rand.Read(data)
	lost := 0
	for round := uint64(0); round < 20; round++ {
		s, raw := streams(t)
		cut := mrand.New(mrand.NewPCG(round, 1)).IntN(len(data))
		peer := streamtest.Inject(t, raw, round, streamtest.ResetAfter(streamtest.Writes, int64(cut)))
		wrote := make(chan error, 1)
		go func() {
			n, err := peer.Write(data)
			if n != cut || !errors.Is(err, syscall.ECONNRESET) {
				err = fmt.Errorf("the peer's Write = %d, %v; want %d and the reset", n, err, cut)
			} else {
				err = nil
			}
			wrote <- err
		}()
		var got []byte
		var err error
		for {
			var chunk []byte
			chunk, err = s.ReadChunk(ctx, 64<<10)
			got = append(got, chunk...)
			if err != nil {
				break
			}
		}
		if werr := <-wrote; werr != nil {
			t.Fatalf("round %d: %v", round, werr)
		}
		if !bytes.Equal(got, data[:len(got)]) || len(got) > cut {
			t.Fatalf("round %d: the bytes read are not a prefix of what the peer sent", round)
		}
		if !errors.Is(err, syscall.ECONNRESET) && err != io.EOF {
			t.Fatalf("round %d: the read ended with %v; want ECONNRESET", round, err)
		}
		if err == io.EOF && len(got) != cut {
			t.Fatalf("round %d: clean EOF after %d of %d bytes", round, len(got), cut)
		}
		lost += cut - len(got) // bytes the kernel dropped with the RST, never received
		if errors.Is(err, syscall.ECONNRESET) {
			if _, werr := s.Write([]byte("x")); !errors.Is(werr, syscall.ECONNRESET) {
				t.Fatalf("round %d: Write after the reset = %v", round, werr)
			}
			if derr := s.Drain(ctx); !errors.Is(derr, syscall.ECONNRESET) {
				t.Fatalf("round %d: Drain after the reset = %v", round, derr)
			}
		}
	}

	// Everything that reached us before the reset is read before the error.
	const buffered = "buffered before the reset\npartial"
	s, raw := streams(t)
	peer := streamtest.Inject(t, raw, 0, streamtest.ResetAfter(streamtest.Writes, int64(len(buffered))))
	if _, err := peer.Write([]byte(buffered)); err != nil {
		t.Fatal(err)
	}
	testnet.Eventually(t, "the data to arrive", func() bool { return s.Stats().ReadBuffered == len(buffered) })
	if _, err := peer.Write([]byte("x")); !errors.Is(err, syscall.ECONNRESET) { // past the count: the reset
		t.Fatalf("the peer's Write past ResetAfter = %v", err)
	}
	testnet.Eventually(t, "the reset", func() bool { return s.Reader().Err() != nil })
	line1, _ := s.ReadLine(ctx)
	line2, _ := s.ReadLine(ctx)
	_, err := s.ReadLine(ctx)
	if string(line1) != "buffered before the reset\n" || string(line2) != "partial" || !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read %q, %q, then %v", line1, line2, err)
	}
	figure(t, 1, "20 resets at seeded points of an 8 MiB send: what we read was a prefix of what was sent every time, then ECONNRESET, also on the next Write and Drain; bytes the stream had received and lost: 0 (%d bytes never left the resetting peer: SO_LINGER 0 drops its unsent data)", lost)
}

// Scenario 2: the peer half-closes; we read EOF and our writes still arrive.
// Over TCP, a socket pair and streamtest's in-memory Pipe, with the peer's
// half-close made by streamtest.EOFAfter once the request has gone, and the
// request read in pieces cut by streamtest.Chop.
func TestScenario02_PeerHalfCloses(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	request := bytes.Repeat([]byte("request "), 100000)
	pairs := []struct {
		name string
		pair streamtest.MakePair
	}{
		{"tcp", func(t testing.TB) (net.Conn, net.Conn) { return streamtest.TCPPair(t) }},
		{"socketpair", streamtest.SocketPair},
		{"pipe", func(t testing.TB) (net.Conn, net.Conn) { return streamtest.Pipe(t) }},
	}
	for i, kind := range pairs {
		rawOurs, rawPeer := kind.pair(t)
		ours, peer := streamtest.InjectPair(t, rawOurs, rawPeer, uint64(i),
			streamtest.Chop(streamtest.Reads, 4096),
			streamtest.EOFAfter(streamtest.Writes, int64(len(request))))
		s := chanstream.NewStream(ours)
		wrote := make(chan error, 1)
		go func() {
			_, err := peer.Write(request) // all of it, then the half-close
			wrote <- err
		}()
		got, err := s.ReadChunk(ctx, -1) // to EOF
		if err != nil || !bytes.Equal(got, request) || !s.AtEOF() {
			t.Fatalf("%s: read %d bytes, %v", kind.name, len(got), err)
		}
		if err := <-wrote; err != nil {
			t.Fatalf("%s: the peer's Write = %v", kind.name, err)
		}
		// Echo after EOF.
		go func() {
			s.Write(got)
			s.Close()
		}()
		back, err := io.ReadAll(peer)
		if err != nil || !bytes.Equal(back, request) {
			t.Fatalf("%s: the echo after EOF: %d bytes, %v", kind.name, len(back), err)
		}
		if err := s.WaitClosed(ctx); err != nil {
			t.Fatal(err)
		}
		peer.Close()
	}
	figure(t, 2, "800 KB request then half-close, over TCP, a socket pair and an in-memory pipe, read in pieces of up to 4 KiB: EOF read, the 800 KB echo after EOF arrived whole")
}

// Scenario 3: a local Close wakes a blocked ReadLine and a blocked Write.
func TestScenario03_CloseWakesBlockedCalls(t *testing.T) {
	s, peer := streams(t, chanstream.WithWriteBufferLimits(1<<10, 0))
	peer.SetReadBuffer(4096)
	s.Conn().(*net.TCPConn).SetWriteBuffer(4096)
	readErr, writeErr := make(chan error, 1), make(chan error, 1)
	go func() { _, err := s.ReadLine(context.Background()); readErr <- err }()
	go func() { _, err := s.Write(make([]byte, 64<<20)); writeErr <- err }()
	testnet.Eventually(t, "the write to block", func() bool { return s.Stats().WriteWaits > 0 })
	start := time.Now()
	s.Close()
	for name, ch := range map[string]chan error{"ReadLine": readErr, "Write": writeErr} {
		select {
		case err := <-ch:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("%s after Close = %v", name, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s still blocked after Close", name)
		}
	}
	figure(t, 3, "blocked ReadLine and Write returned net.ErrClosed %v after Close", time.Since(start).Round(time.Microsecond))
}

// Scenario 4: a peer that never reads.
func TestScenario04_PeerNeverReads(t *testing.T) {
	const high, low = 64 << 10, 16 << 10
	s, peer := streams(t, chanstream.WithWriteBufferLimits(high, low))
	peer.SetReadBuffer(4096)
	s.Conn().(*net.TCPConn).SetWriteBuffer(4096)
	payload := make([]byte, 1<<20)
	rand.Read(payload)
	// WriteContext returns ctx.Err() at the watermark, with what it queued.
	var sent []byte
	for i := 0; i < 64; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		n, err := s.WriteContext(ctx, payload)
		cancel()
		sent = append(sent, payload[:n]...)
		if err != nil {
			if err != context.DeadlineExceeded {
				t.Fatal(err)
			}
			break
		}
	}
	queued := s.Stats().WriteBuffered
	if queued > high+4<<10 {
		t.Fatalf("%d bytes queued; the high watermark is %d", queued, high)
	}
	// WaitClosed returns at its ctx's deadline instead of hanging.
	s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	start := time.Now()
	err := s.WaitClosed(ctx)
	cancel()
	if err != context.DeadlineExceeded {
		t.Fatalf("WaitClosed with a peer not reading = %v", err)
	}
	waited := time.Since(start)
	// Abort frees everything at once.
	s.Abort()
	start = time.Now()
	if err := s.WaitClosed(ctxFor(t, 5*time.Second)); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Fatalf("WaitClosed after Abort = %v", err)
	}
	aborted := time.Since(start)
	// What the peer got is a prefix of what WriteContext said it queued:
	// nothing twice, nothing made up.
	got, _ := io.ReadAll(peer)
	if !bytes.Equal(got, sent[:min(len(got), len(sent))]) || len(got) > len(sent) {
		t.Fatalf("the peer got %d bytes that are not a prefix of the %d queued", len(got), len(sent))
	}
	figure(t, 4, "queued at the block: %d B (high watermark %d B); WaitClosed returned at its 100 ms deadline (%v); Abort freed the stream in %v; the peer's bytes are a prefix of what WriteContext reported", queued, high, waited.Round(time.Millisecond), aborted.Round(time.Microsecond))
}

// Scenario 5: ctx cancelled in the middle of ReadExactly or ReadUntil with
// part of the data buffered; the next call sees every byte. 10,000 cancel
// points, each exactly where a read was about to wait with partial data.
func TestScenario05_CancelPointsLoseNothing(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := mrand.New(mrand.NewPCG(seed, 5))
	var stream bytes.Buffer
	var records []string
	for stream.Len() < 2<<20 {
		if rng.IntN(2) == 0 {
			rec := strings.Repeat(string(rune('a'+rng.IntN(26))), 1+rng.IntN(300)) + ";;"
			records = append(records, "U"+rec)
			stream.WriteString(rec)
		} else {
			rec := make([]byte, 1+rng.IntN(500))
			rand.Read(rec)
			records = append(records, "X"+strconv.Itoa(len(rec)))
			stream.Write(rec)
		}
	}
	data := stream.Bytes()
	r := chanstream.NewReader(chanstream.WithLimit(1024))
	var got bytes.Buffer
	cancels := 0
	pos := 0
	// The feeder: one small random piece each time the reader waits.
	feed := func() {
		if pos == len(data) {
			r.FeedEOF()
			return
		}
		k := min(len(data)-pos, 1+rng.IntN(40))
		r.Feed(context.Background(), data[pos:pos+k])
		pos += k
	}
	for _, rec := range records {
		for {
			ctx, cancel := context.WithCancel(context.Background())
			waits := 0
			cancelAt := 1 + rng.IntN(4)
			hooks.SetWaitHook(r, func() {
				waits++
				if waits == cancelAt && cancels < 10000 {
					cancels++
					cancel() // the read is waiting, with part of its data buffered
					return
				}
				feed()
			})
			var out []byte
			var err error
			if rec[0] == 'U' {
				out, err = r.ReadUntil(ctx, []byte(";;"))
			} else {
				n, _ := strconv.Atoi(rec[1:])
				out, err = r.ReadExactly(ctx, n)
			}
			cancel()
			if err == context.Canceled {
				continue // try again: nothing may have been lost
			}
			if err != nil {
				t.Fatalf("record %q: %v", rec, err)
			}
			got.Write(out)
			break
		}
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("the records read back differ from the stream (%d of %d bytes)", got.Len(), len(data))
	}
	if cancels < 10000 {
		t.Fatalf("only %d cancel points", cancels)
	}
	figure(t, 5, "%d cancel points over %d records (%d bytes, ReadUntil and ReadExactly): every byte read back in order", cancels, len(records), len(data))
}

func init() {
	children["emfile-server"] = emfileServer
}

// emfileServer is an echo server running with RLIMIT_NOFILE of 64. It
// prints its address, then serves until stdin closes.
func emfileServer() error {
	if err := limitFiles(64); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	srv, err := listener.Listen(context.Background(), "tcp", "127.0.0.1:0", func(ctx context.Context, s *chanstream.Stream) {
		for line, err := range s.Lines(ctx) {
			if err != nil {
				return
			}
			s.Write(line)
		}
	}, listener.WithLogger(logger))
	if err != nil {
		return err
	}
	fmt.Println(srv.Addrs()[0])
	io.Copy(io.Discard, os.Stdin)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	return nil
}

// cpuTime returns a process's user and system CPU time.
func cpuTime(t *testing.T, pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	utime, _ := strconv.Atoi(fields[11])
	stime, _ := strconv.Atoi(fields[12])
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

// Scenario 6: accept fails with EMFILE; the server backs off and serves
// again once descriptors free up.
func TestScenario06_AcceptEMFILE(t *testing.T) {
	if !canLimitFiles {
		t.Skip("no RLIMIT_NOFILE here to make accept fail with EMFILE")
	}
	heavy(t)
	child := startChild(t, "emfile-server")
	addr := child.readLine(t, "the child server's address")

	// Take every descriptor the child has: each served connection holds one.
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := 0; i < 100; i++ {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	// Ping them all at once: the ones the child accepted answer.
	answered := make([]bool, len(held))
	var pings sync.WaitGroup
	for i, c := range held {
		pings.Add(1)
		go func() {
			defer pings.Done()
			c.SetDeadline(time.Now().Add(2 * time.Second))
			io.WriteString(c, "ping\n")
			got, err := bufio.NewReader(c).ReadString('\n')
			answered[i] = err == nil && got == "ping\n"
			c.SetDeadline(time.Time{})
		}()
	}
	pings.Wait()
	var servedConns, waiting []net.Conn
	for i, c := range held {
		if answered[i] {
			servedConns = append(servedConns, c)
		} else {
			waiting = append(waiting, c)
		}
	}
	served := len(servedConns)
	if len(waiting) == 0 {
		t.Fatal("the child served 100 connections with 64 descriptors: no EMFILE happened")
	}
	testnet.Eventually(t, "the child to log EMFILE", func() bool { return strings.Contains(child.stderr.String(), "too many open files") })
	// It backs off rather than spins.
	before := cpuTime(t, child.cmd.Process.Pid)
	time.Sleep(time.Second)
	spent := cpuTime(t, child.cmd.Process.Pid) - before
	if spent > 300*time.Millisecond {
		t.Fatalf("the child used %v of CPU in 1 s at EMFILE: it spins", spent)
	}
	// Free descriptors: the connections waiting in its backlog get served.
	for _, c := range servedConns {
		c.Close()
	}
	start := time.Now()
	// Its "ping" has waited in the kernel all along: it comes back first.
	c := waiting[0]
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "after\n")
	br := bufio.NewReader(c)
	first, err1 := br.ReadString('\n')
	second, err2 := br.ReadString('\n')
	if err := errors.Join(err1, err2); err != nil || first != "ping\n" || second != "after\n" {
		err = fmt.Errorf("%q %q %v", first, second, err)
		t.Fatalf("a waiting connection was not served after descriptors freed up: %v\n%s", err, child.stderr.String())
	}
	recovered := time.Since(start)
	if child.exited() {
		t.Fatal("the child exited")
	}
	figure(t, 6, "child with RLIMIT_NOFILE 64: served %d of 100 connections, then EMFILE; CPU while stuck: %v in 1 s (measured in 10 ms ticks: backoff, no spin); a connection waiting in the backlog was served %v after %d descriptors freed up; the child kept running", served, spent.Round(time.Millisecond), recovered.Round(time.Millisecond), served)
}

// Scenario 7: a handler that panics, one that never returns, one that
// returns without reading.
func TestScenario07_BadHandlers(t *testing.T) {
	never := make(chan struct{})    // the never-returning handler waits on it, ignoring its ctx
	stuck := make(chan struct{}, 1) // the never-returning handler has begun to wait
	srv, err := listener.Listen(ctxFor(t, 10*time.Second), "tcp", "127.0.0.1:0", func(ctx context.Context, s *chanstream.Stream) {
		line, err := s.ReadLine(ctx)
		if err != nil {
			return
		}
		switch strings.TrimSpace(string(line)) {
		case "panic":
			panic("a handler bug")
		case "never":
			stuck <- struct{}{}
			<-never
		case "leave":
			return // without reading the rest
		default:
			s.Write(line)
		}
	}, listener.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		close(never) // let it go at last, so that the server's goroutines end
		if err := srv.WaitClosed(ctxFor(t, 10*time.Second)); err != nil {
			t.Error(err)
		}
	}()
	addr := srv.Addrs()[0].String()
	dial := func(first string) net.Conn {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		io.WriteString(c, first)
		return c
	}
	dial("panic\n")
	dial("never\n")
	dial("leave\n" + strings.Repeat("unread data\n", 10000))
	ok := dial("hello\n")
	ok.SetDeadline(time.Now().Add(5 * time.Second))
	if got, err := bufio.NewReader(ok).ReadString('\n'); err != nil || got != "hello\n" {
		t.Fatalf("a good client after the bad handlers: %q, %v", got, err)
	}
	testnet.Eventually(t, "the panic to be counted", func() bool { return srv.Stats().Panics == 1 })
	select {
	case <-stuck:
	case <-time.After(10 * time.Second):
		t.Fatal("the never-returning handler never began to wait")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = srv.Shutdown(ctx)
	took := time.Since(start)
	if err != context.DeadlineExceeded || took > 10*time.Second {
		t.Fatalf("Shutdown = %v after %v; want its deadline, about 300ms", err, took)
	}
	figure(t, 7, "panicking, never-returning and non-reading handlers: the server kept serving (a good client echoed), 1 panic counted; Shutdown returned at its 300 ms deadline (%v)", took.Round(time.Millisecond))
}
