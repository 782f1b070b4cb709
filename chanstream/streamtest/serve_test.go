package streamtest

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// dialScript dials a ServeScript address with a 10 s deadline on the calls.
func dialScript(t *testing.T, addr net.Addr) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr.String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c.(*net.TCPConn)
}

func TestServeScript_PlaysTheScriptOverTCP(t *testing.T) {
	server := NewScript(t).
		Send("220 ready\r\n").
		Expect("HELO me\r\n").
		Send("250 hel").
		Send("lo\r\n").
		SendEOF().
		ExpectClose()
	c := dialScript(t, ServeScript(t, server))
	br := bufio.NewReader(c)
	if line, err := br.ReadString('\n'); err != nil || line != "220 ready\r\n" {
		t.Fatalf("greeting %q, %v", line, err)
	}
	io.WriteString(c, "HELO me\r\n")
	rest, err := io.ReadAll(br) // to the half-close
	if err != nil || string(rest) != "250 hello\r\n" {
		t.Fatalf("read %q, %v; want the reply, then EOF", rest, err)
	}
	c.Close()
}

func TestServeScript_HalfCloseThenMore(t *testing.T) {
	server := NewScript(t).
		Expect("request").
		ExpectCloseWrite().
		Send("response").
		SendEOF()
	c := dialScript(t, ServeScript(t, server))
	defer c.Close()
	io.WriteString(c, "request")
	c.CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "response" {
		t.Fatalf("read %q, %v after the half-close", got, err)
	}
}

func TestServeScript_Reset(t *testing.T) {
	server := NewScript(t).Expect("go").Send("partial").Reset()
	c := dialScript(t, ServeScript(t, server))
	defer c.Close()
	io.WriteString(c, "go")
	got, err := io.ReadAll(c)
	if !errors.Is(err, syscall.ECONNRESET) || !strings.HasPrefix("partial", string(got)) {
		t.Fatalf("read %q, %v; want a prefix of %q, then ECONNRESET", got, err, "partial")
	}
}

func TestServeScript_ReportsWhatTheClientGotWrong(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		client     func(c *net.TCPConn)
	}{
		{"a different write", `got:  "reqeust"`, func(c *net.TCPConn) {
			io.WriteString(c, "reqeust")
			io.ReadAll(c)
		}},
		{"a step not played", `"more"`, func(c *net.TCPConn) {
			io.WriteString(c, "request")
			bufio.NewReader(c).ReadString('\n') // then closes without "more"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := report(t, func(rt testing.TB) {
				server := NewScript(rt).Expect("request").Send("reply\n").Expect("more").ExpectClose()
				c := dialScript(t, ServeScript(rt, server))
				defer c.Close()
				tc.client(c)
			})
			if !strings.Contains(got, tc.want) {
				t.Fatalf("reported:\n%s\nwant it to mention %q", got, tc.want)
			}
		})
	}
}

func TestServeScript_NoClient(t *testing.T) {
	var addr net.Addr
	got := report(t, func(rt testing.TB) {
		addr = ServeScript(rt, NewScript(rt))
	})
	if got != "" {
		t.Fatalf("an empty script no client dialed reported %q", got)
	}
	if c, err := net.DialTimeout("tcp", addr.String(), 10*time.Second); err == nil {
		c.Close()
		t.Fatal("the listener is still open after the test")
	}
}
