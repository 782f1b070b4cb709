package chanstream

import (
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// The watch: streams whose socket nobody reads wait in a list, and a timer
// starts the pump of those that have waited a whole tick (watchDelay) or
// more. One timer serves a shard of the streams, and runs only while its
// list is not empty: arming a timer of each stream's own at every read call
// would cost more than the read (each new earliest timer wakes the network
// poller), and a timer's worth of memory.
//
// A stream waits in the list in arming order, so the streams due form its
// head. A stream armed during tick t is due once the tick count reaches
// t+2: after one to two ticks.

// watchShards is how many lists there are; a power of two.
const watchShards = 8

var watches [watchShards]watchList

type watchList struct {
	mu         sync.Mutex
	head, tail *Stream       // sockOwner.watchPrev and watchNext link them
	tick       atomic.Uint64 // counts the timer's firings; written with mu held
	running    atomic.Bool   // the timer is armed, or firing; written with mu held
	idleTicks  int           // firings in a row that found the list empty
	timer      *time.Timer
	due        []*Stream // tick's: the streams it starts
}

func watchListOf(s *Stream) *watchList {
	h := uintptr(unsafe.Pointer(s)) >> 6
	return &watches[(h^h>>3)%watchShards]
}

// armWatchLocked puts s at the end of its watch list, as of now. It is
// called with s.mu held.
func (s *Stream) armWatchLocked() {
	l := watchListOf(s)
	// Armed already during this tick, and the timer runs: as good as
	// armed now, and no lock to take. (The list stays in arming order:
	// whatever follows s was armed during this tick too. And fire, which
	// may be running, takes out only streams armed two ticks ago.)
	if s.own.watched.Load() && s.own.watchTick.Load() == l.tick.Load() && l.running.Load() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.own.watched.Load() {
		l.unlink(s)
	}
	s.own.watched.Store(true)
	s.own.watchTick.Store(l.tick.Load())
	s.own.watchPrev, s.own.watchNext = l.tail, nil
	if l.tail != nil {
		l.tail.own.watchNext = s
	} else {
		l.head = s
	}
	l.tail = s
	if !l.running.Load() {
		l.running.Store(true)
		if l.timer == nil {
			l.timer = time.AfterFunc(watchDelay, l.fire)
		} else {
			l.timer.Reset(watchDelay)
		}
	}
}

// disarmWatchLocked takes s out of its watch list. It is called with s.mu
// held.
func (s *Stream) disarmWatchLocked() {
	l := watchListOf(s)
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.own.watched.Load() {
		l.unlink(s)
	}
}

func (l *watchList) unlink(s *Stream) {
	if s.own.watchPrev != nil {
		s.own.watchPrev.own.watchNext = s.own.watchNext
	} else {
		l.head = s.own.watchNext
	}
	if s.own.watchNext != nil {
		s.own.watchNext.own.watchPrev = s.own.watchPrev
	} else {
		l.tail = s.own.watchPrev
	}
	s.own.watchPrev, s.own.watchNext = nil, nil
	s.own.watched.Store(false)
}

// fire is the timer's: it starts the pumps of the streams due, then arms
// itself again if streams are left to watch.
func (l *watchList) fire() {
	l.mu.Lock()
	tick := l.tick.Add(1)
	due := l.due[:0]
	for s := l.head; s != nil && s.own.watchTick.Load()+2 <= tick; s = l.head {
		l.unlink(s)
		due = append(due, s)
	}
	l.mu.Unlock()
	for i, s := range due {
		s.watchFired()
		due[i] = nil
	}
	l.mu.Lock()
	l.due = due[:0]
	if l.head != nil {
		l.idleTicks = 0
	} else {
		l.idleTicks++
	}
	// Keep ticking a while after the list empties: on a busy stream it
	// fills and empties at every read, and starting the timer again each
	// time would wake the network poller each time.
	if l.idleTicks < watchIdleTicks {
		l.timer.Reset(watchDelay)
	} else {
		l.running.Store(false)
	}
	l.mu.Unlock()
}

// watchIdleTicks is how many times in a row the timer fires with nothing to
// watch before it stops.
const watchIdleTicks = 10
