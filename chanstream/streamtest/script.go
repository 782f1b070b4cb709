package streamtest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ErrScript is what the calls on a [Script] return once the code under
// test has departed from the script: after a write it did not expect, or
// a write or half-close it waited for too long.
var ErrScript = errors.New("streamtest: the code under test departed from the script")

// ScriptWriteWait is how long a Write (or CloseWrite) on a [Script] waits
// for the script to reach an Expect step, while the steps before it (data
// the peer sends, an error for a read) wait for reads, before the test
// fails: long enough for a read pump to take the data on a loaded machine,
// short enough that a handler that writes before reading fails rather
// than hangs.
const ScriptWriteWait = 10 * time.Second

// stepKind is what a script step does.
type stepKind uint8

const (
	stepSend             stepKind = iota // the peer sends data: reads return it
	stepExpect                           // the code must write data
	stepWait                             // the next step waits this long
	stepSendEOF                          // the peer half-closes: reads return io.EOF
	stepReset                            // the peer resets the connection
	stepReadError                        // the next read returns err
	stepWriteError                       // the next write returns err
	stepExpectCloseWrite                 // the code must half-close
	stepExpectClose                      // the code must close
)

var stepNames = [...]string{
	stepSend:             "Send",
	stepExpect:           "Expect",
	stepWait:             "Wait",
	stepSendEOF:          "SendEOF",
	stepReset:            "Reset",
	stepReadError:        "ReadError",
	stepWriteError:       "WriteError",
	stepExpectCloseWrite: "ExpectCloseWrite",
	stepExpectClose:      "ExpectClose",
}

type step struct {
	kind stepKind
	data []byte // Send, Expect
	wait time.Duration
	err  error // ReadError, WriteError
}

func (st *step) String() string {
	switch st.kind {
	case stepSend, stepExpect:
		return fmt.Sprintf("%s(%q)", stepNames[st.kind], st.data)
	case stepWait:
		return fmt.Sprintf("Wait(%v)", st.wait)
	case stepReadError, stepWriteError:
		return fmt.Sprintf("%s(%v)", stepNames[st.kind], st.err)
	}
	return stepNames[st.kind] + "()"
}

// scriptAddr is an address of a Script.
type scriptAddr string

func (a scriptAddr) Network() string { return "script" }
func (a scriptAddr) String() string  { return string(a) }

// Script is a [net.Conn] whose other end is played by a script, in the
// manner of tokio-test's io::Builder: the steps say what the code under test
// will read (Send: the peer sends), what it must write (Expect), pauses, the
// end of the peer's data, a reset and errors. The steps are played in order,
// each once:
//
//   - A Read returns data of the current Send step, never more than is
//     left of that step, so that each piece arrives on its own and the code
//     meets every boundary the script sets. It waits while the current step
//     is one for a write; once the script has run out it waits as a quiet
//     peer would, until Close or its deadline.
//   - A Write is compared with the Expect steps as it arrives (one Write may
//     span several steps, and one step several Writes). It waits while the
//     current step is one for a read, for up to [ScriptWriteWait]. Bytes
//     that differ from the script, or a Write after the script has run
//     out, fail the test through t.Errorf with the expected and actual
//     bytes and the offset where they part; from then on every call
//     returns [ErrScript].
//   - At the end of the test, a step that was not played (but a Wait) fails
//     the test; the end of the test first waits, up to 10 seconds, for the
//     script to run out or the code to close the connection, since a
//     stream may still be sending.
//
// A Script is closed at the end of the test. Its calls fail with errors
// matching [net.ErrClosed] after Close, and [os.ErrDeadlineExceeded] past a
// deadline, as a socket's. The script can be extended while it plays; its
// methods may be called from several goroutines.
type Script struct {
	t testing.TB

	mu            sync.Mutex
	changed       signal
	steps         []step
	pos           int       // the current step
	off           int       // bytes of the current Send or Expect step played
	frontSince    time.Time // when steps[pos] became the current step
	written       int64     // bytes written that matched
	eof           bool      // the peer's EOF was read: reads return io.EOF
	reset         bool      // the connection was reset
	wroteEOF      bool      // the code half-closed
	failed        bool      // the code departed from the script
	closed        bool
	readDeadline  time.Time
	writeDeadline time.Time
}

var _ net.Conn = (*Script)(nil)

// NewScript returns a [Script] with no steps yet; add them with its step
// methods. It is closed at the end of the test, after the unplayed steps are
// reported.
func NewScript(t testing.TB) *Script {
	t.Helper()
	s := &Script{t: t, frontSince: time.Now()}
	t.Cleanup(s.finish)
	return s
}

// add appends a step, failing the test if the script has ended (after
// Reset, or a Send after SendEOF).
func (s *Script) add(st step) *Script {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, prev := range s.steps {
		if prev.kind == stepReset {
			s.t.Fatalf("streamtest: Script.%s after Reset: the connection is gone", stepNames[st.kind])
		}
		if prev.kind == stepSendEOF && (st.kind == stepSend || st.kind == stepSendEOF || st.kind == stepReadError) {
			s.t.Fatalf("streamtest: Script.%s after SendEOF: the peer has finished sending", stepNames[st.kind])
		}
	}
	if s.pos == len(s.steps) {
		s.frontSince = time.Now()
	}
	s.steps = append(s.steps, st)
	s.changed.broadcast()
	return s
}

// Send adds a step where the peer sends data: the code under test reads
// it, in one or more Reads that return nothing of the steps around it.
// Consecutive Sends arrive as separate pieces. data must not be empty.
func (s *Script) Send(data string) *Script {
	s.t.Helper()
	if data == "" {
		s.t.Fatalf("streamtest: Script.Send of nothing")
	}
	return s.add(step{kind: stepSend, data: []byte(data)})
}

// Expect adds a step where the code under test must write data. data must
// not be empty.
func (s *Script) Expect(data string) *Script {
	s.t.Helper()
	if data == "" {
		s.t.Fatalf("streamtest: Script.Expect of nothing")
	}
	return s.add(step{kind: stepExpect, data: []byte(data)})
}

// Wait adds a pause: the step after it is played d after the step before
// it was. A Wait left at the end of the test is not reported. d must not
// be negative.
func (s *Script) Wait(d time.Duration) *Script {
	s.t.Helper()
	if d < 0 {
		s.t.Fatalf("streamtest: Script.Wait(%v): negative", d)
	}
	return s.add(step{kind: stepWait, wait: d})
}

// SendEOF adds a step where the peer half-closes: reads return [io.EOF] from
// then on, and the code can still write (Expect steps may follow).
func (s *Script) SendEOF() *Script {
	s.t.Helper()
	return s.add(step{kind: stepSendEOF})
}

// Reset adds a step where the peer resets the connection: the next Read or
// Write, and every call after it, fails with an error matching
// [syscall.ECONNRESET] (a [*net.OpError], as a socket's). It is the last
// step.
func (s *Script) Reset() *Script {
	s.t.Helper()
	return s.add(step{kind: stepReset})
}

// ReadError adds a step where the next Read returns err and nothing else;
// the script goes on. err must not be nil.
func (s *Script) ReadError(err error) *Script {
	s.t.Helper()
	if err == nil {
		s.t.Fatalf("streamtest: Script.ReadError(nil)")
	}
	return s.add(step{kind: stepReadError, err: err})
}

// WriteError adds a step where the next Write returns 0 and err, taking
// none of its data; the script goes on. err must not be nil.
func (s *Script) WriteError(err error) *Script {
	s.t.Helper()
	if err == nil {
		s.t.Fatalf("streamtest: Script.WriteError(nil)")
	}
	return s.add(step{kind: stepWriteError, err: err})
}

// ExpectCloseWrite adds a step where the code under test must half-close
// ([Script.CloseWrite], which chanstream's WriteEOF calls). A CloseWrite
// anywhere else fails the test; Writes after it fail with an error matching
// [syscall.EPIPE].
func (s *Script) ExpectCloseWrite() *Script {
	s.t.Helper()
	return s.add(step{kind: stepExpectCloseWrite})
}

// ExpectClose adds a step where the code under test must close the
// connection. A Close elsewhere is no failure in itself, but the steps
// not played by then are.
func (s *Script) ExpectClose() *Script {
	s.t.Helper()
	return s.add(step{kind: stepExpectClose})
}

// advanceLocked makes the next step the current one.
func (s *Script) advanceLocked() {
	s.pos++
	s.off = 0
	s.frontSince = time.Now()
	s.changed.broadcast()
}

// passWaitLocked plays a current Wait step whose time has come, and
// reports when the current one's comes otherwise (the zero time if the
// current step is not a Wait).
func (s *Script) passWaitLocked() time.Time {
	for s.pos < len(s.steps) && s.steps[s.pos].kind == stepWait {
		due := s.frontSince.Add(s.steps[s.pos].wait)
		if time.Now().Before(due) {
			return due
		}
		s.advanceLocked()
	}
	return time.Time{}
}

func (s *Script) opError(op string, err error) error {
	return opError(op, "script", s.LocalAddr(), s.RemoteAddr(), err)
}

// Read reads what the script's Send steps send; see [Script].
func (s *Script) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		switch {
		case s.closed:
			return 0, s.opError("read", net.ErrClosed)
		case s.failed:
			return 0, ErrScript
		case s.reset:
			return 0, s.opError("read", syscall.ECONNRESET)
		case s.eof:
			return 0, io.EOF
		case passed(s.readDeadline):
			return 0, s.opError("read", errDeadline)
		case len(p) == 0:
			return 0, nil
		}
		due := s.passWaitLocked()
		if due.IsZero() && s.pos < len(s.steps) {
			st := &s.steps[s.pos]
			switch st.kind {
			case stepSend:
				n := copy(p, st.data[s.off:])
				s.off += n
				if s.off == len(st.data) {
					s.advanceLocked()
				}
				return n, nil
			case stepSendEOF:
				s.eof = true
				s.advanceLocked()
				return 0, io.EOF
			case stepReset:
				s.reset = true
				s.advanceLocked()
				return 0, s.opError("read", syscall.ECONNRESET)
			case stepReadError:
				s.advanceLocked()
				return 0, st.err
			}
		}
		waitLocked(&s.mu, &s.changed, s.readDeadline, due)
	}
}

// Write compares p with what the script's Expect steps expect; see
// [Script]. It returns how many bytes matched.
func (s *Script) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	waitLimit := time.Now().Add(ScriptWriteWait)
	for {
		switch {
		case s.closed:
			return n, s.opError("write", net.ErrClosed)
		case s.failed:
			return n, ErrScript
		case s.reset:
			return n, s.opError("write", syscall.ECONNRESET)
		case s.wroteEOF:
			return n, s.opError("write", syscall.EPIPE)
		case passed(s.writeDeadline):
			return n, s.opError("write", errDeadline)
		case n == len(p):
			return n, nil
		}
		due := s.passWaitLocked()
		if due.IsZero() {
			if s.pos == len(s.steps) {
				s.failLocked(fmt.Sprintf("the code wrote %s after the end of the script", quoteShort(p[n:])))
				return n, ErrScript
			}
			st := &s.steps[s.pos]
			switch st.kind {
			case stepExpect:
				want := st.data[s.off:]
				k := min(len(want), len(p)-n)
				for i := 0; i < k; i++ {
					if p[n+i] != want[i] {
						s.failLocked(mismatch(s.pos, st, s.off, p[n:], i, s.written+int64(i)))
						return n + i, ErrScript
					}
				}
				n += k
				s.off += k
				s.written += int64(k)
				if s.off == len(st.data) {
					s.advanceLocked()
				}
				continue
			case stepWriteError:
				s.advanceLocked()
				return n, st.err
			case stepReset:
				s.reset = true
				s.advanceLocked()
				return n, s.opError("write", syscall.ECONNRESET)
			case stepExpectCloseWrite, stepExpectClose:
				s.failLocked(fmt.Sprintf("the code wrote %s where the script expects %v (step %d)", quoteShort(p[n:]), st, s.pos+1))
				return n, ErrScript
			}
			// A step for the reads is current: wait for them to play it.
			if !time.Now().Before(waitLimit) {
				s.failLocked(fmt.Sprintf("a Write of %s waited %v for the reads to play step %d, %v", quoteShort(p[n:]), ScriptWriteWait, s.pos+1, st))
				return n, ErrScript
			}
			due = waitLimit
		}
		waitLocked(&s.mu, &s.changed, s.writeDeadline, due)
	}
}

// CloseWrite half-closes the code's side: it plays an
// [Script.ExpectCloseWrite] step, waiting as a Write does while a step for
// the reads is current. Anywhere else it fails the test. Later Writes fail
// with an error matching [syscall.EPIPE].
func (s *Script) CloseWrite() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	waitLimit := time.Now().Add(ScriptWriteWait)
	for {
		switch {
		case s.closed:
			return s.opError("close", net.ErrClosed)
		case s.failed:
			return ErrScript
		case s.reset:
			return s.opError("close", syscall.ECONNRESET)
		case s.wroteEOF:
			return nil
		}
		due := s.passWaitLocked()
		if due.IsZero() {
			if s.pos == len(s.steps) {
				s.failLocked("the code half-closed (CloseWrite) after the end of the script")
				return ErrScript
			}
			st := &s.steps[s.pos]
			switch st.kind {
			case stepExpectCloseWrite:
				s.wroteEOF = true
				s.advanceLocked()
				return nil
			case stepReset:
				s.reset = true
				s.advanceLocked()
				return s.opError("close", syscall.ECONNRESET)
			case stepExpect, stepWriteError, stepExpectClose:
				s.failLocked(fmt.Sprintf("the code half-closed (CloseWrite) where the script expects %v (step %d)", st, s.pos+1))
				return ErrScript
			}
			if !time.Now().Before(waitLimit) {
				s.failLocked(fmt.Sprintf("CloseWrite waited %v for the reads to play step %d, %v", ScriptWriteWait, s.pos+1, st))
				return ErrScript
			}
			due = waitLimit
		}
		waitLocked(&s.mu, &s.changed, s.writeDeadline, due)
	}
}

// Close closes the connection, playing an [Script.ExpectClose] step if it is
// the current one. Blocked calls return an error matching [net.ErrClosed],
// as do later ones; a second Close too.
func (s *Script) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return s.opError("close", net.ErrClosed)
	}
	s.passWaitLocked()
	if s.pos < len(s.steps) && s.steps[s.pos].kind == stepExpectClose {
		s.advanceLocked()
	}
	s.closed = true
	s.changed.broadcast()
	return nil
}

// failLocked fails the test once, with what went wrong.
func (s *Script) failLocked(what string) {
	s.t.Helper()
	if !s.failed {
		s.failed = true
		s.t.Errorf("streamtest: script: %s", what)
	}
	s.changed.broadcast()
}

// unplayedLocked lists the steps not played, Waits aside.
func (s *Script) unplayedLocked() []string {
	var left []string
	for i := s.pos; i < len(s.steps); i++ {
		st := &s.steps[i]
		if st.kind == stepWait {
			continue
		}
		desc := fmt.Sprintf("step %d, %v", i+1, st)
		if i == s.pos && s.off > 0 {
			desc += fmt.Sprintf(" (%d of its %d bytes played)", s.off, len(st.data))
		}
		left = append(left, desc)
	}
	return left
}

// finishWait is how long the end of the test waits for the script to run
// out or the connection to be closed.
const finishWait = 10 * time.Second

// finish runs at the end of the test: it waits for the script to be
// played or the connection closed, reports the steps left, and closes.
func (s *Script) finish() {
	s.mu.Lock()
	defer s.mu.Unlock()
	limit := time.Now().Add(finishWait)
	for !s.closed && !s.failed && len(s.unplayedLocked()) > 0 && time.Now().Before(limit) {
		waitLocked(&s.mu, &s.changed, limit, s.passWaitLocked())
	}
	if left := s.unplayedLocked(); !s.failed && len(left) > 0 {
		s.t.Errorf("streamtest: script: the test ended with steps not played:\n\t%s", strings.Join(left, "\n\t"))
	}
	s.closed = true
	s.changed.broadcast()
}

// LocalAddr returns "script:local".
func (s *Script) LocalAddr() net.Addr { return scriptAddr("script:local") }

// RemoteAddr returns "script:peer".
func (s *Script) RemoteAddr() net.Addr { return scriptAddr("script:peer") }

// SetDeadline sets both deadlines.
func (s *Script) SetDeadline(t time.Time) error { return s.setDeadlines(t, true, true) }

// SetReadDeadline sets the deadline of Read, waking a Read that waits.
func (s *Script) SetReadDeadline(t time.Time) error { return s.setDeadlines(t, true, false) }

// SetWriteDeadline sets the deadline of Write and [Script.CloseWrite].
func (s *Script) SetWriteDeadline(t time.Time) error { return s.setDeadlines(t, false, true) }

func (s *Script) setDeadlines(t time.Time, read, write bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return s.opError("set deadline", net.ErrClosed)
	}
	if read {
		s.readDeadline = t
	}
	if write {
		s.writeDeadline = t
	}
	s.changed.broadcast()
	return nil
}

// mismatchContext is how many bytes around the place where the written
// bytes part from the script a mismatch report quotes.
const mismatchContext = 40

// mismatch describes bytes written that differ from an Expect step (step
// pos+1): the Write's bytes rest were compared from byte stepOff of the
// step, and rest[i] is the first that differs; total bytes written before
// it matched the script.
func mismatch(pos int, st *step, stepOff int, rest []byte, i int, total int64) string {
	at := stepOff + i
	actual := append(append([]byte(nil), st.data[:stepOff]...), rest...)
	from := max(0, at-mismatchContext)
	window := func(b []byte) string {
		q := fmt.Sprintf("%q", b[from:min(len(b), at+mismatchContext)])
		if from > 0 {
			q = "..." + q
		}
		if len(b) > at+mismatchContext {
			q += "..."
		}
		return q
	}
	return fmt.Sprintf("the written bytes part from step %d, %s, at byte %d of the step (byte %d of all written): want %q, got %q\n\twant: %s\n\tgot:  %s",
		pos+1, stepNames[st.kind], at, total, st.data[at:at+1], actual[at:at+1], window(st.data), window(actual))
}

// quoteShort quotes b, cut to a readable length.
func quoteShort(b []byte) string {
	const max = 2 * mismatchContext
	if len(b) > max {
		return fmt.Sprintf("%q... (%d bytes)", b[:max], len(b))
	}
	return fmt.Sprintf("%q", b)
}
