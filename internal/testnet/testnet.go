// Package testnet holds what only chanstream's own tests need, beside the
// public test kit chanstream/streamtest, which every test package that can
// import it uses for pairs, scripted peers, faults, buffers and leak checks:
//
//   - real peer programs (Program, Start, Run: python3, openssl, socat,
//     curl), skipped when missing unless RequirePeersEnv is set;
//   - TLS certificates whose authority can be written out as PEM
//     (NewTLS, TLS.WriteCAFile, TLS.CAPEM) for those programs and for
//     SSL_CERT_FILE;
//   - a black hole (BlackHole: a listener whose accept queue is full, so
//     that a connect hangs as toward a dead host), and listeners on chosen
//     addresses (ListenTCP);
//   - TCPPair, SocketPair and NewTLS for the in-package tests of package
//     chanstream, which cannot import streamtest (it imports chanstream);
//   - Ctx and Eventually, a test's bounded context and poll.
//
// Everything here stays on 127.0.0.0/8, ::1 and Unix sockets.
package testnet

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// ListenTCP listens on ip:port (port 0 picks one) and closes the listener
// when the test ends.
func ListenTCP(t testing.TB, ip string, port int) *net.TCPListener {
	t.Helper()
	ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(ip), uint16(port))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// TCPPair returns the two ends of a loopback TCP connection. It is for
// package chanstream's in-package tests; other tests use
// streamtest.TCPPair.
func TCPPair(t testing.TB) (client, server *net.TCPConn) {
	t.Helper()
	ln := ListenTCP(t, "127.0.0.1", 0)
	type result struct {
		c   *net.TCPConn
		err error
	}
	accepted := make(chan result, 1)
	go func() {
		c, err := ln.AcceptTCP()
		accepted <- result{c, err}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	res := <-accepted
	if res.err != nil {
		t.Fatal(res.err)
	}
	return c.(*net.TCPConn), res.c
}

// TLS holds a certificate authority made for one test, and a server
// certificate it signed.
type TLS struct {
	Roots  *x509.CertPool  // trusts the authority
	Server tls.Certificate // for the hosts given to NewTLS
	CA     *x509.Certificate
}

// WriteCAFile writes the authority's certificate as PEM into the test's
// temporary directory and returns the file's path (for SSL_CERT_FILE,
// curl --cacert, openssl -CAfile, Python's cafile).
func (x *TLS) WriteCAFile(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, x.CAPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// CAPEM returns the authority's certificate as PEM.
func (x *TLS) CAPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: x.CA.Raw})
}

// NewTLS makes a certificate authority and a server certificate for hosts
// (names or IP addresses), valid for an hour.
func NewTLS(t testing.TB, hosts ...string) *TLS {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "chanstream test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: hosts[0]},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	return &TLS{Roots: roots, Server: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, CA: ca}
}

// ServerConfig returns a server config presenting the certificate.
func (x *TLS) ServerConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{x.Server}}
}

// ClientConfig returns a client config trusting the authority.
func (x *TLS) ClientConfig() *tls.Config {
	return &tls.Config{RootCAs: x.Roots}
}

// Ctx returns a context that ends when the test does, or after d.
func Ctx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// Eventually polls cond until it holds, failing the test if it does not
// within 10 s.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
