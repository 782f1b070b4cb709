//go:build !unix

package streamtest

import (
	"net"
)

// socketPair makes a loopback TCP connection, where there is no
// socketpair(2).
func socketPair() (a, b net.Conn, err error) {
	client, server, err := tcpPair()
	if err != nil {
		return nil, nil, err
	}
	return client, server, nil
}
