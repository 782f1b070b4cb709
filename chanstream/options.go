package chanstream

import (
	"fmt"
	"time"

	"github.com/chanstream/chanstream/internal/opt"
)

// DefaultLimit is the default buffer limit of a [Reader], as asyncio's
// streams._DEFAULT_LIMIT: the longest line or separated record ReadLine and
// ReadUntil return, and half of what the read pump buffers for a reader that
// does not read.
const DefaultLimit = 64 * 1024

// The default write-buffer watermarks, as asyncio's transports.
const (
	DefaultWriteHigh = 64 * 1024
	DefaultWriteLow  = DefaultWriteHigh / 4
)

// Option configures a [Reader], [Writer] or [Stream]. It is also the option
// type of dial, listener and tlsupgrade (their Option is this type), so
// stream options such as [WithLimit] may be passed wherever streams are
// made, next to that package's own options. Options are checked where they
// are used, not where they are made: a function given an option of another
// package fails with an error that names both, such as "listener.WithBacklog
// is not an option of Dial". The zero Option does nothing.
type Option struct {
	o *opt.Option
}

// String returns the option as it was written, such as
// "chanstream.WithLimit(0)".
func (o Option) String() string {
	if o.o == nil {
		return "chanstream.Option{}"
	}
	return o.o.String()
}

func init() {
	opt.Register(
		func(o *opt.Option) any { return Option{o} },
		func(p any) *opt.Option { return p.(Option).o },
	)
}

// WithLimit sets the buffer limit (asyncio's limit=): ReadLine and ReadUntil
// fail with an error matching [ErrLimitOverrun] when a record is longer, and
// the read pump stops reading from the connection once about twice this many
// bytes are waiting to be read. n must be positive. The default is
// [DefaultLimit].
func WithLimit(n int) Option {
	return Option{opt.New(fmt.Sprintf("chanstream.WithLimit(%d)", n), opt.Stream, func(s *opt.Settings) {
		s.Limit, s.LimitSet = n, true
	})}
}

// WithWriteBufferLimits sets the write-buffer watermarks (asyncio's
// transport.set_write_buffer_limits): Write blocks while high or more bytes
// are queued but unsent, and Drain waits until no more than low are. They
// must satisfy high >= low >= 0; high == 0 makes every Write wait until the
// data queued before it has been sent. The defaults are [DefaultWriteHigh]
// and [DefaultWriteLow].
func WithWriteBufferLimits(high, low int) Option {
	return Option{opt.New(fmt.Sprintf("chanstream.WithWriteBufferLimits(%d, %d)", high, low), opt.Stream, func(s *opt.Settings) {
		s.WriteHigh, s.WriteLow, s.WriteLimitsSet = high, low, true
	})}
}

// DefaultTLSShutdownTimeout is how long closing a TLS 1.3 stream waits for
// the peer's close_notify, as asyncio's ssl_shutdown_timeout (a TLS 1.2
// stream closes without waiting, as RFC 5246 §7.2.1 allows): for a stream made
// over a *tls.Conn, and for the streams that tlsupgrade, dial and listener
// make unless their WithTLSShutdownTimeout says otherwise.
const DefaultTLSShutdownTimeout = 30 * time.Second

// config is a validated set of stream settings.
type config struct {
	limit     int
	writeHigh int
	writeLow  int
}

// newConfig validates opts for the function named where.
func newConfig(where string, opts []Option) (config, error) {
	s, err := opt.Apply(opt.Stream, where, opts)
	if err != nil {
		return config{}, fmt.Errorf("chanstream: %w", err)
	}
	return configFromSettings(s)
}

func configFromSettings(s opt.Settings) (config, error) {
	c := config{limit: DefaultLimit, writeHigh: DefaultWriteHigh, writeLow: DefaultWriteLow}
	if s.LimitSet {
		if s.Limit <= 0 {
			return c, fmt.Errorf("chanstream: WithLimit(%d): the limit must be positive", s.Limit)
		}
		c.limit = s.Limit
	}
	if s.WriteLimitsSet {
		if !(s.WriteHigh >= s.WriteLow && s.WriteLow >= 0) {
			return c, fmt.Errorf("chanstream: WithWriteBufferLimits(%d, %d): need high >= low >= 0", s.WriteHigh, s.WriteLow)
		}
		c.writeHigh, c.writeLow = s.WriteHigh, s.WriteLow
	}
	return c, nil
}

// CheckOptions reports whether opts are valid for [NewStream] and
// [NewReader], with the error they would panic with. dial and listener call
// it so that they can return the error instead.
func CheckOptions(opts ...Option) error {
	_, err := newConfig("NewStream", opts)
	return err
}

func mustConfig(where string, opts []Option) config {
	c, err := newConfig(where, opts)
	if err != nil {
		panic(err)
	}
	return c
}
