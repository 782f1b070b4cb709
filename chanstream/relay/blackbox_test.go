package relay_test

// Black-box tests of Relay, written from the package's doc comments alone,
// with python3's asyncio as the peers in one of them.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/relay"
	"github.com/chanstream/chanstream/chanstream/streamtest"
)

func bbCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

type bbResult struct {
	res relay.Result
	err error
}

func bbStart(ctx context.Context, a, b net.Conn) <-chan bbResult {
	done := make(chan bbResult, 1)
	go func() {
		res, err := relay.Relay(ctx, a, b)
		done <- bbResult{res, err}
	}()
	return done
}

func bbWaitRelay(t *testing.T, done <-chan bbResult) bbResult {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("Relay did not return")
	}
	panic("unreachable")
}

// bbSides: peerA - a =relay= b - peerB, over loopback TCP, a and b wrapped
// in streams or not.
func bbSides(t *testing.T, aStream, bStream bool) (peerA *net.TCPConn, a, b net.Conn, peerB *net.TCPConn) {
	t.Helper()
	peerA, ac := streamtest.TCPPair(t)
	bc, peerB := streamtest.TCPPair(t)
	a, b = ac, bc
	if aStream {
		a = chanstream.NewStream(ac, chanstream.WithWriteBufferLimits(8<<10, 2<<10), chanstream.WithLimit(4<<10))
	}
	if bStream {
		b = chanstream.NewStream(bc)
	}
	t.Cleanup(func() {
		peerA.Close()
		peerB.Close()
	})
	return peerA, a, b, peerB
}

var bbKinds = []struct {
	name             string
	aStream, bStream bool
}{
	{"streams", true, true},
	{"stream to conn", true, false},
	{"conn to stream", false, true},
	{"conns", false, false},
}

// One direction ends (a half-close) and the other goes on, a conversation
// long enough to pass the watermarks; then the other ends and Relay returns
// nil with the counts.
func TestBlackbox_HalfCloseThenOtherDirectionGoesOn(t *testing.T) {
	for _, k := range bbKinds {
		for _, first := range []string{"a", "b"} {
			t.Run(fmt.Sprintf("%s, %s ends first", k.name, first), func(t *testing.T) {
				ctx := bbCtx(t)
				peerA, a, b, peerB := bbSides(t, k.aStream, k.bStream)
				done := bbStart(ctx, a, b)
				early, late := peerA, peerB
				if first == "b" {
					early, late = peerB, peerA
				}
				hello := bytes.Repeat([]byte("early "), 1000)
				go func() {
					early.Write(hello)
					early.CloseWrite()
				}()
				got, err := io.ReadAll(late)
				if err != nil || !bytes.Equal(got, hello) {
					t.Fatalf("late peer read %d bytes, %v; want %d then EOF", len(got), err, len(hello))
				}
				// The late peer now talks at length; the early one reads it all.
				var sent bytes.Buffer
				go func() {
					w := bufio.NewWriter(late)
					for i := range 20000 {
						fmt.Fprintf(w, "late line %d\n", i)
						fmt.Fprintf(&sent, "late line %d\n", i)
					}
					w.Flush()
					late.CloseWrite()
				}()
				back, err := io.ReadAll(early)
				if err != nil {
					t.Fatalf("early peer: %v", err)
				}
				r := bbWaitRelay(t, done)
				if r.err != nil {
					t.Fatalf("Relay = %v", r.err)
				}
				if !bytes.Equal(back, sent.Bytes()) {
					t.Fatalf("early peer got %d bytes, want %d", len(back), sent.Len())
				}
				wantAB, wantBA := int64(len(hello)), int64(sent.Len())
				if first == "b" {
					wantAB, wantBA = wantBA, wantAB
				}
				if r.res.AToB != wantAB || r.res.BToA != wantBA {
					t.Fatalf("Result = %+v, want AToB %d BToA %d", r.res, wantAB, wantBA)
				}
			})
		}
	}
}

func bbIsReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET)
}

// bbReadUntilErr reads c until an error and returns it and the bytes read.
func bbReadUntilErr(c net.Conn) ([]byte, error) {
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var got []byte
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			return got, err
		}
	}
}

// A reset on either side becomes a reset on the other, and Relay returns an
// *Error naming the direction that met it.
func TestBlackbox_ResetBecomesReset(t *testing.T) {
	for _, k := range bbKinds {
		for _, side := range []string{"a", "b"} {
			t.Run(fmt.Sprintf("%s, %s's peer resets", k.name, side), func(t *testing.T) {
				ctx := bbCtx(t)
				peerA, a, b, peerB := bbSides(t, k.aStream, k.bStream)
				done := bbStart(ctx, a, b)
				resetter, other, dir := peerA, peerB, relay.AToB
				if side == "b" {
					resetter, other, dir = peerB, peerA, relay.BToA
				}
				// Data crosses first, so the relay is running both ways.
				resetter.Write([]byte("ping\n"))
				line := make([]byte, 5)
				if _, err := io.ReadFull(other, line); err != nil {
					t.Fatal(err)
				}
				resetter.SetLinger(0)
				resetter.Close()
				_, err := bbReadUntilErr(other)
				if !bbIsReset(err) {
					t.Fatalf("the other peer read %v, want ECONNRESET", err)
				}
				r := bbWaitRelay(t, done)
				var re *relay.Error
				if !errors.As(r.err, &re) {
					t.Fatalf("Relay = %v, want a *relay.Error", r.err)
				}
				if re.Dir != dir || !bbIsReset(r.err) {
					t.Fatalf("Relay = %v (dir %v), want ECONNRESET %v", r.err, re.Dir, dir)
				}
				if r.res.AToB+r.res.BToA != 5 {
					t.Fatalf("Result = %+v, want the 5 bytes of ping", r.res)
				}
			})
		}
	}
}

// A done ctx stops Relay with ctx.Err(), and both peers see a reset.
func TestBlackbox_CtxStopsAndResetsBoth(t *testing.T) {
	for _, k := range bbKinds {
		t.Run(k.name, func(t *testing.T) {
			ctx := bbCtx(t)
			peerA, a, b, peerB := bbSides(t, k.aStream, k.bStream)
			rctx, cancel := context.WithCancel(ctx)
			done := bbStart(rctx, a, b)
			peerA.Write([]byte("x"))
			one := make([]byte, 1)
			if _, err := io.ReadFull(peerB, one); err != nil {
				t.Fatal(err)
			}
			cancel()
			r := bbWaitRelay(t, done)
			if !errors.Is(r.err, context.Canceled) {
				t.Fatalf("Relay = %v, want context.Canceled", r.err)
			}
			if r.res.AToB != 1 || r.res.BToA != 0 {
				t.Fatalf("Result = %+v", r.res)
			}
			for name, p := range map[string]*net.TCPConn{"a": peerA, "b": peerB} {
				if _, err := bbReadUntilErr(p); !bbIsReset(err) {
					t.Errorf("peer %s read %v, want ECONNRESET", name, err)
				}
			}
		})
	}
}

// Bad input returns an error and leaves the connections untouched.
func TestBlackbox_BadInput(t *testing.T) {
	ctx := bbCtx(t)
	peer, c := streamtest.TCPPair(t)
	s := chanstream.NewStream(c)
	defer streamtest.CloseStreams(t, s)
	var nilStream *chanstream.Stream
	var nilTCP *net.TCPConn
	for _, tc := range []struct {
		name string
		a, b net.Conn
		want error
	}{
		{"nil a", nil, s, relay.ErrNilConn},
		{"nil b", s, nil, relay.ErrNilConn},
		{"nil *Stream", nilStream, s, relay.ErrNilConn},
		{"nil *TCPConn", s, nilTCP, relay.ErrNilConn},
		{"same stream", s, s, relay.ErrSameConn},
		{"stream and its conn", s, s.Conn(), relay.ErrSameConn},
	} {
		if _, err := relay.Relay(ctx, tc.a, tc.b); !errors.Is(err, tc.want) {
			t.Errorf("%s: Relay = %v, want %v", tc.name, err, tc.want)
		}
	}
	// The stream still works both ways.
	if _, err := s.Write([]byte("still here\n")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 11)
	if _, err := io.ReadFull(peer, got); err != nil || string(got) != "still here\n" {
		t.Fatalf("peer read %q, %v", got, err)
	}
	peer.Write([]byte("and back\n"))
	if line, err := s.ReadLine(ctx); err != nil || string(line) != "and back\n" {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
}

// What a stopped Receiver gave back to the stream's reader is relayed first,
// in order.
func TestBlackbox_GivenBackDataRelayedFirst(t *testing.T) {
	ctx := bbCtx(t)
	peerA, a, b, peerB := bbSides(t, true, false)
	sa := a.(*chanstream.Stream)
	var want bytes.Buffer
	for i := range 200 {
		fmt.Fprintf(&want, "line %d\n", i)
	}
	peerA.Write(want.Bytes())
	rc := sa.LineChan(ctx)
	first := <-rc.C
	deadline := time.Now().Add(20 * time.Second)
	for len(rc.C) < cap(rc.C) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	rc.Stop()
	done := bbStart(ctx, a, b)
	peerA.CloseWrite()
	got, err := io.ReadAll(peerB)
	if err != nil {
		t.Fatal(err)
	}
	if string(first)+string(got) != want.String() {
		t.Fatalf("relayed %d bytes after the first line, want %d in order", len(got), want.Len()-len(first))
	}
	peerB.CloseWrite()
	if r := bbWaitRelay(t, done); r.err != nil || r.res.AToB != int64(len(got)) {
		t.Fatalf("Relay = %+v, %v", r.res, r.err)
	}
}

const bbAsyncioPeers = `
import asyncio, hashlib, json, sys

async def main():
    relay_port = int(sys.argv[1])
    upstream = asyncio.get_running_loop().create_future()

    async def handle(r, w):
        data = await r.read()          # through the client's write_eof
        reply = hashlib.sha256(data).hexdigest().encode() * 1000
        w.write(reply)                 # the other direction goes on
        await w.drain()
        w.write_eof()
        more = await r.read()
        upstream.set_result({"n": len(data), "sha": hashlib.sha256(data).hexdigest(), "more": len(more)})
        w.close()
        await w.wait_closed()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(srv.sockets[0].getsockname()[1], flush=True)
    r, w = await asyncio.open_connection("127.0.0.1", relay_port)
    payload = bytes(range(256)) * 400
    w.write(payload)
    await w.drain()
    w.write_eof()
    got = await r.read()
    at_eof = r.at_eof()
    w.close()
    await w.wait_closed()
    up = await upstream
    srv.close()
    await srv.wait_closed()
    print(json.dumps({"sent": len(payload), "sent_sha": hashlib.sha256(payload).hexdigest(),
                      "got": len(got), "got_sha": hashlib.sha256(got).hexdigest(),
                      "at_eof": at_eof, "upstream": up}), flush=True)

asyncio.run(main())
`

// Python's asyncio as both peers: a client that sends, write_eof()s and reads
// to EOF, and an upstream server that reads to EOF, then answers and
// write_eof()s. Relay passes every half-close on as asyncio expects.
func TestBlackbox_AsyncioPeers(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	ctx := bbCtx(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cmd := exec.CommandContext(ctx, python, "-c", bbAsyncioPeers, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	lines := bufio.NewScanner(out)
	if !lines.Scan() {
		t.Fatalf("python printed nothing: %s", stderr.String())
	}
	upstreamAddr := "127.0.0.1:" + strings.TrimSpace(lines.Text())
	client, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	upstream, err := net.Dial("tcp", upstreamAddr)
	if err != nil {
		client.Close()
		t.Fatal(err)
	}
	res, err := relay.Relay(ctx, chanstream.NewStream(client), upstream)
	if err != nil {
		t.Fatalf("Relay = %v; python: %s", err, stderr.String())
	}
	if !lines.Scan() {
		t.Fatalf("python printed no result: %s", stderr.String())
	}
	var py struct {
		Sent     int    `json:"sent"`
		SentSHA  string `json:"sent_sha"`
		Got      int    `json:"got"`
		GotSHA   string `json:"got_sha"`
		AtEOF    bool   `json:"at_eof"`
		Upstream struct {
			N    int    `json:"n"`
			SHA  string `json:"sha"`
			More int    `json:"more"`
		} `json:"upstream"`
	}
	if err := json.Unmarshal(lines.Bytes(), &py); err != nil {
		t.Fatalf("%v: %s", err, lines.Text())
	}
	if py.Upstream.N != py.Sent || py.Upstream.SHA != py.SentSHA || py.Upstream.More != 0 {
		t.Errorf("upstream got %+v, client sent %d bytes (%s)", py.Upstream, py.Sent, py.SentSHA)
	}
	reply := bytes.Repeat([]byte(py.SentSHA), 1000)
	sum := sha256.Sum256(reply)
	if py.Got != len(reply) || py.GotSHA != hex.EncodeToString(sum[:]) || !py.AtEOF {
		t.Errorf("client got %d bytes (%s), at_eof %v; want %d", py.Got, py.GotSHA, py.AtEOF, len(reply))
	}
	if res.AToB != int64(py.Sent) || res.BToA != int64(len(reply)) {
		t.Errorf("Result = %+v, want %d and %d", res, py.Sent, len(reply))
	}
}

// bbNoHalfClose hides the connection's CloseWrite.
type bbNoHalfClose struct{ net.Conn }

// A destination that cannot half-close is closed instead, which ends the
// other direction as if it had reached EOF; Relay returns nil.
func TestBlackbox_DestinationWithoutHalfClose(t *testing.T) {
	for _, aStream := range []bool{true, false} {
		t.Run(fmt.Sprint("a is a stream: ", aStream), func(t *testing.T) {
			ctx := bbCtx(t)
			peerA, a, bc, peerB := bbSides(t, aStream, false)
			done := bbStart(ctx, a, bbNoHalfClose{bc})
			peerA.Write([]byte("request"))
			peerA.CloseWrite()
			got, err := io.ReadAll(peerB)
			if err != nil || string(got) != "request" {
				t.Fatalf("peer b read %q, %v", got, err)
			}
			back, err := io.ReadAll(peerA)
			if err != nil || len(back) != 0 {
				t.Fatalf("peer a read %q, %v; want EOF", back, err)
			}
			r := bbWaitRelay(t, done)
			if r.err != nil || r.res.AToB != 7 || r.res.BToA != 0 {
				t.Fatalf("Relay = %+v, %v", r.res, r.err)
			}
		})
	}
}

// A read deadline set on a connection ends an idle relay with an error, and
// both peers see a reset.
func TestBlackbox_DeadlineEndsRelay(t *testing.T) {
	for _, aStream := range []bool{true, false} {
		t.Run(fmt.Sprint("a is a stream: ", aStream), func(t *testing.T) {
			ctx := bbCtx(t)
			peerA, a, b, peerB := bbSides(t, aStream, false)
			a.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			done := bbStart(ctx, a, b)
			r := bbWaitRelay(t, done)
			var re *relay.Error
			if !errors.As(r.err, &re) || re.Dir != relay.AToB || !errors.Is(r.err, os.ErrDeadlineExceeded) {
				t.Fatalf("Relay = %v, want an *Error a to b matching os.ErrDeadlineExceeded", r.err)
			}
			for name, p := range map[string]*net.TCPConn{"a": peerA, "b": peerB} {
				if _, err := bbReadUntilErr(p); !bbIsReset(err) {
					t.Errorf("peer %s read %v, want ECONNRESET", name, err)
				}
			}
		})
	}
}
