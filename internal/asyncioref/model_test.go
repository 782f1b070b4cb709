package asyncioref

import (
	"context"
	"errors"
	"math/rand"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func b(s string) []byte { return []byte(s) }

func TestModel_Table(t *testing.T) {
	tests := []struct {
		name string
		c    Case
		want []Result
		rest string
	}{
		{
			name: "readline across pieces",
			c:    Case{Limit: 100, Prefeed: 1, Chunks: [][]byte{b("chunk1 "), b("chunk2 "), b("chunk3 "), b("\n chunk4")}, Ops: []Op{{Kind: "readline"}}},
			want: []Result{{Kind: "ok", Data: b("chunk1 chunk2 chunk3 \n")}},
			rest: " chunk4",
		},
		{
			name: "readline over the limit discards through the newline",
			c:    Case{Limit: 3, Prefeed: 2, Chunks: [][]byte{b("li"), b("ne1\nline2\n")}, Ops: []Op{{Kind: "readline"}}},
			want: []Result{{Kind: "value"}},
			rest: "line2\n",
		},
		{
			name: "readuntil not within the limit keeps the data",
			c:    Case{Limit: 3, Prefeed: 1, Chunks: [][]byte{b("some dataAA")}, Ops: []Op{{Kind: "readuntil", Seps: [][]byte{b("AAA")}}}},
			want: []Result{{Kind: "limit", Consumed: 9}},
			rest: "some dataAA",
		},
		{
			name: "readuntil at EOF",
			c:    Case{Limit: 100, Prefeed: 1, Chunks: [][]byte{b("some dataAA")}, EOF: true, Ops: []Op{{Kind: "readuntil", Seps: [][]byte{b("AAA")}}}},
			want: []Result{{Kind: "incomplete", Partial: b("some dataAA"), Expected: -1}},
		},
		{
			name: "shortest match of several separators (3.13)",
			c:    Case{Limit: 100, Prefeed: 1, Chunks: [][]byte{b("xxABCyyC")}, Ops: []Op{{Kind: "readuntil", Seps: [][]byte{b("C"), b("ABC")}}}},
			want: []Result{{Kind: "ok", Data: b("xxABC")}},
			rest: "yyC",
		},
		{
			name: "readexactly at EOF",
			c:    Case{Limit: 100, Chunks: [][]byte{b("abc")}, EOF: true, Ops: []Op{{Kind: "readexactly", N: 5}, {Kind: "at_eof"}}},
			want: []Result{{Kind: "incomplete", Partial: b("abc"), Expected: 5}, {Kind: "ok", Bool: true}},
		},
		{
			name: "read blocks forever without EOF",
			c:    Case{Limit: 100, Ops: []Op{{Kind: "read", N: 5}}},
			want: []Result{{Kind: "blocked"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Run(tc.c)
			if diff := Compare(got, Outcome{Results: tc.want, Rest: b(tc.rest)}); diff != "" {
				t.Fatal(diff)
			}
		})
	}
}

func TestModel_AgainstPythonAsyncio(t *testing.T) {
	cases := RandomCases(rand.New(rand.NewSource(1)), 4000, false)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	outcomes, err := RunPython(ctx, cases)
	if errors.Is(err, ErrNoPython) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	bad := 0
	for i, c := range cases {
		if diff := Compare(Run(c), outcomes[i]); diff != "" {
			t.Errorf("case %d (%s): model against asyncio: %s", i, c, diff)
			if bad++; bad > 5 {
				t.FailNow()
			}
		}
	}
}
