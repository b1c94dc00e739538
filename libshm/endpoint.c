// SPDX-License-Identifier: MIT
/*
 * The channel as a kind of registry entry: its control block's geometry
 * check, its endpoints (the processes that have it open, changed under the
 * registry lock), the drain of a channel nobody has open or names any more,
 * and the channel's reclaim passes. shmipc_endpoint_init(), called once by
 * the API edge, registers the hooks with registry.c and the passes with
 * reclaim.c, which call them without knowing what a channel is.
 *
 * A channel's reclaim of dead peer rc->dead (the order is reclaim.c's):
 *  - release: its endpoint and spsc sides go, the mpmc slots it had claimed
 *    are repaired (queue.c) and a message it was taking is queued again at
 *    the tail (or, if the queue stays full, released and counted), its
 *    subscriptions are ended (broadcast.c);
 *  - queued: the payloads the queue refers to, for the heap pass;
 *  - done: the dead subscriptions' slots are freed.
 *
 * Every control block is checked (shmipc_ctl_at()) before any pass reads
 * it, with its geometry read once; the passes use that geometry only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <string.h>

#include "internal.h"

#define MAX_REDO	64
#define REDELIVER_TRIES	1000

/* Endpoints: under the registry lock (registry.c). */
int shmipc_ep_add(struct shmipc_chan_ctl *c, uint32_t token)
{
	unsigned int i, fr = SHMIPC_MAX_ENDPOINTS;

	for (i = 0; i < SHMIPC_MAX_ENDPOINTS; i++) {
		uint64_t v = atomic_load(&c->eps[i]);

		if ((uint32_t)v == token) {
			if (v >> 32 == UINT32_MAX)
				return -EOVERFLOW;
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

/*
 * The control block at @off, if the block of @size bytes holds a channel
 * whose geometry checks out: read once, its capacity, mode and flags go to
 * the caller, which uses these values and never the region's again.
 */
struct shmipc_chan_ctl *shmipc_ctl_at(struct shmipc *shm, uint64_t off,
				      uint64_t size, uint32_t *capp,
				      uint32_t *modep, uint32_t *flagsp)
{
	struct shmipc_chan_ctl *c = shmipc_span(shm, off, size);
	uint32_t cap, mode, ssize;

	if (!c || off % SHMIPC_CACHELINE || size < sizeof(*c) ||
	    shm_ld32(&c->magic) != SHMIPC_CHAN_MAGIC)
		return NULL;
	cap = shm_ld32(&c->capacity);
	mode = shm_ld32(&c->mode);
	ssize = shm_ld32(&c->slot_size);
	if (!cap || cap & (cap - 1) || cap > SHMIPC_MAX_CAPACITY ||
	    !shmipc_queue_slot_size(mode) || ssize != shmipc_queue_slot_size(mode) ||
	    (size - sizeof(*c)) / ssize < cap)
		return NULL;
	*capp = cap;
	*modep = mode;
	*flagsp = shm_ld32(&c->flags);
	return c;
}

static struct shmipc_chan_ctl *ctl_of(struct shmipc *shm, const struct shmipc_buffer *b,
				      uint32_t *cap, uint32_t *mode)
{
	uint32_t flags;

	return shmipc_ctl_at(shm, b->offset, b->size, cap, mode, &flags);
}

/* Has any process the channel open? (Dead ones count until reclaimed.) */
static bool chan_in_use(struct shmipc *shm, const struct shmipc_buffer *b)
{
	struct shmipc_chan_ctl *c;
	uint32_t cap, mode;
	unsigned int i;

	c = ctl_of(shm, b, &cap, &mode);
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
 * so a holder killed half-way is finished by the registry's recovery. At
 * most one lap: whatever else the counters say is not ours.
 */
static void chan_drain(struct shmipc *shm, const struct shmipc_buffer *b)
{
	const struct shmipc_queue_ops *q;
	struct shmipc_spsc_cache k = { 0 };
	struct shmipc_chan_ctl *c;
	struct shmipc_desc d;
	uint32_t cap, mode, n, blocker;
	uint64_t pos;

	c = ctl_of(shm, b, &cap, &mode);
	if (!c)
		return;
	if (mode == SHMIPC_CHAN_BROADCAST) {
		shmipc_bcast_drain(shm, c, cap, shmipc_registry_tag(b->id));
		return;
	}
	q = shmipc_queue(mode);
	for (n = 0; q && n < cap; n++) {
		if (q->pop(c, c + 1, cap, &k, &d, shm->token, &pos, &blocker))
			break;
		q->pop_done(c, c + 1, cap, pos);
		if (d.offset && !(d.size & SHMIPC_DESC_INLINE))
			shmipc_block_put(shm, d.offset);
	}
}

/* Queues @d again after its taker died; drops it if the queue stays full. */
static void redeliver(struct shmipc *shm, struct shmipc_reclaim *rc,
		      struct shmipc_chan_ctl *c, uint32_t cap,
		      const struct shmipc_desc *d)
{
	const struct shmipc_queue_ops *q = shmipc_queue(SHMIPC_CHAN_MPMC);
	uint32_t blocker;
	unsigned int n;

	if (!d->offset && !(d->size & SHMIPC_DESC_INLINE))
		return;		/* a skip */
	for (n = 0; n < REDELIVER_TRIES; n++) {
		int err = q->push(c, c + 1, cap, NULL, d, shm->token, &blocker);

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
		shmipc_block_put(shm, d->offset);
	}
	rc->msgs++;
}

static void release_pass(struct shmipc *shm, struct shmipc_reclaim *rc,
			 const struct shmipc_buffer *b)
{
	const struct shmipc_queue_ops *q;
	struct shmipc_desc redo[MAX_REDO];
	struct shmipc_chan_ctl *c;
	uint32_t cap, mode, t;
	unsigned int round;
	int n, i;

	c = ctl_of(shm, b, &cap, &mode);
	if (!c)
		return;
	shmipc_ep_remove(c, rc->dead, true);
	t = rc->dead;
	atomic_compare_exchange_strong(&c->tx_peer, &t, 0);
	t = rc->dead;
	atomic_compare_exchange_strong(&c->rx_peer, &t, 0);
	if (mode == SHMIPC_CHAN_BROADCAST) {
		shmipc_bcast_reclaim(shm, rc, c, cap, shmipc_registry_tag(b->id));
		return;
	}
	q = shmipc_queue(mode);
	if (!q->repair)
		return;
	/* Each round repairs up to MAX_REDO reads; cap / MAX_REDO + 1 do all. */
	for (round = 0; round <= cap / MAX_REDO; round++) {
		uint64_t repaired = 0;

		n = q->repair(c, c + 1, cap, rc->dead, redo, MAX_REDO, &repaired);
		rc->repaired += repaired;
		for (i = 0; i < (n < 0 ? MAX_REDO : n); i++)
			redeliver(shm, rc, c, cap, &redo[i]);
		if (n >= 0)
			break;
	}
	shmipc_ev_signal(shm, &c->not_full, UINT32_MAX);
	shmipc_ev_signal(shm, &c->not_empty, UINT32_MAX);
}

static void add_queued(void *arg, uint64_t off)
{
	shmipc_reclaim_queued(arg, off);
}

static void queued_pass(struct shmipc *shm, struct shmipc_reclaim *rc,
			const struct shmipc_buffer *b)
{
	const struct shmipc_queue_ops *q;
	struct shmipc_chan_ctl *c;
	uint32_t cap, mode;

	c = ctl_of(shm, b, &cap, &mode);
	q = c ? shmipc_queue(mode) : NULL;
	if (q)
		q->queued(c, c + 1, cap, add_queued, rc);
}

static void done_pass(struct shmipc *shm, struct shmipc_reclaim *rc)
{
	shmipc_bcast_reclaim_done(shm, rc);
}

/* The entry of @by_slot that token @t names, or NULL. */
static struct shmipc_peer_info *holder(struct shmipc_peer_info *by_slot, uint32_t t)
{
	struct shmipc_peer_info *p = &by_slot[t & SHMIPC_PEER_MASK];

	return t && p->id == t ? p : NULL;
}

/* Adds what the peers of @by_slot hold in this channel: locks, endpoints. */
static void holdings_pass(struct shmipc *shm, const struct shmipc_buffer *b,
			  struct shmipc_peer_info *by_slot)
{
	struct shmipc_peer_info *p;
	struct shmipc_chan_ctl *c;
	uint32_t cap, mode;
	unsigned int i;

	c = ctl_of(shm, b, &cap, &mode);
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
	p = holder(by_slot, shmipc_lock_holder(&c->bcast_lock));
	if (p)
		p->locks++;
}

static const struct shmipc_kind chan_kind = {
	.kind = SHMIPC_KIND_CHANNEL,
	.in_use = chan_in_use,
	.drain = chan_drain,
};

static const struct shmipc_reclaim_pass chan_pass = {
	.kind = SHMIPC_KIND_CHANNEL,
	.release = release_pass,
	.queued = queued_pass,
	.done = done_pass,
	.holdings = holdings_pass,
};

void shmipc_endpoint_init(void)
{
	shmipc_registry_kind(&chan_kind);
	shmipc_reclaim_register(&chan_pass);
}
