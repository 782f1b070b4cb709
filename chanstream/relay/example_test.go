package relay_test

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/relay"
)

// A one-connection proxy: the client's request reaches the upstream, the
// client's half-close reaches it as an EOF, and the upstream's answer comes
// back on the same connection.
func ExampleRelay() {
	ctx := context.Background()
	upstream, _ := net.Listen("tcp", "127.0.0.1:0")
	defer upstream.Close()
	go func() { // an upstream that answers with the length of what it got
		c, _ := upstream.Accept()
		data, _ := io.ReadAll(c)
		fmt.Fprintf(c, "%d bytes", len(data))
		c.Close()
	}()
	front, _ := net.Listen("tcp", "127.0.0.1:0")
	defer front.Close()
	relayed := make(chan relay.Result, 1)
	go func() { // the proxy
		c, _ := front.Accept()
		up, _ := net.Dial("tcp", upstream.Addr().String())
		res, _ := relay.Relay(ctx, chanstream.NewStream(c), up)
		relayed <- res
	}()

	client, _ := net.Dial("tcp", front.Addr().String())
	client.Write([]byte("hello, upstream"))
	client.(*net.TCPConn).CloseWrite()
	answer, _ := io.ReadAll(client)
	client.Close()
	res := <-relayed
	fmt.Printf("%s; relayed %d up, %d down\n", answer, res.AToB, res.BToA)
	// Output: 15 bytes; relayed 15 up, 8 down
}
