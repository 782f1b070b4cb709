package tlsupgrade

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/internal/testnet"
)

// TestOptions_Messages checks what a bad option makes Client and Server
// say: the option (of another package: with its package and the function it
// was given to), once, after one "tlsupgrade" prefix.
func TestOptions_Messages(t *testing.T) {
	_, scfg := configs(t, 0)
	tests := []struct {
		name   string
		client bool
		opts   []Option
		want   string // the end of the message
	}{
		{"stream option", true, []Option{chanstream.WithLimit(1)},
			": chanstream.WithLimit is not an option of Client"},
		{"zero handshake timeout", true, []Option{WithTLSHandshakeTimeout(0)},
			": WithTLSHandshakeTimeout(0s): must be positive"},
		{"deprecated name", true, []Option{WithHandshakeTimeout(0)},
			": WithTLSHandshakeTimeout(0s): must be positive"},
		{"negative shutdown timeout", false, []Option{WithTLSShutdownTimeout(-1)},
			": WithTLSShutdownTimeout(-1ns): must be positive"},
		{"server name on Server", false, []Option{WithServerName("x")},
			": WithServerName is for Client, not Server"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client, server := pair(t)
			var err error
			if tc.client {
				err = Client(context.Background(), client, nil, tc.opts...)
			} else {
				err = Server(context.Background(), server, scfg, tc.opts...)
			}
			var e *Error
			if !errors.As(err, &e) || e.Op != "options" {
				t.Fatalf("upgrade = %v; want an options *Error", err)
			}
			msg := err.Error()
			if !strings.HasSuffix(msg, tc.want) || strings.Count(msg, "tlsupgrade") != 1+strings.Count(tc.want, "tlsupgrade") {
				t.Errorf("message %q; want one tlsupgrade prefix and the end %q", msg, tc.want)
			}
		})
	}
}

// TestUpgrade_StreamThatEndedCannotBeUpgraded checks that a stream whose
// peer has hung up fails the upgrade with a "detach" *Error that says why
// once, and is closed.
func TestUpgrade_StreamThatEndedCannotBeUpgraded(t *testing.T) {
	ctx := testnet.Ctx(t, 10*time.Second)
	ccfg, _ := configs(t, 0)
	client, server := pair(t)
	server.Close()
	if _, err := client.ReadLine(ctx); err != io.EOF {
		t.Fatalf("ReadLine after the peer closed = %v; want io.EOF", err)
	}
	err := Client(ctx, client, ccfg)
	var e *Error
	if !errors.As(err, &e) || e.Op != "detach" {
		t.Fatalf("Client = %v; want a detach *Error", err)
	}
	msg := err.Error()
	if !strings.HasSuffix(msg, ": the peer has closed the stream (EOF)") || strings.Count(msg, "detach") != 1 {
		t.Errorf("message %q; want the step once, then why", msg)
	}
	if !client.IsClosing() {
		t.Error("the stream is not closed after the error")
	}
}
