// Package hooks lets chanstream's own tests in other packages reach into a
// Reader: chanstream registers the functions here when it initialises.
// Nothing outside this module can import it.
package hooks

// SetWaitHook makes f run each time the reader (a *chanstream.Reader) is
// about to wait for data; nil removes it.
var SetWaitHook func(reader any, f func())
