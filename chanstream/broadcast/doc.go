// Package broadcast writes one message to many chanstream streams without
// letting a slow peer hold up the others.
//
// A [Broadcaster] queues each message on every peer with
// [chanstream.Writer.TryWrite], which queues it whole or not at all and
// never blocks. A peer whose queue is full (its write buffer would pass the
// high watermark, see [chanstream.WithWriteBufferLimits]) cannot take the
// message, and the [Broadcaster]'s [Policy] says what happens to it:
//
//   - [Drop]: the message is dropped for that peer and counted in its
//     [PeerStats]; the peer stays and gets the next messages it has room for.
//     Its stream may have gaps, never a message cut in two.
//   - [Disconnect]: the peer leaves the broadcast at once, so that what it
//     receives has no gap, and its stream is closed: gracefully
//     ([chanstream.Stream.Close]) if what it has queued is handed to the
//     kernel within the drain timeout, so that the peer reads every message
//     it was sent and then EOF; else with a reset
//     ([chanstream.Stream.AbortReset]), dropping the rest, so that the peer
//     sees ECONNRESET. The Broadcaster closes the stream, which ends the
//     reads of whoever serves it.
//
// Send costs no goroutine; a disconnection costs one, owned by the
// Broadcaster, for at most the drain timeout.
package broadcast
