package testnet

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RequirePeersEnv names the environment variable that turns a missing peer
// program from a skip into a failure. .ci/run sets it, after installing
// every peer, so that CI never passes by skipping.
const RequirePeersEnv = "CHANSTREAM_REQUIRE_PEERS"

// Program returns the path of a real peer program (python3, curl, socat,
// openssl, ...). When it is missing the test is skipped with a message that
// says which Debian package provides it, or fails if RequirePeersEnv is set.
func Program(t testing.TB, name, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := "peer program " + name + " is missing (apt-get install " + debianPackage + "); .ci/run installs it"
	if os.Getenv(RequirePeersEnv) != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Process is a peer program running for one test.
type Process struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer // stdout and stderr so far
	done chan struct{}
	err  error // Wait's result, once done is closed
}

// Start starts cmd with stdout and stderr captured, and stops it (SIGTERM,
// then SIGKILL after 5 s) when the test ends. If ready is not nil, Start
// waits until a line of its output matches ready and returns the
// submatches; it fails the test if that takes longer than 20 s or the
// program exits first.
func Start(t testing.TB, cmd *exec.Cmd, ready *regexp.Regexp) (*Process, []string) {
	t.Helper()
	p := &Process{cmd: cmd, done: make(chan struct{})}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", cmd.Path, err)
	}
	lines := make(chan string, 64)
	var readers sync.WaitGroup
	readers.Add(2)
	go func() {
		defer readers.Done()
		p.err = cmd.Wait()
		pw.Close()
		close(p.done)
	}()
	go func() {
		defer readers.Done()
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			select {
			case lines <- sc.Text():
			default: // nobody waits for lines any more
			}
		}
		io.Copy(io.Discard, pr)
	}()
	t.Cleanup(func() {
		p.Stop()
		readers.Wait()
	})
	if ready == nil {
		return p, nil
	}
	timeout := time.After(20 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				<-p.done
				t.Fatalf("%s exited before it was ready (%v); output:\n%s", cmd.Path, p.err, p.Output())
			}
			if m := ready.FindStringSubmatch(line); m != nil {
				return p, m
			}
		case <-timeout:
			t.Fatalf("%s not ready after 20s; output:\n%s", cmd.Path, p.Output())
		}
	}
}

// Output returns what the program printed so far.
func (p *Process) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Wait waits for the program to exit by itself, up to ctx, and returns its
// exit error.
func (p *Process) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop ends the program: SIGTERM, then SIGKILL if it is still running 5 s
// later.
func (p *Process) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// Run runs a peer program to completion (bounded by 60 s) with stdin as its
// input and returns its combined output.
func Run(t testing.TB, cmd *exec.Cmd, stdin string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
	c.Env, c.Dir = cmd.Env, cmd.Dir
	c.Stdin = strings.NewReader(stdin)
	out, err := c.CombinedOutput()
	return string(out), err
}
