package chanstream

import (
	"context"
	"errors"
	"io"
	"iter"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chanstream/chanstream/internal/hooks"
)

// Reader is the read half of a stream: asyncio's StreamReader. A producer
// (the stream's read pump, or Feed for a standalone Reader) sends chunks of
// bytes on a bounded channel; the read methods keep what they have not
// returned yet and wait on that channel together with their ctx, the
// reader's close and its deadline.
//
// Read methods may be called from several goroutines: calls are serialised,
// so each gets a whole result (a whole line, a whole [Reader.ReadExactly]),
// and a call waiting its turn still gives up on its ctx. A ctx that is done
// makes any read return ctx.Err() without consuming anything, so the next
// read sees every byte; the same holds for an expired read deadline
// ([os.ErrDeadlineExceeded]).
//
// When the stream ends with an error rather than EOF (a reset connection, or
// [Reader.FeedError]), every buffered byte is returned first, by the rules
// asyncio applies at EOF ([Reader.ReadLine] returns a last partial line,
// [Reader.ReadUntil] and ReadExactly an [*IncompleteReadError] carrying the
// bytes); only then do reads return the error. asyncio raises it before
// returning buffered data.
//
// Slices returned by ReadLine, ReadUntil, ReadExactly and [Reader.ReadChunk]
// belong to the caller and stay valid; they may share memory with the buffer
// they were read into (one buffer serves many lines), so keeping a small
// slice keeps its buffer (up to 64 KiB) alive. Copy it to keep it for long.
type Reader struct {
	limit int

	// Producer side: the read pump, or Feed.
	chunks    atomic.Pointer[chunkChan] // made by newReader, or when a stream's pump first starts (makeChunks)
	endMu     sync.Mutex                // orders commits against the end of the stream, and guards closedCh
	endErr    error                     // endMu; immutable once ended
	endCh     chan struct{}             // endMu: made when first asked for (endChan), closed by finish
	flags     atomic.Uint32             // readerEnded, readerClosed, readerEOFFed: for reading without a lock
	ended     bool                      // endMu: nothing more will be committed
	fedByConn bool
	atEnd     bool // gate: the end was taken in: no more chunks will come

	// Consumer side, guarded by gate. The buffer's consumed count is
	// published by unlocking the gate (end), so that others read it
	// without taking the gate (consumedBytes).
	gate gate
	segBuffer

	closedCh chan struct{} // endMu: made when first asked for (closedChan), closed by close
	deadline deadline

	received    atomic.Int64 // bytes committed by the producer
	limitErrors atomic.Int64

	helpers atomic.Pointer[receivers] // goroutines behind ChunkChan and LineChan; made by the first

	src source // what a read call with nothing buffered waits on: its Stream; nil for NewReader

	waitHook func() // tests: runs just before a read blocks for data
}

// A Reader's flags, one word rather than an atomic.Bool each.
const (
	readerEnded  uint32 = 1 << iota // ended, for reading without endMu
	readerClosed                    // closed by close
	readerEOFFed                    // finish(io.EOF) was called
)

func (r *Reader) isEnded() bool  { return r.flags.Load()&readerEnded != 0 }
func (r *Reader) isClosed() bool { return r.flags.Load()&readerClosed != 0 }

func init() {
	hooks.SetWaitHook = func(reader any, f func()) { reader.(*Reader).waitHook = f }
	hooks.WakeStream = func(stream any) { stream.(*Stream).wake() }
	hooks.WatchCtx = func(stream any, ctx context.Context) { stream.(*Stream).watchCtx(ctx) }
	hooks.TakeBufferedLines = func(reader any, lines [][]byte, max int) [][]byte {
		return reader.(*Reader).takeBufferedLines(lines, max)
	}
}

// NewReader returns a standalone [Reader] fed by hand with Feed, FeedEOF and
// FeedError, as asyncio's StreamReader() with feed_data and feed_eof. It
// panics if an option is invalid (for example WithLimit(0)); [CheckOptions]
// reports the same error.
func NewReader(opts ...Option) *Reader {
	return newReader(mustConfig("NewReader", opts), false)
}

func newReader(cfg config, fedByConn bool) *Reader {
	r := new(Reader)
	r.init(cfg, fedByConn)
	return r
}

// init makes r a new Reader in place (a Stream's is part of the Stream).
func (r *Reader) init(cfg config, fedByConn bool) {
	r.limit, r.fedByConn = cfg.limit, fedByConn
	if !fedByConn {
		r.makeChunks()
	}
}

// Limit returns the reader's buffer limit.
func (r *Reader) Limit() int { return r.limit }

// ---- Consumer side: what follows runs with the gate held, once begin or
// enter has taken it ----

// begin starts a read call: it fails at once on a closed reader, an expired
// deadline or a done ctx, and otherwise waits for the gate. A read call ends
// with end.
func (r *Reader) begin(ctx context.Context) error {
	if r.enter(ctx) {
		return nil
	}
	return r.beginWait(ctx)
}

// enter is begin without the wait: it takes the gate if it is free, the
// reader open, its deadline not passed and ctx not done, and reports
// whether it did, having changed nothing if not. It takes no lock but the
// gate's compare-and-swap: the read calls try it first, and answer from the
// buffer at once when they can, with no defer.
func (r *Reader) enter(ctx context.Context) bool {
	if !r.gate.tryLock() {
		return false
	}
	if r.flags.Load()&readerClosed != 0 || r.deadline.expired.Load() || ctx.Err() != nil || r.viewed != nil {
		return r.enterSlow(ctx)
	}
	return true
}

// enterSlow finishes enter, gate held, when a view must end or the call
// cannot go on: kept out of enter, so that the common case stays short.
func (r *Reader) enterSlow(ctx context.Context) bool {
	if r.flags.Load()&readerClosed != 0 || r.deadline.expired.Load() || ctx.Err() != nil {
		r.end()
		return false
	}
	r.release() // a read call ends the validity of views
	return true
}

// beginWait is begin when enter failed: it reports why, or waits for the
// gate.
func (r *Reader) beginWait(ctx context.Context) error {
	if r.isClosed() {
		return ErrClosed
	}
	if r.deadline.expired.Load() {
		return errDeadline
	}
	if err := ctx.Err(); err != nil { // not ctx.Done(), which may make a channel
		return err
	}
	if !r.gate.tryLock() {
		if err := r.gate.lock(ctx, r.closedChan(), r.deadline.done()); err != nil {
			return err
		}
		if r.isClosed() {
			r.end()
			return ErrClosed
		}
	}
	r.release() // a read call ends the validity of views
	return nil
}

// end ends a read call, publishing the consumed count.
func (r *Reader) end() { r.gate.unlock(uint64(r.consumed)) }

// consumedBytes returns the consumed count last published, or the count of
// the Receiver whose values are in flight (see Receiver.consumed).
func (r *Reader) consumedBytes() int64 {
	if h := r.helpers.Load(); h != nil {
		if rc := h.active.Load(); rc != nil {
			if !rc.drained() {
				return rc.consumed()
			}
			h.active.CompareAndSwap(rc, nil) // its count is the gate's again
		}
	}
	return int64(r.gate.value())
}

// endSeen returns endErr once the end has been taken in (atEnd), and nil
// before: endErr is immutable once ended, and atEnd is set only after the end
// was seen, so that the consumer needs no copy of its own.
func (r *Reader) endSeen() error {
	if r.atEnd {
		return r.endErr
	}
	return nil
}

// fill waits for more data. It returns nil once more bytes are buffered or
// the end of the stream has been taken in (r.atEnd); otherwise it returns why
// it stopped waiting, with nothing consumed.
func (r *Reader) fill(ctx context.Context) error {
	if r.drain() || r.atEnd {
		return nil
	}
	if r.waitHook != nil {
		r.waitHook()
	}
	if v := uint64(r.consumed); r.gate.value() != v {
		r.gate.publish(v) // the count stays right while we wait
	}
	if r.src != nil {
		return r.src.waitData(ctx)
	}
	return r.wait(ctx)
}

// takeIn adds c, read from the socket by a read call (with the gate held),
// to the buffered data, unless the reader is closed or the stream has
// ended meanwhile.
func (r *Reader) takeIn(c *chunk) {
	r.endMu.Lock()
	if r.ended || r.isClosed() {
		r.endMu.Unlock()
		putChunk(c)
		return
	}
	r.received.Add(int64(c.len()))
	r.endMu.Unlock()
	r.push(c)
}

// closedChan returns a channel closed when the reader is closed.
func (r *Reader) closedChan() <-chan struct{} {
	r.endMu.Lock()
	defer r.endMu.Unlock()
	if r.closedCh == nil {
		if r.isClosed() {
			return closedChan
		}
		r.closedCh = make(chan struct{})
	}
	return r.closedCh
}

// errEnded is readUntil's internal report that the stream ended first.
var errEnded = &IncompleteReadError{}

// readUntil runs asyncio's readuntil over the buffered data, waiting for
// more as needed, and returns where the chosen separator starts and ends.
// seps is sorted by length, shortest first; of the separators found, the
// one whose occurrence ends first wins, and between equal ends the shorter.
// Nothing is consumed.
func (r *Reader) readUntil(ctx context.Context, seps [][]byte) (start, end int, err error) {
	r.drain()
	offset := 0 // the data before offset holds no separator
	for {
		start, end, err = r.scan(seps, &offset)
		if err != errMore {
			return start, end, err
		}
		if err = r.fill(ctx); err != nil {
			return -1, -1, err
		}
	}
}

// errMore is scan's report that the separator may lie in data yet to come.
var errMore = errors.New("chanstream: more data needed")

// scan is readUntil over the data buffered now: it returns errMore when it
// needs more, having moved *offset past the data that holds no separator,
// and errEnded if none will come.
func (r *Reader) scan(seps [][]byte, offset *int) (start, end int, err error) {
	minLen, maxLen := len(seps[0]), len(seps[len(seps)-1])
	if r.buffered-*offset >= minLen {
		if start, end = r.sepFrom(seps, *offset); end >= 0 {
			if start > r.limit {
				r.limitErrors.Add(1)
				return -1, -1, &LimitOverrunError{Consumed: start}
			}
			return start, end, nil
		}
		*offset = max(0, r.buffered+1-maxLen)
		if *offset > r.limit {
			r.limitErrors.Add(1)
			return -1, -1, &LimitOverrunError{Consumed: *offset}
		}
	}
	// A separator may be complete even at the end, so look first.
	if r.atEnd {
		return -1, -1, errEnded
	}
	return -1, -1, errMore
}

// incomplete reports the end of the stream to a call that wanted expected
// bytes (-1: a separator): an *IncompleteReadError with what is buffered,
// which it consumes, or, once nothing is left after an error, the error.
func (r *Reader) incomplete(expected int) error {
	if r.buffered == 0 && r.endSeen() != io.EOF {
		return r.endSeen()
	}
	return &IncompleteReadError{Partial: r.take(r.buffered), Expected: expected}
}

var newline = [][]byte{{'\n'}}

// sortSeps validates seps and returns them sorted by length, shortest first,
// without changing the caller's slice. No separator means "\n".
func sortSeps(seps [][]byte, scratch *[4][]byte) ([][]byte, error) {
	switch len(seps) {
	case 0:
		return newline, nil
	case 1:
		if len(seps[0]) == 0 {
			return nil, ErrEmptySeparator
		}
		return seps, nil
	case 2:
		if len(seps[0]) == 0 || len(seps[1]) == 0 {
			return nil, ErrEmptySeparator
		}
		if len(seps[1]) < len(seps[0]) {
			scratch[0], scratch[1] = seps[1], seps[0]
			return scratch[:2], nil
		}
		return seps, nil
	}
	var sorted [][]byte
	if len(seps) <= len(scratch) {
		sorted = append(scratch[:0], seps...)
	} else {
		sorted = slices.Clone(seps)
	}
	for _, s := range sorted {
		if len(s) == 0 {
			return nil, ErrEmptySeparator
		}
	}
	slices.SortStableFunc(sorted, func(a, b []byte) int { return len(a) - len(b) })
	return sorted, nil
}

// ReadUntil reads data through a separator (asyncio's readuntil) and returns
// it, separator included. With no seps it reads through "\n"; with several,
// it returns the shortest data that ends in any of them, as Python 3.13.
//
// If the separator is not found within the reader's limit, it returns a
// [*LimitOverrunError] and the data stays buffered: Consumed bytes can be
// skipped with Discard, or [Reader.DiscardUntil] can skip through the next
// separator. If the stream ends first, it returns an [*IncompleteReadError]
// with Expected == -1 whose Partial holds all the buffered data, which is
// consumed. An empty separator is an error ([ErrEmptySeparator]). On a done
// ctx or a passed deadline nothing is consumed.
func (r *Reader) ReadUntil(ctx context.Context, seps ...[]byte) ([]byte, error) {
	var scratch [4][]byte
	sorted, err := sortSeps(seps, &scratch)
	if err != nil {
		return nil, err
	}
	if r.enter(ctx) {
		if end := r.firstSep(sorted, r.limit); end >= 0 {
			b := r.take(end)
			r.end()
			return b, nil
		}
	} else if err := r.beginWait(ctx); err != nil {
		return nil, err
	}
	defer r.end()
	_, end, err := r.readUntil(ctx, sorted)
	switch {
	case err == nil:
		return r.take(end), nil
	case err == errEnded:
		return nil, r.incomplete(-1)
	}
	return nil, err
}

// ReadLine reads one line, "\n" included (asyncio's readline). At the end of
// the stream it returns the last, unterminated line with a nil error, then
// an empty slice and [io.EOF].
//
// A line longer than the limit (not counting "\n") gives a
// [*LimitOverrunError], after discarding as asyncio does: through the "\n"
// if it was found, else everything buffered. Its Consumed is the number of
// bytes discarded. As with asyncio, the rest of a line that had not all
// arrived is then read as a line of its own (how much of it depends on what
// was buffered when the limit was hit); to skip it reliably, call
// DiscardUntil(ctx, []byte("\n")) after the error.
func (r *Reader) ReadLine(ctx context.Context) ([]byte, error) {
	if r.enter(ctx) {
		if line := r.takeLine(r.limit); line != nil {
			r.end()
			return line, nil
		}
	} else if err := r.beginWait(ctx); err != nil {
		return nil, err
	}
	defer r.end()
	return r.readLine(ctx)
}

// takeBufferedLines is ReadLine's fast path alone, repeated under one
// hold of the gate: it appends the lines that are whole in the first
// buffered chunk, up to max in all, with no wait (see
// hooks.TakeBufferedLines).
func (r *Reader) takeBufferedLines(lines [][]byte, max int) [][]byte {
	if len(lines) >= max || !r.enter(context.Background()) {
		return lines
	}
	for len(lines) < max {
		line := r.takeLine(r.limit)
		if line == nil {
			break
		}
		lines = append(lines, line)
	}
	r.end()
	return lines
}

// readLine is ReadLine with the gate held.
func (r *Reader) readLine(ctx context.Context) ([]byte, error) {
	if line := r.takeLine(r.limit); line != nil {
		return line, nil
	}
	// readUntil, with the wait here rather than in a call below: a handler
	// waiting for a line keeps its goroutine's stack small.
	r.drain()
	offset := 0
	for {
		_, end, err := r.scan(newline, &offset)
		if err == errMore {
			if err = r.fill(ctx); err == nil {
				continue
			}
		}
		if err == nil {
			return r.take(end), nil
		}
		return r.lineEnd(err)
	}
}

// lineEnd finishes a line read that readUntil could not complete: the end of
// the stream, the limit, or why it stopped waiting.
func (r *Reader) lineEnd(err error) ([]byte, error) {
	switch err := err.(type) {
	case *IncompleteReadError:
		if r.buffered > 0 {
			return r.take(r.buffered), nil
		}
		if r.endSeen() == io.EOF {
			return []byte{}, io.EOF
		}
		return nil, r.endSeen()
	case *LimitOverrunError:
		n := r.buffered
		if err.Consumed < r.buffered && r.byteAt(err.Consumed) == '\n' {
			n = err.Consumed + 1
		}
		r.skip(n)
		err.Consumed = n
		return nil, err
	default:
		return nil, err
	}
}

// ReadExactly reads exactly n bytes (asyncio's readexactly). A negative n is
// an error ([ErrNegativeCount]); n == 0 returns an empty slice at once. If
// the stream ends first, it returns an *IncompleteReadError{Partial,
// Expected: n} with the bytes there were, which are consumed. n is not
// limited by the reader's limit. On a done ctx or a passed deadline nothing
// is consumed.
func (r *Reader) ReadExactly(ctx context.Context, n int) ([]byte, error) {
	if n < 0 {
		return nil, ErrNegativeCount
	}
	if r.enter(ctx) {
		if n <= r.firstLen() {
			b := r.take(n)
			r.end()
			return b, nil
		}
	} else if err := r.beginWait(ctx); err != nil {
		return nil, err
	}
	defer r.end()
	r.drain()
	for r.buffered < n {
		if r.atEnd {
			return nil, r.incomplete(n)
		}
		if err := r.fill(ctx); err != nil {
			return nil, err
		}
	}
	return r.take(n), nil
}

// ReadChunk reads up to n bytes (asyncio's read(n)). For n > 0 it returns as
// soon as at least one byte is available, with as many as are (at most n);
// at the end of the stream with nothing buffered it returns an empty slice
// and [io.EOF] (or the error that ended the stream). n == 0 returns an empty
// slice at once. n < 0 reads until EOF and returns everything with a nil
// error; if the stream ends with an error instead, it returns everything
// with that error.
func (r *Reader) ReadChunk(ctx context.Context, n int) ([]byte, error) {
	if r.enter(ctx) {
		if n > 0 && r.buffered > 0 {
			b := r.chunkNow(n)
			r.end()
			return b, nil
		}
	} else if err := r.beginWait(ctx); err != nil {
		return nil, err
	}
	defer r.end()
	return r.readChunk(ctx, n)
}

// readChunk is ReadChunk with the gate held.

func (r *Reader) readChunk(ctx context.Context, n int) ([]byte, error) {
	switch {
	case n == 0:
		return []byte{}, nil
	case n < 0:
		for !r.atEnd {
			if err := r.fill(ctx); err != nil {
				return nil, err
			}
		}
		b := r.take(r.buffered)
		if r.endSeen() != io.EOF {
			return b, r.endSeen()
		}
		return b, nil
	}
	if err := r.await(ctx); err != nil {
		return []byte{}, err
	}
	return r.chunkNow(n), nil
}

// chunkNow consumes and returns up to n > 0 of the bytes buffered, of which
// there is at least one.
func (r *Reader) chunkNow(n int) []byte {
	if r.fedByConn && r.segs[0].len() >= min(n, gatherMin) {
		// The chunk the connection gave is enough: hand it out without
		// gathering more behind it, which would cost a copy. (How a
		// connection's data is cut into chunks is up to the network
		// anyway.)
		return r.take(min(n, r.segs[0].len()))
	}
	if r.buffered < n {
		r.drain() // as asyncio, return all there is, up to n
	}
	return r.take(min(n, r.buffered))
}

// gatherMin is how much data from a connection ReadChunk returns from one
// chunk rather than gather more.
const gatherMin = 4096

// await waits until at least one byte is buffered. At the end of the stream
// it returns io.EOF or the error that ended it.
func (r *Reader) await(ctx context.Context) error {
	for r.buffered == 0 {
		if r.atEnd {
			return r.endSeen()
		}
		if err := r.fill(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Read reads up to len(p) bytes into p: the [Reader] is an [io.Reader]. It
// waits for at least one byte, with no ctx but the reader's read deadline,
// and returns [io.EOF] at the end of the stream.
func (r *Reader) Read(p []byte) (int, error) {
	return r.ReadContext(context.Background(), p)
}

// ReadContext is Read with a ctx.
func (r *Reader) ReadContext(ctx context.Context, p []byte) (int, error) {
	if r.enter(ctx) {
		if len(p) > 0 && r.buffered > 0 {
			if r.buffered < len(p) {
				r.drain()
			}
			n := r.copyOut(p)
			r.end()
			return n, nil
		}
	} else if err := r.beginWait(ctx); err != nil {
		return 0, err
	}
	defer r.end()
	if len(p) == 0 {
		return 0, nil
	}
	if err := r.await(ctx); err != nil {
		return 0, err
	}
	if r.buffered < len(p) {
		r.drain()
	}
	return r.copyOut(p), nil
}

// Discard skips the next n bytes without returning them, waiting for them as
// needed; the memory it holds stays within one chunk whatever n is. It
// returns how many bytes it skipped, which is fewer than n only with an
// error: [io.EOF] at the end of the stream, ctx.Err(), and so on.
func (r *Reader) Discard(ctx context.Context, n int) (int, error) {
	if n < 0 {
		return 0, ErrNegativeCount
	}
	if err := r.begin(ctx); err != nil {
		return 0, err
	}
	defer r.end()
	done := 0
	for {
		k := min(n-done, r.buffered)
		r.skip(k)
		done += k
		if done == n {
			return done, nil
		}
		if r.atEnd {
			return done, r.endSeen()
		}
		if err := r.fill(ctx); err != nil {
			return done, err
		}
	}
}

// DiscardUntil skips data through the next separator (as [Reader.ReadUntil]
// would return it, but with no limit and without holding the data), and
// returns how many bytes it skipped, separator included. It is how a caller
// resynchronises after a [*LimitOverrunError]. If the stream ends first, it
// skips everything and returns [io.EOF] (or the error that ended the
// stream).
func (r *Reader) DiscardUntil(ctx context.Context, seps ...[]byte) (int, error) {
	var scratch [4][]byte
	sorted, err := sortSeps(seps, &scratch)
	if err != nil {
		return 0, err
	}
	if err := r.begin(ctx); err != nil {
		return 0, err
	}
	defer r.end()
	maxLen := len(sorted[len(sorted)-1])
	done := 0
	r.drain()
	for {
		if _, end := r.sepFrom(sorted, 0); end >= 0 {
			r.skip(end)
			return done + end, nil
		}
		// Keep what could be the start of a separator.
		if k := r.buffered - (maxLen - 1); k > 0 {
			r.skip(k)
			done += k
		}
		if r.atEnd {
			k := r.buffered
			r.skip(k)
			return done + k, r.endSeen()
		}
		if err := r.fill(ctx); err != nil {
			return done, err
		}
	}
}

// AtEOF reports whether the stream has reached EOF and every byte has been
// read (asyncio's at_eof). It is false after an error.
//
// On a socket nobody is reading, with every byte read, it first takes in
// what the socket already holds, without waiting: an end of the stream that
// has arrived is then seen at once, as asyncio's event loop would have fed
// it, rather than when the stream next reads the socket.
func (r *Reader) AtEOF() bool {
	if r.atEOF() {
		return true
	}
	if r.src != nil && !r.isEnded() && r.received.Load() == r.consumedBytes() {
		r.src.poll()
	}
	return r.atEOF()
}

func (r *Reader) atEOF() bool {
	return r.flags.Load()&readerEOFFed != 0 && r.received.Load() == r.consumedBytes()
}

// Lines returns an iterator over the lines of the stream, as asyncio's
// `async for line in reader`: each line ends in "\n" but possibly the last.
// It stops at EOF; on any other error it yields (nil, err) and stops.
func (r *Reader) Lines(ctx context.Context) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		for {
			line, err := r.ReadLine(ctx)
			if err == io.EOF {
				return
			}
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(line, nil) {
				return
			}
		}
	}
}

// SetReadDeadline sets the deadline for read calls, with [net.Conn]'s
// semantics: once it passes, pending and future reads fail with an error
// matching [os.ErrDeadlineExceeded], consuming nothing; a new deadline in
// the future (or the zero time, none) makes reads work again.
func (r *Reader) SetReadDeadline(t time.Time) error {
	r.deadline.set(t, r.src)
	return nil
}

// close closes the reader for its stream: pending and future reads fail
// with ErrClosed, and buffered data is dropped.
func (r *Reader) close() {
	r.endMu.Lock() // endMu guards closedCh too: a mutex less per Reader
	if r.isClosed() {
		r.endMu.Unlock()
		return
	}
	r.flags.Or(readerClosed)
	if r.closedCh != nil {
		close(r.closedCh)
	}
	r.endMu.Unlock()
	r.deadline.stop()
}

// Err returns the error that ended the stream, once it has (asyncio's
// exception()): nil while the stream is open and after a clean EOF.
func (r *Reader) Err() error {
	if r.isEnded() && r.endErr != io.EOF {
		return r.endErr
	}
	return nil
}

// Buffered returns how many bytes have been received but not yet read.
func (r *Reader) Buffered() int {
	consumed := r.consumedBytes() // first: it never passes received
	return int(r.received.Load() - consumed)
}
