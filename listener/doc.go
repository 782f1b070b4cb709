// Package listener serves streams: asyncio's start_server and
// start_unix_server (Listen), their sock= parameter ([FromListener],
// [FromFile]), and asyncio.Server's lifecycle (Start, Serve, Close,
// CloseClients, AbortClients, Shutdown, WaitClosed).
//
//	// ctx ends the serving: signal.NotifyContext(ctx, os.Interrupt), say.
//	srv, err := listener.Listen(ctx, "tcp", "127.0.0.1:8888",
//		func(ctx context.Context, s *chanstream.Stream) {
//			for line, err := range s.Lines(ctx) {
//				if err != nil {
//					return
//				}
//				s.Write(line)
//			}
//		})
//	if err != nil {
//		return err
//	}
//	err = srv.Serve(ctx) // until ctx is done; the server then stops listening
//	// The grace period starts now, so its ctx is made now, and not from
//	// ctx, which is done: a timeout started before Serve runs out while
//	// serving, and Shutdown would then abort every connection at once.
//	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
//	defer cancel()
//	srv.Shutdown(shutdownCtx)
//	return err
//
// ExampleServer_Shutdown runs this.
//
// Each connection's handler runs in its own goroutine owned by the server;
// when it returns, the server closes the stream gracefully. A handler that
// panics loses only its own connection, and the panic (value and stack) is
// logged. Shutdown is modelled on net/http.Server's: stop listening, cancel
// the handlers' ctx, wait until ctx ends, abort what is left.
//
// Beyond asyncio, for servers on the internet: [WithMaxConns] caps the
// connections served at once (counting TLS handshakes), [WithIdleTimeout]
// and [WithFirstByteTimeout] evict slowloris peers, and [Server.Stats]
// counts what happened. docs/dial-listener.md maps every asyncio parameter.
package listener
