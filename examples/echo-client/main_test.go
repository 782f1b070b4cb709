package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream/streamtest"
	"github.com/chanstream/chanstream/internal/testnet"
)

func TestMain(m *testing.M) { streamtest.VerifyTestMain(m) }

func TestEchoClient_AgainstThePythonServer(t *testing.T) {
	python := testnet.Program(t, "python3", "python3")
	script, err := os.ReadFile(filepath.Join("testdata", "tcp_echo_server.py"))
	if err != nil {
		t.Fatal(err)
	}
	// Port 0: the server picks a free port and prints it.
	server := strings.ReplaceAll(string(script), "8888", "0")
	proc, m := testnet.Start(t, exec.Command(python, "-u", "-c", server), regexp.MustCompile(`^Serving on \('127\.0\.0\.1', (\d+)\)$`))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, message := range []string{"Hello World!", "it's \"quoted\"\ttabbed"} {
		var out bytes.Buffer
		if err := tcpEchoClient(ctx, net.JoinHostPort("127.0.0.1", m[1]), message, &out); err != nil {
			t.Fatal(err)
		}
		// What the Python client prints, computed by Python itself.
		want, err := testnet.Run(t, exec.Command(python, "-c", "import sys; m = sys.stdin.read(); print(f'Send: {m!r}'); print(f'Received: {m!r}'); print('Close the connection')"), message)
		if err != nil {
			t.Fatal(err)
		}
		if out.String() != want {
			t.Errorf("printed:\n%s\nwant:\n%s", out.String(), want)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(proc.Output(), "Received 'Hello World!' from ('127.0.0.1', ") {
		if time.Now().After(deadline) {
			t.Fatalf("the Python server printed:\n%s", proc.Output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEchoClient_ConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var out bytes.Buffer
	err = tcpEchoClient(context.Background(), addr, "x", &out)
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("tcpEchoClient to a closed port = %v", err)
	}
}

func TestEchoClient_AgainstAScriptedServer(t *testing.T) {
	server := streamtest.NewScript(t).
		Expect("Hello World!").
		Send("Hello World!")
	var out bytes.Buffer
	if err := tcpEchoClient(testnet.Ctx(t, 10*time.Second), streamtest.ServeScript(t, server).String(), "Hello World!", &out); err != nil {
		t.Fatal(err)
	}
	if want := "Send: 'Hello World!'\nReceived: 'Hello World!'\nClose the connection\n"; out.String() != want {
		t.Fatalf("printed %q, want %q", out.String(), want)
	}
}

// An echo that cuts a character in two: the original's data.decode()
// raises after "Send:", and prints nothing more.
func TestEchoClient_EchoCutInsideACharacter(t *testing.T) {
	message := "a" + strings.Repeat("é", 60)
	server := streamtest.NewScript(t).
		Expect(message).
		Send(message[:100]) // the 100th byte is the first half of an é
	var out bytes.Buffer
	err := tcpEchoClient(testnet.Ctx(t, 10*time.Second), streamtest.ServeScript(t, server).String(), message, &out)
	if err == nil || !strings.HasPrefix(err.Error(), "UnicodeDecodeError: 'utf-8' codec can't decode byte 0xc3 in position 99: unexpected end of data") {
		t.Fatalf("tcpEchoClient = %v", err)
	}
	if want := "Send: '" + message + "'\n"; out.String() != want {
		t.Fatalf("printed %q, want %q", out.String(), want)
	}
}
