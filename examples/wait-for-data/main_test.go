package main

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream/streamtest"
	"github.com/chanstream/chanstream/internal/testnet"
)

func TestMain(m *testing.M) { streamtest.VerifyTestMain(m) }

// The example prints what its Python original prints, byte for byte:
// the Python program itself (testdata/wait_for_data.py, copied from the
// asyncio documentation) is the oracle.
func TestWaitForData_PrintsWhatThePythonOriginalPrints(t *testing.T) {
	python := testnet.Program(t, "python3", "python3")
	want, err := testnet.Run(t, exec.Command(python, filepath.Join("testdata", "wait_for_data.py")), "")
	if err != nil {
		t.Fatalf("the Python original: %v", err)
	}
	if want != "Received: abc\n" {
		t.Fatalf("the Python original printed %q", want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := waitForData(ctx, &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != want {
		t.Errorf("printed %q, want %q", out.String(), want)
	}
}

// With its ctx already done the example gives up at once with the ctx's
// error, and leaves no goroutine or socket behind (goleak checks the
// goroutines; the sockets are closed on every path).
func TestWaitForData_CancelledCtx(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	if err := waitForData(ctx, &out); !errors.Is(err, context.Canceled) {
		t.Fatalf("waitForData with a cancelled ctx = %v, want context.Canceled", err)
	}
	if out.Len() != 0 {
		t.Errorf("printed %q", out.String())
	}
}
