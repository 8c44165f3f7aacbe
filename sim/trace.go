package sim

import (
	"fmt"
	"time"
)

// Limits on a [Trace] that [ReadTrace] reads and [Scenario.Validate]
// accepts.
const (
	MaxTracePackets = 1 << 24 // len(Trace.Packets)
	MaxTraceBytes   = 1 << 30 // the size of a file ReadTrace reads, decompressed
	// A gzip-compressed file may decompress to MaxGzipRatio times its
	// compressed size, or to MinGzipLimit bytes if that is more (and
	// never beyond MaxTraceBytes): captures compress some 2 to 40 times,
	// a gzip bomb about 1000.
	MaxGzipRatio = 100
	MinGzipLimit = 64 << 20
)

// TracePacket is one captured frame of a [Trace].
type TracePacket struct {
	// At is the frame's arrival time at the node, since the trace's first
	// frame. It never decreases along a trace.
	At Time
	// Frame is the Ethernet frame as captured (possibly cut short by the
	// capture's snap length). Frames [ReadTrace] returns are slices of
	// the file's bytes, and recorded frames may be a trace's: read-only.
	Frame []byte
}

// Trace is captured traffic replayed as a scenario's traffic source
// (Traffic.Trace): plain data, built by [ReadTrace] from a pcap or
// pcapng file or by hand, and written back by [WriteTrace].
type Trace struct {
	// Start is the wall-clock time of At 0 (the first frame's capture
	// time); written files count from it. The zero Time writes as the
	// Unix epoch.
	Start time.Time `json:",omitzero"`
	// Packets are the frames in capture order.
	Packets []TracePacket `json:",omitempty"`
}

// validate checks a scenario's trace.
func (tr *Trace) validate() error {
	if n := len(tr.Packets); n > MaxTracePackets {
		return bad("traffic.trace.packets", n, "at most %d packets", MaxTracePackets)
	}
	var prev Time
	for i := range tr.Packets {
		at := tr.Packets[i].At
		if at < prev || at >= maxTime {
			return bad(fmt.Sprintf("traffic.trace.packets[%d].at", i), at, "must be at least the previous packet's %v and below %v", prev, Time(maxTime))
		}
		prev = at
	}
	return nil
}

// span is the duration that replays the whole trace.
func (tr *Trace) span() Time {
	if n := len(tr.Packets); n > 0 {
		return tr.Packets[n-1].At + 1
	}
	return 0
}
