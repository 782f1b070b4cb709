package main

import (
	"bufio"
	"context"
	"net"
	"sync"
	"sync/atomic"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/broadcast"
	"github.com/chanstream/chanstream/chanstream/fanin"
)

// kindChat is the chat workload's kind: the connection joins the server's one
// chat room, gets "joined\n", and from then on every line any member sends
// goes to every member, itself included; a member with no room for a line
// misses it (it is dropped for that member, never half sent).
const kindChat = 'H'

var joined = []byte("joined\n")

// chanstreamChat is the room with chanstream: each handler serves its lines
// into one Fanin (no goroutine of its own), one hub goroutine broadcasts them
// with a Broadcaster under the Drop policy.
type chanstreamChat struct {
	lines *fanin.Fanin[int64, []byte]
	peers *broadcast.Broadcaster[int64]
	ids   atomic.Int64
}

var chanstreamRoom = sync.OnceValue(func() *chanstreamChat {
	peers, err := broadcast.New[int64](broadcast.Config{Policy: broadcast.Drop})
	if err != nil {
		panic(err)
	}
	room := &chanstreamChat{lines: fanin.Lines[int64](fanin.DefaultBuffer), peers: peers}
	go func() {
		for m := range room.lines.C {
			if m.Err == nil {
				peers.Send(m.Value)
			}
		}
	}()
	return room
})

// serve runs one member until it leaves.
func (room *chanstreamChat) serve(ctx context.Context, s *chanstream.Stream) {
	id := room.ids.Add(1)
	room.peers.Add(id, s)
	defer room.peers.Remove(id)
	room.peers.SendTo(id, joined)
	room.lines.Serve(ctx, id, s.Reader())
}

// rawChat is the room as Go is written without chanstream: each member's
// goroutine reads lines with bufio and sends them to a hub goroutine on one
// channel; the hub puts each on every member's outbox (a channel of lines,
// dropping when it is full); each member has an outbox goroutine that writes
// through a bufio.Writer, flushing when the outbox is empty.
type rawChat struct {
	in      chan []byte
	mu      sync.Mutex
	members map[*rawMember]struct{}
}

type rawMember struct {
	outbox  chan []byte
	dropped int64 // the hub's
}

// rawOutbox is a member's outbox: 1,024 lines of 64 bytes, the room
// chanstream's default 64 KiB high watermark gives.
const rawOutbox = 1024

var rawRoom = sync.OnceValue(func() *rawChat {
	room := &rawChat{in: make(chan []byte, 64), members: make(map[*rawMember]struct{})}
	go func() {
		for line := range room.in {
			room.mu.Lock()
			for m := range room.members {
				select {
				case m.outbox <- line:
				default:
					m.dropped++
				}
			}
			room.mu.Unlock()
		}
	}()
	return room
})

// serve runs one member until it leaves.
func (room *rawChat) serve(conn net.Conn, br *bufio.Reader) {
	m := &rawMember{outbox: make(chan []byte, rawOutbox)}
	m.outbox <- joined
	room.mu.Lock()
	room.members[m] = struct{}{}
	room.mu.Unlock()

	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		bw := bufio.NewWriterSize(conn, 64<<10)
		for {
			select {
			case line := <-m.outbox:
				if _, err := bw.Write(line); err != nil {
					return
				}
				if len(m.outbox) == 0 && bw.Flush() != nil {
					return
				}
			case <-done:
				return
			}
		}
	}()
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && err == nil {
			room.in <- line
		}
		if err != nil {
			break
		}
	}
	room.mu.Lock()
	delete(room.members, m)
	room.mu.Unlock()
	close(done)
	conn.Close() // unblocks the outbox goroutine's write to a member that does not read
	wg.Wait()
}
