package chanstream

import (
	"context"
	"io"
	"net"
	"syscall"
	"time"
)

// The calls in this file hand out no memory: they serve the hottest loops,
// where even one allocation per chunk shows. Results are views into the
// reader's buffers, valid until the next call on the reader, or are copied
// into the caller's buffer; the buffers go back to the pool.

// ReadLineView is [Reader.ReadLine] without the allocation: the line it
// returns is only valid until the next call on the reader (as
// [bufio.Reader.ReadSlice]), and must not be modified. Everything else (the
// limit, EOF, errors) is as ReadLine.
func (r *Reader) ReadLineView(ctx context.Context) ([]byte, error) {
	if r.enter(ctx) {
		if line := r.viewLine(r.limit); line != nil {
			r.end()
			return line, nil
		}
	} else if err := r.beginWait(ctx); err != nil {
		return nil, err
	}
	defer r.end()
	_, end, err := r.readUntil(ctx, newline)
	if err == nil {
		return r.view(end), nil
	}
	if _, ok := err.(*IncompleteReadError); ok && r.buffered > 0 {
		return r.view(r.buffered), nil
	}
	// The rare endings (EOF, the limit, an error) take ReadLine's path.
	return r.lineEnd(err)
}

// ReadExactlyInto reads exactly len(p) bytes into p: [Reader.ReadExactly]
// into the caller's buffer, with no allocation. If the stream ends first, it
// returns how many bytes it read and an [*IncompleteReadError] whose Partial
// is p[:n]. On a done ctx or a passed deadline nothing is consumed (n is 0).
func (r *Reader) ReadExactlyInto(ctx context.Context, p []byte) (int, error) {
	if r.enter(ctx) {
		if len(p) <= r.buffered {
			n := r.copyOut(p)
			r.end()
			return n, nil
		}
	} else if err := r.beginWait(ctx); err != nil {
		return 0, err
	}
	defer r.end()
	if r.buffered < len(p) {
		r.drain()
		for r.buffered < len(p) {
			if r.atEnd {
				if r.buffered == 0 && r.endSeen() != io.EOF {
					return 0, r.endSeen()
				}
				n := r.copyOut(p)
				return n, &IncompleteReadError{Partial: p[:n], Expected: len(p)}
			}
			if err := r.fill(ctx); err != nil {
				return 0, err
			}
		}
	}
	return r.copyOut(p), nil
}

// WriteTo writes the stream's data to w until EOF, with no copy but the one
// into w: the [Reader] is an [io.WriterTo], so io.Copy(w, r) uses it. It
// returns the number of bytes written and nil at EOF, or the error that
// ended the stream or w's error. w must not keep the slices it is given (the
// [io.Writer] rule): their buffers are reused.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	ctx := context.Background()
	if err := r.begin(ctx); err != nil {
		return 0, err
	}
	defer r.end()
	var total int64
	for {
		for len(r.segs) > 0 {
			c := r.segs[0]
			n, err := w.Write(c.bytes())
			total += int64(n)
			r.skip(n)
			if err != nil {
				return total, err
			}
		}
		if r.atEnd {
			if r.endSeen() == io.EOF {
				return total, nil
			}
			return total, r.endSeen()
		}
		if err := r.fill(ctx); err != nil {
			return total, err
		}
	}
}

// ReadFrom writes what it reads from src to the stream until src's EOF: the
// Writer is an [io.ReaderFrom], so io.Copy(w, src) uses it and needs no
// buffer of its own. It returns the number of bytes it took from src and
// wrote or queued, and nil at src's EOF; else the first error: src's, or the
// writer's as Write reports it ([ErrClosed], [ErrWriteAfterEOF], the
// connection's error, an error matching [os.ErrDeadlineExceeded] once the
// write deadline passed). Queued bytes are sent after ReadFrom returns, as a
// Write's are.
//
// ReadFrom is one write call: other write calls wait until it returns, and
// never interleave with its data; [Writer.TryWrite] returns false meanwhile.
// On TCP with nothing queued, it writes to the socket itself, as [io.Copy]
// into the raw connection would: when src is a connection or file the kernel
// can read (a [*net.TCPConn], [*net.UnixConn] or [*os.File], alone or in an
// [*io.LimitedReader]), it hands src to the socket's own ReadFrom, and the
// kernel moves the bytes (splice, sendfile) without their passing through
// the process; else they are copied through one pooled buffer with writes
// that block. Either way [Writer.Stats] counts the bytes as they go, at
// least every 256 KiB. Otherwise (a Unix socket, TLS, data already queued)
// it reads src into the writer's queue, blocking, as Write does, while the
// high watermark is reached.
//
// Close, Abort, [Writer.WriteEOF] and the write deadline end ReadFrom at its
// next write, with the error a Write would then return (a WriteEOF closes
// the write half once ReadFrom has returned); not during a src.Read that
// blocks, which is src's to unblock (close it, or set its read deadline), as
// with io.Copy. Bytes read from src that such an end kept from being written
// or queued are lost.
func (w *Writer) ReadFrom(src io.Reader) (int64, error) {
	ctx := context.Background()
	if err := w.doneErr(ctx); err != nil {
		return 0, err
	}
	if err := w.lockGate(ctx); err != nil {
		return 0, err
	}
	defer w.gate.unlock(0)
	// A WriteEOF ends ReadFrom, as it fails a Write: eofAsked wakes it.
	w.mu.Lock()
	eofAsked := make(chan struct{})
	w.queueLocked().eofAsked = eofAsked
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.q.eofAsked = nil
		w.mu.Unlock()
	}()
	var total int64
	var b *wbuf // the buffer src is read into; given to the queue when filled far enough
	defer func() {
		if b != nil {
			putWbuf(b)
		}
	}()
	for {
		w.mu.Lock()
		if err := w.stateErrLocked(); err != nil {
			w.mu.Unlock()
			return total, err
		}
		if w.deadline.expired.Load() {
			w.mu.Unlock()
			return total, errDeadline
		}
		if w.pending == 0 && !w.busy && w.run != nil && w.run.isSocket() {
			if _, ok := w.run.conn.(io.ReaderFrom); ok {
				// Keep the pump off while this goroutine writes the
				// socket: a WriteEOF or Close that comes meanwhile is
				// carried out after.
				w.busy = true
				n, err := w.writeSocketFrom(w.run, src, eofAsked)
				return total + n, err
			}
		}
		if w.pending > 0 && w.pending >= w.high {
			if err := w.waitSpaceLocked(ctx, eofAsked); err != nil {
				return total, err
			}
			continue
		}
		room := max(w.high-w.pending, minPiece)
		w.mu.Unlock()

		if b == nil {
			b = wbufPool.Get().(*wbuf)
		}
		n, err := src.Read(b.buf[:min(room, len(b.buf))])
		if n > 0 {
			w.mu.Lock()
			if serr := w.stateErrLocked(); serr != nil {
				w.mu.Unlock()
				return total, serr
			}
			q := w.queueLocked()
			if k := len(q.bufs); k > 0 && len(q.bufs[k-1].buf)-q.bufs[k-1].w >= n {
				w.enqueueLocked(b.buf[:n]) // a short read: into the last buffer
			} else {
				b.w = n
				q.bufs = append(q.bufs, b)
				w.pending += n
				b = nil
			}
			w.kickLocked()
			w.mu.Unlock()
			total += int64(n)
		}
		switch {
		case err == io.EOF:
			return total, nil
		case err != nil:
			return total, err
		}
	}
}

// writeSocketFrom is ReadFrom's path straight to a TCP socket. It is
// called with w.mu held and w.busy set for it, and releases the lock.
// eofAsked is closed by a WriteEOF.
//
// The stream's write deadline, WriteEOF and Close act on channels, not on
// the socket: while this goroutine writes the socket, a goroutine owned by
// this call turns them into a socket write deadline in the past, which ends
// the write.
func (w *Writer) writeSocketFrom(a *attachment, src io.Reader, eofAsked <-chan struct{}) (int64, error) {
	closed := w.closedChanLocked()
	w.mu.Unlock()
	expired := w.deadline.done()
	stop, stopped := make(chan struct{}), make(chan struct{})
	var interrupted error // written by the watcher before stopped is closed
	go func() {
		defer close(stopped)
		select {
		case <-stop:
			return
		case <-closed:
			interrupted = ErrClosed
		case <-eofAsked:
			interrupted = ErrWriteAfterEOF
		case <-expired:
			interrupted = errDeadline
		}
		a.conn.SetWriteDeadline(longAgo)
	}()
	var n int64
	var err error
	if kernelCanRead(src) {
		n, err = w.spliceFrom(a.conn.(io.ReaderFrom), src)
	} else {
		n, err = w.copyToConn(a.conn, src)
	}
	close(stop)
	<-stopped
	if interrupted != nil {
		a.conn.SetWriteDeadline(time.Time{})
		if err != nil {
			err = interrupted
		}
	}

	w.mu.Lock()
	w.busy = false
	w.kickLocked() // carries out a WriteEOF or Close that came meanwhile
	w.mu.Unlock()
	return n, err
}

// splicePiece is how much spliceFrom hands the socket's ReadFrom at a time,
// so that the bytes written are counted as they go.
const splicePiece = 256 << 10

// spliceFrom hands src to the socket's ReadFrom, splicePiece bytes at a
// time, until src's EOF.
func (w *Writer) spliceFrom(rf io.ReaderFrom, src io.Reader) (int64, error) {
	remain := int64(1<<63 - 1)
	outer, limited := src.(*io.LimitedReader)
	if limited {
		src, remain = outer.R, outer.N
	}
	piece := &io.LimitedReader{R: src} // what the socket's ReadFrom recognises
	var total int64
	for remain > 0 {
		want := min(remain, splicePiece)
		piece.N = want
		n, err := rf.ReadFrom(piece)
		total += n
		remain -= n
		if limited {
			outer.N -= n
		}
		w.written.Add(n)
		if err != nil || n < want {
			return total, err // n < want: src's EOF
		}
	}
	return total, nil
}

// copyToConn copies src to conn through a pooled buffer, with writes that
// block, until src's EOF. The piece being written counts as buffered (in
// Buffered, Stats and for Drain) until the write returns.
func (w *Writer) copyToConn(conn net.Conn, src io.Reader) (int64, error) {
	b := wbufPool.Get().(*wbuf)
	defer putWbuf(b)
	var total int64
	for {
		n, err := src.Read(b.buf)
		if n > 0 {
			w.mu.Lock()
			w.pending += n
			w.mu.Unlock()
			k, werr := conn.Write(b.buf[:n])
			total += int64(k)
			w.mu.Lock()
			if w.state != writeClosed && w.err == nil {
				w.pending -= n // else Abort or a break dropped it with the queue
			}
			w.written.Add(int64(k))
			w.signalLocked()
			w.mu.Unlock()
			if werr != nil {
				return total, werr
			}
		}
		switch {
		case err == io.EOF:
			return total, nil
		case err != nil:
			return total, err
		}
	}
}

// kernelCanRead reports whether the kernel can read src itself, so that a
// socket's ReadFrom can splice or sendfile from it: src, or the reader of
// an *io.LimitedReader, has a SyscallConn. (The wrapper TCPConn.WriteTo
// hands io.Copy has one too.)
func kernelCanRead(src io.Reader) bool {
	if lr, ok := src.(*io.LimitedReader); ok {
		src = lr.R
	}
	_, ok := src.(syscall.Conn)
	return ok
}
