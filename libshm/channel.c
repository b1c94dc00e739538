// SPDX-License-Identifier: MIT
/*
 * Channels: a registry entry (kind "CHAN") whose block holds a control
 * structure and a queue (queue.c); payloads are heap blocks whose header
 * carries the message's reference count. Sending allocates, copies and
 * enqueues a descriptor; zero-copy reserves a block, lets the caller fill it
 * in place, then commits or aborts it. Receiving hands out a view of the
 * payload that holds one reference; the last release frees the block.
 *
 * Sleeping without lost wake-ups (an event count per direction):
 *
 *   waiter                               waker
 *   rmw(waiters += 1)    (acq_rel)       make the queue change visible
 *   e = epoch            (acquire)       if rmw(waiters += 0) > 0:  (acq_rel)
 *   re-check the queue; done if ready        epoch += 1          (release)
 *   futex-wait(epoch, e)                     futex-wake(epoch)
 *   waiters -= 1
 *
 * The two read-modify-writes of waiters are ordered in its modification
 * order. If the waker's comes second, it reads waiters > 0 and wakes. If it
 * comes first, the waiter's reads from it, so (release/acquire) the queue
 * change happens before the waiter's re-check, which sees it. A waiter that
 * read e after the bump re-checks too (epoch is release/acquire); one that
 * read it before sleeps on e, which the bump has changed, so the futex wait
 * returns at once or is woken. A waker thus costs no system call unless
 * someone is registered, and no sleeper misses its wake-up. (Read-modify-
 * writes rather than seq_cst fences, which ThreadSanitizer cannot check.)
 *
 * Broadcast is in broadcast.c.
 *
 * Process death. Every holding is recorded where a reclaim finds it: the
 * queue claims name their claimer (queue.c); a payload is reserved by its
 * sender until a queue refers to it, and a receiver marks it held before
 * it gives its slot back, so at every instant a payload is referred to by a
 * queue slot or by its owner word (heap.c); the spsc sides and the
 * endpoints (processes with the channel open) are tokens in the control
 * block. shmipc_chan_reclaim() and shmipc_chan_queued() are the channel's
 * part of a reclaim (peer.c).
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

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static size_t slot_size(uint32_t mode)
{
	switch (mode) {
	case SHMIPC_CHAN_SPSC:
		return sizeof(struct shmipc_spsc_slot);
	case SHMIPC_CHAN_MPMC:
		return sizeof(struct shmipc_mpmc_slot);
	case SHMIPC_CHAN_BROADCAST:
		return sizeof(struct shmipc_bcast_slot);
	}
	return 0;
}

/* A deadline CLAIM_POLL_NS from now, or @deadline if that is sooner. */
static int64_t short_deadline(int64_t deadline)
{
	int64_t d = shmipc_now_ns() + 5 * CLAIM_POLL_NS;

	return deadline && deadline < d ? deadline : d;
}

static int64_t deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? 0 : shmipc_now_ns() + (int64_t)timeout_ms * 1000000;
}

/* Event counts: see the top of the file. */
void shmipc_ev_signal(struct shmipc *shm, struct shmipc_evcount *ev, uint32_t n)
{
	if (atomic_fetch_add_explicit(&ev->waiters, 0, memory_order_acq_rel)) {
		atomic_fetch_add_explicit(&ev->epoch, 1, memory_order_release);
		shm->ops->wake(shm, &ev->epoch, n);
	}
}

static uint32_t ev_prepare(struct shmipc_evcount *ev)
{
	atomic_fetch_add_explicit(&ev->waiters, 1, memory_order_acq_rel);
	return atomic_load_explicit(&ev->epoch, memory_order_acquire);
}

/*
 * Sleeps until the epoch moves, the deadline, or (kmod) a peer's death,
 * which the caller's next attempt looks into; 0 or -ETIMEDOUT. @deaths is
 * the death count read before the caller last looked at the queue.
 */
static int ev_wait(struct shmipc *shm, struct shmipc_evcount *ev, uint32_t e,
		   int64_t deadline, uint32_t deaths)
{
	int err = 0;

	if (deadline && shmipc_now_ns() >= deadline)
		err = -ETIMEDOUT;
	else
		err = shm->ops->wait(shm, &ev->epoch, e, deadline, &deaths);
	atomic_fetch_sub_explicit(&ev->waiters, 1, memory_order_relaxed);
	if (err == -EOWNERDEAD)
		shmipc_death_seen(shm);
	return err == -ETIMEDOUT ? err : 0;
}

/*
 * Waits a little for a claimer in the way (*@n counts the calls of one
 * send or receive). A claimer is almost always a live peer a few
 * instructions from done, so it is first spun on, then its life is looked
 * at (and a dead one reclaimed), then slept on. 0 or -ETIMEDOUT.
 */
static int claim_wait(struct shmipc *shm, uint32_t claimer, int64_t deadline,
		      unsigned int *n)
{
	struct timespec ts = { 0, CLAIM_POLL_NS };

	if (++*n < CLAIM_SPINS) {
		cpu_relax();
		return 0;
	}
	if (!shmipc_peer_alive(shm, claimer)) {
		shmipc_reclaim_token(shm, claimer);
		return 0;
	}
	if (deadline && shmipc_now_ns() >= deadline)
		return -ETIMEDOUT;
	if (*n < 2 * CLAIM_SPINS)
		sched_yield();
	else
		nanosleep(&ts, NULL);
	return 0;
}

static void ev_cancel(struct shmipc_evcount *ev)
{
	atomic_fetch_sub_explicit(&ev->waiters, 1, memory_order_relaxed);
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
	c->slot_size = (uint32_t)slot_size(o->mode);
	shmipc_queue_init(c, (char *)c + sizeof(*c));
	c->magic = SHMIPC_CHAN_MAGIC;
}

/*
 * Reads a control block's geometry once and checks it: 0 and the values,
 * or -EBADMSG. Callers use these values, never the region's again.
 */
int shmipc_chan_check(const struct shmipc_chan_ctl *c, uint64_t size,
		      uint32_t *capp, uint32_t *modep, uint32_t *flagsp)
{
	uint32_t magic = c->magic, cap = c->capacity, mode = c->mode;
	uint32_t ssize = c->slot_size, flags = c->flags;

	if (size < sizeof(*c) || magic != SHMIPC_CHAN_MAGIC || !cap ||
	    cap & (cap - 1) || cap > SHMIPC_MAX_CAPACITY || !slot_size(mode) ||
	    ssize != slot_size(mode) || (size - sizeof(*c)) / ssize < cap)
		return -EBADMSG;
	*capp = cap;
	*modep = mode;
	*flagsp = flags;
	return 0;
}

/* Registers @ch's process as an endpoint of the channel, in the registry. */
static int join(struct shmipc *shm, const struct shmipc_buffer *b, void *arg)
{
	struct shmipc_chan *ch = arg;
	struct shmipc_chan_ctl *c;

	if (b->kind != SHMIPC_KIND_CHANNEL || b->offset % SHMIPC_CACHELINE)
		return -EINVAL;		/* a name, but not a channel's */
	c = (struct shmipc_chan_ctl *)(shm->base + b->offset);
	if (shmipc_chan_check(c, b->size, &ch->capacity, &ch->mode, &ch->flags))
		return -EBADMSG;
	if (ch->want_mode && ch->want_mode != ch->mode)
		return -EINVAL;		/* it exists, in another mode */
	return shmipc_ep_add(c, ch->token);
}

/*
 * A handle a fork()ed child inherited: the child becomes an endpoint of its
 * own; the parent's reservations and spsc sides stay the parent's. Its
 * subscription moves to the child, cursor and all (the usual pattern:
 * subscribe, then fork the reader); if the parent's is gone, the child
 * subscribes anew.
 */
static int adopt(struct shmipc_chan *ch, uint32_t me)
{
	uint32_t parent = ch->token;
	struct shmipc_buffer b;
	int err;

	ch->token = me;
	ch->want_mode = 0;
	err = shmipc_registry_with(ch->shm, ch->buf.name, join, ch, &b);
	if (err)
		return err;
	ch->nresv = 0;
	ch->tx = ch->rx = false;
	memset(&ch->k, 0, sizeof(ch->k));
	if (ch->sub >= 0) {
		_Atomic uint32_t *peer = &ch->c->subs[ch->sub].peer;

		err = shmipc_bcast_lock(ch->shm, ch->c);
		if (err)
			return err;
		if (!atomic_compare_exchange_strong(peer, &parent, me))
			ch->sub = -1;
		shmipc_lock_release(ch->shm, &ch->c->bcast_lock);
		if (ch->sub < 0)
			err = shmipc_subscribe(ch);
	}
	return err;
}

/* Every call on a handle starts here: @me is the caller's token. */
static inline int chan_self(struct shmipc_chan *ch, uint32_t *me)
{
	int err = shmipc_self(ch->shm, me);

	if (err || *me == ch->token)
		return err;
	return adopt(ch, *me);
}

/* spsc: this handle becomes the channel's sending (@rx false) or receiving side. */
static int spsc_side(struct shmipc_chan *ch, bool rx, uint32_t me)
{
	_Atomic uint32_t *w = rx ? &ch->c->rx_peer : &ch->c->tx_peer;
	unsigned int n;

	for (n = 0; n < 3; n++) {
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
		if (v) {	/* a dead side: its reclaim frees it */
			shmipc_death_seen(ch->shm);
			shmipc_reclaim_due(ch->shm);
		}
	}
	return -EBUSY;
}

/* Joins channel @name, creating it if asked and missing. */
static int chan_join_or_create(struct shmipc *shm, const char *name,
			       const struct shmipc_chan_options *o,
			       struct shmipc_chan *ch)
{
	int err = shmipc_registry_with(shm, name, join, ch, &ch->buf);

	if (err == -ENOENT && (o->flags & SHMIPC_CHAN_CREATE)) {
		size_t size = sizeof(struct shmipc_chan_ctl) +
			      (size_t)o->capacity * slot_size(o->mode);
		struct chan_init_arg ia = { .o = o, .token = ch->token };

		err = shmipc_registry_create(shm, name, SHMIPC_KIND_CHANNEL, size,
					     SHMIPC_CACHELINE, 1, chan_init, &ia,
					     &ch->buf);
		if (!err)
			err = shmipc_chan_check((struct shmipc_chan_ctl *)(shm->base + ch->buf.offset),
						ch->buf.size, &ch->capacity, &ch->mode,
						&ch->flags);
		else if (err == -EEXIST)	/* lost a race: open theirs */
			err = shmipc_registry_with(shm, name, join, ch, &ch->buf);
	}
	return err;
}

SHMIPC_API int shmipc_chan_open(struct shmipc *shm, const char *name,
				const struct shmipc_chan_options *opts,
				struct shmipc_chan **out)
{
	struct shmipc_chan_options o = { 0 };
	struct shmipc_chan *ch;
	unsigned int i;
	int err;

	if (!shm || !out)
		return -EINVAL;
	*out = NULL;
	if (opts)
		o = *opts;
	for (i = 0; i < sizeof(o.reserved) / sizeof(o.reserved[0]); i++)
		if (o.reserved[i])
			return -EINVAL;
	if (!o.mode)
		o.mode = SHMIPC_CHAN_MPMC;
	if (!o.capacity)
		o.capacity = DEFAULT_CAPACITY;
	if (!slot_size(o.mode) || o.flags & ~KNOWN_FLAGS ||
	    o.capacity & (o.capacity - 1) || o.capacity > SHMIPC_MAX_CAPACITY ||
	    ((o.flags & SHMIPC_CHAN_DROP_OLDEST) && o.mode != SHMIPC_CHAN_BROADCAST))
		return -EINVAL;

	ch = calloc(1, sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	ch->shm = shm;
	ch->sub = -1;
	ch->spin = o.spin < 0 ? 0 : o.spin ? o.spin : DEFAULT_SPIN;
	ch->want_mode = opts ? (uint32_t)opts->mode : 0;
	err = shmipc_self(shm, &ch->token);
	if (err)
		goto free_handle;
	err = chan_join_or_create(shm, name, &o, ch);
	if ((err == -ENOSPC || err == -ENOMEM || err == -EUSERS) &&
	    shmipc_reclaim(shm) > 0)	/* the dead may hold what is missing */
		err = chan_join_or_create(shm, name, &o, ch);
	if (err)
		goto free_handle;
	ch->c = (struct shmipc_chan_ctl *)(shm->base + ch->buf.offset);
	ch->slots = (char *)ch->c + sizeof(*ch->c);
	ch->tag = shmipc_chan_tag(ch->buf.id);
	if (ch->mode == SHMIPC_CHAN_BROADCAST && (o.flags & SHMIPC_CHAN_SUBSCRIBE)) {
		err = shmipc_subscribe(ch);
		if (err == -ENOSPC && shmipc_reclaim(shm) > 0)	/* dead ones' slots */
			err = shmipc_subscribe(ch);
		if (err)
			goto leave;
	}
	*out = ch;
	shmipc_reclaim_due(shm);
	return 0;

leave:
	shmipc_registry_leave(shm, &ch->buf, ch->token);
free_handle:
	free(ch);
	shmipc_reclaim_due(shm);
	return err;
}

SHMIPC_API void shmipc_chan_close(struct shmipc_chan *ch)
{
	uint32_t me;

	if (!ch)
		return;
	/* A fork()ed child that never used the handle has nothing to give back. */
	me = ch->token;
	if (ch->shm->pid == shmipc_self_pid() && me == ch->shm->token) {
		/* Reservations still open are aborted; their blocks go back. */
		while (ch->nresv)
			shmipc_heap_free(ch->shm, ch->resv[--ch->nresv]);
		shmipc_unsubscribe(ch);
		if (ch->tx)
			atomic_compare_exchange_strong(&ch->c->tx_peer, &me, 0);
		me = ch->token;
		if (ch->rx)
			atomic_compare_exchange_strong(&ch->c->rx_peer, &me, 0);
		shmipc_registry_leave(ch->shm, &ch->buf, ch->token);
	}
	free(ch->resv);
	free(ch);
}

SHMIPC_API int shmipc_chan_remove(struct shmipc *shm, const char *name)
{
	struct shmipc_buffer b;
	int err = shmipc_buffer_find(shm, name, &b);

	if (err)
		return err;
	if (b.kind != SHMIPC_KIND_CHANNEL)
		return -EINVAL;
	return shmipc_buffer_remove(shm, name);
}

/* One attempt; -ENOSPC full, -EINPROGRESS with *@blocker in the way. */
static int push(struct shmipc_chan *ch, struct shmipc_desc *d, uint32_t me,
		uint32_t *blocker)
{
	switch (ch->mode) {
	case SHMIPC_CHAN_SPSC:
		return shmipc_spsc_push(ch->c, ch->slots, &ch->k, d, ch->capacity);
	case SHMIPC_CHAN_MPMC:
		return shmipc_mpmc_push(ch->c, ch->slots, d, ch->capacity, me, blocker);
	default:
		return shmipc_bcast_publish(ch, d);
	}
}

/* The payload's bytes, inline or in the heap. */
static const void *payload_of(struct shmipc *shm, const struct shmipc_desc *d)
{
	return d->size & SHMIPC_DESC_INLINE ? (const void *)d->data :
					      (const void *)(shm->base + d->offset);
}

/*
 * Enqueues @d, whose payload (inline or heap block) is set, waiting for room
 * until the timeout.
 */
static int enqueue(struct shmipc_chan *ch, struct shmipc_desc *d, uint32_t type,
		   int timeout_ms, uint32_t me)
{
	struct shmipc_chan_ctl *c = ch->c;
	int64_t deadline = deadline_of(timeout_ms);
	size_t size = d->size & ~SHMIPC_DESC_INLINE;
	bool counted_full = false;
	uint32_t blocker = 0;
	unsigned int waits = 0;
	int err, i;

	if (ch->mode == SHMIPC_CHAN_SPSC && !ch->tx) {
		err = spsc_side(ch, false, me);
		if (err)
			return err;
	}
	d->type = type;
	d->timestamp_ns = (uint64_t)shmipc_now_ns();
	d->sender = shmipc_self_pid();
	d->crc = ch->flags & SHMIPC_CHAN_CRC32C ?
		 shmipc_crc32c(payload_of(ch->shm, d), size) : 0;
	d->seq = atomic_fetch_add_explicit(&c->next_seq, 1, memory_order_relaxed);
	if (d->offset)
		atomic_store_explicit(shmipc_block_refs(ch->shm, d->offset), 1,
				      memory_order_relaxed);
	for (;;) {
		uint32_t e, deaths;

		err = push(ch, d, me, &blocker);
		for (i = 0; err == -ENOSPC && timeout_ms && i < ch->spin; i++) {
			cpu_relax();
			err = push(ch, d, me, &blocker);
		}
		if (err == -EINPROGRESS) {	/* a consumer mid-way, or dead */
			if (!timeout_ms)
				return -ENOSPC;
			err = claim_wait(ch->shm, blocker, deadline, &waits);
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
		deaths = ch->shm->ops->deaths(ch->shm);
		e = ev_prepare(&c->not_full);
		err = push(ch, d, me, &blocker);
		if (err != -ENOSPC) {
			ev_cancel(&c->not_full);
			if (err == -EINPROGRESS)
				continue;
			break;
		}
		err = ev_wait(ch->shm, &c->not_full, e, deadline, deaths);
		if (err)
			return err;
		shmipc_reclaim_due(ch->shm);
	}
	if (err)
		return err;
	atomic_fetch_add_explicit(&c->msgs_in, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->bytes_in, size, memory_order_relaxed);
	atomic_store_explicit(&c->last_sender, d->sender, memory_order_relaxed);
	shmipc_ev_signal(ch->shm, &c->not_empty,
			 ch->mode == SHMIPC_CHAN_BROADCAST ? UINT32_MAX : 1);
	return 0;
}

/* A reserved heap block for a payload, polling a full heap until @deadline. */
static int payload_alloc(struct shmipc_chan *ch, size_t size, int timeout_ms,
			 uint64_t *off)
{
	int64_t deadline = deadline_of(timeout_ms);
	struct timespec ts = { 0, HEAP_POLL_NS };
	bool reclaimed = false;
	int err;

	if (size > INT32_MAX || size > ch->shm->heap_end - ch->shm->heap_off)
		return -EMSGSIZE;
	for (;;) {
		err = shmipc_heap_alloc(ch->shm, size ? size : 1, 16,
					SHMIPC_OWN_RESV, off);
		if (err == -ENOMEM && !reclaimed) {	/* the dead may hold it */
			reclaimed = true;
			if (shmipc_reclaim(ch->shm) > 0)
				continue;
		}
		if (err != -ENOMEM || !timeout_ms)
			return err;
		if (deadline && shmipc_now_ns() >= deadline)
			return -ETIMEDOUT;
		shmipc_reclaim_due(ch->shm);
		nanosleep(&ts, NULL);
	}
}

static int send_msg(struct shmipc_chan *ch, const void *data, size_t size,
		    uint32_t type, int timeout_ms)
{
	struct shmipc_desc d;
	uint64_t off;
	uint32_t me;
	int err;

	if (!ch || (size && !data))
		return -EINVAL;
	err = chan_self(ch, &me);
	if (err)
		return err;
	if (size <= SHMIPC_INLINE_MAX) {	/* small: no heap at all */
		d.offset = 0;
		d.size = (uint32_t)size | SHMIPC_DESC_INLINE;
		memcpy(d.data, data, size);
		return enqueue(ch, &d, type, timeout_ms, me);
	}
	err = payload_alloc(ch, size, timeout_ms, &off);
	if (err)
		return err;
	memcpy(ch->shm->base + off, data, size);
	d.offset = off;
	d.size = (uint32_t)size;
	err = enqueue(ch, &d, type, timeout_ms, me);
	if (err)
		shmipc_heap_free(ch->shm, off);
	return err;
}

SHMIPC_API int shmipc_send(struct shmipc_chan *ch, const void *data, size_t size,
			   uint32_t type, int timeout_ms)
{
	int err = send_msg(ch, data, size, type, timeout_ms);

	if (ch)
		shmipc_reclaim_due(ch->shm);
	return err;
}

SHMIPC_API int shmipc_reserve(struct shmipc_chan *ch, size_t size,
			      struct shmipc_resv *r)
{
	uint64_t off;
	uint32_t me;
	int err;

	if (!ch || !r)
		return -EINVAL;
	err = chan_self(ch, &me);
	if (err)
		return err;
	if (ch->nresv == ch->resv_cap) {
		unsigned int cap = ch->resv_cap ? 2 * ch->resv_cap : 8;
		uint64_t *n = realloc(ch->resv, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		ch->resv = n;
		ch->resv_cap = cap;
	}
	err = payload_alloc(ch, size, 0, &off);
	if (err)
		return err;
	ch->resv[ch->nresv++] = off;
	r->data = ch->shm->base + off;
	r->size = size;
	r->offset = off;
	shmipc_reclaim_due(ch->shm);
	return 0;
}

/* Forgets reservation @off; -EINVAL if it is not one of this handle's. */
static int resv_forget(struct shmipc_chan *ch, uint64_t off)
{
	unsigned int i;

	for (i = 0; i < ch->nresv; i++)
		if (ch->resv[i] == off) {
			ch->resv[i] = ch->resv[--ch->nresv];
			return 0;
		}
	return -EINVAL;
}

SHMIPC_API int shmipc_commit(struct shmipc_chan *ch, struct shmipc_resv *r,
			     uint32_t type, int timeout_ms)
{
	struct shmipc_desc d;
	unsigned int i;
	uint32_t me;
	int err;

	if (!ch || !r)
		return -EINVAL;
	err = chan_self(ch, &me);
	if (err)
		return err;
	for (i = 0; i < ch->nresv && ch->resv[i] != r->offset; i++)
		;
	if (i == ch->nresv)
		return -EINVAL;
	d.offset = r->offset;
	d.size = (uint32_t)r->size;
	err = enqueue(ch, &d, type, timeout_ms, me);
	if (!err)	/* on failure the reservation stays open */
		resv_forget(ch, r->offset);
	shmipc_reclaim_due(ch->shm);
	return err;
}

SHMIPC_API int shmipc_abort(struct shmipc_chan *ch, struct shmipc_resv *r)
{
	uint32_t me;

	if (!ch || !r || chan_self(ch, &me) || resv_forget(ch, r->offset))
		return -EINVAL;
	return shmipc_heap_free(ch->shm, r->offset);
}

/*
 * One attempt: 0 with @d filled and its slot given back (the payload is
 * held by @me first: see the top), -EAGAIN, -EINPROGRESS with the claimer
 * in *@blocker, or -EBADMSG.
 */
static int pop(struct shmipc_chan *ch, struct shmipc_desc *d, uint32_t me,
	       uint32_t *blocker)
{
	uint64_t pos;
	int err;

	switch (ch->mode) {
	case SHMIPC_CHAN_SPSC:
		err = shmipc_spsc_pop(ch->c, ch->slots, &ch->k, d, ch->capacity);
		if (err)
			return err;
		shmipc_mark_held(ch->shm, d, me);	/* a bad one: deliver() says */
		shmipc_spsc_pop_done(ch->c);
		return 0;
	case SHMIPC_CHAN_MPMC:
		err = shmipc_mpmc_pop(ch->c, ch->slots, d, ch->capacity, me, &pos,
				      blocker);
		if (err)
			return err;
		shmipc_mark_held(ch->shm, d, me);	/* a bad one: deliver() says */
		shmipc_mpmc_pop_done(ch->slots, pos, ch->capacity);
		return 0;
	}
	return shmipc_bcast_pop(ch, d);
}

/* Checks a descriptor from the queue and makes @msg of it. */
static int deliver(struct shmipc_chan *ch, const struct shmipc_desc *d,
		   struct shmipc_msg *msg)
{
	uint32_t size = d->size & ~SHMIPC_DESC_INLINE;
	bool inl = d->size & SHMIPC_DESC_INLINE;
	uint64_t off = inl ? 0 : d->offset;
	uint32_t holder = ch->mode == SHMIPC_CHAN_BROADCAST ? (uint32_t)ch->sub + 1 : 0;
	struct shmipc_chan_ctl *c = ch->c;
	struct shmipc *shm = ch->shm;

	if (inl) {
		if (size > SHMIPC_INLINE_MAX)
			goto bad;
		memcpy(msg->inline_data, d->data, size);
		msg->data = msg->inline_data;
	} else if (off < shm->heap_off || off > shm->heap_end ||
		   size > shm->heap_end - off || size > shmipc_block_size(shm, off)) {
		goto bad;	/* not a block of ours, or bigger than its block */
	} else {
		msg->data = shm->base + off;
	}
	if ((ch->flags & SHMIPC_CHAN_CRC32C) &&
	    shmipc_crc32c(msg->data, size) != d->crc) {
		shmipc_msg_put(shm, off, holder);
		goto bad;
	}
	msg->size = size;
	msg->type = d->type;
	msg->sender = d->sender;
	msg->seq = d->seq;
	msg->timestamp_ns = d->timestamp_ns;
	msg->offset = off;
	msg->shm = shm;
	msg->holder = off ? holder : 0;
	msg->pad = 0;
	atomic_fetch_add_explicit(&c->msgs_out, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->bytes_out, size, memory_order_relaxed);
	atomic_store_explicit(&c->last_receiver, shmipc_self_pid(),
			      memory_order_relaxed);
	return 0;
bad:
	atomic_fetch_add_explicit(&c->bad, 1, memory_order_relaxed);
	return -EBADMSG;
}

/* pop() until a real descriptor (skips are dropped) or an error. */
static int pop_msg(struct shmipc_chan *ch, struct shmipc_desc *d, uint32_t me,
		   uint32_t *blocker)
{
	int err;

	do
		err = pop(ch, d, me, blocker);
	while (!err && !d->offset && !(d->size & SHMIPC_DESC_INLINE));	/* skips */
	if (!err && ch->mode != SHMIPC_CHAN_BROADCAST)
		shmipc_ev_signal(ch->shm, &ch->c->not_full, 1);
	return err;
}

/*
 * Before sleeping on an empty mpmc queue: a read claim met here the last
 * time too (the very same claim word) is no live consumer's passing claim,
 * so its claimer's life is looked at, and a dead one reclaimed (its message
 * is queued again). Returns true when it reclaimed; *@suspect is set when a
 * claim is being watched, so that a posix sleep is kept short.
 */
static bool dead_claims(struct shmipc_chan *ch, uint32_t me, bool *suspect)
{
	uint64_t now[4];
	unsigned int n, i, k;
	bool any = false;

	n = shmipc_mpmc_read_claims(ch->slots, ch->capacity, now, 4);
	for (i = 0; i < n; i++) {
		uint32_t t = SHMIPC_Q_TOKEN(now[i]);

		for (k = 0; k < ch->nsuspects && ch->suspects[k] != now[i]; k++)
			;
		if (k == ch->nsuspects || t == me || shmipc_peer_alive(ch->shm, t))
			continue;
		shmipc_reclaim_token(ch->shm, t);
		any = true;
	}
	memcpy(ch->suspects, now, n * sizeof(now[0]));
	ch->nsuspects = n;
	*suspect = n && !any;
	return any;
}

static int recv_msg(struct shmipc_chan *ch, struct shmipc_msg *msg,
		    int timeout_ms)
{
	struct shmipc_chan_ctl *c;
	struct shmipc_desc d;
	uint32_t me, blocker = 0;
	unsigned int waits = 0;
	bool suspect = false;
	int64_t deadline;
	int err, i;

	if (!ch || !msg)
		return -EINVAL;
	err = chan_self(ch, &me);
	if (err)
		return err;
	if (ch->mode == SHMIPC_CHAN_SPSC && !ch->rx) {
		err = spsc_side(ch, true, me);
		if (err)
			return err;
	}
	c = ch->c;
	deadline = deadline_of(timeout_ms);
	err = pop_msg(ch, &d, me, &blocker);
	for (i = 0; err == -EAGAIN && timeout_ms && i < ch->spin; i++) {
		cpu_relax();
		err = pop_msg(ch, &d, me, &blocker);
	}
	for (;;) {
		uint32_t e, deaths;

		if (err == -EINPROGRESS) {	/* a producer mid-way, or dead */
			err = timeout_ms ? claim_wait(ch->shm, blocker, deadline, &waits) :
					   -EAGAIN;
			if (err)
				return err;
			err = pop_msg(ch, &d, me, &blocker);
			continue;
		}
		if (err != -EAGAIN || !timeout_ms)
			break;
		deaths = ch->shm->ops->deaths(ch->shm);
		if (ch->mode == SHMIPC_CHAN_MPMC && dead_claims(ch, me, &suspect)) {
			err = pop_msg(ch, &d, me, &blocker);
			continue;
		}
		e = ev_prepare(&c->not_empty);
		err = pop_msg(ch, &d, me, &blocker);
		if (err != -EAGAIN) {
			ev_cancel(&c->not_empty);
			continue;
		}
		/*
		 * A read claim stands: look again soon, as its claimer may have
		 * died before we looked (no death wake-up is coming then).
		 */
		err = ev_wait(ch->shm, &c->not_empty, e,
			      suspect ? short_deadline(deadline) : deadline, deaths);
		if (err && !(suspect && (!deadline || shmipc_now_ns() < deadline)))
			return err;
		shmipc_reclaim_due(ch->shm);
		err = pop_msg(ch, &d, me, &blocker);
	}
	return err ? err : deliver(ch, &d, msg);
}

SHMIPC_API int shmipc_recv(struct shmipc_chan *ch, struct shmipc_msg *msg,
			   int timeout_ms)
{
	int err = recv_msg(ch, msg, timeout_ms);

	if (ch && err)
		shmipc_reclaim_due(ch->shm);
	return err;
}

SHMIPC_API int shmipc_chan_stats(struct shmipc_chan *ch,
				 struct shmipc_chan_stats *st)
{
	struct shmipc_chan_ctl *c;
	uint64_t tail, low;
	unsigned int i;

	if (!ch || !st)
		return -EINVAL;
	c = ch->c;
	memset(st, 0, sizeof(*st));
	tail = atomic_load(&c->tail);
	low = atomic_load(&c->head);
	if (ch->mode == SHMIPC_CHAN_BROADCAST) {
		low = tail;
		for (i = 0; i < SHMIPC_MAX_SUBSCRIBERS; i++) {
			uint64_t cur = atomic_load(&c->subs[i].cursor);
			uint32_t p = atomic_load(&c->subs[i].peer);

			if (p && !(p & SHMIPC_SUB_DEAD)) {
				st->subscribers++;
				if (cur < low)
					low = cur;
			}
		}
	}
	st->depth = tail >= low ? tail - low : 0;
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

SHMIPC_API int shmipc_chan_list(struct shmipc *shm, struct shmipc_buffer *bufs,
				unsigned int cap, unsigned int *total)
{
	struct shmipc_buffer *all;
	unsigned int n = 0, count, i;
	int ret;

	if (!shm || (cap && !bufs))
		return -EINVAL;
	all = calloc(shm->reg_capacity ? shm->reg_capacity : 1, sizeof(*all));
	if (!all)
		return -ENOMEM;
	ret = shmipc_buffer_list(shm, all, shm->reg_capacity, &count);
	if (ret >= 0) {
		unsigned int found = 0;

		for (i = 0; i < (unsigned int)ret; i++) {
			if (all[i].kind != SHMIPC_KIND_CHANNEL)
				continue;
			found++;
			if (n < cap)
				bufs[n++] = all[i];
		}
		if (total)
			*total = found;
		ret = (int)n;
	}
	free(all);
	return ret;
}

SHMIPC_API int shmipc_send_to(struct shmipc *shm, const char *name,
			      const void *data, size_t size, uint32_t type,
			      int timeout_ms)
{
	struct shmipc_chan_options o = { 0 };
	struct shmipc_chan *ch;
	int err;

	if (!shm || !name)
		return -EINVAL;
	for (ch = shm->named; ch; ch = ch->next_named)
		if (!strcmp(ch->buf.name, name))
			return shmipc_send(ch, data, size, type, timeout_ms);
	if (shm->flags & SHMIPC_OPEN_AUTO_CHANNELS)
		o.flags = SHMIPC_CHAN_CREATE;
	err = shmipc_chan_open(shm, name, &o, &ch);
	if (err)
		return err;
	ch->next_named = shm->named;
	shm->named = ch;
	return shmipc_send(ch, data, size, type, timeout_ms);
}

/* shmipc_close(): the handles shmipc_send_to() opened. */
void shmipc_chan_close_named(struct shmipc *shm)
{
	while (shm->named) {
		struct shmipc_chan *ch = shm->named;

		shm->named = ch->next_named;
		shmipc_chan_close(ch);
	}
}
