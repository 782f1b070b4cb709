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

func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		`received: "echo: hello\n"`,
		`received: "echo: asyncio streams, in Go\n"`,
		`received: "frames of 5, 1000, 70000 bytes\n"`,
		`received: "read 2097152\n"`,
		"the writer waited at the high watermark: true",
		"the most it ever queued stayed near the watermark (64 KiB): true",
		"server shut down: 3 connections served, 0 still active",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the output lacks %q:\n%s", want, out.String())
		}
	}
	if n := strings.Count(out.String(), "then EOF; closed"); n != 3 {
		t.Errorf("%d clean closes; want 3", n)
	}
}
