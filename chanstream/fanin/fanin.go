package fanin

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/internal/hooks"
)

var (
	// ErrDuplicateKey is returned by Serve and Add for a key that is already
	// in the set.
	ErrDuplicateKey = errors.New("fanin: key already in the set")
	// ErrUnknownKey is returned by Remove for a key that is not in the set.
	ErrUnknownKey = errors.New("fanin: key not in the set")
	// ErrNilReader is returned by Serve and Add for a nil reader.
	ErrNilReader = errors.New("fanin: nil reader")
	// ErrStopped is returned by Serve, Add and Remove once Stop was called.
	ErrStopped = errors.New("fanin: stopped")
	// ErrRemoved is returned by Serve when Remove took its stream out of the
	// set.
	ErrRemoved = errors.New("fanin: removed")
)

// ReadFunc reads one value from r. It must be cancel-safe as chanstream's
// read methods are: when ctx is done it returns ctx.Err() and consumes
// nothing, so that a stream leaving the set loses no data. A non-nil error
// ends the stream's loop; the value returned with it is delivered with it in
// band, unless the stream is leaving the set at that moment.
//
// A read function made of several reads, such as a frame's header and then
// its body, is cancel-safe if it makes only its first read with ctx and the
// rest with context.WithoutCancel(ctx): a stream that leaves then waits for
// the frame under way to arrive whole (bounded by the stream's read deadline,
// if any) rather than losing its header.
type ReadFunc[T any] func(ctx context.Context, r *chanstream.Reader) (T, error)

// ReadLine is a [ReadFunc] reading lines with [chanstream.Reader.ReadLine]:
// at the end of the stream the last, unterminated line, then [io.EOF]. A
// line over the reader's limit ends the stream's loop with a
// [*chanstream.LimitOverrunError].
func ReadLine(ctx context.Context, r *chanstream.Reader) ([]byte, error) {
	return r.ReadLine(ctx)
}

// MaxBatch is the most lines [ReadLines] returns at a time.
const MaxBatch = 64

// ReadLines is a [ReadFunc] reading lines in batches: one line as
// [ReadLine] reads it (waiting for it if need be), then, without waiting,
// every further line already whole in the stream's buffer, up to [MaxBatch]
// lines in all, in order (a batch may end early where one buffered chunk of
// the stream ends and the next begins). A batch is never empty; its lines
// belong to the caller, as ReadLine's. At the end of the stream it returns
// the last, unterminated line in a batch of its own, then nil and [io.EOF];
// a line over the reader's limit ends the stream's loop with a
// [*chanstream.LimitOverrunError] once the lines before it were returned.
// It is cancel-safe: only its first read waits, and when ctx is done it
// consumes nothing.
//
// A consumer of a [Fanin] of batches receives once per batch rather than
// once per line, which is what makes it cheaper than a fan-in of lines when
// the streams are busy; when they are not, batches hold one line each.
func ReadLines(ctx context.Context, r *chanstream.Reader) ([][]byte, error) {
	line, err := r.ReadLine(ctx)
	if err != nil {
		return nil, err
	}
	buffered := r.Buffered()
	if buffered == 0 {
		return [][]byte{line}, nil
	}
	// Room for what is buffered, if its lines are as long as this one.
	batch := make([][]byte, 1, min(MaxBatch, 2+buffered/len(line)))
	batch[0] = line
	return hooks.TakeBufferedLines(r, batch, MaxBatch), nil
}

// ReadChunk is a [ReadFunc] reading the data as it arrives, in pieces of at
// most 64 KiB, with [chanstream.Reader.ReadChunk].
func ReadChunk(ctx context.Context, r *chanstream.Reader) ([]byte, error) {
	return r.ReadChunk(ctx, 64*1024)
}

// Msg is one value delivered on [Fanin.C]: Value read from the stream under
// Key, or the end of that stream when Err is not nil ([io.EOF] at a clean
// end). A Msg with an Err is the last one of its stream; its Value is what
// the read function returned with the error (empty for [ReadLine] and
// [ReadChunk]).
type Msg[K comparable, T any] struct {
	Key   K
	Value T
	Err   error
}

// Fanin merges the values read from a changing set of streams into C.
// Its methods may be called from any goroutine, including the one receiving
// from C.
type Fanin[K comparable, T any] struct {
	// C delivers the values of every stream in the set, each stream's in
	// order. Its capacity is the buffer given to New; it is closed by Stop.
	C <-chan Msg[K, T]

	out  chan Msg[K, T]
	read ReadFunc[T]

	mu      sync.Mutex
	sources map[K]*source[T]
	orphans map[*source[T]]K // mu: loops Remove stopped waiting for
	stopped bool
	stopCh  chan struct{}  // closed by Stop, with mu held
	loops   sync.WaitGroup // every running loop, Serve's and Add's
}

// source is one stream's loop as the Fanin sees it.
type source[T any] struct {
	cancel context.CancelCauseFunc // ends the loop's reads and delivery
	done   chan struct{}           // closed once the loop has let go of the stream
	held   []T                     // a value read but not delivered; set before done closes

	// Guarded by the Fanin's mu. finished is set as the loop lets go,
	// orphaned when Remove stopped waiting first: then the loop puts held
	// in C itself, or leaves it to Stop.
	finished, orphaned bool
}

// DefaultBuffer is a buffer for [New] that lets a consumer take many values
// per wake-up, as a hand-written fan-in's shared channel does.
const DefaultBuffer = 64

// New returns a [Fanin] reading its streams with read, whose C holds up to
// buffer values. With buffer 0, a stream's next value is read only once C's
// receiver took the last one; with more, the streams read ahead by up to
// buffer values in all, which lets the consumer take many per wake-up. It
// panics if read is nil or buffer is negative.
func New[K comparable, T any](read ReadFunc[T], buffer int) *Fanin[K, T] {
	if read == nil {
		panic("fanin: nil ReadFunc")
	}
	if buffer < 0 {
		panic(fmt.Sprintf("fanin: negative buffer %d", buffer))
	}
	out := make(chan Msg[K, T], buffer)
	return &Fanin[K, T]{C: out, out: out, read: read, sources: make(map[K]*source[T]),
		orphans: make(map[*source[T]]K), stopCh: make(chan struct{})}
}

// Lines returns a [Fanin] of lines: New([ReadLine], buffer). It panics if
// buffer is negative. With many busy streams, [LineBatches] costs the
// consumer and the streams' loops less per line.
func Lines[K comparable](buffer int) *Fanin[K, []byte] { return New[K](ReadLine, buffer) }

// LineBatches returns a [Fanin] of lines in batches: New([ReadLines],
// buffer). Each [Msg] carries up to [MaxBatch] lines of one stream, in
// order. It panics if buffer is negative.
func LineBatches[K comparable](buffer int) *Fanin[K, [][]byte] { return New[K](ReadLines, buffer) }

// Chunks returns a [Fanin] of chunks: New([ReadChunk], buffer). It panics
// if buffer is negative.
func Chunks[K comparable](buffer int) *Fanin[K, []byte] { return New[K](ReadChunk, buffer) }

// Len returns the number of streams in the set.
func (f *Fanin[K, T]) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sources)
}

// Has reports whether key is in the set.
func (f *Fanin[K, T]) Has(key K) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.sources[key]
	return ok
}

// join puts key in the set and returns its source and the ctx of its loop.
func (f *Fanin[K, T]) join(ctx context.Context, key K, r *chanstream.Reader) (*source[T], context.Context, error) {
	if r == nil {
		return nil, nil, fmt.Errorf("%w (key %v)", ErrNilReader, key)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return nil, nil, ErrStopped
	}
	if _, ok := f.sources[key]; ok {
		return nil, nil, fmt.Errorf("%w: %v", ErrDuplicateKey, key)
	}
	loopCtx, cancel := context.WithCancelCause(ctx)
	src := &source[T]{cancel: cancel, done: make(chan struct{})}
	f.sources[key] = src
	f.loops.Add(1)
	return src, loopCtx, nil
}

// Serve reads r under key in the calling goroutine, sending its values on C,
// until the stream ends, Remove takes it out, Stop is called or ctx is done.
// It is made to be called from a listener handler: it costs no goroutine.
//
// At the end of the stream it delivers the in-band [Msg] (Err [io.EOF] or
// the stream's error), leaves the set and returns nil. After Remove it
// returns [ErrRemoved], after Stop [ErrStopped]: a value read but not
// delivered went to their caller. When ctx is done it leaves the set and
// returns the undelivered value, if any (at most one), and ctx.Err(). With a
// nil r, a key already in the set or after Stop it returns an error at once,
// having read nothing. Serve never closes the stream.
func (f *Fanin[K, T]) Serve(ctx context.Context, key K, r *chanstream.Reader) (undelivered []T, err error) {
	src, loopCtx, err := f.join(ctx, key, r)
	if err != nil {
		return nil, err
	}
	f.loop(loopCtx, key, r, src)
	if cause := context.Cause(loopCtx); cause == ErrRemoved || cause == ErrStopped {
		return nil, cause
	}
	if err := ctx.Err(); err != nil {
		return src.held, err
	}
	return nil, nil
}

// Add puts r in the set under key and starts one goroutine, owned by the
// Fanin, that reads it until the stream ends, Remove takes it out or Stop is
// called. It returns an error, having started nothing, for a nil r, a key
// already in the set, or after Stop. Add never closes the stream.
func (f *Fanin[K, T]) Add(key K, r *chanstream.Reader) error {
	src, loopCtx, err := f.join(context.Background(), key, r)
	if err != nil {
		return err
	}
	go f.loop(loopCtx, key, r, src)
	return nil
}

// Remove takes key out of the set and waits until its loop has let go of the
// stream. It returns the value the loop had read but not put in C, if any
// (at most one), which comes before whatever the stream still buffers: after
// Remove, the stream's next read returns the value after it. Values of the
// stream already in C (with a buffered C) stay there, and are received after
// Remove returns; they come before the value it returns. A Serve reading the
// stream returns [ErrRemoved].
//
// Remove returns [ErrUnknownKey] for a key not in the set (never added,
// removed, or whose stream has ended), and [ErrStopped] after Stop. If ctx
// is done before the loop lets go (it may be done already, or the read
// function may ignore its ctx), Remove returns ctx.Err(); the key has left
// the set all the same, and nothing is lost: the loop puts the undelivered
// value, if any, in C when it lets go, after the stream's values already
// there (or Stop returns it, if Stop comes first).
func (f *Fanin[K, T]) Remove(ctx context.Context, key K) (undelivered []T, err error) {
	f.mu.Lock()
	if f.stopped {
		f.mu.Unlock()
		return nil, ErrStopped
	}
	src, ok := f.sources[key]
	if ok {
		delete(f.sources, key)
	}
	f.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: %v", ErrUnknownKey, key)
	}
	src.cancel(ErrRemoved)
	select {
	case <-src.done:
		return src.held, nil
	case <-ctx.Done():
	}
	f.mu.Lock()
	if src.finished {
		f.mu.Unlock()
		<-src.done // closed right after finished is set
		return src.held, nil
	}
	src.orphaned = true
	f.orphans[src] = key
	f.mu.Unlock()
	return nil, ctx.Err()
}

// Stop ends every stream's loop, waits until each has let go of its stream,
// and closes C. It returns what was read but not received from C, each
// tagged with its key and each stream's in order: first what C held (ends of
// streams included, as Msgs with an Err), then the value each loop had read
// but not put in C (at most one per stream). All of it comes before whatever
// the streams still buffer. Serve calls under way return [ErrStopped]. Later
// calls to Stop return nil. Stop never closes the streams.
func (f *Fanin[K, T]) Stop() []Msg[K, T] {
	f.mu.Lock()
	if f.stopped {
		f.mu.Unlock()
		return nil
	}
	f.stopped = true
	close(f.stopCh)
	sources := f.sources
	f.sources = nil
	f.mu.Unlock()
	for _, src := range sources {
		src.cancel(ErrStopped)
	}
	f.loops.Wait()
	var undelivered []Msg[K, T]
	for len(f.out) > 0 {
		select {
		case m := <-f.out:
			undelivered = append(undelivered, m)
		default: // the consumer took it
		}
	}
	for key, src := range sources {
		for _, v := range src.held {
			undelivered = append(undelivered, Msg[K, T]{Key: key, Value: v})
		}
	}
	for src, key := range f.orphans { // Removed, still holding a value
		for _, v := range src.held {
			undelivered = append(undelivered, Msg[K, T]{Key: key, Value: v})
		}
	}
	close(f.out)
	return undelivered
}

// loop reads r and delivers its values until the stream ends or ctx is done.
func (f *Fanin[K, T]) loop(ctx context.Context, key K, r *chanstream.Reader, src *source[T]) {
	defer f.loops.Done()
	defer f.finish(key, src)
	for {
		v, err := f.read(ctx, r)
		if err != nil && ctx.Err() != nil {
			// The stream is leaving: an end of the stream met meanwhile
			// is not delivered (the stream's next read meets it again),
			// nor is a cancelled read, which consumed nothing. A value
			// read is delivered if C has room, else it goes to whoever
			// ended the loop.
			return
		}
		m := Msg[K, T]{Key: key, Value: v, Err: err}
		select {
		case f.out <- m: // the common case with a buffer: room in C
			if err != nil {
				return
			}
			continue
		default:
		}
		select {
		case f.out <- m:
		case <-ctx.Done():
			if err == nil {
				src.held = append(src.held, v)
			}
			return
		}
		if err != nil {
			return
		}
	}
}

// finish ends src's loop: it takes src out of the set if it is still there
// under key, and lets go of the stream (src.done). If Remove stopped waiting
// for that, finish puts the value the loop held in C, unless Stop comes
// first and takes it.
func (f *Fanin[K, T]) finish(key K, src *source[T]) {
	f.mu.Lock()
	if f.sources[key] == src {
		delete(f.sources, key)
	}
	src.cancel(nil)
	src.finished = true
	orphaned := src.orphaned
	f.mu.Unlock()
	close(src.done)
	if !orphaned {
		return
	}
	for len(src.held) > 0 {
		select {
		case f.out <- Msg[K, T]{Key: key, Value: src.held[0]}:
			src.held = src.held[1:]
		case <-f.stopCh:
			return // Stop, once the loops are done, takes what is held
		}
	}
	f.mu.Lock()
	delete(f.orphans, src)
	f.mu.Unlock()
}
