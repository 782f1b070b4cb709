package chanstream

import (
	"context"
	"testing"
)

func TestTakeBufferedLines(t *testing.T) {
	ctx := context.Background()
	r := NewReader(WithLimit(8))
	r.Feed(ctx, []byte("a\nb\nc\n"+"toolongline\n"+"d\npart"))
	r.FeedEOF()
	if line, err := r.ReadLine(ctx); err != nil || string(line) != "a\n" {
		t.Fatalf("ReadLine: %q, %v", line, err)
	}

	// A read call under way: nothing is taken.
	if !r.gate.tryLock() {
		t.Fatal("the gate is held")
	}
	if got := r.takeBufferedLines(nil, 10); len(got) != 0 {
		t.Fatalf("with the gate held: took %q", got)
	}
	r.end()

	// max counts what the slice already holds.
	got := r.takeBufferedLines([][]byte{[]byte("x\n")}, 2)
	if len(got) != 2 || string(got[1]) != "b\n" {
		t.Fatalf("up to 2: got %q", got)
	}
	// The line over the limit ends the batch, unconsumed, as does the
	// unterminated last line.
	got = r.takeBufferedLines(nil, 10)
	if len(got) != 1 || string(got[0]) != "c\n" {
		t.Fatalf("up to the long line: got %q", got)
	}
	if _, err := r.ReadLine(ctx); err == nil {
		t.Fatal("the long line: no error")
	}
	got = r.takeBufferedLines(nil, 10)
	if len(got) != 1 || string(got[0]) != "d\n" {
		t.Fatalf("up to the unterminated line: got %q", got)
	}
	if r.Buffered() != len("part") {
		t.Fatalf("Buffered: %d, want %d", r.Buffered(), len("part"))
	}
}
