// Package reliability is chanstream's hardening suite: tests of what happens
// when the other end misbehaves — resets, half-closes, floods, slow and
// silent peers, panicking handlers, running out of file descriptors —, of
// concurrency, of scale, and of misuse. Each numbered scenario of
// docs/reliability.md is a test here (TestScenarioNN...), and the figures
// the document publishes are the ones they log (lines starting "FIGURE").
//
// Heavy scenarios are skipped with -short; scale scenarios are skipped
// under the race detector and run in their own step of .ci/run.
package reliability
