package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
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
	"go.uber.org/goleak"
)

// processDir lives as long as the test process: Go reads the system's roots
// once per process, so the authority's file must outlive any one test.
var processDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "http-headers-test")
	if err != nil {
		panic(err)
	}
	processDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// withoutDate drops the Date header, which changes from one second to the
// next.
func withoutDate(s string) string {
	var keep []string
	for _, line := range strings.SplitAfter(s, "\n") {
		if !strings.HasPrefix(line, "HTTP header> Date:") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "")
}

// compare runs the example and its Python original against url and
// checks that they print the same headers.
func compare(t *testing.T, url string, env ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := printHTTPHeaders(ctx, url, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "HTTP header> HTTP/1.") {
		t.Fatalf("printed:\n%s", out.String())
	}
	python := testnet.Program(t, "python3", "python3")
	cmd := exec.Command(python, filepath.Join("testdata", "print_http_headers.py"), url)
	cmd.Env = append(cmd.Environ(), env...)
	want, err := testnet.Run(t, cmd, "")
	if err != nil {
		t.Fatalf("the Python original failed: %v\n%s", err, want)
	}
	if withoutDate(out.String()) != withoutDate(want) {
		t.Fatalf("printed:\n%s\nthe Python original printed:\n%s", out.String(), want)
	}
}

func TestHTTPHeaders_AgainstPythonHTTPServer(t *testing.T) {
	python := testnet.Program(t, "python3", "python3")
	cmd := exec.Command(python, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", t.TempDir())
	_, m := testnet.Start(t, cmd, regexp.MustCompile(`port (\d+)`))
	compare(t, "http://127.0.0.1:"+m[1]+"/")
	compare(t, "http://127.0.0.1:"+m[1]+"/missing/page.html")
}

var (
	certsOnce sync.Once
	certs     *testnet.TLS
	caFile    string
)

func TestHTTPHeaders_HTTPS(t *testing.T) {
	// Go reads the system's roots once per process, so every run of this
	// test (go test -count=N) must present the same authority.
	certsOnce.Do(func() {
		certs = testnet.NewTLS(t, "localhost", "127.0.0.1")
		caFile = filepath.Join(processDir, "ca.pem")
		if err := os.WriteFile(caFile, certs.CAPEM(), 0o600); err != nil {
			t.Fatal(err)
		}
	})
	t.Setenv("SSL_CERT_FILE", caFile) // the example checks against the system's roots
	ln := testnet.ListenTCP(t, "127.0.0.1", 0)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Seen-Method", r.Method)
			w.Header().Set("Content-Type", "text/plain")
		}),
		TLSConfig: certs.ServerConfig(),
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	defer func() {
		srv.Close()
		<-done
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	url := "https://localhost:" + strconv.Itoa(port) + "/path/page.html"
	compare(t, url, "SSL_CERT_FILE="+caFile)
	var out bytes.Buffer
	printHTTPHeaders(context.Background(), url, &out)
	if !strings.Contains(out.String(), "HTTP header> X-Seen-Method: HEAD") {
		t.Fatalf("printed:\n%s", out.String())
	}
}

// Many HTTPS servers end the connection without close_notify after an
// HTTP/1.0 response; the Python original prints the headers and exits 0,
// and so must we.
func TestHTTPHeaders_HTTPSServerSkipsCloseNotify(t *testing.T) {
	certsOnce.Do(func() {
		certs = testnet.NewTLS(t, "localhost", "127.0.0.1")
		caFile = filepath.Join(processDir, "ca.pem")
		if err := os.WriteFile(caFile, certs.CAPEM(), 0o600); err != nil {
			t.Fatal(err)
		}
	})
	t.Setenv("SSL_CERT_FILE", caFile)
	ln := testnet.ListenTCP(t, "127.0.0.1", 0)
	var served sync.WaitGroup
	served.Add(1)
	go func() {
		defer served.Done()
		for range 2 { // ours, then the Python original
			raw, err := ln.Accept()
			if err != nil {
				return
			}
			raw.SetDeadline(time.Now().Add(10 * time.Second))
			tc := tls.Server(raw, certs.ServerConfig())
			br := bufio.NewReader(tc)
			for {
				line, err := br.ReadString('\n')
				if err != nil || line == "\r\n" {
					break
				}
			}
			io.WriteString(tc, "HTTP/1.0 200 OK\r\nServer: bare\r\nContent-Length: 0\r\n\r\n")
			raw.Close() // TCP FIN, no close_notify
		}
	}()
	defer served.Wait()
	defer ln.Close()
	url := "https://localhost:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port) + "/"
	compare(t, url, "SSL_CERT_FILE="+caFile)
}

func TestHTTPHeaders_BadURL(t *testing.T) {
	if err := printHTTPHeaders(context.Background(), "ftp://127.0.0.1/", &bytes.Buffer{}); err == nil {
		t.Fatal("ftp:// accepted")
	}
}

// rawServer answers every connection (ours, then the Python original's)
// with response, after reading the request, whose lines it records.
func rawServer(t *testing.T, conns int, response string) (addr string, requests func() []string) {
	t.Helper()
	ln := testnet.ListenTCP(t, "127.0.0.1", 0)
	var mu sync.Mutex
	var got []string
	var served sync.WaitGroup
	served.Add(1)
	go func() {
		defer served.Done()
		for range conns {
			raw, err := ln.Accept()
			if err != nil {
				return
			}
			raw.SetDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(raw)
			var req strings.Builder
			for {
				line, err := br.ReadString('\n')
				req.WriteString(line)
				if err != nil || line == "\r\n" {
					break
				}
			}
			mu.Lock()
			got = append(got, req.String())
			mu.Unlock()
			io.WriteString(raw, response)
			raw.Close()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		served.Wait()
	})
	return ln.Addr().String(), func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

// Header values ending in what Python's str.rstrip() strips beyond ASCII
// whitespace (the separators 0x1c-0x1f, NEL, NBSP in latin-1), and a host
// name in upper case (urlsplit's hostname is lower case): the example
// prints and sends what the original does.
func TestHTTPHeaders_StripsAndSendsAsTheOriginal(t *testing.T) {
	addr, requests := rawServer(t, 2, "HTTP/1.0 200 OK\r\n"+
		"X-Nbsp: v\xa0\r\n"+
		"X-Nel: v\x85\r\n"+
		"X-FS: v\x1c\x1f\r\n"+
		"X-Tab: v \t\r\n"+
		"X-Latin: caf\xe9\r\n"+
		"\r\n")
	_, port, _ := net.SplitHostPort(addr)
	compare(t, "http://LOCALHOST:"+port+"/")
	reqs := requests()
	if len(reqs) != 2 || reqs[0] != reqs[1] {
		t.Fatalf("the requests differ:\nours:   %q\noriginal: %q", reqs[0], reqs[1:])
	}
	if !strings.Contains(reqs[0], "Host: localhost\r\n") {
		t.Fatalf("request %q", reqs[0])
	}
}

// A header line over the reader's limit: the original's readline raises
// (ValueError, exit 1), and the example fails with the limit error rather
// than stopping as if the response had ended.
func TestHTTPHeaders_LineOverTheLimitFails(t *testing.T) {
	addr, _ := rawServer(t, 1, "HTTP/1.0 200 OK\r\nX-Big: "+strings.Repeat("b", 70000)+"\r\n\r\n")
	var out bytes.Buffer
	err := printHTTPHeaders(testnet.Ctx(t, 10*time.Second), "http://"+addr+"/", &out)
	if !errors.Is(err, chanstream.ErrLimitOverrun) {
		t.Fatalf("printHTTPHeaders = %v, want a limit error; printed %q", err, out.String())
	}
	if out.String() != "HTTP header> HTTP/1.0 200 OK\n" {
		t.Fatalf("printed %q", out.String())
	}
}

// Against a scripted server whose response arrives in pieces cut inside
// lines and inside a CRLF: the headers print as from one piece.
func TestHTTPHeaders_ResponseInPieces(t *testing.T) {
	server := streamtest.NewScript(t)
	addr := streamtest.ServeScript(t, server)
	_, port, _ := net.SplitHostPort(addr.String())
	server.Expect("HEAD /in/pieces HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").
		Send("HTTP/1.0 200 OK\r").
		Send("\nServer: pie").
		Send("ces\r\n").
		Send("\r\n").
		SendEOF().
		ExpectClose()
	var out bytes.Buffer
	if err := printHTTPHeaders(testnet.Ctx(t, 10*time.Second), "http://127.0.0.1:"+port+"/in/pieces", &out); err != nil {
		t.Fatal(err)
	}
	if want := "HTTP header> HTTP/1.0 200 OK\nHTTP header> Server: pieces\n"; out.String() != want {
		t.Fatalf("printed %q, want %q", out.String(), want)
	}
}
