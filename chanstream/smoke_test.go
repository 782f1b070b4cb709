package chanstream

import (
	"bytes"
	"io"
	"testing"
)

func TestSmokeFeed(t *testing.T) {
	ctx := testCtx(t)
	r := NewReader()
	r.Feed(ctx, []byte("line1\nline2\npart"))
	r.FeedEOF()
	for _, want := range []string{"line1\n", "line2\n", "part"} {
		got, err := r.ReadLine(ctx)
		if err != nil || string(got) != want {
			t.Fatalf("ReadLine = %q, %v; want %q", got, err, want)
		}
	}
	got, err := r.ReadLine(ctx)
	if err != io.EOF || len(got) != 0 {
		t.Fatalf("ReadLine at EOF = %q, %v", got, err)
	}
}

func TestSmokeSocket(t *testing.T) {
	ctx := testCtx(t)
	a, b := socketPair(t)
	sa, sb := NewStream(a), NewStream(b)
	defer closeStream(t, sb)
	data := bytes.Repeat([]byte("0123456789abcdef\n"), 100000)
	go func() {
		sa.Write(data)
		sa.WriteEOF()
	}()
	n := 0
	for {
		line, err := sb.ReadLine(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if string(line) != "0123456789abcdef\n" {
			t.Fatalf("line %d = %q", n, line)
		}
		n++
	}
	if n != 100000 {
		t.Fatalf("got %d lines", n)
	}
	closeStream(t, sa)
}
