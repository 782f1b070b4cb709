package chanstream

import (
	"testing"

	"github.com/chanstream/chanstream/internal/asyncioref"
)

// The fuzz targets run our Reader against the asyncio reference model
// (internal/asyncioref, itself checked against python3) on inputs the
// fuzzer picks: the data, how it is cut into feed pieces, how much of it is
// fed before the first call, the limit, and the calls. Their seed corpus is
// in testdata/fuzz. Run one with, for example,
//
//	go test -run '^$' -fuzz FuzzReadUntil -fuzztime 60s ./chanstream

// fuzzCase builds a case: cuts gives the length of each piece in turn
// (cycling; 0 makes an empty piece), flags bit 0 says EOF follows the data,
// and the other bits how many pieces are fed before the first call.
func fuzzCase(data, cuts []byte, flags, limit uint8, ops []asyncioref.Op) asyncioref.Case {
	var chunks [][]byte
	for i := 0; len(data) > 0; i++ {
		k := 1
		if len(cuts) > 0 {
			k = int(cuts[i%len(cuts)])
		}
		if k == 0 && len(chunks) > 200 {
			k = 1 // bounded: a run of empty pieces does not grow forever
		}
		k = min(k, len(data))
		chunks = append(chunks, data[:k])
		data = data[k:]
	}
	prefeed := int(flags >> 1)
	return asyncioref.Case{
		Limit:   1 + int(limit),
		Prefeed: min(prefeed, len(chunks)),
		Chunks:  chunks,
		EOF:     flags&1 == 1,
		Ops:     ops,
	}
}

func checkCase(t *testing.T, c asyncioref.Case) {
	t.Helper()
	if diff := compareOutcomes(c, runCase(t, c), asyncioref.Run(c)); diff != "" {
		t.Fatalf("case %s\nours against the model: %s", c, diff)
	}
}

func FuzzReadUntil(f *testing.F) {
	f.Add([]byte("line1\nline2\r\nline3"), []byte{1, 3}, uint8(1), uint8(8), []byte("\n"), []byte(""))
	f.Add([]byte("QWEaaXYaaa"), []byte{5, 4, 1}, uint8(0), uint8(50), []byte("aaa"), []byte(""))
	f.Add([]byte("xxABCyyC"), []byte{2}, uint8(3), uint8(3), []byte("ABC"), []byte("C"))
	// Overlapping separators, one split across pieces, the longer ending first.
	f.Add([]byte("ab\r\ncd\nef\r\n"), []byte{3}, uint8(1), uint8(50), []byte("\r\n"), []byte("\n"))
	f.Add([]byte("xxabybzzab"), []byte{3, 1}, uint8(2), uint8(50), []byte("ab"), []byte("b"))
	f.Add([]byte("--END--x\nEND"), []byte{4}, uint8(1), uint8(50), []byte("\n"), []byte("END"))
	f.Add([]byte("0123\r\n45\n"), []byte{5}, uint8(0), uint8(3), []byte("\r\n"), []byte("\n"))
	f.Fuzz(func(t *testing.T, data, cuts []byte, flags, limit uint8, sep1, sep2 []byte) {
		if len(sep1) == 0 || len(sep1) > 8 || len(sep2) > 8 || len(data) > 4096 {
			return // an empty separator is an error, tested elsewhere
		}
		seps := [][]byte{sep1}
		if len(sep2) > 0 {
			seps = append(seps, sep2)
		}
		var ops []asyncioref.Op
		for i := 0; i < 6; i++ {
			ops = append(ops, asyncioref.Op{Kind: "readuntil", Seps: seps})
		}
		ops = append(ops, asyncioref.Op{Kind: "at_eof"})
		checkCase(t, fuzzCase(data, cuts, flags, limit, ops))
	})
}

func FuzzReadLine(f *testing.F) {
	f.Add([]byte("chunk1chunk2chunk3\nshort\n"), []byte{6}, uint8(1), uint8(6))
	f.Add([]byte("a\n\n\nbb\nccc"), []byte{1}, uint8(0), uint8(2))
	f.Fuzz(func(t *testing.T, data, cuts []byte, flags, limit uint8) {
		if len(data) > 4096 {
			return
		}
		var ops []asyncioref.Op
		for i := 0; i < 8; i++ {
			ops = append(ops, asyncioref.Op{Kind: "readline"})
		}
		ops = append(ops, asyncioref.Op{Kind: "read", N: -1})
		checkCase(t, fuzzCase(data, cuts, flags, limit, ops))
	})
}

func FuzzReadExactly(f *testing.F) {
	f.Add([]byte("0123456789abcdef"), []byte{3, 1}, uint8(1), []byte{4, 0, 7, 200})
	f.Add([]byte("xy"), []byte{1}, uint8(0), []byte{3})
	f.Fuzz(func(t *testing.T, data, cuts []byte, flags uint8, ns []byte) {
		if len(data) > 4096 || len(ns) > 16 {
			return
		}
		var ops []asyncioref.Op
		for i, n := range ns {
			kind := "readexactly"
			if i%3 == 2 {
				kind = "read" // mix in read(n)
			}
			ops = append(ops, asyncioref.Op{Kind: kind, N: int(n)})
		}
		checkCase(t, fuzzCase(data, cuts, flags, 255, ops))
	})
}
