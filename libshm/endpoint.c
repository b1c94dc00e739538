// SPDX-License-Identifier: MIT
/*
 * Channel endpoints and what is left when one goes: which processes have a
 * channel open (the endpoint table, changed under the registry lock), the
 * drain of a channel nobody has open or names any more, and the channel's
 * part of reclaiming a dead peer (see peer.c): its endpoint and spsc sides
 * removed, the mpmc slots it had claimed repaired, a message it was taking
 * queued again, its subscriptions ended (broadcast.c), and the list of
 * payloads the queues refer to, for the heap pass.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <string.h>

#include "internal.h"

#define MAX_REDO	64

/* Endpoints: under the registry lock (registry.c). */
int shmipc_ep_add(struct shmipc_chan_ctl *c, uint32_t token)
{
	unsigned int i, fr = SHMIPC_MAX_ENDPOINTS;

	for (i = 0; i < SHMIPC_MAX_ENDPOINTS; i++) {
		uint64_t v = atomic_load(&c->eps[i]);

		if ((uint32_t)v == token) {
			atomic_store(&c->eps[i], v + (1ull << 32));
			return 0;
		}
		if (!v && fr == SHMIPC_MAX_ENDPOINTS)
			fr = i;
	}
	if (fr == SHMIPC_MAX_ENDPOINTS)
		return -EUSERS;
	atomic_store(&c->eps[fr], 1ull << 32 | token);
	return 0;
}

/* Drops one of @token's handles (@all: every one); false if it had none. */
bool shmipc_ep_remove(struct shmipc_chan_ctl *c, uint32_t token, bool all)
{
	unsigned int i;

	for (i = 0; i < SHMIPC_MAX_ENDPOINTS; i++) {
		uint64_t v = atomic_load(&c->eps[i]);

		if (!v || (uint32_t)v != token)
			continue;
		atomic_store(&c->eps[i], all || v >> 32 <= 1 ? 0 : v - (1ull << 32));
		return true;
	}
	return false;
}

static struct shmipc_chan_ctl *ctl_at(struct shmipc *shm, uint64_t off,
				      uint64_t size, uint32_t *cap,
				      uint32_t *mode)
{
	struct shmipc_chan_ctl *c = (struct shmipc_chan_ctl *)(shm->base + off);
	uint32_t flags;

	if (off % SHMIPC_CACHELINE || shmipc_chan_check(c, size, cap, mode, &flags))
		return NULL;
	return c;
}

/* Has any process the channel open? (Dead ones count until reclaimed.) */
bool shmipc_chan_in_use(struct shmipc *shm, uint64_t off, uint64_t size)
{
	struct shmipc_chan_ctl *c;
	uint32_t cap, mode;
	unsigned int i;

	c = ctl_at(shm, off, size, &cap, &mode);
	if (!c)
		return false;
	for (i = 0; i < SHMIPC_MAX_ENDPOINTS; i++)
		if (atomic_load(&c->eps[i]))
			return true;
	return false;
}

/*
 * Called by the registry, under its lock, when a channel's last reference
 * and endpoint are gone: gives back the payloads still queued. Idempotent,
 * so a holder killed half-way is finished by the registry's recovery.
 */
void shmipc_chan_drain(struct shmipc *shm, uint64_t off, uint64_t size, uint32_t tag)
{
	struct shmipc_spsc_cache k = { 0 };
	struct shmipc_chan_ctl *c;
	struct shmipc_desc d;
	uint32_t cap, mode, n, blocker;
	uint64_t pos;
	unsigned int i;
	void *slots;

	c = ctl_at(shm, off, size, &cap, &mode);
	if (!c)
		return;
	slots = (char *)c + sizeof(*c);
	/* At most one lap: whatever else the counters say is not ours. */
	for (n = 0; n < cap; n++) {
		int err;

		if (mode == SHMIPC_CHAN_SPSC) {
			err = shmipc_spsc_pop(c, slots, &k, &d, cap);
			if (!err)
				shmipc_spsc_pop_done(c);
		} else if (mode == SHMIPC_CHAN_MPMC) {
			err = shmipc_mpmc_pop(c, slots, &d, cap, shm->token, &pos,
					      &blocker);
			if (!err)
				shmipc_mpmc_pop_done(slots, pos, cap);
		} else {
			break;
		}
		if (err)
			break;
		if (d.offset && !(d.size & SHMIPC_DESC_INLINE))
			shmipc_payload_put(shm, d.offset);
	}
	if (mode == SHMIPC_CHAN_BROADCAST)
		for (i = 0; i < SHMIPC_MAX_SUBSCRIBERS; i++)
			if (atomic_load(&c->subs[i].peer)) {
				shmipc_sub_drain(shm, c, slots, i, cap, tag);
				atomic_store(&c->subs[i].peer, 0);
			}
}

/* Queues @d again after its taker died; drops it if the queue stays full. */
static void redeliver(struct shmipc *shm, struct shmipc_reclaim *rc,
		      struct shmipc_chan_ctl *c, void *slots, uint32_t cap,
		      const struct shmipc_desc *d)
{
	uint32_t blocker;
	unsigned int n;

	if (!d->offset && !(d->size & SHMIPC_DESC_INLINE))
		return;		/* a skip */
	for (n = 0; n < 1000; n++) {
		int err = shmipc_mpmc_push(c, slots, d, cap, shm->token, &blocker);

		if (!err) {
			rc->redelivered++;
			shmipc_ev_signal(shm, &c->not_empty, 1);
			return;
		}
		if (err != -ENOSPC && err != -EINPROGRESS)
			break;
		sched_yield();
	}
	if (!(d->size & SHMIPC_DESC_INLINE)) {
		rc->bytes += shmipc_block_size(shm, d->offset);
		shmipc_payload_put(shm, d->offset);
	}
	rc->msgs++;
}

/*
 * The channel's part of reclaiming rc->dead, under the registry lock: its
 * endpoint and spsc sides go, the mpmc slots it had claimed are repaired
 * (a message it was taking is queued again), its subscriptions are ended.
 */
void shmipc_chan_reclaim(struct shmipc *shm, struct shmipc_reclaim *rc,
			 uint64_t off, uint64_t size, uint32_t tag)
{
	struct shmipc_desc redo[MAX_REDO];
	struct shmipc_chan_ctl *c;
	uint32_t cap, mode, t;
	int n, i;

	c = ctl_at(shm, off, size, &cap, &mode);
	if (!c)
		return;
	shmipc_ep_remove(c, rc->dead, true);
	t = rc->dead;
	atomic_compare_exchange_strong(&c->tx_peer, &t, 0);
	t = rc->dead;
	atomic_compare_exchange_strong(&c->rx_peer, &t, 0);
	if (mode == SHMIPC_CHAN_MPMC) {
		do {
			uint64_t repaired = 0;

			n = shmipc_mpmc_repair(c, (void *)((char *)c + sizeof(*c)), cap, rc->dead,
					       redo, MAX_REDO, &repaired);
			rc->repaired += repaired;
			for (i = 0; i < (n < 0 ? MAX_REDO : n); i++)
				redeliver(shm, rc, c, (char *)c + sizeof(*c), cap, &redo[i]);
		} while (n < 0);
		shmipc_ev_signal(shm, &c->not_full, UINT32_MAX);
		shmipc_ev_signal(shm, &c->not_empty, UINT32_MAX);
	} else if (mode == SHMIPC_CHAN_BROADCAST) {
		shmipc_bcast_reclaim(shm, rc, c, cap, tag);
	}
}

/* After the heap pass: the dead subscriptions' slots are free again. */
void shmipc_chan_reclaim_done(struct shmipc *shm, struct shmipc_reclaim *rc)
{
	unsigned int k;

	for (k = 0; k < rc->nsubs; k++) {
		struct shmipc_chan_ctl *c =
			(struct shmipc_chan_ctl *)(shm->base + rc->subs[k].ctl);
		uint32_t dead = rc->dead | SHMIPC_SUB_DEAD;

		if (shmipc_bcast_lock(shm, c))
			continue;
		atomic_compare_exchange_strong(&c->subs[rc->subs[k].idx].peer,
					       &dead, 0);
		shmipc_lock_release(shm, &c->bcast_lock);
	}
}

/*
 * Adds the payloads that queue slots refer to now: an mpmc slot published
 * (its sequence one past a position of this slot, not behind head) or being
 * taken, an spsc slot between head and tail. They are read before the heap
 * pass reads the owner words; peer.c argues why that order is safe.
 */
void shmipc_chan_queued(struct shmipc *shm, struct shmipc_reclaim *rc,
			uint64_t off, uint64_t size)
{
	struct shmipc_chan_ctl *c;
	uint32_t cap, mode, i;

	c = ctl_at(shm, off, size, &cap, &mode);
	if (!c)
		return;
	if (mode == SHMIPC_CHAN_MPMC) {
		struct shmipc_mpmc_slot *s = (void *)((char *)c + sizeof(*c));
		uint64_t head = atomic_load_explicit(&c->head, memory_order_acquire);

		for (i = 0; i < cap; i++) {
			uint64_t seq = atomic_load_explicit(&s[i].seq, memory_order_acquire);
			bool live = (seq & SHMIPC_Q_CLAIMED) ?
				    !!(seq & SHMIPC_Q_READING) :
				    ((seq - 1) & (cap - 1)) == i && seq - 1 >= head;

			if (live && s[i].d.offset && !(s[i].d.size & SHMIPC_DESC_INLINE))
				shmipc_reclaim_queued_add(rc, s[i].d.offset);
		}
	} else if (mode == SHMIPC_CHAN_SPSC) {
		struct shmipc_spsc_slot *s = (void *)((char *)c + sizeof(*c));
		uint64_t head = atomic_load_explicit(&c->head, memory_order_acquire);
		uint64_t tail = atomic_load_explicit(&c->tail, memory_order_acquire);
		uint64_t p;

		for (p = head; p != tail && p - head < cap; p++) {
			const struct shmipc_desc *d = &s[p & (cap - 1)].d;

			if (d->offset && !(d->size & SHMIPC_DESC_INLINE))
				shmipc_reclaim_queued_add(rc, d->offset);
		}
	}
}

/* The entry of @by_slot that token @t names, or NULL. */
static struct shmipc_peer_info *holder(struct shmipc_peer_info *by_slot, uint32_t t)
{
	struct shmipc_peer_info *p = &by_slot[t & SHMIPC_PEER_MASK];

	return t && p->id == t ? p : NULL;
}

/* Adds what the peers of @by_slot hold in this channel: locks, endpoints. */
void shmipc_chan_holdings(struct shmipc *shm, uint64_t off, uint64_t size,
			  struct shmipc_peer_info *by_slot)
{
	struct shmipc_peer_info *p;
	struct shmipc_chan_ctl *c;
	uint32_t cap, mode;
	unsigned int i;

	c = ctl_at(shm, off, size, &cap, &mode);
	if (!c)
		return;
	for (i = 0; i < SHMIPC_MAX_ENDPOINTS; i++) {
		p = holder(by_slot, (uint32_t)atomic_load(&c->eps[i]));
		if (p)
			p->endpoints++;
	}
	for (i = 0; i < SHMIPC_MAX_SUBSCRIBERS; i++) {
		p = holder(by_slot, atomic_load(&c->subs[i].peer) & ~SHMIPC_SUB_DEAD);
		if (p)
			p->endpoints++;
	}
	p = holder(by_slot, atomic_load(&c->bcast_lock.word) & ~SHMIPC_LOCK_WAITERS);
	if (p)
		p->locks++;
}
