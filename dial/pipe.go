package dial

import (
	"github.com/chanstream/chanstream/chanstream"
)

// Pipe returns the two ends of a socketpair(2) (AF_UNIX, SOCK_STREAM) as
// streams: a real, bidirectional, half-closable connection inside one
// process, as Python's socket.socketpair() makes one. Where there is no
// socketpair(2) (Windows), the two ends are those of a loopback TCP
// connection, as Python's socket.socketpair() makes them there. Only stream
// options apply.
func Pipe(opts ...Option) (a, b *chanstream.Stream, err error) {
	if err := checkAdopt("Pipe", opts); err != nil {
		return nil, nil, err
	}
	conns, err := socketPair()
	if err != nil {
		return nil, nil, err
	}
	return chanstream.NewStream(conns[0], opts...), chanstream.NewStream(conns[1], opts...), nil
}
