// SPDX-License-Identifier: GPL-2.0-only
/*
 * shmipc: the /dev/shmipc misc device, a factory and registry of named
 * shared-memory regions. One helper per device ioctl; regions, their
 * registry and accounting are in region.c, the region file (mmap,
 * attachments, INFO/PEERS/ATTACH) in file.c, wait/wake in wait.c.
 */

#include <linux/file.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "internal.h"

unsigned long shmipc_max_region_size = SZ_1G;
module_param_named(max_region_size, shmipc_max_region_size, ulong, 0644);
MODULE_PARM_DESC(max_region_size, "Largest region in bytes (default 1 GiB)");

unsigned int shmipc_max_regions = 4096;
module_param_named(max_regions, shmipc_max_regions, uint, 0644);
MODULE_PARM_DESC(max_regions, "Most live regions, named or unlinked (default 4096)");

unsigned long shmipc_max_total_bytes;
module_param_named(max_total_bytes, shmipc_max_total_bytes, ulong, 0644);
MODULE_PARM_DESC(max_total_bytes, "Most bytes in all live regions (0: half of RAM)");

unsigned long shmipc_max_user_bytes;
module_param_named(max_user_bytes, shmipc_max_user_bytes, ulong, 0644);
MODULE_PARM_DESC(max_user_bytes, "Most bytes in one user's live regions (0: a quarter of RAM)");

unsigned int shmipc_max_user_regions;
module_param_named(max_user_regions, shmipc_max_user_regions, uint, 0644);
MODULE_PARM_DESC(max_user_regions, "Most live regions of one user (0: a quarter of max_regions)");

/* Read-only: whether this build keeps a registry per IPC namespace. */
#ifdef SHMIPC_HAVE_IPC_NS
static bool ipc_namespaces = true;
#else
static bool ipc_namespaces;
#endif
module_param(ipc_namespaces, bool, 0444);
MODULE_PARM_DESC(ipc_namespaces, "Y: region names are per IPC namespace; N: one registry for the host (kernels that do not export put_ipc_ns)");

static ushort dev_mode = 0666;
module_param(dev_mode, ushort, 0444);
MODULE_PARM_DESC(dev_mode, "Mode of /dev/shmipc (default 0666; region modes are the fine-grained gate)");

/* 1 to SHMIPC_NAME_MAX - 1 bytes of 0x21-0x7e but '/', NUL, zero padding. */
static int shmipc_name_check(const char *name)
{
	size_t len = strnlen(name, SHMIPC_NAME_MAX);
	size_t i;

	if (!len || len == SHMIPC_NAME_MAX)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		unsigned char c = name[i];

		if (c < 0x21 || c > 0x7e || c == '/')
			return -EINVAL;
	}
	if (memchr_inv(name + len, 0, SHMIPC_NAME_MAX - len))
		return -EINVAL;
	return 0;
}

/*
 * A region file and a reserved fd for it. The region reference passes to
 * the file; on failure it stays the caller's.
 */
static struct file *shmipc_get_file(struct shmipc_region *r, u32 access,
				    int *fdp)
{
	struct file *file;
	int fd;

	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0)
		return ERR_PTR(fd);
	file = shmipc_region_file(r, access);
	if (IS_ERR(file)) {
		put_unused_fd(fd);
		return file;
	}
	*fdp = fd;
	return file;
}

static int shmipc_ioctl_create(struct shmipc_create __user *uarg)
{
	struct shmipc_region *r;
	struct shmipc_create arg;
	struct file *file;
	bool created;
	int fd, err;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (!arg.size || arg.mode & ~0777U ||
	    arg.flags & ~SHMIPC_CREATE_FLAGS ||
	    memchr_inv(arg.reserved, 0, sizeof(arg.reserved)))
		return -EINVAL;
	err = shmipc_name_check(arg.name);
	if (err)
		return err;

	err = shmipc_region_create(arg.name, arg.size, arg.mode,
				   arg.flags & SHMIPC_CREATE_EXCL, &r, &created);
	if (err)
		return err;
	file = shmipc_get_file(r, SHMIPC_ACCESS_RDWR, &fd);
	if (IS_ERR(file)) {
		err = PTR_ERR(file);
		goto put_region;
	}

	arg.size = r->size;
	arg.flags = created ? SHMIPC_CREATED : 0;
	arg.fd = fd;
	if (copy_to_user(uarg, &arg, sizeof(arg))) {
		err = -EFAULT;
		goto put_file;
	}
	shmipc_region_file_publish(file);
	fd_install(fd, file);
	return 0;

put_file:
	if (created)
		shmipc_region_forget(r);
	put_unused_fd(fd);
	fput(file);		/* drops the file's region reference */
	return err;
put_region:
	if (created)
		shmipc_region_forget(r);
	shmipc_region_put(r);
	return err;
}

static int shmipc_ioctl_open(struct shmipc_open __user *uarg)
{
	struct shmipc_region *r;
	struct shmipc_open arg;
	struct file *file;
	int fd, err;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if ((arg.access != SHMIPC_ACCESS_RDONLY &&
	     arg.access != SHMIPC_ACCESS_RDWR) ||
	    memchr_inv(arg.reserved, 0, sizeof(arg.reserved)))
		return -EINVAL;
	err = shmipc_name_check(arg.name);
	if (err)
		return err;

	err = shmipc_region_lookup(arg.name, arg.access, &r);
	if (err)
		return err;
	file = shmipc_get_file(r, arg.access, &fd);
	if (IS_ERR(file)) {
		shmipc_region_put(r);
		return PTR_ERR(file);
	}

	arg.fd = fd;
	arg.size = r->size;
	if (copy_to_user(uarg, &arg, sizeof(arg))) {
		put_unused_fd(fd);
		fput(file);
		return -EFAULT;
	}
	shmipc_region_file_publish(file);
	fd_install(fd, file);
	return 0;
}

static int shmipc_ioctl_unlink(struct shmipc_unlink __user *uarg)
{
	struct shmipc_unlink arg;
	int err;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (memchr_inv(arg.reserved, 0, sizeof(arg.reserved)))
		return -EINVAL;
	err = shmipc_name_check(arg.name);
	if (err)
		return err;
	return shmipc_region_unlink(arg.name);
}

static int shmipc_ioctl_list(struct shmipc_list __user *uarg)
{
	struct shmipc_list_entry *ents = NULL;
	struct shmipc_list arg;
	u32 want;
	int err = 0;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (memchr_inv(arg.reserved, 0, sizeof(arg.reserved)))
		return -EINVAL;

	/*
	 * Size the snapshot by the count now; regions created meanwhile are
	 * left out of this answer and show in @total of the next.
	 */
	want = min(arg.capacity, shmipc_region_count());
	if (want) {
		ents = kvcalloc(want, sizeof(*ents), GFP_KERNEL);
		if (!ents)
			return -ENOMEM;
	}
	arg.count = want ? shmipc_region_list(ents, want) : 0;
	arg.total = shmipc_region_count();
	if (arg.count && copy_to_user(u64_to_user_ptr(arg.entries), ents,
				      arg.count * sizeof(*ents)))
		err = -EFAULT;
	else if (copy_to_user(uarg, &arg, sizeof(arg)))
		err = -EFAULT;
	kvfree(ents);
	return err;
}

static long shmipc_dev_ioctl(struct file *file, unsigned int cmd,
			     unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case SHMIPC_IOC_VERSION:
		return SHMIPC_ABI_VERSION;
	case SHMIPC_IOC_CREATE:
		return shmipc_ioctl_create(uarg);
	case SHMIPC_IOC_OPEN:
		return shmipc_ioctl_open(uarg);
	case SHMIPC_IOC_UNLINK:
		return shmipc_ioctl_unlink(uarg);
	case SHMIPC_IOC_LIST:
		return shmipc_ioctl_list(uarg);
	}
	return -ENOTTY;
}

static const struct file_operations shmipc_dev_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = shmipc_dev_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice shmipc_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "shmipc",
	.fops = &shmipc_dev_fops,
};

static int __init shmipc_init(void)
{
	int err;

	if (dev_mode & ~0777) {
		pr_err("shmipc: dev_mode %#o has bits beyond 0777\n", dev_mode);
		return -EINVAL;
	}
	shmipc_misc.mode = dev_mode;
	shmipc_debugfs_init();
	err = misc_register(&shmipc_misc);
	if (err)
		goto remove_debugfs;
	return 0;

remove_debugfs:
	shmipc_debugfs_exit();
	return err;
}

static void __exit shmipc_exit(void)
{
	misc_deregister(&shmipc_misc);
	shmipc_debugfs_exit();
	shmipc_region_destroy_all();
}

module_init(shmipc_init);
module_exit(shmipc_exit);

MODULE_DESCRIPTION("Named shared-memory regions with futex-style wait/wake");
MODULE_AUTHOR("The shmipc authors");
MODULE_LICENSE("GPL");
MODULE_VERSION("0.1");
