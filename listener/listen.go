package listener

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/chanstream/chanstream/internal/opt"
)

// control sets the socket options of a listening socket before it binds.
func (c *config) control(network, address string, rc syscall.RawConn) error {
	var err error
	cerr := rc.Control(func(fd uintptr) {
		if c.reusePort {
			if soReusePort < 0 {
				err = fmt.Errorf("SO_REUSEPORT: %w", errors.ErrUnsupported)
				return
			}
			if err = setReusePort(fd); err != nil {
				err = os.NewSyscallError("setsockopt SO_REUSEPORT", err)
				return
			}
		}
		if !c.reuseAddress && network != "unix" {
			// Go sets SO_REUSEADDR on every listening socket; asyncio's
			// reuse_address=False clears it.
			if err = clearReuseAddr(fd); err != nil {
				err = os.NewSyscallError("setsockopt SO_REUSEADDR", err)
			}
		}
	})
	return errors.Join(cerr, err)
}

// setBacklog calls listen(2) again with the backlog wanted: Linux changes
// the backlog of a socket that is already listening.
func (c *config) setBacklog(ln net.Listener) error {
	if c.backlog == unset {
		return nil
	}
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return fmt.Errorf("listener: WithBacklog: %T has no socket: %w", ln, errors.ErrUnsupported)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) { lerr = listenFD(fd, c.backlog) }); err != nil {
		return err
	}
	if lerr != nil {
		return fmt.Errorf("listener: WithBacklog(%d): %w", c.backlog, os.NewSyscallError("listen", lerr))
	}
	return nil
}

func (c *config) listenConfig() *net.ListenConfig {
	return &net.ListenConfig{Control: c.control}
}

// listenTCP listens on address, or on each address its host resolves to.
func (c *config) listenTCP(ctx context.Context, network, address string) ([]net.Listener, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("listener: %w", err)
	}
	hosts := []string{host}
	if _, err := netip.ParseAddr(host); err != nil && host != "" {
		ipNet := map[string]string{"tcp": "ip", "tcp4": "ip4", "tcp6": "ip6"}[network]
		addrs, err := net.DefaultResolver.LookupNetIP(ctx, ipNet, host)
		if err != nil {
			return nil, fmt.Errorf("listener: %w", err)
		}
		hosts = hosts[:0]
		for _, a := range addrs {
			hosts = append(hosts, a.Unmap().String())
		}
	}
	lc := c.listenConfig()
	var lns []net.Listener
	for _, h := range hosts {
		ln, err := lc.Listen(ctx, network, net.JoinHostPort(h, port))
		if err == nil {
			err = c.setBacklog(ln)
		}
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			if ln != nil {
				ln.Close()
			}
			return nil, fmt.Errorf("listener: %w", err)
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

// listenUnix listens on a Unix socket. It removes a stale socket file first
// and returns the function that removes the file at Close.
func (c *config) listenUnix(ctx context.Context, path string) (net.Listener, func(), error) {
	if err := opt.CheckUnixPath(path); err != nil {
		return nil, nil, fmt.Errorf("listener: listen unix %s: %w", path, err)
	}
	abstract := path[0] == '@'
	if !abstract {
		if err := removeStaleSocket(path); err != nil {
			return nil, nil, err
		}
	}
	ln, err := c.listenConfig().Listen(ctx, "unix", path)
	if err != nil {
		return nil, nil, fmt.Errorf("listener: %w", err)
	}
	if err := c.setBacklog(ln); err != nil {
		ln.Close()
		return nil, nil, err
	}
	if abstract {
		return ln, func() {}, nil
	}
	// Remove the file at Close ourselves, and only if it is still ours
	// (Python 3.13's cleanup_socket checks the same).
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	fi, err := os.Stat(path)
	if err != nil {
		ln.Close()
		return nil, nil, fmt.Errorf("listener: %w", err)
	}
	return ln, func() {
		if now, err := os.Stat(path); err == nil && os.SameFile(fi, now) {
			os.Remove(path)
		}
	}, nil
}

// removeStaleSocket removes path if it is a socket nobody listens on. A
// socket where a server answers is an error, and so is a file that is not a
// socket; both are left alone, and both errors match syscall.EADDRINUSE,
// which bind(2) would have returned.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listener: %w", err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("listener: listen unix %s: the file there is not a socket: %w", path, syscall.EADDRINUSE)
	}
	conn, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		conn.Close()
		return fmt.Errorf("listener: listen unix %s: a server is listening there: %w", path, syscall.EADDRINUSE)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("listener: %s: cannot tell whether a server is listening: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("listener: removing the stale socket: %w", err)
	}
	return nil
}
