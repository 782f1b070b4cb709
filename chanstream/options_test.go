package chanstream

import (
	"testing"

	"github.com/chanstream/chanstream/internal/opt"
)

// TestOptions_OfAnotherPackage checks that NewStream, NewReader and
// CheckOptions name an option of another package and themselves, in the
// words the caller wrote.
func TestOptions_OfAnotherPackage(t *testing.T) {
	foreign := opt.Wrap[Option](opt.New("dial.WithTLS(...)", opt.Dial, func(*opt.Settings) {}))
	if err := CheckOptions(WithLimit(1), foreign); err == nil || err.Error() != "chanstream: dial.WithTLS is not an option of NewStream" {
		t.Errorf("CheckOptions = %v", err)
	}
	defer func() {
		r := recover()
		if err, ok := r.(error); !ok || err.Error() != "chanstream: dial.WithTLS is not an option of NewReader" {
			t.Errorf("NewReader panicked with %v", r)
		}
	}()
	NewReader(foreign)
}

// TestOption_ZeroAndString checks that the zero Option does nothing and
// that an Option prints as it was written.
func TestOption_ZeroAndString(t *testing.T) {
	if err := CheckOptions(Option{}, WithLimit(3)); err != nil {
		t.Errorf("CheckOptions with a zero Option = %v", err)
	}
	for _, tc := range []struct {
		o    Option
		want string
	}{
		{WithLimit(3), "chanstream.WithLimit(3)"},
		{WithWriteBufferLimits(8, 2), "chanstream.WithWriteBufferLimits(8, 2)"},
		{Option{}, "chanstream.Option{}"},
	} {
		if got := tc.o.String(); got != tc.want {
			t.Errorf("String() = %q; want %q", got, tc.want)
		}
	}
}
