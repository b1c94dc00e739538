// SPDX-License-Identifier: GPL-2.0-only
/*
 * shmipc: the region file, the object a region fd names. Its mmap (the
 * region's pages, and the read-only status page), its attachment (the
 * token that says which process is the peer, and its death), its poll and
 * the ioctls that act on one region: WAIT/WAKE (wait.c), INFO, PEERS and
 * ATTACH. The registry, accounting and lifetime of regions are region.c's.
 */

#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/mm.h>
#include <linux/pid.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "compat.h"
#include "internal.h"

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
	spin_lock_irq(&r->attach_lock);	/* irq: see shmipc_attach_clear() */
	deaths = r->status->deaths;
	for (i = 0; i < SHMIPC_MAX_PEERS; i++) {
		struct shmipc_attach *p = r->slots[i];

		/* Not yet a peer, or its opener has exited (its kill is queued). */
		if (!p || !p->published || !shmipc_attach_alive(p))
			continue;
		if (total < arg.capacity) {
			snap[total].owner = get_pid(p->owner);
			snap[total].token = p->token;
		}
		total++;
	}
	spin_unlock_irq(&r->attach_lock);
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
	shmipc_region_file_publish(nfile);
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

	shmipc_attach_release(a);
	atomic_dec(&r->nr_fds);
	shmipc_region_put(r);
	return 0;
}

static const struct file_operations shmipc_region_fops = {
	.owner = THIS_MODULE,
	.release = shmipc_region_release,
	.poll = shmipc_region_poll,
	.mmap = shmipc_region_mmap,
	.unlocked_ioctl = shmipc_region_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

/**
 * shmipc_region_file() - a new region file, its attachment not yet published
 * @r:		the region; the caller's reference passes to the file on
 *		success and stays the caller's on failure
 * @access:	SHMIPC_ACCESS_RDONLY or SHMIPC_ACCESS_RDWR
 *
 * The caller publishes it (shmipc_region_file_publish()) right before it
 * installs the fd, after every step that can fail: a file released before
 * that counts no death.
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
		goto release_attach;
	atomic_inc(&r->nr_fds);
	return file;

release_attach:
	shmipc_attach_release(a);
	return file;
}

/**
 * shmipc_region_file_publish() - the file's attachment becomes a live peer
 * @file:	a file shmipc_region_file() made, about to be installed
 */
void shmipc_region_file_publish(struct file *file)
{
	shmipc_attach_publish(file->private_data);
}
