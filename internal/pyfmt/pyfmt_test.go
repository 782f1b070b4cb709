package pyfmt

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os/exec"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRepr_MatchesPython(t *testing.T) {
	inputs := []string{"Hello World!", "", "it's", `say "hi"`, `both ' and "`, "tab\there", "new\nline\r", "back\\slash", "\x00\x1f\x7f", "café ☕", "\u00a0nbsp", "\u200bzero width"}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found: cannot compare with the real repr()")
	}
	script := "import json, sys\nfor s in json.load(sys.stdin):\n    print(repr(s))\n"
	js, _ := json.Marshal(inputs)
	cmd := exec.Command(py, "-c", script)
	cmd.Stdin = strings.NewReader(string(js))
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	for i, in := range inputs {
		if got := Repr(in); got != want[i] {
			t.Errorf("Repr(%q) = %s; python says %s", in, got, want[i])
		}
	}
}

func TestAddr(t *testing.T) {
	tests := []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8888}, "('127.0.0.1', 8888)"},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 80}, "('::1', 80, 0, 0)"},
		{&net.UnixAddr{Name: "/tmp/s", Net: "unix"}, "'/tmp/s'"},
	}
	for _, tc := range tests {
		if got := Addr(tc.addr); got != tc.want {
			t.Errorf("Addr(%v) = %s; want %s", tc.addr, got, tc.want)
		}
	}
}

func TestDecodeUTF8_MatchesPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found: cannot compare with the real decode()")
	}
	inputs := [][]byte{
		[]byte("plain"), []byte("café ☕ 😀"), {0xc3}, {'a', 0xe2, 0x82}, {0xe2, 0x28, 0xa1}, {0xe2, 0x82, 0x28},
		{0x80}, {0xc0, 0xaf}, {0xed, 0xa0, 0x80}, {0xf0, 0x9f, 0x98}, {0xf0, 0x9f, 0x98, 0x28}, {0xff},
		{0xf4, 0x90, 0x80, 0x80}, {0xe0, 0x80, 0x80}, {0xe0, 0x80}, {0xf1, 0x80}, {0xc3, 0xa9, 0xc3},
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		b := make([]byte, 1+rnd.IntN(6))
		for i := range b {
			b[i] = byte(rnd.IntN(256))
		}
		inputs = append(inputs, b)
	}
	var hexes []string
	for _, b := range inputs {
		hexes = append(hexes, fmt.Sprintf("%x", b))
	}
	script := "import sys\nfor h in sys.stdin.read().split():\n    b = bytes.fromhex(h)\n    try:\n        print('ok', b.decode().encode().hex())\n    except UnicodeDecodeError as e:\n        print('UnicodeDecodeError: ' + str(e))\n"
	cmd := exec.Command(py, "-c", script)
	cmd.Stdin = strings.NewReader(strings.Join(hexes, "\n"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	for i, b := range inputs {
		s, err := DecodeUTF8(b)
		got := "ok " + fmt.Sprintf("%x", s)
		if err != nil {
			got = err.Error()
		}
		if got != want[i] {
			t.Errorf("DecodeUTF8(%x) = %s; python says %s", b, got, want[i])
		}
	}
}
