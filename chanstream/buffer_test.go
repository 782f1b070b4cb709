package chanstream

import (
	"bytes"
	"fmt"
	"testing"
)

// The segmented buffer is checked alone against a plain []byte that holds
// the same data: every operation is applied to both and their results and
// contents compared, op by op.

// bufferCheck runs a segBuffer beside its model.
type bufferCheck struct {
	t        testing.TB
	b        segBuffer
	model    []byte
	consumed int64
	kept     [][2][]byte // slices handed out by take, with what they held
}

func newBufferCheck(t testing.TB) *bufferCheck { return &bufferCheck{t: t} }

// call marks the start of a read call: it ends the validity of views, as
// Reader.begin does.
func (bc *bufferCheck) call() { bc.b.release() }

// push pushes data in a chunk whose buffer has room bytes to spare; pooled
// takes it from the pool instead.
func (bc *bufferCheck) push(data []byte, room int, pooled bool) {
	var c *chunk
	if pooled {
		c = getChunk(len(data))
	} else {
		c = &chunk{buf: make([]byte, len(data)+room)}
	}
	c.append(data)
	bc.b.push(c)
	bc.model = append(bc.model, data...)
	bc.verify("push")
}

func (bc *bufferCheck) unread(p []byte) {
	p = bytes.Clone(p)
	bc.b.unread(p)
	bc.model = append(bytes.Clone(p), bc.model...)
	bc.consumed -= int64(len(p))
	bc.verify("unread")
}

func (bc *bufferCheck) skip(n int) {
	n = min(n, len(bc.model))
	bc.b.skip(n)
	bc.consume(n)
	bc.verify("skip")
}

func (bc *bufferCheck) take(n int) {
	n = min(n, len(bc.model))
	got := bc.b.take(n)
	bc.expect("take", got, bc.model[:n])
	if cap(got) != len(got) {
		bc.t.Fatalf("take(%d): cap %d, want %d: an append would reach the buffer", n, cap(got), len(got))
	}
	bc.kept = append(bc.kept, [2][]byte{got, bytes.Clone(got)})
	bc.consume(n)
	bc.verify("take")
}

func (bc *bufferCheck) view(n int) {
	n = min(n, len(bc.model))
	bc.expect("view", bc.b.view(n), bc.model[:n])
	bc.consume(n)
	bc.verify("view")
}

func (bc *bufferCheck) copyOut(n int) {
	p := make([]byte, n)
	k := bc.b.copyOut(p)
	want := min(n, len(bc.model))
	if k != want {
		bc.t.Fatalf("copyOut(%d) = %d, want %d", n, k, want)
	}
	bc.expect("copyOut", p[:k], bc.model[:k])
	bc.consume(k)
	bc.verify("copyOut")
}

// viewLine checks viewLine (or takeLine, for an even limit), and firstLen
// and firstSep with it:
// what they find in the first chunk must be what the whole data holds.
func (bc *bufferCheck) viewLine(limit int) {
	first := bc.b.firstLen()
	i := bytes.IndexByte(bc.model, '\n')
	want := -1
	if i >= 0 && i < first && i <= limit {
		want = i
	}
	end := -1
	if want >= 0 {
		end = want + 1
	}
	if got := bc.b.firstSep(newline, limit); got != end {
		bc.t.Fatalf("firstSep(\\n, %d) = %d, want %d", limit, got, end)
	}
	var line []byte
	if limit%2 == 0 {
		line = bc.b.takeLine(limit)
	} else {
		line = bc.b.viewLine(limit)
	}
	if want < 0 {
		if line != nil {
			bc.t.Fatalf("viewLine(%d) = %q, want none (first chunk %d bytes)", limit, line, first)
		}
		return
	}
	bc.expect("viewLine", line, bc.model[:want+1])
	if limit%2 == 0 {
		bc.kept = append(bc.kept, [2][]byte{line, bytes.Clone(line)})
	}
	bc.consume(want + 1)
	bc.verify("viewLine")
}

// firstSep checks firstSep with two separators against the model's
// answer, which it must give whenever the winner ends in the first chunk.
func (bc *bufferCheck) firstSep(sep1, sep2 []byte, limit int) {
	if len(sep1) == 0 || len(sep2) == 0 {
		return // sortSeps refuses an empty separator
	}
	seps := [][]byte{sep1, sep2}
	if len(sep2) < len(sep1) {
		seps = [][]byte{sep2, sep1}
	}
	start, end := -1, -1
	for _, sep := range seps {
		if i := bytes.Index(bc.model, sep); i >= 0 && (end < 0 || i+len(sep) < end) {
			start, end = i, i+len(sep)
		}
	}
	got := bc.b.firstSep(seps, limit)
	switch {
	case end >= 0 && end <= bc.b.firstLen() && start <= limit:
		if got != end {
			bc.t.Fatalf("firstSep(%q, %d) = %d, want %d", seps, limit, got, end)
		}
	case got != -1:
		bc.t.Fatalf("firstSep(%q, %d) = %d, want -1 (the whole data's is %d..%d, first chunk %d bytes)",
			seps, limit, got, start, end, bc.b.firstLen())
	}
}

// index checks index against the model: the first occurrence in
// model[from:to].
func (bc *bufferCheck) index(sep []byte, from, to int) {
	if len(sep) == 0 {
		return
	}
	from = min(from, len(bc.model))
	want := -1
	if hi := min(to, len(bc.model)); hi >= from {
		if want = bytes.Index(bc.model[from:hi], sep); want >= 0 {
			want += from
		}
	}
	if got := bc.b.index(sep, from, to); got != want {
		bc.t.Fatalf("index(%q, %d, %d) = %d, want %d in %q", sep, from, to, got, want, bc.model)
	}
}

// sepFrom checks sepFrom against asyncio's rule applied to the model: of
// each separator's first occurrence at or after from, the one that ends
// first, and between equal ends the shorter.
func (bc *bufferCheck) sepFrom(from int, seps ...[]byte) {
	bc.t.Helper()
	sorted, err := sortSeps(seps, new([4][]byte))
	if err != nil {
		return
	}
	from = min(from, len(bc.model))
	start, end := -1, -1
	for _, sep := range sorted {
		if i := bytes.Index(bc.model[from:], sep); i >= 0 && (end < 0 || from+i+len(sep) < end) {
			start, end = from+i, from+i+len(sep)
		}
	}
	if gs, ge := bc.b.sepFrom(sorted, from); gs != start || ge != end {
		bc.t.Fatalf("sepFrom(%q, %d) = %d..%d, want %d..%d in %q", sorted, from, gs, ge, start, end, bc.model)
	}
}

func (bc *bufferCheck) byteAt(i int) {
	if len(bc.model) == 0 {
		return
	}
	i %= len(bc.model)
	if got := bc.b.byteAt(i); got != bc.model[i] {
		bc.t.Fatalf("byteAt(%d) = %q, want %q", i, got, bc.model[i])
	}
}

func (bc *bufferCheck) consume(n int) {
	bc.model = bc.model[n:]
	bc.consumed += int64(n)
}

func (bc *bufferCheck) expect(op string, got, want []byte) {
	bc.t.Helper()
	if !bytes.Equal(got, want) {
		bc.t.Fatalf("%s = %q, want %q", op, got, want)
	}
}

// verify compares the buffer's whole state with the model's.
func (bc *bufferCheck) verify(op string) {
	bc.t.Helper()
	if bc.b.buffered != len(bc.model) {
		bc.t.Fatalf("after %s: buffered = %d, want %d", op, bc.b.buffered, len(bc.model))
	}
	if bc.b.consumed != bc.consumed {
		bc.t.Fatalf("after %s: consumed = %d, want %d", op, bc.b.consumed, bc.consumed)
	}
	total := 0
	for i, c := range bc.b.segs {
		if c.len() == 0 {
			bc.t.Fatalf("after %s: segment %d is empty", op, i)
		}
		total += c.len()
	}
	if total != bc.b.buffered {
		bc.t.Fatalf("after %s: segments hold %d bytes, buffered says %d", op, total, bc.b.buffered)
	}
	if got := bc.b.gather(nil, 0, bc.b.buffered); !bytes.Equal(got, bc.model) {
		bc.t.Fatalf("after %s: buffer holds %q, want %q", op, got, bc.model)
	}
	for _, k := range bc.kept {
		if !bytes.Equal(k[0], k[1]) {
			bc.t.Fatalf("after %s: a slice take returned changed from %q to %q", op, k[1], k[0])
		}
	}
}

func TestSegBuffer(t *testing.T) {
	t.Parallel()
	line := func(s string) []byte { return []byte(s + "\n") }
	tests := []struct {
		name string
		run  func(bc *bufferCheck)
	}{
		{"empty", func(bc *bufferCheck) {
			bc.index([]byte("a"), 0, 10)
			bc.sepFrom(0, []byte("a"), []byte("bc"))
			bc.viewLine(10)
			bc.copyOut(4)
			bc.take(0)
			bc.view(0)
		}},
		{"take within a chunk aliases it", func(bc *bufferCheck) {
			bc.push([]byte("hello world"), 0, false)
			bc.take(5)
			if !bc.b.segs[0].shared {
				bc.t.Fatal("the chunk a slice was taken from is not marked shared")
			}
			bc.take(6)
		}},
		{"take across chunks copies", func(bc *bufferCheck) {
			bc.push([]byte("abc"), 0, false)
			bc.push([]byte("def"), 0, false)
			bc.take(5)
			bc.take(1)
		}},
		{"small pushes merge into the last chunk", func(bc *bufferCheck) {
			bc.push([]byte("a"), 100, false)
			for _, s := range []string{"b", "c", "d"} {
				bc.push([]byte(s), 8, false)
			}
			if len(bc.b.segs) != 1 {
				bc.t.Fatalf("%d segments, want 1: tiny pushes were not merged", len(bc.b.segs))
			}
			bc.take(4)
		}},
		{"unread goes in front", func(bc *bufferCheck) {
			bc.push([]byte("world"), 0, false)
			bc.unread([]byte("hello "))
			bc.copyOut(20)
		}},
		{"a separator straddling chunks", func(bc *bufferCheck) {
			bc.push([]byte("xx\r"), 0, false)
			bc.push([]byte("\nyy"), 0, false)
			bc.index([]byte("\r\n"), 0, 6)
			bc.index([]byte("\r\n"), 0, 4)
			bc.index([]byte("\r\n"), 0, 3) // it would end past to
			bc.index([]byte("\r\n"), 3, 6)
			bc.firstSep([]byte("\r\n"), []byte("y"), 100)
			bc.sepFrom(0, []byte("\r\n"), []byte("y"))
			bc.sepFrom(0, []byte("\r\n"), []byte("\n"))
			bc.sepFrom(0, []byte("\r\n"), []byte("\nyy"))
			bc.sepFrom(2, []byte("\r\n"), []byte("x\r"))
			bc.skip(1)
			bc.index([]byte("x\r\ny"), 0, 6)
		}},
		{"overlapping separators", func(bc *bufferCheck) {
			bc.push([]byte("xx\r\nab\nyyb"), 0, false)
			bc.firstSep([]byte("\r\n"), []byte("\n"), 100) // equal ends: "\n", which starts later
			bc.firstSep([]byte("\r\n"), []byte("\n"), 2)   // "\r\n" starts within the limit, "\n" past it
			bc.firstSep([]byte("ab"), []byte("b"), 100)
			bc.sepFrom(0, []byte("\r\n"), []byte("\n"), []byte("ab\n"))
			bc.sepFrom(4, []byte("ab"), []byte("b"), []byte("\n"))
			bc.skip(4)
			bc.firstSep([]byte("ab"), []byte("b"), 100)
			bc.firstSep([]byte("yyb"), []byte("b"), 100)
		}},
		{"the longer separator ends first", func(bc *bufferCheck) {
			bc.push([]byte("--END--x\n"), 0, false)
			bc.firstSep([]byte("\n"), []byte("END"), 100)
			bc.firstSep([]byte("x\n"), []byte("-END-"), 100)
			bc.sepFrom(0, []byte("\n"), []byte("END"), []byte("x\n"))
			bc.sepFrom(0, []byte("\n"), []byte("D--x\n"))
		}},
		{"separators split across chunks", func(bc *bufferCheck) {
			bc.push([]byte("abc\r"), 0, false)
			bc.push([]byte("\ndef"), 0, false)
			bc.push([]byte("\n"), 0, false)
			bc.firstSep([]byte("\r\n"), []byte("\n"), 100) // none ends in the first chunk
			bc.sepFrom(0, []byte("\r\n"), []byte("\n"))
			bc.sepFrom(0, []byte("\r\nd"), []byte("f\n"))
			bc.sepFrom(0, []byte("c\r\nd"), []byte("\r\ndef\n"))
			bc.sepFrom(4, []byte("\r\n"), []byte("\n"))
			bc.sepFrom(5, []byte("\r\n"), []byte("\n"))
		}},
		{"a line in the first chunk", func(bc *bufferCheck) {
			bc.push(append(line("one"), line("two")...), 0, false)
			bc.viewLine(100)
			bc.call()
			bc.viewLine(2) // "two" is longer than the limit
			bc.viewLine(3)
		}},
		{"a line past the first chunk", func(bc *bufferCheck) {
			bc.push([]byte("on"), 0, false)
			bc.push(line("e"), 0, false)
			bc.viewLine(100)
			bc.view(4)
		}},
		{"a view across chunks uses scratch", func(bc *bufferCheck) {
			bc.push([]byte("ab"), 0, false)
			bc.push([]byte("cd"), 0, false)
			bc.view(3)
			bc.call()
			bc.view(1)
		}},
		{"the separator that ends first wins", func(bc *bufferCheck) {
			bc.push([]byte("xxABCyyC"), 0, false)
			bc.firstSep([]byte("ABC"), []byte("C"), 100)
			bc.firstSep([]byte("B"), []byte("AB"), 100)
			bc.firstSep([]byte("yyC"), []byte("q"), 2) // starts past the limit
		}},
		{"pooled chunks and small reads", func(bc *bufferCheck) {
			bc.push([]byte("GET / HTTP/1.1\r\n"), 0, true)
			bc.take(4)
			bc.push(bytes.Repeat([]byte("y"), 5000), 0, true)
			bc.take(5000)
			bc.skip(12)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bc := newBufferCheck(t)
			tc.run(bc)
			bc.call()
			bc.verify("the end")
		})
	}
}

func TestSegBuffer_ByteAtBeyondPanics(t *testing.T) {
	t.Parallel()
	var b segBuffer
	b.push(&chunk{buf: []byte("ab"), w: 2})
	defer func() {
		if recover() == nil {
			t.Error("byteAt(2) of 2 bytes did not panic")
		}
	}()
	b.byteAt(2)
}

// runBufferOps interprets ops as a program for bufferCheck: each op is a
// byte choosing the operation and a byte of argument; push and unread take
// their data from the front of data, in turn.
func runBufferOps(bc *bufferCheck, ops, data []byte) {
	next := func(n int) []byte {
		n = min(n, len(data))
		p := data[:n]
		data = data[n:]
		return p
	}
	for i := 0; i+1 < len(ops) && i < 400; i += 2 {
		op, arg := ops[i], int(ops[i+1])
		bc.call()
		switch op % 10 {
		case 0:
			bc.push(next(arg), int(op>>4), op&8 != 0)
		case 1:
			bc.unread(next(arg % 16))
		case 2:
			bc.skip(arg)
		case 3:
			bc.take(arg)
		case 4:
			bc.copyOut(arg)
		case 5:
			bc.view(arg)
		case 6:
			sep, from := next(1+arg%3), int(op>>4)
			bc.index(sep, from, from+int(arg>>2))
			bc.sepFrom(from, sep, next(1+arg%2), next(1+(arg>>1)%3))
		case 7:
			bc.viewLine(arg)
		case 8:
			bc.firstSep(next(1+arg%2), next(1+(arg>>1)%3), int(op>>4)*8)
		case 9:
			bc.byteAt(arg)
		}
	}
	bc.call()
	bc.verify("the end")
}

func FuzzBuffer(f *testing.F) {
	f.Add([]byte{0, 5, 0, 3, 3, 4, 7, 10, 1, 2, 5, 3, 4, 9}, []byte("ab\ncd\r\nefgh\nijkl"))
	f.Add([]byte{0x10, 2, 0x10, 2, 0x10, 2, 6, 1, 8, 3, 2, 1, 3, 6}, []byte("x\r\ny\r\nz\r\nxy\r\n"))
	f.Add([]byte{8, 200, 3, 2, 5, 100, 4, 255, 1, 7, 0, 30, 7, 255}, bytes.Repeat([]byte("line\n"), 60))
	f.Fuzz(func(t *testing.T, ops, data []byte) {
		runBufferOps(newBufferCheck(t), ops, data)
	})
}

// TestSegBuffer_Programs runs a few long programs, so that a plain go test
// covers more than the seeds.
func TestSegBuffer_Programs(t *testing.T) {
	t.Parallel()
	for seed := range 20 {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			ops := make([]byte, 400)
			data := make([]byte, 4000)
			x := uint32(seed)*2654435761 + 1
			rnd := func() byte {
				x ^= x << 13
				x ^= x >> 17
				x ^= x << 5
				return byte(x)
			}
			for i := range ops {
				ops[i] = rnd()
			}
			for i := range data {
				data[i] = "ab\r\nxy"[rnd()%6]
			}
			runBufferOps(newBufferCheck(t), ops, data)
		})
	}
}
