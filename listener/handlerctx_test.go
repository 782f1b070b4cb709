package listener

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/internal/testnet"
)

type ctxKey struct{}

// A handler's ctx behaves as a context.WithCancel of Listen's ctx would: it
// carries its values, contexts made from it end with it, context.AfterFunc
// runs once it is done (and not after stop), and Cause agrees with Err.
func TestHandlerCtx_IsAContext(t *testing.T) {
	type report struct {
		value          any
		childErr       error
		err, cause     error
		stopped, ran   bool
		deadlineIsZero bool
	}
	reports := make(chan report, 1)
	ready := make(chan struct{})
	listenCtx := context.WithValue(testnet.Ctx(t, 10*time.Second), ctxKey{}, "carried")
	srv, err := Listen(listenCtx, "tcp", "127.0.0.1:0", func(ctx context.Context, s *chanstream.Stream) {
		var r report
		r.value = ctx.Value(ctxKey{})
		_, hasDeadline := ctx.Deadline()
		r.deadlineIsZero = !hasDeadline
		child, cancel := context.WithTimeout(ctx, time.Hour)
		defer cancel()
		ran := make(chan struct{})
		context.AfterFunc(ctx, func() { close(ran) })
		never := context.AfterFunc(ctx, func() { t.Error("a stopped AfterFunc ran") })
		r.stopped = never()
		close(ready)
		<-child.Done() // Shutdown
		r.childErr = child.Err()
		r.err, r.cause = ctx.Err(), context.Cause(ctx)
		select {
		case <-ran:
			r.ran = true
		case <-time.After(5 * time.Second):
		}
		reports <- r
	})
	if err != nil {
		t.Fatal(err)
	}
	dialServer(t, srv)
	<-ready
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-reports
	switch {
	case r.value != "carried":
		t.Errorf("Value = %v", r.value)
	case !r.deadlineIsZero:
		t.Error("the handler's ctx has a deadline")
	case !errors.Is(r.childErr, context.Canceled):
		t.Errorf("the child's Err = %v", r.childErr)
	case r.err != context.Canceled || r.cause != context.Canceled:
		t.Errorf("Err = %v, Cause = %v", r.err, r.cause)
	case !r.stopped:
		t.Error("stopping an AfterFunc reported false")
	case !r.ran:
		t.Error("AfterFunc did not run when the ctx ended")
	}
	if err := srv.WaitClosed(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestHandlerCtx_EndsWhenTheHandlerReturnsOrIsAborted(t *testing.T) {
	ended := make(chan error, 2)
	waiting := make(chan struct{})
	srv := serve(t, "tcp", "127.0.0.1:0", func(ctx context.Context, s *chanstream.Stream) {
		context.AfterFunc(ctx, func() { ended <- ctx.Err() })
		line, err := s.ReadLine(ctx)
		if err == nil && string(line) == "return\n" {
			return
		}
		close(waiting)
		<-ctx.Done()
	})
	c := dialServer(t, srv)
	c.Write([]byte("return\n"))
	if err := <-ended; err != context.Canceled {
		t.Fatalf("after the handler returned, Err = %v", err)
	}
	c2 := dialServer(t, srv)
	c2.Write([]byte("wait\n"))
	<-waiting
	srv.AbortClients()
	if err := <-ended; err != context.Canceled {
		t.Fatalf("after AbortClients, Err = %v", err)
	}
}
