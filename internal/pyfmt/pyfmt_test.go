package pyfmt

import (
	"encoding/json"
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
