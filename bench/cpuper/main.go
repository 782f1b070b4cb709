//go:build linux

// Command cpuper measures the CPU time a server process spends per
// operation, for comparisons that stay meaningful on a machine shared with
// other work, where the wall-clock throughput that bench/client reports
// swings with the load.
//
// It starts each server given (a command that follows the protocol of
// bench/README.md: it prints "port N" once it listens on 127.0.0.1:N and
// exits when its standard input is closed), then, for each workload, runs
// one measurement against every server in turn, repetition after
// repetition, after a warm-up of a sixteenth of the size. A measurement is
// one connection: the data is written by one goroutine, the reply read to
// EOF, and the server's CPU time (user + system, from /proc/PID/stat, in
// clock ticks of 10 ms) read before and after. The workloads are those of
// bench/client:
//
//	lines   4 Mi lines of 64 bytes, 1,024 per write (L); per line
//	frames  1 Mi frames of 4 + 1,024 bytes, 64 per write (F); per frame
//	bulk    256 MiB in 64 KiB writes (B); per KiB
//
// It prints, per workload and server, the median and every repetition, in
// nanoseconds of server CPU time per operation.
//
// Usage, from bench/ (its own module):
//
//	go build -o /tmp/goserver ./servers/goserver
//	go run ./cpuper -reps 5 "chanstream=/tmp/goserver -impl chanstream" \
//	    "rawgo-fresh=/tmp/goserver -impl rawgo-fresh"
//	go run ./cpuper -w lines "cs=/tmp/goserver -impl chanstream --cpuprofile /tmp/cs.prof"
//
// The client shares the machine with the servers; what it measures is
// still the server's own CPU time, which other processes disturb far less
// than its throughput (through caches and the scheduler, not the clock).
package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// clockTick is the unit of utime and stime in /proc/PID/stat: USER_HZ, 100
// on Linux.
const clockTick = 10e6 // ns

// cpuNanos returns the CPU time (user + system) process pid has used.
func cpuNanos(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces
	if i < 0 {
		return 0, fmt.Errorf("cpuper: /proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("cpuper: /proc/%d/stat: %d fields", pid, len(f))
	}
	user, err1 := strconv.ParseInt(f[11], 10, 64)
	sys, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("cpuper: /proc/%d/stat: utime %q, stime %q", pid, f[11], f[12])
	}
	return float64(user+sys) * clockTick, nil
}

// A server is one server process.
type server struct {
	name  string
	cmd   *exec.Cmd
	stdin io.Closer
	addr  string
}

// start starts command (split on spaces) with --port 0 and waits for its
// port.
func start(name, command string) (*server, error) {
	f := strings.Fields(command)
	if len(f) == 0 {
		return nil, fmt.Errorf("cpuper: server %s: empty command", name)
	}
	cmd := exec.Command(f[0], append(f[1:], "--port", "0")...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
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
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if port, ok := strings.CutPrefix(sc.Text(), "port "); ok {
			go io.Copy(io.Discard, stdout)
			return &server{name: name, cmd: cmd, stdin: stdin, addr: net.JoinHostPort("127.0.0.1", port)}, nil
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	return nil, fmt.Errorf("cpuper: server %s exited before printing its port", name)
}

// stop closes the server's standard input and waits for it to exit.
func (s *server) stop() {
	s.stdin.Close()
	s.cmd.Wait()
}

// A workload is what one measurement sends.
type workload struct {
	kind   byte   // the protocol's first byte
	data   []byte // one write
	writes int    // at full size
	per    int    // operations in one write
	unit   string
}

func workloads() map[string]workload {
	var lines, frames []byte
	line := append([]byte(strings.Repeat("x", 63)), '\n')
	for range 1024 {
		lines = append(lines, line...)
	}
	body := make([]byte, 1024)
	for range 64 {
		frames = binary.BigEndian.AppendUint32(frames, uint32(len(body)))
		frames = append(frames, body...)
	}
	return map[string]workload{
		"lines":  {kind: 'L', data: lines, writes: 4096, per: 1024, unit: "line"},
		"frames": {kind: 'F', data: frames, writes: 16384, per: 64, unit: "frame"},
		"bulk":   {kind: 'B', data: make([]byte, 64<<10), writes: 4096, per: 64, unit: "KiB"},
	}
}

// measure runs w at 1/div of its size against s and returns the server's
// CPU time per operation.
func measure(s *server, w workload, div int) (float64, error) {
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	writes := w.writes / div
	before, err := cpuNanos(s.cmd.Process.Pid)
	if err != nil {
		return 0, err
	}
	werr := make(chan error, 1)
	go func() {
		if _, err := conn.Write([]byte{w.kind}); err != nil {
			werr <- err
			return
		}
		for range writes {
			if _, err := conn.Write(w.data); err != nil {
				werr <- err
				return
			}
		}
		werr <- conn.(*net.TCPConn).CloseWrite()
	}()
	reply, err := io.ReadAll(conn)
	if err == nil {
		err = <-werr
	}
	if err != nil {
		return 0, err
	}
	if len(reply) == 0 {
		return 0, fmt.Errorf("cpuper: %s: no reply", s.name)
	}
	after, err := cpuNanos(s.cmd.Process.Pid)
	if err != nil {
		return 0, err
	}
	return (after - before) / float64(writes*w.per), nil
}

func main() {
	reps := flag.Int("reps", 5, "repetitions of every measurement")
	names := flag.String("w", "lines,frames,bulk", "workloads, comma-separated: lines, frames, bulk")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: cpuper [-reps N] [-w lines,frames,bulk] name=command ...")
		flag.PrintDefaults()
	}
	flag.Parse()
	log.SetFlags(0)
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	all := workloads()
	var servers []*server
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	for _, arg := range flag.Args() {
		name, command, ok := strings.Cut(arg, "=")
		if !ok {
			log.Printf("cpuper: %q is not name=command", arg)
			return
		}
		s, err := start(name, command)
		if err != nil {
			log.Print(err)
			return
		}
		servers = append(servers, s)
	}
	for _, name := range strings.Split(*names, ",") {
		w, ok := all[name]
		if !ok {
			log.Printf("cpuper: no workload %q", name)
			return
		}
		got := make([][]float64, len(servers))
		for _, s := range servers {
			if _, err := measure(s, w, 16); err != nil { // warm-up
				log.Print(err)
				return
			}
		}
		for range *reps {
			for i, s := range servers {
				ns, err := measure(s, w, 1)
				if err != nil {
					log.Print(err)
					return
				}
				got[i] = append(got[i], ns)
			}
		}
		for i, s := range servers {
			sorted := slices.Sorted(slices.Values(got[i]))
			var all strings.Builder
			for _, v := range got[i] {
				fmt.Fprintf(&all, " %.1f", v)
			}
			fmt.Printf("%-7s %-20s %9.1f ns CPU per %s (median of %d;%s)\n",
				name, s.name, sorted[len(sorted)/2], w.unit, len(sorted), all.String())
		}
	}
}
