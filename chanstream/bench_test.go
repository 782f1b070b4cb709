package chanstream

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"
)

// Benchmarks over loopback TCP, each next to its hand-written net.Conn +
// bufio baseline so that ratios come from one run (machines here are shared
// and noisy: compare the ratios, not the times). docs/performance.md
// reports them.

// benchPair returns a loopback TCP pair; everything is closed when the
// benchmark ends.
func benchPair(b *testing.B) (reader, writer *net.TCPConn) {
	b.Helper()
	r, w := tcpPair(b)
	b.Cleanup(func() {
		r.Close()
		w.Close()
	})
	return r, w
}

// sendBlocks writes block n times and closes the write side, in a goroutine
// joined when the benchmark ends.
func sendBlocks(b *testing.B, w *net.TCPConn, block []byte, n int) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < n; i++ {
			if _, err := w.Write(block); err != nil {
				return
			}
		}
		w.CloseWrite()
	}()
	b.Cleanup(wg.Wait)
}

// benchStream wraps conn in a Stream closed when the benchmark ends.
func benchStream(b *testing.B, conn net.Conn) *Stream {
	s := NewStream(conn)
	b.Cleanup(func() {
		s.Abort()
		s.WaitClosed(context.Background())
	})
	return s
}

const lineLen = 64

// lineBlock is 1024 lines of 64 bytes.
var lineBlock = bytes.Repeat(append(bytes.Repeat([]byte("x"), lineLen-1), '\n'), 1024)

func BenchmarkReadLine(b *testing.B) {
	run := func(b *testing.B, read func(conn net.Conn, lines int) int) {
		r, w := benchPair(b)
		blocks := (b.N + 1023) / 1024
		b.SetBytes(lineLen)
		b.ReportAllocs()
		b.ResetTimer()
		sendBlocks(b, w, lineBlock, blocks)
		if got := read(r, blocks*1024); got != blocks*1024 {
			b.Fatalf("read %d lines of %d", got, blocks*1024)
		}
	}
	b.Run("chanstream", func(b *testing.B) {
		run(b, func(conn net.Conn, lines int) int {
			s := benchStream(b, conn)
			ctx := context.Background()
			n := 0
			for {
				line, err := s.ReadLine(ctx)
				if err != nil {
					return n
				}
				if len(line) != lineLen {
					b.Fatalf("line of %d bytes", len(line))
				}
				n++
			}
		})
	})
	b.Run("chanstream-View", func(b *testing.B) {
		run(b, func(conn net.Conn, lines int) int {
			s := benchStream(b, conn)
			ctx := context.Background()
			n := 0
			for {
				line, err := s.ReadLineView(ctx)
				if err != nil {
					return n
				}
				if len(line) != lineLen {
					b.Fatalf("line of %d bytes", len(line))
				}
				n++
			}
		})
	})
	b.Run("bufio-ReadBytes", func(b *testing.B) {
		run(b, func(conn net.Conn, lines int) int {
			br := bufio.NewReaderSize(conn, 64<<10)
			n := 0
			for {
				line, err := br.ReadBytes('\n')
				if err != nil {
					return n
				}
				if len(line) != lineLen {
					b.Fatalf("line of %d bytes", len(line))
				}
				n++
			}
		})
	})
	b.Run("bufio-ReadSlice", func(b *testing.B) {
		run(b, func(conn net.Conn, lines int) int {
			br := bufio.NewReaderSize(conn, 64<<10)
			n := 0
			for {
				line, err := br.ReadSlice('\n')
				if err != nil {
					return n
				}
				if len(line) != lineLen {
					b.Fatalf("line of %d bytes", len(line))
				}
				n++
			}
		})
	})
}

const frameLen = 1024

// frameBlock is 64 frames: a 4-byte big-endian length, then 1 KiB.
var frameBlock = func() []byte {
	var buf bytes.Buffer
	for i := 0; i < 64; i++ {
		binary.Write(&buf, binary.BigEndian, uint32(frameLen))
		buf.Write(bytes.Repeat([]byte{byte(i)}, frameLen))
	}
	return buf.Bytes()
}()

func BenchmarkReadFrame(b *testing.B) {
	run := func(b *testing.B, read func(conn net.Conn) int) {
		r, w := benchPair(b)
		blocks := (b.N + 63) / 64
		b.SetBytes(4 + frameLen)
		b.ReportAllocs()
		b.ResetTimer()
		sendBlocks(b, w, frameBlock, blocks)
		if got := read(r); got != blocks*64 {
			b.Fatalf("read %d frames of %d", got, blocks*64)
		}
	}
	b.Run("chanstream", func(b *testing.B) {
		run(b, func(conn net.Conn) int {
			s := benchStream(b, conn)
			ctx := context.Background()
			n := 0
			for {
				header, err := s.ReadExactly(ctx, 4)
				if err != nil {
					return n
				}
				body, err := s.ReadExactly(ctx, int(binary.BigEndian.Uint32(header)))
				if err != nil || len(body) != frameLen {
					b.Fatalf("frame: %v", err)
				}
				n++
			}
		})
	})
	b.Run("chanstream-Into", func(b *testing.B) {
		run(b, func(conn net.Conn) int {
			s := benchStream(b, conn)
			ctx := context.Background()
			header := make([]byte, 4)
			body := make([]byte, frameLen)
			n := 0
			for {
				if _, err := s.ReadExactlyInto(ctx, header); err != nil {
					return n
				}
				if _, err := s.ReadExactlyInto(ctx, body[:binary.BigEndian.Uint32(header)]); err != nil {
					b.Fatal(err)
				}
				n++
			}
		})
	})
	b.Run("bufio-ReadFull-fresh", func(b *testing.B) {
		// Each body in a slice of its own, the ownership ReadExactly
		// gives.
		run(b, func(conn net.Conn) int {
			br := bufio.NewReaderSize(conn, 64<<10)
			header := make([]byte, 4)
			n := 0
			for {
				if _, err := io.ReadFull(br, header); err != nil {
					return n
				}
				body := make([]byte, binary.BigEndian.Uint32(header))
				if _, err := io.ReadFull(br, body); err != nil {
					b.Fatal(err)
				}
				sink = body
				n++
			}
		})
	})
	b.Run("bufio-ReadFull", func(b *testing.B) {
		run(b, func(conn net.Conn) int {
			br := bufio.NewReaderSize(conn, 64<<10)
			header := make([]byte, 4)
			body := make([]byte, frameLen)
			n := 0
			for {
				if _, err := io.ReadFull(br, header); err != nil {
					return n
				}
				if _, err := io.ReadFull(br, body[:binary.BigEndian.Uint32(header)]); err != nil {
					b.Fatal(err)
				}
				n++
			}
		})
	})
}

var bulkBlock = bytes.Repeat([]byte("b"), 64<<10)

func BenchmarkBulk(b *testing.B) {
	run := func(b *testing.B, read func(conn net.Conn) int64) {
		r, w := benchPair(b)
		b.SetBytes(int64(len(bulkBlock)))
		b.ReportAllocs()
		b.ResetTimer()
		sendBlocks(b, w, bulkBlock, b.N)
		if got := read(r); got != int64(b.N*len(bulkBlock)) {
			b.Fatalf("read %d bytes of %d", got, b.N*len(bulkBlock))
		}
	}
	b.Run("chanstream-ReadChunk", func(b *testing.B) {
		run(b, func(conn net.Conn) int64 {
			s := benchStream(b, conn)
			ctx := context.Background()
			var n int64
			for {
				chunk, err := s.ReadChunk(ctx, 64<<10)
				n += int64(len(chunk))
				if err != nil {
					return n
				}
			}
		})
	})
	b.Run("chanstream-Read", func(b *testing.B) {
		run(b, func(conn net.Conn) int64 {
			s := benchStream(b, conn)
			buf := make([]byte, 64<<10)
			var n int64
			for {
				k, err := s.Read(buf)
				n += int64(k)
				if err != nil {
					return n
				}
			}
		})
	})
	b.Run("chanstream-WriteTo", func(b *testing.B) {
		run(b, func(conn net.Conn) int64 {
			n, _ := io.Copy(io.Discard, benchStream(b, conn))
			return n
		})
	})
	b.Run("io.Copy-Discard", func(b *testing.B) {
		run(b, func(conn net.Conn) int64 {
			n, _ := io.Copy(io.Discard, conn)
			return n
		})
	})
	b.Run("net.Conn-fresh", func(b *testing.B) {
		// A fresh 64 KiB slice for each Read: the ownership ReadChunk
		// gives.
		run(b, func(conn net.Conn) int64 {
			var n int64
			for {
				buf := make([]byte, 64<<10)
				k, err := conn.Read(buf)
				n += int64(k)
				sink = buf[:k]
				if err != nil {
					return n
				}
			}
		})
	})
}

// sink keeps fresh slices from being optimised away.
var sink []byte

// BenchmarkSmallWrites writes 64-byte messages and drains (or flushes)
// every 64; the peer discards everything.
func BenchmarkSmallWrites(b *testing.B) {
	msg := bytes.Repeat([]byte("m"), 64)
	run := func(b *testing.B, write func(conn *net.TCPConn)) {
		r, w := benchPair(b)
		var received int64
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			received, _ = io.Copy(io.Discard, r)
		}()
		b.SetBytes(int64(len(msg)))
		b.ReportAllocs()
		b.ResetTimer()
		write(w)
		wg.Wait() // everything arrived
		b.StopTimer()
		if received != int64(b.N*len(msg)) {
			b.Fatalf("received %d bytes of %d", received, b.N*len(msg))
		}
	}
	b.Run("chanstream", func(b *testing.B) {
		run(b, func(conn *net.TCPConn) {
			s := NewStream(conn)
			ctx := context.Background()
			for i := 1; i <= b.N; i++ {
				s.Write(msg)
				if i%64 == 0 {
					s.Drain(ctx)
				}
			}
			s.Close()
			s.WaitClosed(ctx)
		})
	})
	b.Run("bufio-Writer", func(b *testing.B) {
		run(b, func(conn *net.TCPConn) {
			bw := bufio.NewWriterSize(conn, 64<<10)
			for i := 1; i <= b.N; i++ {
				bw.Write(msg)
				if i%64 == 0 {
					bw.Flush()
				}
			}
			bw.Flush()
			conn.Close()
		})
	})
}

// BenchmarkPumpSteadyState reads with Read into one buffer: nothing is
// handed out, so the pumps recycle every chunk and allocate nothing.
func BenchmarkPumpSteadyState(b *testing.B) {
	r, w := benchPair(b)
	s := benchStream(b, r)
	buf := make([]byte, 64<<10)
	// Warm the pools up before measuring.
	sendBlocks(b, w, bulkBlock, b.N+16)
	for i := 0; i < 16; i++ {
		io.ReadFull(s, buf)
	}
	b.SetBytes(int64(len(bulkBlock)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := io.ReadFull(s, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEcho measures round trips of a 64-byte line through an echo
// server over loopback TCP: the client writes a line and waits for it to
// come back. chanstream runs both ends (the server loops on ReadLine,
// Write and Drain; the client on Write, Drain and ReadLine); the baseline
// runs both with a net.Conn and a bufio.Reader. p99-ns is the 99th
// percentile of the round-trip time.
func BenchmarkEcho(b *testing.B) {
	msg := lineBlock[:lineLen]
	run := func(b *testing.B, serve func(conn net.Conn), roundTrip func(conn net.Conn) func() ([]byte, error)) {
		client, server := benchPair(b)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			serve(server)
		}()
		b.Cleanup(func() {
			client.Close() // the server sees EOF
			wg.Wait()
		})
		rt := roundTrip(client)
		times := make([]time.Duration, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range times {
			start := time.Now()
			line, err := rt()
			times[i] = time.Since(start)
			if err != nil || len(line) != lineLen {
				b.Fatalf("round trip %d: %q, %v", i, line, err)
			}
		}
		b.StopTimer()
		slices.Sort(times)
		b.ReportMetric(float64(times[len(times)*99/100].Nanoseconds()), "p99-ns")
	}
	b.Run("chanstream", func(b *testing.B) {
		ctx := context.Background()
		run(b, func(conn net.Conn) {
			s := NewStream(conn)
			defer func() {
				s.Close()
				s.WaitClosed(ctx)
			}()
			for {
				line, err := s.ReadLine(ctx)
				if err != nil || len(line) == 0 {
					return
				}
				s.Write(line)
				if s.Drain(ctx) != nil {
					return
				}
			}
		}, func(conn net.Conn) func() ([]byte, error) {
			s := benchStream(b, conn)
			return func() ([]byte, error) {
				s.Write(msg)
				if err := s.Drain(ctx); err != nil {
					return nil, err
				}
				return s.ReadLine(ctx)
			}
		})
	})
	b.Run("net.Conn-bufio", func(b *testing.B) {
		run(b, func(conn net.Conn) {
			defer conn.Close()
			br := bufio.NewReader(conn)
			for {
				line, err := br.ReadSlice('\n')
				if err != nil {
					return
				}
				if _, err := conn.Write(line); err != nil {
					return
				}
			}
		}, func(conn net.Conn) func() ([]byte, error) {
			br := bufio.NewReader(conn)
			return func() ([]byte, error) {
				if _, err := conn.Write(msg); err != nil {
					return nil, err
				}
				return br.ReadSlice('\n')
			}
		})
	})
}
