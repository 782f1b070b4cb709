package streamtest

import (
	"net"
	"testing"

	"github.com/chanstream/chanstream/chanstream"
)

func TestTestConn_Pairs(t *testing.T) {
	for _, pm := range pairMakers {
		t.Run(pm.name, func(t *testing.T) { TestConn(t, pm.make) })
	}
}

func TestTestConn_FaultConn(t *testing.T) {
	TestConn(t, func(t testing.TB) (net.Conn, net.Conn) {
		a, b := Pipe(t)
		return InjectPair(t, a, b, 1, Chop(Both, 100))
	})
}

func TestTestStream_NewStreamOverThePairs(t *testing.T) {
	for _, pm := range pairMakers {
		t.Run(pm.name, func(t *testing.T) {
			TestStream(t, func(t testing.TB) (*chanstream.Stream, net.Conn) {
				a, b := pm.make(t)
				return chanstream.NewStream(a), b
			})
		})
	}
}

func TestTestStream_NewStreamOverFaults(t *testing.T) {
	TestStream(t, func(t testing.TB) (*chanstream.Stream, net.Conn) {
		a, b := SocketPair(t)
		return chanstream.NewStream(Inject(t, a, 1, Chop(Both, 16))), b
	})
}
