package sim

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/titanlb/titanlb/balancer"
)

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
// IP (link type 101, IPv4 or IPv6 by its version; 228, IPv4; 229, IPv6),
// given an Ethernet header with the same fixed addresses
// [balancer.Encode] writes. Trace.Start is the first
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
// that do not decode as IPv4 or IPv6 are read as they are (a run counts
// them as drops).
//
// ReadTrace holds the file once, at most [MaxTraceBytes]. A
// gzip-compressed file is decompressed twice: once to count its bytes,
// holding none of them, and stopping with a *TraceError as soon as they
// pass the limit ([MaxGzipRatio] times the compressed size, at least
// [MinGzipLimit]); then into a buffer of that exact size.
func ReadTrace(r io.Reader) (Trace, error) {
	data, err := readAll(r)
	if err != nil {
		return Trace{}, err
	}
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		if data, err = gunzip(data); err != nil {
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

// gzipLimit is the most bytes a gzip-compressed file of n bytes may
// decompress to.
func gzipLimit(n int) int64 {
	return min(MaxTraceBytes, max(MinGzipLimit, MaxGzipRatio*int64(n)))
}

// gunzip decompresses a gzip-compressed file (all its members) within
// gzipLimit: a first pass counts the decompressed bytes without keeping
// them and stops at the limit, a second decompresses into a buffer of the
// size counted. So a gzip bomb costs at most the limit's worth of
// decompression and no memory beyond the gzip reader's.
func gunzip(data []byte) ([]byte, error) {
	limit := gzipLimit(len(data))
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, &TraceError{Packet: -1, Offset: 0, Err: fmt.Errorf("gzip: %w", err)}
	}
	n, err := io.Copy(io.Discard, io.LimitReader(zr, limit+1))
	if err != nil {
		return nil, &TraceError{Packet: -1, Offset: n, Err: err}
	}
	if n > limit {
		name := fmt.Sprintf("MaxGzipRatio %d times the compressed size", MaxGzipRatio)
		switch limit {
		case MaxTraceBytes:
			name = "MaxTraceBytes"
		case MinGzipLimit:
			name = "MinGzipLimit"
		}
		return nil, &TraceError{Packet: -1, Offset: limit, Err: fmt.Errorf("gzip: %d compressed bytes decompress to more than the limit of %d bytes (%s)", len(data), limit, name)}
	}
	if err := zr.Reset(bytes.NewReader(data)); err != nil {
		return nil, &TraceError{Packet: -1, Offset: 0, Err: fmt.Errorf("gzip: %w", err)}
	}
	out := make([]byte, n)
	if _, err := io.ReadFull(zr, out); err != nil {
		return nil, &TraceError{Packet: -1, Offset: 0, Err: fmt.Errorf("gzip: second pass: %w", err)}
	}
	return out, nil
}

// readPcap reads a pcap file of the given byte order. It checks each
// record's capture length against the bytes left and the file's snap
// length before pcapgo reads (and allocates) it.
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
			c := int64(order.Uint32(data[off+8:]))
			if c > left-16 {
				return Trace{}, &TraceError{Packet: i, Offset: off, Err: fmt.Errorf("pcap record: capture length %d beyond the %d bytes left", c, left-16)}
			}
			// pcapgo reads records up to 256 KiB whatever the file's
			// snap length, as tcpdump does; a record longer than the
			// snap length its file declares is inconsistent.
			if snap := int64(pr.Snaplen()); c > snap {
				return Trace{}, &TraceError{Packet: i, Offset: off, Err: fmt.Errorf("pcap record: capture length exceeds snap length: %d > %d", c, snap)}
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
	case layers.LinkTypeEthernet, layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		return nil
	}
	return fmt.Errorf("link type %d (%v): want Ethernet (1) or raw IP (101, 228, 229)", uint16(lt), lt)
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
		if lt == layers.LinkTypeIPv6 || lt == layers.LinkTypeRaw && len(frame) > 0 && frame[0]>>4 == 6 {
			eth[12], eth[13] = 0x86, 0xdd
		}
		copy(eth[balancer.EthLen:], frame)
		frame = eth
	}
	b.tr.Packets = append(b.tr.Packets, TracePacket{At: at, Frame: frame})
	return nil
}

// ethHeader is the Ethernet header given to raw IP frames: the fixed
// addresses balancer.Encode writes, EtherType IPv4 (IPv6 for an IPv6
// frame).
var ethHeader = [balancer.EthLen]byte{0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00}
