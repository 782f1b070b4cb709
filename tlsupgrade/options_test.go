package tlsupgrade

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/chanstream/chanstream/chanstream"
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
