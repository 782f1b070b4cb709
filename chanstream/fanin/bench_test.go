package fanin_test

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/fanin"
	"github.com/chanstream/chanstream/chanstream/streamtest"
)

const (
	benchConns = 64
	benchLine  = "the quick brown fox jumps over the lazy dog 0123456789\n" // 56 bytes
)

// benchPeers makes benchConns loopback connections and returns the server
// ends; each peer writes lines until the benchmark's cleanup closes it.
func benchPeers(b *testing.B) []*net.TCPConn {
	b.Helper()
	block := []byte(strings.Repeat(benchLine, 512))
	conns := make([]*net.TCPConn, benchConns)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range conns {
		peer, conn := streamtest.TCPPair(b)
		conns[i] = conn
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := peer.Write(block); err != nil {
					return
				}
			}
		}()
		b.Cleanup(func() { peer.Close() })
	}
	b.Cleanup(func() {
		close(stop)
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
	})
	return conns
}

// BenchmarkFanin64 merges the lines of 64 connections into one consumer
// with a Fanin, each stream read in its own handler goroutine through Serve,
// as a listener would run it.
func BenchmarkFanin64(b *testing.B) {
	conns := benchPeers(b)
	f := fanin.Lines[int](fanin.DefaultBuffer)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	streams := make([]*chanstream.Stream, len(conns))
	for i, c := range conns {
		streams[i] = chanstream.NewStream(c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.Serve(ctx, i, streams[i].Reader())
		}()
	}
	b.SetBytes(int64(len(benchLine)))
	b.ResetTimer()
	for range b.N {
		if m := <-f.C; m.Err != nil {
			b.Fatal(m.Err)
		}
	}
	b.StopTimer()
	cancel()
	wg.Wait()
	f.Stop()
	for _, s := range streams {
		s.Abort()
		s.WaitClosed(context.Background())
	}
}

// BenchmarkFaninBatches64 is BenchmarkFanin64 with the lines in batches
// (LineBatches): an op is still one line, received within a batch.
func BenchmarkFaninBatches64(b *testing.B) {
	conns := benchPeers(b)
	f := fanin.LineBatches[int](fanin.DefaultBuffer)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	streams := make([]*chanstream.Stream, len(conns))
	for i, c := range conns {
		streams[i] = chanstream.NewStream(c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.Serve(ctx, i, streams[i].Reader())
		}()
	}
	b.SetBytes(int64(len(benchLine)))
	b.ResetTimer()
	for n := 0; n < b.N; {
		m := <-f.C
		if m.Err != nil {
			b.Fatal(m.Err)
		}
		n += len(m.Value)
	}
	b.StopTimer()
	cancel()
	wg.Wait()
	f.Stop()
	for _, s := range streams {
		s.Abort()
		s.WaitClosed(context.Background())
	}
}

// BenchmarkHandWritten64 is the same merge written by hand: a goroutine per
// connection reading lines with bufio and sending copies of them on one
// shared channel, of one slot per connection.
func BenchmarkHandWritten64(b *testing.B) {
	conns := benchPeers(b)
	type msg struct {
		key  int
		line []byte
		err  error
	}
	out := make(chan msg, 64)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			br := bufio.NewReader(c)
			for {
				line, err := br.ReadBytes('\n')
				select {
				case out <- msg{i, line, err}:
				case <-done:
					return
				}
				if err != nil {
					return
				}
			}
		}()
	}
	b.SetBytes(int64(len(benchLine)))
	b.ResetTimer()
	for range b.N {
		if m := <-out; m.err != nil {
			b.Fatal(m.err)
		}
	}
	b.StopTimer()
	close(done)
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
}

// BenchmarkReadLineByHand64 is the hand-written merge over chanstream
// streams: a goroutine per stream reading with ReadLine and sending on one
// shared channel. Against BenchmarkFanin64 it isolates what the Fanin costs;
// against BenchmarkHandWritten64, what the stream's reads cost.
func BenchmarkReadLineByHand64(b *testing.B) {
	conns := benchPeers(b)
	type msg struct {
		key  int
		line []byte
		err  error
	}
	out := make(chan msg, 64)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	streams := make([]*chanstream.Stream, len(conns))
	for i, c := range conns {
		streams[i] = chanstream.NewStream(c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				line, err := streams[i].ReadLine(ctx)
				select {
				case out <- msg{i, line, err}:
				case <-ctx.Done():
					return
				}
				if err != nil {
					return
				}
			}
		}()
	}
	b.SetBytes(int64(len(benchLine)))
	b.ResetTimer()
	for range b.N {
		if m := <-out; m.err != nil {
			b.Fatal(m.err)
		}
	}
	b.StopTimer()
	cancel()
	wg.Wait()
	for _, s := range streams {
		s.Abort()
		s.WaitClosed(context.Background())
	}
}
