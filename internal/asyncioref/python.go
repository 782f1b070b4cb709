package asyncioref

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"os/exec"
	"strings"
)

//go:embed oracle.py
var oracle string

// ErrNoPython is returned by RunPython when python3 is not installed.
var ErrNoPython = errors.New("asyncioref: python3 not found (apt-get install python3)")

// RunPython runs cases through python3's asyncio.StreamReader, in one
// process.
func RunPython(ctx context.Context, cases []Case) ([]Outcome, error) {
	python, err := exec.LookPath("python3")
	if err != nil {
		return nil, ErrNoPython
	}
	in, err := json.Marshal(cases)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, python, "-c", oracle)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("asyncioref: python3: %w: %s", err, stderr.String())
	}
	var outcomes []Outcome
	if err := json.Unmarshal(out, &outcomes); err != nil {
		return nil, fmt.Errorf("asyncioref: python3's output: %w", err)
	}
	if len(outcomes) != len(cases) {
		return nil, fmt.Errorf("asyncioref: %d outcomes for %d cases", len(outcomes), len(cases))
	}
	return outcomes, nil
}

// Compare returns "" when a and b are the same, else where they first
// differ. Nil and empty byte slices are the same.
func Compare(a, b Outcome) string {
	for i := 0; i < max(len(a.Results), len(b.Results)); i++ {
		if i >= len(a.Results) || i >= len(b.Results) {
			return fmt.Sprintf("%d results against %d", len(a.Results), len(b.Results))
		}
		x, y := a.Results[i], b.Results[i]
		if x.Kind != y.Kind || !bytes.Equal(x.Data, y.Data) || !bytes.Equal(x.Partial, y.Partial) ||
			x.Consumed != y.Consumed || x.Expected != y.Expected || x.Bool != y.Bool {
			return fmt.Sprintf("op %d: %s against %s", i, x, y)
		}
	}
	if !bytes.Equal(a.Rest, b.Rest) {
		return fmt.Sprintf("rest %q against %q", a.Rest, b.Rest)
	}
	return ""
}

func (r Result) String() string {
	switch r.Kind {
	case "ok":
		return fmt.Sprintf("ok(%q, %v)", r.Data, r.Bool)
	case "limit":
		return fmt.Sprintf("limit(consumed %d)", r.Consumed)
	case "incomplete":
		return fmt.Sprintf("incomplete(%q, expected %d)", r.Partial, r.Expected)
	}
	return r.Kind
}

// String describes the case, for failure messages.
func (c Case) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "limit=%d prefeed=%d eof=%v chunks=%q ops=", c.Limit, c.Prefeed, c.EOF, c.Chunks)
	for _, op := range c.Ops {
		switch op.Kind {
		case "readuntil":
			fmt.Fprintf(&b, "readuntil(%q) ", op.Seps)
		case "read", "readexactly":
			fmt.Fprintf(&b, "%s(%d) ", op.Kind, op.N)
		default:
			fmt.Fprintf(&b, "%s() ", op.Kind)
		}
	}
	return b.String()
}

// RandomCases makes n varied cases: small and large limits, data from a
// small alphabet so that separators, partial separators and separators
// straddling pieces are common, pieces of one byte or random sizes, any
// prefeed, EOF or not, and a mix of operations. multiSep allows readuntil
// with several separators (the model has them; Python 3.11 does not).
func RandomCases(rng *rand.Rand, n int, multiSep bool) []Case {
	alphabets := []string{"ab\n", "a\n", "xyz\r\n", "aab"}
	sepPool := []string{"\n", "ab", "aab", "b\n", "\r\n", "a", "zz", "\n\n"}
	cases := make([]Case, n)
	for i := range cases {
		alpha := alphabets[rng.Intn(len(alphabets))]
		size := rng.Intn(60)
		if rng.Intn(8) == 0 {
			size = 200 + rng.Intn(3000)
		}
		data := make([]byte, size)
		for j := range data {
			data[j] = alpha[rng.Intn(len(alpha))]
		}
		var chunks [][]byte
		for rest := data; len(rest) > 0; {
			k := 1
			switch rng.Intn(3) {
			case 1:
				k = 1 + rng.Intn(8)
			case 2:
				k = 1 + rng.Intn(len(rest))
			}
			k = min(k, len(rest))
			chunks = append(chunks, rest[:k])
			rest = rest[k:]
			if rng.Intn(10) == 0 {
				chunks = append(chunks, []byte{})
			}
		}
		limit := 1 + rng.Intn(20)
		if rng.Intn(3) == 0 {
			limit = 64 + rng.Intn(1000)
		}
		c := Case{Limit: limit, Chunks: chunks, EOF: rng.Intn(4) != 0, Prefeed: rng.Intn(len(chunks) + 1)}
		for k := 1 + rng.Intn(8); k > 0; k-- {
			op := Op{}
			switch rng.Intn(9) {
			case 0, 1:
				op.Kind = "readline"
			case 2, 3, 4:
				op.Kind = "readuntil"
				nseps := 1
				if multiSep && rng.Intn(2) == 0 {
					nseps = 2 + rng.Intn(2)
				}
				for s := 0; s < nseps; s++ {
					op.Seps = append(op.Seps, []byte(sepPool[rng.Intn(len(sepPool))]))
				}
			case 5, 6:
				op.Kind = "readexactly"
				op.N = []int{0, -1, 1, 3, 7, 50, 5000}[rng.Intn(7)]
			case 7:
				op.Kind = "read"
				op.N = []int{0, -1, 1, 2, 10, 100, 10000}[rng.Intn(7)]
			case 8:
				op.Kind = "at_eof"
			}
			c.Ops = append(c.Ops, op)
		}
		cases[i] = c
	}
	return cases
}
