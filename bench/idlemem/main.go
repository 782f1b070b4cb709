//go:build linux

// Command idlemem measures what an idle connection costs a server in memory.
//
// For each kind of server it starts a fresh process that listens on loopback
// and a client process that opens n connections (10,000 by default), sends
// one 64-byte line on each, reads the echo and then holds them open. The
// server process reports, per connection, the growth of its resident set
// (VmRSS in /proc/self/status) and of the heap objects and goroutine stacks
// (runtime/metrics), measured after a garbage collection that returned free
// memory to the system. A warm-up of 100 connections comes first, so that
// what is measured is the cost of more connections, not of the first.
//
// The servers are:
//
//	chanstream  listener.Listen, with a handler that loops on ReadLine,
//	            Write and Drain
//	stream      a goroutine per connection running the same loop on
//	            chanstream.NewStream, without the listener
//	raw         a goroutine per connection reading lines with a 64 KiB
//	            bufio.Reader and writing them back
//
// Usage:
//
//	go run ./idlemem                      # chanstream and raw, 10,000 connections
//	go run ./idlemem -server stream -n 2000
//	go run ./idlemem -classes             # and the runtime's memory classes
//	go run ./idlemem -memprofile idle.prof
//
// Run it from bench/, which is its own module.
//
// It needs RLIMIT_NOFILE's hard limit above n (and the loopback ports for n
// client connections); it raises the soft limit itself. It runs on Linux,
// whose /proc gives the resident set.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/listener"
)

var (
	conns      = flag.Int("n", 10000, "connections")
	servers    = flag.String("server", "chanstream,raw", "servers to measure, comma-separated: chanstream, stream, raw")
	classes    = flag.Bool("classes", false, "also print the growth of each of the runtime's memory classes")
	memProfile = flag.String("memprofile", "", "write each server's heap profile, taken when its connections are idle, to this file with the server's name appended")
	role       = flag.String("role", "", "internal: serve or client")
	addr       = flag.String("addr", "", "internal: the address a client dials")
)

func main() {
	flag.Parse()
	raiseFileLimit()
	var err error
	switch *role {
	case "":
		err = measureAll()
	case "serve":
		if *memProfile != "" {
			runtime.MemProfileRate = 512
		}
		err = serve(*servers, *conns)
	case "client":
		err = client(*addr, *conns)
	default:
		err = fmt.Errorf("unknown role %q", *role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "idlemem:", err)
		os.Exit(1)
	}
}

// raiseFileLimit raises the soft limit on open files to the hard one.
func raiseFileLimit() {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil && rl.Cur < rl.Max {
		rl.Cur = rl.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
}

// measureAll runs one server process per kind and prints its report.
func measureAll() error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	fmt.Printf("%-12s %6s %12s %12s %12s %12s\n", "server", "conns", "RSS KiB/conn", "heap KiB/c", "stacks KiB/c", "goroutines/c")
	for _, kind := range strings.Split(*servers, ",") {
		args := []string{"-role", "serve", "-server", kind, "-n", strconv.Itoa(*conns), "-classes=" + strconv.FormatBool(*classes)}
		if *memProfile != "" {
			args = append(args, "-memprofile", *memProfile+"."+kind)
		}
		cmd := exec.Command(self, args...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("server %s: %w", kind, err)
		}
	}
	return nil
}

// sample is what the server process measures of itself.
type sample struct {
	rss, heap, stacks uint64
	goroutines        int
	classes           []uint64 // as classNames
}

// classNames are the runtime's memory classes.
var classNames = func() []string {
	var names []string
	for _, d := range metrics.All() {
		if strings.HasPrefix(d.Name, "/memory/classes/") {
			names = append(names, d.Name)
		}
	}
	return names
}()

func measure() sample {
	runtime.GC()
	debug.FreeOSMemory()
	ms := make([]metrics.Sample, len(classNames))
	for i, name := range classNames {
		ms[i].Name = name
	}
	metrics.Read(ms)
	s := sample{rss: vmRSS(), goroutines: runtime.NumGoroutine(), classes: make([]uint64, len(ms))}
	for i, m := range ms {
		s.classes[i] = m.Value.Uint64()
		switch m.Name {
		case "/memory/classes/heap/objects:bytes":
			s.heap = s.classes[i]
		case "/memory/classes/heap/stacks:bytes":
			s.stacks = s.classes[i]
		}
	}
	return s
}

// vmRSS returns the process's resident set in bytes.
func vmRSS() uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// serve runs one server, starts the client, and prints the costs per
// connection once every connection is idle.
func serve(kind string, n int) error {
	var served atomic.Int64 // lines echoed
	echoLoop := func(ctx context.Context, s *chanstream.Stream) {
		for {
			line, err := s.ReadLine(ctx)
			if err != nil {
				return
			}
			s.Write(line)
			if s.Drain(ctx) != nil {
				return
			}
			served.Add(1)
		}
	}
	var stop func()
	var address string
	switch kind {
	case "chanstream":
		srv, err := listener.Listen(context.Background(), "tcp", "127.0.0.1:0", echoLoop, listener.WithBacklog(4096))
		if err != nil {
			return err
		}
		address = srv.Addrs()[0].String()
		stop = func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			srv.Shutdown(ctx)
		}
	case "stream", "raw":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		go func() {
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				if kind == "stream" {
					go func() {
						s := chanstream.NewStream(conn)
						echoLoop(context.Background(), s)
						s.Close()
					}()
					continue
				}
				go func() {
					defer conn.Close()
					br := bufio.NewReaderSize(conn, 64<<10)
					for {
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if _, err := conn.Write(line); err != nil {
							return
						}
						served.Add(1)
					}
				}()
			}
		}()
		address = ln.Addr().String()
		stop = func() { ln.Close() }
	default:
		return fmt.Errorf("unknown server %q", kind)
	}

	if err := runClient(address, 100, func() {}); err != nil {
		return err
	}
	before := measure()
	served.Store(0)
	err := runClient(address, n, func() {
		for served.Load() < int64(n) {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond) // the handlers go back to waiting
		after := measure()
		per := func(a, b uint64) float64 { return (float64(a) - float64(b)) / float64(n) / 1024 }
		fmt.Printf("%-12s %6d %12.2f %12.2f %12.2f %12.2f\n", kind, n,
			per(after.rss, before.rss), per(after.heap, before.heap), per(after.stacks, before.stacks),
			float64(after.goroutines-before.goroutines)/float64(n))
		if *classes {
			for i, name := range classNames {
				fmt.Printf("    %-48s %8.3f KiB/conn\n", name, per(after.classes[i], before.classes[i]))
			}
		}
		if *memProfile != "" {
			if f, err := os.Create(*memProfile); err == nil {
				pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
			}
		}
	})
	stop()
	return err
}

// runClient starts a client process that opens n connections to address and
// echoes a line on each; once they are all idle it calls idle, then ends
// the client.
func runClient(address string, n int, idle func()) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "-role", "client", "-addr", address, "-n", strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	ready, err := bufio.NewReader(stdout).ReadString('\n')
	if err == nil && ready != "ready\n" {
		err = fmt.Errorf("client: %q", ready)
	}
	if err == nil {
		idle()
	}
	stdin.Close()
	if werr := cmd.Wait(); err == nil {
		err = werr
	}
	return err
}

// client opens n connections to address, echoes one line on each, prints
// "ready" and holds them until its stdin is closed.
func client(address string, n int) error {
	line := append(bytes.Repeat([]byte("x"), 63), '\n')
	conns := make([]net.Conn, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, len(line))
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				conn, err := net.Dial("tcp", address)
				if err == nil {
					_, err = conn.Write(line)
				}
				if err == nil {
					_, err = io.ReadFull(conn, buf)
				}
				if err == nil && !bytes.Equal(buf, line) {
					err = errors.New("the echo differs")
				}
				if err != nil {
					errs <- err
					return
				}
				conns[i] = conn
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
	return nil
}
