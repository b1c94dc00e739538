// SPDX-License-Identifier: GPL-2.0-only
/*
 * shmipc: regions, their registry and accounting, and the region file.
 *
 * shmipc_mutex protects the registry (name -> region), the list of live
 * regions and every counter of the accounting. It is never taken in the
 * fault path or in wait/wake, and never held while allocating a region's
 * pages, so a large CREATE does not stall the others.
 */

#include <linux/anon_inodes.h>
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/debugfs.h>
#include <linux/file.h>
#include <linux/hashtable.h>
#include <linux/mm.h>
#include <linux/pid.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/stringhash.h>
#include <linux/uaccess.h>

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

static struct shmipc_region *shmipc_file_region(struct file *file)
{
	struct shmipc_attach *a = file->private_data;

	return a->r;
}

static void shmipc_vm_open(struct vm_area_struct *vma)
{
	struct shmipc_region *r = shmipc_file_region(vma->vm_file);

	atomic_inc(&r->nr_maps);
}

static void shmipc_vm_close(struct vm_area_struct *vma)
{
	struct shmipc_region *r = shmipc_file_region(vma->vm_file);

	atomic_dec(&r->nr_maps);
}

static vm_fault_t shmipc_vm_fault(struct vm_fault *vmf)
{
	struct shmipc_region *r = shmipc_file_region(vmf->vma->vm_file);
	struct page *page;

	if (vmf->pgoff >= r->nr_pages)
		return VM_FAULT_SIGBUS;
	page = r->pages[vmf->pgoff];
	get_page(page);
	vmf->page = page;
	return 0;
}

static const struct vm_operations_struct shmipc_vm_ops = {
	.open = shmipc_vm_open,
	.close = shmipc_vm_close,
	.fault = shmipc_vm_fault,
};

static vm_fault_t shmipc_status_fault(struct vm_fault *vmf)
{
	struct shmipc_region *r = shmipc_file_region(vmf->vma->vm_file);

	if (vmf->pgoff != SHMIPC_STATUS_OFFSET >> PAGE_SHIFT)
		return VM_FAULT_SIGBUS;
	get_page(r->status_page);
	vmf->page = r->status_page;
	return 0;
}

static const struct vm_operations_struct shmipc_status_vm_ops = {
	.fault = shmipc_status_fault,
};

/* The status page: one page, shared, never writable or executable. */
static int shmipc_status_mmap(struct vm_area_struct *vma)
{
	if (vma_pages(vma) != 1 || !(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if (vma->vm_flags & (VM_WRITE | VM_EXEC))
		return -EPERM;
	vm_flags_clear(vma, VM_MAYWRITE | VM_MAYEXEC);
	vm_flags_set(vma, VM_DONTEXPAND);
	vma->vm_ops = &shmipc_status_vm_ops;
	return 0;
}

static int shmipc_region_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct shmipc_region *r = shmipc_file_region(file);
	unsigned long pages = vma_pages(vma);

	if (vma->vm_pgoff == SHMIPC_STATUS_OFFSET >> PAGE_SHIFT)
		return shmipc_status_mmap(vma);

	/*
	 * MAP_SHARED sets VM_MAYSHARE; VM_SHARED is cleared by the core for a
	 * read-only file, whose shared mapping is then read-only for good.
	 */
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	/* Refuse PROT_EXEC now; clearing VM_MAYEXEC stops mprotect() later. */
	if (vma->vm_flags & VM_EXEC)
		return -EPERM;
	if (vma->vm_pgoff >= r->nr_pages || pages > r->nr_pages - vma->vm_pgoff)
		return -EINVAL;
	vm_flags_clear(vma, VM_MAYEXEC);
	vm_flags_set(vma, VM_DONTEXPAND);
	vma->vm_ops = &shmipc_vm_ops;
	atomic_inc(&r->nr_maps);
	return 0;
}

static int shmipc_ioctl_info(struct file *file, struct shmipc_info __user *uarg)
{
	struct user_namespace *ns = current_user_ns();
	struct shmipc_attach *a = file->private_data;
	struct shmipc_region *r = a->r;
	struct shmipc_info info = {};

	strscpy(info.name, r->name, sizeof(info.name));
	info.size = r->size;
	info.id = r->id;
	info.uid = from_kuid_munged(ns, r->uid);
	info.gid = from_kgid_munged(ns, r->gid);
	info.mode = r->mode;
	info.access = SHMIPC_ACCESS_READ;
	if (file->f_mode & FMODE_WRITE)
		info.access |= SHMIPC_ACCESS_WRITE;
	if (!READ_ONCE(r->linked))
		info.flags |= SHMIPC_INFO_UNLINKED;
	info.nr_fds = atomic_read(&r->nr_fds);
	info.nr_mappings = atomic_read(&r->nr_maps);
	info.nr_waiters = atomic_read(&r->nr_waiters);
	info.peer_id = a->token;
	info.deaths = READ_ONCE(r->status->deaths);
	if (copy_to_user(uarg, &info, sizeof(info)))
		return -EFAULT;
	return 0;
}

/* What SHMIPC_IOC_PEERS copies under the lock, to translate outside it. */
struct shmipc_peer_snap {
	struct pid *owner;
	u32 token;
};

static int shmipc_ioctl_peers(struct file *file, struct shmipc_peers __user *uarg)
{
	struct shmipc_attach *a = file->private_data;
	struct shmipc_region *r = a->r;
	struct shmipc_peer_entry *ents;
	struct shmipc_peer_snap *snap;
	struct shmipc_peers arg;
	u32 i, n, total = 0, deaths;
	int err = 0;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (arg.reserved[0] || arg.reserved[1] || arg.capacity > SHMIPC_MAX_PEERS)
		return -EINVAL;
	ents = kvcalloc(max(arg.capacity, 1U), sizeof(*ents), GFP_KERNEL);
	snap = kvcalloc(max(arg.capacity, 1U), sizeof(*snap), GFP_KERNEL);
	if (!ents || !snap) {
		err = -ENOMEM;
		goto free_arrays;
	}
	spin_lock(&r->attach_lock);
	deaths = r->status->deaths;
	for (i = 0; i < SHMIPC_MAX_PEERS; i++) {
		struct shmipc_attach *p = r->slots[i];

		if (!p)
			continue;
		if (total < arg.capacity) {
			snap[total].owner = get_pid(p->owner);
			snap[total].token = p->token;
		}
		total++;
	}
	spin_unlock(&r->attach_lock);
	n = min(total, arg.capacity);
	for (i = 0; i < n; i++) {
		ents[i].id = snap[i].token;
		ents[i].pid = pid_vnr(snap[i].owner);
		ents[i].flags = snap[i].token == a->token ? SHMIPC_PEER_SELF : 0;
		put_pid(snap[i].owner);
	}
	WRITE_ONCE(a->seen, deaths);
	arg.count = n;
	arg.total = total;
	arg.deaths = deaths;
	if ((n && copy_to_user(u64_to_user_ptr(arg.entries), ents,
			       n * sizeof(*ents))) ||
	    copy_to_user(uarg, &arg, sizeof(arg)))
		err = -EFAULT;
free_arrays:
	kvfree(snap);
	kvfree(ents);
	return err;
}

static int shmipc_ioctl_attach(struct file *file,
			       struct shmipc_attach_req __user *uarg)
{
	struct shmipc_region *r = shmipc_file_region(file);
	struct shmipc_attach_req arg;
	struct file *nfile;
	u32 access = SHMIPC_ACCESS_READ;
	int fd;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (arg.reserved[0] || arg.reserved[1] || arg.reserved[2])
		return -EINVAL;
	if (file->f_mode & FMODE_WRITE)
		access |= SHMIPC_ACCESS_WRITE;
	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0)
		return fd;
	refcount_inc(&r->ref);		/* the new file's */
	nfile = shmipc_region_file(r, access);
	if (IS_ERR(nfile)) {
		shmipc_region_put(r);
		put_unused_fd(fd);
		return PTR_ERR(nfile);
	}
	arg.fd = fd;
	if (copy_to_user(uarg, &arg, sizeof(arg))) {
		fput(nfile);		/* drops the reference with the file */
		put_unused_fd(fd);
		return -EFAULT;
	}
	fd_install(fd, nfile);
	return 0;
}

static long shmipc_region_ioctl(struct file *file, unsigned int cmd,
				unsigned long arg)
{
	struct shmipc_region *r = shmipc_file_region(file);
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case SHMIPC_IOC_WAIT:
		return shmipc_ioctl_wait(r, uarg);
	case SHMIPC_IOC_WAKE:
		return shmipc_ioctl_wake(r, uarg);
	case SHMIPC_IOC_INFO:
		return shmipc_ioctl_info(file, uarg);
	case SHMIPC_IOC_PEERS:
		return shmipc_ioctl_peers(file, uarg);
	case SHMIPC_IOC_ATTACH:
		return shmipc_ioctl_attach(file, uarg);
	}
	return -ENOTTY;
}

/*
 * Marks @a dead: its token leaves the status page, then the death count
 * moves, then every death waiter and poll()er is woken. A reader that finds
 * the count unchanged after reading a token therefore read the token before
 * it was cleared; shmipc_wait_wake_deaths() explains why a waiter cannot
 * sleep through the death.
 */
static void shmipc_attach_kill(struct shmipc_attach *a)
{
	struct shmipc_region *r = a->r;
	struct shmipc_status *st = r->status;

	spin_lock(&r->attach_lock);
	if (a->dead) {
		spin_unlock(&r->attach_lock);
		return;
	}
	a->dead = true;
	r->slots[a->token & SHMIPC_PEER_SLOT_MASK] = NULL;
	WRITE_ONCE(st->peers[a->token & SHMIPC_PEER_SLOT_MASK], 0);
	WRITE_ONCE(st->nr_alive, st->nr_alive - 1);
	smp_wmb();	/* the token is gone before the count moves */
	WRITE_ONCE(st->deaths, st->deaths + 1);
	spin_unlock(&r->attach_lock);
	shmipc_wait_wake_deaths(r);
	wake_up_interruptible_poll(&r->death_wq, EPOLLPRI);
}

/* A new attachment in a free slot, or -EUSERS. */
static struct shmipc_attach *shmipc_attach_new(struct shmipc_region *r)
{
	struct shmipc_attach *a;
	u32 slot, gen;

	a = kzalloc(sizeof(*a), GFP_KERNEL_ACCOUNT);
	if (!a)
		return ERR_PTR(-ENOMEM);
	a->r = r;
	a->owner = get_pid(task_tgid(current));
	spin_lock(&r->attach_lock);
	for (slot = 0; slot < SHMIPC_MAX_PEERS; slot++)
		if (!r->slots[slot])
			break;
	if (slot == SHMIPC_MAX_PEERS) {
		spin_unlock(&r->attach_lock);
		put_pid(a->owner);
		kfree(a);
		return ERR_PTR(-EUSERS);
	}
	gen = r->next_gen;
	r->next_gen = gen + 1 < BIT(30 - SHMIPC_PEER_SLOT_BITS) ? gen + 1 : 1;
	a->token = gen << SHMIPC_PEER_SLOT_BITS | slot;
	a->seen = r->status->deaths;
	r->slots[slot] = a;
	WRITE_ONCE(r->status->nr_alive, r->status->nr_alive + 1);
	WRITE_ONCE(r->status->peers[slot], a->token);
	spin_unlock(&r->attach_lock);
	return a;
}

/*
 * Called on every close of an fd of the file. Only the owner's exit kills
 * the attachment here: a child that inherited the fd, or a process it was
 * passed to, keeps the file open but is not the peer the token names.
 */
static int shmipc_region_flush(struct file *file, fl_owner_t id)
{
	struct shmipc_attach *a = file->private_data;

	if ((current->flags & PF_EXITING) && task_tgid(current) == a->owner)
		shmipc_attach_kill(a);
	return 0;
}

static __poll_t shmipc_region_poll(struct file *file, poll_table *wait)
{
	struct shmipc_attach *a = file->private_data;
	struct shmipc_region *r = a->r;

	poll_wait(file, &r->death_wq, wait);
	return READ_ONCE(r->status->deaths) != READ_ONCE(a->seen) ? EPOLLPRI : 0;
}

static int shmipc_region_release(struct inode *inode, struct file *file)
{
	struct shmipc_attach *a = file->private_data;
	struct shmipc_region *r = a->r;

	shmipc_attach_kill(a);
	put_pid(a->owner);
	kfree(a);
	atomic_dec(&r->nr_fds);
	shmipc_region_put(r);
	return 0;
}

static const struct file_operations shmipc_region_fops = {
	.owner = THIS_MODULE,
	.release = shmipc_region_release,
	.flush = shmipc_region_flush,
	.poll = shmipc_region_poll,
	.mmap = shmipc_region_mmap,
	.unlocked_ioctl = shmipc_region_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

/**
 * shmipc_region_file() - a new region file
 * @r:		the region; the caller's reference passes to the file on
 *		success and stays the caller's on failure
 * @access:	SHMIPC_ACCESS_RDONLY or SHMIPC_ACCESS_RDWR
 *
 * Return: the file, or an ERR_PTR.
 */
struct file *shmipc_region_file(struct shmipc_region *r, u32 access)
{
	int flags = (access & SHMIPC_ACCESS_WRITE) ? O_RDWR : O_RDONLY;
	struct shmipc_attach *a;
	struct file *file;

	a = shmipc_attach_new(r);
	if (IS_ERR(a))
		return ERR_CAST(a);
	file = anon_inode_getfile("[shmipc]", &shmipc_region_fops, a, flags);
	if (IS_ERR(file))
		goto kill_attach;
	atomic_inc(&r->nr_fds);
	return file;

kill_attach:
	shmipc_attach_kill(a);
	put_pid(a->owner);
	kfree(a);
	return file;
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
