// Command pipeline shows chanstream in the CSP style: lines from several
// streams merged in one select, next to a ticker and ctx.Done(), and a
// channel feeding a stream in the other direction.
//
// Three "sensors" write numbered lines at different paces over socket pairs.
// The merger selects on each stream's LineChan, prints a tally on every tick,
// notices each sensor's end (its channel closes, Err tells why), and forwards
// every line into a channel that WriteFrom drains into a fourth stream, whose
// far end counts what arrives.
//
//	go run ./examples/pipeline
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/dial"
	"github.com/sourcegraph/conc"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "pipeline:", err)
		os.Exit(1)
	}
}

type sensor struct {
	name  string
	lines int
	every time.Duration
}

var sensors = []sensor{{"alpha", 20, time.Millisecond}, {"beta", 10, 5 * time.Millisecond}, {"gamma", 5, 13 * time.Millisecond}}

func run(ctx context.Context, out io.Writer) (err error) {
	var wg conc.WaitGroup // owns every goroutine below
	defer wg.Wait()

	// One socket pair per sensor: the sensor writes into one end, we read
	// the other as a stream.
	var receivers []*chanstream.Receiver
	for _, sn := range sensors {
		mine, theirs, err := dial.Pipe()
		if err != nil {
			return err
		}
		defer closeAll(ctx, mine, theirs)
		wg.Go(func() { produce(ctx, theirs, sn) })
		rc := mine.LineChan(ctx)
		defer rc.Stop()
		receivers = append(receivers, rc)
	}

	// The other direction: a channel feeding a stream with WriteFrom.
	sink, far, err := dial.Pipe()
	if err != nil {
		return err
	}
	defer closeAll(ctx, sink, far)
	forward := make(chan []byte)
	var forwarded int64
	var forwardErr error
	wg.Go(func() {
		forwarded, forwardErr = sink.WriteFrom(ctx, forward)
		sink.WriteEOF() // the far end sees EOF once everything is sent
	})
	var farLines int
	wg.Go(func() {
		for _, err := range far.Lines(ctx) {
			if err != nil {
				return
			}
			farLines++
		}
	})

	// The merger: one select over every source.
	counts := make([]int, len(sensors))
	chans := make([]<-chan []byte, len(receivers))
	for i, rc := range receivers {
		chans[i] = rc.C
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	open := len(chans)
	for open > 0 {
		select {
		case line, ok := <-chans[0]:
			open -= merged(ctx, 0, line, ok, chans, counts, receivers, forward, out)
		case line, ok := <-chans[1]:
			open -= merged(ctx, 1, line, ok, chans, counts, receivers, forward, out)
		case line, ok := <-chans[2]:
			open -= merged(ctx, 2, line, ok, chans, counts, receivers, forward, out)
		case <-tick.C:
			fmt.Fprintf(out, "tick: alpha %d, beta %d, gamma %d\n", counts[0], counts[1], counts[2])
		case <-ctx.Done():
			close(forward)
			return ctx.Err()
		}
	}
	close(forward) // WriteFrom returns once it has queued everything
	wg.Wait()
	if forwardErr != nil {
		return forwardErr
	}
	total := counts[0] + counts[1] + counts[2]
	fmt.Fprintf(out, "merged %d lines: alpha %d, beta %d, gamma %d\n", total, counts[0], counts[1], counts[2])
	fmt.Fprintf(out, "forwarded %d bytes; the far end counted %d lines\n", forwarded, farLines)
	if farLines != total {
		return errors.New("lines were lost on the way")
	}
	return nil
}

// merged handles one receive from source i and reports 1 when the source
// has ended.
func merged(ctx context.Context, i int, line []byte, ok bool, chans []<-chan []byte, counts []int, receivers []*chanstream.Receiver, forward chan<- []byte, out io.Writer) int {
	if !ok {
		fmt.Fprintf(out, "%s done (%v)\n", sensors[i].name, receivers[i].Err())
		chans[i] = nil // a nil channel is never ready: stop selecting on it
		return 1
	}
	counts[i]++
	select {
	case forward <- line: // the line is ours to pass on
	case <-ctx.Done(): // WriteFrom has stopped taking lines; the merger's select sees ctx next
	}
	return 0
}

// produce writes the sensor's lines at its pace, then half-closes.
func produce(ctx context.Context, s *chanstream.Stream, sn sensor) {
	for i := 1; i <= sn.lines; i++ {
		fmt.Fprintf(s, "%s reading %d\n", sn.name, i)
		select {
		case <-time.After(sn.every):
		case <-ctx.Done():
			return
		}
	}
	s.WriteEOF()
}

func closeAll(ctx context.Context, streams ...*chanstream.Stream) {
	for _, s := range streams {
		s.Close()
		s.WaitClosed(ctx)
	}
}
