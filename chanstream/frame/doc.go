// Package frame reads and writes messages on chanstream streams: typed
// frames, delivered on channels.
//
// A [Decoder] reads one message from a *chanstream.Reader with the reader's
// own read calls, so the reader's limit, its cancel-safety (a done ctx
// consumes nothing) and its *chanstream.IncompleteReadError apply to frames
// too. An [Encoder] appends one message's frame to a buffer; [Write] queues
// one frame on a *chanstream.Writer, whole. A [Codec] is both.
//
// [Receiver] delivers decoded messages on a channel, for a select, and gives
// back on Stop what it decoded that nobody received; [Send] drains a channel
// of messages into a Writer, a burst in one write.
//
// The ready codecs frame []byte: [NewLines] and [NewDelimited] (frames ended
// by a delimiter, limited by the reader's limit), [NewLengthPrefixed] and
// [NewUvarintPrefixed] (a length field, then the body, with a maximum size),
// and [NewFixed]. Each says what a truncated stream gives; in short, the
// stream ending between frames gives [io.EOF], and ending inside one gives
// an error matching [io.ErrUnexpectedEOF], a *chanstream.IncompleteReadError
// with the bytes that arrived. A frame over the maximum gives a
// [*FrameTooLargeError] ([ErrFrameTooLarge]), and the stream stays in sync:
// the next Decode skips that frame. A typed codec wraps one of these: decode
// the []byte, then unmarshal it (see examples/framed).
//
// A decoder that reads a frame in several calls (a length, then a body)
// keeps what it has read when ctx ends the second call, and completes the
// frame on its next Decode: nothing is lost, but the decoder then belongs to
// that reader. Make one decoder per reader; encoders have no state.
//
//	codec, _ := frame.NewLengthPrefixed(4, binary.BigEndian, 1<<20)
//	rc := frame.NewReceiver(ctx, stream.Reader(), codec)
//	defer rc.Stop()
//	for msg := range rc.C {
//		// handle msg
//	}
//	if err := rc.Err(); err != io.EOF {
//		// handle err
//	}
package frame
