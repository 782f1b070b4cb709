package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chanstream/chanstream/internal/testnet"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestWaitForData_PrintsWhatThePythonOriginalPrints(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := waitForData(ctx, &out); err != nil {
		t.Fatal(err)
	}
	python := testnet.Program(t, "python3", "python3")
	want, err := testnet.Run(t, exec.Command(python, filepath.Join("testdata", "wait_for_data.py")), "")
	if err != nil {
		t.Fatalf("%v: %s", err, want)
	}
	if out.String() != want {
		t.Fatalf("printed %q; the Python original prints %q", out.String(), want)
	}
}
