/* SPDX-License-Identifier: MIT */
/*
 * libshm internals: the backend ops table, the region layout and the
 * process-local handle. Nothing here is exported.
 *
 * Region layout (every field an offset from the region's start):
 *
 *   0                 struct shmipc_hdr        magic, version, init state,
 *                                              reclaim lock and statistics
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

#define SHMIPC_API __attribute__((visibility("default")))

/* A cross-process atomic that fell back to a lock would be silently broken. */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "32-bit atomics must be lock-free");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free");

/* How a handle reaches its region: one small table per backend. */
struct shmipc_backend_ops {
	const char *name;
	/* Open or create; sets *fd, *size, *created. */
	int (*open)(const char *name, size_t size, unsigned int mode,
		    unsigned int flags, int *fd, size_t *size_out, bool *created);
	int (*unlink)(const char *name);
	/*
	 * Futex semantics on @word; @deadline_ns absolute CLOCK_MONOTONIC, 0
	 * none. With @deaths, a peer's death also ends the wait, with
	 * -EOWNERDEAD, as does a death count other than *@deaths (kmod only).
	 */
	int (*wait)(struct shmipc *shm, _Atomic uint32_t *word, uint32_t expected,
		    int64_t deadline_ns, const uint32_t *deaths);
	int (*wake)(struct shmipc *shm, _Atomic uint32_t *word, uint32_t count);
	/* Becomes a peer: sets shm->token (kmod; posix tokens come from peer.c).
	 * @again: in a fork()ed child, replacing the parent's attachment. */
	int (*attach)(struct shmipc *shm, bool again);
	void (*detach)(struct shmipc *shm);
	/* Is @token a live peer's? Called with token != 0, < SHMIPC_TOKEN_LIMIT. */
	bool (*alive)(struct shmipc *shm, uint32_t token);
	/* The death count death waits compare with (kmod), or 0. */
	uint32_t (*deaths)(struct shmipc *shm);
};

extern const struct shmipc_backend_ops shmipc_backend_kmod;
extern const struct shmipc_backend_ops shmipc_backend_posix;

#define SHMIPC_HDR_MAGIC	0x31435049484d53ULL	/* "SMHIPC1" */
#define SHMIPC_LAYOUT_VERSION	2u
#define SHMIPC_STATE_FRESH	0u
#define SHMIPC_STATE_READY	0xffffffffu	/* else: pid of the initializer */

/*
 * Peers (peer.c). A token names a peer: (generation << 9) | slot, nonzero,
 * below 2^30, so that two state bits fit above it wherever it is stored.
 */
#define SHMIPC_PEERS		512u
#define SHMIPC_PEER_MASK	(SHMIPC_PEERS - 1)
#define SHMIPC_TOKEN_LIMIT	(1u << 30)

/*
 * One peer table entry. @idpid is (pid << 32 | token), or 0 when free, so
 * that a slot is claimed, and named, by one compare-and-swap. @start_time is
 * the process's start time (clock ticks after boot, from /proc), which tells
 * a reused pid from the peer's (posix backend).
 */
struct shmipc_peer_rec {
	_Atomic uint64_t idpid;
	_Atomic uint64_t start_time;
	uint64_t attached_ns;		/* CLOCK_REALTIME */
	uint64_t reserved[5];
};
_Static_assert(sizeof(struct shmipc_peer_rec) == 64, "peer record is a cache line");

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
	_Atomic uint32_t watch;		/* a word death watchers sleep on */
	struct shmipc_lock reclaim_lock;
	/* Reclaim statistics (struct shmipc_reclaim_stats). */
	_Atomic uint64_t peers_died;
	_Atomic uint64_t bytes_reclaimed;
	_Atomic uint64_t msgs_reclaimed;
	_Atomic uint64_t msgs_redelivered;
	_Atomic uint64_t slots_repaired;
	uint64_t reserved[4];
};

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
	uint64_t state_refs;
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

/* An event count: sleepers register in waiters, wakers bump epoch. */
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
	/* Broadcast publish journal, under bcast_lock (channel.c). */
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

/* The process-local handle. */
struct shmipc_extra_ref {
	uint64_t off;
	uint32_t n;
};

struct shmipc {
	const struct shmipc_backend_ops *ops;
	int fd;
	unsigned char *base;
	size_t size;
	/* This process as a peer: its token, for the process of pid. */
	uint32_t token;
	uint32_t pid;
	_Atomic bool reclaim_due;	/* a dead peer was seen */
	const void *status;		/* kmod: the status page */
	struct shmipc_peer_rec *peers;
	void (*on_death)(struct shmipc *shm, uint32_t peer, uint32_t pid, void *arg);
	void *on_death_arg;
	/* shmipc_msg_ref()'s references beyond a holder's own, by payload. */
	pthread_mutex_t refs_lock;
	struct shmipc_extra_ref *extra;
	_Atomic unsigned int nextra;
	unsigned int extra_cap;
	/* Offsets cached from the header once it was validated. */
	struct shmipc_hdr *hdr;
	struct shmipc_heap_ctl *heap;
	uint64_t heap_off, heap_end;
	struct shmipc_reg_hdr *reg;
	struct shmipc_reg_entry *entries;
	uint32_t reg_capacity;
	unsigned int lock_timeout_ms;
	unsigned int flags;		/* SHMIPC_OPEN_* it was opened with */
	struct shmipc_chan *named;	/* shmipc_send_to()'s table, by name */
	char name[64];
};

/* region.c */
int shmipc_lock_acquire(struct shmipc *shm, struct shmipc_lock *lock,
			bool *recovered);
int shmipc_name_check(const char *name);
void shmipc_lock_release(struct shmipc *shm, struct shmipc_lock *lock);
bool shmipc_pid_alive(uint32_t pid);
uint32_t shmipc_self_pid(void);
int64_t shmipc_now_ns(void);

/* peer.c */
int shmipc_self(struct shmipc *shm, uint32_t *token);
bool shmipc_peer_alive(struct shmipc *shm, uint32_t token);
int shmipc_peer_attach(struct shmipc *shm);
void shmipc_peer_detach(struct shmipc *shm);
void shmipc_peers_init(struct shmipc *shm, uint64_t off);
int shmipc_peers_validate(struct shmipc *shm, uint64_t off, uint64_t end,
			  uint32_t capacity);
uint64_t shmipc_start_time(uint32_t pid);
uint64_t shmipc_proc_stat(uint32_t pid, bool *gone);
/* A dead peer was seen: reclaim at the next safe point. */
static inline void shmipc_death_seen(struct shmipc *shm)
{
	atomic_store_explicit(&shm->reclaim_due, true, memory_order_relaxed);
}
void shmipc_reclaim_due(struct shmipc *shm);
void shmipc_reclaim_token(struct shmipc *shm, uint32_t token);

/* queue.c: the three queues, without blocking; -EAGAIN empty, -ENOSPC full. */
struct shmipc_spsc_cache {
	uint64_t head, tail;	/* this side's copies of the other side's index */
};
int shmipc_spsc_push(struct shmipc_chan_ctl *c, struct shmipc_spsc_slot *slots,
		     struct shmipc_spsc_cache *k, const struct shmipc_desc *d,
		     uint32_t cap);
/* Pops take a descriptor; the matching _done() gives the slot back. */
int shmipc_spsc_pop(struct shmipc_chan_ctl *c, struct shmipc_spsc_slot *slots,
		    struct shmipc_spsc_cache *k, struct shmipc_desc *d, uint32_t cap);
void shmipc_spsc_pop_done(struct shmipc_chan_ctl *c);
/* -EINPROGRESS: a claimer (*@blocker) is mid-way at the position wanted. */
int shmipc_mpmc_push(struct shmipc_chan_ctl *c, struct shmipc_mpmc_slot *slots,
		     const struct shmipc_desc *d, uint32_t cap, uint32_t me,
		     uint32_t *blocker);
int shmipc_mpmc_pop(struct shmipc_chan_ctl *c, struct shmipc_mpmc_slot *slots,
		    struct shmipc_desc *d, uint32_t cap, uint32_t me,
		    uint64_t *pos, uint32_t *blocker);
void shmipc_mpmc_pop_done(struct shmipc_mpmc_slot *slots, uint64_t pos,
			  uint32_t cap);
int shmipc_mpmc_repair(struct shmipc_chan_ctl *c, struct shmipc_mpmc_slot *slots,
		       uint32_t cap, uint32_t dead, struct shmipc_desc *redo,
		       unsigned int max_redo, uint64_t *repaired);
unsigned int shmipc_mpmc_read_claims(struct shmipc_mpmc_slot *slots, uint32_t cap,
				     uint64_t *claims, unsigned int max);
void shmipc_queue_init(struct shmipc_chan_ctl *c, void *slots);

struct shmipc_reclaim;

/* A channel handle (channel.c, broadcast.c). */
struct shmipc_chan {
	struct shmipc *shm;
	struct shmipc_chan *next_named;		/* in shm->named */
	struct shmipc_chan_ctl *c;
	void *slots;
	uint32_t mode, capacity, flags;
	uint32_t tag;				/* shmipc_chan_tag() */
	uint32_t token;				/* the peer whose endpoint this is */
	int spin;
	int sub;				/* broadcast subscriber slot, or -1 */
	uint32_t want_mode;			/* opening: the mode asked, or 0 */
	bool tx, rx;				/* spsc: this handle holds that side */
	struct shmipc_spsc_cache k;
	struct shmipc_buffer buf;		/* the registry entry */
	uint64_t suspects[4];			/* read claims met when last idle */
	unsigned int nsuspects;
	uint64_t *resv;				/* open reservations' offsets */
	unsigned int nresv, resv_cap;
};

/* broadcast.c */
int shmipc_bcast_lock(struct shmipc *shm, struct shmipc_chan_ctl *c);
int shmipc_subscribe(struct shmipc_chan *ch);
void shmipc_unsubscribe(struct shmipc_chan *ch);
void shmipc_sub_drain(struct shmipc *shm, struct shmipc_chan_ctl *c, void *slots,
		      unsigned int i, uint32_t cap, uint32_t tag);
int shmipc_bcast_publish(struct shmipc_chan *ch, struct shmipc_desc *d);
int shmipc_bcast_pop(struct shmipc_chan *ch, struct shmipc_desc *d);
void shmipc_bcast_reclaim(struct shmipc *shm, struct shmipc_reclaim *rc,
			  struct shmipc_chan_ctl *c, uint32_t cap, uint32_t tag);
/* channel.c, for broadcast.c and endpoint.c */
void shmipc_ev_signal(struct shmipc *shm, struct shmipc_evcount *ev, uint32_t n);
int shmipc_chan_check(const struct shmipc_chan_ctl *c, uint64_t size,
		      uint32_t *capp, uint32_t *modep, uint32_t *flagsp);

/* message.c */
int shmipc_payload_put(struct shmipc *shm, uint64_t off);
int shmipc_msg_put(struct shmipc *shm, uint64_t off, uint32_t holder);
int shmipc_mark_held(struct shmipc *shm, const struct shmipc_desc *d, uint32_t me);

/* crc32c.c */
uint32_t shmipc_crc32c(const void *data, size_t len);

/* registry.c */
int shmipc_registry_create(struct shmipc *shm, const char *name, uint32_t kind,
			   size_t size, size_t align, uint32_t refs,
			   void (*init)(void *data, size_t size, const void *arg),
			   const void *arg, struct shmipc_buffer *out);
/* Runs @fn under the registry lock on the LIVE entry @name. */
int shmipc_registry_with(struct shmipc *shm, const char *name,
			 int (*fn)(struct shmipc *shm, const struct shmipc_buffer *b,
				   void *arg),
			 void *arg, struct shmipc_buffer *out);
/* Leaves channel @b (its endpoint count drops); frees it when unused. */
int shmipc_registry_leave(struct shmipc *shm, const struct shmipc_buffer *b,
			  uint32_t token);
void shmipc_registry_init(struct shmipc *shm, uint64_t off, uint32_t capacity);
int shmipc_registry_validate(struct shmipc *shm, uint64_t off, uint64_t end,
			     uint32_t capacity);
struct shmipc_reclaim;
int shmipc_registry_reclaim(struct shmipc *shm, struct shmipc_reclaim *rc);
uint32_t shmipc_chan_tag(uint64_t id);

/* channel.c */
void shmipc_chan_drain(struct shmipc *shm, uint64_t off, uint64_t size, uint32_t tag);
bool shmipc_chan_in_use(struct shmipc *shm, uint64_t off, uint64_t size);
void shmipc_chan_close_named(struct shmipc *shm);
int shmipc_ep_add(struct shmipc_chan_ctl *c, uint32_t token);
bool shmipc_ep_remove(struct shmipc_chan_ctl *c, uint32_t token, bool all);
void shmipc_chan_reclaim(struct shmipc *shm, struct shmipc_reclaim *rc,
			 uint64_t off, uint64_t size, uint32_t tag);
void shmipc_chan_reclaim_done(struct shmipc *shm, struct shmipc_reclaim *rc);
void shmipc_chan_queued(struct shmipc *shm, struct shmipc_reclaim *rc,
			uint64_t off, uint64_t size);
void shmipc_chan_holdings(struct shmipc *shm, uint64_t off, uint64_t size,
			  struct shmipc_peer_info *by_slot);

/*
 * One reclaim of dead peer @dead (peer.c): what the channel and heap
 * passes found and did.
 */
struct shmipc_reclaim {
	uint32_t dead;
	uint64_t bytes, msgs, redelivered, repaired;
	/* Dead subscriptions: channel tag and subscriber index. */
	struct { uint32_t tag, idx; uint64_t ctl; } subs[64];
	unsigned int nsubs;
	/* Payload offsets queues refer to, sorted before the heap pass. */
	uint64_t *queued;
	size_t nqueued, queued_cap;
	int err;
};
int shmipc_reclaim_queued_add(struct shmipc_reclaim *rc, uint64_t off);

/* heap.c: a block's owner word is a state and a token. */
#define SHMIPC_OWN_PLAIN	(0u << 30)	/* the allocator's, for good */
#define SHMIPC_OWN_RESV		(1u << 30)	/* reserved: freed if its peer dies */
#define SHMIPC_OWN_HELD		(2u << 30)	/* received: released if its peer dies */
#define SHMIPC_OWN_BCAST	(3u << 30)	/* broadcast: one holder bit per subscriber */
#define SHMIPC_OWN_STATE	(3u << 30)

int shmipc_heap_init(struct shmipc *shm, uint64_t heap_off, uint64_t heap_size);
int shmipc_heap_validate(struct shmipc *shm);
int shmipc_heap_alloc(struct shmipc *shm, size_t size, size_t align,
		      uint32_t own, uint64_t *off);
int shmipc_heap_free(struct shmipc *shm, uint64_t off);
_Atomic uint32_t *shmipc_block_refs(struct shmipc *shm, uint64_t off);
_Atomic uint32_t *shmipc_block_owner(struct shmipc *shm, uint64_t off);
uint64_t shmipc_block_size(struct shmipc *shm, uint64_t off);
void shmipc_block_bcast(struct shmipc *shm, uint64_t off, uint32_t tag,
			uint32_t holders);
int shmipc_bcast_put(struct shmipc *shm, uint64_t off, unsigned int bit, bool check,
		     uint32_t tag);
int shmipc_block_set_owner(struct shmipc *shm, uint64_t off, uint32_t own);
int shmipc_heap_reclaim(struct shmipc *shm, struct shmipc_reclaim *rc);
/* Per peer slot: what shmipc_peers() reports. */
struct shmipc_holdings {
	uint32_t token;			/* in: the slot's peer */
	uint64_t resv_bytes, held_msgs, held_bytes;
};
int shmipc_heap_holdings(struct shmipc *shm, struct shmipc_holdings *h);

#endif /* LIBSHM_INTERNAL_H */
