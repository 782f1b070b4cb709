package streamtest

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Direction says which way a [Fault] acts on a [FaultConn]: on the data
// the code under test reads, on the data it writes, or both.
type Direction uint8

const (
	Reads  Direction = 1 << iota // the data read from the connection
	Writes                       // the data written to it
	Both   = Reads | Writes
)

func (d Direction) String() string {
	switch d {
	case Reads:
		return "Reads"
	case Writes:
		return "Writes"
	case Both:
		return "Both"
	}
	return fmt.Sprintf("Direction(%d)", uint8(d))
}

// Fault is one fault that [Inject] puts on a connection. Faults are checked
// by [Inject]: a bad value fails the test there.
type Fault struct {
	dir   Direction
	desc  string
	check error
	set   func(f *dirFaults)
}

// dirFaults are the faults of one direction.
type dirFaults struct {
	chop       int
	latency    time.Duration
	jitter     time.Duration
	rate       int   // bytes per second; 0 is no cap
	eofAfter   int64 // -1 is never
	resetAfter int64
	stallAfter int64
}

func newFault(dir Direction, desc string, check error, set func(f *dirFaults)) Fault {
	if check == nil && (dir == 0 || dir&^Both != 0) {
		check = fmt.Errorf("streamtest: %s: bad direction %v", desc, dir)
	}
	return Fault{dir: dir, desc: desc, check: check, set: set}
}

func checkCount(what string, n int64) error {
	if n < 0 {
		return fmt.Errorf("streamtest: %s: negative byte count", what)
	}
	return nil
}

// Chop cuts the data into pieces of 1 to max bytes, drawn from the random seed:
// each Read returns at most one piece, and each Write is passed on to the
// connection one piece at a time (a socket's peer may still see pieces
// joined, as the kernel buffers them). max must be at least 1.
func Chop(dir Direction, max int) Fault {
	desc := fmt.Sprintf("Chop(%v, %d)", dir, max)
	var check error
	if max < 1 {
		check = fmt.Errorf("streamtest: %s: pieces must be at least 1 byte", desc)
	}
	return newFault(dir, desc, check, func(f *dirFaults) { f.chop = max })
}

// Latency holds back each Read's data (after it arrived) or each Write's
// piece (before it is passed on) by d plus a part of jitter drawn from the
// seed, from 0 to jitter. Neither may be negative.
func Latency(dir Direction, d, jitter time.Duration) Fault {
	desc := fmt.Sprintf("Latency(%v, %v, %v)", dir, d, jitter)
	var check error
	if d < 0 || jitter < 0 {
		check = fmt.Errorf("streamtest: %s: negative duration", desc)
	}
	return newFault(dir, desc, check, func(f *dirFaults) { f.latency, f.jitter = d, jitter })
}

// Bandwidth caps the rate at bytesPerSecond: after each Read or Write
// piece the call waits until the bytes so far, counted from the first,
// are within the cap. bytesPerSecond must be positive.
func Bandwidth(dir Direction, bytesPerSecond int) Fault {
	desc := fmt.Sprintf("Bandwidth(%v, %d)", dir, bytesPerSecond)
	var check error
	if bytesPerSecond < 1 {
		check = fmt.Errorf("streamtest: %s: the rate must be positive", desc)
	}
	return newFault(dir, desc, check, func(f *dirFaults) { f.rate = bytesPerSecond })
}

// EOFAfter ends the data after n bytes, as a half-close that arrives early.
// On [Reads], the code reads exactly n bytes and then [io.EOF], whatever the
// peer sends after them. On [Writes], n bytes are passed on, then the
// connection's write half is closed (CloseWrite, or Close for a connection
// without it), so that the peer reads EOF; the Write that crosses n returns
// the bytes passed on and an error matching [syscall.EPIPE], as do later
// Writes. n must not be negative.
func EOFAfter(dir Direction, n int64) Fault {
	desc := fmt.Sprintf("EOFAfter(%v, %d)", dir, n)
	return newFault(dir, desc, checkCount(desc, n), func(f *dirFaults) { f.eofAfter = n })
}

// ResetAfter resets the connection once n bytes have gone the given way: the
// connection is closed (with SO_LINGER 0 on TCP, so that the peer sees a
// reset), and the call that crosses n returns the bytes before it and an
// error matching [syscall.ECONNRESET], as do all later Reads and Writes. n
// must not be negative.
func ResetAfter(dir Direction, n int64) Fault {
	desc := fmt.Sprintf("ResetAfter(%v, %d)", dir, n)
	return newFault(dir, desc, checkCount(desc, n), func(f *dirFaults) { f.resetAfter = n })
}

// StallAfter stops the data after n bytes while the connection stays
// open: Reads past n wait, without reading the connection, and Writes
// past n wait without passing anything on, until their deadline or Close.
// The other direction goes on. n must not be negative.
func StallAfter(dir Direction, n int64) Fault {
	desc := fmt.Sprintf("StallAfter(%v, %d)", dir, n)
	return newFault(dir, desc, checkCount(desc, n), func(f *dirFaults) { f.stallAfter = n })
}

// faultDir is the state of one direction of a FaultConn.
type faultDir struct {
	mu    sync.Mutex // serialises the calls of the direction
	f     dirFaults
	rnd   *rand.Rand
	count int64     // bytes that went this way
	start time.Time // when the first byte did, for the rate
}

// FaultConn wraps a [net.Conn] with faults; [Inject] makes one. It is a
// net.Conn, with [FaultConn.CloseWrite] (which fails if the connection has
// none). Everything drawn at random comes from the random seed, one stream of draws
// per direction, so that a test sees the same pieces and delays on each run
// as long as it makes the same calls. A Read or Write that a fault makes
// wait wakes on Close and at its deadline, with an error matching
// [net.ErrClosed] or [os.ErrDeadlineExceeded].
type FaultConn struct {
	conn net.Conn

	read, write faultDir

	mu            sync.Mutex // guards what follows
	changed       signal
	closed        bool
	reset         bool
	wroteEOF      bool
	readDeadline  time.Time
	writeDeadline time.Time
}

var _ net.Conn = (*FaultConn)(nil)

// Inject wraps conn with the faults, drawing what is random from seed, and
// closes it when the test ends. A bad fault (see each) fails the test.
func Inject(t testing.TB, conn net.Conn, seed uint64, faults ...Fault) *FaultConn {
	t.Helper()
	c, err := NewFaultConn(conn, seed, faults...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// InjectPair is [Inject] on both ends of a pair, with seeds seed and seed+1:
// the [Reads] faults of one end act on what the other writes.
func InjectPair(t testing.TB, a, b net.Conn, seed uint64, faults ...Fault) (*FaultConn, *FaultConn) {
	t.Helper()
	return Inject(t, a, seed, faults...), Inject(t, b, seed+1, faults...)
}

// NewFaultConn is [Inject] for use outside a test: it returns an error for
// a bad fault, and the caller closes the connection.
func NewFaultConn(conn net.Conn, seed uint64, faults ...Fault) (*FaultConn, error) {
	c := &FaultConn{conn: conn}
	for _, d := range []*faultDir{&c.read, &c.write} {
		d.f = dirFaults{eofAfter: -1, resetAfter: -1, stallAfter: -1}
	}
	c.read.rnd = rand.New(rand.NewPCG(seed, 1))
	c.write.rnd = rand.New(rand.NewPCG(seed, 2))
	for _, f := range faults {
		if f.set == nil {
			return nil, errors.New("streamtest: the zero Fault")
		}
		if f.check != nil {
			return nil, f.check
		}
		if f.dir&Reads != 0 {
			f.set(&c.read.f)
		}
		if f.dir&Writes != 0 {
			f.set(&c.write.f)
		}
	}
	return c, nil
}

// Conn returns the wrapped connection.
func (c *FaultConn) Conn() net.Conn { return c.conn }

// Counts returns how many bytes were read and written through c.
func (c *FaultConn) Counts() (read, written int64) {
	c.read.mu.Lock()
	read = c.read.count
	c.read.mu.Unlock()
	c.write.mu.Lock()
	written = c.write.count
	c.write.mu.Unlock()
	return read, written
}

func (c *FaultConn) opError(op string, err error) error {
	return opError(op, c.conn.LocalAddr().Network(), c.conn.LocalAddr(), c.conn.RemoteAddr(), err)
}

// pause waits until until (the zero time: until Close or the deadline),
// returning an error if c is closed or the deadline of the direction
// passes first.
func (c *FaultConn) pause(op string, until time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		deadline := c.readDeadline
		if op == "write" {
			deadline = c.writeDeadline
		}
		switch {
		case c.closed:
			return c.opError(op, net.ErrClosed)
		case c.reset:
			return c.opError(op, syscall.ECONNRESET)
		case passed(deadline):
			return c.opError(op, errDeadline)
		case !until.IsZero() && !time.Now().Before(until):
			return nil
		}
		waitLocked(&c.mu, &c.changed, deadline, until)
	}
}

// delay returns the latency of the next piece.
func (d *faultDir) delay() time.Duration {
	if d.f.latency == 0 && d.f.jitter == 0 {
		return 0
	}
	return d.f.latency + time.Duration(d.rnd.Int64N(int64(d.f.jitter)+1))
}

// pieceLimit returns how many of want bytes the next piece may carry:
// a drawn piece size, and no byte past a threshold.
func (d *faultDir) pieceLimit(want int) int {
	n := want
	if d.f.chop > 0 {
		n = min(n, 1+d.rnd.IntN(d.f.chop))
	}
	for _, at := range []int64{d.f.eofAfter, d.f.resetAfter, d.f.stallAfter} {
		if at >= 0 && at > d.count {
			n = int(min(int64(n), at-d.count))
		}
	}
	return n
}

// account counts n bytes and returns when the rate cap lets the next go.
func (d *faultDir) account(n int) time.Time {
	if d.start.IsZero() && n > 0 {
		d.start = time.Now()
	}
	d.count += int64(n)
	if d.f.rate == 0 || n == 0 {
		return time.Time{}
	}
	return d.start.Add(time.Duration(float64(d.count) / float64(d.f.rate) * float64(time.Second)))
}

// at reports whether the count has reached threshold at.
func (d *faultDir) at(threshold int64) bool { return threshold >= 0 && d.count >= threshold }

// resetConn resets the connection (once).
func (c *FaultConn) resetConn() {
	c.mu.Lock()
	already := c.reset
	c.reset = true
	c.changed.broadcast()
	c.mu.Unlock()
	if already {
		return
	}
	if tc, ok := c.conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.conn.Close()
}

// state returns the flags the calls look at first.
func (c *FaultConn) state() (closed, reset, wroteEOF bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed, c.reset, c.wroteEOF
}

// Read reads from the connection through the faults on [Reads].
func (c *FaultConn) Read(p []byte) (int, error) {
	d := &c.read
	d.mu.Lock()
	defer d.mu.Unlock()
	closed, reset, _ := c.state()
	switch {
	case closed:
		return 0, c.opError("read", net.ErrClosed)
	case reset:
		return 0, c.opError("read", syscall.ECONNRESET)
	case d.at(d.f.eofAfter):
		return 0, io.EOF
	case d.at(d.f.resetAfter):
		c.resetConn()
		return 0, c.opError("read", syscall.ECONNRESET)
	case d.at(d.f.stallAfter):
		return 0, c.pause("read", time.Time{})
	case len(p) == 0:
		return c.conn.Read(p)
	}
	n, err := c.conn.Read(p[:d.pieceLimit(len(p))])
	if n > 0 {
		if delay := d.delay(); delay > 0 {
			if perr := c.pause("read", time.Now().Add(delay)); perr != nil && err == nil {
				err = perr // the bytes are returned all the same
			}
		}
		if next := d.account(n); !next.IsZero() {
			if perr := c.pause("read", next); perr != nil && err == nil {
				err = perr
			}
		}
		if d.at(d.f.resetAfter) {
			c.resetConn() // the next Read reports it
		}
	}
	return n, err
}

// Write writes to the connection through the faults on [Writes].
func (c *FaultConn) Write(p []byte) (int, error) {
	d := &c.write
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for {
		closed, reset, wroteEOF := c.state()
		switch {
		case n == len(p) && n > 0:
			return n, nil
		case closed:
			return n, c.opError("write", net.ErrClosed)
		case reset:
			return n, c.opError("write", syscall.ECONNRESET)
		case wroteEOF:
			return n, c.opError("write", syscall.EPIPE)
		case d.at(d.f.eofAfter):
			c.closeWrite()
			return n, c.opError("write", syscall.EPIPE)
		case d.at(d.f.resetAfter):
			c.resetConn()
			return n, c.opError("write", syscall.ECONNRESET)
		case d.at(d.f.stallAfter):
			return n, c.pause("write", time.Time{})
		case len(p) == 0:
			return c.conn.Write(p)
		}
		piece := p[n : n+d.pieceLimit(len(p)-n)]
		if delay := d.delay(); delay > 0 {
			if err := c.pause("write", time.Now().Add(delay)); err != nil {
				return n, err
			}
		}
		k, err := c.conn.Write(piece)
		n += k
		next := d.account(k)
		if err != nil {
			return n, err
		}
		if !next.IsZero() {
			if err := c.pause("write", next); err != nil {
				return n, err
			}
		}
		if n == len(p) && d.at(d.f.eofAfter) {
			c.closeWrite() // the bytes are through: the peer reads EOF now
		}
	}
}

// closeWrite closes the write half of the connection for EOFAfter.
func (c *FaultConn) closeWrite() {
	c.mu.Lock()
	already := c.wroteEOF
	c.wroteEOF = true
	c.mu.Unlock()
	if already {
		return
	}
	if cw, ok := c.conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	} else {
		c.conn.Close()
	}
}

// CloseWrite closes the write half of the connection, if it has one.
func (c *FaultConn) CloseWrite() error {
	cw, ok := c.conn.(interface{ CloseWrite() error })
	if !ok {
		return fmt.Errorf("streamtest: a %T cannot half-close", c.conn)
	}
	c.mu.Lock()
	c.wroteEOF = true
	c.mu.Unlock()
	return cw.CloseWrite()
}

// Close closes the connection and wakes the calls that faults hold.
func (c *FaultConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.changed.broadcast()
	c.mu.Unlock()
	return c.conn.Close()
}

// LocalAddr is the connection's.
func (c *FaultConn) LocalAddr() net.Addr { return c.conn.LocalAddr() }

// RemoteAddr is the connection's.
func (c *FaultConn) RemoteAddr() net.Addr { return c.conn.RemoteAddr() }

// SetDeadline sets both deadlines, on the connection and on the waits of
// the faults.
func (c *FaultConn) SetDeadline(t time.Time) error {
	c.setDeadlines(t, true, true)
	return c.conn.SetDeadline(t)
}

// SetReadDeadline sets the read deadline, on the connection and on the
// waits of the faults.
func (c *FaultConn) SetReadDeadline(t time.Time) error {
	c.setDeadlines(t, true, false)
	return c.conn.SetReadDeadline(t)
}

// SetWriteDeadline sets the write deadline, on the connection and on the
// waits of the faults.
func (c *FaultConn) SetWriteDeadline(t time.Time) error {
	c.setDeadlines(t, false, true)
	return c.conn.SetWriteDeadline(t)
}

func (c *FaultConn) setDeadlines(t time.Time, read, write bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if read {
		c.readDeadline = t
	}
	if write {
		c.writeDeadline = t
	}
	c.changed.broadcast()
}
