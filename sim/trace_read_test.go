package sim_test

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/sim"
)

// Both committed files read back as the generated trace: times to the
// nanosecond, frames byte for byte (the pcapng's raw IPv4 frames get the
// Ethernet header back).
func TestReadTracePcapAndPcapng(t *testing.T) {
	want := goldenTrace(t)
	for _, path := range []string{tracePcap, tracePcapng} {
		t.Run(path, func(t *testing.T) {
			got := readTraceFile(t, path)
			if !got.Start.Equal(want.Start) {
				t.Errorf("start %v, want %v", got.Start, want.Start)
			}
			if len(got.Packets) != len(want.Packets) {
				t.Fatalf("%d packets, want %d", len(got.Packets), len(want.Packets))
			}
			for i := range want.Packets {
				g, w := got.Packets[i], want.Packets[i]
				if g.At != w.At || !bytes.Equal(g.Frame, w.Frame) {
					t.Fatalf("packet %d: at %v, %d bytes; want at %v, %d bytes", i, g.At, len(g.Frame), w.At, len(w.Frame))
				}
			}
		})
	}
}

// ReadTrace names what is wrong in a malformed file and where.
func TestReadTraceMalformed(t *testing.T) {
	pcap, err := os.ReadFile(tracePcap)
	if err != nil {
		t.Fatal(err)
	}
	ng, err := os.ReadFile(tracePcapng)
	if err != nil {
		t.Fatal(err)
	}
	tr := goldenTrace(t)
	rec1 := int64(24 + 16 + len(tr.Packets[0].Frame)) // pcap: second record
	rec2 := rec1 + 16 + int64(len(tr.Packets[1].Frame))

	bigCap := bytes.Clone(pcap)
	binary.LittleEndian.PutUint32(bigCap[rec1+8:], 70000) // caplen beyond the file
	smallSnap := bytes.Clone(pcap)
	binary.LittleEndian.PutUint32(smallSnap[16:], 100)
	ngBadLen := bytes.Clone(ng)
	shb := int(binary.LittleEndian.Uint32(ng[4:]))
	binary.LittleEndian.PutUint32(ngBadLen[shb+4:], 13) // first interface block
	ngTrail := bytes.Clone(ng)
	binary.LittleEndian.PutUint32(ngTrail[shb-4:], uint32(shb+4))
	lastBlock := int(binary.LittleEndian.Uint32(ng[len(ng)-4:]))
	linkType := bytes.Clone(pcap)
	binary.LittleEndian.PutUint32(linkType[20:], uint32(layers.LinkTypeLinuxSLL))

	for _, c := range []struct {
		name   string
		data   []byte
		packet int
		offset int64
		want   string
	}{
		{"empty", nil, -1, 0, "0-byte file: too short"},
		{"not a capture", []byte("GET / HTTP/1.1\r\n"), -1, 0, "magic number 0x20544547: neither pcap"},
		{"pcap header cut", pcap[:20], -1, 0, "pcap file header: unexpected EOF"},
		{"pcap record header cut", pcap[:rec1+10], 1, rec1, "pcap record: unexpected EOF"},
		{"pcap record data cut", pcap[:rec2-3], 1, rec1, fmt.Sprintf("pcap record: capture length %d beyond the %d bytes left", len(tr.Packets[1].Frame), len(tr.Packets[1].Frame)-3)},
		{"pcap caplen beyond the file", bigCap, 1, rec1, "pcap record: capture length 70000 beyond the"},
		{"pcap caplen beyond snaplen", smallSnap, 0, 24, fmt.Sprintf("capture length exceeds snap length: %d > 100", len(tr.Packets[0].Frame))},
		{"gzip garbage", []byte{0x1f, 0x8b, 0, 0}, -1, 0, "gzip: unexpected EOF"},
		{"pcap link type", linkType, -1, 20, "link type 113 (Linux SLL): want Ethernet"},
		{"pcapng block length", ngBadLen, 0, int64(shb), "total length 13: must be a multiple of 4"},
		{"pcapng trailing length", ngTrail, 0, 0, fmt.Sprintf("total length %d but trailing length %d", shb, shb+4)},
		{"pcapng cut", ng[:len(ng)-6], len(tr.Packets) - 1, int64(len(ng) - lastBlock), fmt.Sprintf("total length %d: must be a multiple of 4 between 12 and the %d bytes left", lastBlock, lastBlock-6)},
		{"pcapng cut in a block header", ng[:len(ng)-lastBlock+6], len(tr.Packets) - 1, int64(len(ng) - lastBlock), "pcapng block: 6 bytes left: too short"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := sim.ReadTrace(bytes.NewReader(c.data))
			var te *sim.TraceError
			if !errors.As(err, &te) {
				t.Fatalf("error %v (%T), want a *sim.TraceError", err, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
			if c.offset >= 0 && (te.Packet != c.packet || te.Offset != c.offset) {
				t.Errorf("error %q at packet %d offset %d, want packet %d offset %d", err, te.Packet, te.Offset, c.packet, c.offset)
			}
			if !strings.HasPrefix(err.Error(), "sim: trace: ") {
				t.Errorf("error %q: want the sim: trace: prefix", err)
			}
		})
	}
}

// A gzip-compressed pcap reads as the pcap does.
func TestReadTraceGzip(t *testing.T) {
	raw, err := os.ReadFile(tracePcap)
	if err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(raw)
	zw.Close()
	got, err := sim.ReadTrace(&z)
	if err != nil {
		t.Fatal(err)
	}
	if want := readTraceFile(t, tracePcap); !reflect.DeepEqual(got, want) {
		t.Errorf("gzip-compressed pcap read differently: %d packets, want %d", len(got.Packets), len(want.Packets))
	}
}

// FuzzReadTrace feeds ReadTrace mutated captures: it returns a trace or a
// *TraceError, never panics, and whatever it reads replays without error
// (every frame a Packet).
func FuzzReadTrace(f *testing.F) {
	for _, path := range []string{tracePcap, tracePcapng} {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data[:min(len(data), 2000)])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := sim.ReadTrace(bytes.NewReader(data))
		if err != nil {
			var te *sim.TraceError
			if !errors.As(err, &te) {
				t.Fatalf("error %v is not a *sim.TraceError", err)
			}
			return
		}
		if len(tr.Packets) == 0 {
			return
		}
		r, err := sim.Run(sim.Scenario{Backends: sim.Backends(2), Traffic: sim.Traffic{Trace: tr}}, newTitan)
		if err != nil {
			t.Fatal(err)
		}
		if r.Packets != uint64(len(tr.Packets)) {
			t.Fatalf("%d packets replayed of %d", r.Packets, len(tr.Packets))
		}
	})
}

// ReadTrace reads microsecond pcap with raw IPv4 frames, big-endian pcap,
// and raises a capture time that goes back to the previous frame's.
func TestReadTraceFormats(t *testing.T) {
	tr := goldenTrace(t)
	frames := [][]byte{tr.Packets[0].Frame, tr.Packets[1].Frame, tr.Packets[2].Frame}
	t0 := goldenStart.Add(250 * time.Millisecond)
	times := []time.Time{t0, t0.Add(5 * time.Microsecond), t0.Add(3 * time.Microsecond)}
	wantAt := []time.Duration{250 * time.Millisecond, 250*time.Millisecond + 5*time.Microsecond, 250*time.Millisecond + 5*time.Microsecond}
	check := func(t *testing.T, data []byte) {
		t.Helper()
		got, err := sim.ReadTrace(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if !got.Start.Equal(goldenStart) || len(got.Packets) != len(frames) {
			t.Fatalf("start %v, %d packets; want %v, %d", got.Start, len(got.Packets), goldenStart, len(frames))
		}
		for i, p := range got.Packets {
			if p.At != wantAt[i] || !bytes.Equal(p.Frame, frames[i]) {
				t.Errorf("packet %d at %v (%d bytes), want %v (%d bytes)", i, p.At, len(p.Frame), wantAt[i], len(frames[i]))
			}
		}
	}

	t.Run("microsecond raw IPv4", func(t *testing.T) {
		var b bytes.Buffer
		w := pcapgo.NewWriter(&b)
		if err := w.WriteFileHeader(65535, layers.LinkTypeRaw); err != nil {
			t.Fatal(err)
		}
		for i, f := range frames {
			ip := f[balancer.EthLen:]
			if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: times[i], CaptureLength: len(ip), Length: len(ip)}, ip); err != nil {
				t.Fatal(err)
			}
		}
		check(t, b.Bytes())
	})

	// Raw IP with IPv6 frames (link type 101 by the version nibble, 229
	// always) gets the IPv6 EtherType.
	for _, lt := range []layers.LinkType{layers.LinkTypeRaw, layers.LinkTypeIPv6} {
		t.Run(fmt.Sprintf("raw IPv6 link type %d", lt), func(t *testing.T) {
			v6 := balancer.Packet{Src: netip.MustParseAddr("2001:db8:1::5"), Dst: sim.DefaultVIP6, Proto: balancer.ProtoUDP,
				SrcPort: 1024, DstPort: 443, FragID: 9, MoreFragments: true, ExtHeaders: 2}
			frame := balancer.Encode(v6, 100)
			v6.Len = uint16(len(frame) - balancer.EthLen)
			var b bytes.Buffer
			w := pcapgo.NewWriter(&b)
			if err := w.WriteFileHeader(65535, lt); err != nil {
				t.Fatal(err)
			}
			ip := frame[balancer.EthLen:]
			if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: t0, CaptureLength: len(ip), Length: len(ip)}, ip); err != nil {
				t.Fatal(err)
			}
			got, err := sim.ReadTrace(&b)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Packets) != 1 || !bytes.Equal(got.Packets[0].Frame, frame) {
				t.Fatalf("read %d packets: % x", len(got.Packets), got.Packets[0].Frame[:16])
			}
			if h, err := balancer.Decode(got.Packets[0].Frame); err != nil || h != v6 {
				t.Fatalf("decoded %+v, %v", h, err)
			}
		})
	}

	t.Run("big-endian nanosecond Ethernet", func(t *testing.T) {
		be := binary.BigEndian
		b := be.AppendUint32(nil, 0xa1b23c4d)
		b = be.AppendUint16(b, 2)
		b = be.AppendUint16(b, 4)
		b = be.AppendUint64(b, 0)
		b = be.AppendUint32(b, 65535)
		b = be.AppendUint32(b, uint32(layers.LinkTypeEthernet))
		for i, f := range frames {
			b = be.AppendUint32(b, uint32(times[i].Unix()))
			b = be.AppendUint32(b, uint32(times[i].Nanosecond()))
			b = be.AppendUint32(b, uint32(len(f)))
			b = be.AppendUint32(b, uint32(len(f)))
			b = append(b, f...)
		}
		check(t, b)
	})
}

// ReadTrace keeps a pcap file's bytes once: its frames are slices of
// them, so reading allocates a few buffers, not one per packet.
func TestReadTraceSharesFileBytes(t *testing.T) {
	data, err := os.ReadFile(tracePcap)
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(10, func() {
		if _, err := sim.ReadTrace(bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	})
	if n := len(goldenTrace(t).Packets); allocs > 16 {
		t.Errorf("reading %d packets: %v allocations, want at most 16", n, allocs)
	}
}

// gzipBomb returns a gzip-compressed pcap file of members concatenated
// gzip members, each megabytes of zeros: a pcap file header, then zeros,
// some 1000 times smaller compressed. Concatenating one compressed member
// builds a large bomb in milliseconds.
func gzipBomb(t *testing.T, members, megabytes int) []byte {
	t.Helper()
	var z bytes.Buffer
	zw, err := gzip.NewWriterLevel(&z, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(make([]byte, megabytes<<20))
	zw.Close()
	member := z.Bytes()
	var hdr bytes.Buffer
	zw = gzip.NewWriter(&hdr)
	w := pcapgo.NewWriterNanos(zw)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return append(hdr.Bytes(), bytes.Repeat(member, members)...)
}

// A gzip bomb is rejected as it decompresses, once it passes its limit,
// with an error naming the limit, and reading it allocates little more
// than the compressed file: the decompressed bytes are never held.
func TestReadTraceGzipBomb(t *testing.T) {
	for _, c := range []struct {
		name               string
		members, megabytes int
		want               string
	}{
		// 70 MiB from 70 kB: within 100 times, but beyond MinGzipLimit.
		{"MinGzipLimit", 7, 10, fmt.Sprintf("more than the limit of %d bytes (MinGzipLimit)", sim.MinGzipLimit)},
		// 1.2 GiB from 1.2 MB: the limit is 100 times the compressed size.
		{"MaxGzipRatio", 120, 10, "bytes (MaxGzipRatio 100 times the compressed size)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			bomb := gzipBomb(t, c.members, c.megabytes)
			limit := min(sim.MaxTraceBytes, max(sim.MinGzipLimit, sim.MaxGzipRatio*int64(len(bomb))))
			if int64(c.members*c.megabytes)<<20 <= limit {
				t.Fatalf("a %d-byte bomb of %d MiB is within its limit %d", len(bomb), c.members*c.megabytes, limit)
			}
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			_, err := sim.ReadTrace(bytes.NewReader(bomb))
			runtime.ReadMemStats(&m1)
			var te *sim.TraceError
			if !errors.As(err, &te) || te.Packet != -1 || te.Offset != limit {
				t.Fatalf("error %v, want a *sim.TraceError at the file header, offset %d", err, limit)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), fmt.Sprintf("%d compressed bytes", len(bomb))) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
			if alloc := m1.TotalAlloc - m0.TotalAlloc; alloc > uint64(len(bomb))+2<<20 {
				t.Errorf("reading a %d-byte bomb allocated %d bytes, want at most 2 MiB beyond it", len(bomb), alloc)
			}
		})
	}
}

// A pcap compressed as two concatenated gzip members (cat a.gz b.gz)
// reads as the pcap does.
func TestReadTraceGzipMembers(t *testing.T) {
	raw, err := os.ReadFile(tracePcap)
	if err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	for _, part := range [][]byte{raw[:len(raw)/2], raw[len(raw)/2:]} {
		zw := gzip.NewWriter(&z)
		zw.Write(part)
		zw.Close()
	}
	got, err := sim.ReadTrace(&z)
	if err != nil {
		t.Fatal(err)
	}
	if want := readTraceFile(t, tracePcap); !reflect.DeepEqual(got, want) {
		t.Errorf("two-member gzip read differently: %d packets, want %d", len(got.Packets), len(want.Packets))
	}
}
