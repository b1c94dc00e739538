/* SPDX-License-Identifier: MIT */
/*
 * libshm internals: the backend ops table, the region layout and the
 * process-local handle. Nothing here is exported.
 *
 * Region layout (every field an offset from the region's start):
 *
 *   0                 struct shmipc_hdr        magic, version, init state
 *   hdr->heap_ctl_off struct shmipc_heap_ctl   TLSF lists, bitmaps, lock
 *   hdr->registry_off registry table           (capacity fixed at creation)
 *   hdr->heap_off     heap blocks              up to the end of the region
 */
#ifndef LIBSHM_INTERNAL_H
#define LIBSHM_INTERNAL_H

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
	/* Futex semantics on the u32 at @off; @deadline_ns absolute CLOCK_MONOTONIC, 0 none. */
	int (*wait)(struct shmipc *shm, _Atomic uint32_t *word, uint32_t expected,
		    int64_t deadline_ns);
	int (*wake)(struct shmipc *shm, _Atomic uint32_t *word, uint32_t count);
};

extern const struct shmipc_backend_ops shmipc_backend_kmod;
extern const struct shmipc_backend_ops shmipc_backend_posix;

#define SHMIPC_HDR_MAGIC	0x31435049484d53ULL	/* "SMHIPC1" */
#define SHMIPC_LAYOUT_VERSION	1u
#define SHMIPC_STATE_FRESH	0u
#define SHMIPC_STATE_READY	0xffffffffu	/* else: pid of the initializer */

/**
 * struct shmipc_lock - a futex lock in the region whose holder is known
 * @word:	0 when free, else the holder's pid, with SHMIPC_LOCK_WAITERS
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
	uint32_t pad;
	uint64_t reserved[6];
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

struct shmipc_mpmc_slot {
	_Atomic uint64_t seq;
	_Atomic uint64_t claim_pos;	/* the position its claimer claimed */
	_Atomic uint32_t claimer;	/* that claimer's pid */
	uint32_t pad;
	struct shmipc_desc d;
};

struct shmipc_bcast_slot {
	_Atomic uint64_t seq;
	struct shmipc_desc d;
};

struct shmipc_sub {
	_Atomic uint64_t cursor;	/* next sequence to read */
	_Atomic uint32_t pid;		/* 0: the slot is free */
	uint32_t pad;
	uint64_t reserved[6];
};

struct shmipc_chan_ctl {
	uint32_t magic;
	uint32_t pad0;
	uint32_t mode;
	uint32_t capacity;
	uint32_t flags;
	uint32_t slot_size;
	uint64_t reserved0[5];
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
	_Alignas(SHMIPC_CACHELINE) struct shmipc_sub subs[SHMIPC_MAX_SUBSCRIBERS];
	/* capacity slots follow */
};

_Static_assert(sizeof(struct shmipc_mpmc_slot) == 128, "mpmc slot is two cache lines");
_Static_assert(sizeof(struct shmipc_spsc_slot) == 128, "spsc slot is two cache lines");
_Static_assert(sizeof(struct shmipc_sub) == 64, "subscriber is a cache line");
_Static_assert(sizeof(struct shmipc_chan_ctl) % SHMIPC_CACHELINE == 0, "slots start on a line");

/* The process-local handle. */
struct shmipc {
	const struct shmipc_backend_ops *ops;
	int fd;
	unsigned char *base;
	size_t size;
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

/* queue.c: the three queues, without blocking; -EAGAIN empty, -ENOSPC full. */
struct shmipc_spsc_cache {
	uint64_t head, tail;	/* this side's copies of the other side's index */
};
int shmipc_spsc_push(struct shmipc_chan_ctl *c, struct shmipc_spsc_slot *slots,
		     struct shmipc_spsc_cache *k, const struct shmipc_desc *d,
		     uint32_t cap);
int shmipc_spsc_pop(struct shmipc_chan_ctl *c, struct shmipc_spsc_slot *slots,
		    struct shmipc_spsc_cache *k, struct shmipc_desc *d, uint32_t cap);
int shmipc_mpmc_push(struct shmipc_chan_ctl *c, struct shmipc_mpmc_slot *slots,
		     const struct shmipc_desc *d, uint32_t cap);
int shmipc_mpmc_pop(struct shmipc_chan_ctl *c, struct shmipc_mpmc_slot *slots,
		    struct shmipc_desc *d, uint32_t cap);
void shmipc_queue_init(struct shmipc_chan_ctl *c, void *slots);

/* crc32c.c */
uint32_t shmipc_crc32c(const void *data, size_t len);

/* registry.c */
int shmipc_registry_create(struct shmipc *shm, const char *name, uint32_t kind,
			   size_t size, size_t align,
			   void (*init)(void *data, size_t size, const void *arg),
			   const void *arg, struct shmipc_buffer *out);

/* channel.c */
void shmipc_chan_drain(struct shmipc *shm, uint64_t off, uint64_t size);
void shmipc_chan_close_named(struct shmipc *shm);
void shmipc_registry_init(struct shmipc *shm, uint64_t off, uint32_t capacity);
int shmipc_registry_validate(struct shmipc *shm, uint64_t off, uint64_t end,
			     uint32_t capacity);

/* heap.c */
int shmipc_heap_init(struct shmipc *shm, uint64_t heap_off, uint64_t heap_size);
int shmipc_heap_validate(struct shmipc *shm);
_Atomic uint32_t *shmipc_block_refs(struct shmipc *shm, uint64_t off);
uint64_t shmipc_block_size(struct shmipc *shm, uint64_t off);

#endif /* LIBSHM_INTERNAL_H */
