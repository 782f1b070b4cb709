// Command http-headers is asyncio's "Get HTTP headers" example (from the
// Python documentation) written with chanstream: it sends HEAD / HTTP/1.0 to
// the URL's host and prints each header line the server answers with, over
// http or https.
//
//	go run ./examples/http-headers http://example.com/path/page.html
//	go run ./examples/http-headers https://example.com/path/page.html
//
// The port is the URL's, or 80 for http and 443 for https as in the
// original. Certificates are checked against the system's roots (or the
// file SSL_CERT_FILE names).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/dial"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: http-headers URL")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := printHTTPHeaders(ctx, os.Args[1], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "http-headers:", err)
		os.Exit(1)
	}
}

func printHTTPHeaders(ctx context.Context, rawURL string, out io.Writer) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	var s *chanstream.Stream
	switch u.Scheme {
	case "https":
		s, err = dial.Dial(ctx, "tcp", hostPort(u, "443"), dial.WithTLS(nil))
	case "http":
		s, err = dial.Dial(ctx, "tcp", hostPort(u, "80"))
	default:
		return fmt.Errorf("unsupported scheme %q (http or https)", u.Scheme)
	}
	if err != nil {
		return err
	}

	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	query := "HEAD " + path + " HTTP/1.0\r\n" +
		"Host: " + strings.ToLower(u.Hostname()) + "\r\n" + // urlsplit's hostname is lower case
		"\r\n"

	s.Write(latin1(query))
	for {
		line, err := s.ReadLine(ctx)
		if err != nil && err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) {
			// asyncio's readline raises (a line over the limit, a reset).
			// An HTTPS server that ends without close_notify is the end,
			// as for the original.
			s.Abort()
			return err
		}
		if len(line) == 0 { // EOF: asyncio's b''
			break
		}
		if text := strings.TrimRightFunc(fromLatin1(line), isPySpace); text != "" {
			fmt.Fprintf(out, "HTTP header> %s\n", text)
		}
	}

	// Ignore the body, close the socket
	s.Close()
	return s.WaitClosed(ctx)
}

func hostPort(u *url.URL, defaultPort string) string {
	port := u.Port()
	if port == "" {
		port = defaultPort
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// latin1 encodes s as ISO-8859-1, as Python's str.encode('latin-1').
func latin1(s string) []byte {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			r = '?'
		}
		b = append(b, byte(r))
	}
	return b
}

// isPySpace reports whether Python's str.isspace holds for r, a character
// of ISO-8859-1: what str.rstrip() strips. It is more than Go's
// unicode.IsSpace: the separators 0x1c-0x1f too.
func isPySpace(r rune) bool {
	switch {
	case r >= 0x09 && r <= 0x0d, r >= 0x1c && r <= 0x20, r == 0x85, r == 0xa0:
		return true
	}
	return false
}

// fromLatin1 decodes ISO-8859-1, as Python's bytes.decode('latin1').
func fromLatin1(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}
