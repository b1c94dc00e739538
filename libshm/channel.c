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
 * Broadcast: one slot ring; each subscriber has a cursor (next sequence to
 * read) in the control block. A publish counts the subscribers, sets the
 * payload's reference count to that, and publishes the slot, under the
 * channel's broadcast lock (subscribe and unsubscribe take it too, so the
 * count is exact). A subscriber takes a message by compare-and-swap of its
 * cursor from n to n + 1, after copying slot n: the publisher never reuses
 * slot n while any cursor is at n or below. In drop-oldest mode the
 * publisher moves a lagging cursor forward by the same compare-and-swap and
 * drops that subscriber's reference; whoever wins the swap owns it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define DEFAULT_CAPACITY	1024u
#define DEFAULT_SPIN		2000
#define HEAP_POLL_NS		50000
#define KNOWN_FLAGS		(SHMIPC_CHAN_CREATE | SHMIPC_CHAN_CRC32C | \
				 SHMIPC_CHAN_DROP_OLDEST | SHMIPC_CHAN_SUBSCRIBE)

struct shmipc_chan {
	struct shmipc *shm;
	struct shmipc_chan *next_named;		/* in shm->named */
	struct shmipc_chan_ctl *c;
	void *slots;
	uint32_t mode, capacity, flags;
	int spin;
	int sub;				/* broadcast subscriber slot, or -1 */
	struct shmipc_spsc_cache k;
	struct shmipc_buffer buf;		/* our registry reference */
	uint64_t *resv;				/* open reservations' offsets */
	unsigned int nresv, resv_cap;
};

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

static int64_t deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? 0 : shmipc_now_ns() + (int64_t)timeout_ms * 1000000;
}

/* Event counts: see the top of the file. */
static void ev_signal(struct shmipc *shm, struct shmipc_evcount *ev, uint32_t n)
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

/* Sleeps until the epoch moves or the deadline; 0 or -ETIMEDOUT. */
static int ev_wait(struct shmipc *shm, struct shmipc_evcount *ev, uint32_t e,
		   int64_t deadline)
{
	int err = 0;

	if (deadline && shmipc_now_ns() >= deadline)
		err = -ETIMEDOUT;
	else
		err = shm->ops->wait(shm, &ev->epoch, e, deadline);
	atomic_fetch_sub_explicit(&ev->waiters, 1, memory_order_relaxed);
	return err == -ETIMEDOUT ? err : 0;
}

static void ev_cancel(struct shmipc_evcount *ev)
{
	atomic_fetch_sub_explicit(&ev->waiters, 1, memory_order_relaxed);
}

/* Drops one reference on the payload at @off (0: inline, nothing to do). */
static int payload_put(struct shmipc *shm, uint64_t off)
{
	_Atomic uint32_t *refs;
	uint32_t old;

	if (!off)
		return 0;
	refs = shmipc_block_refs(shm, off);
	if (!refs)
		return -EBADMSG;
	old = atomic_fetch_sub_explicit(refs, 1, memory_order_acq_rel);
	if (old == 1)
		return shmipc_free(shm, off);
	return old ? 0 : -EBADMSG;
}

/* Lays a new channel out; runs before its registry entry is committed. */
static void chan_init(void *data, size_t size, const void *arg)
{
	const struct shmipc_chan_options *o = arg;
	struct shmipc_chan_ctl *c = data;

	memset(c, 0, size);
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
static int chan_check(const struct shmipc_chan_ctl *c, uint64_t size,
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

/* Broadcast: subscriber @i gives back every message it has not read. */
static void sub_drain(struct shmipc *shm, struct shmipc_chan_ctl *c,
		      struct shmipc_bcast_slot *slots, unsigned int i, uint32_t cap)
{
	struct shmipc_sub *s = &c->subs[i];
	uint64_t tail = atomic_load_explicit(&c->tail, memory_order_acquire);
	uint64_t cur = atomic_load_explicit(&s->cursor, memory_order_acquire);

	if (tail - cur > cap)		/* corrupted: nothing to trust */
		cur = tail;
	while (cur < tail) {
		uint64_t off = slots[cur & (cap - 1)].d.offset;

		if (atomic_compare_exchange_strong(&s->cursor, &cur, cur + 1)) {
			payload_put(shm, off);
			cur++;
		}
	}
}

/*
 * Called by the registry, under its lock, when a channel's last reference
 * goes: gives back the payloads still queued. Idempotent, so a holder
 * killed half-way is finished by the registry's recovery.
 */
void shmipc_chan_drain(struct shmipc *shm, uint64_t off, uint64_t size)
{
	struct shmipc_chan_ctl *c = (struct shmipc_chan_ctl *)(shm->base + off);
	struct shmipc_desc d;
	unsigned int i;
	void *slots;

	struct shmipc_spsc_cache k = { 0 };
	uint32_t cap, mode, flags, n;

	if (chan_check(c, size, &cap, &mode, &flags))
		return;
	slots = (char *)c + sizeof(*c);
	/* At most one lap: whatever else the counters say is not ours. */
	for (n = 0; n < cap; n++) {
		int err;

		if (mode == SHMIPC_CHAN_SPSC)
			err = shmipc_spsc_pop(c, slots, &k, &d, cap);
		else if (mode == SHMIPC_CHAN_MPMC)
			err = shmipc_mpmc_pop(c, slots, &d, cap);
		else
			break;
		if (err)
			break;
		if (d.offset)
			payload_put(shm, d.offset);
	}
	if (mode == SHMIPC_CHAN_BROADCAST)
		for (i = 0; i < SHMIPC_MAX_SUBSCRIBERS; i++)
			if (atomic_load(&c->subs[i].pid)) {
				sub_drain(shm, c, slots, i, cap);
				atomic_store(&c->subs[i].pid, 0);
			}
}

static int subscribe(struct shmipc_chan *ch)
{
	struct shmipc_chan_ctl *c = ch->c;
	bool recovered;
	unsigned int i;
	int err;

	err = shmipc_lock_acquire(ch->shm, &c->bcast_lock, &recovered);
	if (err)
		return err;
	err = -ENOSPC;
	for (i = 0; i < SHMIPC_MAX_SUBSCRIBERS; i++) {
		uint32_t pid = atomic_load(&c->subs[i].pid);

		if (pid && shmipc_pid_alive(pid))
			continue;
		if (pid)	/* a dead subscriber's slot: give its messages back */
			sub_drain(ch->shm, c, ch->slots, i, ch->capacity);
		atomic_store(&c->subs[i].cursor, atomic_load(&c->tail));
		atomic_store(&c->subs[i].pid, shmipc_self_pid());
		ch->sub = (int)i;
		err = 0;
		break;
	}
	shmipc_lock_release(ch->shm, &c->bcast_lock);
	return err;
}

static void unsubscribe(struct shmipc_chan *ch)
{
	struct shmipc_chan_ctl *c = ch->c;
	bool recovered;

	if (ch->sub < 0 || shmipc_lock_acquire(ch->shm, &c->bcast_lock, &recovered))
		return;
	sub_drain(ch->shm, c, ch->slots, (unsigned int)ch->sub, ch->capacity);
	atomic_store(&c->subs[ch->sub].pid, 0);
	shmipc_lock_release(ch->shm, &c->bcast_lock);
	ev_signal(ch->shm, &c->not_full, UINT32_MAX);	/* a blocked publisher */
	ch->sub = -1;
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
	err = shmipc_buffer_take(shm, name, &ch->buf);
	if (err == -ENOENT && (o.flags & SHMIPC_CHAN_CREATE)) {
		size_t size = sizeof(struct shmipc_chan_ctl) +
			      (size_t)o.capacity * slot_size(o.mode);

		err = shmipc_registry_create(shm, name, SHMIPC_KIND_CHANNEL, size,
					     SHMIPC_CACHELINE, chan_init, &o,
					     &ch->buf);
		if (err == -EEXIST)	/* lost a race: open theirs */
			err = shmipc_buffer_take(shm, name, &ch->buf);
	}
	if (err)
		goto free_handle;
	if (ch->buf.kind != SHMIPC_KIND_CHANNEL ||
	    ch->buf.offset % SHMIPC_CACHELINE) {
		err = -EINVAL;		/* a name, but not a channel's */
		goto release;
	}
	ch->c = (struct shmipc_chan_ctl *)(shm->base + ch->buf.offset);
	err = chan_check(ch->c, ch->buf.size, &ch->capacity, &ch->mode, &ch->flags);
	if (!err && opts && opts->mode && (uint32_t)opts->mode != ch->mode)
		err = -EINVAL;		/* it exists, in another mode */
	if (err)
		goto release;
	ch->slots = (char *)ch->c + sizeof(*ch->c);
	if (ch->mode == SHMIPC_CHAN_BROADCAST && (o.flags & SHMIPC_CHAN_SUBSCRIBE)) {
		err = subscribe(ch);
		if (err)
			goto release;
	}
	*out = ch;
	return 0;

release:
	shmipc_buffer_release(shm, &ch->buf);
free_handle:
	free(ch);
	return err;
}

SHMIPC_API void shmipc_chan_close(struct shmipc_chan *ch)
{
	if (!ch)
		return;
	/* Reservations still open are aborted; their blocks go back. */
	while (ch->nresv)
		shmipc_free(ch->shm, ch->resv[--ch->nresv]);
	unsubscribe(ch);
	shmipc_buffer_release(ch->shm, &ch->buf);
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

/* Broadcast publish; -ENOSPC when a subscriber blocks it (not drop-oldest). */
static int bcast_publish(struct shmipc_chan *ch, struct shmipc_desc *d)
{
	struct shmipc_chan_ctl *c = ch->c;
	struct shmipc_bcast_slot *slots = ch->slots, *s;
	uint32_t mask = ch->capacity - 1, subs = 0;
	bool recovered;
	uint64_t n;
	unsigned int i;
	int err;

	err = shmipc_lock_acquire(ch->shm, &c->bcast_lock, &recovered);
	if (err)
		return err;
	n = atomic_load_explicit(&c->tail, memory_order_relaxed);
	for (i = 0; i < SHMIPC_MAX_SUBSCRIBERS; i++) {
		struct shmipc_sub *sub = &c->subs[i];
		uint64_t cur;

		if (!atomic_load(&sub->pid))
			continue;
		cur = atomic_load_explicit(&sub->cursor, memory_order_acquire);
		if (n >= ch->capacity && cur <= n - ch->capacity &&
		    !shmipc_pid_alive(atomic_load(&sub->pid))) {
			/* A dead subscriber must not hold the publisher up. */
			sub_drain(ch->shm, c, slots, i, ch->capacity);
			atomic_store(&sub->pid, 0);
			continue;
		}
		subs++;
		while (n >= ch->capacity && cur <= n - ch->capacity) {
			uint64_t off = slots[cur & mask].d.offset;

			if (!(ch->flags & SHMIPC_CHAN_DROP_OLDEST)) {
				shmipc_lock_release(ch->shm, &c->bcast_lock);
				return -ENOSPC;
			}
			if (atomic_compare_exchange_strong(&sub->cursor, &cur, cur + 1)) {
				payload_put(ch->shm, off);
				atomic_fetch_add(&c->overruns, 1);
				cur++;
			}
		}
	}
	if (!subs) {		/* nobody listens: the message goes nowhere */
		shmipc_lock_release(ch->shm, &c->bcast_lock);
		if (d->offset)
			shmipc_free(ch->shm, d->offset);
		return 0;
	}
	if (d->offset)
		atomic_store_explicit(shmipc_block_refs(ch->shm, d->offset), subs,
				      memory_order_relaxed);
	s = &slots[n & mask];
	s->d = *d;
	atomic_store_explicit(&s->seq, n, memory_order_release);
	atomic_store_explicit(&c->tail, n + 1, memory_order_release);
	shmipc_lock_release(ch->shm, &c->bcast_lock);
	return 0;
}

static int push(struct shmipc_chan *ch, struct shmipc_desc *d)
{
	switch (ch->mode) {
	case SHMIPC_CHAN_SPSC:
		return shmipc_spsc_push(ch->c, ch->slots, &ch->k, d, ch->capacity);
	case SHMIPC_CHAN_MPMC:
		return shmipc_mpmc_push(ch->c, ch->slots, d, ch->capacity);
	default:
		return bcast_publish(ch, d);
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
		   int timeout_ms)
{
	struct shmipc_chan_ctl *c = ch->c;
	int64_t deadline = deadline_of(timeout_ms);
	size_t size = d->size & ~SHMIPC_DESC_INLINE;
	bool counted_full = false;
	int err, i;

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
		uint32_t e;

		err = push(ch, d);
		for (i = 0; err == -ENOSPC && timeout_ms && i < ch->spin; i++) {
			cpu_relax();
			err = push(ch, d);
		}
		if (err != -ENOSPC)
			break;
		if (!counted_full) {
			atomic_fetch_add_explicit(&c->full, 1, memory_order_relaxed);
			counted_full = true;
		}
		if (!timeout_ms)
			return -ENOSPC;
		e = ev_prepare(&c->not_full);
		err = push(ch, d);
		if (err != -ENOSPC) {
			ev_cancel(&c->not_full);
			break;
		}
		err = ev_wait(ch->shm, &c->not_full, e, deadline);
		if (err)
			return err;
	}
	if (err)
		return err;
	atomic_fetch_add_explicit(&c->msgs_in, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->bytes_in, size, memory_order_relaxed);
	atomic_store_explicit(&c->last_sender, d->sender, memory_order_relaxed);
	ev_signal(ch->shm, &c->not_empty,
		  ch->mode == SHMIPC_CHAN_BROADCAST ? UINT32_MAX : 1);
	return 0;
}

/* A heap block for a payload, polling a full heap until @deadline. */
static int payload_alloc(struct shmipc_chan *ch, size_t size, int timeout_ms,
			 uint64_t *off)
{
	int64_t deadline = deadline_of(timeout_ms);
	struct timespec ts = { 0, HEAP_POLL_NS };
	int err;

	if (size > INT32_MAX || size > ch->shm->heap_end - ch->shm->heap_off)
		return -EMSGSIZE;
	for (;;) {
		err = shmipc_alloc(ch->shm, size ? size : 1, off);
		if (err != -ENOMEM || !timeout_ms)
			return err;
		if (deadline && shmipc_now_ns() >= deadline)
			return -ETIMEDOUT;
		nanosleep(&ts, NULL);
	}
}

SHMIPC_API int shmipc_send(struct shmipc_chan *ch, const void *data, size_t size,
			   uint32_t type, int timeout_ms)
{
	uint64_t off;
	int err;

	struct shmipc_desc d;

	if (!ch || (size && !data))
		return -EINVAL;
	if (size <= SHMIPC_INLINE_MAX) {	/* small: no heap at all */
		d.offset = 0;
		d.size = (uint32_t)size | SHMIPC_DESC_INLINE;
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
		shmipc_free(ch->shm, off);
	return err;
}

SHMIPC_API int shmipc_reserve(struct shmipc_chan *ch, size_t size,
			      struct shmipc_resv *r)
{
	uint64_t off;
	int err;

	if (!ch || !r)
		return -EINVAL;
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
	int err;

	if (!ch || !r)
		return -EINVAL;
	for (i = 0; i < ch->nresv && ch->resv[i] != r->offset; i++)
		;
	if (i == ch->nresv)
		return -EINVAL;
	d.offset = r->offset;
	d.size = (uint32_t)r->size;
	err = enqueue(ch, &d, type, timeout_ms);
	if (!err)	/* on failure the reservation stays open */
		resv_forget(ch, r->offset);
	return err;
}

SHMIPC_API int shmipc_abort(struct shmipc_chan *ch, struct shmipc_resv *r)
{
	if (!ch || !r || resv_forget(ch, r->offset))
		return -EINVAL;
	return shmipc_free(ch->shm, r->offset);
}

/* One attempt: 0 with @d filled, -EAGAIN, or -EBADMSG. */
static int pop(struct shmipc_chan *ch, struct shmipc_desc *d)
{
	struct shmipc_chan_ctl *c = ch->c;
	struct shmipc_bcast_slot *slots = ch->slots;
	struct shmipc_sub *sub;
	unsigned int n;

	switch (ch->mode) {
	case SHMIPC_CHAN_SPSC:
		return shmipc_spsc_pop(c, ch->slots, &ch->k, d, ch->capacity);
	case SHMIPC_CHAN_MPMC:
		return shmipc_mpmc_pop(c, ch->slots, d, ch->capacity);
	}
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
			ev_signal(ch->shm, &c->not_full, 1);
			return 0;
		}
	}
	return -EBADMSG;
}

/* Checks a descriptor from the queue and makes @msg of it. */
static int deliver(struct shmipc_chan *ch, const struct shmipc_desc *d,
		   struct shmipc_msg *msg)
{
	uint32_t size = d->size & ~SHMIPC_DESC_INLINE;
	bool inl = d->size & SHMIPC_DESC_INLINE;
	uint64_t off = inl ? 0 : d->offset;
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
		payload_put(shm, off);
		goto bad;
	}
	msg->size = size;
	msg->type = d->type;
	msg->sender = d->sender;
	msg->seq = d->seq;
	msg->timestamp_ns = d->timestamp_ns;
	msg->offset = off;
	msg->shm = shm;
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
static int pop_msg(struct shmipc_chan *ch, struct shmipc_desc *d)
{
	int err;

	do
		err = pop(ch, d);
	while (!err && !d->offset && !(d->size & SHMIPC_DESC_INLINE));	/* skips */
	if (!err && ch->mode != SHMIPC_CHAN_BROADCAST)
		ev_signal(ch->shm, &ch->c->not_full, 1);
	return err;
}

SHMIPC_API int shmipc_recv(struct shmipc_chan *ch, struct shmipc_msg *msg,
			   int timeout_ms)
{
	struct shmipc_chan_ctl *c;
	struct shmipc_desc d;
	int64_t deadline;
	int err, i;

	if (!ch || !msg)
		return -EINVAL;
	c = ch->c;
	err = pop_msg(ch, &d);
	for (i = 0; err == -EAGAIN && timeout_ms && i < ch->spin; i++) {
		cpu_relax();
		err = pop_msg(ch, &d);
	}
	deadline = deadline_of(timeout_ms);
	while (err == -EAGAIN && timeout_ms) {
		uint32_t e = ev_prepare(&c->not_empty);

		err = pop_msg(ch, &d);
		if (err != -EAGAIN) {
			ev_cancel(&c->not_empty);
			break;
		}
		err = ev_wait(ch->shm, &c->not_empty, e, deadline);
		if (err)
			return err;
		err = pop_msg(ch, &d);
	}
	return err ? err : deliver(ch, &d, msg);
}

SHMIPC_API int shmipc_msg_ref(struct shmipc_msg *msg)
{
	_Atomic uint32_t *refs;

	if (!msg || !msg->shm)
		return -EINVAL;
	if (!msg->offset)	/* inline: the caller's copy is its own */
		return 0;
	refs = shmipc_block_refs(msg->shm, msg->offset);
	if (!refs)
		return -EBADMSG;
	atomic_fetch_add_explicit(refs, 1, memory_order_relaxed);
	return 0;
}

SHMIPC_API int shmipc_msg_release(struct shmipc_msg *msg)
{
	if (!msg || !msg->shm)
		return -EINVAL;
	return payload_put(msg->shm, msg->offset);
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

			if (atomic_load(&c->subs[i].pid)) {
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
