package streamtest

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// LeakWait is how long [VerifyNone] and [VerifyTestMain] wait for
// chanstream's goroutines to finish before they report them.
const LeakWait = 10 * time.Second

// leakWait is LeakWait; the package's tests shorten it.
var leakWait = LeakWait

// ownPrefix begins the name of every function of chanstream's packages
// (chanstream, dial, listener, tlsupgrade, this one and what they run
// internally).
const ownPrefix = "github.com/chanstream/chanstream/"

// VerifyNone checks at the end of the test, after the test's other
// cleanups have run (so after the pairs and scripts of this package are
// closed), that the test left no goroutine running; call it first in the
// test. Goroutines that were running when it was called are not counted.
//
// A goroutine that runs chanstream's code, such as the pumps, watch timers
// and Receivers of a stream that was closed but has not finished closing, is
// given up to [LeakWait] to finish; any other is reported after goleak's own
// retries (about half a second). So a test that closes its streams without
// waiting for WaitClosed needs no ignore list. The leaks are reported with
// t.Error. opts are goleak's (IgnoreTopFunction, IgnoreAnyFunction, ...),
// but not [goleak.Cleanup].
func VerifyNone(t testing.TB, opts ...goleak.Option) {
	t.Helper()
	opts = append([]goleak.Option{goleak.IgnoreCurrent()}, opts...)
	t.Cleanup(func() {
		t.Helper()
		if err := findLeaks(opts); err != nil {
			t.Error(err)
		}
	})
}

// VerifyTestMain runs the tests, then, if they passed, checks that they
// left no goroutine running, waiting for chanstream's own as [VerifyNone]
// does; it exits with the tests' status, or 1 if there is a leak (which it
// prints). Call it as the whole of TestMain:
//
//	func TestMain(m *testing.M) { streamtest.VerifyTestMain(m) }
func VerifyTestMain(m *testing.M, opts ...goleak.Option) {
	code := m.Run()
	if code == 0 {
		if err := findLeaks(opts); err != nil {
			fmt.Fprintf(os.Stderr, "streamtest: goroutines left after the tests passed: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// findLeaks runs goleak.Find until it finds nothing, or finds only
// goroutines that run none of chanstream's code, or leakWait has passed.
func findLeaks(opts []goleak.Option) error {
	deadline := time.Now().Add(leakWait)
	for {
		err := goleak.Find(opts...)
		if err == nil || !runsOwnCode(err.Error()) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// runsOwnCode reports whether a goroutine in goleak's report runs
// chanstream's code: a function of its packages is in a stack, not merely
// where the goroutine was created.
func runsOwnCode(report string) bool {
	for _, line := range strings.Split(report, "\n") {
		if strings.HasPrefix(strings.TrimLeft(line, "[ "), ownPrefix) {
			return true
		}
	}
	return false
}
