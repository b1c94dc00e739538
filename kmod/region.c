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
 *
 * Creating. A CREATE of a new name charges the limits and enters the name
 * in the registry at once, marked as being created, then allocates the
 * pages without the lock. Another CREATE of the same name meanwhile waits
 * for it (and then opens it, or fails with -EEXIST), so two racing creates
 * of one name charge the limits once: neither fails for a limit that only
 * their sum exceeded. OPEN, UNLINK and LIST see no region being created.
 *
 * Namespaces. Where the kernel exports what it takes to hold an IPC
 * namespace (put_ipc_ns(), 6.12), a region belongs to the IPC namespace of
 * its creator: names are looked up within the caller's, LIST shows only
 * those, and CAP_IPC_OWNER and CAP_SYS_ADMIN count in the namespace's user
 * namespace. Elsewhere (6.1) the registry is one for the host. Each
 * namespace that has regions has one struct shmipc_ns, which holds the
 * only reference this module takes on it. Once that is the namespace's
 * last reference (no process, no open /proc/PID/ns/ipc, no bind mount
 * holds it: nobody can enter it again), its names are removed, as the
 * kernel removes a namespace's SysV segments; shmipc_ns_reap() looks once
 * a second while a namespace other than the host's has regions. The
 * memory of a region goes, as after UNLINK, with its last fd and mapping.
 */

#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/debugfs.h>
#include <linux/hashtable.h>
#include <linux/ipc_namespace.h>
#include <linux/mm.h>
#include <linux/nsproxy.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/stringhash.h>
#include <linux/workqueue.h>

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
static DECLARE_WAIT_QUEUE_HEAD(shmipc_create_wq);	/* creates completing */

/**
 * struct shmipc_user - live regions owned by one user
 * @node:	in shmipc_users
 * @uid:	the user
 * @bytes:	bytes charged
 * @regions:	regions charged, never 0 while listed
 */
struct shmipc_user {
	struct list_head node;
	kuid_t uid;
	u64 bytes;
	u32 regions;
};

/**
 * struct shmipc_ns - an IPC namespace that has regions
 * @node:	in shmipc_namespaces
 * @ipc_ns:	the namespace, of which this holds one reference
 * @nr_regions:	its live regions, named or not; freed at 0
 */
struct shmipc_ns {
	struct list_head node;
	struct ipc_namespace *ipc_ns;
	u32 nr_regions;
};

static LIST_HEAD(shmipc_namespaces);	/* struct shmipc_ns */
static void shmipc_ns_reap(struct work_struct *work);
static DECLARE_DELAYED_WORK(shmipc_ns_reap_work, shmipc_ns_reap);

/* The namespace a region's name lives in: the caller's IPC namespace. */
#ifdef SHMIPC_HAVE_IPC_NS
static struct ipc_namespace *shmipc_current_ns(void)
{
	return current->nsproxy->ipc_ns;
}

/* Is @ns the host's, which lives for ever? */
static bool shmipc_ns_is_host(const struct shmipc_ns *ns)
{
	return ns->ipc_ns == &init_ipc_ns;
}

/* Has the module the last reference: can nobody enter it again? */
static bool shmipc_ns_orphaned(const struct shmipc_ns *ns)
{
	return refcount_read(&ns->ipc_ns->ns.count) == 1;
}

static void shmipc_ns_put_ipc(struct shmipc_ns *ns)
{
	put_ipc_ns(ns->ipc_ns);
}
#else
static struct ipc_namespace *shmipc_current_ns(void)
{
	return NULL;	/* one registry for the host */
}

static bool shmipc_ns_is_host(const struct shmipc_ns *ns)
{
	return true;
}

static bool shmipc_ns_orphaned(const struct shmipc_ns *ns)
{
	return false;
}

static void shmipc_ns_put_ipc(struct shmipc_ns *ns)
{
}
#endif

/* The record of the caller's namespace, with one more region counted. */
static struct shmipc_ns *shmipc_ns_get(void)
{
	struct ipc_namespace *ipc_ns = shmipc_current_ns();
	struct shmipc_ns *ns;

	lockdep_assert_held(&shmipc_mutex);
	list_for_each_entry(ns, &shmipc_namespaces, node)
		if (ns->ipc_ns == ipc_ns)
			goto found;
	ns = kzalloc(sizeof(*ns), GFP_KERNEL_ACCOUNT);
	if (!ns)
		return NULL;
	ns->ipc_ns = get_ipc_ns(ipc_ns);
	list_add(&ns->node, &shmipc_namespaces);
	if (!shmipc_ns_is_host(ns))
		schedule_delayed_work(&shmipc_ns_reap_work, HZ);
found:
	ns->nr_regions++;
	return ns;
}

static void shmipc_ns_put(struct shmipc_ns *ns)
{
	lockdep_assert_held(&shmipc_mutex);
	if (--ns->nr_regions)
		return;
	list_del(&ns->node);
	shmipc_ns_put_ipc(ns);
	kfree(ns);
}

/**
 * shmipc_region_capable() - has the caller @cap over the region?
 * @r:		the region
 * @cap:	CAP_IPC_OWNER, CAP_SYS_ADMIN
 *
 * In the user namespace that owns the region's IPC namespace, where
 * regions are per namespace; else in the initial one.
 *
 * Return: true if it has.
 */
bool shmipc_region_capable(const struct shmipc_region *r, int cap)
{
#ifdef SHMIPC_HAVE_IPC_NS
	return ns_capable(r->ns->ipc_ns->user_ns, cap);
#else
	return capable(cap);
#endif
}

/* The per-user share of max_regions, when max_user_regions is 0. */
static u32 shmipc_user_regions_limit(void)
{
	u32 limit = READ_ONCE(shmipc_max_user_regions);

	return limit ? limit : max(READ_ONCE(shmipc_max_regions) / 4, 1U);
}

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
	if (u && u->regions >= shmipc_user_regions_limit())
		return -ENOSPC;
	if (!u) {
		u = kzalloc(sizeof(*u), GFP_KERNEL_ACCOUNT);
		if (!u)
			return -ENOMEM;
		u->uid = uid;
		list_add(&u->node, &shmipc_users);
	}
	u->bytes += bytes;
	u->regions++;
	shmipc_live_bytes += bytes;
	shmipc_nr_live++;
	return 0;
}

static void shmipc_uncharge(kuid_t uid, u64 bytes)
{
	struct shmipc_user *u = shmipc_user_find(uid);

	lockdep_assert_held(&shmipc_mutex);
	if (WARN_ON_ONCE(!u || u->bytes < bytes || !u->regions))
		return;
	u->bytes -= bytes;
	if (!--u->regions) {
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

/* The region named @name in the caller's namespace, being created or not. */
static struct shmipc_region *shmipc_registry_find(const char *name)
{
	struct ipc_namespace *ns = shmipc_current_ns();
	struct shmipc_region *r;

	lockdep_assert_held(&shmipc_mutex);
	hash_for_each_possible(shmipc_registry, r, hnode, shmipc_name_hash(name))
		if (r->ns->ipc_ns == ns && !strcmp(r->name, name))
			return r;
	return NULL;
}

/* The same, if it is complete: what OPEN and UNLINK see. */
static struct shmipc_region *shmipc_registry_find_ready(const char *name)
{
	struct shmipc_region *r = shmipc_registry_find(name);

	return r && !r->creating ? r : NULL;
}

static void shmipc_registry_del(struct shmipc_region *r)
{
	lockdep_assert_held(&shmipc_mutex);
	hash_del(&r->hnode);
	r->linked = false;
	shmipc_nr_linked--;
}

/*
 * Frees what shmipc_region_new() and _populate() allocated; the accounting
 * is the caller's.
 */
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

/*
 * A region without its pages yet: what the registry names while the pages
 * are allocated (see the top). Its reference is the registry's.
 */
static struct shmipc_region *shmipc_region_new(const char *name, size_t size,
					       umode_t mode)
{
	struct shmipc_region *r;

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
	refcount_set(&r->ref, 1);
	strscpy(r->name, name, sizeof(r->name));
	r->size = size;
	r->uid = current_fsuid();
	r->gid = current_fsgid();
	r->mode = mode;
	r->creating = true;
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
}

/*
 * The pages, without the lock. Order-0 pages, charged to the caller's
 * memory cgroup: no contiguous allocation to fail on a fragmented machine,
 * and each one maps alone. A request the machine or the cgroup cannot meet
 * fails with -ENOMEM rather than calling the OOM killer on someone else's
 * behalf.
 */
static int shmipc_region_populate(struct shmipc_region *r)
{
	pgoff_t i;

	for (i = 0; i < r->nr_pages; i++) {
		r->pages[i] = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO |
					 __GFP_RETRY_MAYFAIL | __GFP_NOWARN);
		if (!r->pages[i] || fatal_signal_pending(current))
			return fatal_signal_pending(current) ? -EINTR : -ENOMEM;
		cond_resched();
	}
	return 0;
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
	if (shmipc_region_capable(r, CAP_IPC_OWNER))
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
	struct shmipc_region *r;
	kuid_t uid = current_fsuid();
	int err;

	if (size > (SIZE_MAX & PAGE_MASK) || size >= SHMIPC_STATUS_OFFSET)
		return -E2BIG;
	size = PAGE_ALIGN(size);
	if (size > READ_ONCE(shmipc_max_region_size))
		return -E2BIG;

	mutex_lock(&shmipc_mutex);
	for (;;) {
		r = shmipc_registry_find(name);
		if (!r || !r->creating)
			break;
		/* Another CREATE of the name: wait for it (see the top). */
		refcount_inc(&r->ref);
		mutex_unlock(&shmipc_mutex);
		err = wait_event_killable(shmipc_create_wq, !READ_ONCE(r->creating));
		shmipc_region_put(r);
		if (err)
			return -EINTR;
		mutex_lock(&shmipc_mutex);
	}
	if (!r) {
		err = shmipc_charge(uid, size);
		if (!err) {
			r = shmipc_region_new(name, size, mode);
			if (!IS_ERR(r)) {
				r->ns = shmipc_ns_get();
				if (!r->ns) {
					shmipc_region_free(r);
					r = ERR_PTR(-ENOMEM);
				}
			}
			if (IS_ERR(r)) {
				shmipc_uncharge(uid, size);
				err = PTR_ERR(r);
			}
		}
		if (err) {
			mutex_unlock(&shmipc_mutex);
			return err;
		}
		r->linked = true;
		hash_add(shmipc_registry, &r->hnode, shmipc_name_hash(name));
		list_add_tail(&r->node, &shmipc_regions);
		shmipc_nr_linked++;
		mutex_unlock(&shmipc_mutex);

		err = shmipc_region_populate(r);

		mutex_lock(&shmipc_mutex);
		WRITE_ONCE(r->creating, false);
		if (err) {
			shmipc_registry_del(r);
		} else {
			r->id = ++shmipc_next_id;
			refcount_inc(&r->ref);	/* the caller's */
		}
		mutex_unlock(&shmipc_mutex);
		wake_up_all(&shmipc_create_wq);
		if (err) {
			shmipc_region_put(r);	/* the registry's: frees it */
			return err;
		}
		*out = r;
		*created = true;
		return 0;
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
	r = shmipc_registry_find_ready(name);
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
	r = shmipc_registry_find_ready(name);
	if (!r) {
		mutex_unlock(&shmipc_mutex);
		return -ENOENT;
	}
	if (!uid_eq(current_fsuid(), r->uid) &&
	    !shmipc_region_capable(r, CAP_SYS_ADMIN)) {
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

/* A named, complete region of the caller's namespace: what LIST shows. */
static bool shmipc_region_listed(const struct shmipc_region *r)
{
	return !r->creating && r->ns->ipc_ns == shmipc_current_ns();
}

/**
 * shmipc_region_count() - the number of named regions the caller can see
 *
 * Return: how many names of the caller's namespace the registry holds now.
 */
u32 shmipc_region_count(void)
{
	struct shmipc_region *r;
	u32 n = 0;
	int bkt;

	mutex_lock(&shmipc_mutex);
	hash_for_each(shmipc_registry, bkt, r, hnode)
		n += shmipc_region_listed(r);
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

		if (!shmipc_region_listed(r))
			continue;
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
	shmipc_ns_put(r->ns);
	mutex_unlock(&shmipc_mutex);
	shmipc_region_free(r);
}

/*
 * Removes the names of the namespaces nobody can enter again (see the
 * top), and looks again in a second while a namespace other than the
 * host's has regions.
 */
static void shmipc_ns_reap(struct work_struct *work)
{
	struct shmipc_region *r, *next;
	struct hlist_node *tmp;
	struct shmipc_ns *ns;
	LIST_HEAD(doomed);
	bool again = false;
	int bkt;

	mutex_lock(&shmipc_mutex);
	hash_for_each_safe(shmipc_registry, bkt, tmp, r, hnode) {
		if (r->creating || !shmipc_ns_orphaned(r->ns))
			continue;
		shmipc_registry_del(r);
		list_move(&r->node, &doomed);
	}
	list_for_each_entry(ns, &shmipc_namespaces, node)
		again |= !shmipc_ns_is_host(ns);
	mutex_unlock(&shmipc_mutex);

	/* Each drops the registry's reference; the last put takes r off. */
	list_for_each_entry_safe(r, next, &doomed, node)
		shmipc_region_put(r);
	if (again)
		schedule_delayed_work(&shmipc_ns_reap_work, HZ);
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

	cancel_delayed_work_sync(&shmipc_ns_reap_work);
	mutex_lock(&shmipc_mutex);
	hash_for_each_safe(shmipc_registry, bkt, tmp, r, hnode) {
		shmipc_registry_del(r);
		list_move(&r->node, &doomed);
	}
	mutex_unlock(&shmipc_mutex);

	/* The last put takes r off whatever list r->node is on. */
	list_for_each_entry_safe(r, next, &doomed, node)
		shmipc_region_put(r);
	WARN(shmipc_nr_live || shmipc_live_bytes || !list_empty(&shmipc_users) ||
	     !list_empty(&shmipc_namespaces),
	     "shmipc: %u regions, %llu bytes still accounted at exit\n",
	     shmipc_nr_live, shmipc_live_bytes);
}

/* The region's IPC namespace, as /proc/PID/ns/ipc names it; 0 when global. */
static unsigned int shmipc_region_ns_inum(const struct shmipc_region *r)
{
#ifdef SHMIPC_HAVE_IPC_NS
	return r->ns->ipc_ns->ns.inum;
#else
	return 0;
#endif
}

static int shmipc_debugfs_show(struct seq_file *m, void *unused)
{
	struct shmipc_region *r;

	mutex_lock(&shmipc_mutex);
	seq_puts(m, "id name size uid gid mode fds mappings waiters state peers deaths ipcns\n");
	list_for_each_entry(r, &shmipc_regions, node)
		seq_printf(m, "%llu %s %zu %u %u %04o %d %d %d %s %u %u %u\n",
			   r->id, r->name, r->size,
			   from_kuid(&init_user_ns, r->uid),
			   from_kgid(&init_user_ns, r->gid), r->mode,
			   atomic_read(&r->nr_fds), atomic_read(&r->nr_maps),
			   atomic_read(&r->nr_waiters),
			   r->creating ? "creating" : r->linked ? "linked" : "unlinked",
			   READ_ONCE(r->status->nr_alive),
			   READ_ONCE(r->status->deaths), shmipc_region_ns_inum(r));
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
