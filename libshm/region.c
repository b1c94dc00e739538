// SPDX-License-Identifier: MIT
/*
 * Regions: picking a backend, mapping, the claimed initialization of the
 * layout, the process-local handle, and the futex lock whose holder is
 * known so that a dead holder can be detected.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define PID_LIMIT		4194304u	/* PID_MAX_LIMIT on 64-bit */
#define DEFAULT_SIZE		(1u << 20)
#define DEFAULT_REGISTRY	64u
#define MAX_REGISTRY		65536u
#define MIN_HEAP		4096u
#define LOCK_POLL_NS		5000000		/* re-check a holder's life (posix) */
#define INIT_POLL_NS		10000000

#define ALIGN_UP(x, a)		(((x) + (a) - 1) & ~((uint64_t)(a) - 1))

/*
 * The caller's pid, which every lock acquisition records: cached, since
 * getpid() is a system call in glibc, and dropped in a fork()ed child.
 * (A child made by a raw clone() that bypasses the atfork handlers must not
 * use handles inherited from its parent.)
 */
static _Atomic uint32_t cached_pid;

static void forget_pid(void)
{
	atomic_store_explicit(&cached_pid, 0, memory_order_relaxed);
}

__attribute__((constructor)) static void register_atfork(void)
{
	pthread_atfork(NULL, NULL, forget_pid);
}

uint32_t shmipc_self_pid(void)
{
	uint32_t pid = atomic_load_explicit(&cached_pid, memory_order_relaxed);

	if (!pid) {
		pid = (uint32_t)getpid();
		atomic_store_explicit(&cached_pid, pid, memory_order_relaxed);
	}
	return pid;
}

int64_t shmipc_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * A pid is alive while signal 0 reaches it (EPERM: it exists, owned by
 * another user). Pid reuse and pid namespaces are not told apart here.
 */
bool shmipc_pid_alive(uint32_t pid)
{
	if (!pid || pid > PID_LIMIT)
		return false;
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

/*
 * shmipc_lock_acquire() - take a region lock, taking it over from a dead
 * holder. *recovered tells the caller to repair what the lock protects.
 *
 * The word holds the holder's peer token, plus SHMIPC_LOCK_WAITERS while
 * someone may sleep on it. Release exchanges it with 0 and wakes one sleeper only if the
 * bit was set. A sleeper that wakes takes the lock with the bit set, since it
 * cannot know whether others still sleep (Drepper, "Futexes are tricky",
 * mutex 3). A holder killed while others sleep is noticed: its token stays
 * in the word, found dead (peer.c), and one contender wins the compare-and-
 * swap from that exact value. With the kmod backend the module wakes the
 * sleepers at the death (the death count is read before the holder's life
 * is looked at, so a death in between ends the sleep at once); with posix,
 * sleeps are bounded by LOCK_POLL_NS. A holder
 * that is alive but keeps the lock past the handle's lock timeout gives
 * -ETIMEDOUT.
 */
int shmipc_lock_acquire(struct shmipc *shm, struct shmipc_lock *lock,
			bool *recovered)
{
	int64_t deadline = 0;
	uint32_t me, take;
	int err;

	*recovered = false;
	err = shmipc_self(shm, &me);
	if (err)
		return err;
	take = me;
	for (;;) {
		uint32_t v = 0, deaths;
		int64_t now;

		if (atomic_compare_exchange_strong_explicit(&lock->word, &v, take,
							    memory_order_acquire,
							    memory_order_relaxed))
			return 0;
		deaths = shm->ops->deaths(shm);
		if (!shmipc_peer_alive(shm, v & ~SHMIPC_LOCK_WAITERS)) {
			if (atomic_compare_exchange_strong_explicit(
				    &lock->word, &v, me | (v & SHMIPC_LOCK_WAITERS),
				    memory_order_acquire, memory_order_relaxed)) {
				*recovered = true;
				shmipc_death_seen(shm);
				return 0;
			}
			continue;
		}
		if (!(v & SHMIPC_LOCK_WAITERS)) {
			uint32_t w = v | SHMIPC_LOCK_WAITERS;

			if (!atomic_compare_exchange_strong_explicit(
				    &lock->word, &v, w, memory_order_relaxed,
				    memory_order_relaxed))
				continue;
			v = w;
		}
		/*
		 * A live holder that keeps the lock past the timeout is stopped,
		 * or the word is garbage naming some live process: give up.
		 */
		now = shmipc_now_ns();
		if (!deadline)
			deadline = now + (int64_t)shm->lock_timeout_ms * 1000000;
		else if (now >= deadline)
			return -ETIMEDOUT;
		shm->ops->wait(shm, &lock->word, v, now + LOCK_POLL_NS, &deaths);
		take = me | SHMIPC_LOCK_WAITERS;
	}
}

void shmipc_lock_release(struct shmipc *shm, struct shmipc_lock *lock)
{
	if (atomic_exchange_explicit(&lock->word, 0, memory_order_release) &
	    SHMIPC_LOCK_WAITERS)
		shm->ops->wake(shm, &lock->word, 1);
}

/* 1 to 63 printable ASCII bytes other than '/' and space. */
int shmipc_name_check(const char *name)
{
	size_t len, i;

	if (!name)
		return -EINVAL;
	len = strnlen(name, 64);
	if (!len || len == 64)
		return -EINVAL;
	for (i = 0; i < len; i++)
		if ((unsigned char)name[i] < 0x21 || (unsigned char)name[i] > 0x7e ||
		    name[i] == '/')
			return -EINVAL;
	return 0;
}

static int pick_backend(enum shmipc_backend b,
			const struct shmipc_backend_ops **ops)
{
	const char *env;

	if (b == SHMIPC_BACKEND_AUTO) {
		env = getenv("SHMIPC_BACKEND");
		if (env && *env) {
			if (!strcmp(env, "kmod"))
				b = SHMIPC_BACKEND_KMOD;
			else if (!strcmp(env, "posix"))
				b = SHMIPC_BACKEND_POSIX;
			else
				return -EINVAL;	/* unknown backend name */
		} else {
			b = access("/dev/shmipc", F_OK) ? SHMIPC_BACKEND_POSIX :
							  SHMIPC_BACKEND_KMOD;
		}
	}
	switch (b) {
	case SHMIPC_BACKEND_KMOD:
		*ops = &shmipc_backend_kmod;
		return 0;
	case SHMIPC_BACKEND_POSIX:
		*ops = &shmipc_backend_posix;
		return 0;
	default:
		return -EINVAL;
	}
}

/* Lays the region out; runs in the one process that claimed it. */
static int region_initialize(struct shmipc *shm, unsigned int registry_cap)
{
	struct shmipc_hdr *hdr = shm->hdr;
	uint64_t ctl_off = ALIGN_UP(sizeof(*hdr), 64);
	uint64_t peers_off = ALIGN_UP(ctl_off + sizeof(struct shmipc_heap_ctl), 64);
	uint64_t reg_off = peers_off + SHMIPC_PEERS * sizeof(struct shmipc_peer_rec);
	uint64_t heap_off = ALIGN_UP(reg_off + sizeof(struct shmipc_reg_hdr) +
				     (uint64_t)registry_cap *
				     sizeof(struct shmipc_reg_entry), 64);
	int err;

	if (heap_off + MIN_HEAP > shm->size)
		return -EINVAL;
	/* A previous claimer may have died half-way: start from zero. */
	hdr->magic = 0;
	hdr->version = 0;
	memset(&hdr->size, 0, sizeof(*hdr) - offsetof(struct shmipc_hdr, size));
	memset(shm->base + ctl_off, 0, heap_off - ctl_off);
	hdr->size = shm->size;
	hdr->heap_ctl_off = ctl_off;
	hdr->registry_off = reg_off;
	hdr->registry_capacity = registry_cap;
	hdr->heap_off = heap_off;
	hdr->heap_size = shm->size - heap_off;
	shm->heap = (struct shmipc_heap_ctl *)(shm->base + ctl_off);
	err = shmipc_heap_init(shm, heap_off, shm->size - heap_off);
	if (err)
		return err;
	shmipc_registry_init(shm, reg_off, registry_cap);
	shmipc_peers_init(shm, peers_off);
	hdr->version = SHMIPC_LAYOUT_VERSION;
	hdr->magic = SHMIPC_HDR_MAGIC;
	/* Publish: everything above happens-before a reader's acquire of READY. */
	atomic_store_explicit(&hdr->state, SHMIPC_STATE_READY, memory_order_release);
	shm->ops->wake(shm, &hdr->state, UINT32_MAX);
	return 0;
}

/* Reads the header once, checks every field, caches the offsets. */
static int region_validate(struct shmipc *shm)
{
	const struct shmipc_hdr *hdr = shm->hdr;
	uint64_t magic = hdr->magic, size = hdr->size;
	uint64_t ctl = hdr->heap_ctl_off, heap = hdr->heap_off;
	uint64_t reg = hdr->registry_off, heap_size = hdr->heap_size;
	uint64_t peers = hdr->peers_off;
	uint32_t version = hdr->version, cap = hdr->registry_capacity;
	uint32_t npeers = hdr->peers_capacity;
	int err;

	if (magic != SHMIPC_HDR_MAGIC)
		return -EPROTO;
	if (version != SHMIPC_LAYOUT_VERSION)
		return -EPROTONOSUPPORT;
	if (size != shm->size || ctl % 64 || heap % 64 ||
	    ctl < sizeof(*hdr) || ctl > size - sizeof(struct shmipc_heap_ctl) ||
	    peers < ctl + sizeof(struct shmipc_heap_ctl) || reg < peers ||
	    reg > heap ||
	    heap > size || heap_size != size - heap || cap > MAX_REGISTRY)
		return -EPROTO;
	shm->heap = (struct shmipc_heap_ctl *)(shm->base + ctl);
	shm->heap_off = heap;
	shm->heap_end = size;
	err = shmipc_peers_validate(shm, peers, reg, npeers);
	if (!err)
		err = shmipc_registry_validate(shm, reg, heap, cap);
	return err ? err : shmipc_heap_validate(shm);
}

/*
 * Of many processes opening a new region at once, exactly one initializes:
 * the one whose compare-and-swap moves the state word from FRESH to its
 * pid. The others sleep on the word until it reads READY. A claimer that
 * dies leaves its pid there; whoever sees that pid dead claims it in turn.
 */
static int region_attach(struct shmipc *shm, unsigned int registry_cap,
			 unsigned int timeout_ms)
{
	int64_t deadline = shmipc_now_ns() + (int64_t)timeout_ms * 1000000;
	uint32_t me = shmipc_self_pid();

	for (;;) {
		uint32_t st = atomic_load_explicit(&shm->hdr->state,
						   memory_order_acquire);
		int64_t now;

		if (st == SHMIPC_STATE_READY)
			return region_validate(shm);
		if (st > PID_LIMIT)
			return -EPROTO;		/* not a shmipc region */
		if (st == SHMIPC_STATE_FRESH || !shmipc_pid_alive(st)) {
			if (atomic_compare_exchange_strong(&shm->hdr->state, &st, me)) {
				int err = region_initialize(shm, registry_cap);

				if (err)	/* let another try */
					atomic_store(&shm->hdr->state, SHMIPC_STATE_FRESH);
				return err ? err : region_validate(shm);
			}
			continue;
		}
		now = shmipc_now_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		shm->ops->wait(shm, &shm->hdr->state, st,
			       now + INIT_POLL_NS < deadline ? now + INIT_POLL_NS : deadline,
			       NULL);
	}
}

SHMIPC_API int shmipc_open(const char *name, const struct shmipc_options *opts,
			   struct shmipc **out)
{
	struct shmipc_options o = { 0 };
	struct shmipc *shm;
	size_t size = 0;
	bool created;
	unsigned int i;
	int err;

	if (!out)
		return -EINVAL;
	*out = NULL;
	err = shmipc_name_check(name);
	if (err)
		return err;
	if (opts)
		o = *opts;
	for (i = 0; i < sizeof(o.reserved) / sizeof(o.reserved[0]); i++)
		if (o.reserved[i])
			return -EINVAL;
	if (o.flags & ~(SHMIPC_OPEN_CREATE | SHMIPC_OPEN_EXCL |
			SHMIPC_OPEN_AUTO_CHANNELS) ||
	    ((o.flags & SHMIPC_OPEN_EXCL) && !(o.flags & SHMIPC_OPEN_CREATE)) ||
	    o.mode > 0777 || o.registry_capacity > MAX_REGISTRY)
		return -EINVAL;
	if (!o.size)
		o.size = DEFAULT_SIZE;
	if (!o.mode)
		o.mode = 0600;
	if (!o.registry_capacity)
		o.registry_capacity = DEFAULT_REGISTRY;
	if (!o.init_timeout_ms)
		o.init_timeout_ms = 5000;
	if (!o.lock_timeout_ms)
		o.lock_timeout_ms = 10000;

	shm = calloc(1, sizeof(*shm));
	if (!shm)
		return -ENOMEM;
	pthread_mutex_init(&shm->refs_lock, NULL);
	err = pick_backend(o.backend, &shm->ops);
	if (err)
		goto free_handle;
	strcpy(shm->name, name);
	shm->lock_timeout_ms = o.lock_timeout_ms;
	shm->flags = o.flags;
	err = shm->ops->open(name, o.size, o.mode, o.flags, &shm->fd, &size,
			     &created);
	if (err)
		goto free_handle;
	if (size < sizeof(struct shmipc_hdr)) {
		err = -EPROTO;
		goto close_fd;
	}
	shm->size = size;
	shm->base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
			 shm->fd, 0);
	if (shm->base == MAP_FAILED) {
		err = -errno;
		goto close_fd;
	}
	shm->hdr = (struct shmipc_hdr *)shm->base;
	err = region_attach(shm, o.registry_capacity, o.init_timeout_ms);
	if (err)
		goto unmap;
	err = shmipc_peer_attach(shm);
	if (err)
		goto detach;
	*out = shm;
	return 0;

detach:
	shm->ops->detach(shm);
unmap:
	munmap(shm->base, size);
close_fd:
	close(shm->fd);
	if (created && err)	/* nobody else can have a use for it yet */
		shm->ops->unlink(name);
free_handle:
	free(shm);
	return err;
}

SHMIPC_API void shmipc_close(struct shmipc *shm)
{
	if (!shm)
		return;
	shmipc_chan_close_named(shm);
	shmipc_peer_detach(shm);
	shm->ops->detach(shm);
	munmap(shm->base, shm->size);
	close(shm->fd);
	free(shm->extra);
	free(shm);
}

SHMIPC_API int shmipc_unlink(const char *name, enum shmipc_backend backend)
{
	const struct shmipc_backend_ops *ops;
	int err = shmipc_name_check(name);

	if (!err)
		err = pick_backend(backend, &ops);
	return err ? err : ops->unlink(name);
}

SHMIPC_API const char *shmipc_default_backend(void)
{
	const struct shmipc_backend_ops *ops;

	return pick_backend(SHMIPC_BACKEND_AUTO, &ops) ? NULL : ops->name;
}

SHMIPC_API const char *shmipc_backend_name(const struct shmipc *shm)
{
	return shm->ops->name;
}

SHMIPC_API size_t shmipc_size(const struct shmipc *shm)
{
	return shm->size;
}

SHMIPC_API void *shmipc_base(const struct shmipc *shm)
{
	return shm->base;
}

SHMIPC_API void *shmipc_ptr(const struct shmipc *shm, uint64_t off, size_t len)
{
	if (off > shm->size || len > shm->size - off)
		return NULL;
	return shm->base + off;
}

SHMIPC_API int shmipc_offset(const struct shmipc *shm, const void *ptr,
			     uint64_t *off)
{
	const unsigned char *p = ptr;

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
		return "Not a shmipc region, or its header is corrupted";
	case EPROTONOSUPPORT:
		return "Region layout version not supported";
	case EFAULT:
		return "Corrupted shared data, or an offset outside the region";
	case EUSERS:
		return "Too many peers attached to the region (or endpoints on the channel)";
	case EOWNERDEAD:
		return "A peer of the region died";
	}
	s = err < 0 ? strerrordesc_np(-err) : NULL;
	return s ? s : "Unknown error";
}
