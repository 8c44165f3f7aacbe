//go:build ignore

// decap.c: the backend-side decapsulation XDP program of TitanLB.
//
// The Titan program on the load balancer forwards a packet by wrapping it in
// an outer header addressed to the backend: IPv4 (protocol 4, IPIP) around
// an IPv4 packet, IPv6 (next header 41, IPv6-in-IPv6) around an IPv6 one. A
// backend whose kernel has an ipip or ip6tnl device would unwrap it there;
// this program does it in XDP instead (the kernel this project targets has
// none), the same job Katran's decap program does for its backends. It
// strips the outer header (20 or 40 bytes) by moving the Ethernet header
// forward over it and calling bpf_xdp_adjust_head, then returns XDP_PASS:
// the inner packet, which may be a fragment, goes up the backend's own
// stack and reassembly.
//
// Verdicts:
//   - neither IPIP nor IPv6-in-IPv6 (another EtherType, another protocol or
//     next header): XDP_PASS, untouched;
//   - IPIP with a valid outer header (version 4, IHL 5, correct header
//     checksum, total length within the frame, not itself a fragment) and a
//     complete inner IPv4 header whose total length fills the outer payload:
//     decapsulated, XDP_PASS;
//   - IPv6-in-IPv6 with a valid outer header (version 6, payload length
//     within the frame) and a complete inner IPv6 header (version 6) whose
//     length (40 + payload length) fills the outer payload: decapsulated,
//     XDP_PASS;
//   - otherwise: XDP_DROP (malformed, or an outer fragment: the path to
//     this backend lacks MTU headroom for the outer header; an outer IPv6
//     packet carrying a Fragment header first is one).
// Each verdict increments a per-CPU counter (struct decap_stats).

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPV4_HLEN 20
#define IPV6_HLEN 40
#define IPPROTO_IPIP_ 4
#define IPPROTO_IPV6_ 41
#define NEXTHDR_FRAGMENT 44
#define MAX_EXT_HEADERS 4
#define IP_MF 0x2000
#define IP_OFFSET 0x1fff

struct ethhdr_ {
	__u8 dst[6];
	__u8 src[6];
	__be16 proto;
} __attribute__((packed));

struct iphdr_ {
	__u8 ver_ihl;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__sum16 check;
	__be32 saddr;
	__be32 daddr;
} __attribute__((packed));

struct ipv6hdr_ {
	__be32 vtc_flow;
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	__u8 saddr[16];
	__u8 daddr[16];
} __attribute__((packed));

// decap_stats counts frames by verdict, per CPU. Every frame increments
// exactly one of decapsulated, passed, malformed and outer_fragment;
// inner_fragments counts the decapsulated frames whose inner packet is a
// fragment (IPv4; IPv6: a Fragment header with an offset or M among its
// first extension headers).
struct decap_stats {
	__u64 decapsulated;
	__u64 inner_fragments;
	__u64 passed;
	__u64 malformed;
	__u64 outer_fragment;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct decap_stats);
} decap_stats_map SEC(".maps");

// ipv4_csum_ok reports whether the 20-byte header at ip has a correct
// header checksum: the one's complement sum of its ten words is 0xffff.
static __always_inline int ipv4_csum_ok(const struct iphdr_ *ip)
{
	const __u16 *w = (const __u16 *)ip;
	__u32 sum = 0;

#pragma unroll
	for (int i = 0; i < IPV4_HLEN / 2; i++)
		sum += w[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return sum == 0xffff;
}

// is_ext reports whether nh is an IPv6 extension header the walk skips
// (balancer.Decode's).
static __always_inline int is_ext(__u8 nh)
{
	return nh == 0 || nh == 43 || nh == 60 || nh == 51 || nh == NEXTHDR_FRAGMENT;
}

// inner6_frag reports whether the IPv6 packet at ip (payload length pl) is
// a fragment: a Fragment header with an offset or M among its first
// MAX_EXT_HEADERS extension headers.
static __always_inline int inner6_frag(struct ipv6hdr_ *ip, void *data_end)
{
	__u8 *p = (__u8 *)(ip + 1);
	__u8 nh = ip->nexthdr;

#pragma unroll
	for (int i = 0; i < MAX_EXT_HEADERS; i++) {
		__u32 hl;

		if (!is_ext(nh) || (void *)(p + 8) > data_end)
			return 0;
		if (nh == NEXTHDR_FRAGMENT)
			return (p[2] | (p[3] & 0xf9)) != 0;
		hl = nh == 51 ? ((__u32)p[1] + 2) * 4 : ((__u32)p[1] + 1) * 8;
		nh = p[0];
		p += hl;
	}
	return 0;
}

// strip_outer removes the outer header of hlen bytes (IPv4's 20 or
// IPv6's 40) that follows eth: it moves the Ethernet header forward over
// it (the ranges [0,14) and [hlen,hlen+14) do not overlap) and advances
// the frame's head, counting the frame decapsulated and, when inner_frag,
// its inner packet a fragment.
static __always_inline int strip_outer(struct xdp_md *ctx, struct decap_stats *st,
				       struct ethhdr_ *eth, int hlen, int inner_frag)
{
	struct ethhdr_ *neth = (void *)eth + hlen;
	__builtin_memcpy(neth, eth, ETH_HLEN);
	if (bpf_xdp_adjust_head(ctx, hlen)) {
		st->malformed++;
		return XDP_DROP;
	}
	st->decapsulated++;
	if (inner_frag)
		st->inner_fragments++;
	return XDP_PASS;
}

// decap6 strips an outer IPv6 header carrying an IPv6 packet.
static __always_inline int decap6(struct xdp_md *ctx, struct decap_stats *st, struct ethhdr_ *eth, void *data_end)
{
	struct ipv6hdr_ *outer = (void *)(eth + 1);
	struct ipv6hdr_ *inner = outer + 1;

	// The next header is the last byte read before deciding whether the
	// frame is ours: a frame too short to carry it is not IPv6-in-IPv6.
	if ((void *)&outer->nexthdr + 1 > data_end ||
	    (outer->nexthdr != IPPROTO_IPV6_ && outer->nexthdr != NEXTHDR_FRAGMENT)) {
		st->passed++;
		return XDP_PASS;
	}
	if ((void *)(outer + 1) > data_end || (outer->vtc_flow & bpf_htonl(0xf0000000)) != bpf_htonl(0x60000000)) {
		st->malformed++;
		return XDP_DROP;
	}
	if (outer->nexthdr == NEXTHDR_FRAGMENT) {
		st->outer_fragment++;
		return XDP_DROP;
	}
	__u32 outer_len = bpf_ntohs(outer->payload_len);
	// Bytes past the outer payload are Ethernet padding; the inner packet
	// must fill the outer payload exactly.
	if ((void *)(inner + 1) > data_end || IPV6_HLEN + outer_len > data_end - (void *)outer ||
	    (inner->vtc_flow & bpf_htonl(0xf0000000)) != bpf_htonl(0x60000000) ||
	    IPV6_HLEN + bpf_ntohs(inner->payload_len) != outer_len) {
		st->malformed++;
		return XDP_DROP;
	}
	return strip_outer(ctx, st, eth, IPV6_HLEN, inner6_frag(inner, data_end));
}

SEC("xdp")
int titan_decap(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 key = 0;
	struct decap_stats *st = bpf_map_lookup_elem(&decap_stats_map, &key);
	if (!st)
		return XDP_PASS;

	struct ethhdr_ *eth = data;
	if ((void *)(eth + 1) <= data_end && eth->proto == bpf_htons(ETH_P_IPV6))
		return decap6(ctx, st, eth, data_end);
	if ((void *)(eth + 1) > data_end || eth->proto != bpf_htons(ETH_P_IP)) {
		st->passed++;
		return XDP_PASS;
	}
	struct iphdr_ *outer = (void *)(eth + 1);
	// The protocol byte is the last one read before deciding whether the
	// frame is ours at all: a frame too short to carry it is not IPIP.
	if ((void *)&outer->protocol + 1 > data_end ||
	    outer->protocol != IPPROTO_IPIP_) {
		st->passed++;
		return XDP_PASS;
	}
	struct iphdr_ *inner = (void *)(outer + 1);
	if ((void *)(inner + 1) > data_end || outer->ver_ihl != 0x45 ||
	    !ipv4_csum_ok(outer)) {
		st->malformed++;
		return XDP_DROP;
	}
	if (outer->frag_off & bpf_htons(IP_MF | IP_OFFSET)) {
		st->outer_fragment++;
		return XDP_DROP;
	}
	__u16 outer_len = bpf_ntohs(outer->tot_len);
	__u16 inner_len = bpf_ntohs(inner->tot_len);
	// Bytes past the outer total length are Ethernet padding; the inner
	// packet must fill the outer payload exactly.
	if (outer_len > data_end - (void *)outer ||
	    (inner->ver_ihl >> 4) != 4 || (inner->ver_ihl & 0xf) < 5 ||
	    inner_len + IPV4_HLEN != outer_len) {
		st->malformed++;
		return XDP_DROP;
	}
	return strip_outer(ctx, st, eth, IPV4_HLEN,
			   (inner->frag_off & bpf_htons(IP_MF | IP_OFFSET)) != 0);
}

char __license[] SEC("license") = "Dual MIT/GPL";
