// Command starttls is a minimal SMTP-like server that upgrades connections
// to TLS with STARTTLS, built on listener and tlsupgrade. It answers the
// greeting with 220, EHLO with a multi-line 250 that offers STARTTLS (until
// the connection is encrypted), STARTTLS with 220 and then the TLS
// handshake, NOOP with 250 and QUIT with 221; it accepts no mail. It makes a
// self-signed certificate for localhost and 127.0.0.1 when it starts.
//
//	go run ./examples/starttls [-addr 127.0.0.1:8825]
//
// Try it with OpenSSL's client:
//
//	openssl s_client -starttls smtp -connect 127.0.0.1:8825 -crlf
package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/listener"
	"github.com/chanstream/chanstream/tlsupgrade"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8825", "address to listen on")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cert, err := selfSigned()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starttls:", err)
		os.Exit(1)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	if err := run(ctx, *addr, cfg, os.Stdout, nil); err != nil {
		fmt.Fprintln(os.Stderr, "starttls:", err)
		os.Exit(1)
	}
}

// run serves on addr until ctx ends. ready, if not nil, gets the address
// once the server listens.
func run(ctx context.Context, addr string, cfg *tls.Config, stdout io.Writer, ready func(net.Addr)) error {
	log := &logger{w: stdout}
	srv, err := listener.Listen(ctx, "tcp", addr, func(ctx context.Context, s *chanstream.Stream) {
		session(ctx, s, cfg, log)
	}, listener.WithIdleTimeout(5*time.Minute))
	if err != nil {
		return err
	}
	log.printf("Serving SMTP with STARTTLS on %s\n", srv.Addrs()[0])
	if ready != nil {
		ready(srv.Addrs()[0])
	}
	err = srv.Serve(ctx)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(shutdownCtx)
	if err == ctx.Err() {
		return nil
	}
	return err
}

// session speaks the SMTP subset on one connection.
func session(ctx context.Context, s *chanstream.Stream, cfg *tls.Config, log *logger) {
	peer := s.RemoteAddr().String()
	log.printf("%s: connected\n", peer)
	reply := func(lines ...string) {
		for _, l := range lines {
			s.Write([]byte(l + "\r\n"))
		}
	}
	reply("220 localhost ESMTP chanstream STARTTLS example")
	encrypted := false
	for {
		line, err := s.ReadLine(ctx)
		if err != nil {
			log.printf("%s: gone (%v)\n", peer, err)
			return
		}
		verb, _, _ := strings.Cut(string(bytes.TrimRight(line, "\r\n")), " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			if encrypted {
				reply("250-localhost at your service, over TLS", "250 8BITMIME")
			} else {
				reply("250-localhost at your service", "250-8BITMIME", "250 STARTTLS")
			}
		case "HELO":
			reply("250 localhost")
		case "STARTTLS":
			if encrypted {
				reply("503 5.5.1 TLS already active")
				continue
			}
			reply("220 2.0.0 Ready to start TLS")
			if err := tlsupgrade.Server(ctx, s, cfg); err != nil {
				log.printf("%s: STARTTLS failed: %v\n", peer, err)
				return
			}
			encrypted = true
			st, _ := s.ExtraInfo("cipher")
			log.printf("%s: upgraded to TLS (%s)\n", peer, st.(chanstream.TLSCipher).Protocol)
		case "NOOP":
			reply("250 2.0.0 OK")
		case "QUIT":
			reply("221 2.0.0 Bye")
			log.printf("%s: QUIT\n", peer)
			return
		default:
			reply("502 5.5.2 Command not implemented")
		}
	}
}

// selfSigned makes a certificate for localhost and 127.0.0.1.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "localhost"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

type logger struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *logger) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format, args...)
}
