//go:build !unix

package dial

import (
	"fmt"
	"net"
)

// socketPair returns the two ends of a loopback TCP connection.
func socketPair() ([2]net.Conn, error) {
	var conns [2]net.Conn
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return conns, fmt.Errorf("dial: socketpair: %w", err)
	}
	defer ln.Close()
	type accepted struct {
		c   net.Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		ch <- accepted{c, err}
	}()
	if conns[0], err = net.Dial("tcp", ln.Addr().String()); err != nil {
		ln.Close() // the accept gives up
		<-ch
		return conns, fmt.Errorf("dial: socketpair: %w", err)
	}
	a := <-ch
	if a.err != nil {
		conns[0].Close()
		return conns, fmt.Errorf("dial: socketpair: %w", a.err)
	}
	conns[1] = a.c
	return conns, nil
}
