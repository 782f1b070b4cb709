package chanstream

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestReadLineView_MatchesReadLine(t *testing.T) {
	// The same lines as ReadLine, across chunk boundaries, over the limit
	// and at EOF.
	input := "short\n" + strings.Repeat("x", 100) + "\nstraddles a boundary\nlast"
	for _, cut := range []int{1, 7, 64, 1000} {
		a, b := NewReader(WithLimit(50)), NewReader(WithLimit(50))
		for i := 0; i < len(input); i += cut {
			piece := []byte(input[i:min(i+cut, len(input))])
			feed(t, a, string(piece))
			feed(t, b, string(piece))
		}
		a.FeedEOF()
		b.FeedEOF()
		for {
			want, wantErr := a.ReadLine(testCtx(t))
			got, err := b.ReadLineView(testCtx(t))
			if string(got) != string(want) || (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
				t.Fatalf("cut %d: ReadLineView = %q, %v; ReadLine = %q, %v", cut, got, err, want, wantErr)
			}
			if err == io.EOF {
				break
			}
		}
	}
}

func TestReadLineView_ValidUntilTheNextCall(t *testing.T) {
	// Views from many chunks: each stays intact until the next call, even
	// as chunks are recycled and refilled behind it.
	r := NewReader()
	ctx := testCtx(t)
	go func() {
		for i := 0; i < 20000; i++ {
			r.Feed(ctx, []byte(fmt.Sprintf("line %06d\n", i)))
		}
		r.FeedEOF()
	}()
	for i := 0; ; i++ {
		line, err := r.ReadLineView(ctx)
		if err == io.EOF {
			if i != 20000 {
				t.Fatalf("%d lines", i)
			}
			return
		}
		if want := fmt.Sprintf("line %06d\n", i); string(line) != want {
			t.Fatalf("view %q; want %q", line, want)
		}
	}
}

func TestReadExactlyInto(t *testing.T) {
	r := NewReader()
	feed(t, r, "0123", "456789", "ab")
	r.FeedEOF()
	p := make([]byte, 5)
	if n, err := r.ReadExactlyInto(testCtx(t), p); n != 5 || err != nil || string(p) != "01234" {
		t.Fatalf("ReadExactlyInto = %d, %v, %q", n, err, p)
	}
	if n, err := r.ReadExactlyInto(testCtx(t), p); n != 5 || err != nil || string(p) != "56789" {
		t.Fatalf("ReadExactlyInto = %d, %v, %q", n, err, p)
	}
	n, err := r.ReadExactlyInto(testCtx(t), p)
	var ie *IncompleteReadError
	if n != 2 || !errors.As(err, &ie) || string(ie.Partial) != "ab" || ie.Expected != 5 {
		t.Fatalf("at EOF: %d, %v", n, err)
	}
}

func TestWriteTo_CopiesEverything(t *testing.T) {
	a, b := socketPair(t)
	sa, sb := NewStream(a), NewStream(b)
	defer closeStream(t, sb)
	data := bytes.Repeat([]byte("0123456789abcdef"), 100000)
	go func() {
		sa.Write(data)
		sa.Close()
	}()
	var got bytes.Buffer
	n, err := io.Copy(&got, sb) // through WriteTo
	if err != nil || n != int64(len(data)) || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("io.Copy = %d, %v", n, err)
	}
	closeStream(t, sa)
}
