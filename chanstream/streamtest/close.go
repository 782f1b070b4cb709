package streamtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream"
)

// CloseWait is how long CloseStreams waits for a stream to finish closing.
const CloseWait = 10 * time.Second

// CloseStreams closes the streams (Close, so that what they queued is still
// sent), then waits up to CloseWait for each to finish closing. A stream
// that has not finished by then fails the test, naming its place in the
// list, and is aborted. It returns what the streams' WaitClosed returned,
// joined: nil when every connection ended cleanly, else the resets and
// failed writes they met, which a test may check or ignore.
//
// Call it at the end of a test, deferred or from t.Cleanup:
//
//	defer streamtest.CloseStreams(t, s)
func CloseStreams(t testing.TB, streams ...*chanstream.Stream) error {
	t.Helper()
	for _, s := range streams {
		s.Close()
	}
	var errs []error
	for i, s := range streams {
		ctx, cancel := context.WithTimeout(context.Background(), CloseWait)
		err := s.WaitClosed(ctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			t.Errorf("streamtest.CloseStreams: stream %d did not finish closing in %v", i, CloseWait)
			s.Abort()
			continue
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
