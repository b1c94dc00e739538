/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * shmipc: state shared by the module's files.
 *
 * Object lifetime: a region is reference counted. The registry holds one
 * reference while the region is named (from CREATE to UNLINK or module
 * exit); every region file holds one, and every mapping holds the file
 * (vma->vm_file), so the memory lives until the last fd and the last
 * mapping are gone. Every region file also holds a reference on this module
 * (fops->owner), so the module cannot be unloaded while any region is open
 * or mapped.
 */
#ifndef _SHMIPC_INTERNAL_H
#define _SHMIPC_INTERNAL_H

#include <linux/atomic.h>
#include <linux/bits.h>
#include <linux/fs.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/refcount.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/uidgid.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/shmipc.h>

struct shmipc_ns;	/* region.c */

#define SHMIPC_WAIT_HASH_BITS	5
#define SHMIPC_WAIT_BUCKETS	BIT(SHMIPC_WAIT_HASH_BITS)

/**
 * struct shmipc_wait_bucket - waiters on the words that hash here
 * @lock:	protects @waiters and each queued waiter's woken flag
 * @waiters:	struct shmipc_waiter, in arrival order
 */
struct shmipc_wait_bucket {
	spinlock_t lock;	/* @waiters and their woken flags */
	struct list_head waiters;
};

/**
 * struct shmipc_attach - an attachment: one region file (attach.c)
 * @r:		its region
 * @owner:	thread group of the process that opened it
 * @uid:	the opener's fsuid, for the fair share of slots
 * @token:	(generation << SHMIPC_PEER_SLOT_BITS) | slot
 * @seen:	the death count the last SHMIPC_IOC_PEERS returned (poll)
 * @published:	its token is in the status page; under @r->attach_lock
 * @dead:	under @r->attach_lock (taken with interrupts off)
 * @armed:	@exit_wait is on @owner's wait_pidfd
 * @exit_wait:	woken as @owner's thread group exits
 * @exit_work:	wakes the death waiters after an exit recorded the death
 */
struct shmipc_attach {
	struct shmipc_region *r;
	struct pid *owner;
	kuid_t uid;
	u32 token;
	u32 seen;
	bool published;
	bool dead;
	bool armed;
	struct wait_queue_entry exit_wait;
	struct work_struct exit_work;
};

/**
 * struct shmipc_region - one shared-memory region
 * @ref:	registry reference + one per region file
 * @hnode:	registry hash linkage, valid while @linked
 * @node:	list of every live region (named or not), for debugfs
 * @linked:	the name is in the registry; under shmipc_mutex
 * @id:		unique for the module's lifetime
 * @name:	NUL-terminated name
 * @size:	bytes, a multiple of PAGE_SIZE
 * @nr_pages:	@size >> PAGE_SHIFT
 * @pages:	the zeroed, individually allocated pages
 * @uid:	owner, also the user its bytes are charged to
 * @gid:	owning group
 * @mode:	permission bits
 * @nr_fds:	open region files
 * @nr_maps:	mapped VMAs
 * @nr_waiters:	tasks asleep in SHMIPC_IOC_WAIT
 * @buckets:	wait queues, hashed by word offset
 * @attach_lock: protects @slots, @next_gen and the writes to @status
 * @slots:	live attachments by slot
 * @next_gen:	generation of the next token
 * @status_page: the read-only status page
 * @status:	its kernel address
 * @death_wq:	poll()ers waiting for a death
 * @creating:	named while its pages are allocated; under shmipc_mutex
 * @ns:		the IPC namespace its name lives in (region.c)
 */
struct shmipc_region {
	refcount_t ref;
	struct hlist_node hnode;
	struct list_head node;
	bool linked;
	u64 id;
	char name[SHMIPC_NAME_MAX];
	size_t size;
	pgoff_t nr_pages;
	struct page **pages;
	kuid_t uid;
	kgid_t gid;
	umode_t mode;
	atomic_t nr_fds;
	atomic_t nr_maps;
	atomic_t nr_waiters;
	struct shmipc_wait_bucket buckets[SHMIPC_WAIT_BUCKETS];
	spinlock_t attach_lock;	/* @slots, @next_gen, @status */
	struct shmipc_attach *slots[SHMIPC_MAX_PEERS];
	u32 next_gen;
	struct page *status_page;
	struct shmipc_status *status;
	wait_queue_head_t death_wq;
	bool creating;
	struct shmipc_ns *ns;
};

/* Module parameters (main.c); read with READ_ONCE, they are writable. */
extern unsigned long shmipc_max_region_size;
extern unsigned int shmipc_max_regions;
extern unsigned long shmipc_max_total_bytes;
extern unsigned long shmipc_max_user_bytes;
extern unsigned int shmipc_max_user_regions;

/* region.c */
int shmipc_region_create(const char *name, u64 size, umode_t mode,
			 bool excl, struct shmipc_region **out, bool *created);
int shmipc_region_lookup(const char *name, u32 access,
			 struct shmipc_region **out);
int shmipc_region_unlink(const char *name);
void shmipc_region_forget(struct shmipc_region *r);
u32 shmipc_region_count(void);
u32 shmipc_region_list(struct shmipc_list_entry *ents, u32 capacity);
void shmipc_region_put(struct shmipc_region *r);
void shmipc_region_destroy_all(void);
void shmipc_debugfs_init(void);
void shmipc_debugfs_exit(void);

bool shmipc_region_capable(const struct shmipc_region *r, int cap);

/* file.c */
struct file *shmipc_region_file(struct shmipc_region *r, u32 access);
void shmipc_region_file_publish(struct file *file);

/* attach.c */
struct shmipc_attach *shmipc_attach_new(struct shmipc_region *r);
void shmipc_attach_publish(struct shmipc_attach *a);
void shmipc_attach_release(struct shmipc_attach *a);
bool shmipc_attach_alive(struct shmipc_attach *a);

/* wait.c */
void shmipc_wait_init(struct shmipc_region *r);
void shmipc_wait_wake_deaths(struct shmipc_region *r);
int shmipc_ioctl_wait(struct shmipc_region *r, struct shmipc_wait __user *uarg);
int shmipc_ioctl_wake(struct shmipc_region *r, struct shmipc_wake __user *uarg);

#endif /* _SHMIPC_INTERNAL_H */
