package main

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"log"
	"net"
	"strconv"
	"time"
)

// serveRaw serves the protocol the way Go programs are written without
// chanstream: a goroutine per connection reading through a 64 KiB
// bufio.Reader. With fresh, every read returns a newly allocated slice
// (ReadBytes, make per read), which is the ownership asyncio's bytes give;
// without, reads return views (ReadSlice) or fill reused buffers.
func serveRaw(addr string, config *tls.Config, fresh bool) (net.Addr, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	if config != nil {
		ln = tls.NewListener(ln, config)
	}
	go func() {
		var pause time.Duration
		for {
			conn, err := ln.Accept()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				// Out of descriptors or memory: wait, as net/http does.
				pause = min(max(2*pause, 5*time.Millisecond), time.Second)
				log.Printf("accept: %v; retrying in %v", err, pause)
				time.Sleep(pause)
				continue
			}
			pause = 0
			go serveRawConn(conn, fresh)
		}
	}()
	return ln.Addr(), func() { ln.Close() }, nil
}

// serveRawConn serves one connection.
func serveRawConn(conn net.Conn, fresh bool) {
	defer conn.Close()
	br := bufio.NewReaderSize(conn, chunkSize)
	kind, err := br.ReadByte()
	if err != nil {
		return
	}
	var n int64
	switch kind {
	case kindBulk:
		n, err = rawBulk(br, -1, fresh)
	case kindSized:
		var header [8]byte
		if _, err = io.ReadFull(br, header[:]); err == nil {
			n, err = rawBulk(br, int64(binary.BigEndian.Uint64(header[:])), fresh)
		}
	case kindLines:
		n, err = rawLines(br, fresh)
	case kindFrames:
		n, err = rawFrames(br, fresh)
	case kindChan:
		n, err = rawChannel(br)
	case kindFrameChan:
		n, err = rawFrameChan(br)
	case kindMerge, kindMergeLines:
		var ok bool
		if n, ok = rawMerge(br); !ok {
			return
		}
	case kindChat:
		rawRoom().serve(conn, br)
		return
	case kindEcho:
		rawEcho(conn, br, fresh)
		return
	default:
		return
	}
	if err != nil {
		return
	}
	conn.Write(append(strconv.AppendInt(nil, n, 10), '\n'))
}

// rawBulk reads 64 KiB chunks until EOF, or until total bytes if total is
// not negative, and returns the number of bytes read.
func rawBulk(br *bufio.Reader, total int64, fresh bool) (int64, error) {
	var n int64
	buf := make([]byte, chunkSize)
	for total < 0 || n < total {
		if fresh {
			buf = make([]byte, chunkSize)
		}
		p := buf
		if total >= 0 {
			p = buf[:min(int64(len(buf)), total-n)]
		}
		m, err := br.Read(p)
		n += int64(m)
		if err == io.EOF && total < 0 {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// rawLines reads lines until EOF and returns how many there were.
func rawLines(br *bufio.Reader, fresh bool) (int64, error) {
	var n int64
	for {
		var line []byte
		var err error
		if fresh {
			line, err = br.ReadBytes('\n')
		} else {
			line, err = br.ReadSlice('\n')
		}
		if len(line) > 0 {
			n++
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// rawChannel counts lines the way a Go program consumes a connection in a
// select: a goroutine reads them (ReadBytes: a slice sent on a channel must
// be its own) and sends them on a channel of 16, received in a select beside
// a ticker, until EOF.
func rawChannel(br *bufio.Reader) (int64, error) {
	ch := make(chan []byte, 16)
	errc := make(chan error, 1)
	go func() {
		defer close(ch)
		for {
			line, err := br.ReadBytes('\n')
			if len(line) > 0 {
				ch <- line
			}
			if err != nil {
				if err == io.EOF {
					err = nil
				}
				errc <- err
				return
			}
		}
	}()
	tick := time.NewTicker(tickEvery)
	defer tick.Stop()
	var n int64
	for {
		select {
		case line, ok := <-ch:
			if !ok {
				return n, <-errc
			}
			if len(line) > 0 {
				n++
			}
		case <-tick.C:
			// the periodic work a program does beside its stream
		}
	}
}

// rawFrames reads frames until EOF and returns how many there were.
func rawFrames(br *bufio.Reader, fresh bool) (int64, error) {
	var n int64
	header := make([]byte, 4)
	body := make([]byte, 0, 1024)
	for {
		if fresh {
			header = make([]byte, 4)
		}
		if _, err := io.ReadFull(br, header); err != nil {
			if err == io.EOF {
				return n, nil
			}
			return n, err
		}
		size := int(binary.BigEndian.Uint32(header))
		if fresh || cap(body) < size {
			body = make([]byte, size)
		}
		if _, err := io.ReadFull(br, body[:size]); err != nil {
			return n, err
		}
		n++
	}
}

// rawEcho writes every line back until EOF.
func rawEcho(conn net.Conn, br *bufio.Reader, fresh bool) {
	for {
		var line []byte
		var err error
		if fresh {
			line, err = br.ReadBytes('\n')
		} else {
			line, err = br.ReadSlice('\n')
		}
		if len(line) > 0 {
			if _, werr := conn.Write(line); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
