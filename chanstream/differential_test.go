package chanstream

import (
	"context"
	"errors"
	"io"
	"math/rand"
	"testing"
	"time"

	"github.com/chanstream/chanstream/internal/asyncioref"
)

// runCase runs an asyncioref case through a Reader, feeding it by the
// case's discipline: the prefeed first, then one piece each time the reader
// is about to wait for data (the waitHook), then EOF; with nothing left to
// feed, the wait would last forever and the run stops ("blocked").
func runCase(t testing.TB, c asyncioref.Case) asyncioref.Outcome {
	r := NewReader(WithLimit(c.Limit))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	chunks := c.Chunks
	eofPending := c.EOF
	for i := 0; i < c.Prefeed && len(chunks) > 0; i++ {
		if err := r.Feed(ctx, chunks[0]); err != nil {
			t.Fatal(err)
		}
		chunks = chunks[1:]
	}
	blocked := false
	r.waitHook = func() {
		for len(chunks) > 0 {
			ch := chunks[0]
			chunks = chunks[1:]
			if len(ch) > 0 {
				if err := r.Feed(ctx, ch); err != nil {
					t.Error(err)
				}
				return
			}
		}
		if eofPending {
			eofPending = false
			r.FeedEOF()
			return
		}
		blocked = true
		cancel()
	}
	var out asyncioref.Outcome
	for _, op := range c.Ops {
		res := runOp(ctx, r, op)
		if blocked {
			out.Results = append(out.Results, asyncioref.Result{Kind: "blocked"})
			break
		}
		out.Results = append(out.Results, res)
	}
	r.waitHook = nil
	for _, ch := range chunks {
		if len(ch) > 0 {
			if err := r.Feed(context.Background(), ch); err != nil {
				t.Fatal(err)
			}
		}
	}
	if eofPending {
		r.FeedEOF()
	}
	if err := r.begin(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.drain()
	out.Rest = r.gather(nil, 0, r.buffered)
	r.end()
	return out
}

// compareOutcomes is asyncioref.Compare, but for one difference we make on
// purpose: asyncio's read(-1) collects the data in a local list while it
// waits, so a read(-1) that never ends (cancelled) loses it, where ours
// leaves it buffered for the next read. There, only the results are
// compared.
func compareOutcomes(c asyncioref.Case, ours, theirs asyncioref.Outcome) string {
	if k := len(theirs.Results); k > 0 && theirs.Results[k-1].Kind == "blocked" {
		if op := c.Ops[k-1]; op.Kind == "read" && op.N < 0 {
			ours.Rest, theirs.Rest = nil, nil
		}
	}
	return asyncioref.Compare(ours, theirs)
}

// runOp maps one asyncio call to ours, and our result back to asyncio's
// terms.
func runOp(ctx context.Context, r *Reader, op asyncioref.Op) asyncioref.Result {
	var data []byte
	var err error
	switch op.Kind {
	case "read":
		data, err = r.ReadChunk(ctx, op.N)
		if err == io.EOF {
			err = nil // asyncio returns b''
		}
	case "readline":
		data, err = r.ReadLine(ctx)
		if err == io.EOF {
			err = nil
		}
		if errors.Is(err, ErrLimitOverrun) {
			return asyncioref.Result{Kind: "value"} // asyncio raises ValueError
		}
	case "readuntil":
		data, err = r.ReadUntil(ctx, op.Seps...)
	case "readexactly":
		data, err = r.ReadExactly(ctx, op.N)
	case "at_eof":
		return asyncioref.Result{Kind: "ok", Bool: r.AtEOF()}
	}
	var lo *LimitOverrunError
	var ie *IncompleteReadError
	switch {
	case err == nil:
		return asyncioref.Result{Kind: "ok", Data: data}
	case errors.As(err, &lo):
		return asyncioref.Result{Kind: "limit", Consumed: lo.Consumed}
	case errors.As(err, &ie):
		return asyncioref.Result{Kind: "incomplete", Partial: ie.Partial, Expected: ie.Expected}
	case err == ErrNegativeCount, err == ErrEmptySeparator:
		return asyncioref.Result{Kind: "value"}
	}
	return asyncioref.Result{Kind: "error: " + err.Error()}
}

// TestDifferential_AgainstPythonAsyncio runs thousands of random byte streams
// and calls through python3's real asyncio.StreamReader and through ours,
// under many chunkings (one byte, random, separators straddling pieces),
// and compares every result, every error kind and what is left buffered.
func TestDifferential_AgainstPythonAsyncio(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 500
	}
	cases := asyncioref.RandomCases(rand.New(rand.NewSource(time.Now().UnixNano())), n, false)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	outcomes, err := asyncioref.RunPython(ctx, cases)
	if errors.Is(err, asyncioref.ErrNoPython) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	failures := 0
	for i, c := range cases {
		if diff := compareOutcomes(c, runCase(t, c), outcomes[i]); diff != "" {
			t.Errorf("case %s\nours against asyncio: %s", c, diff)
			if failures++; failures >= 5 {
				t.FailNow()
			}
		}
	}
}

// TestDifferential_SeveralSeparators covers Python 3.13's readuntil with a
// tuple of separators, which python3 here (3.11) lacks: the model is the
// oracle.
func TestDifferential_SeveralSeparators(t *testing.T) {
	cases := asyncioref.RandomCases(rand.New(rand.NewSource(time.Now().UnixNano())), 3000, true)
	failures := 0
	for _, c := range cases {
		if diff := compareOutcomes(c, runCase(t, c), asyncioref.Run(c)); diff != "" {
			t.Errorf("case %s\nours against the model: %s", c, diff)
			if failures++; failures >= 5 {
				t.FailNow()
			}
		}
	}
}
