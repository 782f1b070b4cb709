package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

// kindChat is the chat protocol: the connection joins the server's room,
// gets "joined\n", then every line any member sends goes to every member.
const kindChat = 'H'

var (
	chatClients = flag.Int("chat-clients", 100, "chat: clients that read (one more never reads)")
	chatLines   = flag.Int("chat-lines", 1000, "chat: lines each client sends, at the default -lines (scaled with it)")
	chatRate    = flag.Float64("chat-rate", 100, "chat: lines per second each client sends")
)

func init() {
	allWorkloads = append(allWorkloads, "chat")
	workloadFuncs["chat"] = chatWorkload
	rowDefs = append(rowDefs,
		rowDef{Key: "chat-cpu", Label: "chat: server CPU (fanin + broadcast)", Workload: "chat", Metric: "server_cpu_s", Unit: "CPU s", Ours: ours,
			Goal: &goal{Peer: "rawgo", Op: "<=", Value: 1.1}},
		rowDef{Key: "chat-dropped", Label: "chat: lines healthy clients missed", Workload: "chat", Metric: "missed", Unit: "lines", Ours: ours})
}

// chatWorkload runs the chat room: -chat-clients clients each send
// -chat-lines lines of 64 bytes at -chat-rate lines/s, all at once, and read
// every line of every client (their own included); one more client joins and
// never reads, with a 4 KiB receive buffer. It checks that each healthy
// client got each line once and in order, and measures the server's CPU
// time from the first line to the last delivery.
func chatWorkload(ctx context.Context, t target) (metrics, error) {
	n := *chatClients
	perClient := max(1, int(int64(*chatLines)*int64(t.sizes.Lines)/(4<<20)))
	conns, err := t.dialAll(ctx, n)
	if err != nil {
		return nil, err
	}
	defer closeAll(conns)
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	stuck, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, err
	}
	defer stuck.Close()
	if _, err := stuck.Write([]byte{kindChat}); err != nil {
		return nil, err
	}
	readers := make([]*bufio.Reader, n)
	err = parallel(conns, func(i int, c net.Conn) error {
		if _, err := c.Write([]byte{kindChat}); err != nil {
			return err
		}
		readers[i] = bufio.NewReader(c)
		if line, err := readers[i].ReadString('\n'); err != nil || line != "joined\n" {
			return fmt.Errorf("joining: %q, %v", line, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Every client has joined; the stuck one too, as it joined first.

	cpu0, err := processTicks(t.pid)
	if err != nil {
		return nil, err
	}
	var missed atomic.Int64
	start := time.Now()
	err = parallel(conns, func(i int, c net.Conn) error {
		sendErr := make(chan error, 1)
		go func() { sendErr <- chatSend(ctx, c, i, perClient) }()
		err := chatReceive(readers[i], n, perClient, &missed)
		if err != nil {
			c.Close() // ends chatSend
		}
		return errors.Join(err, <-sendErr)
	})
	elapsed := time.Since(start).Seconds()
	if err != nil {
		return nil, err
	}
	cpu1, err := processTicks(t.pid)
	if err != nil {
		return nil, err
	}
	return metrics{
		"server_cpu_s": float64(cpu1-cpu0) / clockTicks,
		"missed":       float64(missed.Load()),
		"seconds":      elapsed,
		"lines_in":     float64(n * perClient),
	}, nil
}

// chatSend sends lines lines from client id at -chat-rate lines/s.
func chatSend(ctx context.Context, c net.Conn, id, lines int) error {
	tick := time.NewTicker(time.Duration(float64(time.Second) / *chatRate))
	defer tick.Stop()
	buf := make([]byte, 0, lineLen)
	for seq := range lines {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
		buf = fmt.Appendf(buf[:0], "%d %d ", id, seq)
		buf = append(buf, line[len(buf):]...)
		if _, err := c.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

// chatReceive reads until it has every client's last line, checking that
// each client's lines come once and in order; a gap (lines the server
// dropped for this client) is counted in missed, a repeat or a reordering is
// an error.
func chatReceive(br *bufio.Reader, clients, lines int, missed *atomic.Int64) error {
	next := make([]int, clients)
	done := 0
	for done < clients {
		l, err := br.ReadSlice('\n')
		if err != nil {
			return fmt.Errorf("after %d clients' lines: %w", done, err)
		}
		id, rest := chatNumber(l)
		seq, _ := chatNumber(rest)
		if id < 0 || id >= clients || seq < 0 {
			return fmt.Errorf("bad line %q", l)
		}
		if seq < next[id] {
			return fmt.Errorf("client %d's line %d came again or out of order", id, seq)
		}
		missed.Add(int64(seq - next[id]))
		next[id] = seq + 1
		if seq == lines-1 {
			done++
		}
	}
	return nil
}

// chatNumber parses the decimal number at the start of b, up to a space, and
// returns it (-1 if there is none) and what follows the space.
func chatNumber(b []byte) (int, []byte) {
	n, i := 0, 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		n = n*10 + int(b[i]-'0')
	}
	if i == 0 || i == len(b) || b[i] != ' ' {
		return -1, nil
	}
	return n, b[i+1:]
}
