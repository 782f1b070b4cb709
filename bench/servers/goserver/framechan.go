package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"time"

	"github.com/chanstream/chanstream/chanstream"
	"github.com/chanstream/chanstream/chanstream/frame"
)

// kindFrameChan is the frames-on-a-channel workload's kind: frames (a 4-byte
// big-endian length + the body) to EOF, delivered as []byte on a channel and
// received in a select beside a ticker; reply: the number of frames.
const kindFrameChan = 'R'

// maxFrame is the largest frame body the frames-on-a-channel servers accept.
const maxFrame = 1 << 20

// errFrameTooLarge ends rawFrameChan's reading of a frame over maxFrame.
var errFrameTooLarge = errors.New("frame over the maximum")

// chanstreamFrameChan counts the stream's frames, received from a
// frame.Receiver with a 4-byte big-endian LengthPrefixed codec in a select
// beside a ticker, until EOF.
func chanstreamFrameChan(ctx context.Context, s *chanstream.Stream) (int64, error) {
	codec, err := frame.NewLengthPrefixed(4, binary.BigEndian, maxFrame)
	if err != nil {
		return 0, err
	}
	rc := frame.NewReceiver(ctx, s.Reader(), codec)
	defer rc.Stop()
	return countInSelect(rc.C, rc.Err, func([]byte) bool { return true })
}

// rawFrameChan counts frames the way a Go program puts a connection's frames
// on a channel: a goroutine reads each with io.ReadFull of the length, then
// of the body into a newly allocated slice (a slice sent on a channel must
// be its own), and sends it on a channel of 16, received in a select beside
// a ticker, until EOF.
func rawFrameChan(br *bufio.Reader) (int64, error) {
	ch := make(chan []byte, 16)
	errc := make(chan error, 1)
	go func() {
		defer close(ch)
		errc <- func() error {
			var header [4]byte
			for {
				if _, err := io.ReadFull(br, header[:]); err != nil {
					if err == io.EOF {
						return nil
					}
					return err
				}
				size := binary.BigEndian.Uint32(header[:])
				if size > maxFrame {
					return errFrameTooLarge
				}
				body := make([]byte, size)
				if _, err := io.ReadFull(br, body); err != nil {
					return err
				}
				ch <- body
			}
		}()
	}()
	tick := time.NewTicker(tickEvery)
	defer tick.Stop()
	var n int64
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return n, <-errc
			}
			n++
		case <-tick.C:
			// the periodic work a program does beside its stream
		}
	}
}
