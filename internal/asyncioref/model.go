// Package asyncioref holds two oracles of Python asyncio's StreamReader for
// chanstream's tests: Model, a plain Go transcription of CPython 3.13's
// Lib/asyncio/streams.py buffer algorithms (simple and obviously right
// rather than fast), and RunPython, which runs the same cases through the
// real asyncio in python3.
//
// A Case is a byte stream in feed_data pieces plus read operations. Feeding
// is deterministic so that results can be compared byte for byte: the first
// Prefeed pieces are fed before the first operation, and after that the
// next piece is fed exactly when asyncio would wait for data
// (_wait_for_data), skipping empty pieces; once the pieces run out, EOF is
// fed if Case.EOF, and otherwise the operation would wait forever and the run
// stops there ("blocked").
package asyncioref

import (
	"bytes"
	"slices"
)

// Case is one scenario.
type Case struct {
	Limit   int      `json:"limit"`
	Prefeed int      `json:"prefeed"`
	Chunks  [][]byte `json:"chunks"`
	EOF     bool     `json:"eof"`
	Ops     []Op     `json:"ops"`
}

// Op is one read call.
type Op struct {
	Kind string   `json:"kind"` // "read", "readline", "readuntil", "readexactly", "at_eof"
	N    int      `json:"n"`    // read, readexactly
	Seps [][]byte `json:"seps"` // readuntil: one separator, or a tuple
}

// Result is what one Op gave.
type Result struct {
	// Kind is "ok", "limit" (LimitOverrunError), "incomplete"
	// (IncompleteReadError), "value" (ValueError: readline over the limit,
	// an empty separator, a negative count) or "blocked" (the op would wait
	// forever).
	Kind     string `json:"kind"`
	Data     []byte `json:"data"`
	Consumed int    `json:"consumed"`
	Partial  []byte `json:"partial"`
	Expected int    `json:"expected"` // -1 for None
	Bool     bool   `json:"bool"`
}

// Outcome is what a Case gave: one Result per Op run, and what was left:
// after the ops, the pieces not yet fed are fed, then EOF if Case.EOF, and
// Rest is the buffer then.
type Outcome struct {
	Results []Result `json:"results"`
	Rest    []byte   `json:"rest"`
}

// Model is asyncio's StreamReader buffer logic.
type Model struct {
	limit  int
	buf    []byte
	eof    bool
	chunks [][]byte // still to feed
	endEOF bool
}

// errBlocked ends a run whose op would wait forever.
type errBlocked struct{}

// Run runs c through the model.
func Run(c Case) Outcome {
	m := &Model{limit: c.Limit, chunks: slices.Clone(c.Chunks), endEOF: c.EOF}
	for i := 0; i < c.Prefeed && len(m.chunks) > 0; i++ {
		m.feed(m.chunks[0])
		m.chunks = m.chunks[1:]
	}
	var out Outcome
	for _, op := range c.Ops {
		r, ok := m.do(op)
		out.Results = append(out.Results, r)
		if !ok {
			break
		}
	}
	for _, ch := range m.chunks {
		m.feed(ch)
	}
	out.Rest = append([]byte{}, m.buf...)
	return out
}

func (m *Model) feed(p []byte) { m.buf = append(m.buf, p...) }

// wait feeds what asyncio's _wait_for_data would get; false if nothing
// will ever come.
func (m *Model) wait() bool {
	for len(m.chunks) > 0 {
		ch := m.chunks[0]
		m.chunks = m.chunks[1:]
		if len(ch) > 0 {
			m.feed(ch)
			return true
		}
	}
	if m.endEOF {
		m.eof = true
		m.endEOF = false // fed once
		return true
	}
	return false
}

func (m *Model) do(op Op) (r Result, ok bool) {
	defer func() {
		if e := recover(); e != nil {
			if _, isBlocked := e.(errBlocked); !isBlocked {
				panic(e)
			}
			r, ok = Result{Kind: "blocked"}, false
		}
	}()
	switch op.Kind {
	case "read":
		return m.read(op.N), true
	case "readline":
		return m.readline(), true
	case "readuntil":
		return m.readuntil(op.Seps), true
	case "readexactly":
		return m.readexactly(op.N), true
	case "at_eof":
		return Result{Kind: "ok", Bool: m.eof && len(m.buf) == 0}, true
	}
	panic("asyncioref: unknown op " + op.Kind)
}

func (m *Model) mustWait() {
	if !m.wait() {
		panic(errBlocked{})
	}
}

func (m *Model) take(n int) []byte {
	b := append([]byte{}, m.buf[:n]...)
	m.buf = m.buf[n:]
	return b
}

func (m *Model) read(n int) Result {
	if n == 0 {
		return Result{Kind: "ok", Data: []byte{}}
	}
	if n < 0 {
		var all []byte
		for {
			r := m.read(m.limit)
			if len(r.Data) == 0 {
				return Result{Kind: "ok", Data: append([]byte{}, all...)}
			}
			all = append(all, r.Data...)
		}
	}
	if len(m.buf) == 0 && !m.eof {
		m.mustWait()
	}
	return Result{Kind: "ok", Data: m.take(min(n, len(m.buf)))}
}

func (m *Model) readline() Result {
	r := m.readuntil([][]byte{[]byte("\n")})
	switch r.Kind {
	case "incomplete":
		return Result{Kind: "ok", Data: r.Partial}
	case "limit":
		if bytes.HasPrefix(m.buf[min(r.Consumed, len(m.buf)):], []byte("\n")) {
			m.buf = m.buf[r.Consumed+1:]
		} else {
			m.buf = m.buf[:0]
		}
		return Result{Kind: "value"}
	}
	return r
}

// readuntil is CPython 3.13's, separator tuple included.
func (m *Model) readuntil(seps [][]byte) Result {
	if len(seps) == 0 {
		return Result{Kind: "value"}
	}
	sorted := slices.Clone(seps)
	slices.SortStableFunc(sorted, func(a, b []byte) int { return len(a) - len(b) })
	minLen, maxLen := len(sorted[0]), len(sorted[len(sorted)-1])
	if minLen == 0 {
		return Result{Kind: "value"}
	}
	offset := 0
	var matchStart, matchEnd int
	for {
		buflen := len(m.buf)
		if buflen-offset >= minLen {
			matchStart, matchEnd = -1, -1
			for _, sep := range sorted {
				if i := bytes.Index(m.buf[offset:], sep); i >= 0 {
					end := offset + i + len(sep)
					if matchEnd < 0 || end < matchEnd {
						matchStart, matchEnd = offset+i, end
					}
				}
			}
			if matchEnd >= 0 {
				break
			}
			offset = max(0, buflen+1-maxLen)
			if offset > m.limit {
				return Result{Kind: "limit", Consumed: offset}
			}
		}
		if m.eof {
			return Result{Kind: "incomplete", Partial: m.take(len(m.buf)), Expected: -1}
		}
		m.mustWait()
	}
	if matchStart > m.limit {
		return Result{Kind: "limit", Consumed: matchStart}
	}
	return Result{Kind: "ok", Data: m.take(matchEnd)}
}

func (m *Model) readexactly(n int) Result {
	if n < 0 {
		return Result{Kind: "value"}
	}
	if n == 0 {
		return Result{Kind: "ok", Data: []byte{}}
	}
	for len(m.buf) < n {
		if m.eof {
			return Result{Kind: "incomplete", Partial: m.take(len(m.buf)), Expected: n}
		}
		m.mustWait()
	}
	return Result{Kind: "ok", Data: m.take(n)}
}
