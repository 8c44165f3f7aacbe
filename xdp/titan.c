//go:build ignore

// TitanLB: the stateful XDP L4 load balancer whose Go model is
// balancer/titan. See doc.go for the algorithm, the maps and the parity claim.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char __license[] SEC("license") = "Dual MIT/GPL";

/* Configuration, set at load time (rodata): no config map read per packet. */
volatile const __u32 cfg_seed = 0x54495441;     /* balancer.DefaultSeed */
volatile const __u32 cfg_ring_size = 65537;     /* Maglev M of the catch-all rings (and the default of a service's) */
volatile const __u64 cfg_frag_timeout = 7500;  /* FragTimeout in ticks (jiffies): 30 s at HZ 250 */
volatile const __u32 cfg_orphan_policy = 2;     /* 1 hash3, 2 host hint */
volatile const __u32 cfg_vip_count = 0;         /* 0: balance every destination */
volatile const __u32 cfg_src_addr = 0;          /* outer IPv4 source, network order; 0: packet's dst */
volatile const __u32 cfg_src_addr6[4] = {};     /* outer IPv6 source; all 0: packet's dst */
volatile const __u32 cfg_orphan_admission = 2;  /* 1 all, 2 earned */
volatile const __s64 cfg_orphan_credits = 1024;  /* bound of the orphan credit */
volatile const __u32 cfg_frag_sets = 4096;      /* sets of each family's fragment table */
volatile const __u32 cfg_conn_sets = 32768;     /* sets of each family's connection table */
volatile const __u32 cfg_hint_sets = 32768;     /* sets of each family's hint table */

/* How a packet finds its service, written by the loader while the program
 * runs (.data: read with a load, no map lookup). svc_family[f] is for the
 * packets of family f (0 IPv4, 1 IPv6):
 *   0           the family has no service: its packets are passed;
 *   SVC_LOOKUP  services: look (destination, port, protocol) up in the
 *               services map;
 *   otherwise   the family's catch-all (Program.SetBackends), a descriptor
 *               SVC_DESC(ring offset, ring size, service index).
 * The default is the IPv4 catch-all on the first RingSize slots, which
 * the loader fills with RING_NONE (no backend) until the first set. */
#define SVC_LOOKUP (1ull << 63)
#define SVC_OFF_BITS 27
#define SVC_SIZE_BITS 24
#define SVC_DESC(off, size, idx) ((__u64)(off) | (__u64)(size) << SVC_OFF_BITS | (__u64)(idx) << (SVC_OFF_BITS + SVC_SIZE_BITS))
volatile __u64 svc_family[2] = {SVC_DESC(0, 65537, 0), 0};

#define ORPHAN_HASH3 1
#define ORPHAN_HOST_HINT 2
#define ADMIT_ALL 1
#define ADMIT_EARNED 2

#define BACKEND_USABLE 1 /* up, and in the pool of a service of the current set */
#define BACKEND_V6 2     /* addr6 is its address (else addr) */
#define RING_NONE 0xffffffffu
#define SVC_MAX 512      /* service indexes: two sets of 256 (the loader alternates) */

#define IP_MF 0x2000
#define IP_OFFSET 0x1fff

/* IPv6 (RFC 8200) and balancer.MaxExtHeaders. */
#define IPV6_HLEN 40
#define MAX_EXT_HEADERS 4
#define NH_HOP_BY_HOP 0
#define NH_ROUTING 43
#define NH_FRAGMENT 44
#define NH_AH 51
#define NH_DEST_OPTS 60

/* Map value and key layouts. bpf2go generates Go types for those named in
 * its -type flags. */

/* pkt is a parsed packet of either family. */
struct pkt {
	__u32 src[4];    /* IPv4: src[0], network order */
	__u32 dst[4];
	__u16 sport;     /* network order; 0 for a non-first fragment or a protocol without ports */
	__u16 dport;
	__u8 proto;      /* IPv6: the Next Header that ends the chain */
	__u8 frag;       /* a fragment: offset or MF set (an IPv6 atomic fragment is not) */
	__u8 first;      /* offset 0 */
	__u8 tos;        /* IPv4 TOS, IPv6 traffic class */
	__u32 id;        /* IPv4: the IP ID as in the packet (network order); IPv6: the Identification */
	__u32 tot;       /* IPv4 total length, IPv6 40 + payload length */
};

/* The fragment tables are set-associative, as frag.SetTable: an ARRAY of
 * cfg_frag_sets sets of FRAG_WAYS ways per family; a key lives in the set
 * frag_set_of picks (murmur3 of the host pair, plus the ID). A packet reads
 * its set once; an insert or update is a store into the set through the
 * pointer that read returned. A key already in the set is rewritten in its
 * way; a new key takes the way at the set's cursor, which then advances:
 * the ways are reused in insertion order (first in, first out).
 *
 * An IPv4 way is 32 bytes and compares as two words: hosts (source and
 * destination, the packet's eight bytes) and tag (protocol, FRAG_USED, IP
 * ID), so that an empty way (tag 0) never matches. An IPv6 way compares
 * five: the 32 bytes of the host pair and the tag (protocol, FRAG_USED,
 * the 32-bit Identification). */
#define FRAG_WAYS 4
#define FRAG_USED 1
#define FRAG_HAS_PORTS 0x80000000u /* in frag_val.backend: sport, dport valid */

struct frag_val {
	__u32 backend;   /* backend id (below MaxBackends, at most 2^24) | FRAG_HAS_PORTS */
	__u16 sport;     /* network order */
	__u16 dport;
	__u64 created;   /* jiffies when inserted */
};

struct frag_way {
	__u64 hosts;     /* src | dst << 32 on a little-endian machine */
	__u32 tag;       /* proto | FRAG_USED << 8 | IP ID (network order) << 16 */
	__u32 pad;
	struct frag_val v;
};

struct frag_set {
	__u32 next;      /* the cursor: way next % FRAG_WAYS takes the next new key */
	__u32 pad;
	struct frag_way way[FRAG_WAYS];
};

struct frag_way6 {
	__u64 hosts[4];  /* source then destination, the packet's 32 bytes */
	__u64 tag;       /* proto | FRAG_USED << 8 | Identification << 32 */
	struct frag_val v;
};

struct frag_set6 {
	__u32 next;
	__u32 pad;
	struct frag_way6 way[FRAG_WAYS];
};

/* The connection and hint tables are set-associative too (ARRAYs of sets
 * of SET_WAYS ways, one per family), global, and replace keys by CLOCK
 * (second chance): a lookup that finds its key marks the way referenced;
 * a new key takes the first unreferenced way from the set's hand,
 * clearing the references of the ways it passes (the fourth way when all
 * four were referenced), and starts unreferenced; a key already in the
 * set is rewritten in its way and marked referenced. Inserts are stores
 * through the pointer the set's lookup returned: no map update helper, no
 * lock.
 *
 * A connection way holds its key as words and the backend beside the flow
 * hash in one more: a hit needs the stored hash to equal the packet's, so
 * a way torn by two CPUs writing it at once (one write's key words, the
 * other's backend) is a miss, not a wrong backend. */
#define SET_WAYS 4
#define CONN_USED (1ull << 40)  /* in a connection way's rest, above the protocol */
#define HINT_USED 0x100u        /* in a hint way's rest, above the protocol */

struct set_hdr {
	__u8 ref[SET_WAYS]; /* CLOCK's reference bits */
	__u32 next;         /* the hand: the way next % SET_WAYS is looked at first */
};

struct conn_way {
	__u64 hosts;     /* the packet's 8 address bytes: src | dst << 32 */
	__u64 rest;      /* the port word (the packet's 4 bytes) | proto << 32 | CONN_USED */
	__u64 val;       /* backend id | flow hash << 32 */
};

struct conn_set {
	struct set_hdr h;
	struct conn_way way[SET_WAYS];
};

struct conn_way6 {
	__u64 hosts[4];  /* the packet's 32 address bytes */
	__u64 rest;
	__u64 val;
};

struct conn_set6 {
	struct set_hdr h;
	struct conn_way6 way[SET_WAYS];
};

struct hint_way {
	__u64 hosts;     /* as conn_way.hosts */
	__u64 rest;      /* proto | HINT_USED | backend id << 32 */
};

struct hint_set {
	struct set_hdr h;
	struct hint_way way[SET_WAYS];
};

struct hint_way6 {
	__u64 hosts[4];
	__u64 rest;
};

struct hint_set6 {
	struct set_hdr h;
	struct hint_way6 way[SET_WAYS];
};

struct backend {
	__u32 addr;      /* IPv4, network order */
	__u32 flags;     /* BACKEND_USABLE, BACKEND_V6 */
	__u64 members[SVC_MAX / 64]; /* bit i: in the pool of the service of index i */
	__u32 addr6[4];  /* IPv6, network order */
};

/* A service's key in the services map: the VIP (an IPv4 one as
 * ::ffff:a.b.c.d), the port (network order), the protocol. Port 0 keys the
 * VIP's service of the protocol with the lowest port: the ring of the
 * orphans that have no hint (balancer.ServiceTable.Fallback). */
struct svc_key {
	__u32 addr[4];
	__u16 port;
	__u8 proto;
	__u8 pad;
};

struct svc {
	__u32 ring_off;  /* its ring's first slot in the ring map */
	__u32 ring_size; /* its ring's M */
	__u32 index;     /* its bit in backend.members */
	__u32 flags;     /* SVC_SHARED */
};

/* SVC_SHARED marks the orphans' service of a VIP and protocol whose
 * services share backends (titan.OrphanServices, at the port-0 key): an
 * orphan's hint is taken only if in its pool. */
#define SVC_SHARED 1

/* stats: per-CPU counters, one lookup per packet. Field names are mirrored
 * by the Go Stats struct. */
struct counters {
	__u64 packets;
	__u64 forwarded;
	__u64 pass_not_ipv4;     /* EtherType neither IPv4 nor IPv6 (named before IPv6) */
	__u64 pass_not_vip;
	__u64 pass_no_service;   /* to no service: no (VIP, port, protocol), no catch-all of the family */
	__u64 drop_truncated;
	__u64 drop_bad_version;
	__u64 drop_bad_ihl;
	__u64 drop_bad_length;
	__u64 drop_frag_overrun;
	__u64 drop_empty_frag;
	__u64 drop_l4_truncated;
	/* IPv6, one per balancer.DecodeError (field, reason) of decode6. */
	__u64 drop6_truncated;        /* "ipv6": ErrTruncated */
	__u64 drop6_version;          /* "ipv6.version": ErrNotIPv6 */
	__u64 drop6_jumbogram;        /* "ipv6.payload_length": ErrJumbogram */
	__u64 drop6_payload_length;   /* "ipv6.payload_length": ErrPayloadLength */
	__u64 drop6_hop_by_hop;       /* "ipv6.hop_by_hop": ErrHopByHop */
	__u64 drop6_ext_chain;        /* "ipv6.ext": ErrExtChain */
	__u64 drop6_nested_fragment;  /* "ipv6.fragment": ErrNestedFragment */
	__u64 drop6_ext_truncated;    /* "ipv6.ext": ErrTruncated */
	__u64 drop6_incomplete_chain; /* "ipv6.fragment": ErrIncompleteChain */
	__u64 drop6_empty_frag;       /* "ipv6.fragment": ErrEmptyFrag */
	__u64 drop6_frag_overrun;     /* "ipv6.fragment_offset": ErrFragOverrun */
	__u64 drop6_l4_truncated;     /* "tcp", "udp": ErrTruncated */
	__u64 drop_no_backend;
	__u64 drop_frag_conflict;
	__u64 drop_fragment;     /* stateless variant: every fragment */
	__u64 drop_encap;        /* adjust_head failed or outer length overflow */
	__u64 drop_unknown_orphan; /* orphan of an unknown host pair, credit spent */
	__u64 conn_hits;
	__u64 conn_misses;
	__u64 repicks;           /* table hit whose backend was unusable */
	__u64 frag_hits;
	__u64 frag_misses;
	__u64 frag_expired;
	__u64 frag_evictions;    /* live entries of other keys overwritten by an insert */
	__u64 orphans;
	__u64 hint_hits;
	__u64 conn_evictions;    /* used ways of other keys a new connection took */
	__u64 hint_evictions;    /* used ways of other keys a new hint took */
	/* Operations performed, as the cost model names them (cost.Op): a
	 * murmur3 hash (flow hashes and the set indexes), a HASH map lookup
	 * (the VIP and service lookups), a map update helper call, an
	 * encapsulation; an ARRAY lookup (the stats, the sets, the
	 * backends, the credit: inlined by the verifier), a new entry stored
	 * into a connection or hint set (a way taken for a key it did not
	 * hold; other stores through a looked-up pointer are not counted), an
	 * ARRAY lookup of a ring slot (at the flow's hash: for a new flow, a
	 * random place in the ring). */
	__u64 op_hash;
	__u64 op_map_read;
	__u64 op_map_write;
	__u64 op_encap;
	__u64 op_array_read;
	__u64 op_store;
	__u64 op_ring_read;
};

/* lookup counts the HASH map lookup it performs, lookup_array the ARRAY
 * one, lookup_ring the ring slot's (cost.OpMapRead, cost.OpArrayRead,
 * cost.OpRingRead). */
#define lookup(st, map, key) ((st)->op_map_read++, bpf_map_lookup_elem(map, key))
#define lookup_array(st, map, key) ((st)->op_array_read++, bpf_map_lookup_elem(map, key))
#define lookup_ring(st, map, key) ((st)->op_ring_read++, bpf_map_lookup_elem(map, key))

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct conn_set);
	__uint(max_entries, 32768);
} conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct conn_set6);
	__uint(max_entries, 32768);
} conns6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct frag_set);
	__uint(max_entries, 4096);
} frags SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct frag_set6);
	__uint(max_entries, 4096);
} frags6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct hint_set);
	__uint(max_entries, 32768);
} hints SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct hint_set6);
	__uint(max_entries, 32768);
} hints6 SEC(".maps");

/* ring holds every service's ring, each at its offset: two halves of
 * MaxRingSlots, the loader writing a new set into the half the current one
 * does not use. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 2 * 8 * 65537);
} ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct backend);
	__uint(max_entries, 4096);
} backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct svc_key);
	__type(value, struct svc);
	__uint(max_entries, 4 * 256);
} services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
} vips SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct counters);
	__uint(max_entries, 1);
} stats SEC(".maps");

/* credit[0] is the orphan credit of ADMIT_EARNED: global (one value for
 * every CPU, updated with atomic adds), written to cfg_orphan_credits at
 * load by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __s64);
	__uint(max_entries, 1);
} credit SEC(".maps");

/* hints are kept for the host-hint policy and for ADMIT_EARNED. */
#define KEEP_HINTS (cfg_orphan_policy == ORPHAN_HOST_HINT || cfg_orphan_admission == ADMIT_EARNED)

/* bench_cfg[0] tells the benchmark wrappers what to vary between
 * iterations, and counts the iterations (see bench below). Read by the
 * wrappers only. */
struct bench_state {
	__u32 vary;
	__u32 pad;
	__u64 iter;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct bench_state);
	__uint(max_entries, 1);
} bench_cfg SEC(".maps");

/* MurmurHash3 x86 32-bit over little-endian words, as balancer.Hash5. */
static __always_inline __u32 rotl32(__u32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

static __always_inline __u32 mix_k(__u32 h, __u32 k)
{
	k *= 0xcc9e2d51;
	k = rotl32(k, 15);
	k *= 0x1b873593;
	h ^= k;
	h = rotl32(h, 13);
	return h * 5 + 0xe6546b64;
}

static __always_inline __u32 fmix(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

/* host_hash is murmur3's state after the host pair (8 bytes for IPv4, 32
 * for IPv6, read as little-endian words as they lie in the packet): the
 * prefix the flow hashes and the host pair's set hash share, computed
 * once per packet. */
static __always_inline __u32 host_hash(const struct pkt *pk, const int v6)
{
	__u32 h = cfg_seed;

	if (!v6)
		return mix_k(mix_k(h, pk->src[0]), pk->dst[0]);
#pragma unroll
	for (int i = 0; i < 4; i++)
		h = mix_k(h, pk->src[i]);
#pragma unroll
	for (int i = 0; i < 4; i++)
		h = mix_k(h, pk->dst[i]);
	return h;
}

/* hash5 finishes balancer.Hash5 from the host-pair state hh: the port word
 * (the packet's 4 bytes), the protocol, the key's length (16, IPv6 40). */
static __always_inline __u32 hash5(__u32 hh, const struct pkt *pk, const int v6)
{
	__u32 h = mix_k(hh, (__u32)pk->sport | (__u32)pk->dport << 16);

	h = mix_k(h, pk->proto);
	return fmix(h ^ (v6 ? 40 : 16));
}

/* hash3 finishes balancer.Hash3 from hh: the protocol, the length (12,
 * IPv6 36). */
static __always_inline __u32 hash3(__u32 hh, const struct pkt *pk, const int v6)
{
	return fmix(mix_k(hh, pk->proto) ^ (v6 ? 36 : 12));
}

/* host_set_hash finishes murmur3 over the host pair alone from hh: the
 * hash of the host pair (frag.SetHash without the ID), which places a host
 * pair's hint and, plus the ID, its datagrams' fragment sets. */
static __always_inline __u32 host_set_hash(__u32 hh, const int v6)
{
	return fmix(hh ^ (v6 ? 32 : 8));
}

/* set_of is h modulo a table's set count n: a mask when n is a power of
 * two (the default); n is rodata, so the verifier drops the other arm. */
static __always_inline __u32 set_of(__u32 h, __u32 n)
{
	if ((n & (n - 1)) == 0)
		return h & (n - 1);
	return h % n;
}

/* clock_take picks the way of a set that a new key takes, CLOCK's way:
 * the first unreferenced way from the hand, clearing the reference bits
 * of the ways it passes, the fourth when all four are referenced. The
 * new entry starts unreferenced; the hand moves past it. */
static __always_inline __u32 clock_take(struct set_hdr *s)
{
	__u32 n = s->next;

#pragma unroll
	for (int i = 0; i < SET_WAYS - 1; i++) {
		if (!s->ref[n & (SET_WAYS - 1)])
			break;
		s->ref[n & (SET_WAYS - 1)] = 0;
		n++;
	}
	s->ref[n & (SET_WAYS - 1)] = 0;
	s->next = n + 1;
	return n & (SET_WAYS - 1);
}

/* hosts4 is the packet's 8 IPv4 address bytes as one word; hosts6_at its
 * 32 IPv6 address bytes' word i. */
static __always_inline __u64 hosts4(const struct pkt *pk)
{
	return (__u64)pk->src[0] | (__u64)pk->dst[0] << 32;
}

static __always_inline __u64 hosts6_at(const struct pkt *pk, int i)
{
	const __u32 *a = i < 2 ? pk->src : pk->dst;
	int j = (i & 1) * 2;

	return (__u64)a[j] | (__u64)a[j + 1] << 32;
}

static __always_inline int hosts6_eq(const __u64 *w, const struct pkt *pk)
{
	return w[0] == hosts6_at(pk, 0) && w[1] == hosts6_at(pk, 1) && w[2] == hosts6_at(pk, 2) &&
	       w[3] == hosts6_at(pk, 3);
}

static __always_inline void hosts6_put(__u64 *w, const struct pkt *pk)
{
	w[0] = hosts6_at(pk, 0);
	w[1] = hosts6_at(pk, 1);
	w[2] = hosts6_at(pk, 2);
	w[3] = hosts6_at(pk, 3);
}

/* svc_desc unpacks a catch-all descriptor of svc_family. */
static __always_inline void svc_desc(__u64 d, struct svc *s)
{
	s->ring_off = d & ((1u << SVC_OFF_BITS) - 1);
	s->ring_size = (d >> SVC_OFF_BITS) & ((1u << SVC_SIZE_BITS) - 1);
	s->index = (d >> (SVC_OFF_BITS + SVC_SIZE_BITS)) & (SVC_MAX - 1);
}

/* svc_find resolves the service of a packet to pk's VIP with destination
 * port port (network order; 0: the VIP's lowest-port service of the
 * protocol, an orphan's) into *s: from the family's catch-all, or by a
 * services map lookup of a TCP or UDP packet. 0: no service. */
static __always_inline int svc_find(struct counters *st, const struct pkt *pk, __u16 port, struct svc *s,
				    const int v6)
{
	__u64 mode = svc_family[v6];
	struct svc_key k = {};
	struct svc *v;

	if (!mode)
		return 0;
	if (mode != SVC_LOOKUP) {
		svc_desc(mode, s);
		return 1;
	}
	if (pk->proto != IPPROTO_TCP && pk->proto != IPPROTO_UDP)
		return 0;
	if (v6) {
		k.addr[0] = pk->dst[0];
		k.addr[1] = pk->dst[1];
		k.addr[2] = pk->dst[2];
		k.addr[3] = pk->dst[3];
	} else {
		k.addr[2] = bpf_htonl(0xffff);
		k.addr[3] = pk->dst[0];
	}
	k.port = port;
	k.proto = pk->proto;
	v = lookup(st, &services, &k);
	if (!v)
		return 0;
	*s = *v;
	return 1;
}

/* usable_in returns the backend entry for id when it is up and in the
 * pool of service s. */
static __always_inline struct backend *usable_in(struct counters *st, __u32 id, const struct svc *s)
{
	struct backend *b = lookup_array(st, &backends, &id);
	__u32 i = s->index & (SVC_MAX - 1);

	if (b && (b->flags & BACKEND_USABLE) && (b->members[i / 64] >> (i % 64)) & 1)
		return b;
	return 0;
}

/* usable_any returns the backend entry for id when it is up, in the pool
 * of some service, and of the packet's family: the check of an orphan's
 * hint and of an entry an orphan wrote, which name no service. */
static __always_inline struct backend *usable_any(struct counters *st, __u32 id, const int v6)
{
	struct backend *b = lookup_array(st, &backends, &id);

	if (b && (b->flags & BACKEND_USABLE) && !!(b->flags & BACKEND_V6) == v6)
		return b;
	return 0;
}

/* ring_pick returns the backend owning hash h on service s's ring, or 0
 * (no backend). A ring of the configured size takes the modulo by the
 * rodata constant, which the compiler turns into multiplications. */
static __always_inline struct backend *ring_pick(struct counters *st, const struct svc *s, __u32 h, __u32 *id)
{
	__u32 slot = s->ring_size == cfg_ring_size ? h % cfg_ring_size : h % s->ring_size;
	__u32 *v;

	slot += s->ring_off;
	v = lookup_ring(st, &ring, &slot);
	if (!v || *v == RING_NONE)
		return 0;
	*id = *v;
	return lookup_array(st, &backends, id);
}

/* hint_find returns the word of pk's host-pair hint in its set (proto |
 * HINT_USED | backend << 32) and marks its way referenced, or 0; *set is
 * the set, for an insert. hx is host_set_hash. */
static __always_inline __u64 *hint_find(struct counters *st, const struct pkt *pk, __u32 hx, void **set,
					const int v6)
{
	__u32 si = set_of(hx, cfg_hint_sets);
	__u32 key = pk->proto | HINT_USED;
	__u64 *w = 0;

	if (v6) {
		struct hint_set6 *hs = lookup_array(st, &hints6, &si);

		*set = hs;
		if (!hs) /* unreachable: si is below the map's size */
			return 0;
#pragma unroll
		for (int i = 0; i < SET_WAYS; i++) {
			if ((__u32)hs->way[i].rest == key && hosts6_eq(hs->way[i].hosts, pk)) {
				w = &hs->way[i].rest; /* a key is in one way at most */
				if (!hs->h.ref[i])
					hs->h.ref[i] = 1;
			}
		}
	} else {
		struct hint_set *hs = lookup_array(st, &hints, &si);
		__u64 hosts = hosts4(pk);

		*set = hs;
		if (!hs)
			return 0;
#pragma unroll
		for (int i = 0; i < SET_WAYS; i++) {
			if (hs->way[i].hosts == hosts && (__u32)hs->way[i].rest == key) {
				w = &hs->way[i].rest;
				if (!hs->h.ref[i])
					hs->h.ref[i] = 1;
			}
		}
	}
	return w;
}

/* hint_write records id as the hint of pk's host pair and protocol, in
 * the set of the host pair hash hx: in the key's way, else in the way
 * CLOCK takes. */
static __always_inline void hint_write(struct counters *st, const struct pkt *pk, __u32 hx, __u32 id, const int v6)
{
	__u64 nv = (pk->proto | HINT_USED) | (__u64)id << 32;
	void *set = 0;
	__u64 *w = hint_find(st, pk, hx, &set, v6);

	if (!set)
		return;
	if (!w) {
		if (v6) {
			struct hint_set6 *hs = set;
			struct hint_way6 *x = &hs->way[clock_take(&hs->h)];

			if (x->rest & HINT_USED)
				st->hint_evictions++;
			hosts6_put(x->hosts, pk);
			w = &x->rest;
			st->op_store++;
		} else {
			struct hint_set *hs = set;
			struct hint_way *x = &hs->way[clock_take(&hs->h)];

			if (x->rest & HINT_USED)
				st->hint_evictions++;
			x->hosts = hosts4(pk);
			w = &x->rest;
			st->op_store++;
		}
	}
	if (*w != nv) /* a host pair's flows mostly share a backend: no store */
		*w = nv;
}

/* pick_flow is step 2 of the algorithm in service s: connection table,
 * ring on a miss or an unusable backend, and a write of the choice. hh is
 * host_hash; hx is host_set_hash(hh) when have_hx, else computed here if
 * needed. */
static __always_inline struct backend *pick_flow(struct counters *st, const struct pkt *pk, const struct svc *s,
						 __u32 hh, __u32 hx, int have_hx, __u32 *id, const int v6)
{
	__u32 h = hash5(hh, pk, v6);
	__u32 si = set_of(h, cfg_conn_sets);
	__u64 rest = (__u64)pk->sport | (__u64)pk->dport << 16 | (__u64)pk->proto << 32 | CONN_USED;
	__u64 *w = 0;
	void *set;
	struct backend *b;

	st->op_hash++;
	if (v6) {
		struct conn_set6 *cs = lookup_array(st, &conns6, &si);

		set = cs;
		if (!cs) /* unreachable: si < cfg_conn_sets, the map's size */
			return 0;
#pragma unroll
		for (int i = 0; i < SET_WAYS; i++) {
			if (cs->way[i].rest == rest && (__u32)(cs->way[i].val >> 32) == h &&
			    hosts6_eq(cs->way[i].hosts, pk)) {
				w = &cs->way[i].val; /* a key is in one way at most */
				if (!cs->h.ref[i])
					cs->h.ref[i] = 1;
			}
		}
	} else {
		struct conn_set *cs = lookup_array(st, &conns, &si);
		__u64 hosts = hosts4(pk);

		set = cs;
		if (!cs)
			return 0;
#pragma unroll
		for (int i = 0; i < SET_WAYS; i++) {
			if (cs->way[i].hosts == hosts && cs->way[i].rest == rest &&
			    (__u32)(cs->way[i].val >> 32) == h) {
				w = &cs->way[i].val;
				if (!cs->h.ref[i])
					cs->h.ref[i] = 1;
			}
		}
	}
	if (w) {
		__u32 cid = (__u32)*w;

		b = usable_in(st, cid, s);
		if (b) {
			st->conn_hits++;
			*id = cid;
			return b;
		}
		st->repicks++;
	} else {
		st->conn_misses++;
	}
	b = ring_pick(st, s, h, id);
	if (!b)
		return 0;
	if (!w) {
		if (v6) {
			struct conn_set6 *cs = set;
			struct conn_way6 *x = &cs->way[clock_take(&cs->h)];

			if (x->rest & CONN_USED)
				st->conn_evictions++;
			hosts6_put(x->hosts, pk);
			x->rest = rest;
			w = &x->val;
			st->op_store++;
		} else {
			struct conn_set *cs = set;
			struct conn_way *x = &cs->way[clock_take(&cs->h)];

			if (x->rest & CONN_USED)
				st->conn_evictions++;
			x->hosts = hosts4(pk);
			x->rest = rest;
			w = &x->val;
			st->op_store++;
		}
	}
	*w = *id | (__u64)h << 32;
	if (KEEP_HINTS) {
		if (!have_hx) {
			hx = host_set_hash(hh, v6);
			st->op_hash++;
		}
		hint_write(st, pk, hx, *id, v6);
	}
	if (cfg_orphan_admission == ADMIT_EARNED) {
		__u32 zero = 0;
		__s64 *c = lookup_array(st, &credit, &zero);

		/* A new flow earns one credit, up to the bound. The atomic add
		 * is not a map update; with the credit full (no orphans of
		 * unknown hosts lately) the line is only read. */
		if (c && *c < cfg_orphan_credits)
			__sync_fetch_and_add(c, 1);
	}
	return b;
}

/* pick_orphan chooses for a non-first fragment without a usable entry, in
 * service s: the orphans' service of the VIP and protocol (SVC_SHARED: the
 * hint only if in its pool), else the VIP's lowest-port service of the
 * protocol or the catch-all (the hint if up in any pool). *refused is set
 * when ADMIT_EARNED does not admit it: unknown host pair, credit spent.
 * hh is host_hash, hx host_set_hash(hh). */
static __always_inline struct backend *pick_orphan(struct counters *st, const struct pkt *pk, const struct svc *s,
						   __u32 hh, __u32 hx, __u32 *id, int *refused, const int v6)
{
	struct backend *b;

	st->orphans++;
	if (KEEP_HINTS) {
		void *set;
		__u64 *w = hint_find(st, pk, hx, &set, v6);

		if (w && cfg_orphan_policy == ORPHAN_HOST_HINT) {
			__u32 hid = *w >> 32;

			b = s->flags & SVC_SHARED ? usable_in(st, hid, s) : usable_any(st, hid, v6);
			if (b) {
				st->hint_hits++;
				*id = hid;
				return b;
			}
		}
		if (!w && cfg_orphan_admission == ADMIT_EARNED) {
			__u32 zero = 0;
			__s64 *c = lookup_array(st, &credit, &zero);

			if (!c || *c <= 0) {
				*refused = 1;
				return 0;
			}
			__sync_fetch_and_add(c, -1);
		}
	}
	st->op_hash++;
	return ring_pick(st, s, hash3(hh, pk, v6), id);
}

/* frag_set_get returns the fragment set of pk (host pair hash hx plus the
 * ID, modulo the set count: frag.SetHash). A sender numbers its datagrams
 * to a destination consecutively, so its next datagram's set is the one
 * after its last: a new datagram's set read walks memory forward, which
 * the CPU prefetches, instead of a random set's cache miss. */
static __always_inline void *frag_set_get(struct counters *st, const struct pkt *pk, __u32 hx, const int v6)
{
	__u32 si = set_of(hx + (v6 ? pk->id : bpf_ntohs((__u16)pk->id)), cfg_frag_sets);

	if (v6)
		return lookup_array(st, &frags6, &si);
	return lookup_array(st, &frags, &si);
}

/* frag_find returns the value of pk's way in its fragment set, or 0. */
static __always_inline struct frag_val *frag_find(void *set, const struct pkt *pk, const int v6)
{
	struct frag_val *v = 0;

	if (v6) {
		struct frag_set6 *fs = set;
		__u64 tag = pk->proto | FRAG_USED << 8 | (__u64)pk->id << 32;

#pragma unroll
		for (int i = 0; i < FRAG_WAYS; i++) {
			if (fs->way[i].tag == tag && hosts6_eq(fs->way[i].hosts, pk))
				v = &fs->way[i].v; /* a key is in one way at most */
		}
	} else {
		struct frag_set *fs = set;
		__u64 hosts = hosts4(pk);
		__u32 tag = pk->proto | FRAG_USED << 8 | pk->id << 16;

#pragma unroll
		for (int i = 0; i < FRAG_WAYS; i++) {
			if (fs->way[i].tag == tag && fs->way[i].hosts == hosts)
				v = &fs->way[i].v;
		}
	}
	return v;
}

/* frag_take writes pk's key into the way at the set's cursor, which
 * advances, counting an eviction when the way held a live entry, and
 * returns the way's value. */
static __always_inline struct frag_val *frag_take(struct counters *st, void *set, const struct pkt *pk, __u64 now,
						  const int v6)
{
	struct frag_val *v;

	if (v6) {
		struct frag_set6 *fs = set;
		struct frag_way6 *w = &fs->way[fs->next & (FRAG_WAYS - 1)];

		fs->next++;
		if (w->tag && now - w->v.created <= cfg_frag_timeout)
			st->frag_evictions++;
		hosts6_put(w->hosts, pk);
		w->tag = pk->proto | FRAG_USED << 8 | (__u64)pk->id << 32;
		v = &w->v;
	} else {
		struct frag_set *fs = set;
		struct frag_way *w = &fs->way[fs->next & (FRAG_WAYS - 1)];

		fs->next++;
		if (w->tag && now - w->v.created <= cfg_frag_timeout)
			st->frag_evictions++;
		w->hosts = hosts4(pk);
		w->tag = pk->proto | FRAG_USED << 8 | pk->id << 16;
		v = &w->v;
	}
	return v;
}

struct outer_ip {
	__u8 ver_ihl;
	__u8 tos;
	__u16 tot_len;
	__u16 id;
	__u16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__u16 check;
	__u32 saddr;
	__u32 daddr;
};

struct outer_ip6 {
	__u32 vtc_flow;  /* version 6, traffic class, flow label 0 (network order) */
	__u16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	__u32 saddr[4];
	__u32 daddr[4];
};

/* push moves the Ethernet header size bytes to the front over the room
 * bpf_xdp_adjust_head(-size) made, sets its EtherType, and returns the
 * room after it, or 0. */
static __always_inline void *push(struct xdp_md *ctx, int size, __u16 proto)
{
	void *data, *data_end;
	struct ethhdr *neth, *oeth;

	if (bpf_xdp_adjust_head(ctx, -size))
		return 0;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	neth = data;
	oeth = data + size;
	if ((void *)(oeth + 1) > data_end)
		return 0;
	__builtin_memcpy(neth->h_dest, oeth->h_dest, ETH_ALEN);
	__builtin_memcpy(neth->h_source, oeth->h_source, ETH_ALEN);
	neth->h_proto = bpf_htons(proto);
	return neth + 1;
}

/* encap prepends an outer IPv4 header (IPIP) toward the backend b, or an
 * outer IPv6 header (IPv6-in-IPv6, as Katran's encap_v6) toward its IPv6
 * address, and moves the Ethernet header to the front. */
static __always_inline int encap(struct xdp_md *ctx, struct counters *st, const struct backend *b,
				 const struct pkt *pk, const int v6)
{
	void *room;

	if (v6) {
		struct outer_ip6 o = {};

		if (pk->tot > 0xffff) { /* the outer payload length is the inner packet's */
			st->drop_encap++;
			return XDP_DROP;
		}
		o.vtc_flow = bpf_htonl(6u << 28 | (__u32)pk->tos << 20);
		o.payload_len = bpf_htons(pk->tot);
		o.nexthdr = IPPROTO_IPV6;
		o.hop_limit = 64;
		if (cfg_src_addr6[0] | cfg_src_addr6[1] | cfg_src_addr6[2] | cfg_src_addr6[3]) {
			o.saddr[0] = cfg_src_addr6[0];
			o.saddr[1] = cfg_src_addr6[1];
			o.saddr[2] = cfg_src_addr6[2];
			o.saddr[3] = cfg_src_addr6[3];
		} else {
			o.saddr[0] = pk->dst[0];
			o.saddr[1] = pk->dst[1];
			o.saddr[2] = pk->dst[2];
			o.saddr[3] = pk->dst[3];
		}
		o.daddr[0] = b->addr6[0];
		o.daddr[1] = b->addr6[1];
		o.daddr[2] = b->addr6[2];
		o.daddr[3] = b->addr6[3];
		room = push(ctx, sizeof(o), ETH_P_IPV6);
		if (!room) {
			st->drop_encap++;
			return XDP_DROP;
		}
		__builtin_memcpy(room, &o, sizeof(o));
	} else {
		struct outer_ip o = {};
		__u32 sum = 0;
		__u16 *w = (__u16 *)&o;

		if (pk->tot > 0xffff - sizeof(o)) {
			st->drop_encap++;
			return XDP_DROP;
		}
		o.ver_ihl = 0x45;
		o.tos = pk->tos;
		o.tot_len = bpf_htons(pk->tot + sizeof(o));
		o.ttl = 64;
		o.protocol = IPPROTO_IPIP;
		o.saddr = cfg_src_addr ? cfg_src_addr : pk->dst[0];
		o.daddr = b->addr;
#pragma unroll
		for (int i = 0; i < (int)(sizeof(o) / 2); i++)
			sum += w[i];
		sum = (sum & 0xffff) + (sum >> 16);
		sum = (sum & 0xffff) + (sum >> 16);
		o.check = ~sum;
		room = push(ctx, sizeof(o), ETH_P_IP);
		if (!room) {
			st->drop_encap++;
			return XDP_DROP;
		}
		__builtin_memcpy(room, &o, sizeof(o));
	}
	st->forwarded++;
	st->op_encap++;
	return XDP_TX;
}

/* parse4 parses the IPv4 packet at ip into pk, rejecting exactly what
 * balancer.Decode rejects, each reason counted: -1 when pk is to be
 * decided, else the XDP action. */
static __always_inline int parse4(struct counters *st, __u8 *ip, void *data_end, struct pkt *pk)
{
	__u32 hl, tot, frag, off;

	if ((void *)(ip + 20) > data_end) {
		st->drop_truncated++;
		return XDP_DROP;
	}
	if ((ip[0] >> 4) != 4) {
		st->drop_bad_version++;
		return XDP_DROP;
	}
	hl = (ip[0] & 0x0f) * 4;
	if (hl < 20) {
		st->drop_bad_ihl++;
		return XDP_DROP;
	}
	tot = bpf_ntohs(*(__u16 *)(ip + 2));
	if (tot < hl || (void *)ip + tot > data_end) {
		st->drop_bad_length++;
		return XDP_DROP;
	}
	frag = bpf_ntohs(*(__u16 *)(ip + 6));
	off = frag & IP_OFFSET;
	if (frag & (IP_MF | IP_OFFSET)) {
		if (tot == hl) {
			st->drop_empty_frag++;
			return XDP_DROP;
		}
		if (off * 8 + (tot - hl) > 0xffff) {
			st->drop_frag_overrun++;
			return XDP_DROP;
		}
	}
	pk->proto = ip[9];
	pk->src[0] = *(__u32 *)(ip + 12);
	pk->dst[0] = *(__u32 *)(ip + 16);
	pk->frag = (frag & (IP_MF | IP_OFFSET)) != 0;
	pk->first = off == 0;
	pk->tos = ip[1];
	pk->id = *(__u16 *)(ip + 4);
	pk->tot = tot;
	if (off == 0 && (pk->proto == IPPROTO_TCP || pk->proto == IPPROTO_UDP)) {
		__u32 need = pk->proto == IPPROTO_TCP ? 20 : 8;
		__u8 *l4 = ip + hl;

		if (tot - hl < need || (void *)(l4 + 4) > data_end) {
			st->drop_l4_truncated++;
			return XDP_DROP;
		}
		pk->sport = *(__u16 *)l4;
		pk->dport = *(__u16 *)(l4 + 2);
	}
	return -1;
}

/* is_ext reports whether nh is a Next Header value the chain walk skips
 * (balancer's isExtHeader). */
static __always_inline int is_ext(__u8 nh)
{
	return nh == NH_HOP_BY_HOP || nh == NH_ROUTING || nh == NH_DEST_OPTS || nh == NH_AH || nh == NH_FRAGMENT;
}

/* parse6 parses the IPv6 packet at ip into pk, walking the extension
 * chain as balancer.Decode does (decode6: the same checks in the same
 * order, at most MAX_EXT_HEADERS headers, the rest of a non-first fragment
 * never parsed), each invalid case counted apart: -1 when pk is to be
 * decided, else the XDP action. */
static __always_inline int parse6(struct counters *st, __u8 *ip, void *data_end, struct pkt *pk)
{
	__u32 end, off = IPV6_HLEN, frag_end = 0, fo = 0, mf = 0;
	int ext = 0;
	__u8 nh;

	if ((void *)(ip + IPV6_HLEN) > data_end) {
		st->drop6_truncated++;
		return XDP_DROP;
	}
	if ((ip[0] >> 4) != 6) {
		st->drop6_version++;
		return XDP_DROP;
	}
	end = IPV6_HLEN + bpf_ntohs(*(__u16 *)(ip + 4));
	nh = ip[6];
	if (end == IPV6_HLEN && nh == NH_HOP_BY_HOP) {
		st->drop6_jumbogram++;
		return XDP_DROP;
	}
	if ((void *)ip + end > data_end) {
		st->drop6_payload_length++;
		return XDP_DROP;
	}
#pragma unroll
	for (int i = 0; i <= MAX_EXT_HEADERS; i++) {
		__u32 hl = 8;

		if (!is_ext(nh))
			break;
		if (nh == NH_HOP_BY_HOP && ext) {
			st->drop6_hop_by_hop++;
			return XDP_DROP;
		}
		if (ext == MAX_EXT_HEADERS) {
			st->drop6_ext_chain++;
			return XDP_DROP;
		}
		if (nh == NH_FRAGMENT && frag_end) {
			st->drop6_nested_fragment++;
			return XDP_DROP;
		}
		if (off + 2 <= end && nh != NH_FRAGMENT) {
			__u8 *h = ip + off;

			if ((void *)(h + 2) > data_end) /* unreachable: end is within the frame */
				return XDP_ABORTED;
			hl = nh == NH_AH ? ((__u32)h[1] + 2) * 4 : ((__u32)h[1] + 1) * 8;
		}
		if (off + hl > end) {
			if (mf && fo == 0) {
				st->drop6_incomplete_chain++;
				return XDP_DROP;
			}
			st->drop6_ext_truncated++;
			return XDP_DROP;
		}
		ext++;
		{
			__u8 *h = ip + off;

			if ((void *)(h + 8) > data_end) /* unreachable: off + hl <= end */
				return XDP_ABORTED;
			if (nh == NH_FRAGMENT) {
				__u16 w = bpf_ntohs(*(__u16 *)(h + 2));

				fo = w >> 3;
				mf = w & 1;
				pk->id = bpf_ntohl(*(__u32 *)(h + 4));
				frag_end = off + hl;
			}
			nh = h[0];
		}
		off += hl;
		if (fo)
			break;
	}
	pk->proto = nh;
	__builtin_memcpy(pk->src, ip + 8, 16);
	__builtin_memcpy(pk->dst, ip + 24, 16);
	pk->tos = (ip[0] & 0x0f) << 4 | ip[1] >> 4;
	pk->tot = end;
	pk->frag = mf || fo;
	pk->first = fo == 0;
	if (pk->frag) {
		__u32 data = end - frag_end;

		if (data == 0) {
			st->drop6_empty_frag++;
			return XDP_DROP;
		}
		if (fo * 8 + data > 0xffff) {
			st->drop6_frag_overrun++;
			return XDP_DROP;
		}
	}
	if (fo)
		return -1;
	if (pk->proto == IPPROTO_TCP || pk->proto == IPPROTO_UDP) {
		__u32 need = pk->proto == IPPROTO_TCP ? 20 : 8;
		__u8 *l4;

		if (off + need > end) {
			if (mf) {
				st->drop6_incomplete_chain++;
				return XDP_DROP;
			}
			st->drop6_l4_truncated++;
			return XDP_DROP;
		}
		if (off > 0xffff) /* unreachable: off <= end */
			return XDP_ABORTED;
		l4 = ip + off;
		if ((void *)(l4 + 4) > data_end) /* unreachable: off + need <= end */
			return XDP_ABORTED;
		pk->sport = *(__u16 *)l4;
		pk->dport = *(__u16 *)(l4 + 2);
	}
	return -1;
}

/* decide runs the algorithm on the parsed packet pk of family v6. stateless
 * selects the calibration variant: fragments dropped, no tables (ring
 * only). */
static __always_inline int decide(struct xdp_md *ctx, struct counters *st, struct pkt *pk, const int v6,
				  const int stateless)
{
	struct svc s = {};
	struct backend *b;
	__u32 id = 0, hh, hx;

	if (cfg_vip_count) {
		/* The VIP list holds IPv4 addresses: no IPv6 packet is to one. */
		if (v6 || !lookup(st, &vips, &pk->dst[0])) {
			st->pass_not_vip++;
			return XDP_PASS;
		}
	}

	if (stateless) {
		if (pk->frag) {
			st->drop_fragment++;
			return XDP_DROP;
		}
		if (!svc_find(st, pk, pk->dport, &s, v6)) {
			st->pass_no_service++;
			return XDP_PASS;
		}
		st->op_hash++;
		b = ring_pick(st, &s, hash5(host_hash(pk, v6), pk, v6), &id);
		if (!b) {
			st->drop_no_backend++;
			return XDP_DROP;
		}
		return encap(ctx, st, b, pk, v6);
	}

	hh = host_hash(pk, v6);
	if (!pk->frag) {
		if (!svc_find(st, pk, pk->dport, &s, v6)) {
			st->pass_no_service++;
			return XDP_PASS;
		}
		b = pick_flow(st, pk, &s, hh, 0, 0, &id, v6);
	} else {
		/* The clock: jiffies, which the verifier inlines into one load
		 * (a helper call, bpf_ktime_get_coarse_ns, cost some 2 ns more
		 * a fragment, at the same tick resolution). */
		__u64 now = bpf_jiffies64();
		struct frag_val *kv, *v;
		void *fs;

		/* A first fragment names its service by its ports. */
		if (pk->first && !svc_find(st, pk, pk->dport, &s, v6)) {
			st->pass_no_service++;
			return XDP_PASS;
		}
		hx = host_set_hash(hh, v6);
		st->op_hash++;
		fs = frag_set_get(st, pk, hx, v6);
		if (!fs) /* unreachable: the index is below cfg_frag_sets, the map's size */
			return XDP_ABORTED;
		kv = frag_find(fs, pk, v6);
		b = 0;
		if (kv && now - kv->created <= cfg_frag_timeout) {
			__u32 bid = kv->backend & ~FRAG_HAS_PORTS;

			if (pk->first) {
				b = usable_in(st, bid, &s);
			} else if (kv->backend & FRAG_HAS_PORTS) {
				/* Its first fragment passed: its ports name the
				 * service. */
				if (!svc_find(st, pk, kv->dport, &s, v6)) {
					st->pass_no_service++;
					return XDP_PASS;
				}
				b = usable_in(st, bid, &s);
			} else {
				b = usable_any(st, bid, v6);
			}
			if (b) {
				st->frag_hits++;
				id = bid;
				if (pk->first) {
					if (!(kv->backend & FRAG_HAS_PORTS)) {
						/* An update in place: a store, no map update. */
						kv->sport = pk->sport;
						kv->dport = pk->dport;
						kv->backend = bid | FRAG_HAS_PORTS;
					} else if (kv->sport != pk->sport || kv->dport != pk->dport) {
						st->drop_frag_conflict++;
						return XDP_DROP;
					}
				}
			} else {
				st->repicks++;
			}
		} else if (kv) {
			st->frag_expired++;
		} else {
			st->frag_misses++;
		}
		if (!b) {
			__u32 has_ports = 0;

			if (pk->first) {
				b = pick_flow(st, pk, &s, hh, hx, 1, &id, v6);
				has_ports = FRAG_HAS_PORTS;
			} else {
				int refused = 0;

				/* An orphan: its VIP's lowest-port service of its
				 * protocol (the catch-all, without services). */
				if (!svc_find(st, pk, 0, &s, v6)) {
					st->pass_no_service++;
					return XDP_PASS;
				}
				b = pick_orphan(st, pk, &s, hh, hx, &id, &refused, v6);
				if (refused) {
					st->drop_unknown_orphan++;
					return XDP_DROP;
				}
			}
			if (b) {
				/* The way: the key's own, else the cursor's. */
				v = kv ? kv : frag_take(st, fs, pk, now, v6);
				v->backend = id | has_ports;
				v->created = now;
				v->sport = pk->sport;
				v->dport = pk->dport;
			}
		}
	}
	if (!b) {
		st->drop_no_backend++;
		return XDP_DROP;
	}
	return encap(ctx, st, b, pk, v6);
}

/* process is the whole datapath. stateless selects the calibration
 * variant (see decide). */
static __always_inline int process(struct xdp_md *ctx, const int stateless)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 zero = 0;
	struct counters *st;
	struct pkt pk = {};
	int r;

	st = bpf_map_lookup_elem(&stats, &zero);
	if (!st)
		return XDP_ABORTED;
	st->packets++;
	st->op_array_read++;

	if ((void *)(eth + 1) > data_end) {
		st->drop_truncated++;
		return XDP_DROP;
	}
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		r = parse4(st, (__u8 *)(eth + 1), data_end, &pk);
		if (r >= 0)
			return r;
		return decide(ctx, st, &pk, 0, stateless);
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		r = parse6(st, (__u8 *)(eth + 1), data_end, &pk);
		if (r >= 0)
			return r;
		return decide(ctx, st, &pk, 1, stateless);
	}
	st->pass_not_ipv4++;
	return XDP_PASS;
}

static __noinline int titan(struct xdp_md *ctx)
{
	return process(ctx, 0);
}

static __noinline int titan_stateless(struct xdp_md *ctx)
{
	return process(ctx, 1);
}

/* xdp_jiffies writes the kernel's jiffies and coarse clock (ns) into the
 * frame's first 16 bytes and passes it: the loader runs it alone, before
 * loading the datapath, to measure the tick rate (CONFIG_HZ) and turn
 * Options.FragTimeout into cfg_frag_timeout ticks (see clock.go). */
SEC("xdp")
int xdp_jiffies(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	__u64 *w = data;

	if ((void *)(w + 2) > data_end)
		return XDP_ABORTED;
	w[0] = bpf_jiffies64();
	w[1] = bpf_ktime_get_coarse_ns();
	return XDP_PASS;
}

SEC("xdp")
int xdp_titan(struct xdp_md *ctx)
{
	return titan(ctx);
}

SEC("xdp")
int xdp_titan_stateless(struct xdp_md *ctx)
{
	return titan_stateless(ctx);
}

/* Benchmark wrappers. BPF_PROG_TEST_RUN with repeat > 1 runs a program again
 * on the same buffer, which after an XDP_TX here is already encapsulated.
 * Each wrapper saves the Ethernet header, calls the datapath, and after an
 * encapsulation strips the outer header again (adjust_head +20, or +40
 * after an IPv6 one) and restores the Ethernet header, so every iteration
 * sees the original frame. bench_cfg may ask it to vary the frame for the
 * call: VARY_FLOW adds the iteration count to the inner source address (an
 * IPv6 one's last word: every packet a new flow), VARY_DATAGRAM adds it to
 * the IP ID (every fragment a new datagram's; IPv4 only); the field is
 * restored after the call. The count lives in the map, so it keeps growing
 * across BPF_PROG_TEST_RUN calls. xdp_bench_base wraps a function that
 * returns XDP_PASS: the wrapper's own cost. */
#define VARY_FLOW 1
#define VARY_DATAGRAM 2

static __noinline int nop(struct xdp_md *ctx)
{
	return ctx->ingress_ifindex == 0xffffffff ? XDP_DROP : XDP_PASS;
}

static __always_inline int bench(struct xdp_md *ctx, int which)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr saved;
	struct bench_state *bs;
	__u32 zero = 0, vary = 0, src = 0, soff = 12;
	__u16 ipid = 0;
	__u8 *ip;
	int act, v6;

	if (data + sizeof(saved) + 24 > data_end)
		return XDP_ABORTED;
	__builtin_memcpy(&saved, data, sizeof(saved));
	v6 = saved.h_proto == bpf_htons(ETH_P_IPV6);
	if (v6)
		soff = 20; /* the source address's last word */
	ip = data + sizeof(saved);
	src = *(__u32 *)(ip + soff);
	ipid = *(__u16 *)(ip + 4);
	bs = bpf_map_lookup_elem(&bench_cfg, &zero);
	if (bs && bs->vary) {
		vary = bs->vary;
		bs->iter++;
		if (vary == VARY_FLOW)
			*(__u32 *)(ip + soff) = bpf_htonl(bpf_ntohl(src) + (__u32)bs->iter);
		else if (vary == VARY_DATAGRAM && !v6)
			*(__u16 *)(ip + 4) = bpf_htons(bpf_ntohs(ipid) + (__u16)bs->iter);
	}

	if (which == 0)
		act = titan(ctx);
	else if (which == 1)
		act = titan_stateless(ctx);
	else
		act = nop(ctx);

	if (act == XDP_TX) {
		if (bpf_xdp_adjust_head(ctx, v6 ? (int)sizeof(struct outer_ip6) : (int)sizeof(struct outer_ip)))
			return XDP_ABORTED;
	}
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + sizeof(saved) + 24 > data_end)
		return XDP_ABORTED;
	__builtin_memcpy(data, &saved, sizeof(saved));
	ip = data + sizeof(saved);
	*(__u32 *)(ip + soff) = src;
	if (!v6)
		*(__u16 *)(ip + 4) = ipid;
	return act;
}

SEC("xdp")
int xdp_bench_titan(struct xdp_md *ctx)
{
	return bench(ctx, 0);
}

SEC("xdp")
int xdp_bench_stateless(struct xdp_md *ctx)
{
	return bench(ctx, 1);
}

SEC("xdp")
int xdp_bench_base(struct xdp_md *ctx)
{
	return bench(ctx, 2);
}
