//go:build !unix

package main

import "net"

// socketPair returns the two ends of a loopback TCP connection, as Python's
// socket.socketpair() makes its pair where there is no socketpair(2).
func socketPair() (rsock, wsock net.Conn, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
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
	wsock, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		ln.Close() // the accept gives up
		<-ch
		return nil, nil, err
	}
	a := <-ch
	if a.err != nil {
		wsock.Close()
		return nil, nil, a.err
	}
	return a.c, wsock, nil
}
