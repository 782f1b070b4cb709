package chanstream

// Stats are a stream's counters. Reading them takes no lock on the read
// path and one short lock on the write path, so they can be read on every
// request.
type Stats struct {
	BytesRead     int64 // bytes received from the connection (or fed)
	BytesWritten  int64 // bytes written to the connection
	ReadBuffered  int   // bytes received but not yet read by the caller
	WriteBuffered int   // bytes queued but not yet written
	WriteWaits    int64 // times a write waited at the high watermark
	LimitErrors   int64 // LimitOverrunErrors returned by ReadUntil and ReadLine

	// ReadPaused reports that the read pump is holding back because the
	// chunk channel is full (asyncio's paused transport): the reader, not
	// the peer, is behind. The channel holds a number of chunks, each as
	// one read of the connection delivered it (with the default limit,
	// one), so the pump may pause with few bytes buffered when they came
	// in small pieces. The chunk it holds meanwhile was received: it is
	// counted in BytesRead and ReadBuffered.
	ReadPaused bool
}

// Stats returns the reader's counters (the write fields are zero).
func (r *Reader) Stats() Stats {
	consumed := r.consumedBytes() // first: it never passes received
	received := r.received.Load()
	cc := r.chunks.Load()
	return Stats{
		BytesRead:    received,
		ReadBuffered: int(received - consumed),
		LimitErrors:  r.limitErrors.Load(),
		ReadPaused:   cc != nil && cc.roomWaiters.Load() > 0,
	}
}

// Stats returns the writer's counters (the read fields are zero).
// BytesWritten and WriteBuffered are taken together: the bytes the write
// pump sends move from one to the other at once, so that their sum counts
// every byte handed to the writer and not dropped.
func (w *Writer) Stats() Stats {
	w.mu.Lock()
	st := Stats{
		BytesWritten:  w.written.Load(),
		WriteBuffered: w.pending,
		WriteWaits:    w.waits.Load(),
	}
	w.mu.Unlock()
	return st
}
