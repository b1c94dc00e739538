// SPDX-License-Identifier: GPL-2.0-only
/*
 * shmipc: regions, their registry (name -> region), their accounting
 * (global and per-user limits), their lifetime and the debugfs view. The
 * file a region fd names, with its mmap and attachments, is file.c's.
 *
 * shmipc_mutex protects the registry (name -> region), the list of live
 * regions and every counter of the accounting. It is never taken in the
 * fault path or in wait/wake, and never held while allocating a region's
 * pages, so a large CREATE does not stall the others.
 */

#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/debugfs.h>
#include <linux/hashtable.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/stringhash.h>

#include "compat.h"
#include "internal.h"

#define SHMIPC_REGISTRY_BITS	8

static DEFINE_MUTEX(shmipc_mutex);
static DEFINE_HASHTABLE(shmipc_registry, SHMIPC_REGISTRY_BITS);
static LIST_HEAD(shmipc_regions);	/* every live region */
static LIST_HEAD(shmipc_users);		/* struct shmipc_user */
static u32 shmipc_nr_linked;		/* named regions */
static u32 shmipc_nr_live;		/* live regions, named or not */
static u64 shmipc_live_bytes;		/* bytes of live regions */
static u64 shmipc_next_id;
static struct dentry *shmipc_debugfs_dir;

/**
 * struct shmipc_user - bytes of live regions owned by one user
 * @node:	in shmipc_users
 * @uid:	the user
 * @bytes:	bytes charged, never 0 while listed
 */
struct shmipc_user {
	struct list_head node;
	kuid_t uid;
	u64 bytes;
};

/* A byte limit parameter, or RAM >> @ram_shift when it is 0. */
static u64 shmipc_limit_or_ram(unsigned long limit, unsigned int ram_shift)
{
	if (limit)
		return limit;
	return (u64)totalram_pages() << PAGE_SHIFT >> ram_shift;
}

static struct shmipc_user *shmipc_user_find(kuid_t uid)
{
	struct shmipc_user *u;

	lockdep_assert_held(&shmipc_mutex);
	list_for_each_entry(u, &shmipc_users, node)
		if (uid_eq(u->uid, uid))
			return u;
	return NULL;
}

/*
 * Reserve a region's worth of the limits before its pages are allocated, so
 * that concurrent CREATEs cannot together overshoot them.
 */
static int shmipc_charge(kuid_t uid, u64 bytes)
{
	u64 total_limit = shmipc_limit_or_ram(READ_ONCE(shmipc_max_total_bytes), 1);
	u64 user_limit = shmipc_limit_or_ram(READ_ONCE(shmipc_max_user_bytes), 2);
	struct shmipc_user *u;

	lockdep_assert_held(&shmipc_mutex);
	if (shmipc_nr_live >= READ_ONCE(shmipc_max_regions))
		return -ENOSPC;
	if (bytes > total_limit || shmipc_live_bytes > total_limit - bytes)
		return -ENOSPC;
	u = shmipc_user_find(uid);
	if (bytes > user_limit || (u && u->bytes > user_limit - bytes))
		return -ENOSPC;
	if (!u) {
		u = kzalloc(sizeof(*u), GFP_KERNEL_ACCOUNT);
		if (!u)
			return -ENOMEM;
		u->uid = uid;
		list_add(&u->node, &shmipc_users);
	}
	u->bytes += bytes;
	shmipc_live_bytes += bytes;
	shmipc_nr_live++;
	return 0;
}

static void shmipc_uncharge(kuid_t uid, u64 bytes)
{
	struct shmipc_user *u = shmipc_user_find(uid);

	lockdep_assert_held(&shmipc_mutex);
	if (WARN_ON_ONCE(!u || u->bytes < bytes))
		return;
	u->bytes -= bytes;
	if (!u->bytes) {
		list_del(&u->node);
		kfree(u);
	}
	shmipc_live_bytes -= bytes;
	shmipc_nr_live--;
}

static u32 shmipc_name_hash(const char *name)
{
	return full_name_hash(NULL, name, strlen(name));
}

static struct shmipc_region *shmipc_registry_find(const char *name)
{
	struct shmipc_region *r;

	lockdep_assert_held(&shmipc_mutex);
	hash_for_each_possible(shmipc_registry, r, hnode, shmipc_name_hash(name))
		if (!strcmp(r->name, name))
			return r;
	return NULL;
}

static void shmipc_registry_del(struct shmipc_region *r)
{
	lockdep_assert_held(&shmipc_mutex);
	hash_del(&r->hnode);
	r->linked = false;
	shmipc_nr_linked--;
}

/* Frees what shmipc_region_alloc() allocated; accounting is the caller's. */
static void shmipc_region_free(struct shmipc_region *r)
{
	pgoff_t i;

	for (i = 0; i < r->nr_pages && r->pages[i]; i++)
		put_page(r->pages[i]);
	kvfree(r->pages);
	if (r->status_page)
		put_page(r->status_page);
	kfree(r);
}

static struct shmipc_region *shmipc_region_alloc(const char *name, size_t size,
						 umode_t mode)
{
	struct shmipc_region *r;
	pgoff_t i;

	r = kzalloc(sizeof(*r), GFP_KERNEL_ACCOUNT);
	if (!r)
		return ERR_PTR(-ENOMEM);
	r->status_page = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);
	if (!r->status_page) {
		kfree(r);
		return ERR_PTR(-ENOMEM);
	}
	r->nr_pages = size >> PAGE_SHIFT;
	r->pages = kvcalloc(r->nr_pages, sizeof(*r->pages),
			    GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!r->pages) {
		put_page(r->status_page);
		kfree(r);
		return ERR_PTR(-ENOMEM);
	}
	/*
	 * Order-0 pages, charged to the caller's memory cgroup: no contiguous
	 * allocation to fail on a fragmented machine, and each one maps alone.
	 * A request the machine or the cgroup cannot meet fails with -ENOMEM
	 * rather than calling the OOM killer on someone else's behalf.
	 */
	for (i = 0; i < r->nr_pages; i++) {
		r->pages[i] = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO |
					 __GFP_RETRY_MAYFAIL | __GFP_NOWARN);
		if (!r->pages[i])
			goto free_region;
		if (fatal_signal_pending(current))
			goto free_region;
		cond_resched();
	}
	refcount_set(&r->ref, 1);
	strscpy(r->name, name, sizeof(r->name));
	r->size = size;
	r->uid = current_fsuid();
	r->gid = current_fsgid();
	r->mode = mode;
	atomic_set(&r->nr_fds, 0);
	atomic_set(&r->nr_maps, 0);
	shmipc_wait_init(r);
	spin_lock_init(&r->attach_lock);
	init_waitqueue_head(&r->death_wq);
	r->next_gen = 1;
	r->status = page_address(r->status_page);
	r->status->magic = SHMIPC_STATUS_MAGIC;
	r->status->max_peers = SHMIPC_MAX_PEERS;
	return r;

free_region:
	shmipc_region_free(r);
	return ERR_PTR(fatal_signal_pending(current) ? -EINTR : -ENOMEM);
}

/* SysV ipcperms() rules: owner bits, else group bits, else other bits. */
static int shmipc_region_permission(const struct shmipc_region *r, u32 access)
{
	umode_t granted = r->mode;
	umode_t want = 0;

	if (access & SHMIPC_ACCESS_READ)
		want |= 04;
	if (access & SHMIPC_ACCESS_WRITE)
		want |= 02;
	if (uid_eq(current_fsuid(), r->uid))
		granted >>= 6;
	else if (in_group_p(r->gid))
		granted >>= 3;
	if (!(want & ~granted & 07))
		return 0;
	if (capable(CAP_IPC_OWNER))
		return 0;
	return -EACCES;
}

/**
 * shmipc_region_create() - create a named region, or open an existing one
 * @name:	validated region name
 * @size:	bytes wanted, nonzero
 * @mode:	permission bits of a new region
 * @excl:	fail with -EEXIST when the name exists
 * @out:	the region, with a reference for the caller
 * @created:	set when this call made the region
 *
 * Return: 0 or a negative errno, as documented for SHMIPC_IOC_CREATE.
 */
int shmipc_region_create(const char *name, u64 size, umode_t mode,
			 bool excl, struct shmipc_region **out, bool *created)
{
	struct shmipc_region *r, *new = NULL;
	kuid_t uid = current_fsuid();
	int err;

	if (size > READ_ONCE(shmipc_max_region_size) ||
	    size > (SIZE_MAX & PAGE_MASK) || size >= SHMIPC_STATUS_OFFSET)
		return -E2BIG;
	size = PAGE_ALIGN(size);

	mutex_lock(&shmipc_mutex);
	r = shmipc_registry_find(name);
	if (!r) {
		err = shmipc_charge(uid, size);
		mutex_unlock(&shmipc_mutex);
		if (err)
			return err;
		new = shmipc_region_alloc(name, size, mode);
		mutex_lock(&shmipc_mutex);
		if (IS_ERR(new)) {
			shmipc_uncharge(uid, size);
			mutex_unlock(&shmipc_mutex);
			return PTR_ERR(new);
		}
		/* The name may have been taken while the pages were allocated. */
		r = shmipc_registry_find(name);
		if (!r) {
			new->id = ++shmipc_next_id;
			new->linked = true;
			hash_add(shmipc_registry, &new->hnode,
				 shmipc_name_hash(name));
			list_add_tail(&new->node, &shmipc_regions);
			shmipc_nr_linked++;
			refcount_inc(&new->ref);	/* the caller's */
			mutex_unlock(&shmipc_mutex);
			*out = new;
			*created = true;
			return 0;
		}
		shmipc_uncharge(uid, size);
	}

	if (excl)
		err = -EEXIST;
	else if (size > r->size)
		err = -EINVAL;
	else
		err = shmipc_region_permission(r, SHMIPC_ACCESS_RDWR);
	if (!err)
		refcount_inc(&r->ref);
	mutex_unlock(&shmipc_mutex);
	if (new)
		shmipc_region_free(new);
	if (err)
		return err;
	*out = r;
	*created = false;
	return 0;
}

/**
 * shmipc_region_lookup() - find a named region and check access to it
 * @name:	validated region name
 * @access:	SHMIPC_ACCESS_RDONLY or SHMIPC_ACCESS_RDWR
 * @out:	the region, with a reference for the caller
 *
 * Return: 0, -ENOENT or -EACCES.
 */
int shmipc_region_lookup(const char *name, u32 access,
			 struct shmipc_region **out)
{
	struct shmipc_region *r;
	int err;

	mutex_lock(&shmipc_mutex);
	r = shmipc_registry_find(name);
	err = r ? shmipc_region_permission(r, access) : -ENOENT;
	if (!err) {
		refcount_inc(&r->ref);
		*out = r;
	}
	mutex_unlock(&shmipc_mutex);
	return err;
}

/**
 * shmipc_region_unlink() - remove a name from the registry
 * @name:	validated region name
 *
 * Only the owner or CAP_SYS_ADMIN may. The region itself lives on while
 * files refer to it.
 *
 * Return: 0, -ENOENT or -EPERM.
 */
int shmipc_region_unlink(const char *name)
{
	struct shmipc_region *r;

	mutex_lock(&shmipc_mutex);
	r = shmipc_registry_find(name);
	if (!r) {
		mutex_unlock(&shmipc_mutex);
		return -ENOENT;
	}
	if (!uid_eq(current_fsuid(), r->uid) && !capable(CAP_SYS_ADMIN)) {
		mutex_unlock(&shmipc_mutex);
		return -EPERM;
	}
	shmipc_registry_del(r);
	mutex_unlock(&shmipc_mutex);
	shmipc_region_put(r);
	return 0;
}

/**
 * shmipc_region_forget() - undo the naming of a region just created
 * @r:	a region the caller holds a reference on
 *
 * Used when CREATE made a region but could not hand its fd to the caller:
 * the name goes, so a failed call leaves nothing behind.
 */
void shmipc_region_forget(struct shmipc_region *r)
{
	bool drop;

	mutex_lock(&shmipc_mutex);
	drop = r->linked;
	if (drop)
		shmipc_registry_del(r);
	mutex_unlock(&shmipc_mutex);
	if (drop)
		shmipc_region_put(r);
}

/**
 * shmipc_region_count() - the number of named regions
 *
 * Return: how many names the registry holds now.
 */
u32 shmipc_region_count(void)
{
	u32 n;

	mutex_lock(&shmipc_mutex);
	n = shmipc_nr_linked;
	mutex_unlock(&shmipc_mutex);
	return n;
}

/**
 * shmipc_region_list() - describe the named regions
 * @ents:	zeroed array to fill
 * @capacity:	its length
 *
 * Return: the number of entries written.
 */
u32 shmipc_region_list(struct shmipc_list_entry *ents, u32 capacity)
{
	struct user_namespace *ns = current_user_ns();
	struct shmipc_region *r;
	u32 n = 0;
	int bkt;

	mutex_lock(&shmipc_mutex);
	hash_for_each(shmipc_registry, bkt, r, hnode) {
		struct shmipc_list_entry *e;

		if (n == capacity)
			break;
		e = &ents[n];
		strscpy(e->name, r->name, sizeof(e->name));
		e->size = r->size;
		e->uid = from_kuid_munged(ns, r->uid);
		e->gid = from_kgid_munged(ns, r->gid);
		e->mode = r->mode;
		e->nr_fds = atomic_read(&r->nr_fds);
		e->nr_mappings = atomic_read(&r->nr_maps);
		n++;
	}
	mutex_unlock(&shmipc_mutex);
	return n;
}

/**
 * shmipc_region_put() - drop a reference, freeing the region with the last
 * @r:	the region
 */
void shmipc_region_put(struct shmipc_region *r)
{
	if (!refcount_dec_and_mutex_lock(&r->ref, &shmipc_mutex))
		return;
	WARN_ON_ONCE(r->linked);
	list_del(&r->node);
	shmipc_uncharge(r->uid, r->size);
	mutex_unlock(&shmipc_mutex);
	shmipc_region_free(r);
}

/**
 * shmipc_region_destroy_all() - drop every name at module exit
 *
 * No region file can exist then (each one pins the module), so dropping
 * the registry's references frees every region.
 */
void shmipc_region_destroy_all(void)
{
	struct shmipc_region *r, *next;
	struct hlist_node *tmp;
	LIST_HEAD(doomed);
	int bkt;

	mutex_lock(&shmipc_mutex);
	hash_for_each_safe(shmipc_registry, bkt, tmp, r, hnode) {
		shmipc_registry_del(r);
		list_move(&r->node, &doomed);
	}
	mutex_unlock(&shmipc_mutex);

	/* The last put takes r off whatever list r->node is on. */
	list_for_each_entry_safe(r, next, &doomed, node)
		shmipc_region_put(r);
	WARN(shmipc_nr_live || shmipc_live_bytes || !list_empty(&shmipc_users),
	     "shmipc: %u regions, %llu bytes still accounted at exit\n",
	     shmipc_nr_live, shmipc_live_bytes);
}

static int shmipc_debugfs_show(struct seq_file *m, void *unused)
{
	struct shmipc_region *r;

	mutex_lock(&shmipc_mutex);
	seq_puts(m, "id name size uid gid mode fds mappings waiters state peers deaths\n");
	list_for_each_entry(r, &shmipc_regions, node)
		seq_printf(m, "%llu %s %zu %u %u %04o %d %d %d %s %u %u\n",
			   r->id, r->name, r->size,
			   from_kuid(&init_user_ns, r->uid),
			   from_kgid(&init_user_ns, r->gid), r->mode,
			   atomic_read(&r->nr_fds), atomic_read(&r->nr_maps),
			   atomic_read(&r->nr_waiters),
			   r->linked ? "linked" : "unlinked",
			   READ_ONCE(r->status->nr_alive),
			   READ_ONCE(r->status->deaths));
	seq_printf(m, "total regions %u named %u bytes %llu\n",
		   shmipc_nr_live, shmipc_nr_linked, shmipc_live_bytes);
	mutex_unlock(&shmipc_mutex);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(shmipc_debugfs);

/**
 * shmipc_debugfs_init() - create <debugfs>/shmipc/regions, root-readable
 *
 * Failure only loses the administrator's view, so it is not an error.
 */
void shmipc_debugfs_init(void)
{
	shmipc_debugfs_dir = debugfs_create_dir("shmipc", NULL);
	debugfs_create_file("regions", 0400, shmipc_debugfs_dir, NULL,
			    &shmipc_debugfs_fops);
}

/**
 * shmipc_debugfs_exit() - remove what shmipc_debugfs_init() created
 */
void shmipc_debugfs_exit(void)
{
	debugfs_remove_recursive(shmipc_debugfs_dir);
}
