/* Katran's balancer, unmodified: its main source is included from the
 * Katran checkout given to katranbench (KATRAN_MAIN:
 * katran/lib/bpf/balancer.bpf.c, or balancer_kern.c in older trees) and
 * built as Katran's Makefile-bpf builds it; the shared benchmark wrapper
 * goes around its entry, balancer_ingress. Nothing of Katran is in this
 * repository. */
#ifndef KATRAN_MAIN
#define KATRAN_MAIN "katran/lib/bpf/balancer.bpf.c"
#endif
#include KATRAN_MAIN

#define KB_ENTRY balancer_ingress
#include "bench_wrapper.h"
