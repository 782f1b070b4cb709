package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The protocol's kinds of connection: the first byte a client sends.
const (
	kindBulk   = 'B' // bytes to EOF (the client half-closes); reply: the count
	kindSized  = 'T' // an 8-byte big-endian length, then as many bytes; reply: the count
	kindLines  = 'L' // lines to EOF; reply: the number of lines
	kindFrames = 'F' // frames (4-byte big-endian length + body) to EOF; reply: the number of frames
	kindEcho   = 'E' // every line is sent back, until EOF
	kindChan   = 'C' // lines to EOF, consumed through a channel in a select; reply: the number of lines
)

// blockSize is the size of the client's writes: 64 KiB.
const blockSize = 64 << 10

// lineLen is the length of a line, "\n" included.
const lineLen = 64

// line is one line of the lines and echo workloads.
var line = append(bytes.Repeat([]byte("x"), lineLen-1), '\n')

// A target is what a workload runs against: one server process.
type target struct {
	addr  string
	pid   int
	tls   *tls.Config // nil for plain TCP
	sizes sizes
}

// A workloadFunc drives one workload and returns its measurements.
type workloadFunc func(ctx context.Context, t target) (metrics, error)

// metrics are a run's measurements, by name.
type metrics map[string]float64

var allWorkloads = []string{"bulk", "lines", "frames", "echo", "idle", "tls-bulk", "channel"}

var workloadFuncs = map[string]workloadFunc{
	"bulk":     bulk,
	"lines":    lines,
	"frames":   frames,
	"echo":     echo,
	"idle":     idle,
	"tls-bulk": bulk, // over TLS, with the sized protocol
	"channel":  channel,
}

// dial connects to t, completing the TLS handshake if t is TLS, and sets
// the connection's deadline to ctx's.
func (t target) dial(ctx context.Context) (net.Conn, error) {
	var (
		c   net.Conn
		err error
	)
	if t.tls != nil {
		d := tls.Dialer{Config: t.tls}
		c, err = d.DialContext(ctx, "tcp", t.addr)
	} else {
		var d net.Dialer
		c, err = d.DialContext(ctx, "tcp", t.addr)
	}
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	return c, nil
}

// dialAll opens n connections at once.
func (t target) dialAll(ctx context.Context, n int) ([]net.Conn, error) {
	conns := make([]net.Conn, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conns[i], errs[i] = t.dial(ctx)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		closeAll(conns)
		return nil, err
	}
	return conns, nil
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}

// readCount reads the server's reply, a decimal count and "\n", and checks
// it.
func readCount(c net.Conn, want int64) error {
	reply, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("reading the reply: %w", err)
	}
	got, err := strconv.ParseInt(strings.TrimSpace(reply), 10, 64)
	if err != nil {
		return fmt.Errorf("bad reply %q", reply)
	}
	if got != want {
		return fmt.Errorf("the server counted %d, want %d", got, want)
	}
	return nil
}

// parallel runs f for every connection and returns the errors joined.
func parallel(conns []net.Conn, f func(i int, c net.Conn) error) error {
	errs := make([]error, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(i, c)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// bulk sends BulkMiB MiB on each of BulkConns connections in 64 KiB writes.
// Over plain TCP it half-closes and the server reads to EOF; over TLS the
// length is sent first, because asyncio cannot half-close a TLS stream (its
// can_write_eof() is false, and its transport shuts down when close_notify
// arrives). The server replies with the count. It measures MiB/s over all
// connections, from the first byte sent to the last reply.
func bulk(ctx context.Context, t target) (metrics, error) {
	perConn := int64(t.sizes.BulkMiB) << 20
	conns, err := t.dialAll(ctx, t.sizes.BulkConns)
	if err != nil {
		return nil, err
	}
	defer closeAll(conns)
	block := bytes.Repeat([]byte("0123456789abcdef"), blockSize/16)
	start := time.Now()
	err = parallel(conns, func(_ int, c net.Conn) error {
		if t.tls != nil {
			header := make([]byte, 9)
			header[0] = kindSized
			binary.BigEndian.PutUint64(header[1:], uint64(perConn))
			if _, err := c.Write(header); err != nil {
				return err
			}
		} else if _, err := c.Write([]byte{kindBulk}); err != nil {
			return err
		}
		for sent := int64(0); sent < perConn; {
			n, err := c.Write(block[:min(int64(len(block)), perConn-sent)])
			sent += int64(n)
			if err != nil {
				return err
			}
		}
		if t.tls == nil {
			if err := c.(*net.TCPConn).CloseWrite(); err != nil {
				return err
			}
		}
		return readCount(c, perConn)
	})
	elapsed := time.Since(start).Seconds()
	if err != nil {
		return nil, err
	}
	m := metrics{
		"mib_s":   float64(perConn) * float64(len(conns)) / (1 << 20) / elapsed,
		"seconds": elapsed,
	}
	if tc, ok := conns[0].(*tls.Conn); ok {
		cs := tc.ConnectionState()
		m["tls_version"] = float64(cs.Version)
		m["tls_cipher"] = float64(cs.CipherSuite)
	}
	return m, nil
}

// stream sends kind and then block n times on one connection, half-closes,
// and checks the server's count.
func stream(ctx context.Context, t target, kind byte, block []byte, n int, want int64) (float64, error) {
	c, err := t.dial(ctx)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	start := time.Now()
	if _, err := c.Write([]byte{kind}); err != nil {
		return 0, err
	}
	for range n {
		if _, err := c.Write(block); err != nil {
			return 0, err
		}
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return 0, err
	}
	if err := readCount(c, want); err != nil {
		return 0, err
	}
	return time.Since(start).Seconds(), nil
}

// lines sends Lines lines of 64 bytes on one connection, 1,024 lines per
// write; the server reads them line by line to EOF and replies the count.
func lines(ctx context.Context, t target) (metrics, error) {
	const perBlock = blockSize / lineLen
	n := (t.sizes.Lines + perBlock - 1) / perBlock
	elapsed, err := stream(ctx, t, kindLines, bytes.Repeat(line, perBlock), n, int64(n*perBlock))
	if err != nil {
		return nil, err
	}
	return metrics{"mlines_s": float64(n*perBlock) / elapsed / 1e6, "seconds": elapsed}, nil
}

// channel is lines with the channel protocol: the server consumes each
// line through a channel in a select beside a ticker.
func channel(ctx context.Context, t target) (metrics, error) {
	const perBlock = blockSize / lineLen
	n := (t.sizes.Lines + perBlock - 1) / perBlock
	elapsed, err := stream(ctx, t, kindChan, bytes.Repeat(line, perBlock), n, int64(n*perBlock))
	if err != nil {
		return nil, err
	}
	return metrics{"mlines_s": float64(n*perBlock) / elapsed / 1e6, "seconds": elapsed}, nil
}

// frames sends Frames frames (a 4-byte big-endian length and a FrameBytes
// body) on one connection, 64 frames per write; the server reads each with
// two exact reads and replies the count.
func frames(ctx context.Context, t target) (metrics, error) {
	const perBlock = 64
	var block []byte
	for i := range perBlock {
		block = binary.BigEndian.AppendUint32(block, uint32(t.sizes.FrameBytes))
		block = append(block, bytes.Repeat([]byte{byte(i)}, t.sizes.FrameBytes)...)
	}
	n := (t.sizes.Frames + perBlock - 1) / perBlock
	elapsed, err := stream(ctx, t, kindFrames, block, n, int64(n*perBlock))
	if err != nil {
		return nil, err
	}
	return metrics{"kframes_s": float64(n*perBlock) / elapsed / 1e3, "seconds": elapsed}, nil
}

// echo runs EchoRounds sequential round trips of a 64-byte line on each of
// EchoConns connections at once, and measures round trips per second and
// the latency of each round trip, from before the write to the last byte
// of the reply.
func echo(ctx context.Context, t target) (metrics, error) {
	conns, err := t.dialAll(ctx, t.sizes.EchoConns)
	if err != nil {
		return nil, err
	}
	defer closeAll(conns)
	rounds := t.sizes.EchoRounds
	lat := make([][]time.Duration, len(conns))
	start := time.Now()
	err = parallel(conns, func(i int, c net.Conn) error {
		lat[i] = make([]time.Duration, 0, rounds)
		first := append([]byte{kindEcho}, line...)
		buf := make([]byte, lineLen)
		for r := range rounds {
			msg := line
			if r == 0 {
				msg = first
			}
			t0 := time.Now()
			if _, err := c.Write(msg); err != nil {
				return err
			}
			if _, err := io.ReadFull(c, buf); err != nil {
				return err
			}
			lat[i] = append(lat[i], time.Since(t0))
			if !bytes.Equal(buf, line) {
				return fmt.Errorf("echo: got %q", buf)
			}
		}
		return nil
	})
	elapsed := time.Since(start).Seconds()
	if err != nil {
		return nil, err
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	return metrics{
		"rt_s":    float64(len(all)) / elapsed,
		"p50_us":  micros(percentile(all, 0.50)),
		"p99_us":  micros(percentile(all, 0.99)),
		"max_us":  micros(all[len(all)-1]),
		"seconds": elapsed,
	}, nil
}

// percentile returns the p-th percentile (nearest rank) of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// idleWarmup is how many connections idle opens, echoes on and closes
// before it measures, so that what it measures is the cost of more
// connections, not of the first.
const idleWarmup = 100

// idle opens IdleConns connections, 64 at a time, makes one round trip on
// each (the echo protocol) and holds them open; it measures the growth of
// the server's resident set (VmRSS) per connection, one second after the
// last connection went idle.
func idle(ctx context.Context, t target) (metrics, error) {
	warm, err := openEchoed(ctx, t, idleWarmup, 64)
	closeAll(warm)
	if err != nil {
		return nil, err
	}
	if err := sleep(ctx, 500*time.Millisecond); err != nil {
		return nil, err
	}
	before, err := rssKiB(t.pid)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	conns, err := openEchoed(ctx, t, t.sizes.IdleConns, 64)
	defer closeAll(conns)
	if err != nil {
		return nil, err
	}
	opened := time.Since(start).Seconds()
	if err := sleep(ctx, time.Second); err != nil {
		return nil, err
	}
	after, err := rssKiB(t.pid)
	if err != nil {
		return nil, err
	}
	n := float64(len(conns))
	return metrics{
		"kib_per_conn":   (after - before) / n,
		"rss_before_kib": before,
		"rss_after_kib":  after,
		"conns_s":        n / opened,
	}, nil
}

// openEchoed opens n connections with the given number of dialers at once,
// makes one echo round trip on each, and returns them open. It dials from
// the given source addresses in turn (none: the system's choice).
func openEchoed(ctx context.Context, t target, n, workers int, sources ...net.IP) ([]net.Conn, error) {
	conns := make([]net.Conn, n)
	var (
		next   atomic.Int64
		wg     sync.WaitGroup
		errMu  sync.Mutex
		errOne error
	)
	first := append([]byte{kindEcho}, line...)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, lineLen)
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				var src net.IP
				if len(sources) > 0 {
					src = sources[i%len(sources)]
				}
				c, err := dialFrom(ctx, t.addr, src)
				if err == nil {
					conns[i] = c
					if _, err = c.Write(first); err == nil {
						_, err = io.ReadFull(c, buf)
					}
				}
				if err == nil && !bytes.Equal(buf, line) {
					err = fmt.Errorf("echo: got %q", buf)
				}
				if err != nil {
					errMu.Lock()
					if errOne == nil {
						errOne = fmt.Errorf("connection %d: %w", i, err)
					}
					errMu.Unlock()
					next.Store(int64(n)) // stop the other workers
					return
				}
			}
		}()
	}
	wg.Wait()
	return conns, errOne
}

// dialFrom connects to addr from src (nil: the system's choice).
func dialFrom(ctx context.Context, addr string, src net.IP) (net.Conn, error) {
	d := net.Dialer{Timeout: 30 * time.Second}
	if src != nil {
		d.LocalAddr = &net.TCPAddr{IP: src}
		d.Control = bindAddressNoPort
	}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	return c, nil
}

// sleep waits for d, or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
