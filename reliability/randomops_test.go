package reliability

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/streamtest"
)

// The stream under scenario 17 has a tiny limit and tiny watermarks, so that
// limit overruns and writes held at the watermark happen all the time.
const (
	opsLimit     = 64
	opsWriteHigh = 256
	maxPeerSend  = 8 << 10 // what the peer sends in all: below the socket's buffer, so it never blocks
	// sure is how long a read the model says must succeed may take; maybe
	// is the ctx of a read that may have to wait for data in flight.
	sure  = 10 * time.Second
	maybe = 5 * time.Millisecond
)

// opsRun is one run of scenario 17: our stream over one end of a socket
// pair, the raw other end as the peer, and the model: every byte the peer
// sent, how many of them the stream's reads have consumed, and every byte
// written to the stream.
type opsRun struct {
	t    *testing.T
	s    *chanstream.Stream
	peer *net.UnixConn

	sent     []byte // what the peer sent
	consumed int    // how much of sent reads have returned or discarded
	peerEOF  bool   // the peer half-closed: sent is all there will be
	written  []byte // what Writes accepted
	writeEOF bool
	closed   bool // Close or Abort was called
	aborted  bool

	tally map[string]int // what happened, for the figure

	recvMu   sync.Mutex
	received bytes.Buffer // what the peer read
	recvDone chan error
}

func newOpsRun(t *testing.T) *opsRun {
	a, b := streamtest.SocketPair(t)
	r := &opsRun{
		t:        t,
		s:        chanstream.NewStream(a, chanstream.WithLimit(opsLimit), chanstream.WithWriteBufferLimits(opsWriteHigh, opsWriteHigh/4)),
		peer:     b.(*net.UnixConn),
		recvDone: make(chan error, 1),
		tally:    map[string]int{},
	}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := r.peer.Read(buf)
			r.recvMu.Lock()
			r.received.Write(buf[:n])
			r.recvMu.Unlock()
			if err != nil {
				if err == io.EOF {
					err = nil
				}
				r.recvDone <- err
				return
			}
		}
	}()
	return r
}

// rest is what the stream holds or has in flight: sent and not consumed.
func (r *opsRun) rest() []byte { return r.sent[r.consumed:] }

func (r *opsRun) fail(format string, args ...any) {
	r.t.Helper()
	r.s.Abort()
	r.peer.Close()
	r.t.Fatalf(format, args...)
}

// check compares what a read returned with what the model allows: data
// must be the next bytes the peer sent; err must be nil or one of the
// allowed errors. It advances the model by what was consumed.
func (r *opsRun) check(op string, data []byte, err error, allowed ...error) {
	r.t.Helper()
	if !bytes.HasPrefix(r.rest(), data) {
		r.fail("%s returned %q; the next bytes sent were %q", op, data, r.rest()[:min(len(r.rest()), len(data)+8)])
	}
	r.consumed += len(data)
	r.tally["bytes read and checked"] += len(data)
	if err == nil {
		return
	}
	r.tally[op+" "+errName(err)]++
	for _, a := range allowed {
		if errors.Is(err, a) {
			return
		}
	}
	r.fail("%s: unexpected error %v (consumed %d of %d sent, peer EOF %v)", op, err, r.consumed, len(r.sent), r.peerEOF)
}

// closedErr checks that an operation on a closed stream failed with
// net.ErrClosed and consumed nothing.
func (r *opsRun) closedErr(op string, data []byte, err error) {
	r.t.Helper()
	if len(data) != 0 || !errors.Is(err, net.ErrClosed) {
		r.fail("%s after Close = %q, %v; want net.ErrClosed", op, data, err)
	}
	r.tally["calls after Close"]++
}

// readCtx is the ctx of a read: long when the model says it must succeed,
// short when the data may still be in flight, already done for a cancel.
func readCtx(must bool, cancelled bool) (context.Context, context.CancelFunc) {
	if cancelled {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return ctx, cancel
	}
	if must {
		return context.WithTimeout(context.Background(), sure)
	}
	return context.WithTimeout(context.Background(), maybe)
}

// lineEnd returns the length of the first line of rest (through sep), or -1.
func lineEnd(rest, sep []byte) int {
	if i := bytes.Index(rest, sep); i >= 0 {
		return i + len(sep)
	}
	return -1
}

// step runs one operation chosen by code with argument arg.
func (r *opsRun) step(code, arg byte) {
	r.t.Helper()
	cancelled := arg%11 == 0
	ctxErrs := []error{context.DeadlineExceeded, context.Canceled}
	switch code % 12 {
	case 0, 1: // the peer sends a line, or the start of one
		if r.peerEOF || r.closed || len(r.sent) >= maxPeerSend {
			return
		}
		p := bytes.Repeat([]byte{'x'}, int(arg)%(2*opsLimit))
		if arg%3 != 0 {
			p = append(p, '\n')
		}
		if arg%7 == 0 {
			p = append(p, "y\r\n"...)
		}
		if _, err := r.peer.Write(p); err != nil {
			r.fail("the peer's write: %v", err)
		}
		r.sent = append(r.sent, p...)
	case 2: // ReadLine
		end := lineEnd(r.rest(), []byte("\n"))
		must := !cancelled && ((end >= 0 && end <= opsLimit) || (r.peerEOF && end < 0 && len(r.rest()) <= opsLimit))
		ctx, cancel := readCtx(must, cancelled)
		line, err := r.s.ReadLine(ctx)
		cancel()
		if r.closed {
			r.closedErr("ReadLine", line, err)
			return
		}
		var lo *chanstream.LimitOverrunError
		switch {
		case errors.As(err, &lo):
			// asyncio discards through the separator if it was found, else
			// what was buffered: never more than the next line.
			if lo.Consumed <= 0 || lo.Consumed > len(r.rest()) || (end >= 0 && lo.Consumed > end) || (end >= 0 && end <= opsLimit) {
				r.fail("ReadLine overran with Consumed %d; the next line is %d bytes of %d", lo.Consumed, end, len(r.rest()))
			}
			r.consumed += lo.Consumed
			r.tally["limit overruns"]++
		case must && err == nil && end >= 0 && len(line) != end:
			r.fail("ReadLine = %q, want the %d-byte line %q", line, end, r.rest()[:end])
		case must && err != nil && !(r.peerEOF && len(r.rest()) == 0 && err == io.EOF):
			r.fail("ReadLine failed with %v although a line of %d bytes was there (%d left, peer EOF %v)", err, end, len(r.rest()), r.peerEOF)
		default:
			if err == nil && len(line) > 0 && line[len(line)-1] != '\n' && !(r.peerEOF && len(line) == len(r.rest())) {
				r.fail("ReadLine returned the partial line %q before EOF", line)
			}
			r.check("ReadLine", line, err, append(ctxErrs, io.EOF)...)
		}
	case 3: // ReadUntil, with one separator or two
		seps := [][]byte{[]byte("\n")}
		if arg%2 == 1 {
			seps = [][]byte{[]byte("y\r\n"), []byte("xx\n")}
		}
		end := -1
		for _, sep := range seps {
			if e := lineEnd(r.rest(), sep); e >= 0 && (end < 0 || e < end) {
				end = e
			}
		}
		must := !cancelled && end >= 0 && end <= opsLimit
		ctx, cancel := readCtx(must, cancelled)
		data, err := r.s.ReadUntil(ctx, seps...)
		cancel()
		if r.closed {
			r.closedErr("ReadUntil", data, err)
			return
		}
		var ir *chanstream.IncompleteReadError
		switch {
		case errors.Is(err, chanstream.ErrLimitOverrun):
			if end >= 0 && end <= opsLimit {
				r.fail("ReadUntil overran although the separator ends at %d", end)
			}
			r.tally["limit overruns"]++
		case errors.As(err, &ir):
			if !r.peerEOF || ir.Expected != -1 || !bytes.Equal(ir.Partial, r.rest()) {
				r.fail("ReadUntil: %v with partial %q; rest %q, peer EOF %v", err, ir.Partial, r.rest(), r.peerEOF)
			}
			r.consumed = len(r.sent)
			r.tally["incomplete reads"]++
		case must && (err != nil || len(data) != end):
			r.fail("ReadUntil = %q, %v; want %q", data, err, r.rest()[:end])
		default:
			r.check("ReadUntil", data, err, ctxErrs...)
		}
	case 4: // ReadExactly
		n := int(arg) % (2 * opsLimit)
		must := !cancelled && (n <= len(r.rest()) || r.peerEOF)
		ctx, cancel := readCtx(must, cancelled)
		data, err := r.s.ReadExactly(ctx, n)
		cancel()
		if r.closed {
			if n == 0 && err == nil { // n == 0 returns at once, as asyncio
				return
			}
			r.closedErr("ReadExactly", data, err)
			return
		}
		var ir *chanstream.IncompleteReadError
		switch {
		case errors.As(err, &ir):
			if !r.peerEOF || n <= len(r.rest()) || !bytes.Equal(ir.Partial, r.rest()) || ir.Expected != n {
				r.fail("ReadExactly(%d): %v; rest %d bytes, peer EOF %v", n, err, len(r.rest()), r.peerEOF)
			}
			r.consumed = len(r.sent)
			r.tally["incomplete reads"]++
		case must && (err != nil || len(data) != n):
			r.fail("ReadExactly(%d) = %d bytes, %v; %d bytes were there", n, len(data), err, len(r.rest()))
		case err == nil && len(data) != n:
			r.fail("ReadExactly(%d) = %d bytes", n, len(data))
		default:
			r.check("ReadExactly", data, err, ctxErrs...)
		}
	case 5: // ReadChunk
		n := int(arg)%(2*opsLimit) - 2 // n < 0 (to EOF) happens too
		must := !cancelled && ((n > 0 && len(r.rest()) > 0) || (r.peerEOF && n != 0))
		if n < 0 && !r.peerEOF {
			n = 1 // reading to EOF would wait for the peer's EOF
		}
		ctx, cancel := readCtx(must, cancelled)
		data, err := r.s.ReadChunk(ctx, n)
		cancel()
		if r.closed {
			if n == 0 && err == nil {
				return
			}
			r.closedErr("ReadChunk", data, err)
			return
		}
		switch {
		case n > 0 && len(data) > n, n == 0 && len(data) != 0:
			r.fail("ReadChunk(%d) = %d bytes", n, len(data))
		case must && n < 0 && (err != nil || !bytes.Equal(data, r.rest())):
			r.fail("ReadChunk(-1) at EOF = %q, %v; want %q", data, err, r.rest())
		case must && n > 0 && len(r.rest()) > 0 && (err != nil || len(data) == 0):
			r.fail("ReadChunk(%d) = %q, %v with %d bytes there", n, data, err, len(r.rest()))
		case err == io.EOF && (len(data) != 0 || len(r.rest()) != 0 || !r.peerEOF):
			r.fail("ReadChunk(%d) = %q, EOF with %d bytes left (peer EOF %v)", n, data, len(r.rest()), r.peerEOF)
		default:
			r.check("ReadChunk", data, err, append(ctxErrs, io.EOF)...)
		}
	case 6: // Discard
		n := int(arg) % opsLimit
		must := !cancelled && (n <= len(r.rest()) || r.peerEOF)
		ctx, cancel := readCtx(must, cancelled)
		k, err := r.s.Discard(ctx, n)
		cancel()
		if r.closed {
			if n == 0 && err == nil {
				return
			}
			r.closedErr("Discard", nil, err)
			return
		}
		if k < 0 || k > n || k > len(r.rest()) || (must && k != min(n, len(r.rest()))) {
			r.fail("Discard(%d) = %d, %v with %d bytes left (peer EOF %v)", n, k, err, len(r.rest()), r.peerEOF)
		}
		r.consumed += k
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) && !errors.Is(err, io.ErrUnexpectedEOF) && err != io.EOF {
			r.fail("Discard(%d): %v", n, err)
		}
	case 7, 8: // Write
		p := bytes.Repeat([]byte{'a' + arg%26}, int(arg)*4)
		ctx, cancel := context.WithTimeout(context.Background(), sure)
		if cancelled {
			cancel()
		}
		n, err := r.s.WriteContext(ctx, p)
		cancel()
		switch {
		case r.closed || r.writeEOF:
			if n != 0 || !errors.Is(err, net.ErrClosed) {
				r.fail("Write after Close or WriteEOF = %d, %v", n, err)
			}
		case cancelled && len(p) > 0:
			if n != 0 || !errors.Is(err, context.Canceled) {
				r.fail("Write with a cancelled ctx = %d, %v", n, err)
			}
		case err != nil || n != len(p):
			r.fail("Write(%d bytes) = %d, %v", len(p), n, err)
		}
		r.written = append(r.written, p[:n]...)
		r.tally["bytes written"] += n
	case 9: // Drain
		ctx, cancel := context.WithTimeout(context.Background(), sure)
		err := r.s.Drain(ctx)
		cancel()
		if r.closed {
			if !errors.Is(err, net.ErrClosed) {
				r.fail("Drain after Close = %v", err)
			}
		} else if err != nil {
			r.fail("Drain = %v", err)
		}
	case 10: // a half-close, ours or the peer's
		if arg%2 == 0 {
			if r.peerEOF {
				return
			}
			if err := r.peer.CloseWrite(); err != nil {
				r.fail("the peer's CloseWrite: %v", err)
			}
			r.peerEOF = true
			return
		}
		err := r.s.WriteEOF()
		if r.closed {
			if !errors.Is(err, net.ErrClosed) {
				r.fail("WriteEOF after Close = %v", err)
			}
			return
		}
		if err != nil {
			r.fail("WriteEOF = %v", err)
		}
		r.writeEOF = true
	case 11: // Close or Abort; rare, so that most runs do much first
		if arg%4 != 0 || r.closed {
			return
		}
		r.closed = true
		if arg%8 == 0 {
			r.aborted = true
			r.s.Abort()
		} else {
			r.s.Close()
		}
	}
}

// finish closes the stream and checks the end: WaitClosed returns in time,
// and the peer got everything written (a prefix of it after Abort).
func (r *opsRun) finish() {
	r.t.Helper()
	if !r.closed {
		r.s.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), sure)
	defer cancel()
	if err := r.s.WaitClosed(ctx); errors.Is(err, context.DeadlineExceeded) {
		r.fail("WaitClosed hung")
	}
	select {
	case err := <-r.recvDone:
		// Closing a socket that holds unread data resets the connection
		// (as with asyncio): on a socket pair the peer still reads every
		// byte first, then ECONNRESET rather than EOF.
		unread := r.consumed < len(r.sent)
		if err != nil && !r.aborted && !(unread && errors.Is(err, syscall.ECONNRESET)) {
			r.fail("the peer's read: %v", err)
		}
	case <-ctx.Done():
		r.fail("the peer never saw the end of the stream")
	}
	r.peer.Close()
	r.recvMu.Lock()
	got := r.received.Bytes()
	r.recvMu.Unlock()
	if r.aborted {
		if !bytes.HasPrefix(r.written, got) {
			r.fail("after Abort the peer got %d bytes that are not a prefix of the %d written", len(got), len(r.written))
		}
		return
	}
	if !bytes.Equal(got, r.written) {
		r.fail("the peer got %d bytes, %d were written", len(got), len(r.written))
	}
}

func runOps(t *testing.T, ops []byte) map[string]int {
	r := newOpsRun(t)
	for i := 0; i+1 < len(ops); i += 2 {
		r.step(ops[i], ops[i+1])
	}
	r.finish()
	return r.tally
}

// errName names an error's kind for the tally.
func errName(err error) string {
	switch {
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case err == io.EOF:
		return "EOF"
	}
	return "other error"
}

// Scenario 17: random sequences of operations over a real socket pair —
// the peer's sends and half-close, every read call with done, short and
// long ctxs, writes, drains, WriteEOF, Close and Abort — checked against a
// model of the bytes: no panic, no deadlock (every wait is bounded), no
// byte lost or duplicated, no goroutine left (TestMain's goleak).
func TestScenario17_RandomOperations(t *testing.T) {
	runs := 400
	if testing.Short() {
		runs = 50
	}
	if raceEnabled {
		runs /= 4
	}
	ops := 0
	tally := map[string]int{}
	for seed := range runs {
		rng := rand.New(rand.NewPCG(uint64(seed), 17))
		seq := make([]byte, 2*(20+rng.IntN(200)))
		for i := range seq {
			seq[i] = byte(rng.UintN(256))
		}
		ok := t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			for k, v := range runOps(t, seq) {
				tally[k] += v
			}
		})
		if !ok {
			t.Fatalf("seed %d failed: the sequence is %x", seed, seq)
		}
		ops += len(seq) / 2
	}
	keys := slices.Sorted(maps.Keys(tally))
	var what []string
	for _, k := range keys {
		what = append(what, fmt.Sprintf("%s %d", k, tally[k]))
	}
	figure(t, 17, "%d random sequences, %d operations over socket pairs (limit %d, watermark %d): no panic, deadlock, loss or leak; %s", runs, ops, opsLimit, opsWriteHigh, strings.Join(what, ", "))
}

// FuzzScenario17 is scenario 17 under the fuzzer: go test -fuzz
// FuzzScenario17 ./reliability.
func FuzzScenario17(f *testing.F) {
	f.Add([]byte{0, 10, 2, 1, 7, 40, 10, 0, 5, 254, 11, 4})
	f.Add([]byte{0, 200, 1, 70, 3, 1, 4, 66, 6, 30, 9, 0, 11, 8, 2, 1})
	f.Add([]byte{7, 255, 8, 255, 9, 1, 10, 1, 7, 3, 11, 4, 7, 2})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 2000 {
			ops = ops[:2000]
		}
		runOps(t, ops)
	})
}
