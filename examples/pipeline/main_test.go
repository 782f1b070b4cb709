package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream/streamtest"
)

func TestMain(m *testing.M) { streamtest.VerifyTestMain(m) }

func TestPipeline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"alpha done (EOF)", "beta done (EOF)", "gamma done (EOF)",
		"merged 35 lines: alpha 20, beta 10, gamma 5",
		"the far end counted 35 lines",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the output lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.Contains(out.String(), "tick: ") {
		t.Errorf("the ticker never fired:\n%s", out.String())
	}
}

func TestPipeline_CtxEndsIt(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := run(ctx, &bytes.Buffer{}); err != context.DeadlineExceeded {
		t.Fatalf("run = %v; want the ctx's error", err)
	}
}
