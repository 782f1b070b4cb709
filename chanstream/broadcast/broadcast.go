package broadcast

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/chanstream/chanstream/chanstream"
)

var (
	// ErrDuplicateKey is returned by Add for a key that is already a peer.
	ErrDuplicateKey = errors.New("broadcast: key already a peer")
	// ErrUnknownKey is returned by Remove and SendTo for a key that is not a
	// peer.
	ErrUnknownKey = errors.New("broadcast: key not a peer")
	// ErrNilStream is returned by Add for a nil stream.
	ErrNilStream = errors.New("broadcast: nil stream")
	// ErrClosed is returned by Add and SendTo after Close.
	ErrClosed = errors.New("broadcast: closed")
	// ErrEvicted is the Err of a peer disconnected by the Disconnect policy.
	ErrEvicted = errors.New("broadcast: peer too slow, disconnected")
)

// Policy says what happens to a peer that cannot take a message.
type Policy int

const (
	// Drop drops the message for that peer and counts it.
	Drop Policy = iota
	// Disconnect takes the peer out of the broadcast and closes its stream:
	// gracefully if its queue drains within the drain timeout, else with a
	// reset.
	Disconnect
)

// String returns "Drop" or "Disconnect".
func (p Policy) String() string {
	switch p {
	case Drop:
		return "Drop"
	case Disconnect:
		return "Disconnect"
	}
	return fmt.Sprintf("Policy(%d)", int(p))
}

// Config configures a [Broadcaster].
type Config struct {
	// Policy for a peer that cannot take a message. The default is Drop.
	Policy Policy
	// DrainTimeout is how long Disconnect gives an evicted peer's queue to
	// be sent before the stream is reset; 0 resets it at once. It must not
	// be negative. Drop ignores it.
	DrainTimeout time.Duration
}

// PeerStats are one peer's counters.
type PeerStats struct {
	Sent    int64 // messages queued on the peer's stream
	Dropped int64 // messages the peer could not take (with Disconnect, at most 1)
	Bytes   int64 // bytes of the messages queued

	// Active is false once the peer left the broadcast: evicted by
	// Disconnect, or its stream failed (closed, broken). Err then says why:
	// ErrEvicted, or the error its stream's TryWrite returned.
	Active bool
	Err    error
}

// Broadcaster sends messages to a set of peers, each a stream under a key the
// caller chooses. Its methods may be called from any goroutine; messages
// sent by calls that do not overlap reach each peer in the order of the calls.
type Broadcaster[K comparable] struct {
	cfg Config

	mu     sync.Mutex
	peers  map[K]*peer
	order  []K // the peers in the order they were added, for Send
	closed bool

	ctx       context.Context // cancelled by Close: evictions under way reset at once
	cancel    context.CancelFunc
	evictions sync.WaitGroup
}

type peer struct {
	s     *chanstream.Stream
	stats PeerStats
}

// New returns a [Broadcaster] with the given configuration, or an error for
// a Policy it does not know or a negative DrainTimeout.
func New[K comparable](cfg Config) (*Broadcaster[K], error) {
	if cfg.Policy != Drop && cfg.Policy != Disconnect {
		return nil, fmt.Errorf("broadcast: unknown policy %v", cfg.Policy)
	}
	if cfg.DrainTimeout < 0 {
		return nil, fmt.Errorf("broadcast: negative DrainTimeout %v", cfg.DrainTimeout)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Broadcaster[K]{cfg: cfg, peers: make(map[K]*peer), ctx: ctx, cancel: cancel}, nil
}

// Add makes s a peer under key: it gets every message sent from now on that
// it has room for. Writes to s outside the [Broadcaster] while it is a peer
// make TryWrite fail meanwhile, which counts as the peer not taking the
// message: send to one peer with [Broadcaster.SendTo] instead. Add returns
// an error for a nil s, a key that is already a peer (evicted peers
// included, until Remove), or after Close.
func (b *Broadcaster[K]) Add(key K, s *chanstream.Stream) error {
	if s == nil {
		return fmt.Errorf("%w (key %v)", ErrNilStream, key)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if _, ok := b.peers[key]; ok {
		return fmt.Errorf("%w: %v", ErrDuplicateKey, key)
	}
	b.peers[key] = &peer{s: s, stats: PeerStats{Active: true}}
	b.order = append(b.order, key)
	return nil
}

// Remove forgets the peer under key and returns its last stats. It does not
// close its stream (but a disconnection under way goes on). It returns
// [ErrUnknownKey] for a key that is not a peer.
func (b *Broadcaster[K]) Remove(key K) (PeerStats, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.peers[key]
	if !ok {
		return PeerStats{}, fmt.Errorf("%w: %v", ErrUnknownKey, key)
	}
	delete(b.peers, key)
	for i, k := range b.order {
		if k == key {
			b.order = append(b.order[:i], b.order[i+1:]...)
			break
		}
	}
	return p.stats, nil
}

// Send queues msg on every active peer that has room for it, without
// blocking, and returns how many queued it. The others are handled by the
// policy. Each peer's stream gets its own copy of msg, so msg may be reused
// once Send returns. After Close it returns 0.
//
// A peer has room when its stream's queue, with all of msg added, stays at
// or below the high watermark, or when the queue is empty
// ([chanstream.Writer.TryWrite]): a message longer than the high watermark
// reaches a peer only when its queue is empty. A peer whose stream fails the write (closed, broken)
// leaves the broadcast whatever the policy, with the error as its
// [PeerStats] Err; the Broadcaster does not close that stream.
func (b *Broadcaster[K]) Send(msg []byte) (queued int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0
	}
	for _, key := range b.order {
		if b.sendLocked(b.peers[key], msg) {
			queued++
		}
	}
	return queued
}

// SendTo queues msg on the peer under key alone, as Send would, and reports
// whether it queued it. It returns [ErrUnknownKey] for a key that is not a
// peer and the peer's Err for a peer that left the broadcast.
func (b *Broadcaster[K]) SendTo(key K, msg []byte) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false, ErrClosed
	}
	p, ok := b.peers[key]
	if !ok {
		return false, fmt.Errorf("%w: %v", ErrUnknownKey, key)
	}
	if !p.stats.Active {
		return false, p.stats.Err
	}
	return b.sendLocked(p, msg), nil
}

func (b *Broadcaster[K]) sendLocked(p *peer, msg []byte) bool {
	if !p.stats.Active {
		return false
	}
	ok, err := p.s.TryWrite(msg)
	switch {
	case ok:
		p.stats.Sent++
		p.stats.Bytes += int64(len(msg))
		return true
	case err != nil:
		p.stats.Active = false
		p.stats.Err = err
	default:
		p.stats.Dropped++
		if b.cfg.Policy == Disconnect {
			p.stats.Active = false
			p.stats.Err = ErrEvicted
			b.evictions.Add(1)
			go b.evict(p.s)
		}
	}
	return false
}

// evict closes s: gracefully if its queue is sent within the drain timeout,
// else, or at once when the Broadcaster closes, with a reset.
func (b *Broadcaster[K]) evict(s *chanstream.Stream) {
	defer b.evictions.Done()
	if b.cfg.DrainTimeout > 0 {
		ctx, cancel := context.WithTimeout(b.ctx, b.cfg.DrainTimeout)
		defer cancel()
		s.Close()
		err := s.WaitClosed(ctx)
		if err == nil || ctx.Err() == nil {
			return // sent and closed, or the connection broke: closed either way
		}
	}
	s.AbortReset()
}

// Peer returns the stats of the peer under key.
func (b *Broadcaster[K]) Peer(key K) (PeerStats, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.peers[key]
	if !ok {
		return PeerStats{}, false
	}
	return p.stats, true
}

// Stats returns the stats of every peer, evicted ones included until Remove.
func (b *Broadcaster[K]) Stats() map[K]PeerStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	stats := make(map[K]PeerStats, len(b.peers))
	for k, p := range b.peers {
		stats[k] = p.stats
	}
	return stats
}

// Len returns the number of peers, evicted ones included until Remove.
func (b *Broadcaster[K]) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.peers)
}

// Close ends the broadcast: Send does nothing from now on, and Add and
// [Broadcaster.SendTo] fail with [ErrClosed]. Disconnections under way reset
// their streams at once; Close waits for them. It does not close the other
// peers' streams. A second Close does nothing.
func (b *Broadcaster[K]) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	b.cancel()
	b.mu.Unlock()
	b.evictions.Wait()
}
