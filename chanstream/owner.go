package chanstream

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/chanstream/chanstream/internal/hooks"
)

// ownerState says who reads a stream's socket. Every change of it goes
// through sockOwner.to, which holds it to the table on sockOwner.
type ownerState uint8

const (
	ownerNobody   ownerState = iota // nobody; the watch is armed and will start the pump
	ownerPump                       // the read pump reads it
	ownerHandOff                    // the pump, asked by the watch to give it to the read call waiting on the chunk channel
	ownerInline                     // a read call (or AtEOF's poll) reads it in its own goroutine
	ownerStopped                    // nobody, for good: the stream has ended
	ownerDetached                   // nobody: Detach stopped the pumps; Attach starts a new run
	ownerStates
)

var ownerStateNames = [ownerStates]string{"nobody", "pump", "hand-off", "inline", "stopped", "detached"}

func (st ownerState) String() string {
	if st < ownerStates {
		return ownerStateNames[st]
	}
	return fmt.Sprintf("ownerState(%d)", uint8(st))
}

// A sockOwner records who reads a stream's socket, guarded by the Stream's
// mu. At most one party reads the socket at a time; the state says which,
// and these are its transitions, each made by one Stream method (all in this
// file):
//
//	from      to        by           when
//	nobody    inline    takeSocket   a read call must wait for data
//	nobody    inline    AtEOF's poll every byte is read: take in what the socket holds, without waiting
//	nobody    pump      watchFired   nobody has read the socket for a tick of the watch (watchDelay)
//	nobody    pump      readerClosed Close or Abort: the pump reads and drops until the connection closes
//	nobody    stopped   watchFired   FeedEOF or FeedError ended the stream
//	nobody    detached  detachOwner  Detach
//	inline    nobody    leaveSocket  the read call has read (the watch is armed again, unless WriteTo reads: see copying)
//	inline    pump      leaveSocket  the read was large (the pump reads ahead), or the reader was closed meanwhile
//	inline    stopped   leaveSocket  the read ended the stream
//	pump      hand-off  watchFired   a read call waits on the chunk channel and the pump found nothing to read for a tick
//	pump      stopped   stopReading  the pump's read ended the stream
//	pump      detached  detachOwner  Detach stopped the pump
//	hand-off  pump      waitPump     the read call got data before the pump acted: the pump goes on
//	hand-off  nobody    pumpRead     the pump gives the socket up (and wakes the read call, which takes it)
//	hand-off  stopped   stopReading  the pump's read ended the stream
//	hand-off  detached  detachOwner  Detach stopped the pump
//	stopped   detached  detachOwner  the stream ended while Detach stopped the pumps
//	any but inline      begin        a run starts (NewStream, Attach): nobody on a socket, else pump
//
// Who may call what: takeSocket and waitPump (through waitData) and poll
// run with the reader's gate held, so at most one read call is ever
// inline or waiting; leaveSocket only by the party that took the socket;
// stopReading and pumpRead only by the socket's pump; watchFired only by
// the watch; readerClosed by Close and Abort; detachOwner by Detach with
// both gates held; copying by WriteTo, with the reader's gate held.
// Besides the state, four flags:
//
//   - parked: the pump waits for the socket to be readable (pump, hand-off).
//   - waiting: a read call waits on the chunk channel for the pump (pump,
//     hand-off); the watch then looks at the pump every tick.
//   - woken: a read call reading the socket was woken with a read deadline
//     in the past (inline), which the owner clears before the state
//     changes.
//   - copying: a WriteTo runs, which reads the socket again as soon as it
//     has written out what it read (see copying).
//
// A read call reading the socket (inline) is woken through the socket's
// poller, by a read deadline in the past (wake), when its ctx is done (the
// registration made by watchCtxLocked is kept for the next call, most often
// made with the same ctx), its read deadline passes, the reader is closed or
// the stream is ended by FeedEOF or FeedError.
type sockOwner struct {
	watched atomic.Bool // in its watchList; the list's mu writes it
	state   ownerState
	flags   ownerFlags

	watchTick atomic.Uint64 // the watch list's tick when it was put in
	watchPrev *Stream       // the watch list's links, guarded by its mu
	watchNext *Stream

	ctxFor  context.Context // the ctx whose end wakes a read call reading the socket
	ctxStop func() bool     // ends that
}

// ownerFlags are a sockOwner's flags.
type ownerFlags uint8

const (
	ownerParked  ownerFlags = 1 << iota // the pump waits for the socket to be readable
	ownerWaiting                        // a read call waits on the chunk channel for the pump
	ownerWoken                          // a read call reading the socket was woken by a read deadline in the past
	ownerCopying                        // a WriteTo runs: between its reads the socket is nobody's, unwatched
)

// ownerMoves holds the table above: bit t of ownerMoves[f] is set if f may
// go to t.
var ownerMoves = [ownerStates]uint8{
	ownerNobody:   1<<ownerInline | 1<<ownerPump | 1<<ownerStopped | 1<<ownerDetached,
	ownerInline:   1<<ownerNobody | 1<<ownerPump | 1<<ownerStopped,
	ownerPump:     1<<ownerHandOff | 1<<ownerStopped | 1<<ownerDetached,
	ownerHandOff:  1<<ownerPump | 1<<ownerNobody | 1<<ownerStopped | 1<<ownerDetached,
	ownerStopped:  1 << ownerDetached,
	ownerDetached: 0,
}

// to moves the owner to state next, which the table must allow: a move it
// does not is a bug, and panics.
func (o *sockOwner) to(next ownerState) {
	if ownerMoves[o.state]&(1<<next) == 0 {
		panic(fmt.Sprintf("chanstream: socket owner: no move from %v to %v", o.state, next))
	}
	o.state = next
	if next != ownerPump && next != ownerHandOff {
		o.flags &^= ownerParked | ownerWaiting
	}
}

func (o *sockOwner) has(f ownerFlags) bool { return o.flags&f != 0 }
func (o *sockOwner) set(f ownerFlags)      { o.flags |= f }
func (o *sockOwner) clear(f ownerFlags)    { o.flags &^= f }

// A source is what a connection's Reader waits on when it has nothing
// buffered (its Stream): the Reader calls nothing else of the Stream's.
type source interface {
	// waitData waits for more data, for a read call that holds the
	// reader's gate: it returns nil once more bytes are buffered, or the
	// end of the stream has been taken in, or why it stopped waiting
	// (ctx.Err(), ErrClosed, errDeadline), with nothing consumed.
	waitData(ctx context.Context) error
	// poll takes in what the socket holds, without waiting, if nobody
	// reads it: for AtEOF.
	poll()
	// wake makes a read call waiting in waitData look again at why it
	// might stop: its ctx, its deadline, the close, the end.
	wake()
	// copying is called by WriteTo, with the reader's gate held, as it
	// starts (on) and as it returns (off).
	copying(on bool)
}

var _ source = (*Stream)(nil)

// waitData is the Reader's source's (see source): a read call reads the
// socket itself if nobody does (readInline), else waits on the chunk
// channel for the pump (waitPump).
func (s *Stream) waitData(ctx context.Context) error {
	if !s.w.direct.Load() {
		s.w.direct.Store(true) // the next write is likely an answer
	}
	if a := s.takeSocket(ctx); a != nil {
		return s.readInline(ctx, a)
	}
	return s.waitPump(ctx)
}

// beginLocked starts the owner of a new run over a: nobody reads a socket
// yet (the watch is armed), and the pump reads any other connection.
func (s *Stream) beginLocked(a *attachment) {
	o := &s.own
	if o.state == ownerInline {
		panic("chanstream: socket owner: a run begins while a read call reads the socket")
	}
	o.state, o.flags = ownerNobody, 0
	if a.isSocket() {
		s.armWatchLocked()
	} else {
		s.startPumpLocked(a)
	}
}

// takeSocket is called by a read call that must wait for data, with the
// reader's gate held. It returns the attachment if the read call is to
// read the socket itself (readInline), and nil if it is to wait on the
// chunk channel (waitPump).
func (s *Stream) takeSocket(ctx context.Context) *attachment {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, o := s.run, &s.own
	if a == nil || !a.isSocket() {
		return nil
	}
	switch o.state {
	case ownerNobody:
		// The stream stays in its watch list, which leaves it alone
		// while it is read (watchFired) and which leaveSocket moves it
		// to the end of: one lock less per wait.
		o.to(ownerInline)
		s.pumps.Add() // WaitClosed waits for the socket to be given back
		if ctx != o.ctxFor && cancellable(ctx) {
			s.watchCtxLocked(ctx)
		}
		return a
	case ownerPump, ownerHandOff:
		o.set(ownerWaiting)
		if o.has(ownerParked) {
			s.armWatchLocked() // see pumpParks
		}
	}
	return nil
}

// waitPump waits on the chunk channel, after takeSocket.
func (s *Stream) waitPump(ctx context.Context) error {
	err := s.r.wait(ctx)
	s.mu.Lock()
	o := &s.own
	if o.has(ownerWaiting) {
		o.clear(ownerWaiting)
		if o.state == ownerHandOff {
			// The pump has not acted on it yet: it goes on.
			o.to(ownerPump)
			s.run.conn.SetReadDeadline(time.Time{})
		}
	}
	s.mu.Unlock()
	return err
}

// takeSocketToPoll is takeSocket for AtEOF's poll, with the reader's gate
// held: it returns the attachment if nobody reads the socket, and nil if
// somebody does.
func (s *Stream) takeSocketToPoll() *attachment {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.run
	if a == nil || !a.isSocket() || s.own.state != ownerNobody {
		return nil
	}
	s.own.to(ownerInline)
	s.pumps.Add() // WaitClosed waits for the socket to be given back
	return a
}

// leaveSocket gives up the socket a read call (or poll) has been reading:
// the watch will start the pump if no read call takes it first; after
// Close the pump starts at once; after the end of the stream nobody reads
// it. After a large read the pump starts at once too: it reads the flow of
// data ahead, on another core, while the caller deals with what it got,
// and gives the socket back once it has caught up.
func (s *Stream) leaveSocket(a *attachment, readAhead bool) {
	s.mu.Lock()
	o := &s.own
	if o.has(ownerWoken) {
		o.clear(ownerWoken)
		a.conn.SetReadDeadline(time.Time{})
	}
	switch {
	case s.r.isEnded():
		o.to(ownerStopped)
		s.stopCtxWatchLocked()
	case s.r.isClosed():
		s.startPumpLocked(a) // to read and drop until the connection closes
		s.stopCtxWatchLocked()
	case o.has(ownerCopying):
		// WriteTo writes out what it read, then reads again. The stream
		// may still be in its watch list, where a pump that gave WriteTo
		// the socket put it (pumpRead).
		o.to(ownerNobody)
		if o.watched.Load() {
			s.disarmWatchLocked()
		}
	case readAhead:
		s.startPumpLocked(a)
	default:
		o.to(ownerNobody)
		s.armWatchLocked()
	}
	s.mu.Unlock()
	s.pumps.Done()
}

// copying is called by WriteTo as it starts (on) and as it returns (off),
// with the reader's gate held. In between, WriteTo reads the socket in its
// own goroutine and writes out what it read, as io.Copy does: the stream
// leaves its watch list, and each of WriteTo's reads leaves the socket to
// nobody, without arming the watch or starting the pump after a large read
// (leaveSocket), so that no other goroutine reads between its writes and
// no chunk passes from one goroutine to another. While a write of
// WriteTo's blocks, nothing is read: TCP flow control holds the peer back,
// as the read limit would; Close and Abort still start the pump
// (readerClosed), and WaitClosed does not wait for that write. As WriteTo
// returns, the watch is armed again if nobody reads the socket.
func (s *Stream) copying(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := &s.own
	if on {
		o.set(ownerCopying)
		if o.state == ownerNobody {
			s.disarmWatchLocked() // WriteTo reads it next
		}
		return
	}
	o.clear(ownerCopying)
	if o.state == ownerNobody && s.run != nil {
		s.armWatchLocked()
	}
}

// startPumpLocked starts the read pump over a.
func (s *Stream) startPumpLocked(a *attachment) {
	s.r.makeChunks()
	s.own.to(ownerPump)
	s.own.clear(ownerParked)
	s.pumps.Go(func() { s.readPump(a) }, s.pumpPanicked)
}

// pumpParks is called by the pump when the socket has nothing to read,
// before it waits, holding no buffer. If a read call waits on the chunk
// channel, the watch is to give it the socket should the pump find nothing
// more to read by the next tick (watchFired): doing so at once would have
// the pump stop and start again at every pause of a flow of data.
func (s *Stream) pumpParks() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.own.set(ownerParked)
	if s.own.has(ownerWaiting) {
		s.armWatchLocked()
	}
}

// pumpRead is called by the pump of a socket after each read it has
// delivered; timedOut says the read ended on a read deadline in the past.
// It reports whether the pump is to give the socket up and exit: the
// watch asked it to (hand-off), and the read call waiting is then woken
// to read the socket itself.
func (s *Stream) pumpRead(a *attachment, timedOut bool) (gaveUp bool) {
	s.mu.Lock()
	o := &s.own
	o.clear(ownerParked)
	if o.state != ownerHandOff {
		if timedOut {
			a.conn.SetReadDeadline(time.Time{}) // asked for and taken back
		}
		s.mu.Unlock()
		return false
	}
	// A read call has been waiting on the channel while the pump waited
	// for the socket for a whole tick of the watch: give the read call
	// the socket, now that what was read has been delivered.
	a.conn.SetReadDeadline(time.Time{})
	o.to(ownerNobody)
	s.armWatchLocked()
	s.mu.Unlock()
	s.r.trySend(handOffChunk, false)
	return true
}

// stopReading is called by the pump of a socket when its read ended the
// stream: nobody reads the socket any more.
func (s *Stream) stopReading() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.own.state; st == ownerPump || st == ownerHandOff {
		s.own.to(ownerStopped)
	}
	s.stopCtxWatchLocked()
}

// watchFired starts the pump over a socket nobody has read for watchDelay,
// and gives the socket of a pump that has had nothing to read for as long to
// the read call waiting for it.
func (s *Stream) watchFired() {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := &s.own
	switch {
	case s.run == nil:
	case o.state == ownerPump:
		// A read call waits on the channel: if the pump has found
		// nothing to read since the last tick, the read call is to read
		// the socket itself (pumpRead gives it up); else look again at
		// the next tick.
		switch {
		case !o.has(ownerWaiting):
		case o.has(ownerParked):
			o.to(ownerHandOff)
			s.run.conn.SetReadDeadline(longAgo) // wakes the pump
		default:
			s.armWatchLocked()
		}
	case o.state != ownerNobody:
	case s.r.isEnded():
		o.to(ownerStopped) // FeedEOF or FeedError: nothing more is read
	default:
		s.startPumpLocked(s.run)
	}
}

// readerClosed is called by Close and Abort once the reader is closed: a
// read call reading the socket wakes up, and the pump starts to read and
// drop what comes until the connection is closed.
func (s *Stream) readerClosed() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wakeLocked()
	if s.own.state == ownerNobody && s.run != nil {
		s.disarmWatchLocked()
		s.startPumpLocked(s.run)
	}
	if s.own.state != ownerInline {
		s.stopCtxWatchLocked()
	}
}

// detachOwnerLocked is called by Detach, with both gates held: before it
// stops the pumps (pumpsStopped false) nobody is to start reading the
// socket; once they have stopped, nobody reads it.
func (s *Stream) detachOwnerLocked(pumpsStopped bool) {
	o := &s.own
	switch {
	case o.state == ownerNobody:
		s.disarmWatchLocked()
		o.to(ownerDetached)
	case pumpsStopped && o.state != ownerDetached:
		o.to(ownerDetached)
	}
}

// waitErr returns why a read call must stop waiting for data now, or nil.
func (s *Stream) waitErr(ctx context.Context) error {
	if s.r.isClosed() {
		return ErrClosed
	}
	if s.r.deadline.expired.Load() {
		return errDeadline
	}
	return ctx.Err()
}

// wake wakes a read call reading the socket in its goroutine, so that it
// looks again at why it might stop.
func (s *Stream) wake() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wakeLocked()
}

func (s *Stream) wakeLocked() {
	if o := &s.own; o.state == ownerInline && !o.has(ownerWoken) {
		o.set(ownerWoken)
		s.run.conn.SetReadDeadline(longAgo)
	}
}

// unwake clears the read deadline that woke a read call reading the socket.
func (s *Stream) unwake() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.own.clear(ownerWoken)
	s.run.conn.SetReadDeadline(time.Time{})
}

// watchCtx makes ctx's end wake the read calls of s that read its socket
// with it, as the first such call would (hooks.WatchCtx).
func (s *Stream) watchCtx(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ctx != s.own.ctxFor && cancellable(ctx) {
		s.watchCtxLocked(ctx)
	}
}

// watchCtxLocked makes ctx's end wake the read calls that read the socket
// with it. The registration is kept for the next call, which is most often
// made with the same ctx.
func (s *Stream) watchCtxLocked(ctx context.Context) {
	s.stopCtxWatchLocked()
	o := &s.own
	o.ctxFor = ctx
	if sc, ok := ctx.(hooks.StreamCtx); ok && sc.WakesStream(s) {
		o.ctxStop = wokenByCtx // the ctx wakes s itself when it is done
		return
	}
	if af, ok := ctx.(afterFuncer); ok {
		// The ctx schedules the call itself, which costs less than
		// context.AfterFunc.
		o.ctxStop = af.AfterFunc(s.wake)
		return
	}
	o.ctxStop = context.AfterFunc(ctx, s.wake)
}

// wokenByCtx is the ctxStop of a ctx that wakes its stream itself
// (hooks.StreamCtx): there is nothing to stop.
var wokenByCtx = func() bool { return false }

// cancellable reports whether ctx can ever be done.
func cancellable(ctx context.Context) bool {
	if _, ok := ctx.(afterFuncer); ok {
		return true // without asking for Done, which may make a channel
	}
	return ctx.Done() != nil
}

// afterFuncer is a ctx that can call a function when it is done, as
// context.AfterFunc does for a ctx with that method.
type afterFuncer interface {
	AfterFunc(func()) func() bool
}

func (s *Stream) stopCtxWatchLocked() {
	if o := &s.own; o.ctxStop != nil {
		o.ctxStop()
		o.ctxFor, o.ctxStop = nil, nil
	}
}
