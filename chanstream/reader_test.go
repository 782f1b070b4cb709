package chanstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// The tests in this file are CPython's Lib/test/test_asyncio/test_streams.py
// feed_data tests, ported to the Go API, plus the rules where we go beyond
// asyncio.

const data = "line1\nline2\nline3\n"

// feed feeds every piece to r.
func feed(t *testing.T, r *Reader, pieces ...string) {
	t.Helper()
	for _, p := range pieces {
		if err := r.Feed(testCtx(t), []byte(p)); err != nil {
			t.Fatalf("Feed(%q): %v", p, err)
		}
	}
}

// buffered returns what r holds unread, without consuming it: asyncio's
// bytes(stream._buffer).
func buffered(t *testing.T, r *Reader) string {
	t.Helper()
	if err := r.begin(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	defer r.end()
	r.drain()
	return string(r.gather(nil, 0, r.buffered))
}

// later runs f in a goroutine once the reader is blocked waiting for data,
// as asyncio's loop.call_soon(cb) runs cb while the read coroutine waits.
// The returned function waits for f to finish.
func later(t *testing.T, r *Reader, f func()) (wait func()) {
	t.Helper()
	done := make(chan struct{})
	fired := false
	r.waitHook = func() {
		if !fired {
			fired = true
			go func() { defer close(done); f() }()
		}
	}
	return func() {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the read never waited for data")
		}
	}
}

func TestReader_FeedEmptyData(t *testing.T) {
	t.Parallel()
	r := NewReader()
	feed(t, r, "")
	if got := buffered(t, r); got != "" {
		t.Fatalf("buffer = %q", got)
	}
}

func TestReader_FeedNonEmptyData(t *testing.T) {
	t.Parallel()
	r := NewReader()
	feed(t, r, data)
	if got := buffered(t, r); got != data {
		t.Fatalf("buffer = %q", got)
	}
}

func TestReadChunk_ZeroReturnsEmptyAtOnce(t *testing.T) {
	t.Parallel()
	r := NewReader()
	feed(t, r, data)
	got, err := r.ReadChunk(testCtx(t), 0)
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("ReadChunk(0) = %q (nil: %v), %v", got, got == nil, err)
	}
	if got := buffered(t, r); got != data {
		t.Fatalf("buffer = %q", got)
	}
	// Even with nothing buffered and no EOF, it does not wait.
	got, err = NewReader().ReadChunk(testCtx(t), 0)
	if err != nil || len(got) != 0 {
		t.Fatalf("ReadChunk(0) on an empty reader = %q, %v", got, err)
	}
}

func TestReadChunk_WaitsForData(t *testing.T) {
	t.Parallel()
	r := NewReader()
	wait := later(t, r, func() { feed(t, r, data) })
	got, err := r.ReadChunk(testCtx(t), 30)
	wait()
	if err != nil || string(got) != data {
		t.Fatalf("ReadChunk(30) = %q, %v", got, err)
	}
	if got := buffered(t, r); got != "" {
		t.Fatalf("buffer = %q", got)
	}
}

func TestReadChunk_ReturnsAllAvailableUpToN(t *testing.T) {
	t.Parallel()
	// asyncio's read(n) returns everything buffered up to n, across feeds.
	r := NewReader()
	feed(t, r, "line1", "line2")
	got, err := r.ReadChunk(testCtx(t), 5)
	if err != nil || string(got) != "line1" {
		t.Fatalf("ReadChunk(5) = %q, %v", got, err)
	}
	if got := buffered(t, r); got != "line2" {
		t.Fatalf("buffer = %q", got)
	}
	feed(t, r, "ab", "cd")
	got, err = r.ReadChunk(testCtx(t), 100)
	if err != nil || string(got) != "line2abcd" {
		t.Fatalf("ReadChunk(100) = %q, %v", got, err)
	}
}

func TestReadChunk_EOF(t *testing.T) {
	t.Parallel()
	r := NewReader()
	wait := later(t, r, r.FeedEOF)
	got, err := r.ReadChunk(testCtx(t), 1024)
	wait()
	if err != io.EOF || got == nil || len(got) != 0 {
		t.Fatalf("ReadChunk at EOF = %q, %v; want empty, io.EOF", got, err)
	}
	// And again.
	if got, err := r.ReadChunk(testCtx(t), 1024); err != io.EOF || len(got) != 0 {
		t.Fatalf("second ReadChunk at EOF = %q, %v", got, err)
	}
}

func TestReadChunk_NegativeReadsUntilEOF(t *testing.T) {
	t.Parallel()
	r := NewReader()
	wait := later(t, r, func() {
		feed(t, r, "chunk1\n", "chunk2")
		r.FeedEOF()
	})
	got, err := r.ReadChunk(testCtx(t), -1)
	wait()
	if err != nil || string(got) != "chunk1\nchunk2" {
		t.Fatalf("ReadChunk(-1) = %q, %v", got, err)
	}
	if got, err := r.ReadChunk(testCtx(t), -1); err != nil || len(got) != 0 {
		t.Fatalf("ReadChunk(-1) after EOF = %q, %v; want empty, nil", got, err)
	}
}

func TestReadChunk_NegativeReturnsDataWithError(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	r := NewReader()
	feed(t, r, "partial")
	r.FeedError(boom)
	got, err := r.ReadChunk(testCtx(t), -1)
	if err != boom || string(got) != "partial" {
		t.Fatalf("ReadChunk(-1) = %q, %v; want the data and boom", got, err)
	}
}

func TestReadChunk_NotLimited(t *testing.T) {
	t.Parallel()
	r := NewReader(WithLimit(3))
	feed(t, r, "chunk")
	got, err := r.ReadChunk(testCtx(t), 5)
	if err != nil || string(got) != "chunk" {
		t.Fatalf("ReadChunk(5) with limit 3 = %q, %v", got, err)
	}
}

func TestReader_ErrorAfterBufferedData(t *testing.T) {
	t.Parallel()
	// asyncio raises the exception at once (test_read_exception); we return
	// the buffered bytes first.
	boom := errors.New("boom")
	r := NewReader()
	feed(t, r, "line\n")
	got, err := r.ReadChunk(testCtx(t), 2)
	if err != nil || string(got) != "li" {
		t.Fatalf("ReadChunk(2) = %q, %v", got, err)
	}
	r.FeedError(boom)
	got, err = r.ReadChunk(testCtx(t), 2)
	if err != nil || string(got) != "ne" {
		t.Fatalf("ReadChunk(2) after FeedError = %q, %v; want the buffered bytes", got, err)
	}
	got, err = r.ReadLine(testCtx(t))
	if err != nil || string(got) != "\n" {
		t.Fatalf("ReadLine after FeedError = %q, %v", got, err)
	}
	for i := 0; i < 2; i++ {
		if _, err := r.ReadChunk(testCtx(t), 2); err != boom {
			t.Fatalf("ReadChunk once empty = %v; want boom", err)
		}
	}
	if r.AtEOF() {
		t.Fatal("AtEOF after an error")
	}
}

func TestReader_ErrorDeliversPartialRecordsFirst(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	tests := []struct {
		name         string
		read         func(r *Reader) ([]byte, error)
		partial      string
		isIncomplete bool
	}{
		{"ReadLine", func(r *Reader) ([]byte, error) { return r.ReadLine(context.Background()) }, "abc", false},
		{"ReadUntil", func(r *Reader) ([]byte, error) { return r.ReadUntil(context.Background(), []byte("XX")) }, "abc", true},
		{"ReadExactly", func(r *Reader) ([]byte, error) { return r.ReadExactly(context.Background(), 10) }, "abc", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader()
			feed(t, r, "abc")
			r.FeedError(boom)
			got, err := tc.read(r)
			if tc.isIncomplete {
				var ie *IncompleteReadError
				if !errors.As(err, &ie) || string(ie.Partial) != tc.partial {
					t.Fatalf("first call = %q, %v; want *IncompleteReadError with %q", got, err, tc.partial)
				}
			} else if err != nil || string(got) != tc.partial {
				t.Fatalf("first call = %q, %v; want %q", got, err, tc.partial)
			}
			if _, err := tc.read(r); err != boom {
				t.Fatalf("second call: %v; want boom", err)
			}
		})
	}
}

func TestNewReader_InvalidLimitPanics(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, -1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewReader(WithLimit(%d)) did not panic", n)
				}
			}()
			NewReader(WithLimit(n))
		}()
		if err := CheckOptions(WithLimit(n)); err == nil || !strings.Contains(err.Error(), "WithLimit") {
			t.Errorf("CheckOptions(WithLimit(%d)) = %v", n, err)
		}
	}
	if err := CheckOptions(WithWriteBufferLimits(10, 20)); err == nil {
		t.Error("CheckOptions(WithWriteBufferLimits(10, 20)) = nil; want an error (low > high)")
	}
	if err := CheckOptions(WithWriteBufferLimits(10, -1)); err == nil {
		t.Error("CheckOptions(WithWriteBufferLimits(10, -1)) = nil")
	}
	if err := CheckOptions(WithWriteBufferLimits(0, 0), WithLimit(1)); err != nil {
		t.Errorf("CheckOptions(valid) = %v", err)
	}
}

func TestReadLine_WaitsAcrossChunks(t *testing.T) {
	t.Parallel()
	r := NewReader()
	feed(t, r, "chunk1 ")
	wait := later(t, r, func() { feed(t, r, "chunk2 ", "chunk3 ", "\n chunk4") })
	got, err := r.ReadLine(testCtx(t))
	wait()
	if err != nil || string(got) != "chunk1 chunk2 chunk3 \n" {
		t.Fatalf("ReadLine = %q, %v", got, err)
	}
	if got := buffered(t, r); got != " chunk4" {
		t.Fatalf("buffer = %q", got)
	}
}

func TestReadLine_LimitDiscardsAsAsyncio(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		limit    int
		pieces   []string
		eof      bool
		consumed int
		rest     string
	}{
		// test_readline_limit_with_existing_data
		{"separator found: discard through it", 3, []string{"li", "ne1\nline2\n"}, false, 6, "line2\n"},
		{"separator not found: discard all", 3, []string{"li", "ne1", "li"}, false, 7, ""},
		// test_readline_limit
		{"one long line", 7, []string{"chunk1", "chunk2", "chunk3\n"}, true, 19, ""},
		{"long line then a short one", 7, []string{"chunk1", "chunk2\n", "chunk3\n"}, true, 13, "chunk3\n"},
		{"one over the limit, with newline", 7, []string{"12345678\n"}, false, 9, ""},
		{"one over the limit, no newline", 7, []string{"12345678"}, false, 8, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(WithLimit(tc.limit))
			feed(t, r, tc.pieces...)
			if tc.eof {
				r.FeedEOF()
			}
			got, err := r.ReadLine(testCtx(t))
			var lo *LimitOverrunError
			if !errors.Is(err, ErrLimitOverrun) || !errors.As(err, &lo) {
				t.Fatalf("ReadLine = %q, %v; want a *LimitOverrunError", got, err)
			}
			if lo.Consumed != tc.consumed {
				t.Errorf("Consumed = %d; want %d (the bytes discarded)", lo.Consumed, tc.consumed)
			}
			if got := buffered(t, r); got != tc.rest {
				t.Errorf("buffer = %q; want %q", got, tc.rest)
			}
			if s := r.Stats(); s.LimitErrors != 1 {
				t.Errorf("Stats().LimitErrors = %d", s.LimitErrors)
			}
		})
	}
}

func TestReadLine_LimitIsStrict(t *testing.T) {
	t.Parallel()
	r := NewReader(WithLimit(7))
	feed(t, r, "1234567\n")
	got, err := r.ReadLine(testCtx(t))
	if err != nil || string(got) != "1234567\n" {
		t.Fatalf("ReadLine = %q, %v", got, err)
	}
}

func TestReadLine_NoWaitWhenBuffered(t *testing.T) {
	t.Parallel()
	r := NewReader()
	feed(t, r, data[:6], data[6:])
	got, err := r.ReadLine(testCtx(t))
	if err != nil || string(got) != "line1\n" {
		t.Fatalf("ReadLine = %q, %v", got, err)
	}
	if got := buffered(t, r); got != "line2\nline3\n" {
		t.Fatalf("buffer = %q", got)
	}
}

func TestReadLine_EOF(t *testing.T) {
	t.Parallel()
	r := NewReader()
	feed(t, r, "some data")
	r.FeedEOF()
	got, err := r.ReadLine(testCtx(t))
	if err != nil || string(got) != "some data" {
		t.Fatalf("ReadLine = %q, %v", got, err)
	}
	got, err = r.ReadLine(testCtx(t))
	if err != io.EOF || got == nil || len(got) != 0 {
		t.Fatalf("ReadLine at EOF = %q, %v", got, err)
	}
}

func TestReadLine_EmptyEOF(t *testing.T) {
	t.Parallel()
	r := NewReader()
	r.FeedEOF()
	got, err := r.ReadLine(testCtx(t))
	if err != io.EOF || len(got) != 0 {
		t.Fatalf("ReadLine = %q, %v", got, err)
	}
}

func TestReadLine_ThenReadChunk(t *testing.T) {
	t.Parallel()
	r := NewReader()
	feed(t, r, data)
	if _, err := r.ReadLine(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	got, err := r.ReadChunk(testCtx(t), 7)
	if err != nil || string(got) != "line2\nl" {
		t.Fatalf("ReadChunk(7) = %q, %v", got, err)
	}
	if got := buffered(t, r); got != "ine3\n" {
		t.Fatalf("buffer = %q", got)
	}
}

func TestReader_AtEOF(t *testing.T) {
	t.Parallel()
	r := NewReader()
	if r.AtEOF() {
		t.Fatal("AtEOF on a new reader")
	}
	feed(t, r, "some data\n")
	if r.AtEOF() {
		t.Fatal("AtEOF with data")
	}
	if _, err := r.ReadLine(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if r.AtEOF() {
		t.Fatal("AtEOF before FeedEOF")
	}
	r.FeedEOF()
	if !r.AtEOF() {
		t.Fatal("AtEOF false after FeedEOF with an empty buffer")
	}
}

func TestReadUntil_EmptySeparator(t *testing.T) {
	t.Parallel()
	r := NewReader()
	feed(t, r, "abc")
	for _, seps := range [][][]byte{{{}}, {[]byte("a"), {}}} {
		if _, err := r.ReadUntil(testCtx(t), seps...); err != ErrEmptySeparator {
			t.Errorf("ReadUntil(%q) = %v; want ErrEmptySeparator", seps, err)
		}
	}
	if got := buffered(t, r); got != "abc" {
		t.Fatalf("buffer = %q", got)
	}
}

func TestReadUntil_NoSeparatorMeansNewline(t *testing.T) {
	t.Parallel()
	r := NewReader()
	feed(t, r, "ab\ncd")
	got, err := r.ReadUntil(testCtx(t))
	if err != nil || string(got) != "ab\n" {
		t.Fatalf("ReadUntil() = %q, %v", got, err)
	}
}

func TestReadUntil_MultiChunks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pieces    []string
		sep, want string
		rest      string
	}{
		{[]string{"lineAAA"}, "AAA", "lineAAA", ""},
		{[]string{"lineAAAxxx"}, "AAA", "lineAAA", "xxx"},
		{[]string{"QWEaa", "XYaa", "a"}, "aaa", "QWEaaXYaaa", ""},
		{[]string{"QWEaa", "XYa", "aa"}, "aaa", "QWEaaXYaaa", ""},
		{[]string{"aaa"}, "aaa", "aaa", ""},
		{[]string{"Xaaa"}, "aaa", "Xaaa", ""},
		{[]string{"XXX", "a", "a", "a"}, "aaa", "XXXaaa", ""},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.pieces, "|"), func(t *testing.T) {
			// Fed before the call, and fed one piece per wait.
			for _, lazy := range []bool{false, true} {
				r := NewReader()
				if lazy {
					pieces := tc.pieces
					r.waitHook = func() {
						if len(pieces) > 0 {
							feed(t, r, pieces[0])
							pieces = pieces[1:]
						}
					}
				} else {
					feed(t, r, tc.pieces...)
				}
				got, err := r.ReadUntil(testCtx(t), []byte(tc.sep))
				if err != nil || string(got) != tc.want {
					t.Fatalf("lazy=%v: ReadUntil(%q) = %q, %v; want %q", lazy, tc.sep, got, err, tc.want)
				}
				if got := buffered(t, r); got != tc.rest {
					t.Fatalf("lazy=%v: buffer = %q; want %q", lazy, got, tc.rest)
				}
			}
		})
	}
}

func TestReadUntil_EOF(t *testing.T) {
	t.Parallel()
	r := NewReader()
	feed(t, r, "some dataAA")
	r.FeedEOF()
	_, err := r.ReadUntil(testCtx(t), []byte("AAA"))
	var ie *IncompleteReadError
	if !errors.As(err, &ie) || string(ie.Partial) != "some dataAA" || ie.Expected != -1 {
		t.Fatalf("ReadUntil = %v; want IncompleteReadError{some dataAA, -1}", err)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Error("IncompleteReadError does not match io.ErrUnexpectedEOF")
	}
	if got := buffered(t, r); got != "" {
		t.Fatalf("buffer = %q", got)
	}
	_, err = r.ReadUntil(testCtx(t), []byte("AAA"))
	if !errors.As(err, &ie) || len(ie.Partial) != 0 {
		t.Fatalf("ReadUntil again at EOF = %v; want an empty IncompleteReadError", err)
	}
}

func TestReadUntil_LimitKeepsData(t *testing.T) {
	t.Parallel()
	r := NewReader(WithLimit(3))
	feed(t, r, "some dataAA")
	_, err := r.ReadUntil(testCtx(t), []byte("AAA"))
	var lo *LimitOverrunError
	if !errors.As(err, &lo) || !errors.Is(err, ErrLimitOverrun) {
		t.Fatalf("ReadUntil = %v; want *LimitOverrunError", err)
	}
	if lo.Consumed != 9 {
		t.Errorf("Consumed = %d; want 9", lo.Consumed)
	}
	if got := buffered(t, r); got != "some dataAA" {
		t.Fatalf("buffer = %q", got)
	}
	feed(t, r, "A")
	_, err = r.ReadUntil(testCtx(t), []byte("AAA"))
	if !errors.As(err, &lo) || lo.Consumed != 9 {
		t.Fatalf("ReadUntil with the separator beyond the limit = %v; want Consumed 9", err)
	}
	if got := buffered(t, r); got != "some dataAAA" {
		t.Fatalf("buffer = %q", got)
	}
	// Resynchronise: skip what the error says, then read on.
	if n, err := r.Discard(testCtx(t), lo.Consumed); n != 9 || err != nil {
		t.Fatalf("Discard = %d, %v", n, err)
	}
	got, err := r.ReadUntil(testCtx(t), []byte("AAA"))
	if err != nil || string(got) != "AAA" {
		t.Fatalf("ReadUntil after Discard = %q, %v", got, err)
	}
}

func TestReadUntil_MultipleSeparators(t *testing.T) {
	t.Parallel()
	// Python 3.13: the shortest data that ends in any separator.
	tests := []struct {
		name   string
		pieces []string
		seps   []string
		want   []string
		rest   string
	}{
		{"either line ending", []string{"line 1\nline 2\r"}, []string{"\r", "\n"}, []string{"line 1\n", "line 2\r"}, ""},
		{"crlf and lf end at the same place", []string{"a\r\nb"}, []string{"\r\n", "\n"}, []string{"a\r\n"}, "b"},
		{"longer separator ends first", []string{"xxABCyyC"}, []string{"C", "ABC"}, []string{"xxABC"}, "yyC"},
		{"straddling chunks", []string{"aaX", "Yzz", "Q"}, []string{"XYZ", "zz", "Q"}, []string{"aaXYzz", "Q"}, ""},
		{"order of arguments does not matter", []string{"1;2,3"}, []string{",", ";"}, []string{"1;", "2,"}, "3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader()
			feed(t, r, tc.pieces...)
			seps := make([][]byte, len(tc.seps))
			for i, s := range tc.seps {
				seps[i] = []byte(s)
			}
			orig := fmt.Sprint(seps)
			for _, want := range tc.want {
				got, err := r.ReadUntil(testCtx(t), seps...)
				if err != nil || string(got) != want {
					t.Fatalf("ReadUntil(%q) = %q, %v; want %q", tc.seps, got, err, want)
				}
			}
			if got := buffered(t, r); got != tc.rest {
				t.Fatalf("buffer = %q; want %q", got, tc.rest)
			}
			if fmt.Sprint(seps) != orig {
				t.Fatalf("ReadUntil reordered the caller's separators: %s", fmt.Sprint(seps))
			}
		})
	}
}

func TestReadExactly_ZeroOrNegative(t *testing.T) {
	t.Parallel()
	r := NewReader()
	feed(t, r, data)
	got, err := r.ReadExactly(testCtx(t), 0)
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("ReadExactly(0) = %q, %v", got, err)
	}
	if _, err := r.ReadExactly(testCtx(t), -1); err != ErrNegativeCount {
		t.Fatalf("ReadExactly(-1) = %v; want ErrNegativeCount", err)
	}
	if got := buffered(t, r); got != data {
		t.Fatalf("buffer = %q", got)
	}
}

func TestReadExactly_WaitsForAll(t *testing.T) {
	t.Parallel()
	r := NewReader()
	n := 2 * len(data)
	wait := later(t, r, func() { feed(t, r, data, data, data) })
	got, err := r.ReadExactly(testCtx(t), n)
	wait()
	if err != nil || string(got) != data+data {
		t.Fatalf("ReadExactly = %q, %v", got, err)
	}
	if got := buffered(t, r); got != data {
		t.Fatalf("buffer = %q", got)
	}
}

func TestReadExactly_NotLimited(t *testing.T) {
	t.Parallel()
	r := NewReader(WithLimit(3))
	feed(t, r, "chunk")
	got, err := r.ReadExactly(testCtx(t), 5)
	if err != nil || string(got) != "chunk" {
		t.Fatalf("ReadExactly(5) with limit 3 = %q, %v", got, err)
	}
}

func TestReadExactly_EOF(t *testing.T) {
	t.Parallel()
	r := NewReader()
	n := 2 * len(data)
	wait := later(t, r, func() {
		feed(t, r, data)
		r.FeedEOF()
	})
	_, err := r.ReadExactly(testCtx(t), n)
	wait()
	var ie *IncompleteReadError
	if !errors.As(err, &ie) || string(ie.Partial) != data || ie.Expected != n {
		t.Fatalf("ReadExactly = %v", err)
	}
	if want := "chanstream: 18 bytes read on a total of 36 expected bytes"; err.Error() != want {
		t.Errorf("Error() = %q; want %q", err.Error(), want)
	}
	if got := buffered(t, r); got != "" {
		t.Fatalf("buffer = %q", got)
	}
}

func TestReadExactly_Large(t *testing.T) {
	t.Parallel()
	// Larger than a chunk, fed in odd pieces.
	r := NewReader()
	want := bytes.Repeat([]byte("0123456789"), 30000)
	ctx := testCtx(t)
	go func() {
		for p := want; len(p) > 0; {
			k := min(len(p), 7777)
			r.Feed(ctx, p[:k])
			p = p[k:]
		}
		r.FeedEOF()
	}()
	got, err := r.ReadExactly(ctx, len(want)-5)
	if err != nil || !bytes.Equal(got, want[:len(want)-5]) {
		t.Fatalf("ReadExactly: %v (len %d)", err, len(got))
	}
	got, err = r.ReadChunk(ctx, -1)
	if err != nil || string(got) != "56789" {
		t.Fatalf("rest = %q, %v", got, err)
	}
}

func TestReader_Lines(t *testing.T) {
	t.Parallel()
	r := NewReader()
	feed(t, r, "a\nbb\nccc")
	r.FeedEOF()
	var got []string
	for line, err := range r.Lines(testCtx(t)) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(line))
	}
	if fmt.Sprint(got) != "[a\n bb\n ccc]" {
		t.Fatalf("Lines = %q", got)
	}
}

func TestReader_LinesStopsOnError(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	r := NewReader()
	feed(t, r, "a\n")
	r.FeedError(boom)
	var lines []string
	var errs []error
	for line, err := range r.Lines(testCtx(t)) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		lines = append(lines, string(line))
	}
	if len(lines) != 1 || len(errs) != 1 || errs[0] != boom {
		t.Fatalf("lines %q, errors %v", lines, errs)
	}
}

func TestReader_LinesBreakStopsEarly(t *testing.T) {
	t.Parallel()
	r := NewReader()
	feed(t, r, "a\nb\nc\n")
	for line, err := range r.Lines(testCtx(t)) {
		if err != nil || string(line) != "a\n" {
			t.Fatalf("first line %q, %v", line, err)
		}
		break
	}
	if got := buffered(t, r); got != "b\nc\n" {
		t.Fatalf("buffer after break = %q", got)
	}
}

func TestReader_ReadIsIOReader(t *testing.T) {
	t.Parallel()
	r := NewReader()
	feed(t, r, "hello, ", "world")
	r.FeedEOF()
	got, err := io.ReadAll(r)
	if err != nil || string(got) != "hello, world" {
		t.Fatalf("io.ReadAll = %q, %v", got, err)
	}
	if n, err := r.Read(make([]byte, 4)); n != 0 || err != io.EOF {
		t.Fatalf("Read at EOF = %d, %v", n, err)
	}
}

func TestReader_Discard(t *testing.T) {
	t.Parallel()
	r := NewReader()
	feed(t, r, "0123456789")
	if _, err := r.Discard(testCtx(t), -1); err != ErrNegativeCount {
		t.Fatalf("Discard(-1) = %v", err)
	}
	if n, err := r.Discard(testCtx(t), 4); n != 4 || err != nil {
		t.Fatalf("Discard(4) = %d, %v", n, err)
	}
	r.FeedEOF()
	if n, err := r.Discard(testCtx(t), 100); n != 6 || err != io.EOF {
		t.Fatalf("Discard(100) at the end = %d, %v; want 6, io.EOF", n, err)
	}
}

func TestReader_DiscardUntilResynchronises(t *testing.T) {
	t.Parallel()
	// A line far over the limit, then normal lines: ReadLine reports the
	// overrun, DiscardUntil skips the rest of the long line without
	// buffering it, and the next line reads fine. bufio.Scanner stops for
	// good at "token too long".
	r := NewReader(WithLimit(16))
	ctx := testCtx(t)
	pieces := []string{"short\n"}
	for i := 0; i < 100; i++ {
		pieces = append(pieces, strings.Repeat("x", 1000))
	}
	pieces = append(pieces, "\nnext line\n")
	r.waitHook = func() { // one piece each time the reader waits
		if len(pieces) == 0 {
			r.FeedEOF()
			return
		}
		feed(t, r, pieces[0])
		pieces = pieces[1:]
	}
	if line, err := r.ReadLine(ctx); err != nil || string(line) != "short\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	_, err := r.ReadLine(ctx)
	if !errors.Is(err, ErrLimitOverrun) {
		t.Fatalf("long line: %v", err)
	}
	if _, err := r.DiscardUntil(ctx, []byte("\n")); err != nil {
		t.Fatalf("DiscardUntil: %v", err)
	}
	if line, err := r.ReadLine(ctx); err != nil || string(line) != "next line\n" {
		t.Fatalf("line after resync = %q, %v", line, err)
	}
}

func TestReader_DiscardUntilCountsAndStraddles(t *testing.T) {
	t.Parallel()
	r := NewReader()
	ctx := testCtx(t)
	feed(t, r, "abcX", "Yrest")
	n, err := r.DiscardUntil(ctx, []byte("XY"))
	if n != 5 || err != nil {
		t.Fatalf("DiscardUntil = %d, %v; want 5", n, err)
	}
	r.FeedEOF()
	n, err = r.DiscardUntil(ctx, []byte("XY"))
	if n != 4 || err != io.EOF {
		t.Fatalf("DiscardUntil at EOF = %d, %v; want 4, io.EOF", n, err)
	}
}

func TestReader_FeedAfterEOF(t *testing.T) {
	t.Parallel()
	r := NewReader()
	r.FeedEOF()
	if err := r.Feed(testCtx(t), []byte("x")); err != ErrFeedAfterEOF {
		t.Fatalf("Feed after FeedEOF = %v", err)
	}
	if err := r.Feed(testCtx(t), nil); err != ErrFeedAfterEOF {
		t.Fatalf("Feed(nil) after FeedEOF = %v", err)
	}
}

func TestReader_FeedDoesNotRetain(t *testing.T) {
	t.Parallel()
	r := NewReader()
	p := []byte("abc\n")
	feed(t, r, string(p))
	if err := r.Feed(testCtx(t), p); err != nil {
		t.Fatal(err)
	}
	copy(p, "XXXX")
	if got := buffered(t, r); got != "abc\nabc\n" {
		t.Fatalf("buffer = %q", got)
	}
}

func TestReader_FeedManyTinyPiecesDoesNotBlock(t *testing.T) {
	t.Parallel()
	// asyncio's feed_data never blocks; ours blocks only when the channel
	// is full of chunks, and tiny pieces share one chunk.
	r := NewReader()
	for i := 0; i < 10000; i++ {
		if err := r.Feed(testCtx(t), []byte{'a' + byte(i%26)}); err != nil {
			t.Fatal(err)
		}
	}
	if got := buffered(t, r); len(got) != 10000 {
		t.Fatalf("buffered %d bytes", len(got))
	}
}

func TestReader_FeedBlocksWhenFullAndHonoursCtx(t *testing.T) {
	t.Parallel()
	r := NewReader()
	big := make([]byte, chunkSize) // each fills a chunk
	for i := 0; i < cap(r.chunkCh()); i++ {
		if err := r.Feed(testCtx(t), big); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := r.Feed(ctx, big); err != context.DeadlineExceeded {
		t.Fatalf("Feed into a full channel = %v; want context.DeadlineExceeded", err)
	}
	// Nothing of the failed Feed was fed.
	if got := r.Buffered(); got != cap(r.chunkCh())*chunkSize {
		t.Fatalf("Buffered = %d", got)
	}
	// A read makes room, and a blocked Feed goes through.
	done := make(chan error, 1)
	go func() { done <- r.Feed(testCtx(t), []byte("tail")) }()
	if _, err := r.ReadChunk(testCtx(t), chunkSize); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// readCalls are the read calls, each asked for what "abc\n" answers, so that
// a test can check a rule for them all: the answer is buffered, and each
// call would take it on its fast path.
func readCalls(ctx context.Context) map[string]func(r *Reader) error {
	return map[string]func(r *Reader) error{
		"ReadLine":        func(r *Reader) error { _, err := r.ReadLine(ctx); return err },
		"ReadLineView":    func(r *Reader) error { _, err := r.ReadLineView(ctx); return err },
		"ReadUntil":       func(r *Reader) error { _, err := r.ReadUntil(ctx, []byte("\n")); return err },
		"ReadUntil2":      func(r *Reader) error { _, err := r.ReadUntil(ctx, []byte("c\n"), []byte("\n")); return err },
		"ReadExactly":     func(r *Reader) error { _, err := r.ReadExactly(ctx, 3); return err },
		"ReadExactlyInto": func(r *Reader) error { _, err := r.ReadExactlyInto(ctx, make([]byte, 3)); return err },
		"ReadChunk":       func(r *Reader) error { _, err := r.ReadChunk(ctx, 3); return err },
		"ReadContext":     func(r *Reader) error { _, err := r.ReadContext(ctx, make([]byte, 3)); return err },
		"Discard":         func(r *Reader) error { _, err := r.Discard(ctx, 3); return err },
		"DiscardUntil":    func(r *Reader) error { _, err := r.DiscardUntil(ctx, []byte("\n")); return err },
	}
}

func TestReader_CancelledCtxConsumesNothing(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for name, call := range readCalls(ctx) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := NewReader()
			feed(t, r, "abc\n")
			if err := call(r); err != context.Canceled {
				t.Fatalf("%s with a cancelled ctx = %v", name, err)
			}
			if got := buffered(t, r); got != "abc\n" {
				t.Fatalf("buffer = %q", got)
			}
		})
	}
}

func TestReader_PassedDeadlineConsumesNothing(t *testing.T) {
	t.Parallel()
	for name, call := range readCalls(context.Background()) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := NewReader()
			feed(t, r, "abc\n")
			r.SetReadDeadline(time.Now().Add(-time.Second))
			if err := call(r); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("%s past the deadline = %v", name, err)
			}
			r.SetReadDeadline(time.Time{})
			if got := buffered(t, r); got != "abc\n" {
				t.Fatalf("buffer = %q", got)
			}
			if err := call(r); err != nil {
				t.Fatalf("%s after clearing the deadline = %v", name, err)
			}
		})
	}
}

func TestReader_ClosedFailsEveryCall(t *testing.T) {
	t.Parallel()
	for name, call := range readCalls(context.Background()) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := NewReader()
			feed(t, r, "abc\n")
			r.close()
			if err := call(r); err != ErrClosed {
				t.Fatalf("%s on a closed reader = %v", name, err)
			}
		})
	}
}

// A call whose answer is buffered still waits its turn: while another call
// holds the reader, it gives up on its ctx and consumes nothing.
func TestReader_BufferedAnswerWaitsItsTurn(t *testing.T) {
	t.Parallel()
	for name := range readCalls(context.Background()) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := NewReader()
			feed(t, r, "abc\n")
			if err := r.begin(testCtx(t)); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			if err := readCalls(ctx)[name](r); err != context.DeadlineExceeded {
				t.Fatalf("%s while another call holds the reader = %v", name, err)
			}
			r.end()
			if got := buffered(t, r); got != "abc\n" {
				t.Fatalf("buffer = %q", got)
			}
			if err := readCalls(testCtx(t))[name](r); err != nil {
				t.Fatalf("%s once the reader is free = %v", name, err)
			}
		})
	}
}

func TestReader_CancelMidReadLosesNothing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		read func(ctx context.Context, r *Reader) ([]byte, error)
	}{
		{"ReadExactly", func(ctx context.Context, r *Reader) ([]byte, error) { return r.ReadExactly(ctx, 10) }},
		{"ReadUntil", func(ctx context.Context, r *Reader) ([]byte, error) { return r.ReadUntil(ctx, []byte("!!")) }},
		{"ReadLine", func(ctx context.Context, r *Reader) ([]byte, error) { return r.ReadLine(ctx) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader()
			feed(t, r, "abcd")
			ctx, cancel := context.WithCancel(context.Background())
			wait := later(t, r, func() {
				feed(t, r, "e")
				cancel()
			})
			if _, err := tc.read(ctx, r); err != context.Canceled {
				t.Fatalf("read = %v; want context.Canceled", err)
			}
			wait()
			r.waitHook = nil
			feed(t, r, "fghij!!\n")
			got, err := tc.read(testCtx(t), r)
			want := map[string]string{"ReadExactly": "abcdefghij", "ReadUntil": "abcdefghij!!", "ReadLine": "abcdefghij!!\n"}[tc.name]
			if err != nil || string(got) != want {
				t.Fatalf("read after cancel = %q, %v; want %q", got, err, want)
			}
		})
	}
}

func TestReader_ReturnedSlicesAreCapped(t *testing.T) {
	t.Parallel()
	// A caller appending to a returned line must not overwrite the next.
	r := NewReader()
	feed(t, r, "one\ntwo\n")
	first, _ := r.ReadLine(testCtx(t))
	_ = append(first, "XXXX"...)
	second, _ := r.ReadLine(testCtx(t))
	if string(first) != "one\n" || string(second) != "two\n" {
		t.Fatalf("lines %q %q", first, second)
	}
}

func TestReader_ReturnedSlicesStayValid(t *testing.T) {
	t.Parallel()
	// Slices handed out keep their bytes even as the reader moves on and
	// recycles buffers.
	r := NewReader()
	ctx := testCtx(t)
	var kept [][]byte
	go func() {
		for i := 0; i < 5000; i++ {
			r.Feed(ctx, []byte(fmt.Sprintf("line %d\n", i)))
		}
		r.FeedEOF()
	}()
	for line, err := range r.Lines(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		kept = append(kept, line)
	}
	for i, line := range kept {
		if want := fmt.Sprintf("line %d\n", i); string(line) != want {
			t.Fatalf("kept line %d = %q", i, line)
		}
	}
}

func TestReader_ConcurrentReadLinesGetWholeLines(t *testing.T) {
	t.Parallel()
	r := NewReader()
	ctx := testCtx(t)
	const n = 2000
	go func() {
		for i := 0; i < n; i++ {
			r.Feed(ctx, []byte(fmt.Sprintf("%06d\n", i)))
		}
		r.FeedEOF()
	}()
	seen := linesFromTwoReaders(t, func() ([]byte, error) { return r.ReadLine(ctx) }, 7)
	if len(seen) != n {
		t.Fatalf("%d distinct lines; want %d", len(seen), n)
	}
}

// linesFromTwoReaders calls readLine from two goroutines until it fails and
// returns the set of lines they got, checking that each is whole (width
// bytes, "\n" last) and that none came twice.
func linesFromTwoReaders(t *testing.T, readLine func() ([]byte, error), width int) map[string]bool {
	t.Helper()
	results := make(chan []string, 2)
	for g := 0; g < 2; g++ {
		go func() {
			var lines []string
			for {
				line, err := readLine()
				if err != nil {
					break
				}
				lines = append(lines, string(line))
			}
			results <- lines
		}()
	}
	seen := make(map[string]bool)
	for g := 0; g < 2; g++ {
		for _, l := range <-results {
			if len(l) != width || l[width-1] != '\n' || seen[l] {
				t.Fatalf("bad or repeated line %q", l)
			}
			seen[l] = true
		}
	}
	return seen
}

func TestReader_WaitingForTheGateHonoursCtx(t *testing.T) {
	t.Parallel()
	r := NewReader()
	ctx := testCtx(t)
	blocked := make(chan struct{})
	r.waitHook = func() { close(blocked) }
	first := make(chan error, 1)
	go func() { _, err := r.ReadLine(ctx); first <- err }()
	<-blocked
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := r.ReadLine(short); err != context.DeadlineExceeded {
		t.Fatalf("second ReadLine = %v; want context.DeadlineExceeded", err)
	}
	feed(t, r, "x\n")
	if err := <-first; err != nil {
		t.Fatal(err)
	}
}

func TestReader_ReadDeadline(t *testing.T) {
	t.Parallel()
	r := NewReader()
	feed(t, r, "abc")
	r.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := r.ReadChunk(testCtx(t), 10); !errors.Is(err, errDeadline) {
		t.Fatalf("ReadChunk past the deadline = %v", err)
	}
	r.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	if _, err := r.ReadLine(testCtx(t)); !errors.Is(err, errDeadline) {
		t.Fatalf("ReadLine blocked past the deadline = %v", err)
	}
	r.SetReadDeadline(time.Time{})
	got, err := r.ReadChunk(testCtx(t), 10)
	if err != nil || string(got) != "abc" {
		t.Fatalf("ReadChunk after clearing the deadline = %q, %v", got, err)
	}
}
