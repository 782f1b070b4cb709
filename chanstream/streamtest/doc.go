// Package streamtest is a test kit for programs built on chanstream, and for
// any code that speaks a protocol over a [net.Conn]:
//
//   - Pairs: [Pipe], an in-memory connection with a socket's buffering,
//     half-close and deadlines; [SocketPair], [TCPPair], and [TLSPair]
//     over any of them. Each is closed when the test ends.
//   - A scripted peer ([NewScript]): a net.Conn that plays a script of
//     what the code under test will read and what it must write, and fails
//     the test with a readable diff when the code writes something else.
//   - Fault injection ([Inject]): a net.Conn wrapper that cuts reads into
//     pieces, adds latency, caps bandwidth, ends or resets the connection
//     after so many bytes, or stalls it, deterministically from a seed.
//   - Conformance: [TestConn] checks that a net.Conn behaves as one
//     should, and [TestStream] that a chanstream.Stream over a user's
//     connection keeps chanstream's guarantees.
//   - Leak checks: [VerifyTestMain] and [VerifyNone] wrap goleak and wait
//     for chanstream's own goroutines to finish, so tests need no ignore
//     lists.
//   - Helpers: [ServeScript] plays a script as the server a client dials;
//     [CloseStreams] closes streams and waits, within a bound, until they
//     have finished; [Buffer] holds a program's output while it runs.
//
// A test of a line-based handler, with the peer played by a script:
//
//	func TestGreeting(t *testing.T) {
//		streamtest.VerifyNone(t) // checked at the end of the test
//		peer := streamtest.NewScript(t).
//			Send("HELO there\r\n").  // what the handler reads
//			Expect("250 hello\r\n"). // what it must write
//			SendEOF()
//		s := chanstream.NewStream(peer)
//		defer s.Close()
//		handle(ctx, s)
//	}
//
// Everything here uses only the standard library and goleak.
package streamtest
