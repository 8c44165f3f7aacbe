package sim

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"slices"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/frag"
)

// Limits on a [Trace] that [ReadTrace] reads and [Scenario.Validate]
// accepts.
const (
	MaxTracePackets = 1 << 24 // len(Trace.Packets)
	MaxTraceBytes   = 1 << 30 // the size of a file ReadTrace reads
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

// TraceError is a pcap or pcapng file [ReadTrace] cannot read: what is
// wrong and where.
type TraceError struct {
	// Packet is the number (from 0) of the packet being read, or -1 for
	// the file's header.
	Packet int
	// Offset is the byte offset in the file of the record or block being
	// read (for a gzip-compressed pcap, in the decompressed stream), or -1
	// when unknown.
	Offset int64
	// Err says what is wrong.
	Err error
}

// Error returns "sim: trace: packet N at byte offset X: what".
func (e *TraceError) Error() string {
	where := "file header"
	if e.Packet >= 0 {
		where = fmt.Sprintf("packet %d", e.Packet)
	}
	if e.Offset >= 0 {
		where += fmt.Sprintf(" at byte offset %d", e.Offset)
	}
	return fmt.Sprintf("sim: trace: %s: %v", where, e.Err)
}

// Unwrap returns what is wrong.
func (e *TraceError) Unwrap() error { return e.Err }

// File magic numbers, as read little-endian from a file's first 4 bytes.
const (
	magicPcapMicro   = 0xa1b2c3d4
	magicPcapNano    = 0xa1b23c4d
	magicPcapMicroBE = 0xd4c3b2a1
	magicPcapNanoBE  = 0x4d3cb2a1
	magicPcapng      = 0x0a0d0d0a
)

// ReadTrace reads a pcap (microsecond or nanosecond, either byte order,
// optionally gzip-compressed) or pcapng file, told apart by its magic
// number, into a [Trace]. Frames must be Ethernet (link type 1) or raw
// IPv4 (link types 101 and 228, given an Ethernet header with the same
// fixed addresses [balancer.Encode] writes). Trace.Start is the first
// frame's capture time rounded down to the whole second, and a frame's At
// its capture time minus Start: so the first frame arrives within the
// first simulated second, and a trace written by [WriteTrace] with a
// whole-second Start (the zero Time included) reads back with the same
// times to the nanosecond. A capture time earlier than the previous
// frame's (captures merged from several interfaces) is raised to it, so
// the frames replay in file order.
//
// A file that is not a capture, is cut short, or has inconsistent
// lengths is a [*TraceError] naming the packet and byte offset (for a
// gzip-compressed file, in the decompressed stream); frames
// that do not decode as IPv4 are read as they are (a run counts them as
// drops).
func ReadTrace(r io.Reader) (Trace, error) {
	data, err := readAll(r)
	if err != nil {
		return Trace{}, err
	}
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return Trace{}, &TraceError{Packet: -1, Offset: 0, Err: fmt.Errorf("gzip: %w", err)}
		}
		if data, err = readAll(zr); err != nil {
			return Trace{}, err
		}
	}
	if len(data) < 4 {
		return Trace{}, &TraceError{Packet: -1, Offset: 0, Err: fmt.Errorf("%d-byte file: too short for a pcap or pcapng header", len(data))}
	}
	switch m := binary.LittleEndian.Uint32(data); m {
	case magicPcapng:
		return readPcapng(data)
	case magicPcapMicro, magicPcapNano:
		return readPcap(data, binary.LittleEndian)
	case magicPcapMicroBE, magicPcapNanoBE:
		return readPcap(data, binary.BigEndian)
	default:
		return Trace{}, &TraceError{Packet: -1, Offset: 0, Err: fmt.Errorf("magic number %#08x: neither pcap (a1b2c3d4, a1b23c4d) nor pcapng (0a0d0d0a)", m)}
	}
}

// readAll reads r up to MaxTraceBytes.
// It sizes its buffer from r's Len or, for a regular file, its size, so
// that a large file is not copied while the buffer grows.
func readAll(r io.Reader) ([]byte, error) {
	var hint int64
	switch v := r.(type) {
	case interface{ Len() int }:
		hint = int64(v.Len())
	case interface{ Stat() (fs.FileInfo, error) }:
		if fi, err := v.Stat(); err == nil && fi.Mode().IsRegular() {
			hint = fi.Size()
		}
	}
	data := make([]byte, 0, min(max(hint, 0), MaxTraceBytes)+1)
	lr := io.LimitReader(r, MaxTraceBytes+1)
	for {
		n, err := lr.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, &TraceError{Packet: -1, Offset: int64(len(data)), Err: err}
		}
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
	}
	if len(data) > MaxTraceBytes {
		return nil, &TraceError{Packet: -1, Offset: MaxTraceBytes, Err: fmt.Errorf("file larger than %d bytes", MaxTraceBytes)}
	}
	return data, nil
}

// readPcap reads a pcap file of the given byte order. It checks each
// record's capture length against the bytes left before pcapgo reads
// (and allocates) it.
func readPcap(data []byte, order binary.ByteOrder) (Trace, error) {
	pr, err := pcapgo.NewReader(bytes.NewReader(data))
	if err != nil {
		return Trace{}, &TraceError{Packet: -1, Offset: 0, Err: fmt.Errorf("pcap file header: %w", eofUnexpected(err))}
	}
	var b traceBuilder
	lt := pr.LinkType()
	if err := checkLinkType(lt); err != nil {
		return Trace{}, &TraceError{Packet: -1, Offset: 20, Err: err}
	}
	n := 0
	for off := 24; len(data)-off >= 16 && n < MaxTracePackets; n++ {
		off += 16 + int(order.Uint32(data[off+8:]))
	}
	b.tr.Packets = make([]TracePacket, 0, n)
	off := int64(24)
	for i := 0; ; i++ {
		if left := int64(len(data)) - off; left >= 16 {
			if c := int64(order.Uint32(data[off+8:])); c > left-16 {
				return Trace{}, &TraceError{Packet: i, Offset: off, Err: fmt.Errorf("pcap record: capture length %d beyond the %d bytes left", c, left-16)}
			}
		}
		zc, ci, err := pr.ZeroCopyReadPacketData()
		if err == io.EOF {
			return b.tr, nil
		}
		if err != nil {
			return Trace{}, &TraceError{Packet: i, Offset: off, Err: fmt.Errorf("pcap record: %w", eofUnexpected(err))}
		}
		frame := share(data, off+16, zc)
		if err := b.add(ci.Timestamp, lt, frame); err != nil {
			return Trace{}, &TraceError{Packet: i, Offset: off, Err: err}
		}
		off += 16 + int64(len(frame))
	}
}

func readPcapng(data []byte) (Trace, error) {
	blocks, err := ngPacketBlocks(data)
	if err != nil {
		return Trace{}, err
	}
	nr, err := pcapgo.NewNgReader(bytes.NewReader(data), pcapgo.NgReaderOptions{WantMixedLinkType: true})
	if err != nil {
		return Trace{}, &TraceError{Packet: -1, Offset: 0, Err: fmt.Errorf("pcapng section header: %w", eofUnexpected(err))}
	}
	var b traceBuilder
	b.tr.Packets = make([]TracePacket, 0, min(len(blocks), MaxTracePackets))
	for i := 0; ; i++ {
		off, start := int64(-1), int64(-1)
		if i < len(blocks) {
			off, start = blocks[i].off, blocks[i].data
		}
		zc, ci, err := nr.ZeroCopyReadPacketData()
		if err == io.EOF {
			return b.tr, nil
		}
		if err != nil {
			return Trace{}, &TraceError{Packet: i, Offset: off, Err: fmt.Errorf("pcapng: %w", eofUnexpected(err))}
		}
		lt := layers.LinkTypeEthernet
		if len(ci.AncillaryData) > 0 {
			if l, ok := ci.AncillaryData[0].(layers.LinkType); ok {
				lt = l
			}
		}
		if err := checkLinkType(lt); err != nil {
			return Trace{}, &TraceError{Packet: i, Offset: off, Err: err}
		}
		if err := b.add(ci.Timestamp, lt, share(data, start, zc)); err != nil {
			return Trace{}, &TraceError{Packet: i, Offset: off, Err: err}
		}
	}
}

// share returns the frame pcapgo read into its reusable buffer zc as a
// slice of the file's bytes at start, where it lies, so that a trace
// holds its file once; or a copy of zc when it is not found there.
func share(data []byte, start int64, zc []byte) []byte {
	if end := start + int64(len(zc)); start >= 0 && end <= int64(len(data)) && bytes.Equal(data[start:end], zc) {
		return data[start:end:end]
	}
	return bytes.Clone(zc)
}

// ngBlock is a pcapng packet block: its offset, and its packet data's.
type ngBlock struct{ off, data int64 }

// ngPacketBlocks walks the blocks of a pcapng file, checking their
// framing (lengths), and returns its packet blocks.
func ngPacketBlocks(data []byte) ([]ngBlock, error) {
	var offs []ngBlock
	order := binary.ByteOrder(binary.LittleEndian)
	for off := 0; off < len(data); {
		fail := func(format string, args ...any) ([]ngBlock, error) {
			return nil, &TraceError{Packet: len(offs), Offset: int64(off), Err: fmt.Errorf("pcapng block: "+format, args...)}
		}
		if len(data)-off < 12 {
			return fail("%d bytes left: too short for a block", len(data)-off)
		}
		typ := order.Uint32(data[off:])
		if typ == magicPcapng {
			switch bom := data[off+8 : off+12]; {
			case bytes.Equal(bom, []byte{0x4d, 0x3c, 0x2b, 0x1a}):
				order = binary.LittleEndian
			case bytes.Equal(bom, []byte{0x1a, 0x2b, 0x3c, 0x4d}):
				order = binary.BigEndian
			default:
				return fail("section header byte-order magic % x: want 1a2b3c4d", bom)
			}
		}
		l := int(order.Uint32(data[off+4:]))
		if l < 12 || l%4 != 0 || l > len(data)-off {
			return fail("type %#x, total length %d: must be a multiple of 4 between 12 and the %d bytes left", typ, l, len(data)-off)
		}
		if t := int(order.Uint32(data[off+l-4:])); t != l {
			return fail("type %#x, total length %d but trailing length %d", typ, l, t)
		}
		switch typ {
		case 2, 6: // obsolete and enhanced packet blocks: 20 bytes of fields
			offs = append(offs, ngBlock{int64(off), int64(off) + 28})
		case 3: // simple packet block: the original length
			offs = append(offs, ngBlock{int64(off), int64(off) + 12})
		}
		off += l
	}
	return offs, nil
}

// eofUnexpected turns io.EOF inside a structure into io.ErrUnexpectedEOF.
func eofUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func checkLinkType(lt layers.LinkType) error {
	switch lt {
	case layers.LinkTypeEthernet, layers.LinkTypeRaw, layers.LinkTypeIPv4:
		return nil
	}
	return fmt.Errorf("link type %d (%v): want Ethernet (1) or raw IPv4 (101, 228)", uint16(lt), lt)
}

// traceBuilder accumulates the frames ReadTrace reads.
type traceBuilder struct {
	tr Trace
}

func (b *traceBuilder) add(ts time.Time, lt layers.LinkType, frame []byte) error {
	n := len(b.tr.Packets)
	if n >= MaxTracePackets {
		return fmt.Errorf("more than %d packets", MaxTracePackets)
	}
	var at Time
	if n == 0 {
		b.tr.Start = ts.Truncate(time.Second)
	}
	at = ts.Sub(b.tr.Start)
	if n > 0 {
		at = max(at, b.tr.Packets[n-1].At)
	}
	if at >= maxTime {
		return fmt.Errorf("capture time %v is %v after the first packet's second: beyond the simulator's range", ts, at)
	}
	if lt != layers.LinkTypeEthernet {
		eth := make([]byte, balancer.EthLen+len(frame))
		copy(eth, ethHeader[:])
		copy(eth[balancer.EthLen:], frame)
		frame = eth
	}
	b.tr.Packets = append(b.tr.Packets, TracePacket{At: at, Frame: frame})
	return nil
}

// ethHeader is the Ethernet header given to raw IPv4 frames: the fixed
// addresses balancer.Encode writes, EtherType IPv4.
var ethHeader = [balancer.EthLen]byte{0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00}

// snapLen is the snap length of the files this package writes: the
// largest IPv4 packet, encapsulated, in an Ethernet frame.
const snapLen = balancer.EthLen + balancer.IPv4Len + 65535

// epoch returns t, or the Unix epoch for the zero Time (pcapgo would
// write the wall clock for it).
func epoch(t time.Time) time.Time {
	if t.IsZero() {
		return time.Unix(0, 0).UTC()
	}
	return t
}

// WriteTrace writes tr to w as a pcap file with nanosecond timestamps
// (tr.Start + At) and Ethernet link type, which [ReadTrace] reads back
// as tr (Start as UTC).
func WriteTrace(w io.Writer, tr Trace) error {
	pw := pcapgo.NewWriterNanos(w)
	if err := pw.WriteFileHeader(snapLen, layers.LinkTypeEthernet); err != nil {
		return fmt.Errorf("sim: write trace: %w", err)
	}
	start := epoch(tr.Start)
	for i, p := range tr.Packets {
		ci := gopacket.CaptureInfo{Timestamp: start.Add(p.At), CaptureLength: len(p.Frame), Length: len(p.Frame)}
		if err := pw.WritePacket(ci, p.Frame); err != nil {
			return fmt.Errorf("sim: write trace: packet %d: %w", i, err)
		}
	}
	return nil
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

// replay is a run's trace: the frames, and the ground truth the simulator
// derives from their headers (flows, datagrams), since a trace carries no
// simulator bookkeeping.
type replay struct {
	pkts   []TracePacket // the frames replayed: At < duration
	meta   []traceMeta   // by packet
	groups []traceGroup  // fragmented datagrams
	next   int           // next packet to arrive
}

// traceMeta is what the simulator knows of a trace packet.
type traceMeta struct {
	hdr   balancer.Packet // decoded once, read in order at arrival
	flow  uint32          // flow index
	group uint32          // fragmented datagram index+1; 0: not a fragment
	frag  uint16          // fragment index within the datagram
	ok    bool            // the frame decodes
}

// traceGroup is a fragmented datagram of the trace.
type traceGroup struct {
	n     uint16 // its fragments in the trace
	first bool   // one of them is at offset 0
	open  bool   // tracked by the run's dgrams ring
	id    uint64 // its number there
}

// flowKey is a flow's 5-tuple (ports 0 for protocols without them and for
// fragments whose first fragment is not in the trace).
type flowKey struct {
	src, dst   [4]byte
	proto      uint8
	sport, dpt uint16
}

// fragKey identifies a datagram's fragments: (src, dst, proto, IP ID).
type fragKey struct {
	src, dst [4]byte
	proto    uint8
	id       uint16
}

// groupState is a group being built.
type groupState struct {
	key       fragKey
	start     Time
	bytes     int
	total     int // datagram payload length, from the MF=0 fragment; -1: unknown
	n         int // fragments
	flow      uint32
	haveFirst bool
}

// newReplay prepares the packets of tr that arrive before dur: it names
// their flows (5-tuples; a fragment belongs to its datagram's flow, from
// its first fragment, or its 3-tuple without one) and groups fragments
// into datagrams by (src, dst, proto, IP ID). A group ends, and the next
// fragment with its key starts a new datagram, when it is complete (a
// first fragment, a last one, and as many payload bytes as the last one
// ends at), when timeout has passed since its first fragment, or at
// frag.MaxFragmentsLimit fragments. It returns the flow count and the
// largest group. Its allocations do not grow with the packets but with
// the flows and datagrams (maps and slices grown by doubling).
func newReplay(tr *Trace, dur, timeout Time) (*replay, int, int) {
	end, _ := slices.BinarySearchFunc(tr.Packets, dur, func(p TracePacket, t Time) int { return cmp.Compare(p.At, t) })
	rp := &replay{pkts: tr.Packets[:end], meta: make([]traceMeta, end)}
	flows := map[flowKey]uint32{}
	flowOf := func(k flowKey) uint32 {
		f, ok := flows[k]
		if !ok {
			f = uint32(len(flows))
			flows[k] = f
		}
		return f
	}
	open := map[fragKey]int32{} // the key's current group
	var groups []groupState
	var order []uint32 // fragments, then sorted by (group, offset, position)
	var offs []uint16  // by packet: fragment offset
	for i := range rp.pkts {
		p := &rp.pkts[i]
		h, err := balancer.Decode(p.Frame)
		if err != nil {
			continue
		}
		rp.meta[i].hdr, rp.meta[i].ok = h, true
		s, d := h.Src.As4(), h.Dst.As4()
		if !h.IsFragment() {
			rp.meta[i].flow = flowOf(flowKey{s, d, h.Proto, h.SrcPort, h.DstPort})
			continue
		}
		if offs == nil {
			offs = make([]uint16, end)
		}
		k := fragKey{s, d, h.Proto, h.IPID}
		gi, ok := open[k]
		if ok {
			g := &groups[gi]
			ok = !(g.complete() || p.At-g.start > timeout || g.n >= frag.MaxFragmentsLimit)
		}
		if !ok {
			gi = int32(len(groups))
			groups = append(groups, groupState{key: k, start: p.At, total: -1})
			open[k] = gi
		}
		g := &groups[gi]
		data := int(h.Len) - int(h.IHL)*4
		g.bytes += data
		g.n++
		if !h.MoreFragments {
			g.total = int(h.FragOffset)*8 + data
		}
		if h.FragOffset == 0 && !g.haveFirst {
			g.haveFirst = true
			g.flow = flowOf(flowKey{s, d, h.Proto, h.SrcPort, h.DstPort})
		}
		rp.meta[i].group = uint32(gi) + 1
		offs[i] = h.FragOffset
		order = append(order, uint32(i))
	}
	// Fragment indexes by offset (ties: trace order); without a first
	// fragment index 0 stays empty, so that the datagram's
	// FragmentAccuracy is 0 as for a lost first fragment.
	slices.SortFunc(order, func(a, b uint32) int {
		if c := cmp.Compare(rp.meta[a].group, rp.meta[b].group); c != 0 {
			return c
		}
		if c := cmp.Compare(offs[a], offs[b]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	rp.groups = make([]traceGroup, len(groups))
	largest := 0
	for gi := range groups {
		g := &groups[gi]
		largest = max(largest, g.n)
		rp.groups[gi] = traceGroup{n: uint16(g.n), first: g.haveFirst}
		if !g.haveFirst {
			g.flow = flowOf(flowKey{g.key.src, g.key.dst, g.key.proto, 0, 0})
		}
	}
	prev, j := uint32(0), 0
	for _, i := range order {
		m := &rp.meta[i]
		if m.group != prev {
			prev, j = m.group, 0
			if !groups[m.group-1].haveFirst {
				j = 1
			}
		}
		m.flow, m.frag = groups[m.group-1].flow, uint16(j)
		j++
	}
	return rp, len(flows), largest
}

func (g *groupState) complete() bool {
	return g.haveFirst && g.total >= 0 && g.bytes >= g.total
}

// prepareTrace prepares the run's trace replay: flows from the trace, the
// backends' reassembly bound, and the first arrival.
func (r *runner) prepareTrace() {
	tr := &r.sc.Traffic.Trace
	timeout := r.reasmOpts.Timeout
	if timeout == 0 {
		timeout = frag.DefaultTimeout
	}
	rp, nflows, largest := newReplay(tr, r.dur, timeout)
	r.trace = rp
	r.traffic = &traffic{flows: make([]flow, nflows)}
	if r.sc.Reassembly.MaxFragments == 0 {
		r.reasmOpts.MaxFragments = min(max(frag.DefaultMaxFragments, largest), frag.MaxFragmentsLimit)
	}
	r.hTrace = r.sched.Handle(r.traceArrive)
}

// startTrace schedules the trace's first arrival.
func (r *runner) startTrace() {
	if len(r.trace.pkts) > 0 {
		r.sched.Post(r.trace.pkts[0].At, r.hTrace, 0)
	}
}

// traceArrive hands the NIC every trace packet arriving now, in trace
// order (as a generated datagram's fragments arrive in one event), then
// schedules the next arrival.
func (r *runner) traceArrive(uint32) {
	rp := r.trace
	now := r.sched.Now()
	for rp.next < len(rp.pkts) && rp.pkts[rp.next].At <= now {
		r.tracePacket(rp.next, now)
		rp.next++
	}
	if rp.next < len(rp.pkts) && r.err == nil {
		r.sched.Post(rp.pkts[rp.next].At, r.hTrace, 0)
	}
}

// tracePacket replays trace packet i: a frame that does not decode is a
// drop with the decoder's reason; others go to the NIC with their flow
// and datagram.
func (r *runner) tracePacket(i int, now Time) {
	rp := r.trace
	tp := &rp.pkts[i]
	r.packets++
	m := &rp.meta[i]
	if !m.ok {
		_, err := balancer.Decode(tp.Frame)
		reason := undecodable(err)
		r.drops[reason]++
		if r.rec != nil {
			r.rec.vs = append(r.rec.vs, Verdict{Arrive: now, Leave: now, Frame: tp.Frame, Reason: reason})
		}
		return
	}
	p := packet{hdr: m.hdr, arrive: now, flow: m.flow}
	if m.group == 0 {
		r.datagrams++
	} else {
		r.fragments++
		g := &rp.groups[m.group-1]
		if !g.open {
			g.open = true
			g.id = r.dgrams.open(int(g.n))
			if !g.first {
				d := r.dgrams.slot(g.id)
				d.dest = append(d.dest, -1)
			}
			r.datagrams++
		}
		// nfrag > 1 marks a fragment for the run; a datagram with one
		// fragment in the trace is one too (its dgrams record counts 1).
		p.dgram, p.frag, p.nfrag = g.id, m.frag, max(g.n, 2)
	}
	if r.rec != nil {
		r.rec.pending = tp.Frame
	}
	r.inject(&p)
}

// DropUndecodable prefixes the drop reason of a trace frame that
// [balancer.Decode] rejects: "undecodable: " + the malformed field + ": "
// + why, e.g. "undecodable: ipv4.total_length: total length inconsistent".
const DropUndecodable = "undecodable: "

func undecodable(err error) string {
	var de *balancer.DecodeError
	if errors.As(err, &de) {
		return DropUndecodable + de.Field + ": " + de.Err.Error()
	}
	return DropUndecodable + err.Error()
}

// Verdict is what became of one packet that arrived at the node in a
// recorded run ([RunRecorded]).
type Verdict struct {
	// Arrive is its arrival at the node; Leave the end of its service
	// (Arrive when the balancer never ran on it: a full queue, a frame
	// that does not decode).
	Arrive, Leave Time
	// Frame is the packet as it arrived: the trace's frame, or for
	// generated traffic its header encoded as [balancer.Encode] does (cut
	// to the IPv4 total length when that is shorter than the headers, as
	// for tiny-fragment attacks).
	Frame []byte
	// Action, Backend are the balancer's decision (Drop when it never
	// ran); Addr is the backend's address when forwarded to a known
	// backend.
	Action  balancer.Action
	Backend balancer.BackendID
	Addr    netip.Addr
	// Reason is why the packet did not reach a backend, as counted in
	// Result.Drops (or Result.Attack.Drops); "" when delivered.
	Reason string
	// Attack marks packets of Scenario.Attacks.
	Attack bool
}

// Recording is every packet of a recorded run, in arrival order.
type Recording struct {
	// Start is the wall-clock time of simulated time 0: the trace's
	// Start, or the zero Time (written as the Unix epoch).
	Start    time.Time
	Verdicts []Verdict
}

// Trace returns the recorded arrivals as a [Trace]: replaying it (as
// Traffic.Trace, with the same Duration, backends, node and events)
// repeats the run's decisions packet for packet.
func (rec *Recording) Trace() Trace {
	tr := Trace{Start: rec.Start, Packets: make([]TracePacket, len(rec.Verdicts))}
	for i, v := range rec.Verdicts {
		tr.Packets[i] = TracePacket{At: v.Arrive, Frame: v.Frame}
	}
	return tr
}

// recorder collects a run's verdicts.
type recorder struct {
	vs      []Verdict
	pending []byte // the frame of the trace packet being injected
}

// arrive records p's arrival and numbers it.
func (rc *recorder) arrive(p *packet) {
	p.seq = uint32(len(rc.vs))
	f := rc.pending
	rc.pending = nil
	if f == nil {
		f = wireFrame(&p.hdr)
	}
	rc.vs = append(rc.vs, Verdict{Arrive: p.arrive, Leave: p.arrive, Frame: f, Attack: p.attack})
}

// recordDecision records the balancer's decision on p.
func (r *runner) recordDecision(p *packet, dec balancer.Decision) {
	v := &r.rec.vs[p.seq]
	v.Leave = r.sched.Now()
	v.Action = dec.Action
	if dec.Action == balancer.Forward {
		v.Backend = dec.Backend
		if i := r.backendIndex(dec.Backend); i >= 0 {
			v.Addr = r.backends[i].b.Addr
		}
	}
}

// wireFrame encodes a generated header as its frame: Encode with the
// payload that makes the IPv4 total length h.Len, or, when h.Len is
// shorter than the headers Encode writes, Encode's frame cut to h.Len
// with the total length and checksum fixed.
func wireFrame(h *balancer.Packet) []byte {
	l4 := balancer.EncodedLen(*h, 0) - balancer.EthLen - balancer.IPv4Len
	payload := int(h.Len) - balancer.IPv4Len - l4
	f := balancer.Encode(*h, max(payload, 0))
	if payload >= 0 || int(h.Len) < balancer.IPv4Len {
		return f
	}
	f = f[:balancer.EthLen+int(h.Len)]
	ip := f[balancer.EthLen:]
	binary.BigEndian.PutUint16(ip[2:4], h.Len)
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:12], balancer.Checksum(ip[:balancer.IPv4Len], 0))
	return f
}

// RunRecorded is [Run] that also records every packet's arrival, frame
// and fate, for [WriteDecisions], [WriteDropped] and [Recording.Trace].
// The Result equals Run's. The recording holds every packet of the run:
// its memory grows with the traffic.
func RunRecorded(sc Scenario, newLB func() (balancer.Balancer, error)) (Result, Recording, error) {
	rec := &recorder{}
	res, err := run(sc, newLB, rec)
	if err != nil {
		return Result{}, Recording{}, err
	}
	return res, Recording{Start: sc.Traffic.Trace.Start, Verdicts: rec.vs}, nil
}

// WriteDecisions writes the packets rec's balancer forwarded to w as a
// pcap file (nanosecond timestamps, Ethernet), as the XDP program
// transmits them: the frame's Ethernet header, an outer IPv4 header (IPIP,
// protocol 4; source the inner destination, the VIP; destination the
// backend's address, 0.0.0.0 for an unknown backend; the inner TOS, TTL
// 64, IP ID 0, no fragment bits, checksum set), then the inner IPv4
// packet without Ethernet padding. Each is stamped rec.Start + Leave, the
// end of its service. Packets the balancer dropped or passed are left
// out ([WriteDropped] writes them); a packet forwarded to a backend that
// is down is written (the balancer sent it).
func WriteDecisions(w io.Writer, rec Recording) error {
	pw := pcapgo.NewWriterNanos(w)
	if err := pw.WriteFileHeader(snapLen, layers.LinkTypeEthernet); err != nil {
		return fmt.Errorf("sim: write decisions: %w", err)
	}
	start := epoch(rec.Start)
	var buf []byte
	for i := range rec.Verdicts {
		v := &rec.Verdicts[i]
		if v.Action != balancer.Forward {
			continue
		}
		out, err := encap(buf[:0], v.Frame, v.Addr)
		if err != nil {
			return fmt.Errorf("sim: write decisions: verdict %d: %w", i, err)
		}
		buf = out
		ci := gopacket.CaptureInfo{Timestamp: start.Add(v.Leave), CaptureLength: len(out), Length: len(out)}
		if err := pw.WritePacket(ci, out); err != nil {
			return fmt.Errorf("sim: write decisions: verdict %d: %w", i, err)
		}
	}
	return nil
}

// encap appends to dst frame's IPIP encapsulation toward addr (see
// WriteDecisions).
func encap(dst, frame []byte, addr netip.Addr) ([]byte, error) {
	h, err := balancer.Decode(frame)
	if err != nil {
		return nil, err
	}
	inner := frame[balancer.EthLen : balancer.EthLen+int(h.Len)]
	if len(inner) > 65535-balancer.IPv4Len {
		return nil, fmt.Errorf("inner packet of %d bytes: too long to encapsulate", len(inner))
	}
	dst = append(dst, frame[:12]...)
	dst = append(dst, 0x08, 0x00)
	o := len(dst)
	dst = append(dst, make([]byte, balancer.IPv4Len)...)
	ip := dst[o:]
	ip[0] = 0x45
	ip[1] = inner[1]
	binary.BigEndian.PutUint16(ip[2:4], uint16(len(inner)+balancer.IPv4Len))
	ip[8] = 64
	ip[9] = 4 // IPPROTO_IPIP
	src := h.Dst.As4()
	copy(ip[12:16], src[:])
	if addr.Is4() {
		d := addr.As4()
		copy(ip[16:20], d[:])
	}
	binary.BigEndian.PutUint16(ip[10:12], balancer.Checksum(ip[:balancer.IPv4Len], 0))
	return append(dst, inner...), nil
}

// WriteDropped writes the packets of rec that did not reach a backend (a
// Verdict with a Reason) to w as a pcapng file, as they arrived (the
// original frame), stamped rec.Start + Leave. Each drop reason is an
// interface of the file named by the reason, in order of first
// appearance, so that Wireshark shows why each packet was lost
// (frame.interface_name); a file with no drops has one interface, "none".
func WriteDropped(w io.Writer, rec Recording) error {
	var reasons []string
	index := map[string]int{}
	for i := range rec.Verdicts {
		if why := rec.Verdicts[i].Reason; why != "" {
			if _, ok := index[why]; !ok {
				index[why] = len(reasons)
				reasons = append(reasons, why)
			}
		}
	}
	if len(reasons) == 0 {
		reasons = []string{"none"}
	}
	intf := func(name string) pcapgo.NgInterface {
		return pcapgo.NgInterface{Name: name, LinkType: layers.LinkTypeEthernet, TimestampResolution: 9}
	}
	nw, err := pcapgo.NewNgWriterInterface(w, intf(reasons[0]), pcapgo.NgWriterOptions{
		SectionInfo: pcapgo.NgSectionInfo{Application: "titanlb sim", Comment: "packets that did not reach a backend; interface = drop reason"},
	})
	if err != nil {
		return fmt.Errorf("sim: write dropped: %w", err)
	}
	for _, why := range reasons[1:] {
		if _, err := nw.AddInterface(intf(why)); err != nil {
			return fmt.Errorf("sim: write dropped: %w", err)
		}
	}
	start := epoch(rec.Start)
	for i := range rec.Verdicts {
		v := &rec.Verdicts[i]
		if v.Reason == "" {
			continue
		}
		ci := gopacket.CaptureInfo{Timestamp: start.Add(v.Leave), CaptureLength: len(v.Frame), Length: len(v.Frame), InterfaceIndex: index[v.Reason]}
		if err := nw.WritePacket(ci, v.Frame); err != nil {
			return fmt.Errorf("sim: write dropped: verdict %d: %w", i, err)
		}
	}
	if err := nw.Flush(); err != nil {
		return fmt.Errorf("sim: write dropped: %w", err)
	}
	return nil
}
