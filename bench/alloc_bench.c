// SPDX-License-Identifier: MIT
/*
 * make bench: latency of one allocate+free pair on the shared heap, against
 * glibc malloc/free measured in the same run, for sizes 16 B to 64 KiB.
 * Each pair is timed alone with CLOCK_MONOTONIC (the clock's own cost, also
 * printed, is included in both columns alike). Prints median and p99 in ns
 * and the ratio shmipc/malloc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libshm.h"

#define PAIRS	200000

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct pct {
	uint64_t p50, p99;
};

static struct pct percentiles(uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return (struct pct){ v[n / 2], v[n * 99 / 100] };
}

int main(int argc, char **argv)
{
	enum { TABLE, CSV, JSON } fmt = TABLE;
	struct pct res[2][7];
	static const size_t sizes[] = { 16, 64, 256, 1024, 4096, 16384, 65536 };
	struct shmipc_options o = { .size = 64 << 20, .flags = SHMIPC_OPEN_CREATE };
	uint64_t *t = calloc(PAIRS, sizeof(*t));
	char name[64];
	struct shmipc *shm;
	unsigned int s;
	size_t i;
	int err;

	if (argc > 2 || (argc == 2 && strcmp(argv[1], "--csv") && strcmp(argv[1], "--json"))) {
		fprintf(stderr, "usage: alloc_bench [--csv|--json]\n");
		return 2;
	}
	if (argc == 2)
		fmt = argv[1][2] == 'c' ? CSV : JSON;
	snprintf(name, sizeof(name), "bench-alloc-%d", (int)getpid());
	err = shmipc_open(name, &o, &shm);
	if (err || !t) {
		fprintf(stderr, "alloc_bench: %s\n", shmipc_strerror(err ? err : -ENOMEM));
		return 1;
	}
	shmipc_unlink(name, SHMIPC_BACKEND_AUTO);	/* gone when we exit */

	for (i = 0; i < PAIRS; i++) {
		uint64_t t0 = now_ns();

		t[i] = now_ns() - t0;
	}
	if (fmt == TABLE) {
		printf("alloc+free pair latency, %d pairs per size, backend %s, clock cost p50 %llu ns\n",
		       PAIRS, shmipc_backend_name(shm),
		       (unsigned long long)percentiles(t, PAIRS).p50);
		printf("%8s %12s %12s %12s %12s %10s %10s\n", "size", "shmipc p50",
		       "shmipc p99", "malloc p50", "malloc p99", "ratio p50", "ratio p99");
	}

	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		struct pct a, m;

		for (i = 0; i < PAIRS; i++) {
			uint64_t off, t0 = now_ns();

			if (shmipc_alloc(shm, sizes[s], &off) || shmipc_free(shm, off)) {
				fprintf(stderr, "alloc_bench: shmipc_alloc failed\n");
				return 1;
			}
			t[i] = now_ns() - t0;
		}
		a = percentiles(t, PAIRS);
		for (i = 0; i < PAIRS; i++) {
			uint64_t t0 = now_ns();
			void *volatile p = malloc(sizes[s]);

			free(p);
			t[i] = now_ns() - t0;
		}
		m = percentiles(t, PAIRS);
		res[0][s] = a;
		res[1][s] = m;
		if (fmt == TABLE)
			printf("%8zu %12llu %12llu %12llu %12llu %10.2f %10.2f\n", sizes[s],
		       (unsigned long long)a.p50, (unsigned long long)a.p99,
		       (unsigned long long)m.p50, (unsigned long long)m.p99,
		       (double)a.p50 / (double)(m.p50 ? m.p50 : 1),
		       (double)a.p99 / (double)(m.p99 ? m.p99 : 1));
	}
	if (fmt == CSV)
		printf("section,transport,size,metric,value\n");
	else if (fmt == JSON)
		printf("[");
	for (s = 0; fmt != TABLE && s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		unsigned int k, w;

		for (w = 0; w < 2; w++)
			for (k = 0; k < 2; k++) {
				const char *who = w ? "glibc malloc" : "shmipc heap";
				const char *metric = k ? "p99_ns" : "p50_ns";
				uint64_t v = k ? res[w][s].p99 : res[w][s].p50;

				if (fmt == CSV)
					printf("alloc,\"%s\",%zu,%s,%llu\n", who, sizes[s],
					       metric, (unsigned long long)v);
				else
					printf("%s{\"section\":\"alloc\",\"transport\":\"%s\","
					       "\"size\":%zu,\"metric\":\"%s\",\"value\":%llu}",
					       s || w || k ? "," : "", who, sizes[s], metric,
					       (unsigned long long)v);
			}
	}
	if (fmt == JSON)
		printf("]\n");
	shmipc_close(shm);
	free(t);
	return 0;
}
