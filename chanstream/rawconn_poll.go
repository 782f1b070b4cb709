//go:build (linux || darwin || freebsd || netbsd || openbsd || dragonfly) && !chanstream_nopoll

package chanstream

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// socketsPolled is true where TCP and Unix stream sockets are read and
// written through their RawConn (see socket).
const socketsPolled = true

// rawConnOf returns the RawConn of conn if it is a TCP or Unix stream
// socket, and nil if not.
func rawConnOf(conn net.Conn) syscall.RawConn {
	var rc syscall.RawConn
	var err error
	switch c := conn.(type) {
	case *net.TCPConn:
		rc, err = c.SyscallConn()
	case *net.UnixConn:
		// unixgram and unixpacket keep their messages: not streams.
		if la := c.LocalAddr(); la == nil || la.Network() != "unix" {
			return nil
		}
		rc, err = c.SyscallConn()
	}
	if err != nil {
		return nil
	}
	return rc
}

// opError returns err as the net.Conn's Read or Write would: errno from the
// op(2) system call, or an error of the RawConn's (a closed connection, a
// deadline) renamed from "raw-read" or "raw-write" to op.
func (k *socket) opError(op string, errno, rawErr error) error {
	if errno != nil {
		e := &net.OpError{Op: op, Net: "tcp", Source: k.conn.LocalAddr(), Addr: k.conn.RemoteAddr(), Err: os.NewSyscallError(op, errno)}
		if e.Source != nil {
			e.Net = e.Source.Network()
		}
		return e
	}
	var oe *net.OpError
	if errors.As(rawErr, &oe) {
		e := *oe
		e.Op = op
		return &e
	}
	return rawErr
}

// A sockRead reads a socket for whoever reads it (the read pump, or a read
// call), through the socket's RawConn, so that waiting for data holds no
// buffer. Before each read the reader puts a buffer in c; fn, called by
// RawConn.Read, reads into it, and when there is nothing to read it puts c
// in a spare slot of its pool, sets c to nil and lets RawConn.Read wait.
// Once the socket is readable, fn takes a buffer from the spare slots and
// reads; if they are empty, it reports readability without reading (c is
// nil), and the reader takes a buffer from the pool and reads again.
//
// fn makes the system call itself (sysRead), with nothing deeper than a
// compare-and-swap in between: a read call that waits runs it on its own
// goroutine's stack, which a deep call would grow for good. fn is the one
// loop that reads a socket: the pump's reads, a read call's and AtEOF's
// poll all go through it.
//
// The socket it reads is its caller's to pass (the attachment holds both),
// so that sockRead holds no pointer to it.
type sockRead struct {
	pool  *chunkPool
	fn    func(fd uintptr) bool
	c     *chunk
	n     int
	errno syscall.Errno

	// park, if not nil, is the stream whose pumpParks is called when the
	// socket has nothing to read, before waiting: the read pump's (a
	// method value would be an allocation of its own).
	park *Stream
}

// noWait, put in sockRead.n before a read, makes fn report a socket with
// nothing to read (EAGAIN in errno) rather than wait: poll's. (A field of
// its own would make every stream a size class larger.)
const noWait = -1

func (sr *sockRead) init(size int) {
	sr.pool = poolFor(size)
	sr.fn = func(fd uintptr) bool {
		c := sr.c
		if c == nil {
			// Readable, or so the poller says: read into the buffer put
			// aside before waiting, if it is still there.
			if c = sr.pool.getSpare(); c == nil {
				return true // the caller takes one and reads again
			}
			sr.c = c
		}
		for {
			n, errno := sysRead(fd, &c.buf[0], len(c.buf))
			switch errno {
			case 0:
				sr.n = n
				return true
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				if sr.n == noWait {
					sr.errno = errno
					return true
				}
				sr.c = nil
				sr.pool.putSpare(c)
				if sr.park != nil {
					sr.park.pumpParks()
				}
				return false
			}
			sr.errno = errno
			return true
		}
	}
}

// read reads the socket k, waiting until it is readable. It returns a chunk
// holding what it read (nil if nothing) and the error, as the net.Conn's
// Read would: io.EOF at the end of the stream.
func (sr *sockRead) read(k *socket) (*chunk, error) {
	for {
		if sr.c == nil {
			sr.c = sr.pool.get()
		}
		sr.n, sr.errno = 0, 0
		err := k.rc.Read(sr.fn)
		c := sr.c
		if c != nil && err == nil && sr.errno == 0 && sr.n > 0 {
			sr.c = nil
			c.w = sr.n
			return c, nil
		}
		if err == nil && c == nil {
			continue // readable: read
		}
		return nil, sr.result(k, err)
	}
}

// poll reads the socket k once without waiting. It returns a chunk holding
// what it read, or nil and: nil if the socket had nothing to read, io.EOF
// at the end of the stream, or the error (a deadline's, if the read was
// woken as it began).
func (sr *sockRead) poll(k *socket) (*chunk, error) {
	c := sr.pool.get()
	sr.c, sr.n, sr.errno = c, noWait, 0
	err := k.rc.Read(sr.fn)
	if sr.n == noWait {
		sr.n = 0 // fn read nothing
	}
	if err == nil && sr.errno == 0 && sr.n > 0 {
		sr.c = nil
		c.w = sr.n
		return c, nil
	}
	if err == nil && sr.errno == syscall.EAGAIN {
		sr.c = nil
		putChunk(c)
		return nil, nil // nothing yet
	}
	return nil, sr.result(k, err)
}

// result returns the error of a read that got no data, and recycles its
// buffer: err is RawConn.Read's, of socket k.
func (sr *sockRead) result(k *socket, err error) error {
	if c := sr.c; c != nil {
		sr.c = nil
		putChunk(c)
	}
	switch {
	case err != nil:
		return k.opError("read", nil, err)
	case sr.errno != 0:
		return k.opError("read", sr.errno, nil)
	}
	return io.EOF
}

// A sockWrite is one write to a socket that must not block: Writer.Write
// tries it when nothing is queued, and queues what the socket did not take.
//
// As for sockRead, the socket is its caller's to pass. The bytes to write
// are p[:n], and n then becomes how many were written: a slice would be 16
// bytes more per connection.
type sockWrite struct {
	fn    func(fd uintptr) bool
	p     *byte // the first byte to write
	n     int   // how many to write (at least one); then how many were
	errno syscall.Errno
}

func (sw *sockWrite) init() {
	sw.fn = sw.writeFD
}

func (sw *sockWrite) writeFD(fd uintptr) bool {
	for {
		n, errno := sysWrite(fd, sw.p, sw.n)
		switch errno {
		case 0:
			sw.n = n
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			sw.n = 0
		default:
			sw.n, sw.errno = 0, errno
		}
		return true // never wait: what is left is queued
	}
}

// write writes as much of p (not empty) as the socket k takes at once,
// without blocking.
func (sw *sockWrite) write(k *socket, p []byte) (int, error) {
	sw.p, sw.n, sw.errno = &p[0], len(p), 0
	err := k.rc.Write(sw.fn)
	sw.p = nil
	switch {
	case err != nil:
		return 0, k.opError("write", nil, err)
	case sw.errno != 0:
		return sw.n, k.opError("write", sw.errno, nil)
	}
	return sw.n, nil
}
