package reliability

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/internal/testnet"
	"github.com/chanstream/chanstream/listener"
)

func init() {
	children["scale-clients"] = scaleClients
}

// echoHandler echoes lines back until the peer closes or ctx is done.
func echoHandler(ctx context.Context, s *chanstream.Stream) {
	for {
		line, err := s.ReadLine(ctx)
		if len(line) > 0 {
			s.Write(line)
			if err := s.Drain(ctx); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// echoServer starts an echo server on loopback with a deep backlog and
// shuts it down at the end of the test.
func echoServer(t *testing.T, opts ...listener.Option) *listener.Server {
	t.Helper()
	opts = append([]listener.Option{listener.WithBacklog(4096)}, opts...)
	srv, err := listener.Listen(context.Background(), "tcp", "127.0.0.1:0", echoHandler, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		srv.WaitClosed(ctx)
	})
	return srv
}

// roundTrip sends line on c and checks that it comes back whole.
func roundTrip(c net.Conn, br *bufio.Reader, line []byte) error {
	if _, err := c.Write(line); err != nil {
		return err
	}
	got, err := br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.Equal(got, line) {
		return fmt.Errorf("echo %q, want %q", got, line)
	}
	return nil
}

// scaleClients is the child that plays the clients of scenario 14, so that
// the server's process holds only the server's descriptors and memory. It
// opens IDLE connections, each doing one round trip, and prints "idle N";
// on "go" from stdin it runs ACTIVE clients of ROUNDS round trips each over
// new connections, prints "active ...", and closes everything when stdin
// closes.
func scaleClients() error {
	addr := os.Getenv("SCALE_ADDR")
	idle, _ := strconv.Atoi(os.Getenv("SCALE_IDLE"))
	active, _ := strconv.Atoi(os.Getenv("SCALE_ACTIVE"))
	rounds, _ := strconv.Atoi(os.Getenv("SCALE_ROUNDS"))
	dialer := net.Dialer{Timeout: 20 * time.Second}

	conns := make([]net.Conn, idle)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= idle {
					return
				}
				c, err := dialer.Dial("tcp", addr)
				if err != nil {
					errs <- fmt.Errorf("idle connection %d: %w", i, err)
					return
				}
				conns[i] = c
				c.SetDeadline(time.Now().Add(30 * time.Second))
				if err := roundTrip(c, bufio.NewReaderSize(c, 16), []byte("idle\n")); err != nil {
					errs <- fmt.Errorf("idle connection %d: %w", i, err)
					return
				}
				c.SetDeadline(time.Time{})
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	fmt.Printf("idle %d\n", idle)

	in := bufio.NewReader(os.Stdin)
	if cmd, err := in.ReadString('\n'); err != nil || cmd != "go\n" {
		return fmt.Errorf("waiting for go: %q, %v", cmd, err)
	}
	latencies := make([][]time.Duration, active)
	var echoed atomic.Int64
	errs = make(chan error, active)
	start := time.Now()
	for a := range active {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dialer.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(60 * time.Second))
			br := bufio.NewReader(c)
			for r := range rounds {
				line := fmt.Appendf(nil, "%05d %05d %s\n", a, r, strings.Repeat("x", 51))
				t0 := time.Now()
				if err := roundTrip(c, br, line); err != nil {
					errs <- fmt.Errorf("active client %d, round %d: %w", a, r, err)
					return
				}
				latencies[a] = append(latencies[a], time.Since(t0))
				echoed.Add(int64(len(line)))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	all := slices.Concat(latencies...)
	slices.Sort(all)
	fmt.Printf("active clients=%d round_trips=%d bytes=%d rate=%.0f/s p50=%v p99=%v\n",
		active, len(all), echoed.Load(), float64(len(all))/elapsed.Seconds(),
		all[len(all)/2].Round(time.Microsecond), all[len(all)*99/100].Round(time.Microsecond))

	// Hold the idle connections until the parent is done: it shuts the
	// server down, and each idle connection must see its end.
	io.Copy(io.Discard, in)
	ended := 0
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			ended++
		}
	}
	if ended != idle {
		return fmt.Errorf("%d of %d idle connections saw the server close", ended, idle)
	}
	return nil
}

// vmRSS reads this process's resident set size in bytes.
func vmRSS(t testing.TB) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("cannot read /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Skip("no VmRSS in /proc/self/status")
	return 0
}

// goMemory is what the Go runtime holds for live objects and goroutine
// stacks: what a connection costs, without the heap's slack.
func goMemory() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc + ms.StackInuse
}

// Scenario 14: 10,000 idle connections plus 500 active echo clients against
// one server in one process (the clients run in a child process): all are
// served; the server's memory per idle connection is reported; after
// Shutdown, goroutines and descriptors are back where they started.
func TestScenario14_TenThousandIdlePlusActive(t *testing.T) {
	scale(t)
	const idle, active, rounds = 10000, 500, 200
	goroutinesBefore, fdsBefore := runtime.NumGoroutine(), fdCount(t)

	srv := echoServer(t)
	debug.FreeOSMemory() // what earlier tests freed goes back, so RSS counts what is live
	memBefore, rssBefore := goMemory(), vmRSS(t)

	c := startChild(t, "scale-clients",
		"SCALE_ADDR="+srv.Addrs()[0].String(),
		"SCALE_IDLE="+strconv.Itoa(idle),
		"SCALE_ACTIVE="+strconv.Itoa(active),
		"SCALE_ROUNDS="+strconv.Itoa(rounds))

	start := time.Now()
	if got := c.readLine(t, "the idle connections"); got != fmt.Sprintf("idle %d", idle) {
		t.Fatalf("the client child said %q", got)
	}
	opened := time.Since(start)
	testnet.Eventually(t, "the server to hold every idle connection", func() bool { return srv.Stats().Active == idle })
	debug.FreeOSMemory()
	memIdle, rssIdle := goMemory(), vmRSS(t)
	goroutinesIdle := runtime.NumGoroutine()

	if _, err := io.WriteString(c.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	activeReport := c.readLine(t, "the active clients")
	if !strings.HasPrefix(activeReport, "active ") {
		t.Fatalf("the client child said %q\n%s", activeReport, c.stderr.String())
	}
	if want := fmt.Sprintf("round_trips=%d", active*rounds); !strings.Contains(activeReport, want) {
		t.Fatalf("the active clients: %s, want %s", activeReport, want)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	shutdownStart := time.Now()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := srv.WaitClosed(ctx); err != nil {
		t.Fatalf("WaitClosed: %v", err)
	}
	shutdownTook := time.Since(shutdownStart)
	if err := c.wait(); err != nil {
		t.Fatalf("the client child: %v\n%s", err, c.stderr.String())
	}
	goroutinesAfter, fdsAfter := settle(t, goroutinesBefore, fdsBefore)

	perConn := func(before, after uint64) float64 { return (float64(after) - float64(before)) / idle }
	figure(t, 14, "%d idle connections (one round trip each, opened in %v) + %d active clients x %d round trips: %s; server memory per idle connection: Go heap+stacks %s, RSS %s; goroutines per idle connection %.2f; Shutdown with %d connections took %v; goroutines %d -> %d, fds %d -> %d",
		idle, opened.Round(time.Millisecond), active, rounds, strings.TrimPrefix(activeReport, "active "),
		kib(perConn(memBefore, memIdle)), kib(perConn(rssBefore, rssIdle)),
		float64(goroutinesIdle-goroutinesBefore)/idle, idle, shutdownTook.Round(time.Millisecond),
		goroutinesBefore, goroutinesAfter, fdsBefore, fdsAfter)
}

// Scenario 15: 50,000 connect/echo/close cycles against one server: no
// growth of goroutines, descriptors or heap. The clients come from eight
// loopback source addresses, so the TIME_WAIT sockets the cycles leave do
// not exhaust the ephemeral ports of one.
func TestScenario15_FiftyThousandCycles(t *testing.T) {
	scale(t)
	const cycles, workers = 50000, 32
	srv := echoServer(t)
	addr := srv.Addrs()[0].String()

	// A first round warms pools and the runtime up.
	run := func(n int) error {
		var next atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				src := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+w%8))}
				dialer := net.Dialer{Timeout: 10 * time.Second, LocalAddr: src}
				for {
					i := next.Add(1) - 1
					if i >= int64(n) {
						return
					}
					c, err := dialer.Dial("tcp", addr)
					if err != nil {
						errs <- fmt.Errorf("cycle %d: %w", i, err)
						return
					}
					c.SetDeadline(time.Now().Add(10 * time.Second))
					err = roundTrip(c, bufio.NewReaderSize(c, 64), fmt.Appendf(nil, "cycle %d\n", i))
					c.Close()
					if err != nil {
						errs <- fmt.Errorf("cycle %d: %w", i, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		return <-errs
	}
	if err := run(2000); err != nil {
		t.Fatal(err)
	}
	testnet.Eventually(t, "the warm-up connections to end", func() bool { return srv.Stats().Active == 0 })
	goroutinesBefore, fdsBefore := runtime.NumGoroutine(), fdCount(t)
	heapBefore := settledHeap()

	start := time.Now()
	if err := run(cycles); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	testnet.Eventually(t, "every connection to end", func() bool { return srv.Stats().Active == 0 })
	goroutinesAfter, fdsAfter := settle(t, goroutinesBefore, fdsBefore)
	heapAfter := settledHeap()
	if growth := int64(heapAfter) - int64(heapBefore); growth > 8<<20 {
		t.Fatalf("the heap grew by %s over %d cycles", mib(uint64(growth)), cycles)
	}
	st := srv.Stats()
	figure(t, 15, "%d connect/echo/close cycles (%d workers, 8 source addresses) in %v (%.0f cycles/s): accepted %d; goroutines %d -> %d, fds %d -> %d, heap %s -> %s",
		cycles, workers, elapsed.Round(time.Millisecond), cycles/elapsed.Seconds(), st.Accepted,
		goroutinesBefore, goroutinesAfter, fdsBefore, fdsAfter, mib(heapBefore), mib(heapAfter))
}
