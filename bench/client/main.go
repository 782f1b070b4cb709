// Command client is the load generator of chanstream's cross-language
// benchmark suite. The same client drives every server, so that only the
// server differs: it starts each server as a fresh process for each workload
// and repetition, drives the workload over loopback, measures, and stops the
// server; at the end it prints one table of medians and ratios and writes the
// results as JSON (and the table as Markdown).
//
// Usage:
//
//	client [flags] -server 'name=command args...' -server ...
//	client -scale [flags] -server 'name=command args...'
//
// A server is a command that speaks the suite's protocol (bench/README.md):
// it is started with "--port 0" (and "--tls-cert FILE --tls-key FILE" for
// tls-bulk, "--cpuprofile FILE" for the servers named by -profile), prints
// "port N" once it listens on 127.0.0.1:N, and exits when its standard input
// is closed or on SIGTERM. The server named "chanstream" is the one the
// others are compared with; "chanstream-zerocopy" provides the extra rows of
// its zero-copy calls.
//
// With -scale, the client measures one server with many connections instead
// (runScale). All traffic stays on 127.0.0.0/8.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ", ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// sizes are the sizes of the workloads.
type sizes struct {
	BulkConns  int `json:"bulk_conns"`
	BulkMiB    int `json:"bulk_mib_per_conn"`
	Lines      int `json:"lines"`
	Frames     int `json:"frames"`
	FrameBytes int `json:"frame_bytes"`
	EchoConns  int `json:"echo_conns"`
	EchoRounds int `json:"echo_rounds_per_conn"`
	IdleConns  int `json:"idle_conns"`
}

// warmup returns the sizes of a warm-up run: a sixteenth of the workload.
func (sz sizes) warmup() sizes {
	w := sz
	w.BulkMiB = max(1, sz.BulkMiB/16)
	w.Lines = max(1024, sz.Lines/16)
	w.Frames = max(64, sz.Frames/16)
	w.EchoRounds = max(10, sz.EchoRounds/16)
	return w
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("client: ")
	var (
		servers, missing, notes, envs, profile listFlag
		sz                                     sizes
	)
	flag.Var(&servers, "server", "a server, as name=command (repeatable; the order is the table's)")
	flag.Var(&missing, "missing", "a peer that could not be run, as name=reason (repeatable)")
	flag.Var(&notes, "note", "a note recorded with the results, such as a system setting changed (repeatable)")
	flag.Var(&envs, "env", "a fact about the machine recorded with the results, as key=value (repeatable)")
	flag.Var(&profile, "profile", "a server to start with --cpuprofile (repeatable)")
	profileDir := flag.String("profile-dir", "results/profiles", "where -profile writes the CPU profiles")
	reps := flag.Int("reps", 3, "repetitions of every measurement")
	workloads := flag.String("workloads", strings.Join(allWorkloads, ","), "workloads to run, comma-separated")
	out := flag.String("out", "results/latest.json", "where to write the results")
	md := flag.String("md", "results/table.md", "where to write the table in Markdown")
	timeout := flag.Duration("timeout", 3*time.Minute, "bound on one measurement")
	mode := flag.String("mode", "full", "a name for this run, recorded with the results")
	retries := flag.Int("retries", 2, "measure again, up to this many times, when other processes disturbed a measurement")
	retryBudget := flag.Duration("retry-budget", 3*time.Minute, "bound on the time spent measuring again")
	quietWait := flag.Duration("quiet-wait", 30*time.Second, "bound on the wait for a quiet machine before a measurement")
	quietBudget := flag.Duration("quiet-budget", 3*time.Minute, "bound on the time spent waiting for a quiet machine")
	flag.IntVar(&sz.BulkConns, "bulk-conns", 4, "bulk and tls-bulk: connections")
	flag.IntVar(&sz.BulkMiB, "bulk-mib", 256, "bulk and tls-bulk: MiB per connection")
	flag.IntVar(&sz.Lines, "lines", 4<<20, "lines: 64-byte lines")
	flag.IntVar(&sz.Frames, "frames", 1<<20, "frames: frames")
	flag.IntVar(&sz.FrameBytes, "frame-bytes", 1024, "frames: bytes per frame body")
	flag.IntVar(&sz.EchoConns, "echo-conns", 64, "echo: connections")
	flag.IntVar(&sz.EchoRounds, "echo-rounds", 5000, "echo: sequential round trips per connection")
	flag.IntVar(&sz.IdleConns, "idle-conns", 10000, "idle: connections held open")
	scale := flag.Bool("scale", false, "measure the scale figure instead of the table")
	var sc scaleSizes
	flag.IntVar(&sc.Conns, "scale-conns", 50000, "scale: concurrent connections")
	flag.IntVar(&sc.Active, "scale-active", 5000, "scale: connections active in echo")
	flag.DurationVar(&sc.Duration, "scale-duration", 10*time.Second, "scale: how long the active connections echo")
	flag.IntVar(&sc.Sources, "scale-sources", 8, "scale: source addresses 127.0.0.2 onwards")
	flag.Parse()

	specs, err := parseServers(servers)
	if err != nil {
		log.Fatal(err)
	}
	if len(specs) == 0 {
		log.Fatal("no -server given")
	}
	raiseFileLimit()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		if context.Cause(ctx) != nil {
			killAllServers() // the measurements fail fast once their servers are gone
		}
	}()

	env := machineInfo(envs)
	if *scale {
		err = runScale(ctx, specs, sc, env, notes, *out)
	} else {
		var ws []string
		ws, err = parseWorkloads(*workloads)
		if err == nil {
			p := plan{
				servers: specs, workloads: ws, reps: *reps, sizes: sz, timeout: *timeout,
				profile: profile, profileDir: *profileDir,
				retries: *retries, retryBudget: *retryBudget, quietWait: *quietWait, quietBudget: *quietBudget,
			}
			err = runTable(ctx, p, resultsHeader{Mode: *mode, Env: env, Notes: notes, Missing: parseMissing(missing)}, *out, *md)
		}
	}
	killAllServers()
	if err != nil {
		log.Fatal(err)
	}
}

// parseWorkloads checks a comma-separated list of workloads.
func parseWorkloads(list string) ([]string, error) {
	var ws []string
	for _, w := range strings.Split(list, ",") {
		w = strings.TrimSpace(w)
		if w == "" {
			continue
		}
		if _, ok := workloadFuncs[w]; !ok {
			return nil, fmt.Errorf("unknown workload %q (known: %s)", w, strings.Join(allWorkloads, ", "))
		}
		ws = append(ws, w)
	}
	return ws, nil
}

// parseMissing turns name=reason flags into a map.
func parseMissing(list []string) map[string]string {
	m := map[string]string{}
	for _, s := range list {
		name, reason, _ := strings.Cut(s, "=")
		m[name] = reason
	}
	return m
}
