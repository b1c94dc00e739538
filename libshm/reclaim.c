// SPDX-License-Identifier: MIT
/*
 * The reclaim driver: giving back what dead peers held. It owns the order
 * of the passes, the region's reclaim lock, the statistics, the peers view,
 * shmipc_peer_watch() and the death callbacks. Each kind of registry entry
 * (a channel: endpoint.c) registers its passes with it; the heap pass is
 * block.c's. Lower layers never reclaim: they mark a reclaim as due, and
 * the API edge calls shmipc_reclaim_run() as the public call leaves; a
 * channel call that cannot progress without a dead peer's slot calls
 * shmipc_reclaim_token() itself.
 *
 * A dead peer's holdings are recorded in the region: lock words (taken over
 * by the next contender, lock.c), a block's owner word (block.c), an MPMC
 * claim naming its claimer (queue.c), channel endpoints, spsc sides,
 * broadcast subscriptions and the publish journal (endpoint.c, broadcast.c).
 * Dead peers are reclaimed one token at a time, under the reclaim lock (a
 * recoverable region lock: a reclaimer that dies is taken over and its work
 * redone, since every pass is idempotent) and the registry lock, in this
 * order:
 *
 *  1. release: each kind's pass, for each of its entries: the dead peer's
 *     endpoints and spsc sides go, the MPMC slots it had claimed are
 *     repaired (a write becomes a skip, a message it was taking is queued
 *     again, at the tail), its subscriptions are marked dead and give back
 *     what they had not read; the dead subscriptions are listed;
 *  2. queued: each kind's pass lists the payloads its queues refer to, and
 *     the driver adds every registry entry's own block;
 *  3. the heap pass (block.c): frees the dead peer's reserved and held
 *     blocks that step 2 did not list, clears its subscriptions' holder
 *     bits, frees broadcast blocks no bit holds;
 *  4. done: each kind's pass frees the dead subscriptions' slots (only now,
 *     so that no new subscriber's bit is mistaken for the dead one's);
 *  5. the registry finishes removals the dead peer's leaving made possible;
 *  6. the peer's table entry is freed, its death counted.
 *
 * Why reading the queues (2) before the owner words (3) is safe: a payload
 * enters a queue only by its sender's publication, and the sender is either
 * the dead peer (which no longer publishes; its half-done claims were turned
 * into skips in 1) or a live peer, whose payload is RESV under its own
 * token. A payload leaves a queue only after its receiver stored HELD with
 * its token in the block (release order before the slot is given back). So
 * a dead peer's block that step 2 missed was never published by it, or was
 * taken by a receiver, whose HELD step 3 then reads. A registry entry's
 * block is listed too: its creator commits the entry before it makes the
 * block the region's (registry.c), so a creator that died in between leaves
 * a block that is reserved in its name and named by an entry, which must
 * stay.
 *
 * Everything is read through the trust boundary (shared.h): a garbage token
 * in the peer table is freed as a dead one; loops run over the table's fixed
 * size and the registry's cached capacity.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define SUB_ROUNDS	8	/* each round ends at most 64 subscriptions */
#define WATCH_POLL_NS	100000000	/* posix, every live peer with a pidfd hint */
#define WATCH_SCAN_NS	5000000		/* posix, some peer without one */

static struct shmipc_hooks passes = SHMIPC_HOOKS_INIT;

void shmipc_reclaim_register(const struct shmipc_reclaim_pass *p)
{
	shmipc_hooks_add(&passes, p);
}

static const struct shmipc_reclaim_pass *pass(unsigned int k)
{
	return passes.item[k];
}

int shmipc_reclaim_queued(struct shmipc_reclaim *rc, uint64_t off)
{
	if (rc->nqueued == rc->queued_cap) {
		size_t cap = rc->queued_cap ? 2 * rc->queued_cap : 256;
		uint64_t *q = realloc(rc->queued, cap * sizeof(*q));

		if (!q) {
			rc->err = -ENOMEM;
			return rc->err;
		}
		rc->queued = q;
		rc->queued_cap = cap;
	}
	rc->queued[rc->nqueued++] = off;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Steps 1-5 for dead token @dead (see the top); the reclaim lock is held. */
static int reclaim_one(struct shmipc *shm, uint32_t dead,
		       struct shmipc_reclaim_stats *st)
{
	struct shmipc_reclaim rc = { .dead = dead };
	unsigned int np = shmipc_hooks_count(&passes), k, round;
	struct shmipc_buffer b;
	uint32_t i;
	int err;

	err = shmipc_registry_lock(shm);
	if (err)
		return err;
	for (round = 0; round < SUB_ROUNDS; round++) {
		struct shmipc_block_reclaim br = { .dead = dead };

		rc.nsubs = 0;
		rc.nqueued = 0;
		rc.err = 0;
		for (i = 0; i < shm->reg_capacity; i++) {
			if (shmipc_registry_get(shm, i, &b))
				continue;
			for (k = 0; k < np; k++)
				if (pass(k)->kind == b.kind && pass(k)->release)
					pass(k)->release(shm, &rc, &b);
		}
		for (i = 0; i < shm->reg_capacity; i++) {
			if (shmipc_registry_get(shm, i, &b))
				continue;
			shmipc_reclaim_queued(&rc, b.offset);
			for (k = 0; k < np; k++)
				if (pass(k)->kind == b.kind && pass(k)->queued)
					pass(k)->queued(shm, &rc, &b);
		}
		if (rc.err && rc.err != -ENOBUFS) {
			err = rc.err;
			break;
		}
		if (rc.nqueued)
			qsort(rc.queued, rc.nqueued, sizeof(*rc.queued), cmp_u64);
		br.queued = rc.queued;
		br.nqueued = rc.nqueued;
		br.subs = rc.subs;
		br.nsubs = rc.nsubs;
		err = shmipc_block_reclaim(shm, &br);
		rc.bytes += br.bytes;
		rc.msgs += br.msgs;
		for (k = 0; k < np; k++)
			if (pass(k)->done)
				pass(k)->done(shm, &rc);
		if (err || rc.err != -ENOBUFS)	/* -ENOBUFS: more subscriptions */
			break;
	}
	shmipc_registry_recover(shm);
	shmipc_registry_unlock(shm);
	free(rc.queued);
	st->bytes_reclaimed += rc.bytes;
	st->msgs_reclaimed += rc.msgs;
	st->msgs_redelivered += rc.redelivered;
	st->slots_repaired += rc.repaired;
	return err;
}

static int reclaim_lock(struct shmipc *shm)
{
	bool recovered;

	return shmipc_lock_acquire(shm, &shm->hdr->reclaim_lock, shm->token,
				   &recovered);
}

static void reclaim_unlock(struct shmipc *shm, const struct shmipc_reclaim_stats *st)
{
	struct shmipc_hdr *h = shm->hdr;

	if (st->peers_died) {
		atomic_fetch_add(&h->peers_died, st->peers_died);
		atomic_fetch_add(&h->bytes_reclaimed, st->bytes_reclaimed);
		atomic_fetch_add(&h->msgs_reclaimed, st->msgs_reclaimed);
		atomic_fetch_add(&h->msgs_redelivered, st->msgs_redelivered);
		atomic_fetch_add(&h->slots_repaired, st->slots_repaired);
	}
	shmipc_lock_release(shm, &h->reclaim_lock);
	if (st->peers_died) {	/* watchers sleep on this word */
		atomic_fetch_add(&h->watch, 1);
		shm->ops->wake(shm, &h->watch, UINT32_MAX);
	}
}

/* Entry @slot names a dead peer, or garbage. */
static bool entry_dead(struct shmipc *shm, uint32_t slot, const struct shmipc_peer_view *v)
{
	if (!v->token || v->token == shm->token)
		return false;
	if (!shm_token_ok(v->token) || (v->token & SHMIPC_PEER_MASK) != slot)
		return true;
	return !shmipc_peer_alive(shm, v->token);
}

/* Reclaims every dead peer of the table now; returns how many. */
int shmipc_reclaim_run(struct shmipc *shm)
{
	struct shmipc_reclaim_stats st = { 0 };
	struct shmipc_peer_view v;
	struct { uint32_t token, pid; } dead[SHMIPC_PEERS];
	unsigned int ndead = 0, k;
	shmipc_death_fn fn;
	void *fn_arg;
	bool any = false;
	uint32_t i;
	int err;

	atomic_store_explicit(&shm->reclaim_due, false, memory_order_relaxed);
	for (i = 0; i < SHMIPC_PEERS && !any; i++)
		any = shmipc_peer_get(shm, i, &v) && entry_dead(shm, i, &v);
	if (!any)
		return 0;
	err = reclaim_lock(shm);
	if (err)
		return err;
	for (i = 0; i < SHMIPC_PEERS; i++) {
		if (!shmipc_peer_get(shm, i, &v) || !entry_dead(shm, i, &v))
			continue;
		if (shm_token_ok(v.token) && (v.token & SHMIPC_PEER_MASK) == i) {
			if (reclaim_one(shm, v.token, &st))
				continue;	/* corrupted: left for a later try */
			st.peers_died++;
			dead[ndead].token = v.token;
			dead[ndead++].pid = v.pid;
		}
		shmipc_peer_release(shm, i, v.token, true);
	}
	reclaim_unlock(shm, &st);
	pthread_mutex_lock(&shm->mu);
	fn = shm->on_death;
	fn_arg = shm->on_death_arg;
	pthread_mutex_unlock(&shm->mu);
	for (k = 0; k < ndead && fn; k++)
		fn(shm, dead[k].token, dead[k].pid, fn_arg);
	return (int)ndead;
}

/*
 * Reclaims one token met in the region (a queue claim, a lock) that is not
 * alive, whether or not the peer table has it: a peer that corrupted its
 * entry, or a token that was never a peer's, leaves no claim stuck.
 */
int shmipc_reclaim_token(struct shmipc *shm, uint32_t token)
{
	struct shmipc_reclaim_stats st = { 0 };
	struct shmipc_peer_view v;
	int err;

	if (!shm_token_ok(token) || shmipc_peer_alive(shm, token))
		return 0;
	if (shmipc_peer_get(shm, token & SHMIPC_PEER_MASK, &v) && v.token == token)
		return shmipc_reclaim_run(shm);		/* a listed peer */
	err = reclaim_lock(shm);
	if (err)
		return err;
	err = reclaim_one(shm, token, &st);
	if (!err)
		st.peers_died++;
	reclaim_unlock(shm, &st);
	return err ? err : 1;
}

/*
 * Closing: what this handle's token still holds (channels left open,
 * messages not released, subscriptions) goes back as a dead peer's would.
 */
void shmipc_reclaim_self(struct shmipc *shm)
{
	struct shmipc_reclaim_stats st = { 0 };

	if (reclaim_lock(shm))
		return;
	reclaim_one(shm, shm->token, &st);
	st.peers_died = 0;	/* a close, not a death */
	reclaim_unlock(shm, &st);
}

void shmipc_reclaim_stats_get(struct shmipc *shm, struct shmipc_reclaim_stats *st)
{
	struct shmipc_hdr *h = shm->hdr;

	st->peers_died = atomic_load(&h->peers_died);
	st->bytes_reclaimed = atomic_load(&h->bytes_reclaimed);
	st->msgs_reclaimed = atomic_load(&h->msgs_reclaimed);
	st->msgs_redelivered = atomic_load(&h->msgs_redelivered);
	st->slots_repaired = atomic_load(&h->slots_repaired);
}

/*
 * Sleeps until a peer dies and is reclaimed: returns how many did, counted
 * here (a peer listed when the call began, or seen alive during it, whose
 * slot then counted a death), or -ETIMEDOUT. Peers that close are not
 * deaths; a dead peer not yet reclaimed when the call begins counts when
 * it is. kmod: the module
 * wakes the sleeper at a death. posix: the pidfds of the peers in this
 * process's pid namespace wake it when they exit (a hint: life is decided
 * by the locks), and it looks again at least every WATCH_POLL_NS, or every
 * WATCH_SCAN_NS when some peer lives in another pid namespace.
 */
int shmipc_reclaim_watch(struct shmipc *shm, int timeout_ms)
{
	struct seen { uint32_t token, deaths; } seen[SHMIPC_PEERS];
	uint32_t pids[SHMIPC_PEERS];
	uint64_t ns = shmipc_self_pidns();
	int64_t deadline = shmipc_deadline(timeout_ms);
	int count = 0;
	uint32_t i;

	/* Every peer listed now, dead ones too: their reclaim may be ours. */
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < SHMIPC_PEERS; i++) {
		struct shmipc_peer_view v;

		if (shmipc_peer_get(shm, i, &v) && shm_token_ok(v.token) &&
		    (v.token & SHMIPC_PEER_MASK) == i && v.token != shm->token)
			seen[i] = (struct seen){ v.token, v.deaths };
	}
	for (;;) {
		uint32_t deaths = shm->ops->deaths(shm);
		uint32_t w = atomic_load(&shm->hdr->watch);
		struct shmipc_peer_view v;
		unsigned int npids = 0;
		bool unhinted = false;
		int err;

		err = shmipc_reclaim_run(shm);
		if (err < 0)
			return err;
		for (i = 0; i < SHMIPC_PEERS; i++) {
			bool used = shmipc_peer_get(shm, i, &v);

			if (seen[i].token && (!used || v.token != seen[i].token)) {
				if (v.deaths != seen[i].deaths)
					count++;	/* it died, and was reclaimed */
				seen[i].token = 0;
			}
			if (!used || v.token == shm->token || !shmipc_peer_alive(shm, v.token))
				continue;
			if (!seen[i].token)
				seen[i] = (struct seen){ v.token, v.deaths };
			if (ns && v.pidns == ns)
				pids[npids++] = v.pid;
			else
				unhinted = true;
		}
		if (count)
			return count;
		if (shmipc_expired(deadline))
			return -ETIMEDOUT;
		err = shm->ops->watch(shm, &shm->hdr->watch, w, deaths, pids, npids,
				      shm->status ? deadline :
				      shmipc_sooner(deadline, unhinted ? WATCH_SCAN_NS :
						    WATCH_POLL_NS));
		if (err == -EINTR)
			return err;
	}
}

static void count_lock(struct shmipc_peer_info *by_slot, const struct shmipc_lock *l)
{
	uint32_t t = shmipc_lock_holder(l);

	if (t && by_slot[t & SHMIPC_PEER_MASK].id == t)
		by_slot[t & SHMIPC_PEER_MASK].locks++;
}

/* The peers view: the table, and what each peer holds (shmipc_peers()). */
int shmipc_reclaim_peers(struct shmipc *shm, struct shmipc_peer_info *peers,
			 unsigned int cap, unsigned int *total)
{
	struct shmipc_peer_info *by_slot;
	struct shmipc_holdings *h;
	struct shmipc_buffer *ents;
	unsigned int i, n = 0, all = 0, np = shmipc_hooks_count(&passes), k;
	int nent, err;

	by_slot = calloc(SHMIPC_PEERS, sizeof(*by_slot));
	h = calloc(SHMIPC_PEERS, sizeof(*h));
	ents = calloc(shm->reg_capacity ? shm->reg_capacity : 1, sizeof(*ents));
	if (!by_slot || !h || !ents) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < SHMIPC_PEERS; i++) {
		struct shmipc_peer_view v;

		if (!shmipc_peer_get(shm, i, &v) || !shm_token_ok(v.token) ||
		    (v.token & SHMIPC_PEER_MASK) != i)
			continue;
		by_slot[i].id = v.token;
		by_slot[i].pid = v.pid;
		by_slot[i].alive = shmipc_peer_alive(shm, v.token);
		by_slot[i].self = v.token == shm->token;
		by_slot[i].attached_ns = v.attached_ns;
		h[i].token = v.token;
	}
	err = shmipc_block_holdings(shm, h);
	if (err)
		goto out;
	count_lock(by_slot, &shm->heap->lock);
	count_lock(by_slot, &shm->reg->lock);
	count_lock(by_slot, &shm->hdr->reclaim_lock);
	nent = shmipc_registry_list(shm, 0, true, ents, shm->reg_capacity, NULL);
	for (i = 0; nent > 0 && i < (unsigned int)nent; i++)
		for (k = 0; k < np; k++)
			if (pass(k)->kind == ents[i].kind && pass(k)->holdings)
				pass(k)->holdings(shm, &ents[i], by_slot);
	for (i = 0; i < SHMIPC_PEERS; i++) {
		if (!by_slot[i].id)
			continue;
		by_slot[i].reserved_bytes = h[i].resv_bytes;
		by_slot[i].held_msgs = h[i].held_msgs;
		by_slot[i].held_bytes = h[i].held_bytes;
		all++;
		if (n < cap)
			peers[n++] = by_slot[i];
	}
	if (total)
		*total = all;
	err = (int)n;
out:
	free(ents);
	free(h);
	free(by_slot);
	return err;
}
