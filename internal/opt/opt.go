// Package opt holds the option type that every chanstream package shares.
//
// chanstream.Option, dial.Option, listener.Option and tlsupgrade.Option are
// all aliases of Option, so a stream option such as chanstream.WithLimit can
// be passed to dial.Dial or listener.Listen next to their own options. Each
// option records the layers it applies to; a function given an option meant
// for another layer reports it instead of ignoring it.
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

func (s Scope) String() string {
	var names []string
	for _, l := range []struct {
		s    Scope
		name string
	}{{Stream, "stream"}, {Dial, "dial"}, {Listen, "listener"}, {Upgrade, "tlsupgrade"}} {
		if s&l.s != 0 {
			names = append(names, l.name)
		}
	}
	return strings.Join(names, "|")
}

// Option is one setting. The zero Option does nothing.
type Option struct {
	name  string
	scope Scope
	apply func(*Settings)
}

// New returns an option called name (as the user writes it, for example
// "chanstream.WithLimit(0)") that applies to scope.
func New(name string, scope Scope, apply func(*Settings)) Option {
	return Option{name: name, scope: scope, apply: apply}
}

// String returns the option as it was written, for error messages.
func (o Option) String() string { return o.name }

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
func (l Layer[T]) Option(name string, apply func(*T)) Option {
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

// Apply applies opts in order for a function of layer scope. An option that
// does not apply to scope is an error naming it.
func Apply(scope Scope, opts []Option) (Settings, error) {
	var s Settings
	for _, o := range opts {
		if o.apply == nil {
			continue
		}
		if o.scope&scope == 0 {
			return s, fmt.Errorf("option %s applies to %s, not to %s", o.name, o.scope, scope)
		}
		o.apply(&s)
	}
	return s, nil
}

// Filter returns the options of opts that apply to scope.
func Filter(scope Scope, opts []Option) []Option {
	var out []Option
	for _, o := range opts {
		if o.scope&scope != 0 {
			out = append(out, o)
		}
	}
	return out
}
