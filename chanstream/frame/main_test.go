package frame

import (
	"context"
	"testing"
	"time"

	"github.com/chanstream/chanstream/chanstream/streamtest"
)

func TestMain(m *testing.M) { streamtest.VerifyTestMain(m) }

// testCtx returns a context that ends the test's waits after a bound.
func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}
