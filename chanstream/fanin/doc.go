// Package fanin merges what a changing set of chanstream readers deliver into
// one channel, so that a server's clients, which come and go, can be received
// in one select next to tickers and ctx.Done().
//
// A [Fanin] reads each stream with a read function ([ReadLine], [ReadChunk],
// or one of the caller's own, such as a frame decoder) and sends every value
// on [Fanin.C] as a [Msg] tagged with the key the caller chose for the
// stream. The end of a stream is delivered in band: a [Msg] whose Err is
// [io.EOF], or the error that ended the stream; the stream then leaves the
// set. Streams join with [Fanin.Serve] or [Fanin.Add] and leave with
// [Fanin.Remove] while the fan-in runs; [Fanin.Stop] ends it.
//
// [Lines] delivers one line per [Msg]; [LineBatches] delivers, per Msg, the
// lines of one stream that had arrived when it was read (up to [MaxBatch]).
// With busy streams the consumer then receives once per batch rather than
// once per line, which costs it, and the streams' loops, less than a
// hand-written fan-in of single lines does.
//
// # What it costs
//
// Serve runs the stream's reading loop in the goroutine that calls it, until
// the stream ends or leaves: a listener handler that calls Serve costs no
// goroutine beyond the handler's own. Add starts one goroutine per stream,
// owned by the [Fanin] and joined by Remove and Stop. Neither starts a
// chanstream Receiver: the loop calls the read function directly, so an idle
// stream waits in its read on the socket's poller and holds no buffer.
//
// # Nothing lost
//
// A read is cancelled (consuming nothing) when its stream leaves or the
// fan-in stops. Each stream's loop holds at most one value read but not yet
// put in C, and hands it back to whoever ended the loop: [Fanin.Remove] and
// [Fanin.Stop] return it, and so does Serve when its own ctx ends it. Stop
// also returns what C still held. That value comes before whatever the stream
// still buffers, so the stream's next read returns the value after it: no
// value is lost or delivered twice, and each stream's values arrive in order.
//
// C's buffer (see [New]) trades that accounting for speed: with buffer 0 a
// value is read from a stream only once the last one was received, so what
// Remove returns is all that was read and not received; with a buffer, the
// streams read ahead, and values of a removed stream already in C are still
// received after Remove. With [DefaultBuffer] the consumer takes many values
// per wake-up, as from a hand-written fan-in's shared channel.
package fanin
