/* SPDX-License-Identifier: MIT */
/*
 * The trust boundary: how libshm reads and writes a region that every peer
 * can write, including a buggy, hostile or half-dead one.
 *
 * Rules (every file of libshm follows them; docs/design.md has the map):
 *
 *  1. Load once. A shared value is read with one load (shm_ld32/shm_ld64,
 *     an atomic load, or a memcpy of a whole descriptor into a local) into
 *     a local variable. The region is never read again for that value:
 *     what is checked is what is used.
 *  2. Check before use. Offsets go through shm_span() (inside the mapping)
 *     or a layer's own range (the heap's [heap_off, heap_end)); sizes and
 *     counts are compared with constants or with the handle's cached
 *     geometry; tokens with shm_token_ok(). A value that fails its check
 *     makes the call fail with an error (-EFAULT, -EBADMSG, -EPROTO), it is
 *     never clamped into something that looks valid.
 *  3. Geometry is the handle's. The offsets of the region's parts, the
 *     heap's bounds, a registry's capacity, a channel's capacity and mode
 *     are read and validated once, when the handle opens the region or the
 *     channel, and kept in the handle. A peer that rewrites them later
 *     changes nothing in this process.
 *  4. Bounded loops. Every loop over shared state is bounded by a constant
 *     or by a checked local (a capacity, a table size, a block count the
 *     heap's size allows), never by a shared counter such as tail - head.
 *  5. Indices are masked by a capacity from the handle, never the region.
 *  6. Deadlines are the caller's. Every wait and every retry loop ends at
 *     the deadline the caller gave, whatever the region says.
 *  7. Writes go only to spans that passed rule 2, computed from checked
 *     locals.
 *  8. Shared counters are statistics or positions: they are compared, or
 *     reduced modulo a capacity, never used as a count of work to do.
 *
 * Lock-free protocols keep their own ordering arguments beside their code
 * (event.c, queue.c, broadcast.c, reclaim.c).
 */
#ifndef LIBSHM_SHARED_H
#define LIBSHM_SHARED_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* A cross-process atomic that fell back to a lock would be silently broken. */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "32-bit atomics must be lock-free");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free");

/*
 * Rule 1 for the plain (non-_Atomic) fields of the layout: one relaxed
 * atomic load, which the compiler may neither repeat nor tear, and the
 * matching store. _Atomic fields use atomic_load_explicit() directly.
 */
#define shm_ld32(p)	__atomic_load_n((const uint32_t *)(p), __ATOMIC_RELAXED)
#define shm_ld64(p)	__atomic_load_n((const uint64_t *)(p), __ATOMIC_RELAXED)
#define shm_st32(p, v)	__atomic_store_n((uint32_t *)(p), (uint32_t)(v), __ATOMIC_RELAXED)
#define shm_st64(p, v)	__atomic_store_n((uint64_t *)(p), (uint64_t)(v), __ATOMIC_RELAXED)

/* Tokens name peers: nonzero, below 2^30, slot in the low 9 bits. */
#define SHMIPC_PEERS		512u
#define SHMIPC_PEER_MASK	(SHMIPC_PEERS - 1)
#define SHMIPC_TOKEN_LIMIT	(1u << 30)

static inline bool shm_token_ok(uint32_t t)
{
	return t && t < SHMIPC_TOKEN_LIMIT;
}

/* Is [off, off + len) inside [lo, hi)? Written so that nothing overflows. */
static inline bool shm_range_ok(uint64_t off, uint64_t len, uint64_t lo,
				uint64_t hi)
{
	return lo <= hi && off >= lo && off <= hi && len <= hi - off;
}

static inline int64_t shmipc_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* An absolute deadline @timeout_ms from now; 0 (none) for a negative one. */
static inline int64_t shmipc_deadline(int timeout_ms)
{
	return timeout_ms < 0 ? 0 : shmipc_now_ns() + (int64_t)timeout_ms * 1000000;
}

/* Rule 6: has deadline @d (0: none) passed? */
static inline bool shmipc_expired(int64_t d)
{
	return d && shmipc_now_ns() >= d;
}

/* The sooner of deadline @d (0: none) and @ns from now. */
static inline int64_t shmipc_sooner(int64_t d, int64_t ns)
{
	int64_t t = shmipc_now_ns() + ns;

	return d && d < t ? d : t;
}

/*
 * A process-wide table of hooks that a layer above registers with a layer
 * below (registry kinds, reclaim passes): added once under @mu, read
 * without a lock (the count is published after the entry).
 */
#define SHMIPC_HOOKS_MAX	8

struct shmipc_hooks {
	pthread_mutex_t mu;
	const void *item[SHMIPC_HOOKS_MAX];
	_Atomic unsigned int n;
};

#define SHMIPC_HOOKS_INIT	{ .mu = PTHREAD_MUTEX_INITIALIZER }

static inline void shmipc_hooks_add(struct shmipc_hooks *t, const void *item)
{
	unsigned int i, n;

	pthread_mutex_lock(&t->mu);
	n = atomic_load(&t->n);
	for (i = 0; i < n && t->item[i] != item; i++)
		;
	if (i == n && n < SHMIPC_HOOKS_MAX) {
		t->item[n] = item;
		atomic_store_explicit(&t->n, n + 1, memory_order_release);
	}
	pthread_mutex_unlock(&t->mu);
}

static inline unsigned int shmipc_hooks_count(struct shmipc_hooks *t)
{
	return atomic_load_explicit(&t->n, memory_order_acquire);
}

static inline void shmipc_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

#endif /* LIBSHM_SHARED_H */
