package fanin_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/fanin"
	"github.com/chanstream/chanstream/internal/testnet"
)

// fed returns a standalone reader holding data, ended by EOF.
func fed(t *testing.T, data string, opts ...chanstream.Option) *chanstream.Reader {
	t.Helper()
	r := chanstream.NewReader(opts...)
	if err := r.Feed(context.Background(), []byte(data)); err != nil {
		t.Fatal(err)
	}
	r.FeedEOF()
	return r
}

// joined returns a batch as one string, and fails the test on an empty one.
func joined(t *testing.T, batch [][]byte) string {
	t.Helper()
	if len(batch) == 0 {
		t.Fatal("an empty batch")
	}
	var b strings.Builder
	for _, line := range batch {
		b.Write(line)
	}
	return b.String()
}

func TestReadLines(t *testing.T) {
	ctx := context.Background()
	many := lines("l", 2*fanin.MaxBatch+5)
	first, second := len(lines("l", fanin.MaxBatch)), len(lines("l", 2*fanin.MaxBatch))
	for _, tc := range []struct {
		name string
		data string
		want []string // the batches, then EOF
	}{
		{"what is buffered, in one batch", "a\nb\nc\n", []string{"a\nb\nc\n"}},
		{"the last line unterminated, alone", "a\nb\nlast", []string{"a\nb\n", "last"}},
		{"at most MaxBatch lines", many, []string{many[:first], many[first:second], many[second:]}},
		{"an empty stream", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := fed(t, tc.data)
			for i, want := range tc.want {
				batch, err := fanin.ReadLines(ctx, r)
				if err != nil {
					t.Fatalf("batch %d: %v", i, err)
				}
				if got := joined(t, batch); got != want {
					t.Fatalf("batch %d: got %q, want %q", i, got, want)
				}
			}
			if batch, err := fanin.ReadLines(ctx, r); batch != nil || err != io.EOF {
				t.Fatalf("at the end: got %q, %v, want nil, io.EOF", batch, err)
			}
		})
	}
}

func TestReadLines_LimitEndsTheBatchThenTheLoop(t *testing.T) {
	ctx := context.Background()
	r := fed(t, "ok\nalso ok\n"+strings.Repeat("x", 20)+"\nafter\n", chanstream.WithLimit(10))
	batch, err := fanin.ReadLines(ctx, r)
	if err != nil || joined(t, batch) != "ok\nalso ok\n" {
		t.Fatalf("got %q, %v, want the two lines before the long one", batch, err)
	}
	if batch, err = fanin.ReadLines(ctx, r); batch != nil || !errors.Is(err, chanstream.ErrLimitOverrun) {
		t.Fatalf("got %q, %v, want ErrLimitOverrun", batch, err)
	}
	if batch, err = fanin.ReadLines(ctx, r); err != nil || joined(t, batch) != "after\n" {
		t.Fatalf("after the long line: got %q, %v", batch, err)
	}
}

func TestReadLines_DoneCtxConsumesNothing(t *testing.T) {
	r := fed(t, "a\nb\n")
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if batch, err := fanin.ReadLines(done, r); batch != nil || err != context.Canceled {
		t.Fatalf("got %q, %v, want nil, context.Canceled", batch, err)
	}
	batch, err := fanin.ReadLines(context.Background(), r)
	if err != nil || joined(t, batch) != "a\nb\n" {
		t.Fatalf("then: got %q, %v, want both lines", batch, err)
	}
}

func TestLineBatches_MergesEachStreamInOrder(t *testing.T) {
	ctx := testnet.Ctx(t, 20*time.Second)
	const streams, n = 4, 2000
	f := fanin.LineBatches[int](fanin.DefaultBuffer)
	defer f.Stop()
	for k := range streams {
		peer, s := pair(t)
		go f.Serve(ctx, k, s.Reader())
		go func() {
			peer.Write([]byte(lines(fmt.Sprint(k), n)))
			peer.CloseWrite()
		}()
	}
	got := make(map[int]*strings.Builder)
	for k := range streams {
		got[k] = new(strings.Builder)
	}
	for ended := 0; ended < streams; {
		m := receive(t, ctx, f)
		if m.Err != nil {
			if m.Err != io.EOF {
				t.Fatalf("stream %d: %v", m.Key, m.Err)
			}
			if m.Value != nil {
				t.Fatalf("stream %d: lines with its EOF", m.Key)
			}
			ended++
			continue
		}
		if len(m.Value) > fanin.MaxBatch {
			t.Fatalf("a batch of %d lines", len(m.Value))
		}
		got[m.Key].WriteString(joined(t, m.Value))
	}
	for k := range streams {
		if got[k].String() != lines(fmt.Sprint(k), n) {
			t.Errorf("stream %d: lines out of order or missing", k)
		}
	}
}

func TestLineBatches_RemoveLosesNothing(t *testing.T) {
	ctx := testnet.Ctx(t, 20*time.Second)
	f := fanin.LineBatches[string](0)
	defer f.Stop()
	peer, s := pair(t)
	all := lines("l", 1000)
	peer.Write([]byte(all))
	peer.CloseWrite()
	if err := f.Add("k", s.Reader()); err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	got.WriteString(joined(t, receive(t, ctx, f).Value))
	undelivered, err := f.Remove(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if len(undelivered) > 1 {
		t.Errorf("%d batches undelivered, want at most 1", len(undelivered))
	}
	for _, m := range f.Stop() {
		got.WriteString(joined(t, m.Value))
	}
	for _, batch := range undelivered {
		got.WriteString(joined(t, batch))
	}
	got.WriteString(rest(t, ctx, s))
	if got.String() != all {
		t.Errorf("delivered + undelivered + the rest differ from what was sent")
	}
}

// TestReadLines_SameAsReadLine reads the same data, with lines over the
// limit and an unterminated last line, with ReadLines and with ReadLine:
// the lines and the errors come in the same order.
func TestReadLines_SameAsReadLine(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 50 {
		var data strings.Builder
		for range rng.IntN(300) {
			data.WriteString(strings.Repeat("x", rng.IntN(24)))
			data.WriteString("\n")
		}
		data.WriteString(strings.Repeat("y", rng.IntN(3)))
		const limit = 16
		want := readAll(t, fed(t, data.String(), chanstream.WithLimit(limit)), func(r *chanstream.Reader) ([][]byte, error) {
			line, err := r.ReadLine(ctx)
			if err != nil {
				return nil, err
			}
			return [][]byte{line}, nil
		})
		got := readAll(t, fed(t, data.String(), chanstream.WithLimit(limit)), func(r *chanstream.Reader) ([][]byte, error) {
			return fanin.ReadLines(ctx, r)
		})
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("round %d: ReadLines gave\n%q\nReadLine gave\n%q", round, got, want)
		}
	}
}

// readAll reads r with read until io.EOF, and returns each line and each
// error, in order.
func readAll(t *testing.T, r *chanstream.Reader, read func(*chanstream.Reader) ([][]byte, error)) []string {
	t.Helper()
	var events []string
	for range 10_000 {
		batch, err := read(r)
		for _, line := range batch {
			events = append(events, string(line))
		}
		if err == io.EOF {
			return events
		}
		if err != nil {
			if !errors.Is(err, chanstream.ErrLimitOverrun) {
				t.Fatal(err)
			}
			events = append(events, "error: "+err.Error())
		}
	}
	t.Fatal("no EOF")
	return nil
}
