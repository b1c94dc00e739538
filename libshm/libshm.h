/* SPDX-License-Identifier: MIT */
/*
 * libshm: shared-memory IPC on shmipc regions.
 *
 * A region is opened by name through a backend (the /dev/shmipc kernel
 * module, or POSIX shm_open + futex). Everything stored in a region is an
 * offset from its start, never a pointer, so every process may map it at a
 * different address. A struct shmipc is a process-local handle: closing it
 * unmaps and frees local state and never changes shared data.
 *
 * Every function returning int returns 0 (or a count) on success and a
 * negative errno value on failure; shmipc_strerror() describes it.
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

int shmipc_open(const char *name, const struct shmipc_options *opts,
		struct shmipc **out);
void shmipc_close(struct shmipc *shm);
int shmipc_unlink(const char *name, enum shmipc_backend backend);
const char *shmipc_strerror(int err);
const char *shmipc_backend_name(const struct shmipc *shm);

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

#ifdef __cplusplus
}
#endif

#endif /* LIBSHM_H */
