/* SPDX-License-Identifier: MIT */
/*
 * libshm: shared-memory IPC on shmipc regions.
 *
 * A region is opened by name through a backend (the /dev/shmipc kernel
 * module, or POSIX shm_open + futex). Everything stored in a region is an
 * offset from its start, never a pointer, so every process may map it at a
 * different address. A struct shmipc is a process-local handle. Closing it
 * gives back what the handle holds in the region (its channels' endpoints,
 * subscriptions and reservations, messages it received and did not
 * release, its peer slot) and never removes a named buffer or channel.
 *
 * Every function returning int returns 0 (or a count) on success and a
 * negative errno value on failure; shmipc_strerror() describes it. A NULL
 * handle or out pointer is -EINVAL.
 *
 * The region is written by every peer: libshm reads each shared value once,
 * checks it and bounds every loop and wait, so a region corrupted by a buggy
 * or hostile peer makes calls fail (-EFAULT, -EBADMSG, -EPROTO, -ETIMEDOUT),
 * never crash or hang them. One thing a posix region cannot be protected
 * against: a peer with write access that truncates the object later makes
 * the others fault (SIGBUS); it is refused at open, and the kmod backend,
 * whose region sizes the kernel fixes, rules it out.
 *
 * Threads. A struct shmipc may be used by several threads at once, except
 * that shmipc_close() must not run alongside any other call on it or on its
 * channel handles. A struct shmipc_chan too, except that on an SPSC channel
 * one thread at a time sends and one receives, and shmipc_chan_close() runs
 * alone. A struct shmipc_msg is released once, by one thread (a second
 * release is -EINVAL). shmipc_msg_ref()/release() and shmipc_send_to() may
 * run in any thread.
 *
 * fork(). A child that uses a handle it inherited becomes a peer of its own
 * on its first call. What the parent held stays the parent's: its
 * reservations, spsc sides and received messages (the child cannot release
 * them: -EINVAL). A broadcast subscription is owned by exactly one process:
 * it moves to the child at the child's first call on the handle (subscribe,
 * then fork the reader), after which the parent's receives on that handle
 * give -ENOTCONN. A child that never uses an inherited handle changes
 * nothing shared when it closes it.
 */
#ifndef LIBSHM_H
#define LIBSHM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct shmipc;

enum shmipc_backend {
	SHMIPC_BACKEND_AUTO = 0,	/* $SHMIPC_BACKEND, else kmod if /dev/shmipc exists, else posix */
	SHMIPC_BACKEND_KMOD = 1,
	SHMIPC_BACKEND_POSIX = 2,
};

/* struct shmipc_options.flags */
#define SHMIPC_OPEN_CREATE	0x1u	/* create the region when it does not exist */
#define SHMIPC_OPEN_EXCL	0x2u	/* with CREATE: fail with -EEXIST when it exists */
#define SHMIPC_OPEN_AUTO_CHANNELS 0x4u	/* shmipc_send_to() creates missing channels */

struct shmipc_options {
	size_t size;			/* bytes, when creating, rounded up to pages
					 * (default 1 MiB); with CREATE, an existing
					 * smaller region gives -EINVAL */
	enum shmipc_backend backend;
	unsigned int flags;		/* SHMIPC_OPEN_* */
	unsigned int mode;		/* permission bits when creating (default 0600) */
	unsigned int registry_capacity;	/* named entries, when creating (default 64) */
	unsigned int init_timeout_ms;	/* waiting for another initializer (default 5000) */
	unsigned int lock_timeout_ms;	/* waiting for a live lock holder (default 10000) */
	unsigned int reserved[4];	/* must be zero */
};

/*
 * Opens region @name. With SHMIPC_OPEN_CREATE, a region that already exists
 * is used only if it is the caller's and gives nobody else write access
 * beyond @mode: one another user created (who could read every message) is
 * -EPERM. Without it, the caller trusts whoever created the name. A posix
 * region smaller than its header says (truncated) is -EPROTO.
 */

int shmipc_open(const char *name, const struct shmipc_options *opts,
		struct shmipc **out);
void shmipc_close(struct shmipc *shm);
int shmipc_unlink(const char *name, enum shmipc_backend backend);
const char *shmipc_strerror(int err);
const char *shmipc_backend_name(const struct shmipc *shm);
/* "kmod" or "posix": what SHMIPC_BACKEND_AUTO picks now; NULL if the
 * environment names an unknown backend. */
const char *shmipc_default_backend(void);

/* The region's bytes, and the conversions between offsets and addresses. */
size_t shmipc_size(const struct shmipc *shm);
void *shmipc_base(const struct shmipc *shm);
/* NULL unless [off, off + len) lies inside the region. */
void *shmipc_ptr(const struct shmipc *shm, uint64_t off, size_t len);
/* -EFAULT unless ptr points into this handle's mapping. */
int shmipc_offset(const struct shmipc *shm, const void *ptr, uint64_t *off);

/* The heap: a TLSF allocator in the region, shared by every process. */
struct shmipc_heap_stats {
	uint64_t total;		/* bytes the heap manages */
	uint64_t free;		/* payload bytes free */
	uint64_t largest_free;	/* largest single free payload */
	uint64_t allocations;	/* successful allocations, ever */
	uint64_t failures;	/* allocations that failed, ever */
	uint64_t used_blocks;	/* blocks in use now */
	uint64_t recoveries;	/* heap locks taken over from a dead holder */
};

int shmipc_alloc(struct shmipc *shm, size_t size, uint64_t *off);
int shmipc_alloc_aligned(struct shmipc *shm, size_t size, size_t align,
			 uint64_t *off);
int shmipc_free(struct shmipc *shm, uint64_t off);
/* The usable size of an allocated block. */
int shmipc_alloc_size(struct shmipc *shm, uint64_t off, size_t *size);
int shmipc_heap_stats(struct shmipc *shm, struct shmipc_heap_stats *st);
/* Walks every block and list: 0 when consistent, -EFAULT when not. */
int shmipc_heap_check(struct shmipc *shm);

/*
 * The registry: named blocks of the heap that any process can find. A name
 * holds one reference; create and take give the caller one more, which it
 * gives back with release. remove drops the name's; the memory returns to
 * the heap when the last reference goes. find looks without taking one.
 */
#define SHMIPC_BUFFER_NAME_MAX	64	/* with the NUL */

enum shmipc_buffer_state {
	SHMIPC_BUFFER_LIVE = 1,		/* named */
	SHMIPC_BUFFER_REMOVED = 2,	/* unnamed, still referenced */
};

struct shmipc_buffer {
	char name[SHMIPC_BUFFER_NAME_MAX];
	uint32_t kind;			/* the creator's tag */
	uint32_t creator_pid;
	uint64_t offset;		/* of the data, in the region */
	uint64_t size;			/* bytes asked for */
	uint32_t refs;
	uint32_t state;			/* enum shmipc_buffer_state */
	uint64_t id;			/* names this buffer's slot and generation */
};

int shmipc_buffer_create(struct shmipc *shm, const char *name, uint32_t kind,
			 size_t size, struct shmipc_buffer *out);
int shmipc_buffer_find(struct shmipc *shm, const char *name,
		       struct shmipc_buffer *out);
int shmipc_buffer_take(struct shmipc *shm, const char *name,
		       struct shmipc_buffer *out);
int shmipc_buffer_release(struct shmipc *shm, const struct shmipc_buffer *buf);
int shmipc_buffer_remove(struct shmipc *shm, const char *name);
/* Fills up to @cap entries; returns how many, *total gets how many exist. */
int shmipc_buffer_list(struct shmipc *shm, struct shmipc_buffer *bufs,
		       unsigned int cap, unsigned int *total);

/*
 * Channels: a named queue of message descriptors in the region. Payloads
 * live in the heap; a message's reference count is in its heap block, so
 * the payload is freed when the last holder releases it.
 */
enum shmipc_chan_mode {
	SHMIPC_CHAN_SPSC = 1,		/* one sender, one receiver */
	SHMIPC_CHAN_MPMC = 2,		/* any number of each */
	SHMIPC_CHAN_BROADCAST = 3,	/* every subscriber gets every message */
};

/* struct shmipc_chan_options.flags */
#define SHMIPC_CHAN_CREATE	0x1u	/* create the channel when missing */
#define SHMIPC_CHAN_CRC32C	0x2u	/* creating: messages carry a CRC32C, checked on receive */
#define SHMIPC_CHAN_DROP_OLDEST	0x4u	/* creating, broadcast: a slow subscriber loses the oldest */
#define SHMIPC_CHAN_SUBSCRIBE	0x8u	/* broadcast: this handle receives (from now on) */

#define SHMIPC_MAX_SUBSCRIBERS	32

struct shmipc_chan_options {
	enum shmipc_chan_mode mode;	/* creating (default mpmc); opening: 0 or
					 * the mode it has, else -EINVAL */
	unsigned int capacity;		/* creating: descriptors, a power of two (default 1024) */
	unsigned int flags;		/* SHMIPC_CHAN_* */
	int spin;			/* polls before sleeping (default 2000, -1 for none) */
	unsigned int reserved[4];	/* must be zero */
};

struct shmipc_chan;

/* A received message: a view into the region, valid until released. */
struct shmipc_msg {
	void *data;
	size_t size;
	uint32_t type;
	uint32_t sender;		/* pid */
	uint64_t seq;			/* per channel */
	uint64_t timestamp_ns;		/* CLOCK_MONOTONIC at send */
	uint64_t offset;		/* of data in the region; 0 when inline */
	struct shmipc *shm;
	uint32_t holder;		/* broadcast: subscriber index + 1; inline:
					 * its extra references; else 0 */
	uint32_t ticket;		/* names it to its handle (checked by release) */
	/* Payloads of up to 64 bytes travel in the descriptor and are copied
	 * here: then data points into this struct, so do not move it. */
	unsigned char inline_data[64];
};

/* A zero-copy reservation: write size bytes at data, then commit or abort. */
struct shmipc_resv {
	void *data;
	size_t size;
	uint64_t offset;
};

struct shmipc_chan_stats {
	uint64_t msgs_in, bytes_in;	/* sent */
	uint64_t msgs_out, bytes_out;	/* received */
	uint64_t depth;			/* queued now (broadcast: the slowest subscriber's backlog) */
	uint64_t full;			/* sends that found the queue full */
	uint64_t overruns;		/* broadcast drop-oldest: messages a subscriber lost */
	uint64_t bad;			/* corrupted descriptors or payloads met */
	uint32_t capacity, mode, flags, subscribers;
	uint32_t waiters;		/* asleep now, senders and receivers */
	uint32_t last_sender, last_receiver;	/* pids */
	uint32_t pad;
};

/*
 * Timeouts are in milliseconds: 0 never waits, a negative value waits for
 * ever; whatever the region holds, no call waits past its timeout.
 * Messages are at most 2 GiB - 1 bytes. Errors: -EAGAIN empty, -ENOSPC
 * queue full, -ENOMEM heap full, -ETIMEDOUT, -ENOENT unknown channel,
 * -EMSGSIZE too large, -EBADMSG a corrupted descriptor or payload, -EINVAL
 * wrong mode or argument, -EBADF a channel handle whose region handle was
 * closed (only shmipc_chan_close() is left to do on it), -ENOTCONN a
 * subscription that moved to a fork()ed child.
 */
int shmipc_chan_open(struct shmipc *shm, const char *name,
		     const struct shmipc_chan_options *opts,
		     struct shmipc_chan **out);
void shmipc_chan_close(struct shmipc_chan *ch);
int shmipc_chan_remove(struct shmipc *shm, const char *name);
int shmipc_chan_stats(struct shmipc_chan *ch, struct shmipc_chan_stats *st);
/* The channels of the region, as registry entries; like shmipc_buffer_list(). */
int shmipc_chan_list(struct shmipc *shm, struct shmipc_buffer *bufs,
		     unsigned int cap, unsigned int *total);

/*
 * Sends on the channel @name through a handle the region handle keeps in a
 * table by name (opened on first use, closed by shmipc_close()). With
 * SHMIPC_OPEN_AUTO_CHANNELS a missing channel is created (mpmc, default
 * capacity); without, it is -ENOENT.
 */
int shmipc_send_to(struct shmipc *shm, const char *name, const void *data,
		   size_t size, uint32_t type, int timeout_ms);

int shmipc_send(struct shmipc_chan *ch, const void *data, size_t size,
		uint32_t type, int timeout_ms);
int shmipc_reserve(struct shmipc_chan *ch, size_t size, struct shmipc_resv *r);
/* Sends r->size bytes (at most the size reserved); on failure the
 * reservation stays open. */
int shmipc_commit(struct shmipc_chan *ch, struct shmipc_resv *r, uint32_t type,
		  int timeout_ms);
int shmipc_abort(struct shmipc_chan *ch, struct shmipc_resv *r);
int shmipc_recv(struct shmipc_chan *ch, struct shmipc_msg *msg, int timeout_ms);
/*
 * Another reference on a received message (release it as often); kept in
 * the process. The last release gives the message back. Releasing a message
 * twice, or a struct recv never filled, is -EINVAL and frees nothing. (A
 * message of up to 64 bytes is a copy that holds nothing in the region: it
 * counts its references in its own struct, and a copy of the struct is
 * the caller's.)
 */
int shmipc_msg_ref(struct shmipc_msg *msg);
int shmipc_msg_release(struct shmipc_msg *msg);

static inline int shmipc_try_recv(struct shmipc_chan *ch, struct shmipc_msg *msg)
{
	return shmipc_recv(ch, msg, 0);
}

static inline const void *shmipc_msg_data(const struct shmipc_msg *m) { return m->data; }
static inline size_t shmipc_msg_size(const struct shmipc_msg *m) { return m->size; }
static inline uint32_t shmipc_msg_type(const struct shmipc_msg *m) { return m->type; }
static inline uint64_t shmipc_msg_seq(const struct shmipc_msg *m) { return m->seq; }
static inline uint32_t shmipc_msg_sender(const struct shmipc_msg *m) { return m->sender; }
static inline uint64_t shmipc_msg_timestamp(const struct shmipc_msg *m) { return m->timestamp_ns; }

/*
 * Peers and process death. Every handle is a peer of its region, named by a
 * token: with the kmod backend the module's attachment (a death is seen
 * when the process's region file goes, for any reason, at once); with the
 * posix backend a slot of the region's peer table whose byte lock (an open
 * file description lock the kernel drops when the process dies) the handle
 * holds. Neither looks at pid numbers, so peers in other pid namespaces are
 * judged correctly, and a live peer is never taken for dead.
 *
 * The region records, in shared memory, which peer holds each lock, each
 * reservation, each received but unreleased message, each channel
 * endpoint and subscription. When a peer dies, the next process to notice
 * (any libshm call that meets what it held, shmipc_reclaim(), or
 * shmipc_peer_watch()) reclaims it: locks are taken over, reserved blocks
 * freed, held messages released, a message it was taking out of a queue
 * delivered again, its endpoints and subscriptions removed.
 *
 * A fork()ed child that uses a handle it inherited becomes a peer of its
 * own on its first call (re-attaching at the same address); what the
 * parent held stays the parent's (see the top).
 */
struct shmipc_peer_info {
	uint32_t id;			/* token */
	uint32_t pid;
	uint32_t alive;			/* 0: dead, not yet reclaimed */
	uint32_t self;			/* this handle */
	uint64_t attached_ns;		/* when it became a peer, CLOCK_REALTIME */
	uint32_t locks;			/* region and channel locks held now */
	uint32_t endpoints;		/* channels open, subscriptions, spsc sides */
	uint64_t reserved_bytes;	/* payload blocks reserved, not sent */
	uint64_t held_msgs;		/* received, not released */
	uint64_t held_bytes;
};

struct shmipc_reclaim_stats {
	uint64_t peers_died;		/* dead peers reclaimed, ever */
	uint64_t bytes_reclaimed;	/* heap bytes they held, given back */
	uint64_t msgs_reclaimed;	/* messages they held or had not read, released */
	uint64_t msgs_redelivered;	/* messages they were taking, queued again */
	uint64_t slots_repaired;	/* queue slots they had claimed, repaired */
};

/* This handle's token. */
uint32_t shmipc_peer_id(struct shmipc *shm);
/* Fills up to @cap entries, one per peer; returns how many, *total all. */
int shmipc_peers(struct shmipc *shm, struct shmipc_peer_info *peers,
		 unsigned int cap, unsigned int *total);
/* Reclaims every dead peer now; returns how many. */
int shmipc_reclaim(struct shmipc *shm);
int shmipc_reclaim_stats(struct shmipc *shm, struct shmipc_reclaim_stats *st);
/*
 * Waits until a peer dies and has been reclaimed (one that died before the
 * call and was not reclaimed yet counts too), or the timeout: returns how
 * many did (counted by this call; a peer that closes is not a death), or
 * -ETIMEDOUT. kmod: woken by the module at the death;
 * posix: by the dead process's pidfd when it is in the caller's pid
 * namespace, else within 5 ms.
 */
int shmipc_peer_watch(struct shmipc *shm, int timeout_ms);
/*
 * Called, in the thread that reclaims, for every dead peer this handle
 * reclaims; NULL removes it. It must not call into this region.
 */
typedef void (*shmipc_death_fn)(struct shmipc *shm, uint32_t peer, uint32_t pid,
				void *arg);
int shmipc_on_peer_death(struct shmipc *shm, shmipc_death_fn fn, void *arg);

#ifdef __cplusplus
}
#endif

#endif /* LIBSHM_H */
