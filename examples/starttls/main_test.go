package main

import (
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/streamtest"
	"github.com/chanstream/chanstream/dial"
	"github.com/chanstream/chanstream/internal/testnet"
	"github.com/chanstream/chanstream/tlsupgrade"
)

func TestMain(m *testing.M) { streamtest.VerifyTestMain(m) }

// startServer runs the example with certs made for the test, until it ends.
func startServer(t *testing.T) (port string, certs *testnet.TLS, log *streamtest.Buffer) {
	t.Helper()
	certs = testnet.NewTLS(t, "localhost", "127.0.0.1")
	log = &streamtest.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, "127.0.0.1:0", certs.ServerConfig(), log, func(a net.Addr) { ready <- a }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run = %v", err)
		}
	})
	select {
	case a := <-ready:
		return strconv.Itoa(a.(*net.TCPAddr).Port), certs, log
	case err := <-done:
		t.Fatalf("run = %v", err)
	}
	return "", nil, nil
}

func TestStartTLS_OpenSSLClient(t *testing.T) {
	openssl := testnet.Program(t, "openssl", "openssl")
	port, certs, log := startServer(t)
	cmd := exec.Command(openssl, "s_client", "-starttls", "smtp", "-connect", "127.0.0.1:"+port,
		"-crlf", "-quiet", "-verify_return_error", "-CAfile", certs.WriteCAFile(t), "-servername", "localhost")
	out, err := testnet.Run(t, cmd, "NOOP\nQUIT\n")
	if err != nil {
		t.Fatalf("openssl s_client: %v\n%s", err, out)
	}
	for _, want := range []string{"250 2.0.0 OK", "221 2.0.0 Bye"} {
		if !strings.Contains(out, want) {
			t.Errorf("openssl's output lacks %q:\n%s", want, out)
		}
	}
	eventually(t, log, "upgraded to TLS")
}

func TestStartTLS_PythonAsyncioClient(t *testing.T) {
	python := testnet.Program(t, "python3", "python3")
	port, certs, log := startServer(t)
	out, err := testnet.Run(t, exec.Command(python, filepath.Join("testdata", "starttls_client.py"), port, certs.WriteCAFile(t)), "")
	if err != nil {
		t.Fatalf("the Python client: %v\n%s", err, out)
	}
	want := `220 localhost ESMTP chanstream STARTTLS example
250-localhost at your service
250-8BITMIME
250 STARTTLS
220 2.0.0 Ready to start TLS
TLS: TLSv1.3
250-localhost at your service, over TLS
250 8BITMIME
221 2.0.0 Bye
`
	if out != want {
		t.Fatalf("the Python client printed:\n%s\nwant:\n%s", out, want)
	}
	eventually(t, log, "QUIT")
}

func TestStartTLS_GoClient(t *testing.T) {
	port, certs, _ := startServer(t)
	ctx := testnet.Ctx(t, 20*time.Second)
	s, err := dial.Dial(ctx, "tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		s.Close()
		s.WaitClosed(ctx)
	}()
	expectReply := func(prefix string) {
		t.Helper()
		for {
			line, err := s.ReadLine(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(line), prefix[:3]) {
				t.Fatalf("reply %q; want %s", line, prefix)
			}
			if line[3] == ' ' {
				if !strings.HasPrefix(string(line), prefix) {
					t.Fatalf("reply %q; want %s", line, prefix)
				}
				return
			}
		}
	}
	expectReply("220 ")
	// STARTTLS pipelined right behind EHLO.
	s.Write([]byte("EHLO go\r\nSTARTTLS\r\n"))
	expectReply("250 STARTTLS")
	expectReply("220 2.0.0")
	cfg := certs.ClientConfig()
	if err := tlsupgrade.Client(ctx, s, cfg, tlsupgrade.WithServerName("localhost")); err != nil {
		t.Fatal(err)
	}
	s.Write([]byte("STARTTLS\r\n"))
	expectReply("503")
	s.Write([]byte("QUIT\r\n"))
	expectReply("221")
	if _, ok := s.Conn().(*tlsupgrade.Conn); !ok {
		t.Fatalf("Conn is %T", s.Conn())
	}
}

func eventually(t *testing.T, log *streamtest.Buffer, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(log.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the server never logged %q:\n%s", want, log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The session against a scripted client, before any TLS: replies to
// pipelined and cut commands, an unknown verb, and the end of the client's
// data, with no socket.
func TestStartTLS_SessionWithAScriptedClient(t *testing.T) {
	const greeting = "220 localhost ESMTP chanstream STARTTLS example\r\n"
	for _, tc := range []struct {
		name   string
		script func(c *streamtest.Script)
		log    string
	}{
		{"commands", func(c *streamtest.Script) {
			c.Expect(greeting).
				Send("ehlo me\r\n").
				Expect("250-localhost at your service\r\n250-8BITMIME\r\n250 STARTTLS\r\n").
				Send("NO").
				Send("OP\r\nBOGUS\r\n"). // the command cut in two, then one pipelined behind it
				Expect("250 2.0.0 OK\r\n502 5.5.2 Command not implemented\r\n").
				Send("QUIT\r\n").
				Expect("221 2.0.0 Bye\r\n")
		}, "script:peer: connected\nscript:peer: QUIT\n"},
		{"the client goes", func(c *streamtest.Script) {
			c.Expect(greeting).
				Send("HELO me\r\n").
				Expect("250 localhost\r\n").
				SendEOF()
		}, "script:peer: connected\nscript:peer: gone (EOF)\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			streamtest.VerifyNone(t)
			client := streamtest.NewScript(t)
			tc.script(client)
			s := chanstream.NewStream(client)
			defer streamtest.CloseStreams(t, s)
			var log streamtest.Buffer
			_, serverConfig := streamtest.TLSConfigs(t)
			session(testnet.Ctx(t, 10*time.Second), s, serverConfig, &logger{w: &log})
			if log.String() != tc.log {
				t.Fatalf("the session logged:\n%s\nwant:\n%s", log.String(), tc.log)
			}
		})
	}
}
