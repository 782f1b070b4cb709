package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The suite reads /proc and sets Linux socket options: it runs on Linux.

// ipBindAddressNoPort is IP_BIND_ADDRESS_NO_PORT (linux/in.h), which the
// syscall package does not name.
const ipBindAddressNoPort = 24

// bindAddressNoPort is a net.Dialer Control function that lets a socket
// bound to a source address choose its port at connect time: the port then
// only needs to be unique per 4-tuple, not per source address, which is what
// lets tens of thousands of connections share a few source addresses.
func bindAddressNoPort(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// raiseFileLimit raises the soft limit on open files to the hard one (the Go
// runtime does this too since Go 1.19; this makes it explicit).
func raiseFileLimit() {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil && rl.Cur < rl.Max {
		rl.Cur = rl.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
}

// fileLimit returns the soft limit on open files.
func fileLimit() uint64 {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) != nil {
		return 0
	}
	return rl.Cur
}

// procField returns the value of the field named key in a /proc file made
// of "key: value" lines, such as /proc/PID/status or /proc/meminfo.
func procField(path, key string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, key+":"); ok {
			return strings.TrimSpace(rest), nil
		}
	}
	return "", fmt.Errorf("%s: no %s", path, key)
}

// kiBField returns a "N kB" field of a /proc file in KiB.
func kiBField(path, key string) (float64, error) {
	v, err := procField(path, key)
	if err != nil {
		return 0, err
	}
	kb, err := strconv.ParseFloat(strings.TrimSuffix(v, " kB"), 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %s: %q", path, key, v)
	}
	return kb, nil
}

// rssKiB returns the resident set (VmRSS) of process pid in KiB.
func rssKiB(pid int) (float64, error) {
	return kiBField(fmt.Sprintf("/proc/%d/status", pid), "VmRSS")
}

// tcpMemKiB returns the memory the kernel's TCP sockets hold (the "mem" of
// /proc/net/sockstat, in pages) in KiB, and the number of TCP sockets in
// use.
func tcpMemKiB() (memKiB float64, inUse int, err error) {
	data, err := os.ReadFile("/proc/net/sockstat")
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		rest, ok := strings.CutPrefix(line, "TCP:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		for i := 0; i+1 < len(f); i += 2 {
			n, _ := strconv.Atoi(f[i+1])
			switch f[i] {
			case "mem":
				memKiB = float64(n) * float64(os.Getpagesize()) / 1024
			case "inuse":
				inUse = n
			}
		}
		return memKiB, inUse, nil
	}
	return 0, 0, fmt.Errorf("/proc/net/sockstat: no TCP line")
}

// machineInfo describes the machine, with the key=value facts given.
func machineInfo(extra []string) map[string]string {
	env := map[string]string{
		"go_client": runtime.Version(),
		"cpus":      strconv.Itoa(runtime.NumCPU()),
		"os":        runtime.GOOS + "/" + runtime.GOARCH,
	}
	if v, err := procField("/proc/cpuinfo", "model name\t"); err == nil {
		env["cpu"] = v
	} else if v, err := procField("/proc/cpuinfo", "model name"); err == nil {
		env["cpu"] = v
	}
	if v, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		env["kernel"] = strings.TrimSpace(string(v))
	}
	if kb, err := kiBField("/proc/meminfo", "MemTotal"); err == nil {
		env["memory"] = fmt.Sprintf("%.1f GiB", kb/(1<<20))
	}
	for _, kv := range extra {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}

// clockTicks is USER_HZ, the unit of /proc/stat and /proc/PID/stat times:
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// machineTicks returns the CPU time the whole machine spent in user and
// system mode, and the time stolen by the hypervisor, in clock ticks.
// Interrupt and softirq time are left out: loopback traffic is processed in
// softirqs that are not charged to the processes that cause them.
func machineTicks() (busy, steal int64, err error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: %q", line)
	}
	n := func(i int) int64 { v, _ := strconv.ParseInt(f[i], 10, 64); return v }
	return n(1) + n(2) + n(3), n(8), nil // user, nice, system; steal
}

// processTicks returns the user and system CPU time of process pid, in clock
// ticks.
func processTicks(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: fields are counted
	// from the last ')'.
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too short", pid)
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64) // field 14 of stat(5)
	stime, _ := strconv.ParseInt(f[12], 10, 64) // field 15
	return utime + stime, nil
}

// An interference meter measures the CPU time that processes other than
// the given ones (the client and a server) use, and the time stolen by the
// hypervisor: the machine is shared, and a measurement taken while another
// process runs is not one of the servers alone.
type interference struct {
	pids        []int
	start       time.Time
	busy, steal int64
	ours        int64
	startErr    error
}

// startInterference starts measuring.
func startInterference(pids ...int) *interference {
	m := &interference{pids: pids, start: time.Now()}
	m.busy, m.steal, m.startErr = machineTicks()
	m.ours = m.oursNow()
	return m
}

func (m *interference) oursNow() int64 {
	var t int64
	for _, pid := range m.pids {
		v, _ := processTicks(pid)
		t += v
	}
	return t
}

// cpus returns how many CPUs, on average, other processes and the
// hypervisor took since the start.
func (m *interference) cpus() float64 {
	busy, steal, err := machineTicks()
	elapsed := time.Since(m.start).Seconds()
	if err != nil || m.startErr != nil || elapsed <= 0 {
		return 0
	}
	others := (busy - m.busy) - (m.oursNow() - m.ours) + (steal - m.steal)
	return max(0, float64(others)/clockTicks/elapsed)
}
