// Package tlsupgrade upgrades a live chanstream.Stream to TLS in place:
// asyncio's StreamWriter.start_tls, for protocols that start in plain text
// and switch (SMTP, IMAP, POP3, XMPP, PostgreSQL, LDAP).
//
//	line, _ := s.ReadLine(ctx) // "STARTTLS\r\n"
//	s.Write([]byte("220 Ready to start TLS\r\n"))
//	if err := tlsupgrade.Server(ctx, s, cfg); err != nil {
//		return err // the stream is closed
//	}
//	// s now reads and writes through TLS.
//
// The upgrade loses nothing: the data queued before it is sent first, and
// the bytes the stream had already received but not handed out (a peer may
// send its ClientHello right behind the command) are fed to the TLS layer
// before anything more is read from the socket. The Stream, its Reader and
// its Writer stay the same values.
//
// Beyond asyncio: on TLS 1.3, close_notify closes one direction only (RFC
// 8446 §6.1), so CanWriteEOF is true and WriteEOF sends close_notify while
// reading goes on; on TLS 1.2 it is false. A connection that ends without
// close_notify is reported as [ErrTruncated], not [io.EOF]. Close sends
// close_notify; on TLS 1.3 it then waits for the peer's, for at most the
// shutdown timeout.
// docs/tls.md has the details.
package tlsupgrade
