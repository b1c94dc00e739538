// SPDX-License-Identifier: MIT
/*
 * The queues of message descriptors, offset-based and without blocking
 * (channel.c adds waiting, payloads and statistics). Capacities are powers
 * of two and every slot is usable. Indices are free-running 64-bit counters.
 *
 * SPSC ring (after ck_ring): the producer owns tail, the consumer owns head,
 * each on its own cache line of the channel, and each side keeps a private
 * copy of the other side's index so that it reads the shared one only when
 * its copy says full or empty. Ordering: the producer writes the slot, then
 * stores tail with release; the consumer loads tail with acquire before
 * reading the slot, then stores head with release, which the producer loads
 * with acquire before reusing the slot.
 *
 * MPMC queue (Vyukov's bounded queue): each slot has a sequence number.
 * Slot i starts at i. A producer at position p may fill the slot when its
 * sequence is p: it claims p by compare-and-swap on tail, writes the
 * descriptor and stores p + 1 (release). A consumer at p takes the slot
 * when it reads p + 1 (acquire), claims p on head, copies the descriptor
 * and stores p + capacity (release), handing the slot to the producer of
 * the next lap. Per-producer FIFO order follows from the claim order.
 *
 * A producer that dies between its claim and its publication would stop
 * every consumer at that slot for ever. Claimers therefore record their pid
 * and claimed position in the slot; a consumer that finds a slot claimed
 * but unpublished, and the claimer recorded for exactly that position dead,
 * publishes a skip descriptor (offset 0) in its place. It first moves the
 * sequence to a REPAIRING value by compare-and-swap, so that one repairer
 * writes. A claimer that dies before recording itself (a few instructions)
 * is not detected here; the process-death work closes that window.
 *
 * The capacity comes from the caller's handle, checked once at open, never
 * from the region, so a peer cannot widen the mask. Every loop is bounded:
 * values read from the region are checked, and a
 * queue whose counters make no sense gives -EBADMSG, never a spin for ever.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

#define RETRIES		(1u << 20)
#define REPAIRING	(1ull << 63)

int shmipc_spsc_push(struct shmipc_chan_ctl *c, struct shmipc_spsc_slot *slots,
		     struct shmipc_spsc_cache *k, const struct shmipc_desc *d, uint32_t cap)
{
	uint64_t tail = atomic_load_explicit(&c->tail, memory_order_relaxed);

	if (tail - k->head >= cap) {
		k->head = atomic_load_explicit(&c->head, memory_order_acquire);
		if (tail - k->head >= cap)
			return tail - k->head == cap ? -ENOSPC : -EBADMSG;
	}
	slots[tail & (cap - 1)].d = *d;
	atomic_store_explicit(&c->tail, tail + 1, memory_order_release);
	return 0;
}

int shmipc_spsc_pop(struct shmipc_chan_ctl *c, struct shmipc_spsc_slot *slots,
		    struct shmipc_spsc_cache *k, struct shmipc_desc *d, uint32_t cap)
{
	uint64_t head = atomic_load_explicit(&c->head, memory_order_relaxed);

	if (head == k->tail) {
		k->tail = atomic_load_explicit(&c->tail, memory_order_acquire);
		if (head == k->tail)
			return -EAGAIN;
	}
	if (k->tail - head > cap)
		return -EBADMSG;
	*d = slots[head & (cap - 1)].d;
	atomic_store_explicit(&c->head, head + 1, memory_order_release);
	return 0;
}

int shmipc_mpmc_push(struct shmipc_chan_ctl *c, struct shmipc_mpmc_slot *slots,
		     const struct shmipc_desc *d, uint32_t cap)
{
	uint64_t pos = atomic_load_explicit(&c->tail, memory_order_relaxed);
	unsigned int n;

	for (n = 0; n < RETRIES; n++) {
		struct shmipc_mpmc_slot *s = &slots[pos & (cap - 1)];
		uint64_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
		int64_t diff = (int64_t)(seq - pos);

		if (diff == 0) {
			if (atomic_compare_exchange_weak_explicit(&c->tail, &pos, pos + 1,
								  memory_order_relaxed,
								  memory_order_relaxed)) {
				atomic_store_explicit(&s->claimer, shmipc_self_pid(),
						      memory_order_relaxed);
				atomic_store_explicit(&s->claim_pos, pos,
						      memory_order_release);
				s->d = *d;
				atomic_store_explicit(&s->seq, pos + 1,
						      memory_order_release);
				return 0;
			}
		} else if (diff < 0) {
			return -ENOSPC;
		} else {
			pos = atomic_load_explicit(&c->tail, memory_order_relaxed);
		}
	}
	return -EBADMSG;
}

/* Publishes a skip in place of a dead claimer's slot; see the top. */
static void mpmc_repair(struct shmipc_mpmc_slot *s, uint64_t pos)
{
	uint64_t expect = pos;

	if (!atomic_compare_exchange_strong_explicit(&s->seq, &expect,
						     pos | REPAIRING,
						     memory_order_acquire,
						     memory_order_relaxed))
		return;
	memset(&s->d, 0, sizeof(s->d));
	atomic_store_explicit(&s->seq, pos + 1, memory_order_release);
}

int shmipc_mpmc_pop(struct shmipc_chan_ctl *c, struct shmipc_mpmc_slot *slots,
		    struct shmipc_desc *d, uint32_t cap)
{
	uint64_t pos = atomic_load_explicit(&c->head, memory_order_relaxed);
	unsigned int n;

	for (n = 0; n < RETRIES; n++) {
		struct shmipc_mpmc_slot *s = &slots[pos & (cap - 1)];
		uint64_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
		int64_t diff = (int64_t)(seq - (pos + 1));

		if (diff == 0) {
			if (atomic_compare_exchange_weak_explicit(&c->head, &pos, pos + 1,
								  memory_order_relaxed,
								  memory_order_relaxed)) {
				*d = s->d;
				atomic_store_explicit(&s->seq, pos + cap,
						      memory_order_release);
				return 0;
			}
		} else if (diff < 0) {
			/*
			 * Not published: empty, or a claim in progress, or a dead
			 * claimer. Only the last needs a look at the claimer, and
			 * only the slot's own line is read: an empty queue is
			 * polled without touching the producers' tail.
			 */
			uint32_t claimer;

			if (atomic_load_explicit(&s->claim_pos, memory_order_acquire) != pos)
				return -EAGAIN;
			claimer = atomic_load_explicit(&s->claimer, memory_order_relaxed);
			if (!claimer || shmipc_pid_alive(claimer))
				return -EAGAIN;
			mpmc_repair(s, pos);
		} else {
			pos = atomic_load_explicit(&c->head, memory_order_relaxed);
		}
	}
	return -EBADMSG;
}

void shmipc_queue_init(struct shmipc_chan_ctl *c, void *slots)
{
	uint32_t i;

	if (c->mode == SHMIPC_CHAN_MPMC) {
		struct shmipc_mpmc_slot *s = slots;

		for (i = 0; i < c->capacity; i++)
			atomic_store_explicit(&s[i].seq, i, memory_order_relaxed);
	} else if (c->mode == SHMIPC_CHAN_BROADCAST) {
		struct shmipc_bcast_slot *s = slots;

		for (i = 0; i < c->capacity; i++)
			atomic_store_explicit(&s[i].seq, UINT64_MAX,
					      memory_order_relaxed);
	}
}
