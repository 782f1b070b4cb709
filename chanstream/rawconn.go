package chanstream

import (
	"net"
	"syscall"
)

// A socket is a connection the stream reads and writes through its
// syscall.RawConn rather than its Read and Write: waiting for data then
// holds no buffer (the buffer is taken from the pool once the socket is
// readable), and a write can be tried without blocking. TCP and Unix stream
// sockets qualify; other connections (TLS, pipes, wrappers) are read and
// written through the net.Conn, by the pumps. An attachment is a socket:
// rc is nil when its conn is not one.
//
// Only the platforms whose runtime polls sockets (Linux, macOS and the
// BSDs) read sockets thus; elsewhere, and in a build with the
// chanstream_nopoll tag, no connection is a socket, and the pumps read and
// write every connection.
type socket struct {
	conn net.Conn
	rc   syscall.RawConn
}
