package main

import (
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/streamtest"
	"github.com/chanstream/chanstream/internal/testnet"
)

func TestMain(m *testing.M) { streamtest.VerifyTestMain(m) }

// startServer runs the example on a free loopback port until the test ends.
func startServer(t *testing.T) (port int, out *streamtest.Buffer) {
	t.Helper()
	out = &streamtest.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan []net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, "127.0.0.1:0", out, func(a []net.Addr) { ready <- a }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run = %v", err)
		}
	})
	select {
	case addrs := <-ready:
		return addrs[0].(*net.TCPAddr).Port, out
	case err := <-done:
		t.Fatalf("run = %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not start")
	}
	return 0, nil
}

func TestEchoServer_AgainstThePythonClient(t *testing.T) {
	python := testnet.Program(t, "python3", "python3")
	port, out := startServer(t)
	script, err := os.ReadFile(filepath.Join("testdata", "tcp_echo_client.py"))
	if err != nil {
		t.Fatal(err)
	}
	client := strings.ReplaceAll(string(script), "8888", strconv.Itoa(port))
	got, err := testnet.Run(t, exec.Command(python, "-c", client), "")
	if err != nil {
		t.Fatalf("the Python client failed: %v\n%s", err, got)
	}
	want := "Send: 'Hello World!'\nReceived: 'Hello World!'\nClose the connection\n"
	if got != want {
		t.Fatalf("the Python client printed:\n%s\nwant:\n%s", got, want)
	}
	wantServer := regexp.MustCompile(`^Serving on \('127\.0\.0\.1', ` + strconv.Itoa(port) + `\)
Received 'Hello World!' from \('127\.0\.0\.1', \d+\)
Send: 'Hello World!'
Close the connection
$`)
	deadline := time.Now().Add(10 * time.Second)
	for !wantServer.MatchString(out.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("the server printed:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEchoServer_ManyClients(t *testing.T) {
	port, _ := startServer(t)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 5*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			msg := "client " + strconv.Itoa(i)
			c.Write([]byte(msg))
			buf := make([]byte, 100)
			n, _ := c.Read(buf)
			if string(buf[:n]) != msg {
				t.Errorf("echo %q; want %q", buf[:n], msg)
			}
		}()
	}
	wg.Wait()
}

// 100 bytes that cut a character in two: the original's data.decode()
// raises, asyncio logs it and closes the connection; nothing is printed on
// stdout and nothing is echoed (the Python client then prints
// "Received: ”").
func TestEchoServer_MessageCutInsideACharacter(t *testing.T) {
	port, out := startServer(t)
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("a" + strings.Repeat("é", 60))) // byte 100 is the first half of an é
	got, err := io.ReadAll(c)
	if err != nil || len(got) != 0 {
		t.Fatalf("the server echoed %q, %v; want nothing", got, err)
	}
	if strings.Contains(out.String(), "Received") {
		t.Fatalf("the server printed:\n%s", out.String())
	}
}

// The handler against a scripted client, no socket: it echoes what it
// read and closes; a message whose 100th byte cuts a character in two is
// logged as the original's exception, and neither printed nor echoed.
func TestEchoServer_HandlerWithAScriptedClient(t *testing.T) {
	cut := "a" + strings.Repeat("é", 60)
	for _, tc := range []struct {
		name, send, echo, printed, logged string
	}{
		{"echo", "Hello World!", "Hello World!", "Received 'Hello World!' from 'script:peer'\nSend: 'Hello World!'\nClose the connection\n", ""},
		{"cut inside a character", cut, "", "", "Unhandled exception in client_connected_cb\nUnicodeDecodeError: 'utf-8' codec can't decode byte 0xc3 in position 99: unexpected end of data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			streamtest.VerifyNone(t)
			client := streamtest.NewScript(t).Send(tc.send)
			if tc.echo != "" {
				client.Expect(tc.echo)
			}
			client.ExpectClose()
			var out, errs streamtest.Buffer
			s := chanstream.NewStream(client)
			handleEcho(testnet.Ctx(t, 10*time.Second), s, &lockedWriter{w: &out, errw: &errs})
			if out.String() != tc.printed || !strings.HasPrefix(errs.String(), tc.logged) || (tc.logged == "") != (errs.Len() == 0) {
				t.Fatalf("the handler printed:\n%s\nand logged:\n%s\nwant:\n%s\nand a log beginning %q", out.String(), errs.String(), tc.printed, tc.logged)
			}
		})
	}
}
