package broadcast_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/broadcast"
	"github.com/chanstream/chanstream/chanstream/streamtest"
)

// TestMain fails the package's tests on a leaked goroutine: goleak, through
// streamtest.VerifyTestMain, which first waits for chanstream's own to end.
func TestMain(m *testing.M) { streamtest.VerifyTestMain(m) }

const maxMessages = 5000

// message is the i-th message: 1 KiB, numbered.
func message(i int) []byte {
	head := fmt.Sprintf("msg %06d ", i)
	return []byte(head + strings.Repeat(".", 1023-len(head)) + "\n")
}

// pair returns a loopback TCP connection: the peer's end, and the other end
// as a stream made with opts, aborted at the end of the test.
func pair(t *testing.T, opts ...chanstream.Option) (*net.TCPConn, *chanstream.Stream) {
	t.Helper()
	peer, conn := streamtest.TCPPair(t)
	s := chanstream.NewStream(conn, opts...)
	t.Cleanup(func() {
		s.Abort()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.WaitClosed(ctx)
	})
	return peer, s
}

// healthy returns a peer that reads every message and reports, once the
// stream ends, how many it read in order, or an error.
func healthy(t *testing.T) (*chanstream.Stream, <-chan error, func() int) {
	t.Helper()
	// Room for every message: a healthy peer never misses one, however
	// loaded the machine.
	peer, s := pair(t, chanstream.WithWriteBufferLimits(2*maxMessages*1024, 0))
	result := make(chan error, 1)
	var n int
	go func() {
		br := bufio.NewReader(peer)
		for {
			line, err := br.ReadBytes('\n')
			if err == io.EOF && len(line) == 0 {
				result <- nil
				return
			}
			if err != nil {
				result <- err
				return
			}
			if string(line) != string(message(n)) {
				result <- fmt.Errorf("message %d: got %.10q", n, line)
				return
			}
			n++
		}
	}()
	return s, result, func() int { return n }
}

// stuck returns a peer that never reads, with small buffers so that it fills
// up soon.
func stuck(t *testing.T) (*net.TCPConn, *chanstream.Stream) {
	t.Helper()
	peer, s := pair(t, chanstream.WithWriteBufferLimits(4096, 1024))
	peer.SetReadBuffer(4096)
	s.Conn().(*net.TCPConn).SetWriteBuffer(4096)
	return peer, s
}

func TestBroadcast_DropKeepsHealthyPeersWhole(t *testing.T) {
	b, err := broadcast.New[string](broadcast.Config{Policy: broadcast.Drop})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	type reader struct {
		s      *chanstream.Stream
		result <-chan error
		count  func() int
	}
	var readers []reader
	for i := range 3 {
		s, result, count := healthy(t)
		readers = append(readers, reader{s, result, count})
		b.Add(fmt.Sprint("healthy", i), s)
	}
	_, slow := stuck(t)
	b.Add("stuck", slow)

	sent := 0
	for ; sent < maxMessages; sent++ {
		b.Send(message(sent))
		if st, _ := b.Peer("stuck"); st.Dropped >= 10 {
			sent++
			break
		}
	}
	st, _ := b.Peer("stuck")
	if st.Dropped == 0 {
		t.Fatalf("the stuck peer took all %d messages", sent)
	}
	if !st.Active || st.Sent+st.Dropped != int64(sent) {
		t.Errorf("stuck: %+v after %d messages", st, sent)
	}
	for i, r := range readers {
		key := fmt.Sprint("healthy", i)
		if st, _ := b.Peer(key); st.Sent != int64(sent) || st.Dropped != 0 || !st.Active {
			t.Errorf("%s: %+v after %d messages", key, st, sent)
		}
		r.s.Close() // after the queued messages
		if err := <-r.result; err != nil {
			t.Errorf("%s: %v", key, err)
		}
		if r.count() != sent {
			t.Errorf("%s read %d messages, want %d", key, r.count(), sent)
		}
	}
}

// sendUntilEvicted sends messages until the peer under key is evicted and
// returns how many it sent.
func sendUntilEvicted(t *testing.T, b *broadcast.Broadcaster[string], key string) int {
	t.Helper()
	for i := range maxMessages {
		b.Send(message(i))
		if st, _ := b.Peer(key); !st.Active {
			if st.Err != broadcast.ErrEvicted || st.Dropped != 1 || st.Sent != int64(i) {
				t.Fatalf("after %d messages: %+v", i+1, st)
			}
			return i + 1
		}
	}
	t.Fatalf("the peer was not evicted after %d messages", maxMessages)
	return 0
}

// fill writes to s until the kernel takes no more: a write waits at the
// watermark for longer than a loaded machine takes to move the bytes.
func fill(t *testing.T, s *chanstream.Stream) {
	t.Helper()
	chunk := make([]byte, 64*1024)
	for range 1000 {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		_, err := s.WriteContext(ctx, chunk)
		cancel()
		if err == context.DeadlineExceeded {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("the peer's buffers never filled")
}

func TestBroadcast_DisconnectResetsAPeerThatNeverReads(t *testing.T) {
	b, err := broadcast.New[string](broadcast.Config{Policy: broadcast.Disconnect, DrainTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s, result, count := healthy(t)
	b.Add("healthy", s)
	peer, slow := stuck(t)
	fill(t, slow)
	b.Add("stuck", slow)

	sent := sendUntilEvicted(t, b, "stuck")
	for i := sent; i < sent+10; i++ {
		b.Send(message(i))
	}
	if st, _ := b.Peer("stuck"); st.Sent+st.Dropped != int64(sent) {
		t.Errorf("an evicted peer was sent more: %+v", st)
	}
	// The stuck peer is reset: reading what it has, it meets ECONNRESET.
	peer.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err = io.Copy(io.Discard, peer)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("the stuck peer's read: got %v, want ECONNRESET", err)
	}
	s.Close()
	if err := <-result; err != nil || count() != sent+10 {
		t.Errorf("healthy: %v, %d messages, want %d", err, count(), sent+10)
	}
}

func TestBroadcast_DisconnectClosesGracefullyWhatDrainsInTime(t *testing.T) {
	b, err := broadcast.New[string](broadcast.Config{Policy: broadcast.Disconnect, DrainTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	peer, slow := stuck(t)
	b.Add("late", slow)
	sent := sendUntilEvicted(t, b, "late")
	// The peer starts reading late: it gets every message it was sent, in
	// order and with no gap, then EOF.
	br := bufio.NewReader(peer)
	peer.SetReadDeadline(time.Now().Add(20 * time.Second))
	n := 0
	for {
		line, err := br.ReadBytes('\n')
		if err == io.EOF && len(line) == 0 {
			break
		}
		if err != nil {
			t.Fatalf("after %d messages: %v", n, err)
		}
		if string(line) != string(message(n)) {
			t.Fatalf("message %d: got %.10q", n, line)
		}
		n++
	}
	if n != sent-1 {
		t.Errorf("read %d messages, want the %d queued before the eviction", n, sent-1)
	}
}

func TestBroadcast_FailedPeerLeaves(t *testing.T) {
	b, _ := broadcast.New[int](broadcast.Config{})
	defer b.Close()
	_, s := pair(t)
	b.Add(1, s)
	s.Close()
	if n := b.Send([]byte("x\n")); n != 0 {
		t.Errorf("Send to a closed peer: %d queued", n)
	}
	st, ok := b.Peer(1)
	if !ok || st.Active || !errors.Is(st.Err, chanstream.ErrClosed) {
		t.Errorf("closed peer: %+v", st)
	}
	if _, err := b.SendTo(1, []byte("x\n")); !errors.Is(err, chanstream.ErrClosed) {
		t.Errorf("SendTo a closed peer: %v", err)
	}
	if st, err := b.Remove(1); err != nil || st.Active {
		t.Errorf("Remove: %+v, %v", st, err)
	}
	if b.Len() != 0 {
		t.Error("the peer is still there")
	}
}

func TestBroadcast_BadInput(t *testing.T) {
	for _, cfg := range []broadcast.Config{{Policy: 7}, {DrainTimeout: -1}} {
		if _, err := broadcast.New[int](cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
	b, _ := broadcast.New[int](broadcast.Config{})
	_, s := pair(t)
	if err := b.Add(1, s); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"Add nil stream", func() error { return b.Add(2, nil) }, broadcast.ErrNilStream},
		{"Add duplicate key", func() error { return b.Add(1, s) }, broadcast.ErrDuplicateKey},
		{"Remove unknown key", func() error { _, err := b.Remove(3); return err }, broadcast.ErrUnknownKey},
		{"SendTo unknown key", func() error { _, err := b.SendTo(3, nil); return err }, broadcast.ErrUnknownKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	if b.Len() != 1 {
		t.Error("bad input changed the peers")
	}
	b.Close()
	b.Close()
	if err := b.Add(4, s); err != broadcast.ErrClosed {
		t.Errorf("Add after Close: %v", err)
	}
	if n := b.Send([]byte("x")); n != 0 {
		t.Errorf("Send after Close queued %d", n)
	}
}
