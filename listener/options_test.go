package listener

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/internal/testnet"
	"github.com/chanstream/chanstream/tlsupgrade"
)

// TestOptions_Messages pins the whole message of a few bad options: an
// option of another package is named with its package and the function it
// was given to; an invalid one with its value.
func TestOptions_Messages(t *testing.T) {
	ctx := testnet.Ctx(t, 10*time.Second)
	echo := func(context.Context, *chanstream.Stream) {}
	long := "/tmp/" + strings.Repeat("x", 200)
	tests := []struct {
		name, network, address string
		opts                   []Option
		want                   string
	}{
		{"option of another package", "tcp", "127.0.0.1:0", []Option{tlsupgrade.WithServerName("x")},
			"listener: tlsupgrade.WithServerName is not an option of Listen"},
		{"invalid listener option", "tcp", "127.0.0.1:0", []Option{WithBacklog(-1)},
			"listener: WithBacklog(-1): must not be negative"},
		{"invalid timeout", "tcp", "127.0.0.1:0", []Option{WithTLSHandshakeTimeout(0)},
			"listener: WithTLSHandshakeTimeout(0s): must be positive"},
		{"invalid stream option", "tcp", "127.0.0.1:0", []Option{chanstream.WithLimit(-1)},
			"chanstream: WithLimit(-1): the limit must be positive"},
		{"unix path too long", "unix", long, nil,
			"listener: listen unix " + long + ": unix socket path too long (205 bytes; at most 107)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := Listen(ctx, tc.network, tc.address, echo, tc.opts...)
			if err == nil {
				srv.Close()
				t.Fatal("Listen succeeded")
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("Listen error\n got %q\nwant %q", got, tc.want)
			}
		})
	}
	ln := testnet.ListenTCP(t, "127.0.0.1", 0)
	defer ln.Close()
	if _, err := FromListener(ln, echo, tlsupgrade.WithTLSHandshakeTimeout(time.Second)); err == nil ||
		err.Error() != "listener: tlsupgrade.WithTLSHandshakeTimeout is not an option of FromListener" {
		t.Errorf("FromListener with a tlsupgrade option = %v", err)
	}
}
