package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream/broadcast"
	"github.com/chanstream/chanstream/chanstream/streamtest"
)

func TestMain(m *testing.M) { streamtest.VerifyTestMain(m) }

// startServer runs the chat on a free loopback port. stop shuts it down and
// waits for run to return.
func startServer(t *testing.T, policy broadcast.Policy) (addr string, out *streamtest.Buffer, stop func()) {
	t.Helper()
	out = &streamtest.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	cfg := config{addr: "127.0.0.1:0", policy: policy, drain: 100 * time.Millisecond}
	go func() { done <- run(ctx, cfg, out, func(a net.Addr) { ready <- a }) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run = %v", err)
			}
		})
	}
	t.Cleanup(stop)
	select {
	case a := <-ready:
		return a.String(), out, stop
	case err := <-done:
		t.Fatalf("run = %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not start")
	}
	return "", nil, nil
}

type client struct {
	t    *testing.T
	conn *net.TCPConn
	br   *bufio.Reader
}

func dial(t *testing.T, addr string, dialer *net.Dialer) *client {
	t.Helper()
	if dialer == nil {
		dialer = &net.Dialer{}
	}
	conn, err := dialer.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	return &client{t, conn.(*net.TCPConn), bufio.NewReader(conn)}
}

func (c *client) send(line string) {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(line + "\n")); err != nil {
		c.t.Fatal(err)
	}
}

// readLine reads the next line but the notice that the stuck client left,
// which comes when the Disconnect policy disconnects it.
func (c *client) readLine() (string, error) {
	for {
		line, err := c.br.ReadString('\n')
		if err != nil || line != "* client3 left\n" {
			return line, err
		}
	}
}

func (c *client) expect(want string) {
	c.t.Helper()
	line, err := c.readLine()
	if err != nil || line != want+"\n" {
		c.t.Fatalf("got %q, %v; want %q", line, err, want)
	}
}

func TestChat_JoinTalkLeaveShutdown(t *testing.T) {
	addr, out, stop := startServer(t, broadcast.Drop)
	a := dial(t, addr, nil)
	a.expect("* you are client1")
	a.expect("* client1 joined")
	b := dial(t, addr, nil)
	b.expect("* you are client2")
	b.expect("* client2 joined")
	a.expect("* client2 joined")

	a.send("hello")
	a.expect("client1: hello")
	b.expect("client1: hello")
	b.send("hi")
	a.expect("client2: hi")
	b.expect("client2: hi")

	b.conn.Close()
	a.expect("* client2 left")

	stop()
	a.expect("* server shutting down")
	if line, err := a.br.ReadString('\n'); line != "" || err == nil {
		t.Errorf("after shutdown: %q, %v; want EOF", line, err)
	}
	for _, want := range []string{"client1 joined from", "client2 joined from", "client2 left (sent 4, dropped 0)", "client1 stopped: context canceled", "Stopped"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the server's output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestChat_SlowClientByPolicy(t *testing.T) {
	for _, policy := range []broadcast.Policy{broadcast.Drop, broadcast.Disconnect} {
		t.Run(policy.String(), func(t *testing.T) {
			addr, _, _ := startServer(t, policy)
			talker := dial(t, addr, nil)
			talker.expect("* you are client1")
			talker.expect("* client1 joined")
			listener := dial(t, addr, nil)
			listener.expect("* you are client2")
			listener.expect("* client2 joined")
			talker.expect("* client2 joined")
			// A client that never reads, with a small receive window.
			stuck := dial(t, addr, &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
				return c.Control(setSmallRcvBuf)
			}})
			talker.expect("* client3 joined")
			listener.expect("* client3 joined")

			// The listener checks that it gets every line once, in order,
			// and reports each; the talker waits for that before its next
			// line, so that a healthy client is never more than a line
			// behind, however slowly the loaded machine runs it.
			heard := make(chan error)
			go func() {
				for i := 0; ; i++ {
					line, err := listener.readLine()
					if err == nil && line == "client1: done\n" {
						close(heard)
						return
					}
					if want := fmt.Sprintf("client1: %d ", i); err == nil && !strings.HasPrefix(line, want) {
						err = fmt.Errorf("line %d: got %.20q", i, line)
					}
					heard <- err
					if err != nil {
						return
					}
				}
			}()

			pad := strings.Repeat("x", 2000)
			overflowed, lines := false, 0
			for ; lines < 20000 && !overflowed; lines++ {
				line := fmt.Sprintf("%d %s", lines, pad)
				talker.send(line)
				talker.expect("client1: " + line)
				if err := <-heard; err != nil {
					t.Fatalf("the listener: %v", err)
				}
				if lines%200 == 199 {
					overflowed = stuckOverflowed(t, talker, policy)
				}
			}
			if !overflowed {
				t.Fatal("the stuck client never overflowed")
			}
			t.Logf("the stuck client overflowed within %d lines of %d bytes", lines, len(pad)+20)
			talker.send("done")
			if err, ok := <-heard; ok {
				t.Fatalf("the listener, at the end: %v", err)
			}
			_ = stuck
		})
	}
}

// stuckOverflowed asks the server for its stats and reports whether client3
// has been handled by the policy: dropped messages, or disconnected.
func stuckOverflowed(t *testing.T, c *client, policy broadcast.Policy) bool {
	t.Helper()
	c.send("/stats")
	overflowed, listed := false, false
	for {
		line, err := c.readLine()
		if err != nil {
			t.Fatal(err)
		}
		if line == "* end of stats\n" {
			if policy == broadcast.Disconnect {
				// Disconnected, its handler has left: it never
				// leaves by itself.
				return !listed
			}
			return overflowed
		}
		if strings.HasPrefix(line, "* client1 ") || strings.HasPrefix(line, "* client2 ") {
			if !strings.Contains(line, "dropped=0 active=true") {
				t.Fatalf("a healthy client lost messages: %q", line)
			}
		}
		if strings.HasPrefix(line, "* client3 ") {
			listed = true
			overflowed = !strings.Contains(line, "dropped=0 ")
		}
	}
}
