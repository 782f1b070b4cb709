package chanstream

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// A socket is a connection the stream reads and writes through its
// syscall.RawConn rather than its Read and Write: waiting for data then
// holds no buffer (the buffer is taken from the pool once the socket is
// readable), and a write can be tried without blocking. TCP and Unix stream
// sockets qualify; other connections (TLS, pipes, wrappers) are read and
// written through the net.Conn, by the pumps.
type socket struct {
	rc   syscall.RawConn
	conn net.Conn // for the addresses of errors
}

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
// fn makes the system call itself, with nothing deeper than a
// compare-and-swap in between: a read call that waits runs it on its own
// goroutine's stack, which a deep call would grow for good (see "Stacks" at
// the top of readpump.go).
type sockRead struct {
	k     *socket
	pool  *chunkPool
	fn    func(fd uintptr) bool
	c     *chunk
	n     int
	errno syscall.Errno

	// park, if not nil, is called when the socket has nothing to read,
	// before waiting.
	park func()
}

func (sr *sockRead) init(k *socket, size int) {
	sr.k, sr.pool = k, poolFor(size)
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
			// A read of a non-blocking socket returns at once: RawSyscall,
			// which does not tell the scheduler, is shallower than Syscall.
			n, _, errno := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&c.buf[0])), uintptr(len(c.buf)))
			switch errno {
			case 0:
				sr.n = int(n)
				return true
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				sr.c = nil
				sr.pool.putSpare(c)
				if sr.park != nil {
					sr.park()
				}
				return false
			}
			sr.errno = errno
			return true
		}
	}
}

// read reads the socket, waiting until it is readable. It returns a chunk
// holding what it read (nil if nothing) and the error, as the net.Conn's
// Read would: io.EOF at the end of the stream.
func (sr *sockRead) read() (*chunk, error) {
	for {
		if sr.c == nil {
			sr.c = sr.pool.get()
		}
		sr.n, sr.errno = 0, 0
		err := sr.k.rc.Read(sr.fn)
		c := sr.c
		if c != nil && err == nil && sr.errno == 0 && sr.n > 0 {
			sr.c = nil
			c.w = sr.n
			return c, nil
		}
		if err == nil && c == nil {
			continue // readable: read
		}
		return nil, sr.result(err)
	}
}

// result returns the error of a read that got no data, and recycles its
// buffer: err is RawConn.Read's.
func (sr *sockRead) result(err error) error {
	if c := sr.c; c != nil {
		sr.c = nil
		putChunk(c)
	}
	switch {
	case err != nil:
		return sr.k.opError("read", nil, err)
	case sr.errno != 0:
		return sr.k.opError("read", sr.errno, nil)
	}
	return io.EOF
}

// A sockWrite is one write to a socket that must not block: Writer.Write
// tries it when nothing is queued, and queues what the socket did not take.
type sockWrite struct {
	k     *socket
	fn    func(fd uintptr) bool
	p     []byte // not empty
	n     int
	errno syscall.Errno
}

func (sw *sockWrite) init(k *socket) {
	sw.k = k
	sw.fn = sw.writeFD
}

func (sw *sockWrite) writeFD(fd uintptr) bool {
	p := sw.p
	for {
		// A write to a non-blocking socket returns at once: RawSyscall,
		// as for reads (see sockRead).
		n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		switch errno {
		case 0:
			sw.n = int(n)
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
		default:
			sw.errno = errno
		}
		return true // never wait: what is left is queued
	}
}

// write writes as much of p as the socket takes at once, without blocking.
func (sw *sockWrite) write(p []byte) (int, error) {
	sw.p, sw.n, sw.errno = p, 0, 0
	err := sw.k.rc.Write(sw.fn)
	sw.p = nil
	switch {
	case err != nil:
		return 0, sw.k.opError("write", nil, err)
	case sw.errno != 0:
		return sw.n, sw.k.opError("write", sw.errno, nil)
	}
	return sw.n, nil
}
