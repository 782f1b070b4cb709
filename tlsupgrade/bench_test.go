package tlsupgrade

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/streamtest"
)

// BenchmarkTLSBulk reads 64 KiB blocks sent over TLS (AES-GCM), through a
// stream upgraded with Client, against a bare *tls.Conn with io.Copy, in
// the same run. docs/performance.md reports the ratio.
func BenchmarkTLSBulk(b *testing.B) {
	client, server := streamtest.TLSConfigs(b)
	block := bytes.Repeat([]byte("t"), 64<<10)
	server.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
	server.MinVersion, server.MaxVersion = tls.VersionTLS12, tls.VersionTLS12 // pin AES-GCM (TLS 1.3 picks its own suite)
	client.MinVersion = tls.VersionTLS12

	run := func(b *testing.B, read func(raw net.Conn) int64) {
		raw, peer := streamtest.TCPPair(b)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			tc := tls.Server(peer, server)
			for i := 0; i < b.N; i++ {
				if _, err := tc.Write(block); err != nil {
					return
				}
			}
			tc.Close()
		}()
		b.SetBytes(int64(len(block)))
		b.ResetTimer()
		n := read(raw)
		b.StopTimer()
		wg.Wait()
		if n != int64(b.N*len(block)) {
			b.Fatalf("read %d of %d bytes", n, b.N*len(block))
		}
	}
	b.Run("chanstream", func(b *testing.B) {
		run(b, func(raw net.Conn) int64 {
			s := chanstream.NewStream(raw)
			defer func() {
				s.Abort()
				s.WaitClosed(context.Background())
			}()
			if err := Client(context.Background(), s, client); err != nil {
				b.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, s)
			return n
		})
	})
	b.Run("chanstream-ReadChunk", func(b *testing.B) {
		run(b, func(raw net.Conn) int64 {
			s := chanstream.NewStream(raw)
			defer func() {
				s.Abort()
				s.WaitClosed(context.Background())
			}()
			ctx := context.Background()
			if err := Client(ctx, s, client); err != nil {
				b.Fatal(err)
			}
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
	b.Run("tls.Conn-io.Copy", func(b *testing.B) {
		run(b, func(raw net.Conn) int64 {
			tc := tls.Client(raw, client)
			defer tc.Close()
			n, _ := io.Copy(io.Discard, tc)
			return n
		})
	})
}
