package sim

import (
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/titanlb/titanlb/balancer"
)

// snapLen is the snap length of the files this package writes: the
// largest IPv4 packet, encapsulated, in an Ethernet frame; a file holding
// a longer frame (IPv6, whose 40-byte header is not in its payload
// length) takes that frame's length.
const snapLen = balancer.EthLen + balancer.IPv4Len + 65535

// snapFor returns the snap length of a file whose longest frame is n
// bytes.
func snapFor(n int) uint32 { return uint32(max(snapLen, n)) }

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
	longest := 0
	for i := range tr.Packets {
		longest = max(longest, len(tr.Packets[i].Frame))
	}
	if err := pw.WriteFileHeader(snapFor(longest), layers.LinkTypeEthernet); err != nil {
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

// WriteDecisions writes the packets rec's balancer forwarded to w as a
// pcap file (nanosecond timestamps, Ethernet), as the XDP program
// transmits them: the frame's Ethernet header, an outer IPv4 header (IPIP,
// protocol 4; source the inner destination, the VIP; destination the
// backend's address, 0.0.0.0 for an unknown backend; the inner TOS, TTL
// 64, IP ID 0, no fragment bits, checksum set), then the inner IPv4
// packet without Ethernet padding. An IPv6 packet is encapsulated in
// IPv6 (IPv6-in-IPv6, next header 41, as Katran encapsulates toward
// IPv6 reals): an outer IPv6 header with the inner traffic class, hop
// limit 64, source the VIP, destination the backend (:: for an unknown
// or IPv4 one), then the inner IPv6 packet. Each is stamped rec.Start +
// Leave, the end of its service. Packets the balancer dropped or passed are left
// out ([WriteDropped] writes them); a packet forwarded to a backend that
// is down is written (the balancer sent it).
func WriteDecisions(w io.Writer, rec Recording) error {
	pw := pcapgo.NewWriterNanos(w)
	longest := 0
	for i := range rec.Verdicts {
		if f := rec.Verdicts[i].Frame; rec.Verdicts[i].Action == balancer.Forward && len(f) >= balancer.EthLen &&
			binary.BigEndian.Uint16(f[12:14]) == 0x86dd {
			longest = max(longest, len(f)+balancer.IPv6Len)
		}
	}
	if err := pw.WriteFileHeader(snapFor(longest), layers.LinkTypeEthernet); err != nil {
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

// encap appends to dst frame's IPIP (or IPv6-in-IPv6) encapsulation
// toward addr (see WriteDecisions).
func encap(dst, frame []byte, addr netip.Addr) ([]byte, error) {
	h, err := balancer.Decode(frame)
	if err != nil {
		return nil, err
	}
	inner := frame[balancer.EthLen : balancer.EthLen+int(h.Len)]
	if !h.Src.Is4() {
		return encap6(dst, frame, inner, h.Dst, addr)
	}
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

// encap6 appends to dst the IPv6-in-IPv6 encapsulation of the IPv6
// packet inner (frame's, to vip) toward addr.
func encap6(dst, frame, inner []byte, vip, addr netip.Addr) ([]byte, error) {
	if len(inner) > 65535 {
		return nil, fmt.Errorf("inner packet of %d bytes: too long to encapsulate", len(inner))
	}
	dst = append(dst, frame[:12]...)
	dst = append(dst, 0x86, 0xdd)
	o := len(dst)
	dst = append(dst, make([]byte, balancer.IPv6Len)...)
	ip := dst[o:]
	tc := inner[0]<<4 | inner[1]>>4
	ip[0], ip[1] = 0x60|tc>>4, tc<<4
	binary.BigEndian.PutUint16(ip[4:6], uint16(len(inner)))
	ip[6] = 41 // IPPROTO_IPV6
	ip[7] = 64
	src := vip.As16()
	copy(ip[8:24], src[:])
	if addr.Is6() {
		d := addr.As16()
		copy(ip[24:40], d[:])
	}
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
