package frame

import (
	"context"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream/streamtest"
)

// TestMain fails the package's tests on a leaked goroutine: goleak, through
// streamtest.VerifyTestMain, which first waits for chanstream's own to end.
func TestMain(m *testing.M) { streamtest.VerifyTestMain(m) }

// testCtx returns a context that ends the test's waits after a bound.
func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}
