package main

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/listener"
)

// serveChanstream serves the protocol with listener.Listen. The handlers use
// the calls an asyncio user would (ReadChunk, ReadLine, ReadExactly, Write +
// Drain), or with zeroCopy the calls that hand out no memory.
func serveChanstream(addr string, config *tls.Config, zeroCopy bool) (net.Addr, func(), error) {
	opts := []listener.Option{listener.WithBacklog(4096)}
	if config != nil {
		opts = append(opts, listener.WithTLS(config))
	}
	h := chanstreamHandler
	if zeroCopy {
		h = zeroCopyHandler
	}
	srv, err := listener.Listen(context.Background(), "tcp", addr, h, opts...)
	if err != nil {
		return nil, nil, err
	}
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}
	return srv.Addrs()[0], stop, nil
}

// chanstreamHandler serves one connection as asyncio's Streams would.
func chanstreamHandler(ctx context.Context, s *chanstream.Stream) {
	kind, err := s.ReadExactly(ctx, 1)
	if err != nil {
		return
	}
	var n int64
	switch kind[0] {
	case kindBulk:
		for {
			chunk, err := s.ReadChunk(ctx, chunkSize)
			n += int64(len(chunk))
			if err == io.EOF {
				break
			}
			if err != nil {
				return
			}
		}
	case kindSized:
		header, err := s.ReadExactly(ctx, 8)
		if err != nil {
			return
		}
		for total := int64(binary.BigEndian.Uint64(header)); n < total; {
			chunk, err := s.ReadChunk(ctx, int(min(chunkSize, total-n)))
			if err != nil {
				return
			}
			n += int64(len(chunk))
		}
	case kindLines:
		for {
			line, err := s.ReadLine(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				return
			}
			if len(line) > 0 {
				n++
			}
		}
	case kindFrames:
		for {
			header, err := s.ReadExactly(ctx, 4)
			if atEOF(err) {
				break
			}
			if err != nil {
				return
			}
			if _, err := s.ReadExactly(ctx, int(binary.BigEndian.Uint32(header))); err != nil {
				return
			}
			n++
		}
	case kindChan:
		var err error
		if n, err = chanstreamChannel(ctx, s); err != nil {
			return
		}
	case kindFrameChan:
		var err error
		if n, err = chanstreamFrameChan(ctx, s); err != nil {
			return
		}
	case kindMerge, kindMergeLines:
		var ok bool
		if n, ok = chanstreamMerge(ctx, s, kind[0] == kindMergeLines); !ok {
			return
		}
	case kindChat:
		chanstreamRoom().serve(ctx, s)
		return
	case kindEcho:
		for {
			line, err := s.ReadLine(ctx)
			if err != nil || len(line) == 0 {
				return
			}
			s.Write(line)
			if err := s.Drain(ctx); err != nil {
				return
			}
		}
	default:
		return
	}
	s.Write(strconv.AppendInt(nil, n, 10))
	s.Write([]byte{'\n'})
	s.Drain(ctx)
}

// tickEvery is the period of the ticker the channel workload's consumers
// select beside.
const tickEvery = 100 * time.Millisecond

// chanstreamChannel counts the stream's lines, received from LineChan in a
// select beside a ticker, until EOF.
func chanstreamChannel(ctx context.Context, s *chanstream.Stream) (int64, error) {
	rc := s.LineChan(ctx)
	defer rc.Stop()
	return countInSelect(rc.C, rc.Err, func(line []byte) bool { return len(line) > 0 })
}

// countInSelect receives from c in a select beside a ticker, as a program
// does that has periodic work beside its stream, until c is closed; it
// returns how many values counted and, unless it is io.EOF, err's.
func countInSelect[T any](c <-chan T, err func() error, counts func(T) bool) (int64, error) {
	tick := time.NewTicker(tickEvery)
	defer tick.Stop()
	var n int64
	for {
		select {
		case v, ok := <-c:
			if !ok {
				if err := err(); err != io.EOF {
					return n, err
				}
				return n, nil
			}
			if counts(v) {
				n++
			}
		case <-tick.C:
			// the periodic work a program does beside its stream
		}
	}
}

// zeroCopyHandler serves one connection with the calls that hand out no
// memory of their own. The echo is chanstreamHandler's.
func zeroCopyHandler(ctx context.Context, s *chanstream.Stream) {
	var kind [1]byte
	if _, err := s.ReadExactlyInto(ctx, kind[:]); err != nil {
		return
	}
	var n int64
	switch kind[0] {
	case kindBulk:
		var err error
		if n, err = io.Copy(io.Discard, s); err != nil {
			return
		}
	case kindSized:
		var header [8]byte
		if _, err := s.ReadExactlyInto(ctx, header[:]); err != nil {
			return
		}
		buf := make([]byte, chunkSize)
		for total := int64(binary.BigEndian.Uint64(header[:])); n < total; {
			m, err := s.ReadContext(ctx, buf[:min(chunkSize, total-n)])
			if err != nil {
				return
			}
			n += int64(m)
		}
	case kindLines:
		for {
			line, err := s.ReadLineView(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				return
			}
			if len(line) > 0 {
				n++
			}
		}
	case kindFrames:
		var header [4]byte
		body := make([]byte, 0, 1024)
		for {
			_, err := s.ReadExactlyInto(ctx, header[:])
			if atEOF(err) {
				break
			}
			if err != nil {
				return
			}
			size := int(binary.BigEndian.Uint32(header[:]))
			if cap(body) < size {
				body = make([]byte, size)
			}
			if _, err := s.ReadExactlyInto(ctx, body[:size]); err != nil {
				return
			}
			n++
		}
	default:
		return
	}
	s.Write(strconv.AppendInt(nil, n, 10))
	s.Write([]byte{'\n'})
	s.Drain(ctx)
}

// atEOF reports whether err is a ReadExactly that found the stream at its
// end, with no byte of a new frame.
func atEOF(err error) bool {
	var ie *chanstream.IncompleteReadError
	return errors.As(err, &ie) && len(ie.Partial) == 0
}
