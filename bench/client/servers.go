package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A serverSpec is a server to start: a name and a command line.
type serverSpec struct {
	name string
	argv []string
}

// parseServers parses -server flags of the form name=command args... (the
// command is split on white space).
func parseServers(list []string) ([]serverSpec, error) {
	var specs []serverSpec
	seen := map[string]bool{}
	for _, s := range list {
		name, cmd, ok := strings.Cut(s, "=")
		argv := strings.Fields(cmd)
		if !ok || name == "" || len(argv) == 0 {
			return nil, fmt.Errorf("bad -server %q: want name=command", s)
		}
		if seen[name] {
			return nil, fmt.Errorf("server %q given twice", name)
		}
		seen[name] = true
		specs = append(specs, serverSpec{name: name, argv: argv})
	}
	return specs, nil
}

// startTimeout bounds how long a server may take to print its port.
const startTimeout = 20 * time.Second

// A serverProc is a running server process.
type serverProc struct {
	name   string
	cmd    *exec.Cmd
	stdin  *os.File // closing it asks the server to exit
	port   int
	done   chan struct{} // closed once the process has exited
	err    error         // the process's exit status, once done is closed
	stderr *tailWriter
}

var (
	procsMu sync.Mutex
	procs   = map[*serverProc]bool{}
)

// killAllServers kills every server still running, with its process group.
func killAllServers() {
	procsMu.Lock()
	defer procsMu.Unlock()
	for p := range procs {
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// startServer starts spec with the extra arguments and waits until it prints
// the port it listens on. The server gets its own process group, and is
// killed if the client dies (Pdeathsig) or closes its standard input.
func startServer(spec serverSpec, extra ...string) (*serverProc, error) {
	argv := append(append([]string(nil), spec.argv...), extra...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	p := &serverProc{name: spec.name, cmd: cmd, stdin: inW, done: make(chan struct{}), stderr: &tailWriter{max: 4 << 10}}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, p.stderr
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("%s: %w", spec.name, err)
	}
	procsMu.Lock()
	procs[p] = true
	procsMu.Unlock()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()

	ports := make(chan int, 1)
	go func() {
		defer outR.Close()
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "port "); ok {
				if port, err := strconv.Atoi(strings.TrimSpace(rest)); err == nil {
					select {
					case ports <- port:
					default:
					}
				}
			}
		}
	}()
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case p.port = <-ports:
		return p, nil
	case <-p.done:
		p.stop()
		return nil, fmt.Errorf("%s exited before listening (%v): %s", spec.name, p.err, p.stderr)
	case <-timer.C:
		p.stop()
		return nil, fmt.Errorf("%s did not print its port within %v: %s", spec.name, startTimeout, p.stderr)
	}
}

// pid returns the server's process id.
func (p *serverProc) pid() int { return p.cmd.Process.Pid }

// addr returns the server's address.
func (p *serverProc) addr() string { return "127.0.0.1:" + strconv.Itoa(p.port) }

// stop asks the server to exit by closing its standard input, then with
// SIGTERM, then kills its process group. It returns an error if the server
// had to be killed or exited with an error.
func (p *serverProc) stop() error {
	defer func() {
		procsMu.Lock()
		delete(procs, p)
		procsMu.Unlock()
	}()
	p.stdin.Close()
	var forced string
	if !waitFor(p.done, 10*time.Second) {
		forced = "did not exit when its stdin closed; sent SIGTERM"
		syscall.Kill(-p.pid(), syscall.SIGTERM)
		if !waitFor(p.done, 5*time.Second) {
			forced = "did not exit on SIGTERM; killed"
			syscall.Kill(-p.pid(), syscall.SIGKILL)
			<-p.done
		}
	}
	// Whatever the server left in its group goes with it.
	syscall.Kill(-p.pid(), syscall.SIGKILL)
	switch {
	case forced != "":
		return errors.New(forced)
	case p.err != nil:
		return fmt.Errorf("exited with %v: %s", p.err, p.stderr)
	}
	return nil
}

// waitFor reports whether ch is closed within d.
func waitFor(ch <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}

// A tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if len(w.buf) > w.max {
		w.buf = append(w.buf[:0], w.buf[len(w.buf)-w.max:]...)
	}
	return len(p), nil
}

func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := strings.TrimSpace(string(w.buf))
	if s == "" {
		return "(no output on stderr)"
	}
	return s
}
