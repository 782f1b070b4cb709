package streamtest

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
)

func TestVerifyNone_WaitsForAStreamStillClosing(t *testing.T) {
	got := report(t, func(t testing.TB) {
		VerifyNone(t)
		// Nothing here is closed by a cleanup: the stream closes the
		// connection itself once its data has drained, at 30 KiB/s, which
		// takes about two seconds, more than goleak's own retries wait.
		a, b, _ := NewPipe(DefaultPipeBuffer)
		slow, err := NewFaultConn(a, 1, Bandwidth(Writes, 30<<10))
		if err != nil {
			t.Fatal(err)
		}
		s := chanstream.NewStream(slow)
		go io.Copy(io.Discard, b)     // ends when the stream closes its end
		s.Write(make([]byte, 60<<10)) // below the high watermark: queued at once
		s.Close()                     // not waited for
	})
	if got != "" {
		t.Fatalf("VerifyNone reported a stream that was closing:\n%s", got)
	}
}

func TestVerifyNone_ReportsAForeignGoroutine(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	got := report(t, func(t testing.TB) {
		VerifyNone(t)
		go io.Copy(io.Discard, pr) // runs none of chanstream's code
	})
	pr.Close() // ends it
	if !strings.Contains(got, "found unexpected goroutines") {
		t.Fatalf("VerifyNone did not report the goroutine left running: %q", got)
	}
}

func TestVerifyNone_ReportsAStreamNeverClosed(t *testing.T) {
	defer func(d time.Duration) { leakWait = d }(leakWait)
	leakWait = time.Second
	var s *chanstream.Stream
	got := report(t, func(t testing.TB) {
		VerifyNone(t)
		a, _, _ := NewPipe(1024)
		s = chanstream.NewStream(a)
		go s.ReadLine(context.Background()) // keeps a goroutine in chanstream's code
	})
	s.Abort()
	s.WaitClosed(context.Background())
	if !strings.Contains(got, "found unexpected goroutines") {
		t.Fatalf("VerifyNone did not report a stream left open: %q", got)
	}
}

func TestRunsOwnCode(t *testing.T) {
	for _, tc := range []struct {
		report string
		want   bool
	}{
		{"[Goroutine 7 in state select, with github.com/chanstream/chanstream/internal/group.(*Group).run on top of the stack:\ngithub.com/chanstream/chanstream/internal/group.(*Group).run(...)\n\t/x/group.go:1]", true},
		{"Goroutine 8 in state IO wait:\nio.Copy(...)\n\t/go/io.go:1\ncreated by github.com/chanstream/chanstream/chanstream/streamtest.TestX in goroutine 7", false},
	} {
		if got := runsOwnCode(tc.report); got != tc.want {
			t.Errorf("runsOwnCode(%q) = %v; want %v", tc.report, got, tc.want)
		}
	}
}
