// SPDX-License-Identifier: MIT
/*
 * The API edge: every public call enters and leaves libshm here, and only
 * here. On the way in: arguments are checked (a NULL handle or out pointer
 * is -EINVAL, never a crash), and a fork()ed child that calls into a handle
 * it inherited becomes a peer of its own first (peer.c) and adopts the
 * channel handle it uses (channel.c). On the way out: a reclaim that came
 * due during the call (a lock taken over from a dead holder, a death
 * wake-up, a dead subscriber met) runs (reclaim.c). No lower layer does
 * either.
 *
 * Handles. A region handle may be used by several threads at once, except
 * that shmipc_close() must not run alongside any other call on it or its
 * channels. A channel handle's calls may run in several threads at once,
 * except that an SPSC handle has one sending and one receiving thread at a
 * time, and shmipc_chan_close() runs alone. shmipc_close() gives back what
 * the handle holds (its channels' endpoints, subscriptions and
 * reservations, messages not released, its peer slot) and never removes a
 * named buffer or channel; channel handles it leaves open become inert
 * (their calls give -EBADF) until shmipc_chan_close() frees them.
 *
 * A message names its region handle, which is checked against the live
 * handles of the process before anything of it is read, so releasing a
 * struct that no recv filled is -EINVAL, not a wild read.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define DEFAULT_SIZE		(1u << 20)
#define DEFAULT_REGISTRY	64u
#define MAX_HANDLES		1024u
#define KNOWN_OPEN_FLAGS	(SHMIPC_OPEN_CREATE | SHMIPC_OPEN_EXCL | \
				 SHMIPC_OPEN_AUTO_CHANNELS)

/* The region handles open in this process. */
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static struct shmipc *_Atomic live[MAX_HANDLES];
static _Atomic unsigned int live_hi;

/* Re-attaching after fork(): one thread at a time. */
static pthread_mutex_t reattach_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void)
{
	pthread_mutex_lock(&reattach_mu);
	pthread_mutex_lock(&live_mu);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&live_mu);
	pthread_mutex_unlock(&reattach_mu);
}

static void fork_child(void)
{
	pthread_mutex_unlock(&live_mu);
	pthread_mutex_unlock(&reattach_mu);
}

/* Once per process: the kinds register their hooks and reclaim passes. */
static void lib_init(void)
{
	shmipc_endpoint_init();
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

static int live_add(struct shmipc *shm)
{
	unsigned int i;
	int err = -EMFILE;

	pthread_mutex_lock(&live_mu);
	for (i = 0; i < MAX_HANDLES; i++)
		if (!atomic_load(&live[i])) {
			atomic_store(&live[i], shm);
			if (i >= atomic_load(&live_hi))
				atomic_store(&live_hi, i + 1);
			err = 0;
			break;
		}
	pthread_mutex_unlock(&live_mu);
	return err;
}

static bool live_del(struct shmipc *shm)
{
	unsigned int i, hi;
	bool found = false;

	pthread_mutex_lock(&live_mu);
	hi = atomic_load(&live_hi);
	for (i = 0; i < hi; i++)
		if (atomic_load(&live[i]) == shm) {
			atomic_store(&live[i], NULL);
			found = true;
			break;
		}
	pthread_mutex_unlock(&live_mu);
	return found;
}

/* Is @shm a region handle open in this process? Reads no byte of it. */
static bool live_has(const struct shmipc *shm)
{
	unsigned int i, hi = atomic_load_explicit(&live_hi, memory_order_acquire);

	for (i = 0; shm && i < hi; i++)
		if (atomic_load_explicit(&live[i], memory_order_relaxed) == shm)
			return true;
	return false;
}

/*
 * A fork()ed child's first call on @shm: the child's handle starts with
 * none of the parent's local state (held messages, locks of its mutexes)
 * and becomes a peer of its own; a dead predecessor in its new slot is
 * reclaimed at once.
 */
static int reattach(struct shmipc *shm)
{
	uint32_t pred = 0;
	int err = 0;

	pthread_mutex_lock(&reattach_mu);
	if (shm->pid != shmipc_self_pid()) {
		pthread_mutex_init(&shm->mu, NULL);
		shmipc_held_reset(shm);		/* the parent's messages */
		err = shmipc_peer_attach(shm, true, &pred);
	}
	pthread_mutex_unlock(&reattach_mu);
	if (!err && pred)
		shmipc_reclaim_token(shm, pred);
	return err;
}

static inline int enter(struct shmipc *shm)
{
	if (__builtin_expect(shm->pid == shmipc_self_pid(), 1))
		return 0;
	return reattach(shm);
}

static inline void leave(struct shmipc *shm)
{
	if (atomic_load_explicit(&shm->reclaim_due, memory_order_relaxed))
		shmipc_reclaim_run(shm);
}

/* A call on channel handle @ch: -EBADF once its region handle closed. */
static inline int chan_enter(struct shmipc_chan *ch)
{
	int err;

	if (!ch->shm)
		return -EBADF;
	err = enter(ch->shm);
	if (err || __builtin_expect(ch->token == ch->shm->token, 1))
		return err;
	return shmipc_ch_adopt(ch);
}

/* ---- regions ---- */

static int open_options(const struct shmipc_options *opts, struct shmipc_options *o)
{
	unsigned int i;

	memset(o, 0, sizeof(*o));
	if (opts)
		*o = *opts;
	for (i = 0; i < sizeof(o->reserved) / sizeof(o->reserved[0]); i++)
		if (o->reserved[i])
			return -EINVAL;
	if (o->flags & ~KNOWN_OPEN_FLAGS ||
	    ((o->flags & SHMIPC_OPEN_EXCL) && !(o->flags & SHMIPC_OPEN_CREATE)) ||
	    o->mode > 0777 || o->registry_capacity > SHMIPC_REG_MAX)
		return -EINVAL;
	if (!o->size)
		o->size = DEFAULT_SIZE;
	if (!o->mode)
		o->mode = 0600;
	if (!o->registry_capacity)
		o->registry_capacity = DEFAULT_REGISTRY;
	if (!o->init_timeout_ms)
		o->init_timeout_ms = 5000;
	if (!o->lock_timeout_ms)
		o->lock_timeout_ms = 10000;
	if (o->lock_timeout_ms > INT32_MAX)
		o->lock_timeout_ms = INT32_MAX;
	return 0;
}

/* The new region's parts, laid out by the process holding the claim. */
static int initialize(struct shmipc *shm, uint32_t registry_cap)
{
	struct shmipc_parts p;
	int err = shmipc_region_layout(shm, registry_cap, &p);

	if (!err) {
		shmipc_peers_init(shm, &p);
		err = shmipc_heap_init(shm, &p);
	}
	if (!err)
		shmipc_registry_init(shm, &p);
	shmipc_region_publish(shm, !err);
	return err;
}

static int validate(struct shmipc *shm)
{
	struct shmipc_parts p;
	int err = shmipc_region_validate(shm, &p);

	if (!err)
		err = shmipc_peers_validate(shm, &p);
	if (!err)
		err = shmipc_registry_validate(shm, &p);
	if (!err)
		err = shmipc_heap_validate(shm, &p);
	return err;
}

SHMIPC_API int shmipc_open(const char *name, const struct shmipc_options *opts,
			   struct shmipc **out)
{
	struct shmipc_options o;
	struct shmipc *shm;
	bool created = false;
	uint32_t pred;
	int err;

	if (!out)
		return -EINVAL;
	*out = NULL;
	err = shmipc_name_check(name);
	if (!err)
		err = open_options(opts, &o);
	if (err)
		return err;
	pthread_once(&init_once, lib_init);

	shm = calloc(1, sizeof(*shm));
	if (!shm)
		return -ENOMEM;
	shm->fd = -1;
	shm->lock_fd = -1;
	pthread_mutex_init(&shm->mu, NULL);
	shmipc_held_init(shm);
	err = shmipc_backend_pick(o.backend, &shm->ops);
	if (err)
		goto free_handle;
	strcpy(shm->name, name);
	shm->lock_timeout_ms = o.lock_timeout_ms;
	shm->flags = o.flags;
	err = shmipc_region_map(shm, name, o.size, o.mode, o.flags, &created);
	if (err)
		goto free_handle;
	err = shmipc_region_claim(shm, o.init_timeout_ms);
	if (err == 1)
		err = initialize(shm, o.registry_capacity);
	if (!err)
		err = validate(shm);
	if (!err)
		err = shmipc_peer_attach(shm, false, &pred);
	if (err)
		goto unmap;
	err = live_add(shm);
	if (err)
		goto detach;
	if (pred)
		shmipc_reclaim_token(shm, pred);
	shmipc_reclaim_run(shm);
	*out = shm;
	return 0;

detach:
	shmipc_peer_detach(shm);
unmap:
	shmipc_region_unmap(shm);
	if (created)	/* nobody else can have a use for it yet */
		shm->ops->unlink(name);
free_handle:
	shmipc_held_fini(shm);
	pthread_mutex_destroy(&shm->mu);
	free(shm);
	return err;
}

static void chan_free(struct shmipc_chan *ch)
{
	pthread_mutex_destroy(&ch->mu);
	free(ch->resv);
	free(ch);
}

/* Takes @ch off its region handle's list, giving back nothing shared. */
static void chan_unlist(struct shmipc *shm, struct shmipc_chan *ch)
{
	struct shmipc_chan **p;

	pthread_mutex_lock(&shm->mu);
	for (p = &shm->chans; *p; p = &(*p)->next)
		if (*p == ch) {
			*p = ch->next;
			break;
		}
	pthread_mutex_unlock(&shm->mu);
}

/* What @ch holds goes back, if this process is the one it holds it for. */
static void chan_detach(struct shmipc *shm, struct shmipc_chan *ch, bool mine)
{
	if (mine && ch->token == shm->token)
		shmipc_ch_detach(ch);
	else	/* a fork()ed child's copy it never used */
		chan_unlist(shm, ch);
}

SHMIPC_API void shmipc_close(struct shmipc *shm)
{
	struct shmipc_chan *ch;
	bool mine;

	if (!shm || !live_del(shm))
		return;
	mine = shm->pid == shmipc_self_pid();
	while ((ch = shm->named)) {	/* send_to's handles are the region handle's */
		shm->named = ch->next_named;
		chan_detach(shm, ch, mine);
		chan_free(ch);
	}
	while ((ch = shm->chans)) {	/* the caller's: inert until it closes them */
		chan_detach(shm, ch, mine);
		ch->shm = NULL;
	}
	if (mine) {	/* a fork()ed child's copy changes nothing shared */
		shmipc_held_release_all(shm);
		shmipc_reclaim_self(shm);
		shmipc_peer_detach(shm);
	}
	shmipc_region_unmap(shm);
	shmipc_held_fini(shm);
	pthread_mutex_destroy(&shm->mu);
	free(shm);
}

SHMIPC_API int shmipc_unlink(const char *name, enum shmipc_backend backend)
{
	const struct shmipc_backend_ops *ops;
	int err = shmipc_name_check(name);

	if (!err)
		err = shmipc_backend_pick(backend, &ops);
	return err ? err : ops->unlink(name);
}

SHMIPC_API const char *shmipc_default_backend(void)
{
	const struct shmipc_backend_ops *ops;

	return shmipc_backend_pick(SHMIPC_BACKEND_AUTO, &ops) ? NULL : ops->name;
}

SHMIPC_API const char *shmipc_backend_name(const struct shmipc *shm)
{
	return shm ? shm->ops->name : NULL;
}

SHMIPC_API size_t shmipc_size(const struct shmipc *shm)
{
	return shm ? shm->size : 0;
}

SHMIPC_API void *shmipc_base(const struct shmipc *shm)
{
	return shm ? shm->base : NULL;
}

SHMIPC_API void *shmipc_ptr(const struct shmipc *shm, uint64_t off, size_t len)
{
	return shm ? shmipc_span(shm, off, len) : NULL;
}

SHMIPC_API int shmipc_offset(const struct shmipc *shm, const void *ptr,
			     uint64_t *off)
{
	const unsigned char *p = ptr;

	if (!shm || !off)
		return -EINVAL;
	if (p < shm->base || p >= shm->base + shm->size)
		return -EFAULT;
	*off = (uint64_t)(p - shm->base);
	return 0;
}

SHMIPC_API const char *shmipc_strerror(int err)
{
	const char *s;

	switch (-err) {
	case 0:
		return "Success";
	case EPROTO:
		return "Not a shmipc region, or its header is corrupted or records "
		       "another size (truncated?)";
	case EPROTONOSUPPORT:
		return "Region layout version not supported";
	case EFAULT:
		return "Corrupted shared data, or an offset outside the region";
	case EUSERS:
		return "Too many peers attached to the region (or endpoints on the channel)";
	case EOWNERDEAD:
		return "A peer of the region died";
	case EPERM:
		return "Operation not permitted: the region is another user's, or "
		       "writable by others beyond the mode asked";
	case EBADF:
		return "The handle was closed (or its region handle was)";
	case EBADMSG:
		return "Corrupted message or queue in the region";
	}
	s = err < 0 ? strerrordesc_np(-err) : NULL;
	return s ? s : "Unknown error";
}

/* ---- the heap ---- */

SHMIPC_API int shmipc_alloc(struct shmipc *shm, size_t size, uint64_t *off)
{
	int err;

	if (!shm || !off)
		return -EINVAL;
	err = enter(shm);
	if (!err)
		err = shmipc_block_alloc(shm, size, TLSF_ALIGN, SHMIPC_OWN_PLAIN, off);
	leave(shm);
	return err;
}

SHMIPC_API int shmipc_alloc_aligned(struct shmipc *shm, size_t size,
				    size_t align, uint64_t *off)
{
	int err;

	if (!shm || !off || !align)
		return -EINVAL;
	err = enter(shm);
	if (!err)
		err = shmipc_block_alloc(shm, size, align, SHMIPC_OWN_PLAIN, off);
	leave(shm);
	return err;
}

SHMIPC_API int shmipc_free(struct shmipc *shm, uint64_t off)
{
	int err;

	if (!shm)
		return -EINVAL;
	err = enter(shm);
	if (!err)
		err = shmipc_heap_free(shm, off);
	leave(shm);
	return err;
}

SHMIPC_API int shmipc_alloc_size(struct shmipc *shm, uint64_t off, size_t *size)
{
	int err;

	if (!shm || !size)
		return -EINVAL;
	err = enter(shm);
	if (!err)
		err = shmipc_heap_size(shm, off, size);
	leave(shm);
	return err;
}

SHMIPC_API int shmipc_heap_stats(struct shmipc *shm, struct shmipc_heap_stats *st)
{
	int err;

	if (!shm || !st)
		return -EINVAL;
	err = enter(shm);
	if (!err)
		err = shmipc_heap_stats_get(shm, st);
	leave(shm);
	return err;
}

SHMIPC_API int shmipc_heap_check(struct shmipc *shm)
{
	int err;

	if (!shm)
		return -EINVAL;
	err = enter(shm);
	if (!err)
		err = shmipc_heap_verify(shm);
	leave(shm);
	return err;
}

/* ---- the registry ---- */

SHMIPC_API int shmipc_buffer_create(struct shmipc *shm, const char *name,
				    uint32_t kind, size_t size,
				    struct shmipc_buffer *out)
{
	int err;

	if (!shm || !out || kind == SHMIPC_KIND_CHANNEL)
		return -EINVAL;
	err = enter(shm);
	if (!err)
		err = shmipc_registry_create(shm, name, kind, size, TLSF_ALIGN, 2,
					     NULL, NULL, out);
	leave(shm);
	return err;
}

static int lookup(struct shmipc *shm, const char *name, struct shmipc_buffer *out,
		  bool take)
{
	int err;

	if (!shm || !out)
		return -EINVAL;
	err = enter(shm);
	if (!err)
		err = shmipc_registry_lookup(shm, name, out, take);
	leave(shm);
	return err;
}

SHMIPC_API int shmipc_buffer_find(struct shmipc *shm, const char *name,
				  struct shmipc_buffer *out)
{
	return lookup(shm, name, out, false);
}

SHMIPC_API int shmipc_buffer_take(struct shmipc *shm, const char *name,
				  struct shmipc_buffer *out)
{
	return lookup(shm, name, out, true);
}

SHMIPC_API int shmipc_buffer_release(struct shmipc *shm,
				     const struct shmipc_buffer *buf)
{
	int err;

	if (!shm || !buf)
		return -EINVAL;
	err = enter(shm);
	if (!err)
		err = shmipc_registry_release(shm, buf);
	leave(shm);
	return err;
}

static int remove_entry(struct shmipc *shm, const char *name, uint32_t kind)
{
	int err;

	if (!shm)
		return -EINVAL;
	err = enter(shm);
	if (!err)
		err = shmipc_registry_remove(shm, name, kind);
	leave(shm);
	return err;
}

SHMIPC_API int shmipc_buffer_remove(struct shmipc *shm, const char *name)
{
	return remove_entry(shm, name, 0);
}

SHMIPC_API int shmipc_chan_remove(struct shmipc *shm, const char *name)
{
	return remove_entry(shm, name, SHMIPC_KIND_CHANNEL);
}

static int list_entries(struct shmipc *shm, uint32_t kind, bool any,
			struct shmipc_buffer *bufs, unsigned int cap,
			unsigned int *total)
{
	int err;

	if (!shm || (cap && !bufs))
		return -EINVAL;
	err = enter(shm);
	if (!err)
		err = shmipc_registry_list(shm, kind, any, bufs, cap, total);
	leave(shm);
	return err;
}

SHMIPC_API int shmipc_buffer_list(struct shmipc *shm, struct shmipc_buffer *bufs,
				  unsigned int cap, unsigned int *total)
{
	return list_entries(shm, 0, true, bufs, cap, total);
}

SHMIPC_API int shmipc_chan_list(struct shmipc *shm, struct shmipc_buffer *bufs,
				unsigned int cap, unsigned int *total)
{
	return list_entries(shm, SHMIPC_KIND_CHANNEL, false, bufs, cap, total);
}

/* ---- channels ---- */

SHMIPC_API int shmipc_chan_open(struct shmipc *shm, const char *name,
				const struct shmipc_chan_options *opts,
				struct shmipc_chan **out)
{
	int err;

	if (!shm || !out)
		return -EINVAL;
	*out = NULL;
	err = enter(shm);
	if (!err)
		err = shmipc_ch_open(shm, name, opts, out);
	leave(shm);
	return err;
}

SHMIPC_API void shmipc_chan_close(struct shmipc_chan *ch)
{
	struct shmipc *shm;

	if (!ch)
		return;
	shm = ch->shm;
	if (shm) {
		chan_detach(shm, ch, shm->pid == shmipc_self_pid());
		leave(shm);
	}
	chan_free(ch);
}

SHMIPC_API int shmipc_chan_stats(struct shmipc_chan *ch,
				 struct shmipc_chan_stats *st)
{
	int err;

	if (!ch || !st)
		return -EINVAL;
	err = chan_enter(ch);
	if (!err)
		err = shmipc_ch_stats(ch, st);
	if (ch->shm)
		leave(ch->shm);
	return err;
}

SHMIPC_API int shmipc_send_to(struct shmipc *shm, const char *name,
			      const void *data, size_t size, uint32_t type,
			      int timeout_ms)
{
	int err;

	if (!shm || (size && !data))
		return -EINVAL;
	err = shmipc_name_check(name);
	if (!err)
		err = enter(shm);
	if (!err)
		err = shmipc_ch_send_to(shm, name, data, size, type, timeout_ms);
	leave(shm);
	return err;
}

SHMIPC_API int shmipc_send(struct shmipc_chan *ch, const void *data, size_t size,
			   uint32_t type, int timeout_ms)
{
	int err;

	if (!ch || (size && !data))
		return -EINVAL;
	err = chan_enter(ch);
	if (!err)
		err = shmipc_ch_send(ch, data, size, type, timeout_ms);
	if (ch->shm)
		leave(ch->shm);
	return err;
}

SHMIPC_API int shmipc_reserve(struct shmipc_chan *ch, size_t size,
			      struct shmipc_resv *r)
{
	int err;

	if (!ch || !r)
		return -EINVAL;
	err = chan_enter(ch);
	if (!err)
		err = shmipc_ch_reserve(ch, size, r);
	if (ch->shm)
		leave(ch->shm);
	return err;
}

SHMIPC_API int shmipc_commit(struct shmipc_chan *ch, struct shmipc_resv *r,
			     uint32_t type, int timeout_ms)
{
	int err;

	if (!ch || !r)
		return -EINVAL;
	err = chan_enter(ch);
	if (!err)
		err = shmipc_ch_commit(ch, r, type, timeout_ms);
	if (ch->shm)
		leave(ch->shm);
	return err;
}

SHMIPC_API int shmipc_abort(struct shmipc_chan *ch, struct shmipc_resv *r)
{
	int err;

	if (!ch || !r)
		return -EINVAL;
	err = chan_enter(ch);
	if (!err)
		err = shmipc_ch_abort(ch, r);
	if (ch->shm)
		leave(ch->shm);
	return err;
}

SHMIPC_API int shmipc_recv(struct shmipc_chan *ch, struct shmipc_msg *msg,
			   int timeout_ms)
{
	int err;

	if (!ch || !msg)
		return -EINVAL;
	err = chan_enter(ch);
	if (!err)
		err = shmipc_ch_recv(ch, msg, timeout_ms);
	if (ch->shm)
		leave(ch->shm);
	return err;
}

/* ---- messages ---- */

SHMIPC_API int shmipc_msg_ref(struct shmipc_msg *msg)
{
	int err;

	if (!msg || !live_has(msg->shm))
		return -EINVAL;
	err = enter(msg->shm);
	return err ? err : shmipc_held_ref(msg->shm, msg);
}

SHMIPC_API int shmipc_msg_release(struct shmipc_msg *msg)
{
	struct shmipc *shm;
	int err;

	if (!msg || !live_has(msg->shm))
		return -EINVAL;		/* never received, or its handle closed */
	shm = msg->shm;
	err = enter(shm);
	if (!err)
		err = shmipc_held_release(shm, msg);
	leave(shm);
	return err;
}

/* ---- peers and process death ---- */

SHMIPC_API uint32_t shmipc_peer_id(struct shmipc *shm)
{
	return shm && !enter(shm) ? shm->token : 0;
}

SHMIPC_API int shmipc_peers(struct shmipc *shm, struct shmipc_peer_info *peers,
			    unsigned int cap, unsigned int *total)
{
	int err;

	if (!shm || (cap && !peers))
		return -EINVAL;
	err = enter(shm);
	if (!err)
		err = shmipc_reclaim_peers(shm, peers, cap, total);
	leave(shm);
	return err;
}

SHMIPC_API int shmipc_reclaim(struct shmipc *shm)
{
	int err;

	if (!shm)
		return -EINVAL;
	err = enter(shm);
	return err ? err : shmipc_reclaim_run(shm);
}

SHMIPC_API int shmipc_reclaim_stats(struct shmipc *shm,
				    struct shmipc_reclaim_stats *st)
{
	if (!shm || !st)
		return -EINVAL;
	shmipc_reclaim_stats_get(shm, st);
	return 0;
}

SHMIPC_API int shmipc_peer_watch(struct shmipc *shm, int timeout_ms)
{
	int err;

	if (!shm)
		return -EINVAL;
	err = enter(shm);
	return err ? err : shmipc_reclaim_watch(shm, timeout_ms);
}

SHMIPC_API int shmipc_on_peer_death(struct shmipc *shm, shmipc_death_fn fn,
				    void *arg)
{
	if (!shm)
		return -EINVAL;
	pthread_mutex_lock(&shm->mu);
	shm->on_death = fn;
	shm->on_death_arg = arg;
	pthread_mutex_unlock(&shm->mu);
	return 0;
}
