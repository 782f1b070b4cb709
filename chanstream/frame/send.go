package frame

import (
	"context"

	"github.com/chanstream/chanstream/chanstream"
)

// Send's batches: up to sendBatchLen messages and, past one, as many as fit
// in sendBatchBytes bytes of frames.
const (
	sendBatchLen   = 64
	sendBatchBytes = 64 * 1024
)

// Send encodes every message received from ch and writes its frame to w, in
// order, until ch is closed; it then returns nil, nil. It is
// [chanstream.Writer.WriteFrom] for messages: the messages waiting in ch when
// it takes one are encoded together and queued as one write, so that a burst
// costs one hand-off to the writer. Each frame is queued whole, as by
// [Write].
//
// Send stops early when ctx is done, when Encode fails, or when the writer
// fails (ErrClosed, the connection's error, the write deadline). It then
// returns the messages it took from ch but did not queue, in order, and the
// error: nothing taken is lost. Messages queued before are still sent. With
// [ErrPartialFrame] (ctx ended a write larger than the writer's watermarks
// leave room for), the first message returned is the one whose frame was
// cut: the stream is out of frame and should be closed.
func Send[T any](ctx context.Context, w *chanstream.Writer, enc Encoder[T], ch <-chan T) ([]T, error) {
	var (
		batch []T
		ends  []int // where each message's frame ends in buf
		buf   []byte
	)
	for {
		var v T
		ok := true
		select {
		case v, ok = <-ch:
		default:
			select {
			case v, ok = <-ch:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if !ok {
			return nil, nil
		}
		batch = append(batch[:0], v)
		clear(batch[1:cap(batch)])
	more:
		for len(batch) < sendBatchLen && len(buf) < sendBatchBytes {
			select {
			case v, more := <-ch:
				if !more {
					ok = false
					break more
				}
				batch = append(batch, v)
			default:
				break more
			}
		}
		buf, ends = buf[:0], ends[:0]
		var encErr error
		for _, v := range batch {
			var err error
			if buf, err = enc.Encode(buf, v); err != nil {
				encErr = err
				break
			}
			ends = append(ends, len(buf))
		}
		if len(buf) > 0 {
			n, err := writeWhole(ctx, w, buf)
			if err != nil {
				i := 0
				for i < len(ends) && ends[i] <= n {
					i++
				}
				if i < len(ends) && n > 0 && (i == 0 || ends[i-1] < n) {
					err = joinPartial(err)
				}
				return append([]T(nil), batch[i:]...), err
			}
		}
		if encErr != nil {
			return append([]T(nil), batch[len(ends):]...), encErr
		}
		if !ok {
			return nil, nil
		}
		if cap(buf) > 4*sendBatchBytes {
			buf = nil
		}
	}
}
