/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * shmipc: named shared-memory regions with futex-style wait/wake.
 *
 * Two kinds of file descriptor speak this ABI:
 *
 * - the device, /dev/shmipc, a factory and registry of named regions
 *   (SHMIPC_IOC_VERSION, _CREATE, _OPEN, _UNLINK, _LIST);
 * - a region fd, returned by CREATE and OPEN, an anonymous-inode file that
 *   is mmap()ed and carries the per-region calls (SHMIPC_IOC_WAIT, _WAKE,
 *   _INFO). It behaves like a memfd: it survives fork(), can be passed over
 *   a UNIX socket with SCM_RIGHTS and is always created close-on-exec.
 *
 * Attachments. Every region file is an attachment: a process that opened
 * the region. It has a token, (generation << SHMIPC_PEER_SLOT_BITS) | slot,
 * nonzero and below 2^30, unique among the region's attachments for 2^21
 * reuses of a slot. The module publishes the tokens of the live attachments
 * in a read-only status page (struct shmipc_status), mapped from the region
 * fd at SHMIPC_STATUS_OFFSET, so that liveness costs one load. An attachment
 * dies when its file is released for any reason, or when the process (the
 * whole thread group) that opened it has exited, whoever still holds the
 * file: a process it fork()ed or passed the fd to, a clone() sharing its fd
 * table, the image it exec()ed. The death is seen from the process's exit
 * itself, as pidfd poll sees it, never from an fd table; a thread's exit
 * never kills an attachment. The token names the opener, so a process that
 * inherits or receives a region fd opens the region itself (or ATTACH) to
 * be a peer. A death wakes every SHMIPC_WAIT_PEER_DEATH waiter of the
 * region and every poll()er of its region fds (EPOLLPRI); a CREATE, OPEN
 * or ATTACH that fails counts none.
 *
 * Every struct has a fixed size and explicit padding, so the layout is the
 * same for 32- and 64-bit callers. Fields named "reserved" and every flag bit
 * not defined here must be zero, else the call fails with -EINVAL; they are
 * how later ABI versions extend a call. User pointers travel as __u64.
 *
 * Errors common to every call: -EFAULT when the argument cannot be copied
 * from or to user memory, -ENOTTY for an unknown command on that fd.
 */
#ifndef _UAPI_LINUX_SHMIPC_H
#define _UAPI_LINUX_SHMIPC_H

#include <linux/const.h>
#include <linux/ioctl.h>
#include <linux/types.h>

/* Returned by SHMIPC_IOC_VERSION; bumped on an incompatible change. */
#define SHMIPC_ABI_VERSION	1

/*
 * A region name: 1 to SHMIPC_NAME_MAX - 1 printable ASCII bytes (0x21-0x7e)
 * other than '/', then a NUL, then zero bytes to the end of the array.
 */
#define SHMIPC_NAME_MAX		64

/* SHMIPC_IOC_CREATE flags. */
#define SHMIPC_CREATE_EXCL	0x1U		/* fail with -EEXIST if it exists */
#define SHMIPC_CREATE_FLAGS	SHMIPC_CREATE_EXCL

/* SHMIPC_IOC_CREATE result flags. */
#define SHMIPC_CREATED		0x1U		/* this call made the region */

/* SHMIPC_IOC_OPEN access. */
#define SHMIPC_ACCESS_READ	0x1U
#define SHMIPC_ACCESS_WRITE	0x2U
#define SHMIPC_ACCESS_RDONLY	SHMIPC_ACCESS_READ
#define SHMIPC_ACCESS_RDWR	(SHMIPC_ACCESS_READ | SHMIPC_ACCESS_WRITE)

/*
 * Attachments per region, and the token layout (see the top). Of the
 * SHMIPC_MAX_PEERS slots, SHMIPC_OWNER_SLOTS are kept for the region's owner
 * and holders of CAP_IPC_OWNER, and any other user may hold at most
 * SHMIPC_USER_SLOTS: past either, OPEN and ATTACH give -EUSERS.
 */
#define SHMIPC_MAX_PEERS	512
#define SHMIPC_PEER_SLOT_BITS	9
#define SHMIPC_PEER_SLOT_MASK	(SHMIPC_MAX_PEERS - 1)
#define SHMIPC_OWNER_SLOTS	64
#define SHMIPC_USER_SLOTS	128

/* mmap() offset of the read-only status page; regions are smaller. */
#define SHMIPC_STATUS_OFFSET	_BITULL(40)
#define SHMIPC_STATUS_MAGIC	0x54415453U	/* "STAT" */

/* struct shmipc_wait.flags */
#define SHMIPC_WAIT_PEER_DEATH	0x1U	/* wake with -EOWNERDEAD on a death */
#define SHMIPC_WAIT_RELATIVE	0x2U	/* deadline_ns is a timeout from now */
#define SHMIPC_WAIT_FLAGS	(SHMIPC_WAIT_PEER_DEATH | SHMIPC_WAIT_RELATIVE)

/* struct shmipc_peer_entry.flags */
#define SHMIPC_PEER_SELF	0x1U	/* the attachment of the fd asked */

/* SHMIPC_IOC_WAKE count that wakes every waiter. */
#define SHMIPC_WAKE_ALL		0xffffffffU

/* struct shmipc_info.flags */
#define SHMIPC_INFO_UNLINKED	0x1U		/* the name has been removed */

/**
 * struct shmipc_create - SHMIPC_IOC_CREATE argument
 * @name:	region name, see SHMIPC_NAME_MAX
 * @size:	in: bytes wanted, > 0, rounded up to whole pages;
 *		out: the region's size
 * @mode:	permission bits (0777 at most), checked like SysV IPC: owner,
 *		group, then other bits; CAP_IPC_OWNER overrides
 * @flags:	in: SHMIPC_CREATE_* ; out: SHMIPC_CREATED if this call made it
 * @fd:		out: a new read-write, close-on-exec region fd
 * @reserved:	must be zero
 *
 * Creates a zero-filled region owned by the caller's fsuid/fsgid, its pages
 * charged to the caller's memory cgroup, or, without SHMIPC_CREATE_EXCL,
 * opens an existing one read-write (then @mode is ignored and @size must not
 * exceed the existing size).
 *
 * Names are per IPC namespace where the kernel lets a module hold one
 * (6.12 and later): a name created in one is neither seen nor opened from
 * another; on older kernels they are global to the host.
 *
 * Returns 0, or -EINVAL (bad name, zero size, unknown flag or mode bit,
 * nonzero reserved, @size larger than an existing region), -EEXIST (exists
 * and SHMIPC_CREATE_EXCL), -E2BIG (@size, rounded up to pages, above the
 * max_region_size module parameter), -ENOSPC (one of the limits: max_regions
 * live regions in all, max_user_regions of the caller's, max_total_bytes in
 * all, max_user_bytes of the caller's; two CREATEs of one new name charge
 * the limits once), -ENOMEM (no memory, or the memory cgroup's limit),
 * -EACCES (opening an existing region the caller may not read and write),
 * -EUSERS (no attachment slot the caller may use, see SHMIPC_OWNER_SLOTS),
 * -EINTR (a fatal signal while another CREATE of the name completed),
 * -EMFILE.
 */
struct shmipc_create {
	char  name[SHMIPC_NAME_MAX];
	__u64 size;
	__u32 mode;
	__u32 flags;
	__s32 fd;
	__u32 reserved[3];
};

/**
 * struct shmipc_open - SHMIPC_IOC_OPEN argument
 * @name:	region name
 * @access:	SHMIPC_ACCESS_RDONLY or SHMIPC_ACCESS_RDWR
 * @fd:		out: a new close-on-exec region fd; a read-only one can only be
 *		mapped without PROT_WRITE
 * @size:	out: the region's size in bytes
 * @reserved:	must be zero
 *
 * Returns 0, or -EINVAL (bad name, @access not one of the two values,
 * nonzero reserved), -ENOENT (no region of that name), -EACCES (the region's
 * owner, group and mode deny the access asked), -EUSERS (no attachment
 * slot the caller may use: all taken, or SHMIPC_USER_SLOTS of the caller's
 * user, or only the SHMIPC_OWNER_SLOTS kept for the owner left), -EMFILE.
 */
struct shmipc_open {
	char  name[SHMIPC_NAME_MAX];
	__u32 access;
	__s32 fd;
	__u64 size;
	__u64 reserved[2];
};

/**
 * struct shmipc_unlink - SHMIPC_IOC_UNLINK argument
 * @name:	region name
 * @reserved:	must be zero
 *
 * Removes the name; the memory lives until the last region fd is closed and
 * the last mapping is gone. Only the owner (fsuid) or CAP_SYS_ADMIN may.
 * Returns 0, or -EINVAL (bad name, nonzero reserved), -ENOENT, -EPERM.
 */
struct shmipc_unlink {
	char  name[SHMIPC_NAME_MAX];
	__u64 reserved[2];
};

/**
 * struct shmipc_list_entry - one region in a SHMIPC_IOC_LIST answer
 * @name:	region name, NUL-terminated
 * @size:	bytes
 * @uid:	owner uid, in the caller's user namespace
 * @gid:	owner gid, in the caller's user namespace
 * @mode:	permission bits
 * @nr_fds:	open region fds
 * @nr_mappings: mapped VMAs
 * @reserved:	zero
 */
struct shmipc_list_entry {
	char  name[SHMIPC_NAME_MAX];
	__u64 size;
	__u32 uid;
	__u32 gid;
	__u32 mode;
	__u32 nr_fds;
	__u32 nr_mappings;
	__u32 reserved[3];
};

/**
 * struct shmipc_list - SHMIPC_IOC_LIST argument
 * @entries:	user pointer to an array of @capacity entries (may be 0 when
 *		@capacity is 0)
 * @capacity:	in: entries the array holds
 * @count:	out: entries written, at most @capacity, in no fixed order
 * @total:	out: named regions that exist; call again with a larger array
 *		when it exceeds @count
 * @reserved:	must be zero
 *
 * Returns 0, or -EINVAL (nonzero reserved), -ENOMEM.
 */
struct shmipc_list {
	__u64 entries;
	__u32 capacity;
	__u32 count;
	__u32 total;
	__u32 reserved[3];
};

/**
 * struct shmipc_status - the status page, written by the module only
 * @magic:	SHMIPC_STATUS_MAGIC
 * @max_peers:	entries in @peers
 * @deaths:	attachments of the region that have died, ever (wraps);
 *		stored after the dead token is cleared from @peers
 * @nr_alive:	live attachments
 * @reserved:	zero
 * @peers:	slot s holds the token of the live attachment in slot s, or 0;
 *		token t is alive while @peers[t & SHMIPC_PEER_SLOT_MASK] == t
 *
 * mmap(NULL, 4096, PROT_READ, MAP_SHARED, region_fd, SHMIPC_STATUS_OFFSET).
 * Only read-only, shared, one-page mappings of it are allowed.
 */
struct shmipc_status {
	__u32 magic;
	__u32 max_peers;
	__u32 deaths;
	__u32 nr_alive;
	__u32 reserved[12];
	__u32 peers[SHMIPC_MAX_PEERS];
};

/**
 * struct shmipc_wait - SHMIPC_IOC_WAIT argument (region fd)
 * @offset:	byte offset of a 4-byte aligned __u32 inside the region
 * @expected:	sleep only while the word holds this value
 * @flags:	SHMIPC_WAIT_PEER_DEATH, SHMIPC_WAIT_RELATIVE, or 0
 * @deadline_ns: absolute CLOCK_MONOTONIC time to give up at, in ns, as the
 *		caller's time namespace reads that clock; with
 *		SHMIPC_WAIT_RELATIVE, a timeout in ns from now; 0 waits
 *		without a deadline
 * @deaths:	with SHMIPC_WAIT_PEER_DEATH: sleep only while the region's
 *		death count (struct shmipc_status.deaths) equals this; else 0
 * @reserved:	must be zero
 *
 * With SHMIPC_WAIT_PEER_DEATH, an attachment's death wakes the caller with
 * -EOWNERDEAD, and so does a death count other than @deaths, read after the
 * caller is queued: a caller that read the count, then found every peer it
 * depends on alive, cannot sleep through a death that came in between.
 *
 * Allowed on read-only region fds, like WAKE.
 * Futex semantics, keyed by (region, @offset) and never by user address,
 * so every mapping of the region, at any address and in any process, waits
 * on the same word. The caller is queued first and the word read after, so
 * a SHMIPC_IOC_WAKE issued after a store that changed the word is never lost.
 *
 * Returns 0 when woken by SHMIPC_IOC_WAKE (which may be spurious as far as
 * the caller's protocol goes: re-check the word), -EAGAIN when the word did
 * not hold @expected, -ETIMEDOUT at @deadline_ns, -EINTR when a signal
 * arrived (never restarted, even with SA_RESTART: call again, the deadline
 * is absolute), -EOWNERDEAD (see above), -EINVAL (unaligned offset, offset
 * past the end, unknown flags, nonzero @deaths without the flag, nonzero
 * @reserved, negative deadline).
 */
struct shmipc_wait {
	__u64 offset;
	__u32 expected;
	__u32 flags;
	__s64 deadline_ns;
	__u32 deaths;
	__u32 reserved;
};

/**
 * struct shmipc_wake - SHMIPC_IOC_WAKE argument (region fd)
 * @offset:	byte offset of the word, as for SHMIPC_IOC_WAIT
 * @count:	wake at most this many waiters (SHMIPC_WAKE_ALL for every one)
 * @flags:	must be zero
 * @reserved:	must be zero
 *
 * Returns the number of waiters woken (>= 0), or -EINVAL (unaligned offset,
 * offset past the end, nonzero flags or reserved).
 */
struct shmipc_wake {
	__u64 offset;
	__u32 count;
	__u32 flags;
	__u64 reserved;
};

/**
 * struct shmipc_info - SHMIPC_IOC_INFO result (region fd)
 * @name:	region name
 * @size:	bytes
 * @id:		a number unique to the region for the module's lifetime
 * @uid:	owner uid, in the caller's user namespace
 * @gid:	owner gid, in the caller's user namespace
 * @mode:	permission bits
 * @access:	this fd's SHMIPC_ACCESS_* bits
 * @flags:	SHMIPC_INFO_*
 * @nr_fds:	open region fds (this one included)
 * @nr_mappings: mapped VMAs
 * @nr_waiters: callers asleep in SHMIPC_IOC_WAIT
 * @peer_id:	this fd's attachment token
 * @deaths:	the region's death count
 * @reserved:	zero
 *
 * Returns 0 or -EFAULT.
 */
struct shmipc_info {
	char  name[SHMIPC_NAME_MAX];
	__u64 size;
	__u64 id;
	__u32 uid;
	__u32 gid;
	__u32 mode;
	__u32 access;
	__u32 flags;
	__u32 nr_fds;
	__u32 nr_mappings;
	__u32 nr_waiters;
	__u32 peer_id;
	__u32 deaths;
	__u64 reserved[3];
};

/**
 * struct shmipc_peer_entry - one live attachment in a SHMIPC_IOC_PEERS answer
 * @id:		its token
 * @pid:	the process that opened it, in the caller's pid namespace
 *		(0 when it is not visible there)
 * @flags:	SHMIPC_PEER_*
 * @reserved:	zero
 */
struct shmipc_peer_entry {
	__u32 id;
	__s32 pid;
	__u32 flags;
	__u32 reserved;
};

/**
 * struct shmipc_peers - SHMIPC_IOC_PEERS argument (region fd)
 * @entries:	user pointer to an array of @capacity entries
 * @capacity:	in: entries the array holds
 * @count:	out: entries written, in slot order
 * @total:	out: live attachments
 * @deaths:	out: the region's death count; poll() on this fd reports
 *		EPOLLPRI until a PEERS call has returned the current count
 * @reserved:	must be zero
 *
 * Returns 0, or -EINVAL (nonzero reserved, @capacity above
 * SHMIPC_MAX_PEERS), -ENOMEM.
 */
struct shmipc_peers {
	__u64 entries;
	__u32 capacity;
	__u32 count;
	__u32 total;
	__u32 deaths;
	__u32 reserved[2];
};

/**
 * struct shmipc_attach_req - SHMIPC_IOC_ATTACH argument (region fd)
 * @fd:		out: a new close-on-exec region fd, with the same access, for
 *		the same region (named or not): a new attachment, owned by
 *		the caller
 * @reserved:	must be zero
 *
 * How a process that inherited a region fd over fork(), or received one,
 * becomes a peer of its own. Returns 0, or -EINVAL (nonzero reserved),
 * -EUSERS (as for SHMIPC_IOC_OPEN), -ENOMEM, -EMFILE.
 */
struct shmipc_attach_req {
	__s32 fd;
	__u32 reserved[3];
};

/* ioctl magic 0xE1: unassigned in Documentation/userspace-api/ioctl/ioctl-number.rst. */
#define SHMIPC_IOC_MAGIC	0xE1

/* Device: returns SHMIPC_ABI_VERSION. */
#define SHMIPC_IOC_VERSION	_IO(SHMIPC_IOC_MAGIC, 0x00)
#define SHMIPC_IOC_CREATE	_IOWR(SHMIPC_IOC_MAGIC, 0x01, struct shmipc_create)
#define SHMIPC_IOC_OPEN		_IOWR(SHMIPC_IOC_MAGIC, 0x02, struct shmipc_open)
#define SHMIPC_IOC_UNLINK	_IOW(SHMIPC_IOC_MAGIC, 0x03, struct shmipc_unlink)
#define SHMIPC_IOC_LIST		_IOWR(SHMIPC_IOC_MAGIC, 0x04, struct shmipc_list)

/* Region fd. */
#define SHMIPC_IOC_WAIT		_IOW(SHMIPC_IOC_MAGIC, 0x10, struct shmipc_wait)
#define SHMIPC_IOC_WAKE		_IOW(SHMIPC_IOC_MAGIC, 0x11, struct shmipc_wake)
#define SHMIPC_IOC_INFO		_IOR(SHMIPC_IOC_MAGIC, 0x12, struct shmipc_info)
#define SHMIPC_IOC_PEERS	_IOWR(SHMIPC_IOC_MAGIC, 0x13, struct shmipc_peers)
#define SHMIPC_IOC_ATTACH	_IOWR(SHMIPC_IOC_MAGIC, 0x14, struct shmipc_attach_req)

#endif /* _UAPI_LINUX_SHMIPC_H */
