package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"sync"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/fanin"
)

// kindMerge is the fan-in workload's kind: lines to EOF, merged with every
// other such connection's into one consumer; reply: the number of lines.
const kindMerge = 'M'

// kindMergeLines is kindMerge with chanstream's fan-in delivering one line
// per value (fanin.Lines) rather than batches (fanin.LineBatches).
const kindMergeLines = 'N'

// The fan-in workload (kind 'M'): every connection's lines are merged into
// one consumer for the whole server, which counts them per connection; at a
// connection's EOF the consumer hands its count back to the connection's
// handler, which replies with it.

// mergeConn is one connection as the merging consumer sees it. n is the
// consumer's alone; done carries it back at EOF (-1 on an error).
type mergeConn struct {
	n    int64
	done chan int64
}

func newMergeConn() *mergeConn { return &mergeConn{done: make(chan int64, 1)} }

// count takes one value for c from the consumer: a line, or the end.
func (c *mergeConn) count(line []byte, err error) {
	switch {
	case err == io.EOF:
		c.done <- c.n
	case err != nil:
		c.done <- -1
	case len(line) > 0:
		c.n++
	}
}

// chanstreamMerger is the server's fan-in of lines and its consumer, started
// by the first connection that needs them: each handler serves its stream
// into the Fanin (no goroutine of its own), one goroutine receives from C,
// one line at a time, for kindMergeLines connections (or every fan-in
// connection when FANIN_LINES is set in the server's environment).
var chanstreamMerger = sync.OnceValue(func() *fanin.Fanin[*mergeConn, []byte] {
	f := fanin.Lines[*mergeConn](fanin.DefaultBuffer)
	go func() {
		for m := range f.C {
			m.Key.count(m.Value, m.Err)
		}
	}()
	return f
})

// chanstreamBatchMerger is chanstreamMerger with the lines in batches
// (fanin.LineBatches): the consumer receives once per batch of the lines of
// one connection that had arrived, and counts each line.
var chanstreamBatchMerger = sync.OnceValue(func() *fanin.Fanin[*mergeConn, [][]byte] {
	f := fanin.LineBatches[*mergeConn](fanin.DefaultBuffer)
	go func() {
		for m := range f.C {
			for _, line := range m.Value {
				m.Key.count(line, nil)
			}
			if m.Err != nil {
				m.Key.count(nil, m.Err)
			}
		}
	}()
	return f
})

// faninLines makes chanstream's fan-in handler merge single lines rather
// than batches.
var faninLines = os.Getenv("FANIN_LINES") != ""

// chanstreamMerge serves one fan-in connection, into the fan-in of single
// lines if lines is set (else of batches), and returns its count.
func chanstreamMerge(ctx context.Context, s *chanstream.Stream, lines bool) (int64, bool) {
	c := newMergeConn()
	var err error
	if lines || faninLines {
		_, err = chanstreamMerger().Serve(ctx, c, s.Reader())
	} else {
		_, err = chanstreamBatchMerger().Serve(ctx, c, s.Reader())
	}
	if err != nil {
		return 0, false
	}
	select {
	case n := <-c.done:
		return n, n >= 0
	case <-ctx.Done():
		return 0, false
	}
}

// rawMergeMsg is one value on the raw server's shared channel.
type rawMergeMsg struct {
	conn *mergeConn
	line []byte
	err  error
}

// rawMerger is the hand-written fan-in: each connection's goroutine reads
// its lines with bufio (ReadBytes: a line sent on a channel must be its own)
// and sends them on one shared channel, of one slot per connection of the
// workload, received by one consumer goroutine.
var rawMerger = sync.OnceValue(func() chan<- rawMergeMsg {
	ch := make(chan rawMergeMsg, 64)
	go func() {
		for m := range ch {
			m.conn.count(m.line, m.err)
		}
	}()
	return ch
})

// rawMerge serves one fan-in connection and returns its count.
func rawMerge(br *bufio.Reader) (int64, bool) {
	c := newMergeConn()
	out := rawMerger()
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			out <- rawMergeMsg{conn: c, line: line}
		}
		if err != nil {
			out <- rawMergeMsg{conn: c, err: err}
			break
		}
	}
	n := <-c.done
	return n, n >= 0
}
