//go:build unix

package dial

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/chanstream/chanstream/internal/testnet"
)

func TestFromFile(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fds[0]), "mine")
	peer := os.NewFile(uintptr(fds[1]), "peer")
	defer peer.Close()
	s, err := FromFile(f)
	if err != nil {
		t.Fatal(err)
	}
	defer closeStream(t, s)
	peer.Write([]byte("abc"))
	got, err := s.ReadChunk(testnet.Ctx(t, 10*time.Second), 100)
	if err != nil || string(got) != "abc" {
		t.Fatalf("ReadChunk = %q, %v", got, err)
	}
	if _, err := f.Stat(); err == nil {
		t.Error("FromFile did not close the *os.File it adopted")
	}
}
