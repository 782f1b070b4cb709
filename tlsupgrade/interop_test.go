package tlsupgrade_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream/streamtest"
	"github.com/chanstream/chanstream/dial"
	"github.com/chanstream/chanstream/internal/testnet"
	"github.com/chanstream/chanstream/tlsupgrade"
)

// writeKeyPair writes the server certificate and key as PEM files.
func writeKeyPair(t *testing.T, cert tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	der, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	return certFile, keyFile
}

func TestInterop_OurClientAgainstAPythonAsyncioServer(t *testing.T) {
	python := testnet.Program(t, "python3", "python3")
	clientConfig, serverConfig := streamtest.TLSConfigs(t)
	certFile, keyFile := writeKeyPair(t, serverConfig.Certificates[0])
	_, m := testnet.Start(t, exec.Command(python, "-u", filepath.Join("testdata", "starttls_server.py"), certFile, keyFile), regexp.MustCompile(`^port (\d+)$`))
	ctx := testnet.Ctx(t, 20*time.Second)
	s, err := dial.Dial(ctx, "tcp", "127.0.0.1:"+m[1])
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		s.Close()
		s.WaitClosed(ctx)
	}()
	s.Write([]byte("STARTTLS\r\n"))
	if line, err := s.ReadLine(ctx); err != nil || string(line) != "220 go ahead\r\n" {
		t.Fatalf("reply %q, %v", line, err)
	}
	if err := tlsupgrade.Client(ctx, s, clientConfig); err != nil {
		t.Fatal(err)
	}
	s.Write([]byte("hello from Go\n"))
	line, err := s.ReadLine(ctx)
	if err != nil || string(line) != "echo over TLSv1.3: hello from Go\n" {
		t.Fatalf("echo %q, %v", line, err)
	}
	// asyncio closes with close_notify: a clean EOF, not a truncation.
	if _, err := s.ReadLine(ctx); err != io.EOF {
		if errors.Is(err, tlsupgrade.ErrTruncated) {
			t.Fatalf("asyncio's close was reported as truncated")
		}
		t.Fatalf("after the echo: %v; want io.EOF", err)
	}
}
