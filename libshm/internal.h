/* SPDX-License-Identifier: MIT */
/*
 * libshm internals: the process-local handles, the region layout, and each
 * layer's functions, in layer order from the bottom (docs/design.md has the
 * map; a file calls only the sections above its own). Nothing here is
 * exported. The rules for reading the region are in shared.h.
 *
 * Region layout (every reference inside is an offset from its start):
 *
 *   0                 struct shmipc_hdr        magic, version, init state,
 *                                              part offsets, reclaim lock
 *                                              and statistics
 *   hdr->heap_ctl_off struct shmipc_heap_ctl   TLSF lists, bitmaps, lock
 *   hdr->peers_off    struct shmipc_peer_rec[] the peer table (peer.c)
 *   hdr->registry_off registry table           (capacity fixed at creation)
 *   hdr->heap_off     heap blocks              up to the end of the region
 */
#ifndef LIBSHM_INTERNAL_H
#define LIBSHM_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "libshm.h"
#include "shared.h"

#define SHMIPC_API __attribute__((visibility("default")))

struct shmipc_chan;

/* ---- backend_kmod.c, backend_posix.c: how a handle reaches its region ---- */

struct shmipc_backend_ops {
	const char *name;
	/* Does a peer's death wake death waiters (kmod)? Else they poll. */
	bool death_wakeups;
	/*
	 * Opens or creates the region: sets shm->fd and shm->size (and the
	 * backend's own state). With CREATE, a region that already existed is
	 * adopted only if the caller owns it and no one else may write it
	 * beyond @mode (-EPERM otherwise). *@created tells which.
	 */
	int (*open)(struct shmipc *shm, const char *name, size_t size,
		    unsigned int mode, unsigned int flags, bool *created);
	void (*close)(struct shmipc *shm);
	int (*unlink)(const char *name);
	/*
	 * Futex semantics on @word; @deadline_ns absolute CLOCK_MONOTONIC, 0
	 * none. With @deaths, a peer's death also ends the wait, with
	 * -EOWNERDEAD, as does a death count other than *@deaths (kmod only).
	 */
	int (*wait)(struct shmipc *shm, _Atomic uint32_t *word, uint32_t expected,
		    int64_t deadline_ns, const uint32_t *deaths);
	int (*wake)(struct shmipc *shm, _Atomic uint32_t *word, uint32_t count);
	/*
	 * The claim on initializing a new region (region.c): -EBUSY while
	 * another process holds it, else 0 and the id to store in the state
	 * word; init_alive() tells whether that id's holder still lives.
	 */
	int (*init_claim)(struct shmipc *shm, uint32_t *id);
	bool (*init_alive)(struct shmipc *shm, uint32_t id);
	void (*init_done)(struct shmipc *shm);
	/*
	 * Becomes a peer: *@token is kmod's attachment, or posix's locked slot
	 * with generation @gen. @again: a fork()ed child replacing what it
	 * inherited.
	 */
	int (*attach)(struct shmipc *shm, bool again, uint32_t gen, uint32_t *token);
	void (*detach)(struct shmipc *shm);
	/* Is @token alive? @recorded: the token its peer-table slot holds. */
	bool (*alive)(struct shmipc *shm, uint32_t token, uint32_t recorded);
	/* The death count death waits compare with (kmod), or 0. */
	uint32_t (*deaths)(struct shmipc *shm);
	/*
	 * Sleeps until a peer may have died (kmod: the death count is no
	 * longer @deaths), @word moves from @expected, or @deadline (0: none).
	 * @pids: processes whose exit is worth a wake-up (posix; a hint only:
	 * life is decided by alive()).
	 */
	int (*watch)(struct shmipc *shm, _Atomic uint32_t *word, uint32_t expected,
		     uint32_t deaths, const uint32_t *pids, unsigned int npids,
		     int64_t deadline);
};

extern const struct shmipc_backend_ops shmipc_backend_kmod;
extern const struct shmipc_backend_ops shmipc_backend_posix;

/* ---- the layout's shared structures ---- */

#define SHMIPC_HDR_MAGIC	0x31435049484d53ULL	/* "SMHIPC1" */
#define SHMIPC_LAYOUT_VERSION	3u
#define SHMIPC_STATE_FRESH	0u
#define SHMIPC_STATE_READY	0xffffffffu	/* else: the initializer's claim id */

/**
 * struct shmipc_lock - a futex lock in the region whose holder is known
 * @word:	0 when free, else the holder's token, with SHMIPC_LOCK_WAITERS
 *		set while someone may sleep on it
 */
struct shmipc_lock {
	_Atomic uint32_t word;
	uint32_t pad;
};
#define SHMIPC_LOCK_WAITERS	0x80000000u

struct shmipc_hdr {
	uint64_t magic;
	uint32_t version;
	_Atomic uint32_t state;
	uint64_t size;
	uint64_t heap_ctl_off;
	uint64_t registry_off;
	uint64_t heap_off;
	uint64_t heap_size;
	uint32_t registry_capacity;
	uint32_t peers_capacity;
	uint64_t peers_off;
	_Atomic uint32_t peer_gen;	/* posix tokens' generations */
	_Atomic uint32_t watch;		/* bumped after a reclaim; watchers sleep on it */
	struct shmipc_lock reclaim_lock;
	/* Reclaim statistics (struct shmipc_reclaim_stats). */
	_Atomic uint64_t peers_died;
	_Atomic uint64_t bytes_reclaimed;
	_Atomic uint64_t msgs_reclaimed;
	_Atomic uint64_t msgs_redelivered;
	_Atomic uint64_t slots_repaired;
	uint64_t reserved[4];
};

/*
 * One peer table entry. @idpid is (pid << 32 | token), or 0 when free, so
 * that a slot is claimed, and named, by one compare-and-swap. @pidns is the
 * peer's pid namespace (the inode of /proc/self/ns/pid, or 0): a watcher in
 * the same namespace may use the pid as a wake-up hint. @deaths counts the
 * dead peers reclaimed from this slot, so that a watcher tells a death from
 * a close.
 */
struct shmipc_peer_rec {
	_Atomic uint64_t idpid;
	_Atomic uint64_t pidns;
	_Atomic uint64_t attached_ns;	/* CLOCK_REALTIME */
	_Atomic uint32_t deaths;
	uint32_t pad;
	uint64_t reserved[4];
};
_Static_assert(sizeof(struct shmipc_peer_rec) == 64, "peer record is a cache line");

/* TLSF geometry: 16-byte granules, 32 second-level lists per power of two. */
#define TLSF_ALIGN_LOG2		4
#define TLSF_ALIGN		(1u << TLSF_ALIGN_LOG2)
#define TLSF_SL_LOG2		5
#define TLSF_SL_COUNT		(1u << TLSF_SL_LOG2)
#define TLSF_FL_SHIFT		(TLSF_SL_LOG2 + TLSF_ALIGN_LOG2)
#define TLSF_FL_MAX		40	/* heaps below 1 TiB */
#define TLSF_FL_COUNT		(TLSF_FL_MAX - TLSF_FL_SHIFT + 1)
#define TLSF_SMALL		(1u << TLSF_FL_SHIFT)

struct shmipc_heap_ctl {
	uint32_t magic;
	uint32_t pad;
	struct shmipc_lock lock;
	uint64_t heap_off;
	uint64_t heap_size;
	uint32_t fl_bitmap;
	uint32_t sl_bitmap[TLSF_FL_COUNT];
	uint64_t heads[TLSF_FL_COUNT][TLSF_SL_COUNT];
	uint64_t free_bytes;
	uint64_t used_blocks;
	uint64_t allocations;
	uint64_t failures;
	uint64_t recoveries;
};
#define SHMIPC_HEAP_MAGIC	0x48454150u	/* "HEAP" */

/* The registry: a header, then registry_capacity fixed-size entries. */
#define SHMIPC_REG_MAGIC	0x52454731u	/* "REG1" */
#define SHMIPC_REG_MAX		65536u

struct shmipc_reg_hdr {
	uint32_t magic;
	uint32_t capacity;
	struct shmipc_lock lock;
	uint64_t generation;		/* bumped on every create */
	uint64_t reserved[5];
};

/*
 * Entry states. A slot is FREE, or LIVE (named, findable), or REMOVED
 * (name gone, memory kept until the last reference is released).
 */
#define SHMIPC_REG_FREE		0u
#define SHMIPC_REG_LIVE		1u
#define SHMIPC_REG_REMOVED	2u

struct shmipc_reg_entry {
	/*
	 * State (high half) and references (low half: the name's, plus one
	 * per taker) in one word, so that each change is one store.
	 */
	_Atomic uint64_t state_refs;
	uint32_t kind;
	uint32_t creator;		/* pid */
	uint64_t offset;		/* payload of the heap block */
	uint64_t size;
	uint64_t generation;		/* tells a reused slot from the old */
	char name[64];
	uint64_t reserved[3];
};
_Static_assert(sizeof(struct shmipc_reg_entry) == 128, "registry entry is 128 bytes");

/* Messaging (queue.c, channel.c). */
#define SHMIPC_CACHELINE	64
#define SHMIPC_KIND_CHANNEL	0x4e414843u	/* "CHAN" */
#define SHMIPC_CHAN_MAGIC	0x4348414eu
#define SHMIPC_MAX_CAPACITY	(1u << 20)

/*
 * A message descriptor, copied through the queues. Payloads of up to
 * SHMIPC_INLINE_MAX bytes travel inside it (size has SHMIPC_DESC_INLINE):
 * no heap block, no reference count. Otherwise offset names the heap block;
 * offset 0 without the inline bit is a skipped slot.
 */
#define SHMIPC_INLINE_MAX	64
#define SHMIPC_DESC_INLINE	0x80000000u

struct shmipc_desc {
	uint64_t offset;
	uint32_t size;
	uint32_t type;
	uint64_t seq;
	uint64_t timestamp_ns;
	uint32_t sender;
	uint32_t crc;
	unsigned char data[SHMIPC_INLINE_MAX];
};

/* An event count: sleepers register in waiters, wakers bump epoch (event.c). */
struct shmipc_evcount {
	_Atomic uint32_t epoch;
	_Atomic uint32_t waiters;
};

struct shmipc_spsc_slot {		/* padded: neighbours do not share a line */
	struct shmipc_desc d;
	unsigned char pad[24];
};

/*
 * An MPMC slot's sequence word: a position, or a claim (queue.c): the top
 * bit, the READING bit for a consumer's claim, the claimer's token, and the
 * low 32 bits of the claimed position.
 */
#define SHMIPC_Q_CLAIMED	(1ull << 63)
#define SHMIPC_Q_READING	(1ull << 62)
#define SHMIPC_Q_TOKEN(seq)	((uint32_t)((seq) >> 32) & (SHMIPC_TOKEN_LIMIT - 1))

struct shmipc_mpmc_slot {
	_Atomic uint64_t seq;
	uint64_t pad[2];
	struct shmipc_desc d;
};

struct shmipc_bcast_slot {
	_Atomic uint64_t seq;
	struct shmipc_desc d;
};

/* A subscriber's peer word: its token, with SUB_DEAD once found dead. */
#define SHMIPC_SUB_DEAD		0x80000000u

struct shmipc_sub {
	_Atomic uint64_t cursor;	/* next sequence to read */
	_Atomic uint32_t peer;		/* 0: the slot is free */
	uint32_t pad;
	uint64_t reserved[6];
};

/* Processes with a channel open, each (handles << 32 | token); 0: free. */
#define SHMIPC_MAX_ENDPOINTS	64

struct shmipc_chan_ctl {
	uint32_t magic;
	uint32_t pad0;
	uint32_t mode;
	uint32_t capacity;
	uint32_t flags;
	uint32_t slot_size;
	_Atomic uint32_t tx_peer;	/* spsc: the sending peer, or 0 */
	_Atomic uint32_t rx_peer;	/* spsc: the receiving peer, or 0 */
	uint64_t reserved0[4];
	/*
	 * The queue indices alone on their lines: the other side polls them,
	 * so nothing else written per message may share them.
	 */
	_Alignas(SHMIPC_CACHELINE) _Atomic uint64_t tail;
	_Alignas(SHMIPC_CACHELINE) _Atomic uint64_t head;
	/* Written by senders. */
	_Alignas(SHMIPC_CACHELINE) _Atomic uint64_t next_seq;
	_Atomic uint64_t msgs_in, bytes_in, full;
	_Atomic uint32_t last_sender;
	/* Written by receivers. */
	_Alignas(SHMIPC_CACHELINE) _Atomic uint64_t msgs_out;
	_Atomic uint64_t bytes_out, overruns, bad;
	_Atomic uint32_t last_receiver;
	_Alignas(SHMIPC_CACHELINE) struct shmipc_evcount not_empty;
	_Alignas(SHMIPC_CACHELINE) struct shmipc_evcount not_full;
	_Alignas(SHMIPC_CACHELINE) struct shmipc_lock bcast_lock;
	/* Broadcast publish journal, under bcast_lock (broadcast.c). */
	uint64_t pub_pos, pub_off;
	uint32_t pub_peer, pad1;
	_Alignas(SHMIPC_CACHELINE) struct shmipc_sub subs[SHMIPC_MAX_SUBSCRIBERS];
	_Atomic uint64_t eps[SHMIPC_MAX_ENDPOINTS];
	/* capacity slots follow */
};

_Static_assert(sizeof(struct shmipc_mpmc_slot) == 128, "mpmc slot is two cache lines");
_Static_assert(sizeof(struct shmipc_spsc_slot) == 128, "spsc slot is two cache lines");
_Static_assert(sizeof(struct shmipc_sub) == 64, "subscriber is a cache line");
_Static_assert(sizeof(struct shmipc_chan_ctl) % SHMIPC_CACHELINE == 0, "slots start on a line");

/* ---- the process-local handles ---- */

/* Received messages this handle holds (message.c). */
struct shmipc_held_ent {
	_Atomic uint64_t state;		/* generation << 32 | references; 0 refs: free */
	_Atomic uint64_t off;		/* payload, 0 for an inline message */
	_Atomic uint32_t holder;	/* broadcast subscriber + 1, or 0 */
	_Atomic uint32_t next_free;	/* free list link: index + 1 */
};
#define SHMIPC_HELD_CHUNK	1024u
#define SHMIPC_HELD_CHUNKS	64u	/* a handle holds at most 65536 messages */

struct shmipc_held {
	uint64_t secret;		/* keys inline messages' seals */
	pthread_mutex_t grow;		/* adding a chunk */
	struct shmipc_held_ent *_Atomic chunk[SHMIPC_HELD_CHUNKS];
	_Atomic uint32_t nchunks;
	_Atomic uint64_t free_head;	/* tag << 32 | (index + 1); 0: none */
};

struct shmipc {
	/* Backend state (backend_*.c). */
	const struct shmipc_backend_ops *ops;
	int fd;				/* the region's file */
	int lock_fd;			/* posix: the liveness locks' file description */
	uint64_t dev, ino;		/* posix: the object, to open it again */
	const void *status;		/* kmod: the module's status page */
	uint32_t attach_id;		/* kmod: the attachment's token; posix: the slot locked */
	struct shmipc *next_posix;	/* posix: every posix handle (fork) */

	/* The mapping, with a guard page on each side (region.c). */
	unsigned char *base;
	size_t size;
	void *map;
	size_t map_len;

	/* Geometry, read and validated once at open (shared.h, rule 3). */
	struct shmipc_hdr *hdr;
	struct shmipc_heap_ctl *heap;
	uint64_t heap_off, heap_end;
	struct shmipc_peer_rec *peers;
	struct shmipc_reg_hdr *reg;
	struct shmipc_reg_entry *entries;
	uint32_t reg_capacity;

	/* This process as a peer (peer.c). */
	uint32_t token;
	uint32_t pid;			/* the process @token is for */
	_Atomic bool reclaim_due;	/* a dead peer was seen */

	unsigned int lock_timeout_ms;
	unsigned int flags;		/* SHMIPC_OPEN_* it was opened with */
	char name[64];

	/* Local tables (api.c, channel.c, message.c). */
	pthread_mutex_t mu;		/* chans, named */
	struct shmipc_chan *chans;	/* every open channel handle */
	struct shmipc_chan *named;	/* shmipc_send_to()'s, by name */
	struct shmipc_held held;
	shmipc_death_fn on_death;
	void *on_death_arg;
};

/* A zero-copy reservation this channel handle has open. */
struct shmipc_resv_rec {
	uint64_t off;
	size_t size;
};

/* The channel handle (channel.c; broadcast.c and endpoint.c read it). */
struct shmipc_spsc_cache {
	uint64_t head, tail;	/* this side's copies of the other side's index */
};

struct shmipc_chan {
	struct shmipc *shm;			/* NULL once shmipc_close() orphaned it */
	struct shmipc_chan *next;		/* in shm->chans */
	struct shmipc_chan *next_named;		/* in shm->named */
	struct shmipc_chan_ctl *c;
	void *slots;
	const struct shmipc_queue_ops *q;	/* spsc, mpmc; NULL for broadcast */
	uint32_t mode, capacity, flags;		/* checked at open (rule 3) */
	uint32_t tag;				/* shmipc_registry_tag() */
	uint32_t token;				/* the peer whose endpoint this is */
	int spin;
	int sub;				/* broadcast subscriber slot, or -1 */
	uint32_t want_mode;			/* opening: the mode asked, or 0 */
	bool tx, rx;				/* spsc: this handle holds that side */
	struct shmipc_spsc_cache k;
	struct shmipc_buffer buf;		/* the registry entry */
	pthread_mutex_t mu;			/* resv, suspects */
	uint64_t suspects[4];			/* read claims met when last idle */
	unsigned int nsuspects;
	struct shmipc_resv_rec *resv;		/* open reservations */
	unsigned int nresv, resv_cap;
};

/* Rule 2: the address of [off, off + len) if it lies inside the mapping. */
static inline void *shmipc_span(const struct shmipc *shm, uint64_t off, uint64_t len)
{
	return shm_range_ok(off, len, 0, shm->size) ? shm->base + off : NULL;
}

/* ---- region.c: backend choice, the mapping, the header, the init claim ---- */

/* Where the parts go: sizes in, offsets out (shmipc_region_layout()). */
struct shmipc_parts {
	uint64_t heap_ctl_off, heap_ctl_len;
	uint64_t peers_off, peers_len;
	uint64_t registry_off, registry_len;
	uint64_t heap_off, heap_size;
	uint32_t registry_capacity, peers_capacity;
};

int shmipc_backend_pick(enum shmipc_backend b, const struct shmipc_backend_ops **ops);
int shmipc_name_check(const char *name);
int shmipc_region_map(struct shmipc *shm, const char *name, size_t size,
		      unsigned int mode, unsigned int flags, bool *created);
void shmipc_region_unmap(struct shmipc *shm);
int shmipc_region_claim(struct shmipc *shm, unsigned int timeout_ms);
int shmipc_region_layout(struct shmipc *shm, uint32_t registry_capacity,
			 struct shmipc_parts *p);
void shmipc_region_publish(struct shmipc *shm, bool ok);
int shmipc_region_validate(struct shmipc *shm, struct shmipc_parts *p);

/* ---- peer.c: identity and liveness ---- */

extern _Atomic uint32_t shmipc_cached_pid;
uint32_t shmipc_self_pid_slow(void);

/* The caller's pid, cached (dropped in a fork()ed child by an atfork handler). */
static inline uint32_t shmipc_self_pid(void)
{
	uint32_t pid = atomic_load_explicit(&shmipc_cached_pid, memory_order_relaxed);

	return __builtin_expect(pid != 0, 1) ? pid : shmipc_self_pid_slow();
}
void shmipc_peers_init(struct shmipc *shm, const struct shmipc_parts *p);
int shmipc_peers_validate(struct shmipc *shm, const struct shmipc_parts *p);
int shmipc_peer_attach(struct shmipc *shm, bool again, uint32_t *predecessor);
void shmipc_peer_detach(struct shmipc *shm);
bool shmipc_peer_alive(struct shmipc *shm, uint32_t token);

/* One entry of the table, read once and checked. */
struct shmipc_peer_view {
	uint32_t token, pid, deaths;
	uint64_t pidns, attached_ns;
};
bool shmipc_peer_get(struct shmipc *shm, uint32_t slot, struct shmipc_peer_view *v);
bool shmipc_peer_release(struct shmipc *shm, uint32_t slot, uint32_t token,
			 bool died);
uint64_t shmipc_self_pidns(void);

/* A dead peer was seen: the API edge reclaims when the call leaves. */
static inline void shmipc_death_seen(struct shmipc *shm)
{
	atomic_store_explicit(&shm->reclaim_due, true, memory_order_relaxed);
}

/* ---- lock.c: region locks whose holder is known ---- */

int shmipc_lock_acquire(struct shmipc *shm, struct shmipc_lock *lock,
			uint32_t me, bool *recovered);
void shmipc_lock_release(struct shmipc *shm, struct shmipc_lock *lock);

static inline uint32_t shmipc_lock_holder(const struct shmipc_lock *l)
{
	return atomic_load_explicit(&((struct shmipc_lock *)l)->word,
				    memory_order_relaxed) & ~SHMIPC_LOCK_WAITERS;
}

/* ---- heap.c: the TLSF allocator ---- */

/*
 * A used block as the heap checked it: its payload offset and size, its
 * owner word and the 24-byte area of its header that block.c interprets.
 */
struct shmipc_blk {
	uint64_t off;			/* payload */
	uint64_t size;			/* payload bytes, checked inside the heap */
	_Atomic uint32_t *owner;
	void *user;
};
#define SHMIPC_BLK_USER		24u

int shmipc_heap_init(struct shmipc *shm, const struct shmipc_parts *p);
int shmipc_heap_validate(struct shmipc *shm, const struct shmipc_parts *p);
int shmipc_heap_alloc(struct shmipc *shm, size_t size, size_t align,
		      uint32_t owner, uint64_t *off);
int shmipc_heap_free(struct shmipc *shm, uint64_t off);
int shmipc_heap_block(const struct shmipc *shm, uint64_t off, struct shmipc_blk *b);
/* Walks every used block under the heap lock; @fn returns 1 to have it
 * freed after the walk, 0 to go on, or -errno to stop. */
typedef int (*shmipc_walk_fn)(struct shmipc *shm, const struct shmipc_blk *b,
			      void *arg);
int shmipc_heap_walk(struct shmipc *shm, shmipc_walk_fn fn, void *arg);
/* Under the heap lock: @fn on used block @off if it is one; frees it when
 * @fn returns 1. */
int shmipc_heap_with(struct shmipc *shm, uint64_t off, shmipc_walk_fn fn, void *arg);
int shmipc_heap_size(struct shmipc *shm, uint64_t off, size_t *size);
int shmipc_heap_stats_get(struct shmipc *shm, struct shmipc_heap_stats *st);
int shmipc_heap_verify(struct shmipc *shm);

/* ---- block.c: block ownership ---- */

/* The owner word: a state and a token. */
#define SHMIPC_OWN_PLAIN	(0u << 30)	/* the allocator's, for good */
#define SHMIPC_OWN_RESV		(1u << 30)	/* reserved: freed if its peer dies */
#define SHMIPC_OWN_HELD		(2u << 30)	/* received: released if its peer dies */
#define SHMIPC_OWN_BCAST	(3u << 30)	/* broadcast: one holder bit per subscriber */
#define SHMIPC_OWN_STATE	(3u << 30)

int shmipc_block_alloc(struct shmipc *shm, size_t size, size_t align,
		       uint32_t state, uint64_t *off);
int shmipc_block_set_owner(struct shmipc *shm, uint64_t off, uint32_t own);
int shmipc_block_send(struct shmipc *shm, uint64_t off);
int shmipc_block_hold(struct shmipc *shm, uint64_t off);
int shmipc_block_put(struct shmipc *shm, uint64_t off);
int shmipc_block_bcast(struct shmipc *shm, uint64_t off, uint32_t tag,
		       uint32_t holders);
int shmipc_block_bcast_put(struct shmipc *shm, uint64_t off, unsigned int bit,
			   bool check, uint32_t tag);
int shmipc_block_unpublish(struct shmipc *shm, uint64_t off, uint32_t token);
uint64_t shmipc_block_size(const struct shmipc *shm, uint64_t off);

/* The heap's part of reclaiming dead peer @dead (reclaim.c calls it). */
struct shmipc_dead_sub {
	uint32_t tag, bit;
	uint64_t ctl;
};
struct shmipc_block_reclaim {
	uint32_t dead;
	const uint64_t *queued;		/* payloads queues refer to, sorted */
	size_t nqueued;
	const struct shmipc_dead_sub *subs;	/* dead subscriptions */
	unsigned int nsubs;
	uint64_t bytes, msgs;		/* out: what it gave back */
};
int shmipc_block_reclaim(struct shmipc *shm, struct shmipc_block_reclaim *br);

/* What each peer slot's token holds in the heap, for shmipc_peers(). */
struct shmipc_holdings {
	uint32_t token;			/* in: the slot's peer */
	uint64_t resv_bytes, held_msgs, held_bytes;
};
int shmipc_block_holdings(struct shmipc *shm, struct shmipc_holdings *h);

/* ---- registry.c: named entries ---- */

/*
 * What a kind of entry (a channel, endpoint.c) tells the registry: whether
 * an unnamed, unreferenced entry is still in use, and what to give back
 * before its block is freed. Registered once, from the API edge.
 */
struct shmipc_kind {
	uint32_t kind;
	bool (*in_use)(struct shmipc *shm, const struct shmipc_buffer *b);
	void (*drain)(struct shmipc *shm, const struct shmipc_buffer *b);
};
void shmipc_registry_kind(const struct shmipc_kind *k);

typedef int (*shmipc_entry_fn)(struct shmipc *shm, const struct shmipc_buffer *b,
			       void *arg);

void shmipc_registry_init(struct shmipc *shm, const struct shmipc_parts *p);
int shmipc_registry_validate(struct shmipc *shm, const struct shmipc_parts *p);
uint32_t shmipc_registry_tag(uint64_t id);
int shmipc_registry_create(struct shmipc *shm, const char *name, uint32_t kind,
			   size_t size, size_t align, uint32_t refs,
			   void (*init)(void *data, size_t size, const void *arg),
			   const void *arg, struct shmipc_buffer *out);
int shmipc_registry_lookup(struct shmipc *shm, const char *name,
			   struct shmipc_buffer *out, bool take);
int shmipc_registry_with(struct shmipc *shm, const char *name, shmipc_entry_fn fn,
			 void *arg, struct shmipc_buffer *out);
int shmipc_registry_with_id(struct shmipc *shm, uint64_t id, shmipc_entry_fn fn,
			    void *arg);
int shmipc_registry_release(struct shmipc *shm, const struct shmipc_buffer *buf);
int shmipc_registry_remove(struct shmipc *shm, const char *name, uint32_t kind);
int shmipc_registry_list(struct shmipc *shm, uint32_t kind, bool any,
			 struct shmipc_buffer *bufs, unsigned int cap,
			 unsigned int *total);
/* For the reclaim driver, which holds the lock across its passes. */
int shmipc_registry_lock(struct shmipc *shm);
void shmipc_registry_unlock(struct shmipc *shm);
int shmipc_registry_get(struct shmipc *shm, uint32_t i, struct shmipc_buffer *out);
void shmipc_registry_recover(struct shmipc *shm);

/* ---- reclaim.c: the reclaim driver ---- */

/* One reclaim of dead token @dead: what the passes found and did. */
struct shmipc_reclaim {
	uint32_t dead;
	uint64_t bytes, msgs, redelivered, repaired;
	struct shmipc_dead_sub subs[64];
	unsigned int nsubs;
	uint64_t *queued;		/* payload offsets queues refer to */
	size_t nqueued, queued_cap;
	int err;
};

/*
 * A kind's reclaim passes, called for each of its registry entries with the
 * reclaim and registry locks held, in the order reclaim.c argues for:
 * release (the dead peer's endpoints, claims and subscriptions), queued
 * (payloads the queues refer to), then the heap pass, then done. holdings
 * adds, for shmipc_peers(), what each listed peer holds in the entry.
 */
struct shmipc_reclaim_pass {
	uint32_t kind;
	void (*release)(struct shmipc *shm, struct shmipc_reclaim *rc,
			const struct shmipc_buffer *b);
	void (*queued)(struct shmipc *shm, struct shmipc_reclaim *rc,
		       const struct shmipc_buffer *b);
	void (*done)(struct shmipc *shm, struct shmipc_reclaim *rc);
	void (*holdings)(struct shmipc *shm, const struct shmipc_buffer *b,
			 struct shmipc_peer_info *by_slot);
};
void shmipc_reclaim_register(const struct shmipc_reclaim_pass *p);
int shmipc_reclaim_queued(struct shmipc_reclaim *rc, uint64_t off);
int shmipc_reclaim_run(struct shmipc *shm);
int shmipc_reclaim_token(struct shmipc *shm, uint32_t token);
void shmipc_reclaim_self(struct shmipc *shm);
int shmipc_reclaim_watch(struct shmipc *shm, int timeout_ms);
void shmipc_reclaim_stats_get(struct shmipc *shm, struct shmipc_reclaim_stats *st);
int shmipc_reclaim_peers(struct shmipc *shm, struct shmipc_peer_info *peers,
			 unsigned int cap, unsigned int *total);

/* ---- event.c: sleeping without lost wake-ups ---- */

void shmipc_ev_signal(struct shmipc *shm, struct shmipc_evcount *ev, uint32_t n);
uint32_t shmipc_ev_prepare(struct shmipc_evcount *ev);
void shmipc_ev_cancel(struct shmipc_evcount *ev);
int shmipc_ev_wait(struct shmipc *shm, struct shmipc_evcount *ev, uint32_t e,
		   int64_t deadline, uint32_t deaths);

/* ---- queue.c: SPSC and MPMC queues of descriptors, without blocking ---- */

/*
 * One table per mode. -EAGAIN empty, -ENOSPC full, -EINPROGRESS with a
 * claimer (*blocker) mid-way at the position wanted, -EBADMSG when the
 * shared counters make no sense. Pops take a descriptor; pop_done() gives
 * the slot back once the caller recorded that it holds the payload.
 */
struct shmipc_queue_ops {
	uint32_t mode;
	uint32_t slot_size;
	void (*init)(struct shmipc_chan_ctl *c, void *slots, uint32_t cap);
	int (*push)(struct shmipc_chan_ctl *c, void *slots, uint32_t cap,
		    struct shmipc_spsc_cache *k, const struct shmipc_desc *d,
		    uint32_t me, uint32_t *blocker);
	int (*pop)(struct shmipc_chan_ctl *c, void *slots, uint32_t cap,
		   struct shmipc_spsc_cache *k, struct shmipc_desc *d, uint32_t me,
		   uint64_t *pos, uint32_t *blocker);
	void (*pop_done)(struct shmipc_chan_ctl *c, void *slots, uint32_t cap,
			 uint64_t pos);
	/* Calls @fn with each payload offset a slot refers to now. */
	void (*queued)(struct shmipc_chan_ctl *c, void *slots, uint32_t cap,
		       void (*fn)(void *arg, uint64_t off), void *arg);
	/* Turns dead @dead's claims into skips, or its reads into @redo (at
	 * most @max); returns how many, or -ENOBUFS with some left. */
	int (*repair)(struct shmipc_chan_ctl *c, void *slots, uint32_t cap,
		      uint32_t dead, struct shmipc_desc *redo, unsigned int max,
		      uint64_t *repaired);
	/* The read claims standing now, at most @max. */
	unsigned int (*read_claims)(void *slots, uint32_t cap, uint64_t *claims,
				    unsigned int max);
};
const struct shmipc_queue_ops *shmipc_queue(uint32_t mode);
uint32_t shmipc_queue_slot_size(uint32_t mode);
void shmipc_queue_init(struct shmipc_chan_ctl *c, uint32_t mode, uint32_t cap);

/* ---- broadcast.c ---- */

int shmipc_bcast_lock(struct shmipc *shm, struct shmipc_chan_ctl *c);
int shmipc_bcast_subscribe(struct shmipc_chan *ch);
int shmipc_bcast_adopt(struct shmipc_chan *ch, uint32_t parent);
void shmipc_bcast_unsubscribe(struct shmipc_chan *ch);
int shmipc_bcast_publish(struct shmipc_chan *ch, struct shmipc_desc *d);
int shmipc_bcast_pop(struct shmipc_chan *ch, struct shmipc_desc *d);
void shmipc_bcast_drain(struct shmipc *shm, struct shmipc_chan_ctl *c,
			uint32_t cap, uint32_t tag);
void shmipc_bcast_reclaim(struct shmipc *shm, struct shmipc_reclaim *rc,
			  struct shmipc_chan_ctl *c, uint32_t cap, uint32_t tag);
void shmipc_bcast_reclaim_done(struct shmipc *shm, struct shmipc_reclaim *rc);
uint32_t shmipc_bcast_subscribers(struct shmipc_chan_ctl *c, uint64_t tail,
				  uint64_t *lowest);

/* ---- endpoint.c: the channel as a registry kind ---- */

struct shmipc_chan_ctl *shmipc_ctl_at(struct shmipc *shm, uint64_t off,
				      uint64_t size, uint32_t *cap,
				      uint32_t *mode, uint32_t *flags);
int shmipc_ep_add(struct shmipc_chan_ctl *c, uint32_t token);
bool shmipc_ep_remove(struct shmipc_chan_ctl *c, uint32_t token, bool all);
void shmipc_endpoint_init(void);

/* ---- message.c: received messages ---- */

int shmipc_held_add(struct shmipc *shm, uint64_t off, uint32_t holder,
		    uint32_t *ticket);
void shmipc_held_seal(struct shmipc *shm, struct shmipc_msg *m);
int shmipc_held_ref(struct shmipc *shm, struct shmipc_msg *m);
int shmipc_held_release(struct shmipc *shm, struct shmipc_msg *m);
void shmipc_held_release_all(struct shmipc *shm);
void shmipc_held_init(struct shmipc *shm);
void shmipc_held_reset(struct shmipc *shm);
void shmipc_held_fini(struct shmipc *shm);
int shmipc_msg_put(struct shmipc *shm, uint64_t off, uint32_t holder);

/* ---- crc32c.c ---- */

uint32_t shmipc_crc32c(const void *data, size_t len);

/* ---- channel.c: channels (the API edge calls these) ---- */

int shmipc_ch_open(struct shmipc *shm, const char *name,
		   const struct shmipc_chan_options *opts, struct shmipc_chan **out);
void shmipc_ch_detach(struct shmipc_chan *ch);
int shmipc_ch_adopt(struct shmipc_chan *ch);
int shmipc_ch_send(struct shmipc_chan *ch, const void *data, size_t size,
		   uint32_t type, int timeout_ms);
int shmipc_ch_reserve(struct shmipc_chan *ch, size_t size, struct shmipc_resv *r);
int shmipc_ch_commit(struct shmipc_chan *ch, struct shmipc_resv *r, uint32_t type,
		     int timeout_ms);
int shmipc_ch_abort(struct shmipc_chan *ch, struct shmipc_resv *r);
int shmipc_ch_recv(struct shmipc_chan *ch, struct shmipc_msg *msg, int timeout_ms);
int shmipc_ch_stats(struct shmipc_chan *ch, struct shmipc_chan_stats *st);
int shmipc_ch_send_to(struct shmipc *shm, const char *name, const void *data,
		      size_t size, uint32_t type, int timeout_ms);

#endif /* LIBSHM_INTERNAL_H */
