// Package chanstream brings Python asyncio's Streams to Go in the CSP style.
//
// A [Stream] wraps a [net.Conn]. A read pump goroutine moves the
// connection's bytes into a bounded channel of chunks, and a write pump
// drains a write queue with one writev at a time, so a stream holds a
// bounded amount of memory whatever the peer does: the read pump stops
// reading once the channel is full, and TCP flow control holds back the
// peer; a writer blocks once the queued bytes reach the high watermark. The
// pumps run only while there is work for them: on a TCP or Unix socket, a
// read call that waits for data reads the socket itself, and a Write with
// nothing queued before it writes to the socket at once, so an idle stream
// whose reader waits costs no goroutine of its own and holds no buffer.
//
// The read methods are asyncio's, with a ctx: ReadChunk is read(n), ReadLine
// is readline(), ReadUntil is readuntil(), ReadExactly is readexactly(), and
// AtEOF is at_eof(). The write methods are Write (write, with drain's
// backpressure built in), WriteLines, Drain, WriteEOF, Close, WaitClosed and
// Abort. Errors follow asyncio's: [*LimitOverrunError],
// [*IncompleteReadError], and [io.EOF] where Go expects it. docs/asyncio.md
// maps every asyncio member to its Go counterpart.
//
// Where Go idiom or robustness calls for it, chanstream goes beyond asyncio:
// buffered data is always returned before a stored error; a done ctx or an
// expired deadline returns at once without consuming anything; reads and
// writes may be called from several goroutines (each call is served whole);
// a [*Stream] is a net.Conn, with deadlines that act on the channel selects;
// and a [Reader] can be consumed as a channel in a select
// ([Reader.LineChan], [Reader.ChunkChan]) and a [Writer] fed from one
// ([Writer.WriteFrom]).
//
// A standalone Reader ([NewReader]) is fed by hand with Feed and FeedEOF, as
// asyncio's StreamReader() with feed_data() and feed_eof(); it is handy for
// parsing bytes that come from elsewhere.
//
//	r := chanstream.NewReader()
//	r.Feed(ctx, []byte("HELO there\r\nDATA"))
//	r.FeedEOF()
//	line, _ := r.ReadUntil(ctx, []byte("\r\n")) // "HELO there\r\n"
//	rest, _ := r.ReadChunk(ctx, -1)            // "DATA"
//
// The dial and listener packages make streams from addresses
// (asyncio's open_connection and start_server).
package chanstream
