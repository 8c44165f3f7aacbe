/* bench_wrapper.h: one benchmark wrapper, compiled around both programs.
 *
 * Include it after the program's source with KB_ENTRY defined as the
 * program's unmodified XDP entry function. BPF_PROG_TEST_RUN with repeat > 1
 * reruns the program on the same buffer, which after an XDP_TX is already
 * IPIP-encapsulated; so the wrapper saves the Ethernet header (and the two
 * IPv4 fields it may vary), calls the entry as a BPF-to-BPF function, and
 * after an XDP_TX moves the head back past the 20-byte outer header
 * (bpf_xdp_adjust_head +20) and restores what the encapsulation overwrote:
 * every iteration sees the original frame. kb_cfg[0].vary asks for
 *
 *   KB_VARY_FLOW          a new flow per iteration: the inner source address
 *                         plus an iteration count kept in kb_cfg;
 *   KB_VARY_DATAGRAM      a new datagram per iteration: the IP ID plus the
 *                         count;
 *   KB_VARY_FLOW_PERCPU   a new flow per iteration from every CPU at once:
 *                         the source address plus a count kept per CPU
 *                         (kb_iter) plus the CPU's number times 2^24, so
 *                         that CPUs neither share a counter nor repeat each
 *                         other's flows.
 *
 * The counts live in maps, so they keep growing across calls. kb_bench_base
 * wraps a function that returns XDP_PASS: the wrapper's own cost, with the
 * same variation, to subtract.
 *
 * It mirrors the TitanLB project's own wrapper (xdp/titan.c, bench()), line
 * for line in the first two modes, so that both programs are measured the
 * way the project measures its own. */

#define KB_VARY_FLOW 1
#define KB_VARY_DATAGRAM 2
#define KB_VARY_FLOW_PERCPU 3

struct kb_state {
	__u32 vary;
	__u32 pad;
	__u64 iter;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct kb_state);
	__uint(max_entries, 1);
} kb_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} kb_iter SEC(".maps");

struct kb_eth {
	__u8 b[14];
};

static __attribute__((noinline)) int kb_nop(struct xdp_md *ctx)
{
	return ctx->ingress_ifindex == 0xffffffff ? XDP_DROP : XDP_PASS;
}

static __attribute__((always_inline)) inline int kb_bench(struct xdp_md *ctx, int base)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct kb_eth saved;
	struct kb_state *bs;
	__u64 *it;
	__u32 zero = 0, vary = 0, src = 0, add = 0;
	__u16 ipid = 0;
	__u8 *ip;
	int act;

	if (data + sizeof(saved) + 20 > data_end)
		return XDP_ABORTED;
	__builtin_memcpy(&saved, data, sizeof(saved));
	ip = data + sizeof(saved);
	src = *(__u32 *)(ip + 12);
	ipid = *(__u16 *)(ip + 4);
	bs = bpf_map_lookup_elem(&kb_cfg, &zero);
	if (bs && bs->vary) {
		vary = bs->vary;
		if (vary == KB_VARY_FLOW_PERCPU) {
			it = bpf_map_lookup_elem(&kb_iter, &zero);
			if (it) {
				(*it)++;
				add = (__u32)*it + (bpf_get_smp_processor_id() << 24);
			}
			*(__u32 *)(ip + 12) = __builtin_bswap32(__builtin_bswap32(src) + add);
		} else {
			bs->iter++;
			if (vary == KB_VARY_FLOW)
				*(__u32 *)(ip + 12) = __builtin_bswap32(__builtin_bswap32(src) + (__u32)bs->iter);
			else if (vary == KB_VARY_DATAGRAM)
				*(__u16 *)(ip + 4) = __builtin_bswap16(__builtin_bswap16(ipid) + (__u16)bs->iter);
		}
	}

	if (base)
		act = kb_nop(ctx);
	else
		act = KB_ENTRY(ctx);

	if (act == XDP_TX) {
		if (bpf_xdp_adjust_head(ctx, 20))
			return XDP_ABORTED;
	}
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + sizeof(saved) + 20 > data_end)
		return XDP_ABORTED;
	__builtin_memcpy(data, &saved, sizeof(saved));
	ip = data + sizeof(saved);
	*(__u32 *)(ip + 12) = src;
	*(__u16 *)(ip + 4) = ipid;
	return act;
}

SEC("xdp")
int kb_bench_entry(struct xdp_md *ctx)
{
	return kb_bench(ctx, 0);
}

SEC("xdp")
int kb_bench_base(struct xdp_md *ctx)
{
	return kb_bench(ctx, 1);
}
