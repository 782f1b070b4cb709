// Package relay copies bytes both ways between two connections, as a proxy
// does, until both directions have ended: Tokio's copy_bidirectional for
// chanstream's streams and any net.Conn.
//
// Relay passes on what happens at either end:
//
//   - The end of one direction (its source's EOF) becomes a half-close of the
//     other connection (Stream.WriteEOF, or CloseWrite), and the other
//     direction goes on until its own EOF.
//   - An error in either direction (a reset, a broken pipe, a TLS record
//     cut short) resets both connections, so that each peer sees ECONNRESET
//     rather than an orderly end that would pass a truncated exchange off as
//     a complete one.
//   - A done ctx resets both connections too.
//
// Memory stays bounded by the streams' own limits (a Stream's read limit and
// write watermarks, a 32 KiB buffer per direction between two plain
// connections), whatever the peers do; a peer that stops reading holds back
// the other peer through TCP flow control. Between TCP sockets with nothing
// buffered, the kernel moves the bytes itself (splice), as io.Copy does.
//
//	res, err := relay.Relay(ctx, client, upstream)
//	log.Printf("%d bytes up, %d down: %v", res.AToB, res.BToA, err)
package relay
