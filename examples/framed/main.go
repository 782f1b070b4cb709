// Command framed is a request/response service over length-prefixed frames:
// each message is a 4-byte big-endian length and a JSON body, read and
// written with the chanstream/frame package. The server computes the
// arithmetic each request asks for; the client pipelines its requests (a
// channel drained into the stream by frame.Send) and matches the responses
// (delivered on a frame.Receiver's channel) by id, with a timeout per
// request in the same select.
//
//	go run ./examples/framed                                  # a server and a client in one process
//	go run ./examples/framed -serve 127.0.0.1:9000            # a server, until Ctrl-C
//	go run ./examples/framed -connect 127.0.0.1:9000 add 2 3 div 7 0
//
// A client request is an op (add, sub, mul, div) and two integers.
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/frame"
	"github.com/chanstream/chanstream/dial"
	"github.com/chanstream/chanstream/listener"
)

// Request asks the server for A op B.
type Request struct {
	ID int    `json:"id"`
	Op string `json:"op"`
	A  int64  `json:"a"`
	B  int64  `json:"b"`
}

// Response answers the request with the same ID: its result, or an error.
type Response struct {
	ID     int    `json:"id"`
	Result int64  `json:"result"`
	Error  string `json:"error,omitempty"`
}

// maxFrame is the largest body either side accepts.
const maxFrame = 64 << 10

// jsonCodec frames T as JSON in a 4-byte big-endian length-prefixed frame.
// Its decoder keeps state for one reader: make one per connection.
type jsonCodec[T any] struct{ frames *frame.LengthPrefixed }

func newJSONCodec[T any]() jsonCodec[T] {
	frames, err := frame.NewLengthPrefixed(4, binary.BigEndian, maxFrame)
	if err != nil {
		panic(err) // the arguments are constants
	}
	return jsonCodec[T]{frames}
}

func (c jsonCodec[T]) Decode(ctx context.Context, r *chanstream.Reader) (T, error) {
	var v T
	body, err := c.frames.Decode(ctx, r)
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return v, fmt.Errorf("bad message: %w", err)
	}
	return v, nil
}

func (c jsonCodec[T]) Encode(dst []byte, v T) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return dst, err
	}
	return c.frames.Encode(dst, body)
}

func main() {
	serve := flag.String("serve", "", "serve on this address until Ctrl-C")
	connect := flag.String("connect", "", "send the requests given as arguments (op a b ...) to this address")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch {
	case *serve != "":
		err = runServer(ctx, *serve, os.Stdout, nil)
	case *connect != "":
		var reqs []Request
		if reqs, err = parseRequests(flag.Args()); err == nil {
			err = runClient(ctx, *connect, reqs, os.Stdout)
		}
	default:
		err = runBoth(ctx, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "framed:", err)
		os.Exit(1)
	}
}

// runBoth serves on a free loopback port and sends it a few requests.
func runBoth(ctx context.Context, out io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ready := make(chan net.Addr, 1)
	served := make(chan error, 1)
	go func() { served <- runServer(ctx, "127.0.0.1:0", io.Discard, func(a net.Addr) { ready <- a }) }()
	var addr net.Addr
	select {
	case addr = <-ready:
	case err := <-served:
		return err
	}
	reqs := []Request{{Op: "add", A: 2, B: 3}, {Op: "mul", A: 6, B: 7}, {Op: "div", A: 1, B: 0}, {Op: "sub", A: 10, B: 4}}
	err := runClient(ctx, addr.String(), reqs, out)
	cancel()
	return errors.Join(err, <-served)
}

// runServer serves on addr until ctx ends. ready, if not nil, gets the
// address once the server listens.
func runServer(ctx context.Context, addr string, log io.Writer, ready func(net.Addr)) error {
	srv, err := listener.Listen(ctx, "tcp", addr, func(ctx context.Context, s *chanstream.Stream) {
		handle(ctx, s, log)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "serving on %s\n", srv.Addrs()[0])
	if ready != nil {
		ready(srv.Addrs()[0])
	}
	err = srv.Serve(ctx)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(shutdownCtx)
	if err == ctx.Err() {
		return nil // asked to stop
	}
	return err
}

// handle answers one connection's requests in order until it ends. A bad
// or over-long request gets an error response, and the connection closes.
func handle(ctx context.Context, s *chanstream.Stream, log io.Writer) {
	defer func() {
		s.Close()
		s.WaitClosed(ctx)
	}()
	responses := newJSONCodec[Response]()
	rc := frame.NewReceiver(ctx, s.Reader(), newJSONCodec[Request]())
	defer rc.Stop()
	for req := range rc.C {
		if err := frame.Write(ctx, s.Writer(), responses, compute(req)); err != nil {
			return
		}
	}
	if err := rc.Err(); err != io.EOF && ctx.Err() == nil {
		fmt.Fprintf(log, "%s: %v\n", s.RemoteAddr(), err)
		frame.Write(ctx, s.Writer(), responses, Response{ID: -1, Error: err.Error()})
	}
}

func compute(req Request) Response {
	resp := Response{ID: req.ID}
	switch req.Op {
	case "add":
		resp.Result = req.A + req.B
	case "sub":
		resp.Result = req.A - req.B
	case "mul":
		resp.Result = req.A * req.B
	case "div":
		if req.B == 0 {
			resp.Error = "division by zero"
		} else {
			resp.Result = req.A / req.B
		}
	default:
		resp.Error = fmt.Sprintf("unknown op %q", req.Op)
	}
	return resp
}

// runClient sends reqs to addr, all at once, and prints each response as it
// comes, in the order of the requests; a response that takes more than
// five seconds fails the client.
func runClient(ctx context.Context, addr string, reqs []Request, out io.Writer) error {
	s, err := dial.Dial(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer func() {
		s.Close()
		s.WaitClosed(ctx)
	}()

	rc := frame.NewReceiver(ctx, s.Reader(), newJSONCodec[Response]())
	defer rc.Stop()
	send := make(chan Request, len(reqs))
	for i := range reqs {
		reqs[i].ID = i + 1
		send <- reqs[i]
	}
	close(send)
	if unsent, err := frame.Send(ctx, s.Writer(), newJSONCodec[Request](), send); err != nil {
		return fmt.Errorf("%d requests unsent: %w", len(unsent), err)
	}
	s.WriteEOF() // no more requests: the server answers them, then closes

	answered := make(map[int]Response)
	for _, req := range reqs {
		timeout := time.NewTimer(5 * time.Second)
		for {
			resp, seen := answered[req.ID]
			if seen {
				printResponse(out, req, resp)
				break
			}
			select {
			case resp, ok := <-rc.C:
				if !ok {
					timeout.Stop()
					return fmt.Errorf("the server closed the connection before answering request %d: %w", req.ID, rc.Err())
				}
				if resp.ID == -1 {
					timeout.Stop()
					return fmt.Errorf("the server: %s", resp.Error)
				}
				answered[resp.ID] = resp
			case <-timeout.C:
				return fmt.Errorf("no response to request %d in 5s", req.ID)
			}
		}
		timeout.Stop()
	}
	return nil
}

func printResponse(out io.Writer, req Request, resp Response) {
	if resp.Error != "" {
		fmt.Fprintf(out, "%s %d %d: %s\n", req.Op, req.A, req.B, resp.Error)
		return
	}
	fmt.Fprintf(out, "%s %d %d = %d\n", req.Op, req.A, req.B, resp.Result)
}

// parseRequests reads "op a b" triples.
func parseRequests(args []string) ([]Request, error) {
	if len(args) == 0 || len(args)%3 != 0 {
		return nil, errors.New("give requests as op a b triples, such as: add 2 3 div 7 0")
	}
	var reqs []Request
	for i := 0; i < len(args); i += 3 {
		a, err := strconv.ParseInt(args[i+1], 10, 64)
		if err != nil {
			return nil, err
		}
		b, err := strconv.ParseInt(args[i+2], 10, 64)
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, Request{Op: args[i], A: a, B: b})
	}
	return reqs, nil
}
