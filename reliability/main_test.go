package reliability

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/streamtest"
	"github.com/chanstream/chanstream/internal/testnet"
)

// childEnv names the role a re-executed test binary plays (see children).
const childEnv = "CHANSTREAM_RELIABILITY_CHILD"

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		child, ok := children[role]
		if !ok {
			fmt.Fprintln(os.Stderr, "unknown child role", role)
			os.Exit(2)
		}
		if err := child(); err != nil {
			fmt.Fprintln(os.Stderr, role+":", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	streamtest.VerifyTestMain(m)
}

// children are the programs the tests run in a subprocess, by role.
var children = map[string]func() error{}

// figure logs a measured figure for docs/reliability.md.
func figure(t testing.TB, scenario int, format string, args ...any) {
	t.Helper()
	t.Logf("FIGURE %02d "+format, append([]any{scenario}, args...)...)
}

func heavy(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("heavy scenario: skipped with -short (.ci/run runs it)")
	}
}

func scale(t *testing.T) {
	t.Helper()
	heavy(t)
	if raceEnabled {
		t.Skip("scale scenario: skipped under -race; .ci/run runs it in its own step without -race")
	}
}

func ctxFor(t testing.TB, d time.Duration) context.Context { return testnet.Ctx(t, d) }

// streams returns our stream over one end of a loopback TCP connection and
// the raw other end, both closed when the test ends.
func streams(t *testing.T, opts ...chanstream.Option) (*chanstream.Stream, *net.TCPConn) {
	t.Helper()
	ours, peer := streamtest.TCPPair(t)
	return streamOver(t, ours, opts...), peer
}

// streamOver returns our stream over conn, aborted when the test ends and
// waited for.
func streamOver(t *testing.T, conn net.Conn, opts ...chanstream.Option) *chanstream.Stream {
	t.Helper()
	s := chanstream.NewStream(conn, opts...)
	t.Cleanup(func() {
		s.Abort()
		streamtest.CloseStreams(t, s)
	})
	return s
}

// stuck waits until s's writer is held at its high watermark with the
// kernel's buffers full: nothing more has been written for 200 ms.
func stuck(t *testing.T, s *chanstream.Stream) {
	t.Helper()
	last, since := int64(-1), time.Now()
	testnet.Eventually(t, "the writer is stuck at the watermark", func() bool {
		st := s.Stats()
		if st.BytesWritten != last || st.WriteBuffered == 0 {
			last, since = st.BytesWritten, time.Now()
			return false
		}
		return time.Since(since) > 200*time.Millisecond
	})
}

// heapBytes reads the bytes of live and not yet swept heap objects, without
// stopping the world.
func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// peakHeap samples the heap every millisecond until stop is closed and
// returns the highest figure seen.
func peakHeap(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		peak := heapBytes()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				peak = max(peak, heapBytes())
			case <-stop:
				out <- max(peak, heapBytes())
				return
			}
		}
	}()
	return out
}

// settledHeap runs the GC until the heap stops shrinking and returns it.
func settledHeap() uint64 {
	runtime.GC()
	runtime.GC()
	return heapBytes()
}

// fdCount counts this process's open file descriptors.
func fdCount(t testing.TB) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	return len(entries)
}

// settle waits until the goroutine and descriptor counts are back at or
// below before (helpers and timers take a moment to end), and reports them.
func settle(t *testing.T, goroutinesBefore, fdsBefore int) (goroutines, fds int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		goroutines, fds = runtime.NumGoroutine(), fdCount(t)
		if goroutines <= goroutinesBefore && fds <= fdsBefore {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines %d (before %d), descriptors %d (before %d)", goroutines, goroutinesBefore, fds, fdsBefore)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func mib(b uint64) string { return fmt.Sprintf("%.2f MiB", float64(b)/(1<<20)) }

func kib(b float64) string { return strings.TrimSuffix(fmt.Sprintf("%.1f", b/1024), ".0") + " KiB" }

// A child is the test binary re-executed in a role (see children): what
// it prints on stdout is read line by line, its stderr is kept for error
// messages, and closing its stdin tells it to finish.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Reader
	stderr *streamtest.Buffer
	done   chan struct{} // closed when the child has exited
	err    error         // how it exited; set before done is closed
}

// startChild starts the test binary as role, with env added to its
// environment. When the test ends the child's stdin is closed, and the child
// is killed if it has not exited 10 s later.
func startChild(t *testing.T, role string, env ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(append(os.Environ(), childEnv+"="+role), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout), stderr: new(streamtest.Buffer), done: make(chan struct{})}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-c.done
		}
	})
	return c
}

// wait closes the child's stdin and returns how it exited.
func (c *child) wait() error {
	c.stdin.Close()
	<-c.done
	return c.err
}

// exited reports whether the child has exited.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// readLine returns the next line the child printed, without its newline; it
// fails the test, showing the child's stderr, if there is none.
func (c *child) readLine(t *testing.T, what string) string {
	t.Helper()
	line, err := c.out.ReadString('\n')
	if err != nil {
		t.Fatalf("the child, waiting for %s: %v\n%s", what, err, c.stderr.String())
	}
	return strings.TrimSpace(line)
}
