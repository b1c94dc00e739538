// SPDX-License-Identifier: MIT
/*
 * The queues of message descriptors, offset-based and without blocking
 * (channel.c adds waiting, payloads and statistics), behind one table per
 * mode: init, push, pop, the payloads queued now, and the repair of a dead
 * claimer's slots. Capacities are powers of two and every slot is usable.
 * Indices are free-running 64-bit counters.
 *
 * SPSC ring (after ck_ring): the producer owns tail, the consumer owns head,
 * each on its own cache line of the channel, and each side keeps a private
 * copy of the other side's index so that it reads the shared one only when
 * its copy says full or empty. Ordering: the producer writes the slot, then
 * stores tail with release; the consumer loads tail with acquire before
 * reading the slot, then stores head with release, which the producer loads
 * with acquire before reusing the slot.
 *
 * MPMC queue (after Vyukov's bounded queue): each slot has a sequence word.
 * Slot i starts at i. A producer at position p takes the slot by a
 * compare-and-swap of its sequence from p to a claim W(p, token); it then
 * moves tail from p to p + 1, writes the descriptor and stores p + 1
 * (release). A consumer at p takes a slot reading p + 1 by a compare-and-
 * swap to R(p, token), moves head from p to p + 1, copies the descriptor,
 * and, once the caller has recorded that it holds the payload, stores
 * p + capacity (release), handing the slot to the producer of the next lap.
 * Whoever meets another's claim at the position it wants helps move tail
 * (or head) past it, so a claimer that stops, or dies, between its claim
 * and the index update stops nobody else. Per-producer FIFO order follows
 * from the claim order.
 *
 * Because the claim names its claimer in the same word, a claimer that
 * dies at any instruction leaves a slot that says who and what: W(p, dead)
 * (a message never committed) or R(p, dead) (a message being taken). Its
 * reclaim (mpmc_repair()) turns the first into a skip descriptor and gives
 * the second's message back to the queue at its tail. Until then a consumer
 * waiting at p, or a producer a lap later, is told -EINPROGRESS with the
 * claimer's token, and looks at its life.
 *
 * Broadcast rings (broadcast.c) share only their slot layout and init here.
 *
 * The trust boundary (shared.h): the capacity comes from the caller's
 * handle, checked once at open, never from the region, so a peer cannot
 * widen the mask. Each shared word is loaded once per step; a descriptor is
 * copied whole into the caller's local before anyone looks at it. Every
 * loop is bounded by RETRIES or the capacity, and a queue whose counters
 * make no sense gives -EBADMSG, never a spin for ever.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "internal.h"

#define RETRIES		(1u << 20)

static int spsc_push(struct shmipc_chan_ctl *c, void *slots, uint32_t cap,
		     struct shmipc_spsc_cache *k, const struct shmipc_desc *d,
		     uint32_t me, uint32_t *blocker)
{
	struct shmipc_spsc_slot *s = slots;
	uint64_t tail = atomic_load_explicit(&c->tail, memory_order_relaxed);

	(void)me;
	(void)blocker;
	if (tail - k->head >= cap) {
		k->head = atomic_load_explicit(&c->head, memory_order_acquire);
		if (tail - k->head >= cap)
			return tail - k->head == cap ? -ENOSPC : -EBADMSG;
	}
	s[tail & (cap - 1)].d = *d;
	atomic_store_explicit(&c->tail, tail + 1, memory_order_release);
	return 0;
}

static int spsc_pop(struct shmipc_chan_ctl *c, void *slots, uint32_t cap,
		    struct shmipc_spsc_cache *k, struct shmipc_desc *d,
		    uint32_t me, uint64_t *pos, uint32_t *blocker)
{
	struct shmipc_spsc_slot *s = slots;
	uint64_t head = atomic_load_explicit(&c->head, memory_order_relaxed);

	(void)me;
	(void)blocker;
	if (head == k->tail) {
		k->tail = atomic_load_explicit(&c->tail, memory_order_acquire);
		if (head == k->tail)
			return -EAGAIN;
	}
	if (k->tail - head > cap)
		return -EBADMSG;
	memcpy(d, &s[head & (cap - 1)].d, sizeof(*d));
	*pos = head;
	return 0;
}

/* Gives the slot spsc_pop() read back to the producer. */
static void spsc_pop_done(struct shmipc_chan_ctl *c, void *slots, uint32_t cap,
			  uint64_t pos)
{
	(void)slots;
	(void)cap;
	atomic_store_explicit(&c->head, pos + 1, memory_order_release);
}

static void spsc_queued(struct shmipc_chan_ctl *c, void *slots, uint32_t cap,
			void (*fn)(void *arg, uint64_t off), void *arg)
{
	struct shmipc_spsc_slot *s = slots;
	uint64_t head = atomic_load_explicit(&c->head, memory_order_acquire);
	uint64_t tail = atomic_load_explicit(&c->tail, memory_order_acquire);
	uint64_t p;

	for (p = head; p != tail && p - head < cap; p++) {
		uint64_t off = shm_ld64(&s[p & (cap - 1)].d.offset);
		uint32_t size = shm_ld32(&s[p & (cap - 1)].d.size);

		if (off && !(size & SHMIPC_DESC_INLINE))
			fn(arg, off);
	}
}

static uint64_t claim(uint64_t pos, uint32_t token, bool reading)
{
	return SHMIPC_Q_CLAIMED | (reading ? SHMIPC_Q_READING : 0) |
	       (uint64_t)token << 32 | (uint32_t)pos;
}

/* Does @seq claim position @pos, in the given role? */
static bool claims(uint64_t seq, uint64_t pos, bool reading)
{
	return (seq & SHMIPC_Q_CLAIMED) && (uint32_t)seq == (uint32_t)pos &&
	       !!(seq & SHMIPC_Q_READING) == reading;
}

static void help(_Atomic uint64_t *index, uint64_t pos)
{
	atomic_compare_exchange_strong_explicit(index, &pos, pos + 1,
						memory_order_relaxed,
						memory_order_relaxed);
}

static int mpmc_push(struct shmipc_chan_ctl *c, void *slots, uint32_t cap,
		     struct shmipc_spsc_cache *k, const struct shmipc_desc *d,
		     uint32_t me, uint32_t *blocker)
{
	struct shmipc_mpmc_slot *sl = slots;
	uint64_t pos = atomic_load_explicit(&c->tail, memory_order_relaxed);
	unsigned int n;

	(void)k;
	for (n = 0; n < RETRIES; n++) {
		struct shmipc_mpmc_slot *s = &sl[pos & (cap - 1)];
		uint64_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);

		if (seq == pos) {
			if (!atomic_compare_exchange_strong_explicit(
				    &s->seq, &seq, claim(pos, me, false),
				    memory_order_acquire, memory_order_relaxed))
				continue;
			help(&c->tail, pos);
			s->d = *d;
			atomic_store_explicit(&s->seq, pos + 1, memory_order_release);
			return 0;
		}
		if (claims(seq, pos, false)) {		/* another producer's */
			help(&c->tail, pos);
		} else if (seq & SHMIPC_Q_CLAIMED) {
			/* Last lap's producer or consumer is still on it. */
			*blocker = SHMIPC_Q_TOKEN(seq);
			return -EINPROGRESS;
		} else if ((int64_t)(seq - pos) < 0) {
			return -ENOSPC;
		}
		pos = atomic_load_explicit(&c->tail, memory_order_relaxed);
	}
	return -EBADMSG;
}

static int mpmc_pop(struct shmipc_chan_ctl *c, void *slots, uint32_t cap,
		    struct shmipc_spsc_cache *k, struct shmipc_desc *d,
		    uint32_t me, uint64_t *posp, uint32_t *blocker)
{
	struct shmipc_mpmc_slot *sl = slots;
	uint64_t pos = atomic_load_explicit(&c->head, memory_order_relaxed);
	unsigned int n;

	(void)k;
	for (n = 0; n < RETRIES; n++) {
		struct shmipc_mpmc_slot *s = &sl[pos & (cap - 1)];
		uint64_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);

		if (seq == pos + 1) {
			if (!atomic_compare_exchange_strong_explicit(
				    &s->seq, &seq, claim(pos, me, true),
				    memory_order_acquire, memory_order_relaxed))
				continue;
			help(&c->head, pos);
			memcpy(d, &s->d, sizeof(*d));
			*posp = pos;
			return 0;
		}
		if (claims(seq, pos, true)) {		/* another consumer's */
			help(&c->head, pos);
		} else if (claims(seq, pos, false)) {	/* being written */
			*blocker = SHMIPC_Q_TOKEN(seq);
			return -EINPROGRESS;
		} else if ((seq & SHMIPC_Q_CLAIMED) ||
			   (int64_t)(seq - (pos + 1)) < 0) {
			/*
			 * Empty (a slot of this lap not yet written, or last
			 * lap's consumer still on it). Only the slot's line is
			 * read: an empty queue is polled without touching tail.
			 */
			return -EAGAIN;
		}
		pos = atomic_load_explicit(&c->head, memory_order_relaxed);
	}
	return -EBADMSG;
}

static void mpmc_pop_done(struct shmipc_chan_ctl *c, void *slots, uint32_t cap,
			  uint64_t pos)
{
	struct shmipc_mpmc_slot *sl = slots;

	(void)c;
	atomic_store_explicit(&sl[pos & (cap - 1)].seq, pos + cap,
			      memory_order_release);
}

/*
 * The payloads mpmc slots refer to now: a slot published (its sequence one
 * past a position of this slot, not behind head) or being taken.
 */
static void mpmc_queued(struct shmipc_chan_ctl *c, void *slots, uint32_t cap,
			void (*fn)(void *arg, uint64_t off), void *arg)
{
	struct shmipc_mpmc_slot *s = slots;
	uint64_t head = atomic_load_explicit(&c->head, memory_order_acquire);
	uint32_t i;

	for (i = 0; i < cap; i++) {
		uint64_t seq = atomic_load_explicit(&s[i].seq, memory_order_acquire);
		bool live = (seq & SHMIPC_Q_CLAIMED) ?
			    !!(seq & SHMIPC_Q_READING) :
			    ((seq - 1) & (cap - 1)) == i && seq - 1 >= head;
		uint64_t off = shm_ld64(&s[i].d.offset);
		uint32_t size = shm_ld32(&s[i].d.size);

		if (live && off && !(size & SHMIPC_DESC_INLINE))
			fn(arg, off);
	}
}

/* The full position of a claim, from an index it is at most 2^32 behind. */
static uint64_t claimed_pos(uint64_t seq, uint64_t index)
{
	return index - (uint32_t)((uint32_t)index - (uint32_t)seq);
}

/*
 * Repairs the slots dead peer @dead had claimed (see the top): a write
 * becomes a skip, a read gives its slot back and its descriptor to @redo
 * (at most @max_redo), for the caller to queue again. Runs in the dead
 * peer's reclaim, which is the only writer of its claims. Returns the
 * number of descriptors put in @redo, or -ENOBUFS with some left.
 */
static int mpmc_repair(struct shmipc_chan_ctl *c, void *slots, uint32_t cap,
		       uint32_t dead, struct shmipc_desc *redo,
		       unsigned int max_redo, uint64_t *repaired)
{
	struct shmipc_mpmc_slot *sl = slots;
	unsigned int n = 0;
	uint32_t i;

	for (i = 0; i < cap; i++) {
		struct shmipc_mpmc_slot *s = &sl[i];
		uint64_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
		uint64_t pos;

		if (!(seq & SHMIPC_Q_CLAIMED) || SHMIPC_Q_TOKEN(seq) != dead)
			continue;
		if (!(seq & SHMIPC_Q_READING)) {
			pos = claimed_pos(seq, atomic_load(&c->tail));
			memset(&s->d, 0, sizeof(s->d));
			atomic_store_explicit(&s->seq, pos + 1, memory_order_release);
			help(&c->tail, pos);
			(*repaired)++;
			continue;
		}
		if (n == max_redo)
			return -ENOBUFS;
		(*repaired)++;
		pos = claimed_pos(seq, atomic_load(&c->head));
		memcpy(&redo[n++], &s->d, sizeof(s->d));
		help(&c->head, pos);
		atomic_store_explicit(&s->seq, pos + cap, memory_order_release);
	}
	return (int)n;
}

/*
 * The read claims standing in the slots now, at most @max: a consumer about
 * to sleep on an empty queue looks for a dead claimer's, whose message would
 * otherwise wait behind head until a producer came round again.
 */
static unsigned int mpmc_read_claims(void *slots, uint32_t cap, uint64_t *claims,
				     unsigned int max)
{
	struct shmipc_mpmc_slot *s = slots;
	unsigned int n = 0;
	uint32_t i;

	for (i = 0; i < cap && n < max; i++) {
		uint64_t seq = atomic_load_explicit(&s[i].seq, memory_order_relaxed);

		if ((seq & SHMIPC_Q_CLAIMED) && (seq & SHMIPC_Q_READING))
			claims[n++] = seq;
	}
	return n;
}

static void spsc_init(struct shmipc_chan_ctl *c, void *slots, uint32_t cap)
{
	(void)c;
	(void)slots;
	(void)cap;	/* zeroed slots and indices are an empty ring */
}

static void mpmc_init(struct shmipc_chan_ctl *c, void *slots, uint32_t cap)
{
	struct shmipc_mpmc_slot *s = slots;
	uint32_t i;

	(void)c;
	for (i = 0; i < cap; i++)
		atomic_store_explicit(&s[i].seq, i, memory_order_relaxed);
}

static const struct shmipc_queue_ops spsc_ops = {
	.mode = SHMIPC_CHAN_SPSC,
	.slot_size = sizeof(struct shmipc_spsc_slot),
	.init = spsc_init,
	.push = spsc_push,
	.pop = spsc_pop,
	.pop_done = spsc_pop_done,
	.queued = spsc_queued,
};

static const struct shmipc_queue_ops mpmc_ops = {
	.mode = SHMIPC_CHAN_MPMC,
	.slot_size = sizeof(struct shmipc_mpmc_slot),
	.init = mpmc_init,
	.push = mpmc_push,
	.pop = mpmc_pop,
	.pop_done = mpmc_pop_done,
	.queued = mpmc_queued,
	.repair = mpmc_repair,
	.read_claims = mpmc_read_claims,
};

/* The table of point-to-point mode @mode, or NULL (broadcast, or unknown). */
const struct shmipc_queue_ops *shmipc_queue(uint32_t mode)
{
	switch (mode) {
	case SHMIPC_CHAN_SPSC:
		return &spsc_ops;
	case SHMIPC_CHAN_MPMC:
		return &mpmc_ops;
	}
	return NULL;
}

/* A slot's bytes in mode @mode, or 0 for an unknown mode. */
uint32_t shmipc_queue_slot_size(uint32_t mode)
{
	if (mode == SHMIPC_CHAN_BROADCAST)
		return sizeof(struct shmipc_bcast_slot);
	return shmipc_queue(mode) ? shmipc_queue(mode)->slot_size : 0;
}

/* Lays out @cap empty slots after control block @c, in any mode. */
void shmipc_queue_init(struct shmipc_chan_ctl *c, uint32_t mode, uint32_t cap)
{
	void *slots = c + 1;
	uint32_t i;

	if (mode == SHMIPC_CHAN_BROADCAST) {
		struct shmipc_bcast_slot *s = slots;

		for (i = 0; i < cap; i++)
			atomic_store_explicit(&s[i].seq, UINT64_MAX, memory_order_relaxed);
		return;
	}
	if (shmipc_queue(mode))
		shmipc_queue(mode)->init(c, slots, cap);
}
