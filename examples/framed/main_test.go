package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/frame"
	"github.com/chanstream/chanstream/chanstream/streamtest"
)

func TestMain(m *testing.M) { streamtest.VerifyTestMain(m) }

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// startServer runs the server on a free loopback port until the test ends.
func startServer(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- runServer(ctx, "127.0.0.1:0", io.Discard, func(a net.Addr) { ready <- a }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runServer = %v", err)
		}
	})
	select {
	case a := <-ready:
		return a.String()
	case err := <-done:
		t.Fatalf("runServer = %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not start")
	}
	return ""
}

// The README's command: a server and a client in one process.
func TestFramed_ServerAndClientInOneProcess(t *testing.T) {
	var out bytes.Buffer
	if err := runBoth(testCtx(t), &out); err != nil {
		t.Fatal(err)
	}
	want := "add 2 3 = 5\nmul 6 7 = 42\ndiv 1 0: division by zero\nsub 10 4 = 6\n"
	if out.String() != want {
		t.Fatalf("printed:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestFramed_ClientPipelinesManyRequests(t *testing.T) {
	addr := startServer(t)
	var reqs []Request
	var want strings.Builder
	for i := int64(0); i < 500; i++ {
		reqs = append(reqs, Request{Op: "mul", A: i, B: 3})
		want.WriteString(strings.Join([]string{"mul", itoa(i), "3", "=", itoa(3 * i)}, " ") + "\n")
	}
	var out bytes.Buffer
	if err := runClient(testCtx(t), addr, reqs, &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != want.String() {
		t.Fatalf("printed %d bytes; want %d", out.Len(), want.Len())
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// rawFrame is a 4-byte big-endian length and body, as the protocol frames
// its messages.
func rawFrame(body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// dialRaw opens a plain TCP connection to the server.
func dialRaw(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// readResponse reads one framed response the way a client in another
// language would.
func readResponse(t *testing.T, c net.Conn) Response {
	t.Helper()
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		t.Fatalf("reading a response's length: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatalf("reading a response's body: %v", err)
	}
	var resp Response
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatalf("response %q: %v", body, err)
	}
	return resp
}

// The wire format, written and read by hand: the requests arrive split
// across writes, one byte at a time for the first.
func TestFramed_WireFormat(t *testing.T) {
	c := dialRaw(t, startServer(t))
	first := rawFrame([]byte(`{"id":7,"op":"sub","a":1,"b":10}`))
	for _, b := range first {
		c.Write([]byte{b})
	}
	c.Write(rawFrame([]byte(`{"id":8,"op":"div","a":9,"b":2}`)))
	if resp := readResponse(t, c); resp != (Response{ID: 7, Result: -9}) {
		t.Fatalf("response %+v", resp)
	}
	if resp := readResponse(t, c); resp != (Response{ID: 8, Result: 4}) {
		t.Fatalf("response %+v", resp)
	}
	c.(*net.TCPConn).CloseWrite()
	if rest, err := io.ReadAll(c); err != nil || len(rest) != 0 {
		t.Fatalf("after the last response: %q, %v; want the server's close", rest, err)
	}
}

// A request the server cannot read gets an error response, after the
// responses to the requests before it, and the connection closes.
func TestFramed_BadRequests(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		wire       []byte
	}{
		{"bad JSON", "bad message", rawFrame([]byte(`{"id":`))},
		{"over-long frame", "over the maximum", binary.BigEndian.AppendUint32(nil, maxFrame+1)},
		{"cut frame", "expected bytes", binary.BigEndian.AppendUint32(nil, 100)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, startServer(t))
			c.Write(rawFrame([]byte(`{"id":1,"op":"add","a":1,"b":1}`)))
			c.Write(tc.wire)
			c.(*net.TCPConn).CloseWrite()
			if resp := readResponse(t, c); resp != (Response{ID: 1, Result: 2}) {
				t.Fatalf("first response %+v", resp)
			}
			if resp := readResponse(t, c); resp.ID != -1 || !strings.Contains(resp.Error, tc.want) {
				t.Fatalf("response %+v; want an error about %q", resp, tc.want)
			}
			if rest, err := io.ReadAll(c); err != nil || len(rest) != 0 {
				t.Fatalf("after the error: %q, %v; want the server's close", rest, err)
			}
		})
	}
}

func TestFramed_ParseRequests(t *testing.T) {
	for _, args := range [][]string{nil, {"add", "1"}, {"add", "x", "2"}, {"add", "1", "2.5"}} {
		if reqs, err := parseRequests(args); err == nil {
			t.Errorf("parseRequests(%q) = %v and no error", args, reqs)
		}
	}
	reqs, err := parseRequests([]string{"add", "2", "3", "div", "7", "0"})
	if err != nil || len(reqs) != 2 || reqs[1] != (Request{Op: "div", A: 7}) {
		t.Fatalf("parseRequests = %+v, %v", reqs, err)
	}
}

func TestFramed_ClientWithoutServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if err := runClient(testCtx(t), addr, []Request{{Op: "add"}}, io.Discard); err == nil {
		t.Fatal("runClient to a closed port succeeded")
	}
}

// The handler over an in-memory connection that cuts every read and write
// into pieces of 1 to 3 bytes: each frame, and its length prefix, arrives
// in pieces, and every response still matches its request.
func TestFramed_HandlerOverAChoppedConnection(t *testing.T) {
	ctx := testCtx(t)
	a, b := streamtest.Pipe(t)
	serverConn, clientConn := streamtest.InjectPair(t, a, b, 7, streamtest.Chop(streamtest.Both, 3))
	server, client := chanstream.NewStream(serverConn), chanstream.NewStream(clientConn)
	defer streamtest.CloseStreams(t, client, server)
	var log streamtest.Buffer
	handled := make(chan struct{})
	go func() {
		defer close(handled)
		handle(ctx, server, &log)
	}()

	var reqs []Request
	for i, op := range []string{"add", "sub", "mul", "div", "div", "pow"} {
		reqs = append(reqs, Request{ID: i, Op: op, A: int64(1000 + i), B: int64(i)})
	}
	requests := newJSONCodec[Request]()
	for _, req := range reqs {
		if err := frame.Write(ctx, client.Writer(), requests, req); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.WriteEOF(); err != nil {
		t.Fatal(err)
	}
	rc := frame.NewReceiver(ctx, client.Reader(), newJSONCodec[Response]())
	defer rc.Stop()
	var got []Response
	for resp := range rc.C {
		got = append(got, resp)
	}
	if err := rc.Err(); err != io.EOF {
		t.Fatalf("the responses ended with %v after %d of them", err, len(got))
	}
	<-handled
	if len(got) != len(reqs) {
		t.Fatalf("%d responses to %d requests: %+v", len(got), len(reqs), got)
	}
	for i, req := range reqs {
		if want := compute(req); got[i] != want {
			t.Errorf("response %d = %+v, want %+v", i, got[i], want)
		}
	}
	if log.Len() != 0 {
		t.Errorf("the handler logged %q", log.String())
	}
}
