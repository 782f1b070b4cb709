// Command chart draws the results of chanstream's cross-language benchmark
// suite (the JSON bench/client writes) as an SVG bar chart: for every row of
// the table, one bar per peer showing how chanstream compares with it, on a
// logarithmic scale centred on parity, with the targets marked.
//
//	chart -in results/latest.json -out results/bench.svg
//
// A bar's length is chanstream's advantage: its median ÷ the peer's for
// throughput, the peer's ÷ chanstream's for latency and memory, so that a
// bar right of 1× always means chanstream does better.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"html"
	"log"
	"math"
	"os"
	"strings"
)

// results is the part of bench/client's JSON the chart reads.
type results struct {
	Mode  string            `json:"mode"`
	Date  string            `json:"date"`
	Env   map[string]string `json:"env"`
	Reps  int               `json:"reps"`
	Peers []string          `json:"peers"`
	Rows  []row             `json:"rows"`
}

type row struct {
	Key          string             `json:"key"`
	Label        string             `json:"label"`
	Unit         string             `json:"unit"`
	HigherBetter bool               `json:"higher_is_better"`
	Ours         string             `json:"ours"`
	Values       map[string]float64 `json:"values"`
	Ratios       map[string]float64 `json:"ratios"`
	Goal         *goal              `json:"goal"`
	Met          *bool              `json:"met"`
}

type goal struct {
	Peer  string  `json:"peer"`
	Op    string  `json:"op"`
	Value float64 `json:"value"`
}

// skipped are rows left out of the chart (the table has them).
var skipped = map[string]bool{"echo-p50": true}

// colours of the peers (Okabe–Ito, safe for colour-blind readers).
var colours = map[string]string{
	"rawgo":       "#0072b2",
	"rawgo-fresh": "#56b4e9",
	"asyncio":     "#e69f00",
	"uvloop":      "#d55e00",
	"node":        "#009e73",
}

var extraColours = []string{"#cc79a7", "#f0e442", "#999999"}

// Layout, in pixels.
const (
	width    = 1000
	labelW   = 320 // the row labels
	plotL    = labelW + 10
	plotR    = width - 60
	barH     = 10
	barGap   = 2
	groupGap = 18
	top      = 96
)

func main() {
	in := flag.String("in", "results/latest.json", "the results JSON bench/client wrote")
	out := flag.String("out", "results/bench.svg", "the SVG to write")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("chart: ")
	data, err := os.ReadFile(*in)
	if err != nil {
		log.Fatal(err)
	}
	var res results
	if err := json.Unmarshal(data, &res); err != nil {
		log.Fatalf("%s: %v", *in, err)
	}
	if err := os.WriteFile(*out, []byte(draw(res)), 0o644); err != nil {
		log.Fatal(err)
	}
}

// advantage returns how much better chanstream does than peer p on r
// (above 1: better), and whether both were measured.
func advantage(r row, p string) (float64, bool) {
	v, ok := r.Ratios[p]
	if !ok || v <= 0 {
		return 0, false
	}
	if r.HigherBetter {
		return v, true
	}
	return 1 / v, true
}

// goalAdvantage returns a peer goal as an advantage, for its marker.
func goalAdvantage(r row) (float64, bool) {
	if r.Goal == nil || r.Goal.Peer == "" || r.Goal.Value <= 0 {
		return 0, false
	}
	if r.HigherBetter {
		return r.Goal.Value, true
	}
	return 1 / r.Goal.Value, true
}

// draw renders the chart.
func draw(res results) string {
	var rows []row
	for _, r := range res.Rows {
		if !skipped[r.Key] {
			rows = append(rows, r)
		}
	}
	colour := map[string]string{}
	for i, p := range res.Peers {
		if c, ok := colours[p]; ok {
			colour[p] = c
		} else {
			colour[p] = extraColours[i%len(extraColours)]
		}
	}

	// The scale: powers of two around every value, parity included.
	lo, hi := 1.0, 1.0
	for _, r := range rows {
		for _, p := range res.Peers {
			if a, ok := advantage(r, p); ok {
				lo, hi = math.Min(lo, a), math.Max(hi, a)
			}
		}
		if a, ok := goalAdvantage(r); ok {
			lo, hi = math.Min(lo, a), math.Max(hi, a)
		}
	}
	// Room for the value written past the end of the longest bars.
	loExp := int(math.Floor(math.Log2(math.Max(lo*0.8, 1.0/64))))
	hiExp := int(math.Ceil(math.Log2(math.Min(hi*1.25, 64))))
	loExp, hiExp = min(loExp, -1), max(hiExp, 1)
	x := func(a float64) float64 {
		a = math.Min(math.Max(a, math.Exp2(float64(loExp))), math.Exp2(float64(hiExp)))
		return plotL + (math.Log2(a)-float64(loExp))/float64(hiExp-loExp)*(plotR-plotL)
	}

	groupH := len(res.Peers)*(barH+barGap) - barGap
	height := top + len(rows)*(groupH+groupGap) + 70

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="20" y="26" font-size="17" font-weight="bold">chanstream compared with each server: right of 1× is better for chanstream</text>`+"\n")
	sub := fmt.Sprintf("Throughput: chanstream ÷ peer. Latency and memory: peer ÷ chanstream. Medians of %d runs", res.Reps)
	if res.Date != "" {
		sub += ", " + res.Date[:min(len(res.Date), 10)]
	}
	if cpu := res.Env["cpu"]; cpu != "" {
		sub += ", " + res.Env["cpus"] + " × " + cpu
	}
	if lib := res.Env["library"]; lib != "" {
		sub += ", chanstream " + lib
	}
	fmt.Fprintf(&b, `<text x="20" y="46" fill="#444">%s.</text>`+"\n", esc(sub))

	// Legend.
	lx := 20.0
	for _, p := range res.Peers {
		fmt.Fprintf(&b, `<rect x="%.0f" y="60" width="12" height="12" fill="%s"/>`, lx, colour[p])
		fmt.Fprintf(&b, `<text x="%.0f" y="70">%s</text>`+"\n", lx+16, esc(p))
		lx += 16 + 7.5*float64(len(p)) + 22
	}
	fmt.Fprintf(&b, `<line x1="%.0f" y1="60" x2="%.0f" y2="72" stroke="#000" stroke-width="2"/>`, lx, lx)
	fmt.Fprintf(&b, `<text x="%.0f" y="70">target</text>`+"\n", lx+6)

	// Grid: one line per power of two.
	bottom := float64(height - 50)
	for e := loExp; e <= hiExp; e++ {
		gx := x(math.Exp2(float64(e)))
		stroke, w := "#dddddd", 1
		if e == 0 {
			stroke, w = "#000000", 2
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.0f" stroke="%s" stroke-width="%d"/>`+"\n", gx, top-8, gx, bottom, stroke, w)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle" fill="#444">%s</text>`+"\n", gx, bottom+16, power(e))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="end" fill="#444">← the peer does better</text>`+"\n", x(1)-8, bottom+34)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" fill="#444">chanstream does better →</text>`+"\n", x(1)+8, bottom+34)

	// Rows.
	y := float64(top)
	for i, r := range rows {
		if i%2 == 0 {
			fmt.Fprintf(&b, `<rect x="10" y="%.0f" width="%d" height="%d" fill="#f4f4f4"/>`+"\n", y-groupGap/2, width-20, groupH+groupGap)
		}
		mid := y + float64(groupH)/2
		fmt.Fprintf(&b, `<text x="%d" y="%.0f" text-anchor="end" font-weight="bold">%s</text>`+"\n", labelW, mid-2, esc(r.Label))
		fmt.Fprintf(&b, `<text x="%d" y="%.0f" text-anchor="end" font-size="11" fill="#444">%s</text>`+"\n", labelW, mid+12, esc(detail(r)))
		for j, p := range res.Peers {
			by := y + float64(j*(barH+barGap))
			a, ok := advantage(r, p)
			if !ok {
				fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" font-size="10" fill="#888">%s: n/a</text>`+"\n", x(1)+4, by+barH-1, esc(p))
				continue
			}
			x0, x1 := x(1), x(a)
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.0f" width="%.1f" height="%d" fill="%s"><title>%s</title></rect>`+"\n",
				math.Min(x0, x1), by, math.Max(math.Abs(x1-x0), 1), barH, colour[p], esc(fmt.Sprintf("%s vs %s: %s", r.Label, p, times(a))))
			tx, anchor := x1+4, "start"
			if a < 1 {
				tx, anchor = x1-4, "end"
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" font-size="10" text-anchor="%s">%s</text>`+"\n", tx, by+barH-1, anchor, times(a))
			if r.Goal != nil && r.Goal.Peer == p {
				if g, ok := goalAdvantage(r); ok {
					gx := x(g)
					fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#000" stroke-width="2"/>`+"\n", gx, by-2, gx, by+barH+2)
				}
			}
		}
		y += float64(groupH + groupGap)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// times formats an advantage: 0.93×, 1.2×, 12×.
func times(a float64) string {
	switch {
	case a >= 10:
		return fmt.Sprintf("%.0f×", a)
	case a >= 0.995 && a < 1.005:
		return "1×"
	default:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", a), "0"), ".") + "×"
	}
}

// power formats 2^e as a multiple: 1/4×, 1×, 8×.
func power(e int) string {
	if e < 0 {
		return fmt.Sprintf("1/%d×", 1<<-e)
	}
	return fmt.Sprintf("%d×", 1<<e)
}

// detail is the second line of a row's label: chanstream's value and the
// target.
func detail(r row) string {
	v, ok := r.Values[r.Ours]
	if !ok {
		return "chanstream: not measured"
	}
	s := number(v) + " " + r.Unit
	if g := r.Goal; g != nil {
		s += " · target " + op(g.Op) + " "
		if g.Peer == "" {
			s += number(g.Value) + " " + r.Unit
		} else {
			s += strings.TrimSuffix(times(g.Value), "×") + "× " + g.Peer
		}
		if r.Met != nil && *r.Met {
			s += " ✔"
		} else if r.Met != nil {
			s += " ✘"
		}
	}
	return s
}

// number formats a value with three significant digits or so.
func number(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func op(o string) string {
	if o == "<=" {
		return "≤"
	}
	return "≥"
}

func esc(s string) string { return html.EscapeString(s) }
