// Command demo is a self-contained tour of chanstream: a server and its
// clients in one process, on loopback TCP, showing
//
//   - lines: ReadLine and Write + Drain (asyncio's readline / write + drain),
//   - exact reads: length-prefixed frames with ReadExactly,
//   - backpressure: a writer held at the high watermark while its peer reads
//     slowly, with the memory it queues bounded,
//   - a clean shutdown: Shutdown, then WaitClosed on everything.
//
// Run it with
//
//	go run ./examples/demo
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/dial"
	"github.com/chanstream/chanstream/listener"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// serve is the server's handler. It speaks a tiny line protocol:
//
//	ECHO text    -> "echo: text"
//	FRAMES n     -> reads n frames (4-byte big-endian length + body), replies with their sizes
//	SLOW n       -> reads n bytes, slowly, 16 KiB at a time, replies "read n"
//	BYE          -> "bye", and the connection ends
func serve(ctx context.Context, s *chanstream.Stream) {
	for {
		line, err := s.ReadLine(ctx)
		if err != nil {
			return
		}
		cmd, arg, _ := strings.Cut(strings.TrimSpace(string(line)), " ")
		switch cmd {
		case "ECHO":
			fmt.Fprintf(s, "echo: %s\n", arg)
		case "FRAMES":
			n, _ := strconv.Atoi(arg)
			var sizes []string
			for i := 0; i < n; i++ {
				header, err := s.ReadExactly(ctx, 4)
				if err != nil {
					return
				}
				body, err := s.ReadExactly(ctx, int(binary.BigEndian.Uint32(header)))
				if err != nil {
					return
				}
				sizes = append(sizes, strconv.Itoa(len(body)))
			}
			fmt.Fprintf(s, "frames of %s bytes\n", strings.Join(sizes, ", "))
		case "SLOW":
			n, _ := strconv.Atoi(arg)
			for got := 0; got < n; {
				chunk, err := s.ReadChunk(ctx, min(16<<10, n-got))
				if err != nil {
					return
				}
				got += len(chunk)
				time.Sleep(2 * time.Millisecond) // a slow consumer
			}
			fmt.Fprintf(s, "read %d\n", n)
		case "BYE":
			fmt.Fprintln(s, "bye")
			return // the server closes the stream gracefully: "bye" is still sent
		default:
			fmt.Fprintf(s, "unknown command %q\n", cmd)
		}
	}
}

func run(ctx context.Context, out io.Writer) error {
	srv, err := listener.Listen(ctx, "tcp", "127.0.0.1:0", serve)
	if err != nil {
		return err
	}
	addr := srv.Addrs()[0].String()
	fmt.Fprintln(out, "server listening on loopback")

	err = errors.Join(
		lines(ctx, addr, out),
		frames(ctx, addr, out),
		backpressure(ctx, addr, out),
	)

	// A clean shutdown: stop listening, let the handlers finish, wait.
	shutdownCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if serr := srv.Shutdown(shutdownCtx); serr != nil {
		err = errors.Join(err, serr)
	}
	if werr := srv.WaitClosed(shutdownCtx); werr != nil {
		err = errors.Join(err, werr)
	}
	st := srv.Stats()
	fmt.Fprintf(out, "server shut down: %d connections served, %d still active\n", st.Accepted, st.Active)
	return err
}

// lines shows ReadLine and Write + Drain.
func lines(ctx context.Context, addr string, out io.Writer) error {
	fmt.Fprintln(out, "\n== lines")
	s, err := dial.Dial(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	for _, msg := range []string{"hello", "asyncio streams, in Go"} {
		fmt.Fprintf(out, "send: ECHO %s\n", msg)
		s.Write([]byte("ECHO " + msg + "\n"))
		if err := s.Drain(ctx); err != nil {
			return err
		}
		reply, err := s.ReadLine(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "received: %q\n", reply)
	}
	return bye(ctx, s, out)
}

// frames shows ReadExactly on length-prefixed frames, written in one
// WriteLines (one writev).
func frames(ctx context.Context, addr string, out io.Writer) error {
	fmt.Fprintln(out, "\n== exact reads")
	s, err := dial.Dial(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	parts := [][]byte{[]byte("FRAMES 3\n")}
	for _, size := range []int{5, 1000, 70000} {
		header := binary.BigEndian.AppendUint32(nil, uint32(size))
		parts = append(parts, header, bytes.Repeat([]byte("f"), size))
	}
	fmt.Fprintln(out, "send: 3 frames of 5, 1000 and 70000 bytes, each behind its 4-byte length")
	if err := s.WriteLines(parts...); err != nil {
		return err
	}
	reply, err := s.ReadLine(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "received: %q\n", reply)
	return bye(ctx, s, out)
}

// backpressure shows a writer held at the high watermark by a slow reader.
func backpressure(ctx context.Context, addr string, out io.Writer) error {
	fmt.Fprintln(out, "\n== backpressure")
	const total, high, low = 2 << 20, 64 << 10, 16 << 10
	s, err := dial.Dial(ctx, "tcp", addr, chanstream.WithWriteBufferLimits(high, low))
	if err != nil {
		return err
	}
	// Keep the kernel's socket buffers small, so that the watermark is felt
	// at once.
	if tc, ok := s.Conn().(interface{ SetWriteBuffer(int) error }); ok {
		tc.SetWriteBuffer(16 << 10)
	}
	fmt.Fprintf(out, "send: SLOW %d, then %d bytes to a server reading 16 KiB every 2 ms\n", total, total)
	s.Write([]byte(fmt.Sprintf("SLOW %d\n", total)))
	maxQueued := 0
	block := bytes.Repeat([]byte("b"), 8<<10)
	for sent := 0; sent < total; sent += len(block) {
		if _, err := s.Write(block); err != nil { // blocks at the watermark
			return err
		}
		maxQueued = max(maxQueued, s.Stats().WriteBuffered)
	}
	if err := s.Drain(ctx); err != nil {
		return err
	}
	reply, err := s.ReadLine(ctx)
	if err != nil {
		return err
	}
	st := s.Stats()
	fmt.Fprintf(out, "received: %q\n", reply)
	fmt.Fprintf(out, "the writer waited at the high watermark: %v\n", st.WriteWaits > 0)
	fmt.Fprintf(out, "the most it ever queued stayed near the watermark (%d KiB): %v\n", high>>10, maxQueued <= high+len(block))
	return bye(ctx, s, out)
}

// bye ends a client's session and closes its stream cleanly.
func bye(ctx context.Context, s *chanstream.Stream, out io.Writer) error {
	s.Write([]byte("BYE\n"))
	reply, err := s.ReadLine(ctx)
	if err != nil {
		return err
	}
	if _, err := s.ReadLine(ctx); err != io.EOF {
		return fmt.Errorf("after bye: %v", err)
	}
	s.Close()
	if err := s.WaitClosed(ctx); err != nil {
		return err
	}
	fmt.Fprintf(out, "received: %q, then EOF; closed\n", reply)
	return nil
}
