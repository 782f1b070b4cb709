package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// scaleSizes are the sizes of the scale figure.
type scaleSizes struct {
	Conns    int           `json:"conns"`
	Active   int           `json:"active"`
	Duration time.Duration `json:"duration_ns"`
	Sources  int           `json:"source_addresses"`
}

// A scaleResult is the scale figure of one server: Conns connections held by
// one process, Active of them echoing 64-byte lines for Duration.
type scaleResult struct {
	Server         string  `json:"server"`
	Conns          int     `json:"conns"`
	Active         int     `json:"active"`
	ConnectSeconds float64 `json:"connect_seconds"` // opening every connection, with one round trip each
	RoundTrips     int     `json:"round_trips"`
	RoundTripsPerS float64 `json:"round_trips_per_s"`
	P50us          float64 `json:"p50_us"`
	P99us          float64 `json:"p99_us"`
	P999us         float64 `json:"p999_us"`
	MaxUs          float64 `json:"max_us"`

	// Memory, in KiB: the server's resident set before the connections,
	// with them all idle and while Active of them echo; the client's; the
	// kernel's TCP buffers; and how much more memory the whole machine uses
	// (MemTotal − MemAvailable) with the connections open and active.
	ServerRSSStart   float64 `json:"server_rss_start_kib"`
	ServerRSSIdle    float64 `json:"server_rss_idle_kib"`
	ServerRSSActive  float64 `json:"server_rss_active_kib"`
	ServerPerConnKiB float64 `json:"server_kib_per_conn"`
	ClientRSS        float64 `json:"client_rss_kib"`
	KernelTCP        float64 `json:"kernel_tcp_kib"`
	MachineUsed      float64 `json:"machine_used_kib"`
	TCPSockets       int     `json:"tcp_sockets"`

	// OthersCPU is how many CPUs other processes took while the connections
	// echoed; Attempts how many times the figure was measured (again when
	// other processes disturbed it; the least disturbed is kept).
	OthersCPU float64 `json:"others_cpu"`
	Attempts  int     `json:"attempts"`

	Error string `json:"error,omitempty"`
}

// runScale measures the scale figure of every server, one after the other.
func runScale(ctx context.Context, specs []serverSpec, sc scaleSizes, env map[string]string, notes []string, out string) error {
	if need := uint64(sc.Conns) + 1000; fileLimit() < need {
		return fmt.Errorf("the open-file limit is %d, %d connections need %d: raise ulimit -n", fileLimit(), sc.Conns, need)
	}
	if lo, hi, err := portRange(); err == nil && (hi-lo+1)*sc.Sources < sc.Conns {
		return fmt.Errorf("%d source addresses × %d ephemeral ports cannot make %d connections: raise -scale-sources", sc.Sources, hi-lo+1, sc.Conns)
	}
	began := time.Now()
	var all []scaleResult
	for _, s := range specs {
		fmt.Printf("scale: %s, %d connections from 127.0.0.2–127.0.0.%d, %d of them echoing for %v...\n",
			s.name, sc.Conns, 1+sc.Sources, sc.Active, sc.Duration)
		var r scaleResult
		for attempt := 1; attempt <= 3; attempt++ {
			waitQuiet(ctx, time.Minute)
			a := scaleOne(ctx, s, sc)
			a.Attempts = attempt
			if attempt == 1 || (a.Error == "" && (r.Error != "" || a.OthersCPU < r.OthersCPU)) {
				r = a
			}
			r.Attempts = attempt
			if a.Error != "" || a.OthersCPU <= disturbedCPUs || ctx.Err() != nil {
				break
			}
			fmt.Printf("  other processes took %.2f CPU; measuring again\n", a.OthersCPU)
		}
		all = append(all, r)
		printScale(r)
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	err := writeJSON(out, struct {
		Mode    string            `json:"mode"`
		Date    string            `json:"date"`
		Env     map[string]string `json:"env"`
		Notes   []string          `json:"notes,omitempty"`
		Sizes   scaleSizes        `json:"sizes"`
		Results []scaleResult     `json:"results"`
		Seconds float64           `json:"seconds"`
	}{"scale", began.UTC().Format(time.RFC3339), env, notes, sc, all, time.Since(began).Seconds()})
	if err != nil {
		return err
	}
	fmt.Printf("wrote %s\n", out)
	for _, r := range all {
		if r.Error != "" {
			return fmt.Errorf("%s: %s", r.Server, r.Error)
		}
	}
	return nil
}

// printScale prints one scale figure.
func printScale(r scaleResult) {
	if r.Error != "" {
		fmt.Printf("  FAILED: %s\n", r.Error)
		return
	}
	mib := func(kib float64) string { return fmt.Sprintf("%.0f MiB", kib/1024) }
	fmt.Printf("  opened %d connections in %.1f s (%.0f/s)\n", r.Conns, r.ConnectSeconds, float64(r.Conns)/r.ConnectSeconds)
	fmt.Printf("  echo on %d: %.0f round trips/s, p50 %.0f µs, p99 %.0f µs, p99.9 %.0f µs, max %.0f µs\n",
		r.Active, r.RoundTripsPerS, r.P50us, r.P99us, r.P999us, r.MaxUs)
	fmt.Printf("  server RSS %s → %s idle (%.1f KiB/conn) → %s active; client RSS %s; kernel TCP %s; machine +%s\n",
		mib(r.ServerRSSStart), mib(r.ServerRSSIdle), r.ServerPerConnKiB, mib(r.ServerRSSActive),
		mib(r.ClientRSS), mib(r.KernelTCP), mib(r.MachineUsed))
	if r.OthersCPU > disturbedCPUs {
		fmt.Printf("  DISTURBED: other processes took %.2f CPU while the connections echoed\n", r.OthersCPU)
	}
}

// scaleOne measures the scale figure of one fresh server process.
func scaleOne(ctx context.Context, spec serverSpec, sc scaleSizes) (r scaleResult) {
	r = scaleResult{Server: spec.name, Conns: sc.Conns, Active: sc.Active}
	proc, err := startServer(spec, "--port", "0")
	if err != nil {
		r.Error = err.Error()
		return r
	}
	defer func() {
		if err := proc.stop(); err != nil && r.Error == "" {
			r.Error = "stopping the server: " + err.Error()
		}
	}()
	fail := func(err error) scaleResult {
		r.Error = fmt.Sprintf("%v (server: %s)", err, proc.stderr)
		return r
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute+sc.Duration)
	defer cancel()
	t := target{addr: proc.addr(), pid: proc.pid()}
	var sources []net.IP
	for i := range sc.Sources {
		sources = append(sources, net.IPv4(127, 0, 0, byte(2+i)))
	}

	warm, err := openEchoed(ctx, t, idleWarmup, 64, sources...)
	closeAll(warm)
	if err != nil {
		return fail(err)
	}
	if err := sleep(ctx, 500*time.Millisecond); err != nil {
		return fail(err)
	}
	if r.ServerRSSStart, err = rssKiB(t.pid); err != nil {
		return fail(err)
	}
	used0 := machineUsedKiB()

	start := time.Now()
	conns, err := openEchoed(ctx, t, sc.Conns, 256, sources...)
	defer closeAll(conns)
	if err != nil {
		return fail(err)
	}
	r.ConnectSeconds = time.Since(start).Seconds()
	if err := sleep(ctx, time.Second); err != nil {
		return fail(err)
	}
	if r.ServerRSSIdle, err = rssKiB(t.pid); err != nil {
		return fail(err)
	}
	r.ServerPerConnKiB = (r.ServerRSSIdle - r.ServerRSSStart) / float64(sc.Conns)

	// Every (Conns/Active)th connection echoes until the deadline; the
	// memory is sampled half-way.
	step := max(1, sc.Conns/max(1, sc.Active))
	var active []net.Conn
	for i := 0; i < len(conns) && len(active) < sc.Active; i += step {
		active = append(active, conns[i])
	}
	r.Active = len(active)
	deadline := time.Now().Add(sc.Duration)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		if sleep(ctx, sc.Duration/2) != nil {
			return
		}
		r.ServerRSSActive, _ = rssKiB(t.pid)
		r.ClientRSS, _ = rssKiB(os.Getpid())
		r.KernelTCP, r.TCPSockets, _ = tcpMemKiB()
		r.MachineUsed = machineUsedKiB() - used0
	}()
	lat := make([][]time.Duration, len(active))
	errs := make([]error, len(active))
	var wg sync.WaitGroup
	for i, c := range active {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, lineLen)
			for time.Now().Before(deadline) {
				t0 := time.Now()
				if _, err := c.Write(line); err != nil {
					errs[i] = err
					return
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					errs[i] = err
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		}()
	}
	began := time.Now()
	meter := startInterference(os.Getpid(), t.pid)
	wg.Wait()
	r.OthersCPU = meter.cpus()
	elapsed := time.Since(began).Seconds()
	<-sampled
	for _, err := range errs {
		if err != nil {
			return fail(err)
		}
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	r.RoundTrips = len(all)
	r.RoundTripsPerS = float64(len(all)) / elapsed
	r.P50us = micros(percentile(all, 0.50))
	r.P99us = micros(percentile(all, 0.99))
	r.P999us = micros(percentile(all, 0.999))
	if len(all) > 0 {
		r.MaxUs = micros(all[len(all)-1])
	}
	return r
}

// machineUsedKiB returns MemTotal − MemAvailable: the memory the machine
// uses, page cache it could drop aside.
func machineUsedKiB() float64 {
	total, err1 := kiBField("/proc/meminfo", "MemTotal")
	avail, err2 := kiBField("/proc/meminfo", "MemAvailable")
	if err1 != nil || err2 != nil {
		return 0
	}
	return total - avail
}

// portRange returns the ephemeral port range.
func portRange() (lo, hi int, err error) {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0, err
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("ip_local_port_range: %q", data)
	}
	if lo, err = strconv.Atoi(f[0]); err == nil {
		hi, err = strconv.Atoi(f[1])
	}
	return lo, hi, err
}
