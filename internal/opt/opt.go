// Package opt holds the machinery behind chanstream.Option, the option type
// that every chanstream package shares.
//
// chanstream.Option is a public struct holding a *Option from here;
// dial.Option, listener.Option and tlsupgrade.Option are aliases of it, so
// a stream option such as chanstream.WithLimit can be passed to dial.Dial or
// listener.Listen next to their own options. Each option records the layers
// it applies to; a function given an option meant for another layer reports
// it instead of ignoring it. chanstream registers the conversions between
// its Option and *Option when it initialises (Register), so that the other
// packages can make and read chanstream.Options through Wrap, Apply and
// Filter.
package opt

import (
	"fmt"
	"strings"
)

// Scope is a set of layers an option applies to.
type Scope uint8

// The layers.
const (
	Stream  Scope = 1 << iota // chanstream.NewStream, NewReader and everything that makes streams
	Dial                      // dial.Dial and friends
	Listen                    // listener.Listen
	Upgrade                   // tlsupgrade.Client and Server
)

// Option is one setting.
type Option struct {
	name  string
	scope Scope
	apply func(*Settings)
}

// New returns an option called name, as the user writes it, for example
// "chanstream.WithLimit(0)", that applies to scope.
func New(name string, scope Scope, apply func(*Settings)) *Option {
	return &Option{name: name, scope: scope, apply: apply}
}

// String returns the option as it was written, for error messages.
func (o *Option) String() string { return o.name }

// Func returns the name of the function that made the option, without its
// arguments: "chanstream.WithLimit".
func (o *Option) Func() string {
	fn, _, _ := strings.Cut(o.name, "(")
	return fn
}

// Settings is the union of every layer's settings. A field is zero when no
// option set it; each layer validates the fields it uses and fills defaults.
type Settings struct {
	Limit    int
	LimitSet bool

	WriteHigh, WriteLow int
	WriteLimitsSet      bool

	// Ext holds the settings of layers above the core, keyed by a type the
	// layer owns, so that this package does not depend on them.
	Ext map[any]any
}

// Layer describes the settings a package above the core keeps in
// Settings.Ext: the scope its options apply to and how to make its settings
// with their defaults. The zero T pointer's type is the key.
type Layer[T any] struct {
	Scope Scope
	New   func() *T
}

// Option returns an option of the layer called name that applies apply to
// the layer's settings.
func (l Layer[T]) Option(name string, apply func(*T)) *Option {
	return New(name, l.Scope, func(s *Settings) { apply(l.Get(s)) })
}

// Get returns the layer's settings in s, made with their defaults on first
// use.
func (l Layer[T]) Get(s *Settings) *T {
	key := (*T)(nil)
	if s.Ext == nil {
		s.Ext = make(map[any]any)
	}
	if v, ok := s.Ext[key]; ok {
		return v.(*T)
	}
	v := l.New()
	s.Ext[key] = v
	return v
}

// The conversions between the public option type and *Option, set by
// Register.
var (
	wrap   func(*Option) any
	unwrap func(any) *Option
)

// Register sets the conversions between the public option type and
// *Option; chanstream calls it when it initialises. unwrap returns nil for
// the zero public option.
func Register(wrapFunc func(*Option) any, unwrapFunc func(any) *Option) {
	wrap, unwrap = wrapFunc, unwrapFunc
}

// Wrap returns o as the public option type P (chanstream.Option).
func Wrap[P any](o *Option) P { return wrap(o).(P) }

// Apply applies opts, of the public option type, in order for the function
// named where (as the user would call it from inside its package: "Dial",
// "NewStream"), whose options are those of scope. An option that does not
// apply to scope is an error naming it and where.
func Apply[P any](scope Scope, where string, opts []P) (Settings, error) {
	var s Settings
	for _, p := range opts {
		o := unwrap(p)
		if o == nil {
			continue
		}
		if o.scope&scope == 0 {
			return s, fmt.Errorf("%s is not an option of %s", o.Func(), where)
		}
		o.apply(&s)
	}
	return s, nil
}

// Filter returns the options of opts that apply to scope.
func Filter[P any](scope Scope, opts []P) []P {
	var out []P
	for _, p := range opts {
		if o := unwrap(p); o != nil && o.scope&scope != 0 {
			out = append(out, p)
		}
	}
	return out
}
