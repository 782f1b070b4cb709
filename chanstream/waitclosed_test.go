package chanstream

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
)

// WaitClosed reports the error that broke the connection, as asyncio's
// wait_closed raises the exception connection_lost got, whether or not data
// was queued when it broke; a clean end, and Abort, give nil.
func TestWaitClosed_ReportsWhatBrokeTheConnection(t *testing.T) {
	isReset := func(err error) bool {
		return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
	}
	cases := []struct {
		name string
		run  func(t *testing.T, s *Stream, peer *net.TCPConn) // leaves s closed or aborted
		want func(error) bool
	}{
		{"nothing queued, the peer reset", func(t *testing.T, s *Stream, peer *net.TCPConn) {
			peer.SetLinger(0)
			peer.Close()
			if _, err := s.ReadChunk(testCtx(t), 10); !isReset(err) {
				t.Fatalf("ReadChunk = %v, want the reset", err)
			}
			if st := s.Stats(); st.WriteBuffered != 0 {
				t.Fatalf("Stats = %+v: something is queued", st)
			}
			s.Close()
		}, isReset},
		{"data queued, the peer reset", func(t *testing.T, s *Stream, peer *net.TCPConn) {
			fillUntilStuck(t, s)
			if st := s.Stats(); st.WriteBuffered == 0 {
				t.Fatalf("Stats = %+v: nothing is queued", st)
			}
			s.Close() // the queued data waits for a peer that never reads
			peer.SetLinger(0)
			peer.Close()
		}, isReset},
		{"nothing queued, the peer closed", func(t *testing.T, s *Stream, peer *net.TCPConn) {
			peer.Close()
			if _, err := s.ReadChunk(testCtx(t), 10); err != io.EOF {
				t.Fatalf("ReadChunk = %v, want io.EOF", err)
			}
			s.Close()
		}, func(err error) bool { return err == nil }},
		{"data queued, aborted", func(t *testing.T, s *Stream, peer *net.TCPConn) {
			fillUntilStuck(t, s)
			s.Abort()
		}, func(err error) bool { return err == nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, peer := streamPair(t)
			shrinkBuffers(s, peer)
			tc.run(t, s, peer)
			if err := s.WaitClosed(testCtx(t)); !tc.want(err) {
				t.Fatalf("WaitClosed = %v", err)
			}
		})
	}
}
