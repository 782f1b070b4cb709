package main

import (
	"bytes"
	"context"
	"encoding/binary"
)

// kindFrameChan is the frames-on-a-channel protocol: frames (a 4-byte
// big-endian length + the body) to EOF, which the server delivers on a
// channel received in a select; reply: the number of frames.
const kindFrameChan = 'R'

func init() {
	allWorkloads = append(allWorkloads, "framechan")
	workloadFuncs["framechan"] = frameChan
	rowDefs = append(rowDefs, rowDef{Key: "framechan", Label: "framechan: frame.Receiver in a select", Workload: "framechan", Metric: "kframes_s", Unit: "k frames/s", HigherBetter: true, Ours: ours,
		Goal: &goal{Peer: "rawgo", Op: ">=", Value: 1.0}},
		rowDef{Key: "framechan-cpu", Label: "framechan: server CPU per frame", Workload: "framechan", Metric: "cpu_us_frame", Unit: "CPU µs", Ours: ours,
			Goal: &goal{Peer: "rawgo", Op: "<=", Value: 1.0}})
}

// frameChan is frames with the frames-on-a-channel protocol: Frames frames
// of a 4-byte big-endian length and a FrameBytes body on one connection, 64
// per write; the server delivers each as a []byte on a channel, consumed in
// a select beside a ticker, and replies the count. It also reports the
// server's CPU time per frame (user + system, from /proc), steadier than the
// rate on a shared machine.
func frameChan(ctx context.Context, t target) (metrics, error) {
	const perBlock = 64
	var block []byte
	for i := range perBlock {
		block = binary.BigEndian.AppendUint32(block, uint32(t.sizes.FrameBytes))
		block = append(block, bytes.Repeat([]byte{byte(i)}, t.sizes.FrameBytes)...)
	}
	n := (t.sizes.Frames + perBlock - 1) / perBlock
	cpu0, err := processTicks(t.pid)
	if err != nil {
		return nil, err
	}
	elapsed, err := stream(ctx, t, kindFrameChan, block, n, int64(n*perBlock))
	if err != nil {
		return nil, err
	}
	cpu1, err := processTicks(t.pid)
	if err != nil {
		return nil, err
	}
	total := float64(n * perBlock)
	return metrics{
		"kframes_s":    total / elapsed / 1e3,
		"cpu_us_frame": float64(cpu1-cpu0) / clockTicks / total * 1e6,
		"seconds":      elapsed,
	}, nil
}
