// SPDX-License-Identifier: MIT
/*
 * Channels: a registry entry (kind "CHAN", endpoint.c) whose block holds a
 * control structure and a queue (queue.c, or broadcast.c's ring); payloads
 * are heap blocks whose owner and references block.c keeps. Sending
 * allocates, copies and enqueues a descriptor; zero-copy reserves a block,
 * lets the caller fill it in place, then commits or aborts it. Receiving
 * hands out a view of the payload that holds one reference, recorded in the
 * handle's held table (message.c); the last release frees the block.
 * Senders and receivers sleep on the channel's event counts (event.c).
 *
 * Process death. Every holding is recorded where a reclaim finds it: the
 * queue claims name their claimer (queue.c); a payload is reserved by its
 * sender until a queue refers to it, and a receiver marks it held before
 * it gives its slot back, so at every instant a payload is referred to by a
 * queue slot or by its owner word (block.c); the spsc sides and the
 * endpoints (processes with the channel open) are tokens in the control
 * block. A claim in the way whose claimer is dead is reclaimed from here
 * (reclaim.c, below this file), since the call cannot progress without it.
 *
 * The trust boundary (shared.h): the geometry is read once at open
 * (shmipc_ctl_at()) and kept in the handle; a descriptor is copied into a
 * local and checked before anything follows it; a commit uses the size the
 * handle recorded at reserve, not the caller's; every wait ends at the
 * caller's deadline, including a wait on a claim nobody can repair.
 *
 * This file is called only by the API edge (api.c), which has already
 * checked the arguments for NULL, re-attached a fork()ed child and adopted
 * the handle for it, and runs any reclaim that comes due after the call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define DEFAULT_CAPACITY	1024u
#define DEFAULT_SPIN		2000
#define HEAP_POLL_NS		50000
#define KNOWN_FLAGS		(SHMIPC_CHAN_CREATE | SHMIPC_CHAN_CRC32C | \
				 SHMIPC_CHAN_DROP_OLDEST | SHMIPC_CHAN_SUBSCRIBE)
#define CLAIM_POLL_NS		200000	/* a live claimer in the way */
#define CLAIM_SPINS		1000
#define DEATH_POLL_NS		5000000	/* posix: a blocker's life, looked at again */
#define SPSC_SIDE_TRIES		3

/* A deadline computed once, when the call first needs it (no clock read
 * on the fast path). */
struct deadline {
	int timeout_ms;
	bool set;
	int64_t at;
};

static int64_t dl(struct deadline *d)
{
	if (!d->set) {
		d->at = shmipc_deadline(d->timeout_ms);
		d->set = true;
	}
	return d->at;
}

/*
 * Waits a little for a claimer in the way (*@n counts the calls of one
 * send or receive). A claimer is almost always a live peer a few
 * instructions from done, so it is first spun on, then its life is looked
 * at (a dead one is reclaimed: its claim repaired), then slept on. Every
 * path past the spinning checks the deadline: a claim that a reclaim cannot
 * repair (a corrupted queue) does not keep the caller past it.
 * 0 or -ETIMEDOUT.
 */
static int claim_wait(struct shmipc *shm, uint32_t claimer, struct deadline *d,
		      unsigned int *n)
{
	struct timespec ts = { 0, CLAIM_POLL_NS };

	if (++*n < CLAIM_SPINS) {
		shmipc_cpu_relax();
		return 0;
	}
	if (!shmipc_peer_alive(shm, claimer))
		shmipc_reclaim_token(shm, claimer);
	if (shmipc_expired(dl(d)))
		return -ETIMEDOUT;
	if (*n < 2 * CLAIM_SPINS)
		sched_yield();
	else
		nanosleep(&ts, NULL);
	return 0;
}

struct chan_init_arg {
	const struct shmipc_chan_options *o;
	uint32_t token;
};

/* Lays a new channel out, its creator the first endpoint; runs before its
 * registry entry is committed. */
static void chan_init(void *data, size_t size, const void *arg)
{
	const struct chan_init_arg *ia = arg;
	const struct shmipc_chan_options *o = ia->o;
	struct shmipc_chan_ctl *c = data;

	memset(c, 0, size);
	atomic_store(&c->eps[0], 1ull << 32 | ia->token);
	c->mode = o->mode;
	c->capacity = o->capacity;
	c->flags = o->flags & (SHMIPC_CHAN_CRC32C | SHMIPC_CHAN_DROP_OLDEST);
	c->slot_size = shmipc_queue_slot_size(o->mode);
	shmipc_queue_init(c, o->mode, o->capacity);
	c->magic = SHMIPC_CHAN_MAGIC;
}

/* The handle's view of channel @b: its geometry, read once and checked. */
static int chan_bind(struct shmipc_chan *ch, const struct shmipc_buffer *b)
{
	if (b->kind != SHMIPC_KIND_CHANNEL)
		return -EINVAL;		/* a name, but not a channel's */
	ch->c = shmipc_ctl_at(ch->shm, b->offset, b->size, &ch->capacity,
			      &ch->mode, &ch->flags);
	if (!ch->c)
		return -EBADMSG;
	ch->slots = ch->c + 1;
	ch->q = shmipc_queue(ch->mode);
	ch->tag = shmipc_registry_tag(b->id);
	return 0;
}

/* Registers @ch's process as an endpoint of the channel, in the registry. */
static int join(struct shmipc *shm, const struct shmipc_buffer *b, void *arg)
{
	struct shmipc_chan *ch = arg;
	int err = chan_bind(ch, b);

	(void)shm;
	if (err)
		return err;
	if (ch->want_mode && ch->want_mode != ch->mode)
		return -EINVAL;		/* it exists, in another mode */
	return shmipc_ep_add(ch->c, ch->token);
}

/* Joins channel @name, creating it if asked and missing. */
static int join_or_create(struct shmipc *shm, const char *name,
			  const struct shmipc_chan_options *o, struct shmipc_chan *ch)
{
	int err = shmipc_registry_with(shm, name, join, ch, &ch->buf);

	if (err == -ENOENT && (o->flags & SHMIPC_CHAN_CREATE)) {
		size_t size = sizeof(struct shmipc_chan_ctl) +
			      (size_t)o->capacity * shmipc_queue_slot_size(o->mode);
		struct chan_init_arg ia = { .o = o, .token = ch->token };

		err = shmipc_registry_create(shm, name, SHMIPC_KIND_CHANNEL, size,
					     SHMIPC_CACHELINE, 1, chan_init, &ia,
					     &ch->buf);
		if (!err)
			err = chan_bind(ch, &ch->buf);
		else if (err == -EEXIST)	/* lost a race: open theirs */
			err = shmipc_registry_with(shm, name, join, ch, &ch->buf);
	}
	return err;
}

static bool exhausted(int err)
{
	return err == -ENOSPC || err == -ENOMEM || err == -EUSERS;
}

static int leave(struct shmipc *shm, const struct shmipc_buffer *b, void *arg)
{
	struct shmipc_chan *ch = arg;

	(void)b;
	shmipc_ep_remove(ch->c, ch->token, false);
	(void)shm;
	return 0;
}

int shmipc_ch_open(struct shmipc *shm, const char *name,
		   const struct shmipc_chan_options *opts, struct shmipc_chan **out)
{
	struct shmipc_chan_options o = { 0 };
	struct shmipc_chan *ch;
	unsigned int i;
	int err;

	if (opts)
		o = *opts;
	for (i = 0; i < sizeof(o.reserved) / sizeof(o.reserved[0]); i++)
		if (o.reserved[i])
			return -EINVAL;
	if (!o.mode)
		o.mode = SHMIPC_CHAN_MPMC;
	if (!o.capacity)
		o.capacity = DEFAULT_CAPACITY;
	if (!shmipc_queue_slot_size(o.mode) || o.flags & ~KNOWN_FLAGS ||
	    o.capacity & (o.capacity - 1) || o.capacity > SHMIPC_MAX_CAPACITY ||
	    ((o.flags & SHMIPC_CHAN_DROP_OLDEST) && o.mode != SHMIPC_CHAN_BROADCAST))
		return -EINVAL;
	err = shmipc_name_check(name);
	if (err)
		return err;

	ch = calloc(1, sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	ch->shm = shm;
	ch->sub = -1;
	ch->spin = o.spin < 0 ? 0 : o.spin ? o.spin : DEFAULT_SPIN;
	ch->want_mode = opts ? (uint32_t)opts->mode : 0;
	ch->token = shm->token;
	pthread_mutex_init(&ch->mu, NULL);
	err = join_or_create(shm, name, &o, ch);
	if (exhausted(err) && shmipc_reclaim_run(shm) > 0)
		err = join_or_create(shm, name, &o, ch);	/* the dead held it */
	if (err)
		goto free_handle;
	if (ch->mode == SHMIPC_CHAN_BROADCAST && (o.flags & SHMIPC_CHAN_SUBSCRIBE)) {
		err = shmipc_bcast_subscribe(ch);
		if (err == -ENOSPC && shmipc_reclaim_run(shm) > 0)
			err = shmipc_bcast_subscribe(ch);	/* dead ones' slots */
		if (err)
			goto leave;
	}
	pthread_mutex_lock(&shm->mu);
	ch->next = shm->chans;
	shm->chans = ch;
	pthread_mutex_unlock(&shm->mu);
	*out = ch;
	return 0;

leave:
	shmipc_registry_with_id(shm, ch->buf.id, leave, ch);
free_handle:
	pthread_mutex_destroy(&ch->mu);
	free(ch);
	return err;
}

/*
 * Gives back what this handle holds in the region: open reservations are
 * aborted, the subscription and spsc sides end, the endpoint goes (and the
 * channel with it if it was removed and this was its last). The handle
 * leaves the region handle's list; the caller frees it or orphans it.
 */
void shmipc_ch_detach(struct shmipc_chan *ch)
{
	struct shmipc *shm = ch->shm;
	struct shmipc_chan **p;
	uint32_t me = ch->token;

	pthread_mutex_lock(&shm->mu);
	for (p = &shm->chans; *p; p = &(*p)->next)
		if (*p == ch) {
			*p = ch->next;
			break;
		}
	pthread_mutex_unlock(&shm->mu);
	pthread_mutex_lock(&ch->mu);
	while (ch->nresv)
		shmipc_heap_free(shm, ch->resv[--ch->nresv].off);
	pthread_mutex_unlock(&ch->mu);
	shmipc_bcast_unsubscribe(ch);
	if (ch->tx)
		atomic_compare_exchange_strong(&ch->c->tx_peer, &me, 0);
	me = ch->token;
	if (ch->rx)
		atomic_compare_exchange_strong(&ch->c->rx_peer, &me, 0);
	shmipc_registry_with_id(shm, ch->buf.id, leave, ch);
}

/*
 * A handle a fork()ed child inherited, on the child's first call: the child
 * becomes an endpoint of its own. The parent's reservations and spsc sides
 * stay the parent's. A broadcast subscription moves to the child, cursor
 * and all (the usual pattern: subscribe, then fork the reader), so that
 * exactly one process owns it: the parent's handle then has none (its
 * receives give -ENOTCONN, broadcast.c). If the parent's is gone already,
 * the child subscribes anew.
 */
int shmipc_ch_adopt(struct shmipc_chan *ch)
{
	uint32_t parent = ch->token;
	int err;

	ch->token = ch->shm->token;
	ch->want_mode = 0;
	ch->nresv = 0;
	ch->nsuspects = 0;
	ch->tx = ch->rx = false;
	memset(&ch->k, 0, sizeof(ch->k));
	pthread_mutex_init(&ch->mu, NULL);
	err = shmipc_registry_with_id(ch->shm, ch->buf.id, join, ch);
	if (!err && ch->sub >= 0)
		err = shmipc_bcast_adopt(ch, parent);
	return err;
}

/* spsc: this handle becomes the channel's sending (@rx false) or receiving side. */
static int spsc_side(struct shmipc_chan *ch, bool rx)
{
	_Atomic uint32_t *w = rx ? &ch->c->rx_peer : &ch->c->tx_peer;
	uint32_t me = ch->token;
	unsigned int n;

	for (n = 0; n < SPSC_SIDE_TRIES; n++) {
		uint32_t v = atomic_load(w);

		if (v == me || (!v && atomic_compare_exchange_strong(w, &v, me))) {
			if (rx)
				ch->rx = true;
			else
				ch->tx = true;
			return 0;
		}
		if (v && shmipc_peer_alive(ch->shm, v))
			return -EBUSY;
		if (v)	/* a dead side: its reclaim frees it */
			shmipc_reclaim_token(ch->shm, v);
	}
	return -EBUSY;
}

/* One attempt; -ENOSPC full, -EINPROGRESS with *@blocker in the way. */
static int push(struct shmipc_chan *ch, struct shmipc_desc *d, uint32_t *blocker)
{
	if (ch->q)
		return ch->q->push(ch->c, ch->slots, ch->capacity, &ch->k, d,
				   ch->token, blocker);
	return shmipc_bcast_publish(ch, d);
}

/* The payload's bytes, inline or in the heap (already checked by its sender). */
static const void *payload_of(struct shmipc *shm, const struct shmipc_desc *d)
{
	return d->size & SHMIPC_DESC_INLINE ? (const void *)d->data :
					      (const void *)(shm->base + d->offset);
}

/*
 * Enqueues @d, whose payload (inline, or a heap block this handle reserved)
 * is set, waiting for room until the deadline.
 */
static int enqueue(struct shmipc_chan *ch, struct shmipc_desc *d, uint32_t type,
		   int timeout_ms)
{
	struct shmipc_chan_ctl *c = ch->c;
	struct shmipc *shm = ch->shm;
	struct deadline dd = { .timeout_ms = timeout_ms };
	size_t size = d->size & ~SHMIPC_DESC_INLINE;
	bool counted_full = false;
	uint32_t blocker = 0;
	unsigned int waits = 0;
	int err, i;

	if (ch->mode == SHMIPC_CHAN_SPSC && !ch->tx) {
		err = spsc_side(ch, false);
		if (err)
			return err;
	}
	d->type = type;
	d->timestamp_ns = (uint64_t)shmipc_now_ns();
	d->sender = shmipc_self_pid();
	d->crc = ch->flags & SHMIPC_CHAN_CRC32C ?
		 shmipc_crc32c(payload_of(shm, d), size) : 0;
	d->seq = atomic_fetch_add_explicit(&c->next_seq, 1, memory_order_relaxed);
	if (d->offset && shmipc_block_send(shm, d->offset))
		return -EBADMSG;	/* our own block, rewritten under us */
	for (;;) {
		uint32_t e, deaths;

		err = push(ch, d, &blocker);
		for (i = 0; err == -ENOSPC && timeout_ms && i < ch->spin; i++) {
			shmipc_cpu_relax();
			err = push(ch, d, &blocker);
		}
		if (err == -EINPROGRESS) {	/* a consumer mid-way, or dead */
			if (!timeout_ms)
				return -ENOSPC;
			err = claim_wait(shm, blocker, &dd, &waits);
			if (err)
				return err;
			continue;
		}
		if (err != -ENOSPC)
			break;
		if (!counted_full) {
			atomic_fetch_add_explicit(&c->full, 1, memory_order_relaxed);
			counted_full = true;
		}
		if (!timeout_ms)
			return -ENOSPC;
		if (shmipc_expired(dl(&dd)))
			return -ETIMEDOUT;
		deaths = shm->ops->deaths(shm);
		e = shmipc_ev_prepare(&c->not_full);
		err = push(ch, d, &blocker);
		if (err != -ENOSPC) {
			shmipc_ev_cancel(&c->not_full);
			if (err == -EINPROGRESS)
				continue;
			break;
		}
		/*
		 * A broadcast publisher is held up by a subscriber, which may
		 * die while we sleep: with no death wake-up (posix), look at
		 * its life again every DEATH_POLL_NS (the next push does).
		 */
		err = shmipc_ev_wait(shm, &c->not_full, e,
				     ch->mode == SHMIPC_CHAN_BROADCAST &&
				     !shm->ops->death_wakeups ?
				     shmipc_sooner(dl(&dd), DEATH_POLL_NS) : dl(&dd),
				     deaths);
		if (err && shmipc_expired(dl(&dd)))
			return err;
	}
	if (err)
		return err;
	atomic_fetch_add_explicit(&c->msgs_in, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->bytes_in, size, memory_order_relaxed);
	atomic_store_explicit(&c->last_sender, d->sender, memory_order_relaxed);
	shmipc_ev_signal(shm, &c->not_empty,
			 ch->mode == SHMIPC_CHAN_BROADCAST ? UINT32_MAX : 1);
	return 0;
}

/* A reserved heap block for a payload, polling a full heap until the deadline. */
static int payload_alloc(struct shmipc_chan *ch, size_t size, int timeout_ms,
			 uint64_t *off)
{
	struct deadline dd = { .timeout_ms = timeout_ms };
	struct timespec ts = { 0, HEAP_POLL_NS };
	struct shmipc *shm = ch->shm;
	bool reclaimed = false;
	int err;

	if (size > INT32_MAX || size > shm->heap_end - shm->heap_off)
		return -EMSGSIZE;
	for (;;) {
		err = shmipc_block_alloc(shm, size ? size : 1, 16, SHMIPC_OWN_RESV, off);
		if (err == -ENOMEM && !reclaimed) {	/* the dead may hold it */
			reclaimed = true;
			if (shmipc_reclaim_run(shm) > 0)
				continue;
		}
		if (err != -ENOMEM || !timeout_ms)
			return err;
		if (shmipc_expired(dl(&dd)))
			return -ETIMEDOUT;
		nanosleep(&ts, NULL);
	}
}

int shmipc_ch_send(struct shmipc_chan *ch, const void *data, size_t size,
		   uint32_t type, int timeout_ms)
{
	struct shmipc_desc d;
	uint64_t off;
	int err;

	if (size <= SHMIPC_INLINE_MAX) {	/* small: no heap at all */
		d.offset = 0;
		d.size = (uint32_t)size | SHMIPC_DESC_INLINE;
		if (size)
			memcpy(d.data, data, size);
		return enqueue(ch, &d, type, timeout_ms);
	}
	err = payload_alloc(ch, size, timeout_ms, &off);
	if (err)
		return err;
	memcpy(ch->shm->base + off, data, size);
	d.offset = off;
	d.size = (uint32_t)size;
	err = enqueue(ch, &d, type, timeout_ms);
	if (err)
		shmipc_heap_free(ch->shm, off);
	return err;
}

int shmipc_ch_reserve(struct shmipc_chan *ch, size_t size, struct shmipc_resv *r)
{
	uint64_t off;
	int err;

	pthread_mutex_lock(&ch->mu);
	if (ch->nresv == ch->resv_cap) {
		unsigned int cap = ch->resv_cap ? 2 * ch->resv_cap : 8;
		struct shmipc_resv_rec *n = realloc(ch->resv, cap * sizeof(*n));

		if (!n) {
			pthread_mutex_unlock(&ch->mu);
			return -ENOMEM;
		}
		ch->resv = n;
		ch->resv_cap = cap;
	}
	err = payload_alloc(ch, size, 0, &off);
	if (!err) {
		ch->resv[ch->nresv++] = (struct shmipc_resv_rec){ off, size };
		r->data = ch->shm->base + off;
		r->size = size;
		r->offset = off;
	}
	pthread_mutex_unlock(&ch->mu);
	return err;
}

/* Takes reservation @off off the list; its recorded size in *@size. */
static int resv_take(struct shmipc_chan *ch, uint64_t off, size_t *size)
{
	unsigned int i;
	int err = -EINVAL;

	pthread_mutex_lock(&ch->mu);
	for (i = 0; i < ch->nresv; i++)
		if (ch->resv[i].off == off) {
			*size = ch->resv[i].size;
			ch->resv[i] = ch->resv[--ch->nresv];
			err = 0;
			break;
		}
	pthread_mutex_unlock(&ch->mu);
	return err;
}

static void resv_put(struct shmipc_chan *ch, uint64_t off, size_t size)
{
	pthread_mutex_lock(&ch->mu);
	ch->resv[ch->nresv++] = (struct shmipc_resv_rec){ off, size };
	pthread_mutex_unlock(&ch->mu);
}

/*
 * Commits @r: at most the size reserved (the handle's record, not the
 * caller's struct, bounds what is checksummed and sent). On failure the
 * reservation stays open.
 */
int shmipc_ch_commit(struct shmipc_chan *ch, struct shmipc_resv *r, uint32_t type,
		     int timeout_ms)
{
	struct shmipc_desc d;
	size_t size;
	int err;

	err = resv_take(ch, r->offset, &size);
	if (err)
		return err;
	if (r->size > size) {
		resv_put(ch, r->offset, size);
		return -EINVAL;
	}
	d.offset = r->offset;
	d.size = (uint32_t)r->size;
	err = enqueue(ch, &d, type, timeout_ms);
	if (err)
		resv_put(ch, r->offset, size);
	return err;
}

int shmipc_ch_abort(struct shmipc_chan *ch, struct shmipc_resv *r)
{
	size_t size;
	int err = resv_take(ch, r->offset, &size);

	return err ? err : shmipc_heap_free(ch->shm, r->offset);
}

/*
 * One attempt: 0 with @d filled and its slot given back (the payload is
 * held first: see the top), -EAGAIN, -EINPROGRESS with the claimer in
 * *@blocker, or -EBADMSG.
 */
static int pop(struct shmipc_chan *ch, struct shmipc_desc *d, uint32_t *blocker)
{
	uint64_t pos;
	int err;

	if (!ch->q)
		return shmipc_bcast_pop(ch, d);
	err = ch->q->pop(ch->c, ch->slots, ch->capacity, &ch->k, d, ch->token,
			 &pos, blocker);
	if (err)
		return err;
	if (d->offset && !(d->size & SHMIPC_DESC_INLINE))
		shmipc_block_hold(ch->shm, d->offset);	/* a bad one: deliver() says */
	ch->q->pop_done(ch->c, ch->slots, ch->capacity, pos);
	return 0;
}

/* Checks a descriptor from the queue (a local copy) and makes @msg of it. */
static int deliver(struct shmipc_chan *ch, const struct shmipc_desc *d,
		   struct shmipc_msg *msg)
{
	uint32_t size = d->size & ~SHMIPC_DESC_INLINE;
	bool inl = d->size & SHMIPC_DESC_INLINE;
	uint64_t off = inl ? 0 : d->offset;
	uint32_t holder = ch->mode == SHMIPC_CHAN_BROADCAST ? (uint32_t)ch->sub + 1 : 0;
	struct shmipc_chan_ctl *c = ch->c;
	struct shmipc *shm = ch->shm;
	int err;

	if (inl) {
		if (size > SHMIPC_INLINE_MAX)
			goto bad;
		memcpy(msg->inline_data, d->data, size);
		msg->data = msg->inline_data;
	} else if (!shm_range_ok(off, size, shm->heap_off, shm->heap_end) ||
		   size > shmipc_block_size(shm, off)) {
		goto bad;	/* not a block of ours, or bigger than its block */
	} else {
		msg->data = shm->base + off;
	}
	if ((ch->flags & SHMIPC_CHAN_CRC32C) &&
	    shmipc_crc32c(msg->data, size) != d->crc) {
		shmipc_msg_put(shm, off, off ? holder : 0);
		goto bad;
	}
	msg->holder = off ? holder : 0;
	msg->offset = off;
	msg->size = size;
	msg->type = d->type;
	msg->sender = d->sender;
	msg->seq = d->seq;
	msg->timestamp_ns = d->timestamp_ns;
	msg->shm = shm;
	if (!off) {
		shmipc_held_seal(shm, msg);	/* inline: nothing shared to track */
	} else {
		err = shmipc_held_add(shm, off, msg->holder, &msg->ticket);
		if (err) {
			shmipc_msg_put(shm, off, msg->holder);
			return err;
		}
	}
	atomic_fetch_add_explicit(&c->msgs_out, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->bytes_out, size, memory_order_relaxed);
	atomic_store_explicit(&c->last_receiver, shmipc_self_pid(),
			      memory_order_relaxed);
	return 0;
bad:
	atomic_fetch_add_explicit(&c->bad, 1, memory_order_relaxed);
	return -EBADMSG;
}

/* pop() until a real descriptor (skips are dropped, at most a lap) or an error. */
static int pop_msg(struct shmipc_chan *ch, struct shmipc_desc *d, uint32_t *blocker)
{
	uint32_t n = 0;
	int err;

	do
		err = pop(ch, d, blocker);
	while (!err && !d->offset && !(d->size & SHMIPC_DESC_INLINE) &&
	       ++n < ch->capacity);
	if (!err && !d->offset && !(d->size & SHMIPC_DESC_INLINE))
		err = -EAGAIN;		/* a lap of skips: nothing yet */
	if (!err && ch->mode != SHMIPC_CHAN_BROADCAST)
		shmipc_ev_signal(ch->shm, &ch->c->not_full, 1);
	return err;
}

/*
 * Before sleeping on an empty mpmc queue: a read claim met here the last
 * time too (the very same claim word) is no live consumer's passing claim,
 * so its claimer's life is looked at, and a dead one reclaimed (its message
 * is queued again). Returns true when it reclaimed; *@suspect is set when a
 * claim is being watched, so that a posix sleep is kept short. Another
 * thread doing the same on this handle makes this one skip it.
 */
static bool dead_claims(struct shmipc_chan *ch, bool *suspect)
{
	uint64_t now[4];
	unsigned int n, i, k;
	bool any = false;

	*suspect = false;
	if (!ch->q->read_claims || pthread_mutex_trylock(&ch->mu))
		return false;
	n = ch->q->read_claims(ch->slots, ch->capacity, now, 4);
	for (i = 0; i < n; i++) {
		uint32_t t = SHMIPC_Q_TOKEN(now[i]);

		for (k = 0; k < ch->nsuspects && ch->suspects[k] != now[i]; k++)
			;
		if (k == ch->nsuspects || t == ch->token || shmipc_peer_alive(ch->shm, t))
			continue;
		shmipc_reclaim_token(ch->shm, t);
		any = true;
	}
	memcpy(ch->suspects, now, n * sizeof(now[0]));
	ch->nsuspects = n;
	pthread_mutex_unlock(&ch->mu);
	*suspect = n && !any;
	return any;
}

int shmipc_ch_recv(struct shmipc_chan *ch, struct shmipc_msg *msg, int timeout_ms)
{
	struct deadline dd = { .timeout_ms = timeout_ms };
	struct shmipc_chan_ctl *c = ch->c;
	struct shmipc *shm = ch->shm;
	uint32_t blocker = 0;
	unsigned int waits = 0;
	bool suspect = false;
	struct shmipc_desc d;
	int err, i;

	if (ch->mode == SHMIPC_CHAN_SPSC && !ch->rx) {
		err = spsc_side(ch, true);
		if (err)
			return err;
	}
	err = pop_msg(ch, &d, &blocker);
	for (i = 0; err == -EAGAIN && timeout_ms && i < ch->spin; i++) {
		shmipc_cpu_relax();
		err = pop_msg(ch, &d, &blocker);
	}
	for (;;) {
		uint32_t e, deaths;

		if (err == -EINPROGRESS) {	/* a producer mid-way, or dead */
			err = timeout_ms ? claim_wait(shm, blocker, &dd, &waits) : -EAGAIN;
			if (err)
				return err;
			err = pop_msg(ch, &d, &blocker);
			continue;
		}
		if (err != -EAGAIN || !timeout_ms)
			break;
		if (shmipc_expired(dl(&dd)))
			return -ETIMEDOUT;
		deaths = shm->ops->deaths(shm);
		if (ch->mode == SHMIPC_CHAN_MPMC && dead_claims(ch, &suspect)) {
			err = pop_msg(ch, &d, &blocker);
			continue;
		}
		e = shmipc_ev_prepare(&c->not_empty);
		err = pop_msg(ch, &d, &blocker);
		if (err != -EAGAIN) {
			shmipc_ev_cancel(&c->not_empty);
			continue;
		}
		/*
		 * A read claim stands: look again soon, as its claimer may have
		 * died before we looked (no death wake-up is coming then).
		 */
		err = shmipc_ev_wait(shm, &c->not_empty, e,
				     suspect ? shmipc_sooner(dl(&dd), 5 * CLAIM_POLL_NS) :
					       dl(&dd), deaths);
		if (err && !(suspect && !shmipc_expired(dl(&dd))))
			return err;
		err = pop_msg(ch, &d, &blocker);
	}
	return err ? err : deliver(ch, &d, msg);
}

int shmipc_ch_stats(struct shmipc_chan *ch, struct shmipc_chan_stats *st)
{
	struct shmipc_chan_ctl *c = ch->c;
	uint64_t tail, low;

	memset(st, 0, sizeof(*st));
	tail = atomic_load(&c->tail);
	low = atomic_load(&c->head);
	if (ch->mode == SHMIPC_CHAN_BROADCAST)
		st->subscribers = shmipc_bcast_subscribers(c, tail, &low);
	st->depth = tail >= low ? tail - low : 0;
	if (st->depth > ch->capacity)
		st->depth = ch->capacity;	/* garbage counters: no more than fits */
	st->msgs_in = atomic_load(&c->msgs_in);
	st->bytes_in = atomic_load(&c->bytes_in);
	st->msgs_out = atomic_load(&c->msgs_out);
	st->bytes_out = atomic_load(&c->bytes_out);
	st->full = atomic_load(&c->full);
	st->overruns = atomic_load(&c->overruns);
	st->bad = atomic_load(&c->bad);
	st->capacity = ch->capacity;
	st->mode = ch->mode;
	st->flags = ch->flags;
	st->waiters = atomic_load(&c->not_empty.waiters) +
		      atomic_load(&c->not_full.waiters);
	st->last_sender = atomic_load(&c->last_sender);
	st->last_receiver = atomic_load(&c->last_receiver);
	return 0;
}

/*
 * Sends through the region handle's table of channel handles by name
 * (opened on first use, closed by shmipc_close()). The table is under the
 * handle's lock, so threads may share it.
 */
int shmipc_ch_send_to(struct shmipc *shm, const char *name, const void *data,
		      size_t size, uint32_t type, int timeout_ms)
{
	struct shmipc_chan_options o = { 0 };
	struct shmipc_chan *ch, *mine = NULL;
	int err;

	for (;;) {
		pthread_mutex_lock(&shm->mu);
		for (ch = shm->named; ch; ch = ch->next_named)
			if (!strncmp(ch->buf.name, name, sizeof(ch->buf.name)))
				break;
		if (!ch && mine) {	/* ours goes in the table */
			mine->next_named = shm->named;
			shm->named = ch = mine;
			mine = NULL;
		}
		pthread_mutex_unlock(&shm->mu);
		if (mine) {		/* another thread's went in first */
			shmipc_ch_detach(mine);
			pthread_mutex_destroy(&mine->mu);
			free(mine->resv);
			free(mine);
		}
		if (ch)
			return shmipc_ch_send(ch, data, size, type, timeout_ms);
		if (shm->flags & SHMIPC_OPEN_AUTO_CHANNELS)
			o.flags = SHMIPC_CHAN_CREATE;
		err = shmipc_ch_open(shm, name, &o, &mine);
		if (err)
			return err;
	}
}
