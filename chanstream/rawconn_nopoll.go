//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly) || chanstream_nopoll

package chanstream

import (
	"errors"
	"net"
	"syscall"
)

// socketsPolled is false where no connection is read and written through
// its RawConn (see socket): the pumps read and write every connection, and
// a read call that must wait for data waits for the read pump.
const socketsPolled = false

// rawConnOf returns nil: no connection is a socket here.
func rawConnOf(net.Conn) syscall.RawConn { return nil }

// sockRead and sockWrite are never used here (no attachment is a socket):
// they exist for the code shared with the platforms that poll sockets.
type sockRead struct {
	park *Stream
}

func (sr *sockRead) init(int) {}

func (sr *sockRead) read(*socket) (*chunk, error) { panic(errNotPolled) }

func (sr *sockRead) poll(*socket) (*chunk, error) { panic(errNotPolled) }

type sockWrite struct{}

func (sw *sockWrite) init() {}

func (sw *sockWrite) write(*socket, []byte) (int, error) { panic(errNotPolled) }

// errNotPolled is the panic of a socket read or write tried here, which
// would be a bug: no attachment is a socket.
var errNotPolled = errors.New("chanstream: sockets are not polled on this platform")
