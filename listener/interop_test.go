package listener

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/dial"
	"github.com/chanstream/chanstream/internal/testnet"
)

// http10 is a minimal HTTP/1.0 responder built on listener: it reads the
// request head line by line and answers with a fixed body.
func http10(ctx context.Context, s *chanstream.Stream) {
	request, err := s.ReadLine(ctx)
	if err != nil {
		return
	}
	for {
		line, err := s.ReadLine(ctx)
		if err != nil {
			return
		}
		if string(line) == "\r\n" || string(line) == "\n" {
			break
		}
	}
	method := strings.Fields(string(request))[0]
	body := fmt.Sprintf("you asked: %s", bytes.TrimSpace(request))
	fmt.Fprintf(s, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nX-Served-By: chanstream\r\n\r\n", len(body))
	if method != "HEAD" {
		io.WriteString(s, body)
	}
}

func TestInterop_CurlAgainstAnHTTP10Responder(t *testing.T) {
	curl := testnet.Program(t, "curl", "curl")
	srv := serve(t, "tcp", "127.0.0.1:0", http10)
	url := "http://" + srv.Addrs()[0].String() + "/hello?x=1"
	out, err := testnet.Run(t, exec.Command(curl, "--silent", "--show-error", "--http1.0", "--include", "--max-time", "20", url), "")
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	for _, want := range []string{"HTTP/1.0 200 OK", "X-Served-By: chanstream", "you asked: GET /hello?x=1 HTTP/1.0"} {
		if !strings.Contains(out, want) {
			t.Errorf("curl's output lacks %q:\n%s", want, out)
		}
	}
	// HEAD, as the http-headers example sends it.
	out, err = testnet.Run(t, exec.Command(curl, "--silent", "--show-error", "--head", "--http1.0", "--max-time", "20", url), "")
	if err != nil || !strings.Contains(out, "Content-Length: 35") || strings.Contains(out, "you asked") {
		t.Fatalf("curl --head: %v\n%s", err, out)
	}
}

func TestInterop_SocatOverAUnixSocket(t *testing.T) {
	socat := testnet.Program(t, "socat", "socat")
	path := filepath.Join(t.TempDir(), "echo.sock")
	serve(t, "unix", path, echo)
	// socat as the client of our server.
	out, err := testnet.Run(t, exec.Command(socat, "-t", "5", "-", "UNIX-CONNECT:"+path), "one\ntwo\n")
	if err != nil || out != "one\ntwo\n" {
		t.Fatalf("socat client: %q, %v", out, err)
	}

	// socat as the server, our Dial as the client: it upper-cases lines.
	path2 := filepath.Join(t.TempDir(), "upper.sock")
	_, _ = testnet.Start(t, exec.Command(socat, "UNIX-LISTEN:"+path2+",fork", "EXEC:tr a-z A-Z"), nil)
	ctx := testnet.Ctx(t, 20*time.Second)
	var s *chanstream.Stream
	for {
		s, err = dial.Dial(ctx, "unix", path2)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("socat never listened: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer func() {
		s.Close()
		s.WaitClosed(ctx)
	}()
	s.Write([]byte("shout this\n"))
	if err := s.WriteEOF(); err != nil {
		t.Fatal(err)
	}
	got, err := s.ReadChunk(ctx, -1)
	if err != nil || string(got) != "SHOUT THIS\n" {
		t.Fatalf("socat server replied %q, %v", got, err)
	}
}
