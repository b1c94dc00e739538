// SPDX-License-Identifier: MIT
/*
 * Broadcast channels: one ring of slots; each subscriber has a cursor (the
 * next sequence it reads) in the control block. A publish, under the
 * channel's broadcast lock, picks the subscribers, makes the payload a
 * broadcast block with one holder bit and one reference per subscriber
 * (heap.c), and publishes the slot. A subscriber takes a message by
 * compare-and-swap of its cursor from n to n + 1, after copying slot n: the
 * publisher never reuses slot n while a live cursor is at n or below. In
 * drop-oldest mode the publisher moves a lagging cursor forward by the same
 * compare-and-swap and clears that subscriber's bit; whoever wins the swap
 * owns the release. A subscriber releases a message by clearing its bit;
 * clearing a bit that is not set does nothing, so no release is done twice,
 * and whoever clears the last one frees the block.
 *
 * Process death. A publisher killed inside its critical section leaves the
 * lock with its token, and a journal (pub_pos, pub_off) written before it
 * changed anything: whoever takes the lock over gives an unpublished
 * payload back to the dead publisher's reservations, which its reclaim
 * frees. A dead subscriber is marked SHMIPC_SUB_DEAD by the first publisher
 * it would hold up, so it holds nobody up and gets no new bits; its reclaim
 * releases what it had not read (the ring) and what it had read but not
 * released (the heap pass finds its bit in blocks of this channel), and only
 * then frees its slot, so that no new subscriber's bit is mistaken for it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "internal.h"

/* Takes the broadcast lock, repairing what a dead holder left half done. */
int shmipc_bcast_lock(struct shmipc *shm, struct shmipc_chan_ctl *c)
{
	bool recovered;
	int err = shmipc_lock_acquire(shm, &c->bcast_lock, &recovered);

	if (err || !recovered || !c->pub_off)
		return err;
	if (atomic_load_explicit(&c->tail, memory_order_acquire) == c->pub_pos)
		shmipc_block_set_owner(shm, c->pub_off, SHMIPC_OWN_RESV |
				       (c->pub_peer & (SHMIPC_TOKEN_LIMIT - 1)));
	c->pub_off = 0;
	return 0;
}

/*
 * Subscriber @i gives back every message it has not read that is still in
 * the ring; each release is checked against the block (see heap.c), since
 * a subscriber found dead may have lost its bit on some of them.
 */
void shmipc_sub_drain(struct shmipc *shm, struct shmipc_chan_ctl *c, void *slots,
		      unsigned int i, uint32_t cap, uint32_t tag)
{
	struct shmipc_bcast_slot *ring = slots;
	struct shmipc_sub *s = &c->subs[i];
	uint64_t tail = atomic_load_explicit(&c->tail, memory_order_acquire);
	uint64_t cur = atomic_load_explicit(&s->cursor, memory_order_acquire);

	if (tail - cur > cap)	/* older ones were overwritten: the heap pass */
		cur = tail - cap;
	while (cur < tail) {
		struct shmipc_bcast_slot *sl = &ring[cur & (cap - 1)];
		uint64_t off = sl->d.offset;
		bool mine = atomic_load_explicit(&sl->seq, memory_order_acquire) == cur;

		if (atomic_compare_exchange_strong(&s->cursor, &cur, cur + 1)) {
			if (mine && off)
				shmipc_bcast_put(shm, off, i, true, tag);
			cur++;
		} else if (cur > tail) {
			break;
		}
	}
}

int shmipc_subscribe(struct shmipc_chan *ch)
{
	struct shmipc_chan_ctl *c = ch->c;
	unsigned int i;
	int err;

	err = shmipc_bcast_lock(ch->shm, c);
	if (err)
		return err;
	err = -ENOSPC;
	for (i = 0; i < SHMIPC_MAX_SUBSCRIBERS; i++) {
		uint32_t p = atomic_load(&c->subs[i].peer);

		if (p) {	/* a dead one's slot waits for its reclaim */
			if ((p & SHMIPC_SUB_DEAD) || !shmipc_peer_alive(ch->shm, p))
				shmipc_death_seen(ch->shm);
			continue;
		}
		atomic_store(&c->subs[i].cursor, atomic_load(&c->tail));
		atomic_store(&c->subs[i].peer, ch->token);
		ch->sub = (int)i;
		err = 0;
		break;
	}
	shmipc_lock_release(ch->shm, &c->bcast_lock);
	return err;
}

void shmipc_unsubscribe(struct shmipc_chan *ch)
{
	struct shmipc_chan_ctl *c = ch->c;

	if (ch->sub < 0 || shmipc_bcast_lock(ch->shm, c))
		return;
	if (atomic_load(&c->subs[ch->sub].peer) == ch->token) {
		shmipc_sub_drain(ch->shm, c, ch->slots, (unsigned int)ch->sub,
				 ch->capacity, ch->tag);
		atomic_store(&c->subs[ch->sub].peer, 0);
	}
	shmipc_lock_release(ch->shm, &c->bcast_lock);
	shmipc_ev_signal(ch->shm, &c->not_full, UINT32_MAX);	/* a blocked publisher */
	ch->sub = -1;
}

/* Publishes @d; -ENOSPC when a live subscriber blocks it (not drop-oldest). */
int shmipc_bcast_publish(struct shmipc_chan *ch, struct shmipc_desc *d)
{
	struct shmipc_chan_ctl *c = ch->c;
	struct shmipc_bcast_slot *slots = ch->slots, *s;
	uint32_t mask = ch->capacity - 1, holders = 0, subs = 0;
	uint64_t n;
	unsigned int i;
	int err;

	err = shmipc_bcast_lock(ch->shm, c);
	if (err)
		return err;
	n = atomic_load_explicit(&c->tail, memory_order_relaxed);
	for (i = 0; i < SHMIPC_MAX_SUBSCRIBERS; i++) {
		struct shmipc_sub *sub = &c->subs[i];
		uint32_t p = atomic_load(&sub->peer);
		uint64_t cur;

		if (!p || (p & SHMIPC_SUB_DEAD))
			continue;
		cur = atomic_load_explicit(&sub->cursor, memory_order_acquire);
		if (n >= ch->capacity && cur <= n - ch->capacity &&
		    !shmipc_peer_alive(ch->shm, p)) {
			/* A dead subscriber must not hold the publisher up. */
			atomic_store(&sub->peer, p | SHMIPC_SUB_DEAD);
			shmipc_death_seen(ch->shm);
			continue;
		}
		while (n >= ch->capacity && cur <= n - ch->capacity) {
			uint64_t off = slots[cur & mask].d.offset;

			if (!(ch->flags & SHMIPC_CHAN_DROP_OLDEST)) {
				shmipc_lock_release(ch->shm, &c->bcast_lock);
				return -ENOSPC;
			}
			if (atomic_compare_exchange_strong(&sub->cursor, &cur, cur + 1)) {
				if (off)
					shmipc_bcast_put(ch->shm, off, i, true, ch->tag);
				atomic_fetch_add(&c->overruns, 1);
				cur++;
			}
		}
		holders |= 1u << i;
		subs++;
	}
	if (!subs) {		/* nobody listens: the message goes nowhere */
		shmipc_lock_release(ch->shm, &c->bcast_lock);
		if (d->offset)
			shmipc_heap_free(ch->shm, d->offset);
		return 0;
	}
	/* The journal first: see the top of the file. */
	c->pub_pos = n;
	c->pub_peer = ch->token;
	c->pub_off = d->offset;
	if (d->offset)
		shmipc_block_bcast(ch->shm, d->offset, ch->tag, holders);
	s = &slots[n & mask];
	s->d = *d;
	atomic_store_explicit(&s->seq, n, memory_order_release);
	atomic_store_explicit(&c->tail, n + 1, memory_order_release);
	c->pub_off = 0;
	shmipc_lock_release(ch->shm, &c->bcast_lock);
	return 0;
}

/* One attempt at the next message: 0, -EAGAIN, -EINVAL or -EBADMSG. */
int shmipc_bcast_pop(struct shmipc_chan *ch, struct shmipc_desc *d)
{
	struct shmipc_chan_ctl *c = ch->c;
	struct shmipc_bcast_slot *slots = ch->slots;
	struct shmipc_sub *sub;
	unsigned int n;

	if (ch->sub < 0)
		return -EINVAL;		/* not subscribed */
	sub = &c->subs[ch->sub];
	for (n = 0; n < 1000000; n++) {
		uint64_t cur = atomic_load_explicit(&sub->cursor, memory_order_acquire);
		uint64_t tail = atomic_load_explicit(&c->tail, memory_order_acquire);
		struct shmipc_bcast_slot *s = &slots[cur & (ch->capacity - 1)];

		if (cur >= tail)
			return -EAGAIN;
		if (tail - cur > ch->capacity)
			return -EBADMSG;
		if (atomic_load_explicit(&s->seq, memory_order_acquire) != cur)
			continue;	/* being overwritten: our cursor moves */
		*d = s->d;
		if (atomic_compare_exchange_strong(&sub->cursor, &cur, cur + 1)) {
			shmipc_ev_signal(ch->shm, &c->not_full, 1);
			return 0;
		}
	}
	return -EBADMSG;
}

/*
 * Reclaim: dead peer rc->dead's subscriptions are marked dead, give back
 * what they had not read, and are listed for the heap pass; their slots are
 * freed by shmipc_chan_reclaim_done() after it.
 */
void shmipc_bcast_reclaim(struct shmipc *shm, struct shmipc_reclaim *rc,
			  struct shmipc_chan_ctl *c, uint32_t cap, uint32_t tag)
{
	unsigned int i;

	if (shmipc_bcast_lock(shm, c))
		return;
	for (i = 0; i < SHMIPC_MAX_SUBSCRIBERS; i++) {
		uint32_t p = atomic_load(&c->subs[i].peer);

		if (!p || (p & ~SHMIPC_SUB_DEAD) != rc->dead ||
		    rc->nsubs == sizeof(rc->subs) / sizeof(rc->subs[0]))
			continue;
		atomic_store(&c->subs[i].peer, rc->dead | SHMIPC_SUB_DEAD);
		shmipc_sub_drain(shm, c, (char *)c + sizeof(*c), i, cap, tag);
		rc->subs[rc->nsubs].tag = tag;
		rc->subs[rc->nsubs].idx = i;
		rc->subs[rc->nsubs].ctl = (uint64_t)((unsigned char *)c - shm->base);
		rc->nsubs++;
	}
	shmipc_lock_release(shm, &c->bcast_lock);
	shmipc_ev_signal(shm, &c->not_full, UINT32_MAX);
}
