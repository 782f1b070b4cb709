package main

import (
	"bytes"
	"context"
	"net"
	"time"
)

// kindMerge is the fan-in protocol: lines to EOF, merged by the server with
// every other such connection's into one consumer; reply: the number of lines.
const kindMerge = 'M'

// kindMergeLines is kindMerge with the server's fan-in delivering one line
// per value rather than batches (chanstream's fanin.Lines; raw Go's servers
// treat it as kindMerge, which is already one line per value).
const kindMergeLines = 'N'

// faninConns is the number of connections the fan-in workload merges.
const faninConns = 64

func init() {
	allWorkloads = append(allWorkloads, "fanin")
	workloadFuncs["fanin"] = faninWorkload
	rowDefs = append(rowDefs, rowDef{Key: "fanin", Label: "fanin: 64 conns into one consumer (LineBatches)", Workload: "fanin", Metric: "mlines_s", Unit: "M lines/s", HigherBetter: true, Ours: ours,
		Goal: &goal{Peer: "rawgo", Op: ">=", Value: 1.0}})
	allWorkloads = append(allWorkloads, "fanin-lines")
	workloadFuncs["fanin-lines"] = func(ctx context.Context, t target) (metrics, error) { return merge(ctx, t, kindMergeLines) }
	rowDefs = append(rowDefs, rowDef{Key: "fanin-lines", Label: "fanin: 64 conns into one consumer (Lines)", Workload: "fanin-lines", Metric: "mlines_s", Unit: "M lines/s", HigherBetter: true, Ours: ours})
}

// faninWorkload sends Lines lines of 64 bytes in all, spread over 64
// connections at once, 1,024 lines per write, each connection half-closing
// at its end; the server merges every connection's lines into one consumer
// and replies each connection's count.
func faninWorkload(ctx context.Context, t target) (metrics, error) {
	return merge(ctx, t, kindMerge)
}

// merge is faninWorkload with the connections' first byte kind.
func merge(ctx context.Context, t target, kind byte) (metrics, error) {
	const perBlock = blockSize / lineLen
	blocks := max(1, (t.sizes.Lines+perBlock-1)/perBlock/faninConns)
	conns, err := t.dialAll(ctx, faninConns)
	if err != nil {
		return nil, err
	}
	defer closeAll(conns)
	block := bytes.Repeat(line, perBlock)
	start := time.Now()
	err = parallel(conns, func(_ int, c net.Conn) error {
		if _, err := c.Write([]byte{kind}); err != nil {
			return err
		}
		for range blocks {
			if _, err := c.Write(block); err != nil {
				return err
			}
		}
		if err := c.(*net.TCPConn).CloseWrite(); err != nil {
			return err
		}
		return readCount(c, int64(blocks*perBlock))
	})
	elapsed := time.Since(start).Seconds()
	if err != nil {
		return nil, err
	}
	total := float64(blocks * perBlock * faninConns)
	return metrics{"mlines_s": total / elapsed / 1e6, "seconds": elapsed}, nil
}
