// SPDX-License-Identifier: MIT
/*
 * Broadcast channels: one ring of slots; each subscriber has a cursor (the
 * next sequence it reads) in the control block. A publish, under the
 * channel's broadcast lock, picks the subscribers, makes the payload a
 * broadcast block with one holder bit per subscriber (block.c), and
 * publishes the slot. A subscriber takes a message by compare-and-swap of
 * its cursor from n to n + 1, after copying slot n: the publisher never
 * reuses slot n while a live cursor is at n or below. In drop-oldest mode
 * the publisher moves a lagging cursor forward by the same compare-and-swap
 * and clears that subscriber's bit; whoever wins the swap owns the release.
 * A subscriber releases a message by clearing its bit; clearing a bit that
 * is not set does nothing, so no release is done twice, and whoever clears
 * the last one frees the block.
 *
 * Process death. A publisher killed inside its critical section leaves the
 * lock with its token, and a journal (pub_pos, pub_off) written before it
 * changed anything: whoever takes the lock over gives an unpublished
 * payload back to the dead publisher's reservations, which its reclaim
 * frees. A dead subscriber is marked SHMIPC_SUB_DEAD by the first publisher
 * it would hold up, so it holds nobody up and gets no new bits; its reclaim
 * (the release pass, endpoint.c) releases what it had not read (the ring)
 * and lists it, so that the heap pass releases what it had read but not
 * released (its bit in blocks of this channel); only then (the done pass)
 * is its slot freed, so that no new subscriber's bit is mistaken for it.
 *
 * The trust boundary (shared.h): a cursor or tail a peer rewrote never sets
 * the number of steps a loop takes. A cursor ahead of tail, or more than a
 * lap behind it, cannot be a subscriber's own: it is put back within one lap
 * before anything else is done, so every loop here is bounded by the
 * capacity, which comes from the handle.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "internal.h"

#define POP_RETRIES	(1u << 16)

/* Takes the broadcast lock, repairing what a dead holder left half done. */
int shmipc_bcast_lock(struct shmipc *shm, struct shmipc_chan_ctl *c)
{
	uint64_t off, pos;
	bool recovered;
	int err = shmipc_lock_acquire(shm, &c->bcast_lock, shm->token, &recovered);

	if (err || !recovered)
		return err;
	off = shm_ld64(&c->pub_off);
	pos = shm_ld64(&c->pub_pos);
	if (off && atomic_load_explicit(&c->tail, memory_order_acquire) == pos)
		shmipc_block_unpublish(shm, off, shm_ld32(&c->pub_peer));
	shm_st64(&c->pub_off, 0);
	return 0;
}

static struct shmipc_bcast_slot *ring(struct shmipc_chan_ctl *c)
{
	return (struct shmipc_bcast_slot *)(c + 1);
}

/*
 * Brings a cursor that cannot be a subscriber's own (see the top) back
 * within one lap of @tail; returns the cursor to use.
 */
static uint64_t cursor_sane(struct shmipc_sub *s, uint64_t tail, uint32_t cap)
{
	uint64_t cur = atomic_load_explicit(&s->cursor, memory_order_acquire);
	uint64_t want;

	if (cur <= tail && tail - cur <= cap)
		return cur;
	want = cur > tail ? tail : tail - cap;
	atomic_compare_exchange_strong(&s->cursor, &cur, want);
	return atomic_load_explicit(&s->cursor, memory_order_acquire);
}

/*
 * Subscriber @i gives back every message it has not read that is still in
 * the ring; each release is checked against the block (block.c), since a
 * subscriber found dead may have lost its bit on some of them. At most one
 * lap: older ones were overwritten, and the heap pass has their bits.
 */
static void sub_drain(struct shmipc *shm, struct shmipc_chan_ctl *c,
		      unsigned int i, uint32_t cap, uint32_t tag)
{
	struct shmipc_sub *s = &c->subs[i];
	uint64_t tail = atomic_load_explicit(&c->tail, memory_order_acquire);
	uint64_t cur = cursor_sane(s, tail, cap);
	uint32_t n;

	for (n = 0; n < cap && cur < tail; n++) {
		struct shmipc_bcast_slot *sl = &ring(c)[cur & (cap - 1)];
		uint64_t off = shm_ld64(&sl->d.offset);
		uint32_t size = shm_ld32(&sl->d.size);
		bool mine = atomic_load_explicit(&sl->seq, memory_order_acquire) == cur;

		if (atomic_compare_exchange_strong(&s->cursor, &cur, cur + 1)) {
			if (mine && off && !(size & SHMIPC_DESC_INLINE))
				shmipc_block_bcast_put(shm, off, i, true, tag);
			cur++;
		} else if (cur > tail) {
			break;
		}
	}
}

int shmipc_bcast_subscribe(struct shmipc_chan *ch)
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
			if ((p & SHMIPC_SUB_DEAD) ||
			    !shmipc_peer_alive(ch->shm, p & ~SHMIPC_SUB_DEAD))
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

/*
 * A fork()ed child's first call on a subscribed handle: the subscription
 * moves from @parent to the child (channel.c), or, if it is no longer the
 * parent's, the child subscribes anew.
 */
int shmipc_bcast_adopt(struct shmipc_chan *ch, uint32_t parent)
{
	struct shmipc_chan_ctl *c = ch->c;
	bool moved;
	int err;

	err = shmipc_bcast_lock(ch->shm, c);
	if (err)
		return err;
	moved = atomic_compare_exchange_strong(&c->subs[ch->sub].peer, &parent,
					       ch->token);
	shmipc_lock_release(ch->shm, &c->bcast_lock);
	if (moved)
		return 0;
	ch->sub = -1;
	return shmipc_bcast_subscribe(ch);
}

void shmipc_bcast_unsubscribe(struct shmipc_chan *ch)
{
	struct shmipc_chan_ctl *c = ch->c;

	if (ch->sub < 0 || shmipc_bcast_lock(ch->shm, c))
		return;
	if (atomic_load(&c->subs[ch->sub].peer) == ch->token) {
		sub_drain(ch->shm, c, (unsigned int)ch->sub, ch->capacity, ch->tag);
		atomic_store(&c->subs[ch->sub].peer, 0);
	}
	shmipc_lock_release(ch->shm, &c->bcast_lock);
	shmipc_ev_signal(ch->shm, &c->not_full, UINT32_MAX);	/* a blocked publisher */
	ch->sub = -1;
}

/*
 * Makes room for message @n in subscriber @i's view: a live subscriber a
 * whole lap behind blocks the publisher (-ENOSPC), or in drop-oldest mode
 * loses its oldest message; a dead one is marked and skipped (1). 0: it
 * takes the message.
 */
static int sub_room(struct shmipc_chan *ch, unsigned int i, uint32_t p, uint64_t n)
{
	struct shmipc_chan_ctl *c = ch->c;
	struct shmipc_sub *sub = &c->subs[i];
	uint64_t cur = cursor_sane(sub, n, ch->capacity), off;

	if (n - cur < ch->capacity)
		return 0;
	/* A whole lap behind: cur == n - capacity, the slot to be reused. */
	if (!shmipc_peer_alive(ch->shm, p)) {
		/* A dead subscriber must not hold the publisher up. */
		atomic_store(&sub->peer, p | SHMIPC_SUB_DEAD);
		shmipc_death_seen(ch->shm);
		return 1;
	}
	if (!(ch->flags & SHMIPC_CHAN_DROP_OLDEST))
		return -ENOSPC;
	off = shm_ld64(&ring(c)[cur & (ch->capacity - 1)].d.offset);
	if (atomic_compare_exchange_strong(&sub->cursor, &cur, cur + 1)) {
		if (off)
			shmipc_block_bcast_put(ch->shm, off, i, true, ch->tag);
		atomic_fetch_add(&c->overruns, 1);
	}
	/* Else the subscriber took it meanwhile: either way it is room. */
	return 0;
}

/* Publishes @d; -ENOSPC when a live subscriber blocks it (not drop-oldest). */
int shmipc_bcast_publish(struct shmipc_chan *ch, struct shmipc_desc *d)
{
	struct shmipc_chan_ctl *c = ch->c;
	struct shmipc_bcast_slot *s;
	uint32_t holders = 0;
	unsigned int i;
	uint64_t n;
	int err;

	err = shmipc_bcast_lock(ch->shm, c);
	if (err)
		return err;
	n = atomic_load_explicit(&c->tail, memory_order_relaxed);
	for (i = 0; i < SHMIPC_MAX_SUBSCRIBERS; i++) {
		uint32_t p = atomic_load(&c->subs[i].peer);

		if (!p || (p & SHMIPC_SUB_DEAD))
			continue;
		err = sub_room(ch, i, p, n);
		if (err < 0) {
			shmipc_lock_release(ch->shm, &c->bcast_lock);
			return err;
		}
		if (!err)
			holders |= 1u << i;
	}
	if (!holders) {		/* nobody listens: the message goes nowhere */
		shmipc_lock_release(ch->shm, &c->bcast_lock);
		if (d->offset && !(d->size & SHMIPC_DESC_INLINE))
			shmipc_heap_free(ch->shm, d->offset);
		return 0;
	}
	/* The journal first: see the top of the file. */
	shm_st64(&c->pub_pos, n);
	shm_st32(&c->pub_peer, ch->token);
	shm_st64(&c->pub_off, d->offset);
	if (d->offset && !(d->size & SHMIPC_DESC_INLINE))
		shmipc_block_bcast(ch->shm, d->offset, ch->tag, holders);
	s = &ring(c)[n & (ch->capacity - 1)];
	s->d = *d;
	atomic_store_explicit(&s->seq, n, memory_order_release);
	atomic_store_explicit(&c->tail, n + 1, memory_order_release);
	shm_st64(&c->pub_off, 0);
	shmipc_lock_release(ch->shm, &c->bcast_lock);
	return 0;
}

/*
 * One attempt at the next message: 0, -EAGAIN, -EINVAL (not subscribed),
 * -ENOTCONN (the subscription is no longer this handle's) or -EBADMSG.
 */
int shmipc_bcast_pop(struct shmipc_chan *ch, struct shmipc_desc *d)
{
	struct shmipc_chan_ctl *c = ch->c;
	struct shmipc_sub *sub;
	unsigned int n;

	if (ch->sub < 0)
		return -EINVAL;		/* not subscribed */
	sub = &c->subs[ch->sub];
	if (atomic_load_explicit(&sub->peer, memory_order_relaxed) != ch->token)
		return -ENOTCONN;	/* it moved to a fork()ed child */
	for (n = 0; n < POP_RETRIES; n++) {
		uint64_t cur = atomic_load_explicit(&sub->cursor, memory_order_acquire);
		uint64_t tail = atomic_load_explicit(&c->tail, memory_order_acquire);
		struct shmipc_bcast_slot *s = &ring(c)[cur & (ch->capacity - 1)];

		if (cur >= tail)
			return -EAGAIN;
		if (tail - cur > ch->capacity)
			return -EBADMSG;
		if (atomic_load_explicit(&s->seq, memory_order_acquire) != cur)
			continue;	/* being overwritten: our cursor moves */
		memcpy(d, &s->d, sizeof(*d));
		if (atomic_compare_exchange_strong(&sub->cursor, &cur, cur + 1)) {
			shmipc_ev_signal(ch->shm, &c->not_full, 1);
			return 0;
		}
	}
	return -EBADMSG;
}

/*
 * The channel is being freed (nobody has it open): every subscriber gives
 * back what it had not read.
 */
void shmipc_bcast_drain(struct shmipc *shm, struct shmipc_chan_ctl *c,
			uint32_t cap, uint32_t tag)
{
	unsigned int i;

	if (shmipc_bcast_lock(shm, c))
		return;
	for (i = 0; i < SHMIPC_MAX_SUBSCRIBERS; i++)
		if (atomic_load(&c->subs[i].peer)) {
			sub_drain(shm, c, i, cap, tag);
			atomic_store(&c->subs[i].peer, 0);
		}
	shmipc_lock_release(shm, &c->bcast_lock);
}

/*
 * Reclaim, the release pass: dead peer rc->dead's subscriptions are marked
 * dead, give back what they had not read, and are listed for the heap pass
 * (at most 64 per round: -ENOBUFS asks the driver for another).
 */
void shmipc_bcast_reclaim(struct shmipc *shm, struct shmipc_reclaim *rc,
			  struct shmipc_chan_ctl *c, uint32_t cap, uint32_t tag)
{
	unsigned int i;

	if (shmipc_bcast_lock(shm, c))
		return;
	for (i = 0; i < SHMIPC_MAX_SUBSCRIBERS; i++) {
		uint32_t p = atomic_load(&c->subs[i].peer);

		if (!p || (p & ~SHMIPC_SUB_DEAD) != rc->dead)
			continue;
		if (rc->nsubs == sizeof(rc->subs) / sizeof(rc->subs[0])) {
			rc->err = -ENOBUFS;
			continue;
		}
		atomic_store(&c->subs[i].peer, rc->dead | SHMIPC_SUB_DEAD);
		sub_drain(shm, c, i, cap, tag);
		rc->subs[rc->nsubs].tag = tag;
		rc->subs[rc->nsubs].bit = i;
		rc->subs[rc->nsubs].ctl = (uint64_t)((unsigned char *)c - shm->base);
		rc->nsubs++;
	}
	shmipc_lock_release(shm, &c->bcast_lock);
	shmipc_ev_signal(shm, &c->not_full, UINT32_MAX);
}

/* Reclaim, the done pass: the dead subscriptions' slots are free again. */
void shmipc_bcast_reclaim_done(struct shmipc *shm, struct shmipc_reclaim *rc)
{
	unsigned int k;

	for (k = 0; k < rc->nsubs; k++) {
		struct shmipc_chan_ctl *c =
			(struct shmipc_chan_ctl *)(shm->base + rc->subs[k].ctl);
		uint32_t dead = rc->dead | SHMIPC_SUB_DEAD;

		if (shmipc_bcast_lock(shm, c))
			continue;
		atomic_compare_exchange_strong(&c->subs[rc->subs[k].bit].peer, &dead, 0);
		shmipc_lock_release(shm, &c->bcast_lock);
	}
}

/* Live subscribers, and the lowest cursor among them (no lower than one lap). */
uint32_t shmipc_bcast_subscribers(struct shmipc_chan_ctl *c, uint64_t tail,
				  uint64_t *lowest)
{
	uint32_t n = 0;
	unsigned int i;

	*lowest = tail;
	for (i = 0; i < SHMIPC_MAX_SUBSCRIBERS; i++) {
		uint64_t cur = atomic_load(&c->subs[i].cursor);
		uint32_t p = atomic_load(&c->subs[i].peer);

		if (p && !(p & SHMIPC_SUB_DEAD)) {
			n++;
			if (cur < *lowest)
				*lowest = cur;
		}
	}
	return n;
}
