package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream/streamtest"
	"github.com/chanstream/chanstream/internal/testnet"
)

func TestMain(m *testing.M) { streamtest.VerifyTestMain(m) }

// startTarget runs a target that reads each connection to EOF and answers
// "got N bytes", or resets it when the data starts with "reset".
func startTarget(t *testing.T) string {
	ln := testnet.ListenTCP(t, "127.0.0.1", 0)
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		defer wg.Wait()
		for {
			c, err := ln.AcceptTCP()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				buf := make([]byte, 5)
				n, _ := io.ReadFull(c, buf)
				if string(buf[:n]) == "reset" {
					c.SetLinger(0)
					return
				}
				rest, _ := io.Copy(io.Discard, c)
				fmt.Fprintf(c, "got %d bytes", int64(n)+rest)
			}()
		}
	}()
	return ln.Addr().String()
}

// startRelay runs the example until the test ends and returns its address.
func startRelay(t *testing.T, cfg config) (net.Addr, *streamtest.Buffer) {
	t.Helper()
	out := &streamtest.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan []net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, out, func(a []net.Addr) { ready <- a }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run = %v", err)
		}
	})
	select {
	case addrs := <-ready:
		return addrs[0], out
	case err := <-done:
		t.Fatalf("run = %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the relay did not start")
	}
	return nil, nil
}

// exchange sends msg, half-closes, and returns the answer up to EOF.
func exchange(t *testing.T, c net.Conn, msg string) string {
	t.Helper()
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	return string(got)
}

func TestRelay_HalfCloseReachesTheTarget(t *testing.T) {
	target := startTarget(t)
	sock := filepath.Join(t.TempDir(), "relay.sock")
	for _, tc := range []struct{ name, listen, network string }{
		{"tcp", "127.0.0.1:0", "tcp"},
		{"unix", "unix:" + sock, "unix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, out := startRelay(t, config{listen: tc.listen, target: target, grace: time.Second})
			c, err := net.Dial(tc.network, addr.String())
			if err != nil {
				t.Fatal(err)
			}
			if got := exchange(t, c, "hello, target"); got != "got 13 bytes" {
				t.Errorf("the answer is %q", got)
			}
			testnet.Eventually(t, "the connection's line", func() bool {
				return strings.Contains(out.String(), ": 13 bytes up, 12 down\n")
			})
		})
	}
}

func TestRelay_TerminatesTLS(t *testing.T) {
	target := startTarget(t)
	cfg, serverCfg := streamtest.TLSConfigs(t)
	cert, key := writeKeyPair(t, serverCfg.Certificates[0])
	addr, _ := startRelay(t, config{listen: "127.0.0.1:0", target: target, tlsCert: cert, tlsKey: key, grace: time.Second})
	cfg.ServerName = "127.0.0.1"
	c, err := tls.Dial("tcp", addr.String(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := exchange(t, c, "over TLS"); got != "got 8 bytes" {
		t.Errorf("the answer is %q", got)
	}
}

func TestRelay_TargetResetReachesTheClient(t *testing.T) {
	target := startTarget(t)
	addr, out := startRelay(t, config{listen: "127.0.0.1:0", target: target, grace: time.Second})
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	c.Write([]byte("reset"))
	if _, err := io.ReadAll(c); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("the client read %v, want ECONNRESET", err)
	}
	testnet.Eventually(t, "the connection's line", func() bool {
		return strings.Contains(out.String(), "connection reset by peer")
	})
}

func TestRelay_BadFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  config
		want string
	}{
		{"no target", config{listen: "127.0.0.1:0"}, "-target is required"},
		{"cert without key", config{listen: "127.0.0.1:0", target: "127.0.0.1:1", tlsCert: "c.pem"}, "-tls-cert and -tls-key go together"},
		{"missing cert", config{listen: "127.0.0.1:0", target: "127.0.0.1:1", tlsCert: "nope.pem", tlsKey: "nope.pem"}, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := run(context.Background(), tc.cfg, io.Discard, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("run = %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// writeKeyPair writes cert's chain and key as PEM files.
func writeKeyPair(t *testing.T, cert tls.Certificate) (certFile, keyFile string) {
	dir := t.TempDir()
	var chain bytes.Buffer
	for _, der := range cert.Certificate {
		pem.Encode(&chain, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	der, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, chain.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
