package streamtest

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
)

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds, failing the test if it does not
// within 10 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestScript_PlaysWithAStream(t *testing.T) {
	ctx := testCtx(t)
	peer := NewScript(t).
		Send("HELO th").
		Send("ere\r\n").
		Expect("250 hello\r\n").
		SendEOF().
		Expect("bye\n").
		ExpectCloseWrite().
		ExpectClose()
	s := chanstream.NewStream(peer)
	line, err := s.ReadLine(ctx)
	if string(line) != "HELO there\r\n" || err != nil {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
	s.Write([]byte("250 "))
	s.Write([]byte("hello\r\n"))
	if line, err := s.ReadLine(ctx); len(line) != 0 || err != io.EOF {
		t.Fatalf("ReadLine at the peer's EOF = %q, %v", line, err)
	}
	s.Write([]byte("bye\n"))
	if err := s.WriteEOF(); err != nil {
		t.Fatal(err)
	}
	// Close does not wait for a WriteEOF still queued: wait for it first.
	eventually(t, "the half-close", func() bool {
		peer.mu.Lock()
		defer peer.mu.Unlock()
		return peer.wroteEOF
	})
	CloseStreams(t, s)
}

func TestScript_ReadsComeInTheGivenPieces(t *testing.T) {
	peer := NewScript(t).Send("ab").Send("cde").Send("f")
	buf := make([]byte, 100)
	var pieces []string
	for range 3 {
		n, err := peer.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		pieces = append(pieces, string(buf[:n]))
	}
	if got := strings.Join(pieces, "|"); got != "ab|cde|f" {
		t.Fatalf("pieces %s; want ab|cde|f", got)
	}
	// A short buffer splits a piece, but never joins two.
	peer.Send("xyz").Send("w")
	small := make([]byte, 2)
	n, _ := peer.Read(small)
	m, _ := peer.Read(small)
	k, _ := peer.Read(small)
	if n != 2 || m != 1 || k != 1 {
		t.Fatalf("reads of 2 = %d, %d, %d; want 2, 1, 1", n, m, k)
	}
}

func TestScript_MismatchFailsWithADiff(t *testing.T) {
	var werr error
	got := report(t, func(t testing.TB) {
		peer := NewScript(t).Expect("250 hello\r\n")
		peer.Write([]byte("250 hel"))
		_, werr = peer.Write([]byte("lO\r\n"))
	})
	if !errors.Is(werr, ErrScript) {
		t.Errorf("the Write that differs returned %v; want ErrScript", werr)
	}
	for _, want := range []string{`at byte 8 of the step`, `want "o", got "O"`, `want: "250 hello\r\n"`, `got:  "250 hellO\r\n"`} {
		if !strings.Contains(got, want) {
			t.Errorf("the report does not say %s:\n%s", want, got)
		}
	}
	if strings.Count(got, "streamtest:") != 1 {
		t.Errorf("want one failure reported, got:\n%s", got)
	}
}

func TestScript_UnplayedStepsFailAtCleanup(t *testing.T) {
	got := report(t, func(t testing.TB) {
		peer := NewScript(t).Send("hello\n").Expect("answer\n").Wait(time.Hour)
		peer.Read(make([]byte, 3))
		peer.Close()
	})
	if !strings.Contains(got, `step 1, Send("hello\n") (3 of its 6 bytes played)`) || !strings.Contains(got, `step 2, Expect("answer\n")`) {
		t.Fatalf("the report does not list the steps left:\n%s", got)
	}
	if strings.Contains(got, "Wait") {
		t.Fatalf("a Wait left at the end is reported:\n%s", got)
	}
	if got := report(t, func(t testing.TB) { NewScript(t).Send("x").Close() }); !strings.Contains(got, `Send("x")`) {
		t.Fatalf("a script never played is not reported: %q", got)
	}
}

func TestScript_WriteAfterTheEndFails(t *testing.T) {
	got := report(t, func(t testing.TB) {
		peer := NewScript(t).Expect("a")
		if _, err := peer.Write([]byte("ab")); !errors.Is(err, ErrScript) {
			t.Errorf("Write past the end = %v; want ErrScript", err)
		}
	})
	if !strings.Contains(got, `wrote "b" after the end of the script`) {
		t.Fatalf("report: %s", got)
	}
}

func TestScript_ResetEndsEverything(t *testing.T) {
	peer := NewScript(t).Send("partial").Reset()
	buf := make([]byte, 100)
	if n, err := peer.Read(buf); n != 7 || err != nil {
		t.Fatalf("Read before the reset = %d, %v", n, err)
	}
	if _, err := peer.Read(buf); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Read at the reset = %v; want ECONNRESET", err)
	}
	if _, err := peer.Write([]byte("x")); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Write after the reset = %v; want ECONNRESET", err)
	}
}

func TestScript_ResetReachesAStreamAfterItsData(t *testing.T) {
	ctx := testCtx(t)
	peer := NewScript(t).Send("line\npart").Reset()
	s := chanstream.NewStream(peer)
	defer CloseStreams(t, s)
	line, _ := s.ReadLine(ctx)
	last, _ := s.ReadLine(ctx)
	_, err := s.ReadLine(ctx)
	if string(line) != "line\n" || string(last) != "part" || !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("reads = %q, %q, %v; want the data, then ECONNRESET", line, last, err)
	}
}

func TestScript_ErrorsAndGoingOn(t *testing.T) {
	errRead, errWrite := errors.New("read failed"), errors.New("write failed")
	peer := NewScript(t).ReadError(errRead).Send("after").WriteError(errWrite).Expect("ok")
	buf := make([]byte, 10)
	if _, err := peer.Read(buf); err != errRead {
		t.Fatalf("Read = %v; want %v", err, errRead)
	}
	if n, err := peer.Read(buf); string(buf[:n]) != "after" || err != nil {
		t.Fatalf("Read after the error = %q, %v", buf[:n], err)
	}
	if n, err := peer.Write([]byte("ok")); n != 0 || err != errWrite {
		t.Fatalf("Write = %d, %v; want 0, %v", n, err, errWrite)
	}
	if n, err := peer.Write([]byte("ok")); n != 2 || err != nil {
		t.Fatalf("Write after the error = %d, %v", n, err)
	}
}

func TestScript_WaitHoldsTheNextStep(t *testing.T) {
	const pause = 50 * time.Millisecond
	peer := NewScript(t).Send("a").Wait(pause).Send("b")
	buf := make([]byte, 1)
	start := time.Now() // before the Send step is played, which starts the Wait
	peer.Read(buf)
	if _, err := peer.Read(buf); err != nil || buf[0] != 'b' {
		t.Fatalf("Read after the Wait = %q, %v", buf, err)
	}
	if took := time.Since(start); took < pause {
		t.Fatalf("the Read after Wait(%v) returned after %v", pause, took)
	}
}

func TestScript_WriteWaitsForTheReadsToPlayTheirStep(t *testing.T) {
	peer := NewScript(t).Send("question").Expect("answer")
	wrote := make(chan error, 1)
	go func() {
		_, err := peer.Write([]byte("answer"))
		wrote <- err
	}()
	select {
	case err := <-wrote:
		t.Fatalf("Write returned %v before the Send step was read", err)
	case <-time.After(20 * time.Millisecond):
	}
	peer.Read(make([]byte, 100))
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
}

func TestScript_DeadlinesAndClose(t *testing.T) {
	peer := NewScript(t).Expect("never written")
	peer.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if _, err := peer.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past its deadline = %v", err)
	}
	peer.SetReadDeadline(time.Time{})
	readErr := make(chan error, 1)
	go func() {
		_, err := peer.Read(make([]byte, 1))
		readErr <- err
	}()
	peer.Close()
	if err := <-readErr; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read across Close = %v; want net.ErrClosed", err)
	}
	if err := peer.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close = %v", err)
	}
	peer.mu.Lock()
	peer.pos = len(peer.steps) // not a failure of this test
	peer.mu.Unlock()
}

func TestScript_CloseWriteOutOfPlaceFails(t *testing.T) {
	got := report(t, func(t testing.TB) {
		peer := NewScript(t).Expect("data")
		if err := peer.CloseWrite(); !errors.Is(err, ErrScript) {
			t.Errorf("CloseWrite = %v; want ErrScript", err)
		}
	})
	if !strings.Contains(got, `half-closed (CloseWrite) where the script expects Expect("data")`) {
		t.Fatalf("report: %s", got)
	}
}

func TestScript_BadStepsFail(t *testing.T) {
	cases := []struct {
		name  string
		build func(s *Script)
		want  string
	}{
		{"empty Send", func(s *Script) { s.Send("") }, "Send of nothing"},
		{"empty Expect", func(s *Script) { s.Expect("") }, "Expect of nothing"},
		{"negative Wait", func(s *Script) { s.Wait(-1) }, "negative"},
		{"nil ReadError", func(s *Script) { s.ReadError(nil) }, "ReadError(nil)"},
		{"nil WriteError", func(s *Script) { s.WriteError(nil) }, "WriteError(nil)"},
		{"Send after SendEOF", func(s *Script) { s.SendEOF().Send("x") }, "Send after SendEOF"},
		{"a step after Reset", func(s *Script) { s.Reset().Expect("x") }, "Expect after Reset"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := report(t, func(t testing.TB) {
				s := NewScript(t)
				defer s.Close()
				tc.build(s)
			})
			if !strings.Contains(got, tc.want) {
				t.Fatalf("report %q; want it to say %q", got, tc.want)
			}
		})
	}
}
