package frame

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/streamtest"
)

// BenchmarkFrames compares, within one run, the frames of a 4-byte
// big-endian length and a 1 KiB body delivered as []byte on a channel:
// through a Receiver and a LengthPrefixed codec ("chanstream"), and through
// the loop a Go user writes instead ("go"): a goroutine with a bufio.Reader,
// io.ReadFull of the length then of the body, and a chan []byte of 16.
// The bytes come from another goroutine: fed to a standalone Reader, or
// written to an io.Pipe ("feed"); or written to loopback TCP ("tcp").
// docs/performance.md has the figures.
func BenchmarkFrames(b *testing.B) {
	b.Run("feed/chanstream", func(b *testing.B) {
		r := chanstream.NewReader()
		produce(b, func(p []byte) error { return r.Feed(context.Background(), p) }, r.FeedEOF)
		receiveFrames(b, r)
	})
	b.Run("feed/go", func(b *testing.B) {
		pr, pw := io.Pipe()
		produce(b, func(p []byte) error { _, err := pw.Write(p); return err }, func() { pw.Close() })
		goFrames(b, pr)
	})
	b.Run("tcp/chanstream", func(b *testing.B) {
		client, server := streamtest.TCPPair(b)
		s := chanstream.NewStream(server)
		defer streamtest.CloseStreams(b, s)
		produceTCP(b, client)
		receiveFrames(b, s.Reader())
	})
	b.Run("tcp/go", func(b *testing.B) {
		client, server := streamtest.TCPPair(b)
		defer server.Close()
		produceTCP(b, client)
		goFrames(b, server)
	})
}

const benchBody = 1024

// benchBlock is 64 frames of a 4-byte big-endian length and a 1 KiB body.
var benchBlock = func() []byte {
	var out []byte
	for i := 0; i < 64; i++ {
		out = binary.BigEndian.AppendUint32(out, benchBody)
		out = append(out, make([]byte, benchBody)...)
	}
	return out
}()

// produce writes at least b.N frames with write in blocks of 64, then calls
// end, in a goroutine joined when the benchmark ends.
func produce(b *testing.B, write func([]byte) error, end func()) {
	b.SetBytes(4 + benchBody)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer end()
		for n := 0; n < b.N; n += 64 {
			if err := write(benchBlock); err != nil {
				b.Error(err)
				return
			}
		}
	}()
	b.Cleanup(wg.Wait)
}

func produceTCP(b *testing.B, conn *net.TCPConn) {
	produce(b, func(p []byte) error { _, err := conn.Write(p); return err }, func() { conn.Close() })
}

func receiveFrames(b *testing.B, r *chanstream.Reader) {
	codec, err := NewLengthPrefixed(4, binary.BigEndian, 1<<20)
	if err != nil {
		b.Fatal(err)
	}
	rc := NewReceiver(context.Background(), r, codec)
	defer rc.Stop()
	n := 0
	for f := range rc.C {
		if len(f) != benchBody {
			b.Fatalf("a frame of %d bytes", len(f))
		}
		n++
	}
	if n < b.N || rc.Err() != io.EOF {
		b.Fatalf("%d frames of %d, Err %v", n, b.N, rc.Err())
	}
}

// goFrames is the hand-written Go loop.
func goFrames(b *testing.B, conn io.Reader) {
	ch := make(chan []byte, 16)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(ch)
		br := bufio.NewReaderSize(conn, 64<<10)
		var hdr [4]byte
		for {
			if _, err := io.ReadFull(br, hdr[:]); err != nil {
				return
			}
			body := make([]byte, binary.BigEndian.Uint32(hdr[:]))
			if _, err := io.ReadFull(br, body); err != nil {
				return
			}
			ch <- body
		}
	}()
	defer wg.Wait()
	n := 0
	for f := range ch {
		if len(f) != benchBody {
			b.Fatalf("a frame of %d bytes", len(f))
		}
		n++
	}
	if n < b.N {
		b.Fatalf("%d frames of %d", n, b.N)
	}
}
