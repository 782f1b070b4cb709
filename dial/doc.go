// Package dial makes streams from addresses and existing connections:
// asyncio's open_connection and open_unix_connection (Dial), their sock=
// parameter ([FromConn], [FromFile]), and socket.socketpair() (Pipe).
//
//	s, err := dial.Dial(ctx, "tcp", "127.0.0.1:8888", chanstream.WithLimit(1<<20))
//	if err != nil {
//		return err
//	}
//	defer s.Close()
//
// Every option of asyncio's open_connection has a counterpart (see
// docs/dial-listener.md): limit= is chanstream.WithLimit, ssl= [WithTLS],
// server_hostname= [WithServerName], ssl_handshake_timeout= and
// ssl_shutdown_timeout= [WithTLSHandshakeTimeout] and
// [WithTLSShutdownTimeout], local_addr= [WithLocalAddr], family=
// [WithFamily], happy_eyeballs_delay= [WithHappyEyeballs] and interleave=
// [WithInterleave].
package dial
