package broadcast_test

// Black-box tests of Broadcaster, written from the package's doc comments
// alone.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/broadcast"
	"github.com/chanstream/chanstream/chanstream/fanin"
	"github.com/chanstream/chanstream/chanstream/streamtest"
)

const bbMsgLen = 16 // "msg 0000000000\n" plus one byte

func bbMsg(i int) []byte { return fmt.Appendf(nil, "msg %011d\n", i) }

// bbPeer is one peer: the stream the broadcaster writes to, and the far end.
type bbPeer struct {
	s    *chanstream.Stream
	peer *net.TCPConn
}

// bbNewPeer makes a peer over loopback TCP. A stuck peer has small socket
// buffers and small watermarks, so that it refuses a message soon; a healthy
// one has watermarks no test fills.
func bbNewPeer(t *testing.T, stuck bool) bbPeer {
	t.Helper()
	peer, conn := streamtest.TCPPair(t)
	opt := chanstream.WithWriteBufferLimits(64<<20, 16<<20)
	if stuck {
		peer.SetReadBuffer(4096)
		conn.SetWriteBuffer(4096)
		opt = chanstream.WithWriteBufferLimits(2048, 512)
	}
	s := chanstream.NewStream(conn, opt)
	t.Cleanup(func() {
		peer.Close()
		s.Abort()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.WaitClosed(ctx)
	})
	return bbPeer{s, peer}
}

// bbCheckMessages checks that data is whole messages with increasing numbers
// (consecutive when noGaps) and returns how many.
func bbCheckMessages(t *testing.T, name string, data []byte, noGaps bool) int {
	t.Helper()
	if len(data)%bbMsgLen != 0 {
		t.Fatalf("%s: %d bytes, not whole messages", name, len(data))
	}
	last := -1
	for i := 0; i < len(data); i += bbMsgLen {
		var n int
		if _, err := fmt.Sscanf(string(data[i:i+bbMsgLen]), "msg %d\n", &n); err != nil {
			t.Fatalf("%s: message %d is %q", name, i/bbMsgLen, data[i:i+bbMsgLen])
		}
		if n <= last || (noGaps && n != last+1) {
			t.Fatalf("%s: message %d after %d", name, n, last)
		}
		last = n
	}
	return len(data) / bbMsgLen
}

func TestBlackbox_DropPolicy(t *testing.T) {
	b, err := broadcast.New[string](broadcast.Config{Policy: broadcast.Drop})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	healthy := []bbPeer{bbNewPeer(t, false), bbNewPeer(t, false)}
	stuck := bbNewPeer(t, true)
	for i, p := range healthy {
		if err := b.Add(fmt.Sprint("h", i), p.s); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Add("stuck", stuck.s); err != nil {
		t.Fatal(err)
	}
	type read struct {
		data []byte
		err  error
	}
	reads := make([]chan read, len(healthy))
	for i, p := range healthy {
		reads[i] = make(chan read, 1)
		go func() {
			data, err := io.ReadAll(p.peer)
			reads[i] <- read{data, err}
		}()
	}
	total, extra := 0, 0
	for ; total < 200000; total++ {
		queued := b.Send(bbMsg(total))
		st, _ := b.Peer("stuck")
		if st.Dropped > 0 {
			extra++
			if extra == 50 { // a few more past the first drop
				total++
				break
			}
		}
		if queued < 2 {
			t.Fatalf("message %d queued on %d peers: a healthy peer refused", total, queued)
		}
	}
	st, ok := b.Peer("stuck")
	if !ok || st.Dropped == 0 || !st.Active || st.Err != nil {
		t.Fatalf("stuck peer after %d messages: %+v, %v", total, st, ok)
	}
	if st.Sent+st.Dropped != int64(total) || st.Bytes != st.Sent*bbMsgLen {
		t.Fatalf("stuck peer's stats %+v do not add up to %d messages", st, total)
	}
	for k, s := range b.Stats() {
		if k != "stuck" && (s.Sent != int64(total) || s.Dropped != 0 || s.Bytes != int64(total*bbMsgLen)) {
			t.Errorf("%s: %+v", k, s)
		}
	}
	// Every stream now ends gracefully: each peer reads what was queued.
	for _, p := range append(healthy, stuck) {
		p.s.Close()
	}
	for i := range healthy {
		r := <-reads[i]
		if r.err != nil {
			t.Fatal(r.err)
		}
		if n := bbCheckMessages(t, fmt.Sprint("h", i), r.data, true); n != total {
			t.Fatalf("healthy peer %d got %d messages, want %d", i, n, total)
		}
	}
	stuck.peer.SetReadBuffer(1 << 20)
	data, err := io.ReadAll(stuck.peer)
	if err != nil {
		t.Fatal(err)
	}
	if n := bbCheckMessages(t, "stuck", data, false); int64(n) != st.Sent {
		t.Fatalf("stuck peer got %d messages, its stats say %d", n, st.Sent)
	}
}

func TestBlackbox_DisconnectResetsAtOnce(t *testing.T) {
	b, err := broadcast.New[int](broadcast.Config{Policy: broadcast.Disconnect})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	stuck := bbNewPeer(t, true)
	healthy := bbNewPeer(t, false)
	b.Add(1, stuck.s)
	b.Add(2, healthy.s)
	total := 0
	for ; total < 200000; total++ {
		b.Send(bbMsg(total))
		if st, _ := b.Peer(1); !st.Active {
			total++
			break
		}
	}
	st, _ := b.Peer(1)
	if st.Active || !errors.Is(st.Err, broadcast.ErrEvicted) || st.Dropped != 1 {
		t.Fatalf("evicted peer: %+v", st)
	}
	for range 10 {
		b.Send(bbMsg(total))
		total++
	}
	if st2, _ := b.Peer(1); st2.Sent != st.Sent {
		t.Fatalf("evicted peer got messages: %+v then %+v", st, st2)
	}
	if ok, err := b.SendTo(1, []byte("x")); ok || !errors.Is(err, broadcast.ErrEvicted) {
		t.Fatalf("SendTo an evicted peer = %v, %v", ok, err)
	}
	if b.Len() != 2 {
		t.Fatalf("Len = %d, evicted peers count until Remove", b.Len())
	}
	if err := b.Add(1, healthy.s); !errors.Is(err, broadcast.ErrDuplicateKey) {
		t.Fatalf("Add under an evicted key = %v", err)
	}
	// DrainTimeout 0: the stuck peer sees a reset.
	stuck.peer.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err = io.Copy(io.Discard, stuck.peer)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("evicted peer read %v, want ECONNRESET", err)
	}
	if _, err := b.Remove(1); err != nil {
		t.Fatal(err)
	}
	if b.Len() != 1 {
		t.Fatalf("Len after Remove = %d", b.Len())
	}
	if hs, _ := b.Peer(2); hs.Sent != int64(total) || !hs.Active {
		t.Fatalf("healthy peer: %+v, want %d sent", hs, total)
	}
}

// Disconnect with a drain timeout: a peer that reads again within it gets
// every message it was sent, without a gap, then an orderly EOF.
func TestBlackbox_DisconnectGracefulWithinTimeout(t *testing.T) {
	b, err := broadcast.New[int](broadcast.Config{Policy: broadcast.Disconnect, DrainTimeout: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	stuck := bbNewPeer(t, true)
	b.Add(1, stuck.s)
	total := 0
	for ; total < 200000; total++ {
		b.Send(bbMsg(total))
		if st, _ := b.Peer(1); !st.Active {
			total++
			break
		}
	}
	st, _ := b.Peer(1)
	if st.Active || !errors.Is(st.Err, broadcast.ErrEvicted) {
		t.Fatalf("peer not evicted after %d messages: %+v", total, st)
	}
	stuck.peer.SetReadDeadline(time.Now().Add(30 * time.Second))
	data, err := io.ReadAll(bufio.NewReader(stuck.peer))
	if err != nil {
		t.Fatalf("evicted peer's read ended with %v, want an orderly EOF", err)
	}
	if n := bbCheckMessages(t, "evicted", data, true); int64(n) != st.Sent || n != total-1 {
		t.Fatalf("evicted peer read %d messages; stats %+v; %d sent", n, st, total)
	}
}

// A peer whose stream fails leaves the broadcast with the stream's error.
func TestBlackbox_ClosedStreamLeaves(t *testing.T) {
	b, _ := broadcast.New[string](broadcast.Config{})
	defer b.Close()
	p := bbNewPeer(t, false)
	b.Add("p", p.s)
	if n := b.Send([]byte("one\n")); n != 1 {
		t.Fatalf("Send = %d", n)
	}
	p.s.Close()
	if n := b.Send([]byte("two\n")); n != 0 {
		t.Fatalf("Send to a closed stream = %d", n)
	}
	st, _ := b.Peer("p")
	if st.Active || !errors.Is(st.Err, chanstream.ErrClosed) || st.Sent != 1 {
		t.Fatalf("stats %+v", st)
	}
	if ok, err := b.SendTo("p", []byte("x")); ok || !errors.Is(err, chanstream.ErrClosed) {
		t.Fatalf("SendTo = %v, %v", ok, err)
	}
	got, _ := io.ReadAll(p.peer)
	if string(got) != "one\n" {
		t.Fatalf("peer read %q", got)
	}
}

func TestBlackbox_CloseAndBadInput(t *testing.T) {
	for _, cfg := range []broadcast.Config{
		{Policy: broadcast.Policy(7)},
		{Policy: broadcast.Policy(-1)},
		{Policy: broadcast.Disconnect, DrainTimeout: -time.Second},
	} {
		if b, err := broadcast.New[int](cfg); err == nil || b != nil {
			t.Errorf("New(%+v) = %v, %v; want an error", cfg, b, err)
		} else if err.Error()[:len("broadcast: ")] != "broadcast: " {
			t.Errorf("New(%+v): %q lacks the package prefix", cfg, err)
		}
	}
	if broadcast.Drop.String() != "Drop" || broadcast.Disconnect.String() != "Disconnect" {
		t.Errorf("Policy strings: %v %v", broadcast.Drop, broadcast.Disconnect)
	}
	b, err := broadcast.New[int](broadcast.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Add(1, nil); !errors.Is(err, broadcast.ErrNilStream) {
		t.Errorf("Add(nil) = %v", err)
	}
	p := bbNewPeer(t, false)
	if err := b.Add(1, p.s); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(1, p.s); !errors.Is(err, broadcast.ErrDuplicateKey) {
		t.Errorf("Add twice = %v", err)
	}
	if _, err := b.Remove(9); !errors.Is(err, broadcast.ErrUnknownKey) {
		t.Errorf("Remove(9) = %v", err)
	}
	if _, err := b.SendTo(9, []byte("x")); !errors.Is(err, broadcast.ErrUnknownKey) {
		t.Errorf("SendTo(9) = %v", err)
	}
	if ok, err := b.SendTo(1, []byte("to one\n")); !ok || err != nil {
		t.Errorf("SendTo(1) = %v, %v", ok, err)
	}
	msg := []byte("all\n")
	b.Send(msg)
	copy(msg, "XXX\n") // Send copied it
	b.Close()
	b.Close()
	if n := b.Send([]byte("late\n")); n != 0 {
		t.Errorf("Send after Close = %d", n)
	}
	if err := b.Add(2, p.s); !errors.Is(err, broadcast.ErrClosed) {
		t.Errorf("Add after Close = %v", err)
	}
	if _, err := b.SendTo(1, []byte("x")); !errors.Is(err, broadcast.ErrClosed) {
		t.Errorf("SendTo after Close = %v", err)
	}
	// Close did not close the peer's stream.
	if _, err := p.s.Write([]byte("mine\n")); err != nil {
		t.Fatalf("the stream after the broadcaster's Close: %v", err)
	}
	p.s.Close()
	got, _ := io.ReadAll(p.peer)
	if string(got) != "to one\nall\nmine\n" {
		t.Fatalf("peer read %q", got)
	}
}

// Close resets a disconnection under way at once and waits for it; Remove of
// an evicted peer does not stop its disconnection.
func TestBlackbox_CloseDuringDisconnection(t *testing.T) {
	b, err := broadcast.New[int](broadcast.Config{Policy: broadcast.Disconnect, DrainTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	stuck := bbNewPeer(t, true)
	// A queue far larger than the socket buffers: it cannot drain while the
	// peer does not read, so the first message evicts the peer.
	if ok, err := stuck.s.TryWrite(make([]byte, 4<<20)); !ok || err != nil {
		t.Fatalf("TryWrite = %v, %v", ok, err)
	}
	b.Add(1, stuck.s)
	if n := b.Send(bbMsg(0)); n != 0 {
		t.Fatalf("Send queued on %d peers", n)
	}
	if st, _ := b.Peer(1); st.Active || st.Dropped != 1 {
		t.Fatalf("peer not evicted: %+v", st)
	}
	if _, err := b.Remove(1); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() {
		b.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not return: it waits for the drain timeout")
	}
	stuck.peer.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.Copy(io.Discard, stuck.peer); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("evicted peer read %v, want ECONNRESET", err)
	}
	if !stuck.s.IsClosing() {
		t.Fatal("evicted stream not closed")
	}
}

// Sends, Adds and Removes from several goroutines at once: each peer's stream
// holds whole messages, and Stats agree with what the peers read.
func TestBlackbox_ConcurrentUse(t *testing.T) {
	b, _ := broadcast.New[int](broadcast.Config{})
	var peers []bbPeer
	for range 4 {
		peers = append(peers, bbNewPeer(t, false))
	}
	for i, p := range peers[:2] {
		b.Add(i, p.s)
	}
	reads := make([]chan []byte, len(peers))
	for i, p := range peers {
		reads[i] = make(chan []byte, 1)
		go func() {
			data, _ := io.ReadAll(p.peer)
			reads[i] <- data
		}()
	}
	done := make(chan struct{})
	for g := range 3 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 500 {
				b.Send(bbMsg(g*1000 + i))
			}
		}()
	}
	b.Add(2, peers[2].s)
	b.Add(3, peers[3].s)
	b.Remove(0)
	for range 3 {
		<-done
	}
	stats := b.Stats()
	b.Close()
	for i, p := range peers {
		p.s.Close()
		data := <-reads[i]
		if len(data)%bbMsgLen != 0 {
			t.Fatalf("peer %d: %d bytes, not whole messages", i, len(data))
		}
		// Each goroutine's messages arrive in the order it sent them.
		last := map[int]int{}
		for j := 0; j < len(data); j += bbMsgLen {
			var n int
			fmt.Sscanf(string(data[j:j+bbMsgLen]), "msg %d\n", &n)
			if prev, ok := last[n/1000]; ok && n <= prev {
				t.Fatalf("peer %d: message %d after %d", i, n, prev)
			}
			last[n/1000] = n
		}
		if st, ok := stats[i]; ok && st.Sent != int64(len(data)/bbMsgLen) {
			t.Fatalf("peer %d: read %d messages, Stats say %+v", i, len(data)/bbMsgLen, st)
		}
	}
	if st := stats[1]; st.Sent != 1500 || st.Dropped != 0 {
		t.Fatalf("peer 1: %+v, want 1500 sent", st)
	}
}

// A chat server from the docs alone: fanin.Serve in each connection's handler,
// one loop broadcasting what C delivers. Every client gets every line once,
// each sender's in order, and the server ends clean once they leave.
func TestBlackbox_ChatWithFanin(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const clients, perClient = 8, 50
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := broadcast.New[int](broadcast.Config{})
	f := fanin.Lines[int](fanin.DefaultBuffer)
	var handlers sync.WaitGroup
	streams := make(chan *chanstream.Stream, clients)
	var mu sync.Mutex
	byKey := map[int]*chanstream.Stream{}
	allJoined := make(chan struct{})
	go func() {
		defer close(allJoined)
		for key := range clients {
			conn, err := ln.Accept()
			if err != nil {
				t.Error(err)
				return
			}
			s := chanstream.NewStream(conn, chanstream.WithWriteBufferLimits(1<<20, 1<<18))
			streams <- s
			mu.Lock()
			byKey[key] = s
			mu.Unlock()
			b.Add(key, s)
			handlers.Add(1)
			go func() {
				defer handlers.Done()
				if _, err := f.Serve(ctx, key, s.Reader()); err != nil {
					t.Errorf("Serve(%d) = %v", key, err)
				}
			}()
		}
	}()
	results := make(chan error, clients)
	for c := range clients {
		go func() { results <- bbChatClient(ctx, ln.Addr().String(), c, clients, perClient) }()
	}
	// Clients talk once all have joined: a peer gets the messages sent
	// after it joined.
	select {
	case <-allJoined:
	case <-ctx.Done():
		t.Fatal("the clients did not join")
	}
	if n := b.Send([]byte("start\n")); n != clients {
		t.Fatalf("start reached %d clients", n)
	}
	ended := 0
	for ended < clients {
		select {
		case m := <-f.C:
			if m.Err != nil {
				if m.Err != io.EOF {
					t.Errorf("client %d ended with %v", m.Key, m.Err)
				}
				// The client left, having read every line: it leaves the
				// broadcast and its stream is closed.
				st, err := b.Remove(m.Key)
				if err != nil || st.Dropped != 0 || st.Sent != clients*perClient+1 {
					t.Errorf("Remove(%d) = %+v, %v", m.Key, st, err)
				}
				mu.Lock()
				byKey[m.Key].Close()
				mu.Unlock()
				ended++
				continue
			}
			if n := b.Send(m.Value); n == 0 {
				t.Errorf("line %q reached no peer", m.Value)
			}
		case <-ctx.Done():
			t.Fatal("the chat did not end")
		}
	}
	for range clients {
		if err := <-results; err != nil {
			t.Error(err)
		}
	}
	handlers.Wait()
	if left := f.Stop(); len(left) != 0 {
		t.Errorf("Stop returned %d", len(left))
	}
	if b.Len() != 0 {
		t.Errorf("%d peers left", b.Len())
	}
	b.Close()
	ln.Close()
	close(streams)
	var all []*chanstream.Stream
	for s := range streams {
		all = append(all, s)
	}
	streamtest.CloseStreams(t, all...)
}

// bbChatClient sends its lines, reads until it has every client's, each
// sender's in order, then leaves with a half-close and reads to EOF.
func bbChatClient(ctx context.Context, addr string, id, clients, perClient int) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(50 * time.Second))
	rd := bufio.NewReader(conn)
	if start, err := rd.ReadString('\n'); err != nil || start != "start\n" {
		return fmt.Errorf("client %d: %q, %v before start", id, start, err)
	}
	go func() {
		w := bufio.NewWriter(conn)
		for i := range perClient {
			fmt.Fprintf(w, "from %d line %d\n", id, i)
		}
		w.Flush()
	}()
	next := make([]int, clients)
	for got := 0; got < clients*perClient; got++ {
		line, err := rd.ReadString('\n')
		if err != nil {
			return fmt.Errorf("client %d after %d lines: %v", id, got, err)
		}
		var from, n int
		if _, err := fmt.Sscanf(line, "from %d line %d\n", &from, &n); err != nil || from >= clients || n != next[from] {
			return fmt.Errorf("client %d: line %q, want line %d of %d", id, line, next[from], from)
		}
		next[from]++
	}
	conn.(*net.TCPConn).CloseWrite()
	rest, err := io.ReadAll(rd)
	if err != nil || len(rest) != 0 {
		return fmt.Errorf("client %d: after its lines: %q, %v", id, rest, err)
	}
	return nil
}
