package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The servers with a special role in the table.
const (
	ours     = "chanstream"          // the server every other is compared with
	zeroCopy = "chanstream-zerocopy" // its zero-copy calls, for the extra rows
)

// zeroCopyWorkloads are the workloads chanstream-zerocopy runs: those where
// a zero-copy call differs from the asyncio-style one.
var zeroCopyWorkloads = []string{"bulk", "lines", "frames", "tls-bulk"}

// standardPeers are the columns the table always has, in order.
var standardPeers = []string{"rawgo", "rawgo-fresh", "asyncio", "uvloop", "node"}

// A plan is what runTable measures.
type plan struct {
	servers    []serverSpec
	workloads  []string
	reps       int
	sizes      sizes
	timeout    time.Duration
	profile    []string
	profileDir string

	// The machine is shared: a measurement waits until other processes are
	// quiet (up to quietWait, and quietBudget in all), and one they
	// disturbed anyway is taken again, up to retries times (and retryBudget
	// in all); the least disturbed attempt is kept.
	quietWait, quietBudget, retryBudget time.Duration
	retries                             int
}

// disturbedCPUs is how much CPU other processes may take during a
// measurement, on average, before it counts as disturbed.
const disturbedCPUs = 0.15

// channelServers are the servers that run the channel workload: Go's, whose
// programs can consume a stream as a channel in a select.
var channelServers = []string{ours, "rawgo", "rawgo-fresh"}

// runs reports whether server s runs workload w.
func runs(s, w string) bool {
	if w == "channel" || w == "fanin" || w == "fanin-lines" || w == "chat" || w == "framechan" {
		return slices.Contains(channelServers, s)
	}
	return s != zeroCopy || slices.Contains(zeroCopyWorkloads, w)
}

// A runResult is one measurement: one workload against one fresh server.
type runResult struct {
	Server   string  `json:"server"`
	Workload string  `json:"workload"`
	Rep      int     `json:"rep"`
	Metrics  metrics `json:"metrics,omitempty"`
	Error    string  `json:"error,omitempty"`
	Warning  string  `json:"warning,omitempty"`
	Seconds  float64 `json:"seconds"` // wall time, the server's start and stop included

	// OthersCPU is how many CPUs other processes (and the hypervisor) took,
	// on average, while it was measured; Attempts how many times it was
	// measured, and Waited how long it waited for a quiet machine.
	OthersCPU float64 `json:"others_cpu"`
	Attempts  int     `json:"attempts"`
	Waited    float64 `json:"waited_seconds,omitempty"`
}

// disturbed reports whether other processes took enough CPU during the run
// to matter.
func (r runResult) disturbed() bool { return r.OthersCPU > disturbedCPUs }

// resultsHeader describes a run of the suite.
type resultsHeader struct {
	Mode    string            `json:"mode"`
	Date    string            `json:"date"`
	Env     map[string]string `json:"env"`
	Notes   []string          `json:"notes,omitempty"`
	Missing map[string]string `json:"missing,omitempty"`
}

// results is what runTable writes as JSON; bench/chart reads it.
type results struct {
	resultsHeader
	Reps    int         `json:"reps"`
	Sizes   sizes       `json:"sizes"`
	Servers []string    `json:"servers"`
	Peers   []string    `json:"peers"` // the columns, in order
	Rows    []row       `json:"rows"`
	Runs    []runResult `json:"runs"`
	Seconds float64     `json:"seconds"` // the whole measurement
}

// A rowDef is a row of the table: one metric of one workload, with the
// chanstream server that provides its chanstream column.
type rowDef struct {
	Key          string `json:"key"`
	Label        string `json:"label"`
	Workload     string `json:"workload"`
	Metric       string `json:"metric"`
	Unit         string `json:"unit"`
	HigherBetter bool   `json:"higher_is_better"`
	Ours         string `json:"ours"`
	Goal         *goal  `json:"goal,omitempty"`
}

// A goal is a performance target (docs/performance.md): the ratio
// chanstream / Peer (or, with no Peer, chanstream's value) compared with
// Value.
type goal struct {
	Peer  string  `json:"peer,omitempty"`
	Op    string  `json:"op"` // ">=" or "<="
	Value float64 `json:"value"`
}

func (g *goal) String() string {
	op := map[string]string{">=": "≥", "<=": "≤"}[g.Op]
	if g.Peer == "" {
		return fmt.Sprintf("%s %.1f", op, g.Value)
	}
	return fmt.Sprintf("%s %.2f× %s", op, g.Value, g.Peer)
}

// met reports whether x meets the goal.
func (g *goal) met(x float64) bool {
	if g.Op == "<=" {
		return x <= g.Value
	}
	return x >= g.Value
}

var rowDefs = []rowDef{
	{Key: "bulk", Label: "bulk: ReadChunk", Workload: "bulk", Metric: "mib_s", Unit: "MiB/s", HigherBetter: true, Ours: ours,
		Goal: &goal{Peer: "rawgo-fresh", Op: ">=", Value: 1.1}},
	{Key: "bulk-copy", Label: "bulk: io.Copy(io.Discard, s)", Workload: "bulk", Metric: "mib_s", Unit: "MiB/s", HigherBetter: true, Ours: zeroCopy,
		Goal: &goal{Peer: "rawgo", Op: ">=", Value: 0.95}},
	{Key: "lines", Label: "lines: ReadLine", Workload: "lines", Metric: "mlines_s", Unit: "M lines/s", HigherBetter: true, Ours: ours,
		Goal: &goal{Peer: "rawgo", Op: ">=", Value: 0.9}},
	{Key: "lines-view", Label: "lines: ReadLineView", Workload: "lines", Metric: "mlines_s", Unit: "M lines/s", HigherBetter: true, Ours: zeroCopy},
	{Key: "frames", Label: "frames: ReadExactly ×2", Workload: "frames", Metric: "kframes_s", Unit: "k frames/s", HigherBetter: true, Ours: ours,
		Goal: &goal{Peer: "rawgo", Op: ">=", Value: 0.9}},
	{Key: "frames-into", Label: "frames: ReadExactlyInto ×2", Workload: "frames", Metric: "kframes_s", Unit: "k frames/s", HigherBetter: true, Ours: zeroCopy},
	{Key: "echo", Label: "echo: ReadLine, Write + Drain", Workload: "echo", Metric: "rt_s", Unit: "round trips/s", HigherBetter: true, Ours: ours,
		Goal: &goal{Peer: "rawgo", Op: ">=", Value: 0.95}},
	{Key: "echo-p50", Label: "echo: p50 latency", Workload: "echo", Metric: "p50_us", Unit: "µs", Ours: ours},
	{Key: "echo-p99", Label: "echo: p99 latency", Workload: "echo", Metric: "p99_us", Unit: "µs", Ours: ours,
		Goal: &goal{Peer: "uvloop", Op: "<=", Value: 1}},
	{Key: "idle", Label: "idle: server RSS per connection", Workload: "idle", Metric: "kib_per_conn", Unit: "KiB", Ours: ours,
		Goal: &goal{Op: "<=", Value: 4.5}},
	{Key: "tls-bulk", Label: "tls-bulk: ReadChunk", Workload: "tls-bulk", Metric: "mib_s", Unit: "MiB/s", HigherBetter: true, Ours: ours,
		Goal: &goal{Peer: "rawgo", Op: ">=", Value: 0.9}},
	{Key: "tls-bulk-read", Label: "tls-bulk: Read, reused buffer", Workload: "tls-bulk", Metric: "mib_s", Unit: "MiB/s", HigherBetter: true, Ours: zeroCopy},
	{Key: "channel", Label: "channel: LineChan in a select", Workload: "channel", Metric: "mlines_s", Unit: "M lines/s", HigherBetter: true, Ours: ours,
		Goal: &goal{Peer: "rawgo", Op: ">=", Value: 1.0}},
}

// A row is a rowDef with its numbers.
type row struct {
	rowDef
	Values map[string]float64    `json:"values"`           // medians by server; chanstream's under Ours
	Range  map[string][2]float64 `json:"range"`            // the smallest and largest value by server
	Ratios map[string]float64    `json:"ratios"`           // chanstream / peer, by peer
	Met    *bool                 `json:"met,omitempty"`    // whether the goal is met
	Actual *float64              `json:"actual,omitempty"` // what is compared with the goal
}

// runTable runs every workload against every server, reps times, and
// reports.
func runTable(ctx context.Context, p plan, hdr resultsHeader, out, md string) error {
	began := time.Now()
	hdr.Date = began.UTC().Format(time.RFC3339)
	dir, err := os.MkdirTemp("", "chanstream-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	tlsFiles, err := makeCerts(dir)
	if err != nil {
		return err
	}
	if len(p.profile) > 0 {
		if err := os.MkdirAll(p.profileDir, 0o755); err != nil {
			return err
		}
	}
	res := results{resultsHeader: hdr, Reps: p.reps, Sizes: p.sizes}
	for _, s := range p.servers {
		res.Servers = append(res.Servers, s.name)
	}
	res.Peers = peers(res.Servers)

	total := 0
	for _, w := range p.workloads {
		for _, s := range p.servers {
			if runs(s.name, w) {
				total += p.reps
			}
		}
	}
	fmt.Printf("%d measurements: %d repetitions of %s against %s\n", total, p.reps,
		strings.Join(p.workloads, ", "), strings.Join(res.Servers, ", "))
	done := 0
	b := &bench{plan: p, tlsFiles: tlsFiles}
	// Repetitions outermost, servers innermost: drift on a shared machine
	// then spreads over every server alike.
	for rep := 1; rep <= p.reps; rep++ {
		for _, w := range p.workloads {
			for _, s := range p.servers {
				if !runs(s.name, w) {
					continue
				}
				if err := ctx.Err(); err != nil {
					return err
				}
				r := b.measure(ctx, s, w, rep)
				res.Runs = append(res.Runs, r)
				done++
				fmt.Printf("[%3d/%d] rep %d %-9s %-20s %s (%.1f s)\n", done, total, rep, w, s.name, summary(r), r.Seconds)
			}
		}
	}
	res.Seconds = time.Since(began).Seconds()
	res.Rows = makeRows(res.Runs, res.Peers, p.workloads)

	table := formatTable(res, false)
	fmt.Println()
	fmt.Print(table)
	if err := writeJSON(out, res); err != nil {
		return err
	}
	if md != "" {
		if err := writeFile(md, []byte(formatTable(res, true))); err != nil {
			return err
		}
	}
	fmt.Printf("\nwrote %s", out)
	if md != "" {
		fmt.Printf(" and %s", md)
	}
	fmt.Println()
	for _, r := range res.Runs {
		if r.Error != "" {
			return fmt.Errorf("some measurements failed (see above and %s)", out)
		}
	}
	return nil
}

// peers returns the servers chanstream is compared with: the standard ones
// first, in order, then any other.
func peers(servers []string) []string {
	ps := slices.Clone(standardPeers)
	for _, s := range servers {
		if s != ours && s != zeroCopy && !slices.Contains(ps, s) {
			ps = append(ps, s)
		}
	}
	return ps
}

// A bench takes the measurements of a plan, and keeps count of the time
// spent waiting for other processes.
type bench struct {
	plan
	tlsFiles        *certs
	waited, retried time.Duration
}

// measure measures workload w against server s: once the machine is quiet,
// and again if other processes disturbed the measurement, within the plan's
// bounds. It returns the least disturbed attempt.
func (b *bench) measure(ctx context.Context, s serverSpec, w string, rep int) runResult {
	var best runResult
	for attempt := 1; attempt <= 1+b.retries; attempt++ {
		waited := b.waitQuiet(ctx)
		began := time.Now()
		r := runOne(ctx, b.plan, s, w, rep, b.tlsFiles)
		if attempt > 1 {
			b.retried += time.Since(began)
		}
		r.Attempts, r.Waited = attempt, waited.Seconds()+best.Waited
		if attempt == 1 || (r.Error == "" && (best.Error != "" || r.OthersCPU < best.OthersCPU)) {
			best = r
		} else {
			best.Attempts, best.Waited = r.Attempts, r.Waited
		}
		if r.Error != "" || !r.disturbed() || b.retried >= b.retryBudget || ctx.Err() != nil {
			break
		}
		if attempt <= b.retries {
			fmt.Printf("        %s against %s: other processes took %.2f CPU; measuring again\n", w, s.name, r.OthersCPU)
		}
	}
	return best
}

// waitQuiet waits until other processes take less than disturbedCPUs, up to
// the plan's bounds, and returns how long it waited.
func (b *bench) waitQuiet(ctx context.Context) time.Duration {
	waited := waitQuiet(ctx, max(0, min(b.quietWait, b.quietBudget-b.waited)))
	b.waited += waited
	return waited
}

// waitQuiet waits until other processes take less than disturbedCPUs, or
// for at most limit, and returns how long it waited beyond the first
// sample.
func waitQuiet(ctx context.Context, limit time.Duration) time.Duration {
	const sample = 300 * time.Millisecond
	began := time.Now()
	for {
		m := startInterference(os.Getpid())
		if sleep(ctx, sample) != nil || m.cpus() <= disturbedCPUs || time.Since(began) >= limit {
			break
		}
	}
	return max(0, time.Since(began)-sample)
}

// runOne measures workload w against a fresh process of server s.
func runOne(ctx context.Context, p plan, s serverSpec, w string, rep int, tlsFiles *certs) (r runResult) {
	began := time.Now()
	r = runResult{Server: s.name, Workload: w, Rep: rep}
	defer func() { r.Seconds = time.Since(began).Seconds() }()
	args := []string{"--port", "0"}
	t := target{sizes: p.sizes}
	if w == "tls-bulk" {
		args = append(args, "--tls-cert", tlsFiles.certFile, "--tls-key", tlsFiles.keyFile)
		t.tls = tlsFiles.client
	}
	if slices.Contains(p.profile, s.name) {
		args = append(args, "--cpuprofile", filepath.Join(p.profileDir, fmt.Sprintf("%s-%s-%d.prof", s.name, w, rep)))
	}
	proc, err := startServer(s, args...)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	t.addr, t.pid = proc.addr(), proc.pid()
	wctx, cancel := context.WithTimeout(ctx, p.timeout)
	var m metrics
	if w != "idle" { // idle warms up in its own way
		// A sixteenth of the workload first, unmeasured: the servers are
		// measured warm (V8's JIT, Go's heap), as long-running servers run.
		warm := t
		warm.sizes = t.sizes.warmup()
		_, err = workloadFuncs[w](wctx, warm)
	}
	if err == nil {
		meter := startInterference(os.Getpid(), t.pid)
		m, err = workloadFuncs[w](wctx, t)
		r.OthersCPU = meter.cpus()
	}
	cancel()
	serr := proc.stop()
	switch {
	case err != nil:
		r.Error = fmt.Sprintf("%v (server: %s)", err, proc.stderr)
	case serr != nil:
		r.Warning = serr.Error()
		r.Metrics = m
	default:
		r.Metrics = m
	}
	return r
}

// summary is a run's main numbers, for the progress lines.
func summary(r runResult) string {
	if r.Error != "" {
		return "FAILED: " + r.Error
	}
	m := r.Metrics
	var s string
	switch r.Workload {
	case "bulk", "tls-bulk":
		s = fmt.Sprintf("%8.0f MiB/s", m["mib_s"])
	case "lines":
		s = fmt.Sprintf("%8.2f M lines/s", m["mlines_s"])
	case "frames":
		s = fmt.Sprintf("%8.0f k frames/s", m["kframes_s"])
	case "framechan":
		s = fmt.Sprintf("%8.0f k frames/s, server CPU %.2f µs/frame", m["kframes_s"], m["cpu_us_frame"])
	case "echo":
		s = fmt.Sprintf("%8.0f round trips/s, p50 %.0f µs, p99 %.0f µs", m["rt_s"], m["p50_us"], m["p99_us"])
	case "idle":
		s = fmt.Sprintf("%8.2f KiB/conn (RSS %.0f → %.0f KiB)", m["kib_per_conn"], m["rss_before_kib"], m["rss_after_kib"])
	}
	if r.disturbed() {
		s += fmt.Sprintf("; DISTURBED: other processes took %.2f CPU", r.OthersCPU)
	}
	if r.Waited >= 1 {
		s += fmt.Sprintf("; waited %.0f s for a quiet machine", r.Waited)
	}
	if r.Warning != "" {
		s += "; warning: " + r.Warning
	}
	return s
}

// makeRows computes the medians, ranges and ratios of every row whose
// workload was run.
func makeRows(runs []runResult, peers, workloads []string) []row {
	var rows []row
	for _, d := range rowDefs {
		if !slices.Contains(workloads, d.Workload) {
			continue
		}
		r := row{rowDef: d, Values: map[string]float64{}, Range: map[string][2]float64{}, Ratios: map[string]float64{}}
		for _, s := range append([]string{d.Ours}, peers...) {
			var vs []float64
			for _, run := range runs {
				if run.Server == s && run.Workload == d.Workload && run.Error == "" {
					if v, ok := run.Metrics[d.Metric]; ok {
						vs = append(vs, v)
					}
				}
			}
			if len(vs) > 0 {
				r.Values[s] = median(vs)
				r.Range[s] = [2]float64{slices.Min(vs), slices.Max(vs)}
			}
		}
		mine, ok := r.Values[d.Ours]
		if ok {
			for _, p := range peers {
				if v, ok := r.Values[p]; ok && v != 0 {
					r.Ratios[p] = mine / v
				}
			}
		}
		if g := d.Goal; g != nil && ok {
			x, have := mine, true
			if g.Peer != "" {
				x, have = r.Ratios[g.Peer]
			}
			if have {
				met := g.met(x)
				r.Met, r.Actual = &met, &x
			}
		}
		rows = append(rows, r)
	}
	return rows
}

// median returns the median of vs, which it sorts.
func median(vs []float64) float64 {
	slices.Sort(vs)
	n := len(vs)
	if n%2 == 1 {
		return vs[n/2]
	}
	return (vs[n/2-1] + vs[n/2]) / 2
}

// formatTable formats the table: medians, then ratios chanstream / each
// peer, then the goal; as aligned text, or as Markdown.
func formatTable(res results, markdown bool) string {
	header := []string{"workload", "unit", ours}
	header = append(header, res.Peers...)
	for _, p := range res.Peers {
		header = append(header, "cs/"+p)
	}
	header = append(header, "target")
	var cells [][]string
	for _, r := range res.Rows {
		line := []string{r.Label, r.Unit, number(r.Values, r.Ours)}
		for _, p := range res.Peers {
			line = append(line, number(r.Values, p))
		}
		for _, p := range res.Peers {
			if v, ok := r.Ratios[p]; ok {
				line = append(line, fmt.Sprintf("%.2f", v))
			} else {
				line = append(line, "—")
			}
		}
		line = append(line, goalCell(r))
		cells = append(cells, line)
	}

	var b strings.Builder
	if markdown {
		writeRow := func(cols []string) { fmt.Fprintf(&b, "| %s |\n", strings.Join(cols, " | ")) }
		writeRow(header)
		sep := make([]string, len(header))
		for i := range sep {
			sep[i] = "---:"
		}
		sep[0], sep[1] = "---", "---"
		writeRow(sep)
		for _, c := range cells {
			writeRow(c)
		}
	} else {
		widths := make([]int, len(header))
		for _, c := range append([][]string{header}, cells...) {
			for i, s := range c {
				widths[i] = max(widths[i], len([]rune(s)))
			}
		}
		writeRow := func(cols []string) {
			for i, s := range cols {
				pad := strings.Repeat(" ", widths[i]-len([]rune(s)))
				if i < 2 || i == len(cols)-1 {
					b.WriteString(s + pad)
				} else {
					b.WriteString(pad + s)
				}
				if i < len(cols)-1 {
					b.WriteString("  ")
				}
			}
			b.WriteString("\n")
		}
		writeRow(header)
		for _, c := range cells {
			writeRow(c)
		}
	}
	fmt.Fprintf(&b, "\nMedians of %d repetitions; cs/X = chanstream's median / X's median (for µs and KiB, lower is better).\n", res.Reps)
	if markdown {
		b.WriteString("\n")
	}
	if n, d, a, waited := disturbance(res.Runs); d > 0 || a > 0 || waited >= 1 {
		fmt.Fprintf(&b, "The machine is shared: %d measurements were taken again because other processes took more than %.2f CPU during them; %d of %d still were (the least disturbed attempt is kept); %.0f s were spent waiting for quiet.\n",
			a, disturbedCPUs, d, n, waited)
	}
	if suites := tlsSuites(res.Runs); suites != "" {
		fmt.Fprintf(&b, "tls-bulk negotiated %s.\n", suites)
	}
	for _, name := range slices.Sorted(maps.Keys(res.Missing)) {
		fmt.Fprintf(&b, "Missing peer %s: %s\n", name, res.Missing[name])
	}
	return b.String()
}

// number formats a row's value for server s.
func number(values map[string]float64, s string) string {
	v, ok := values[s]
	switch {
	case !ok:
		return "n/a"
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// goalCell formats a row's goal and whether it is met.
func goalCell(r row) string {
	if r.Goal == nil {
		return ""
	}
	if r.Met == nil {
		return r.Goal.String() + ": not measured"
	}
	mark := "✔"
	if !*r.Met {
		mark = "✘"
	}
	return fmt.Sprintf("%s: %.2f %s", r.Goal, *r.Actual, mark)
}

// writeJSON writes v to path as indented JSON.
func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(path, append(data, '\n'))
}

// writeFile writes data to path, making its directory if need be.
func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// tlsSuites describes the TLS versions and cipher suites the tls-bulk runs
// negotiated, with the servers that negotiated each.
func tlsSuites(runs []runResult) string {
	by := map[string][]string{}
	for _, r := range runs {
		v, ok1 := r.Metrics["tls_version"]
		c, ok2 := r.Metrics["tls_cipher"]
		if !ok1 || !ok2 {
			continue
		}
		name := tls.VersionName(uint16(v)) + " " + tls.CipherSuiteName(uint16(c))
		if !slices.Contains(by[name], r.Server) {
			by[name] = append(by[name], r.Server)
		}
	}
	if len(by) == 1 {
		for name := range by {
			return name + " with every server"
		}
	}
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(by)) {
		parts = append(parts, fmt.Sprintf("%s with %s", name, strings.Join(by[name], ", ")))
	}
	return strings.Join(parts, "; ")
}

// disturbance counts the runs, those disturbed by other processes, the
// measurements taken again, and the time spent waiting for quiet.
func disturbance(runs []runResult) (n, disturbed, again int, waited float64) {
	for _, r := range runs {
		n++
		if r.disturbed() {
			disturbed++
		}
		if r.Attempts > 1 {
			again++
		}
		waited += r.Waited
	}
	return n, disturbed, again, waited
}
