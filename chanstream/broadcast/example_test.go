package broadcast_test

import (
	"bufio"
	"context"
	"fmt"
	"net"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/broadcast"
)

// One message to every peer, with each peer's counters.
func Example() {
	b, err := broadcast.New[string](broadcast.Config{Policy: broadcast.Drop})
	if err != nil {
		panic(err)
	}
	defer b.Close()

	names := []string{"alice", "bob"}
	var clients []net.Conn
	for _, name := range names {
		server, client := net.Pipe()
		s := chanstream.NewStream(server)
		defer s.WaitClosed(context.Background())
		defer s.Close()
		defer client.Close()
		b.Add(name, s)
		clients = append(clients, client)
	}

	fmt.Println("queued on", b.Send([]byte("hello, everyone\n")), "peers")
	for i, c := range clients {
		line, _ := bufio.NewReader(c).ReadString('\n')
		fmt.Printf("%s got %q\n", names[i], line)
	}
	st, _ := b.Peer("alice")
	fmt.Printf("alice: sent %d, dropped %d\n", st.Sent, st.Dropped)
	// Output:
	// queued on 2 peers
	// alice got "hello, everyone\n"
	// bob got "hello, everyone\n"
	// alice: sent 1, dropped 0
}
