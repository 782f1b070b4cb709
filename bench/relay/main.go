// Command relay measures chanstream's relay.Relay against the relay a Go
// programmer writes by hand (net, two io.Copy goroutines, CloseWrite), both
// run as a separate process between a load generator and a target in this
// one, on loopback:
//
//	go run ./relay                      # bulk up, bulk down, request/response; 5 alternating rounds
//	go run ./relay -rounds 9 -mib 128   # more
//	go run ./relay -profiles /tmp/p     # and each relay's CPU profile, per round
//	go run ./relay -workloads req-resp  # only some workloads (bulk-up, bulk-down, req-resp)
//	go run ./relay -baseline /tmp/old   # and the chanstream relay of a binary built from another commit
//	go run ./relay serve -impl chanstream -listen 127.0.0.1:0 -target 127.0.0.1:6379
//
// serve runs one relay on its own, for redis-benchmark
// (scripts/relay-redis-bench). A relay prints "listening ADDR" once it
// accepts, and exits on SIGTERM or when its standard input closes (unless
// -stdin=false).
//
// The relays:
//
//	chanstream          listener.Listen, the upstream dialled with net.Dial, relay.Relay(stream, conn)
//	chanstream-streams  the same with the upstream a Stream too (dial.Dial)
//	relay-conns         relay.Relay between the two *net.TCPConn, no Stream
//	iocopy              net.Listen, net.Dial, io.Copy each way then CloseWrite, both closed at the end
//	iocopy-rw           the same with io.Copy kept from splice: read into its buffer, write from it
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/relay"
	"github.com/chanstream/chanstream/dial"
	"github.com/chanstream/chanstream/listener"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		if err := serve(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "relay serve:", err)
			os.Exit(1)
		}
		return
	}
	if err := measure(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		os.Exit(1)
	}
}

// serve runs one relay until its standard input closes or SIGTERM.
func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	impl := fs.String("impl", "chanstream", "chanstream, chanstream-streams, relay-conns, iocopy or iocopy-rw")
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	target := fs.String("target", "", "address to relay to")
	stdinEnds := fs.Bool("stdin", true, "exit when the standard input closes (else only on SIGTERM)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile to this file")
	fs.Parse(args)
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if *stdinEnds {
		go func() { io.Copy(io.Discard, os.Stdin); stop() }()
	}

	switch *impl {
	case "chanstream", "chanstream-streams":
		streams := *impl == "chanstream-streams"
		srv, err := listener.Listen(ctx, "tcp", *listen, func(ctx context.Context, s *chanstream.Stream) {
			var up net.Conn
			var err error
			if streams {
				up, err = dial.Dial(ctx, "tcp", *target)
			} else {
				up, err = net.Dial("tcp", *target)
			}
			if err != nil {
				s.AbortReset()
				return
			}
			relay.Relay(ctx, s, up)
		})
		if err != nil {
			return err
		}
		fmt.Printf("listening %s\n", srv.Addrs()[0])
		srv.Serve(ctx)
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		return nil
	case "iocopy", "iocopy-rw", "relay-conns":
		ln, err := net.Listen("tcp", *listen)
		if err != nil {
			return err
		}
		fmt.Printf("listening %s\n", ln.Addr())
		go func() { <-ctx.Done(); ln.Close() }()
		for {
			c, err := ln.Accept()
			if err != nil {
				return nil
			}
			if *impl != "relay-conns" {
				go ioCopyRelay(c, *target, *impl == "iocopy-rw")
				continue
			}
			go func() {
				up, err := net.Dial("tcp", *target)
				if err != nil {
					c.Close()
					return
				}
				relay.Relay(ctx, c, up)
			}()
		}
	}
	return fmt.Errorf("unknown -impl %q", *impl)
}

// ioCopyRelay is the hand-written relay: io.Copy each way, CloseWrite at
// each EOF, both closed once both directions have ended. With readWrite,
// io.Copy is kept from the connections' ReadFrom and WriteTo: it reads into
// its buffer and writes from it, rather than splice.
func ioCopyRelay(c net.Conn, target string, readWrite bool) {
	defer c.Close()
	up, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer up.Close()
	var wg sync.WaitGroup
	wg.Add(2)
	copy := io.Copy
	if readWrite {
		copy = func(dst io.Writer, src io.Reader) (int64, error) {
			return io.Copy(struct{ io.Writer }{dst}, struct{ io.Reader }{src})
		}
	}
	go func() {
		defer wg.Done()
		copy(up, c)
		up.(*net.TCPConn).CloseWrite()
	}()
	go func() {
		defer wg.Done()
		copy(c, up)
		c.(*net.TCPConn).CloseWrite()
	}()
	wg.Wait()
}

// The target's kinds of connection, by their first byte.
const (
	kindUp   = 'U' // the client sends bytes to EOF; reply: 8-byte count, close
	kindDown = 'D' // the client sends an 8-byte count; the target sends as many bytes, closes
	kindEcho = 'E' // every byte is sent back, until EOF
)

// startTarget runs the target in this process.
func startTarget() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serveTarget(c)
			}()
		}
	}()
	return ln.Addr().String(), func() { ln.Close(); wg.Wait() }, nil
}

var block = make([]byte, 64<<10)

func serveTarget(c net.Conn) {
	kind := make([]byte, 1)
	if _, err := io.ReadFull(c, kind); err != nil {
		return
	}
	switch kind[0] {
	case kindUp:
		n, _ := io.Copy(io.Discard, c)
		binary.Write(c, binary.BigEndian, n)
	case kindDown:
		var n int64
		if binary.Read(c, binary.BigEndian, &n) != nil {
			return
		}
		for n > 0 {
			k, err := c.Write(block[:min(n, int64(len(block)))])
			if err != nil {
				return
			}
			n -= int64(k)
		}
	case kindEcho:
		io.Copy(c, c)
	}
}

// A relayProc is a relay process under measurement.
type relayProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addr  string
}

// baselineBin is -baseline: the binary whose chanstream relay is the impl
// named baseline.
var baselineBin string

func startRelay(impl, target, profile string) (*relayProc, error) {
	bin, kind := os.Args[0], impl
	if impl == "baseline" {
		if baselineBin == "" {
			return nil, fmt.Errorf("the baseline relay needs -baseline")
		}
		bin, kind = baselineBin, "chanstream"
	}
	args := []string{"serve", "-impl", kind, "-target", target}
	if profile != "" {
		args = append(args, "-cpuprofile", profile)
	}
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("%s did not start: %q %v", impl, line, err)
	}
	return &relayProc{cmd: cmd, stdin: stdin, addr: addr}, nil
}

// stop ends the relay and returns the CPU time it used.
func (p *relayProc) stop() time.Duration {
	p.stdin.Close()
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
	return p.cmd.ProcessState.UserTime() + p.cmd.ProcessState.SystemTime()
}

// A workload runs through the relay at addr and returns its throughput
// (bytes or exchanges per second) and the work it did (bytes or exchanges).
type workload struct {
	name, unit string
	run        func(addr string) (work float64, err error)
}

func measure(args []string) error {
	fs := flag.NewFlagSet("relay", flag.ExitOnError)
	rounds := fs.Int("rounds", 5, "alternating rounds")
	mib := fs.Int64("mib", 64, "MiB per connection for bulk")
	conns := fs.Int("conns", 4, "connections for bulk")
	rrConns := fs.Int("rr-conns", 16, "connections for request/response")
	rrN := fs.Int("rr-n", 5000, "exchanges per connection for request/response")
	implList := fs.String("impls", "iocopy,chanstream,chanstream-streams", "relays to measure")
	profiles := fs.String("profiles", "", "write each relay's CPU profile, per round, into this directory")
	baseline := fs.String("baseline", "", "a bench/relay binary built from another commit: its chanstream relay is the impl named baseline")
	workloadList := fs.String("workloads", "bulk-up,bulk-down,req-resp", "workloads to run, in this order")
	fs.Parse(args)
	impls := strings.Split(*implList, ",")
	baselineBin = *baseline
	if baselineBin != "" && !slices.Contains(impls, "baseline") {
		impls = append(impls, "baseline")
	}

	target, stopTarget, err := startTarget()
	if err != nil {
		return err
	}
	defer stopTarget()
	workloads := []workload{
		{"bulk-up", "MiB/s", func(addr string) (float64, error) {
			return parallel(*conns, func() (float64, error) { return bulkUp(addr, *mib<<20) })
		}},
		{"bulk-down", "MiB/s", func(addr string) (float64, error) {
			return parallel(*conns, func() (float64, error) { return bulkDown(addr, *mib<<20) })
		}},
		{"req-resp", "exchanges/s", func(addr string) (float64, error) {
			return parallel(*rrConns, func() (float64, error) { return reqResp(addr, *rrN) })
		}},
	}
	var chosen []workload
	for _, name := range strings.Split(*workloadList, ",") {
		i := slices.IndexFunc(workloads, func(w workload) bool { return w.name == name })
		if i < 0 {
			return fmt.Errorf("no workload %q", name)
		}
		chosen = append(chosen, workloads[i])
	}
	workloads = chosen
	// rates[workload][impl] are the rounds' throughputs; cpu[impl] the
	// relay's CPU seconds per round.
	rates := map[string]map[string][]float64{}
	cpu := map[string][]float64{}
	for _, w := range workloads {
		rates[w.name] = map[string][]float64{}
	}
	for r := 0; r < *rounds; r++ {
		order := slices.Clone(impls)
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, impl := range order {
			profile := ""
			if *profiles != "" {
				profile = filepath.Join(*profiles, fmt.Sprintf("%s-%d.prof", impl, r+1))
			}
			p, err := startRelay(impl, target, profile)
			if err != nil {
				return err
			}
			for _, w := range workloads {
				start := time.Now()
				work, err := w.run(p.addr)
				if err != nil {
					p.stop()
					return fmt.Errorf("%s through %s: %w", w.name, impl, err)
				}
				rate := work / time.Since(start).Seconds()
				if w.unit == "MiB/s" {
					rate /= 1 << 20
				}
				rates[w.name][impl] = append(rates[w.name][impl], rate)
			}
			cpu[impl] = append(cpu[impl], p.stop().Seconds())
		}
		fmt.Fprintf(os.Stderr, "round %d of %d done\n", r+1, *rounds)
	}
	fmt.Printf("%d rounds, alternating; medians (ratio to %s)\n\n", *rounds, impls[0])
	fmt.Printf("| workload | %s |\n|---|%s\n", strings.Join(impls, " | "), strings.Repeat("---|", len(impls)))
	for _, w := range workloads {
		base := median(rates[w.name][impls[0]])
		row := []string{}
		for _, impl := range impls {
			m := median(rates[w.name][impl])
			row = append(row, fmt.Sprintf("%.0f %s (%.2fx)", m, w.unit, m/base))
		}
		fmt.Printf("| %s | %s |\n", w.name, strings.Join(row, " | "))
	}
	base := median(cpu[impls[0]])
	row := []string{}
	for _, impl := range impls {
		m := median(cpu[impl])
		row = append(row, fmt.Sprintf("%.2f s (%.2fx)", m, m/base))
	}
	fmt.Printf("| relay CPU per round | %s |\n", strings.Join(row, " | "))
	return nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// parallel runs f on n connections at once and sums their work.
func parallel(n int, f func() (float64, error)) (float64, error) {
	var mu sync.Mutex
	var total float64
	var first error
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, err := f()
			mu.Lock()
			defer mu.Unlock()
			total += w
			if err != nil && first == nil {
				first = err
			}
		}()
	}
	wg.Wait()
	return total, first
}

func dialRelay(addr string, kind byte) (*net.TCPConn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(5 * time.Minute))
	if _, err := c.Write([]byte{kind}); err != nil {
		c.Close()
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// bulkUp sends n bytes, half-closes, and checks the target's count.
func bulkUp(addr string, n int64) (float64, error) {
	c, err := dialRelay(addr, kindUp)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	for sent := int64(0); sent < n; {
		k, err := c.Write(block[:min(n-sent, int64(len(block)))])
		if err != nil {
			return 0, err
		}
		sent += int64(k)
	}
	c.CloseWrite()
	var got int64
	if err := binary.Read(c, binary.BigEndian, &got); err != nil {
		return 0, err
	}
	if got != n {
		return 0, fmt.Errorf("the target counted %d bytes of %d", got, n)
	}
	return float64(n), nil
}

// bulkDown asks the target for n bytes and reads them to EOF.
func bulkDown(addr string, n int64) (float64, error) {
	c, err := dialRelay(addr, kindDown)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if err := binary.Write(c, binary.BigEndian, n); err != nil {
		return 0, err
	}
	c.CloseWrite()
	got, err := io.Copy(io.Discard, c)
	if err != nil {
		return 0, err
	}
	if got != n {
		return 0, fmt.Errorf("received %d bytes of %d", got, n)
	}
	return float64(n), nil
}

// reqResp makes n exchanges of a 64-byte request and its echo.
func reqResp(addr string, n int) (float64, error) {
	c, err := dialRelay(addr, kindEcho)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	req := make([]byte, 64)
	resp := make([]byte, 64)
	for i := range n {
		binary.BigEndian.PutUint64(req, uint64(i))
		if _, err := c.Write(req); err != nil {
			return 0, err
		}
		if _, err := io.ReadFull(c, resp); err != nil {
			return 0, err
		}
		if binary.BigEndian.Uint64(resp) != uint64(i) {
			return 0, fmt.Errorf("exchange %d answered %d", i, binary.BigEndian.Uint64(resp))
		}
	}
	c.CloseWrite()
	if _, err := io.Copy(io.Discard, c); err != nil {
		return 0, err
	}
	return float64(n), nil
}
