// SPDX-License-Identifier: GPL-2.0-only
/*
 * shmipc: futex-style wait and wake on 32-bit words of a region.
 *
 * A word is named by (region, offset), never by a user address: every
 * mapping of the region, in every process and at any address, names the
 * same word, and the value is read through the region's own page, so no
 * user page table is walked and no fault can happen under a lock.
 *
 * Why no wake-up is lost. The waker changes the word in user space and then
 * calls WAKE, which takes the bucket lock. The waiter takes the same lock,
 * queues itself, and only then reads the word, still under the lock. The two
 * lock sections are ordered one way or the other:
 *
 *  - waiter first: WAKE, acquiring the lock after the waiter released it,
 *    finds the waiter queued and wakes it;
 *  - waker first: the user store precedes WAKE's unlock (a release), the
 *    waiter's lock (an acquire) follows it, so the waiter reads the new
 *    value, sees it differ from @expected and returns -EAGAIN.
 *
 * The wake itself: the waker marks the waiter woken and calls
 * wake_up_process() under the bucket lock; the waiter sets its task state
 * before testing the mark (set_current_state() is a full barrier, and so is
 * the start of try_to_wake_up()), so it either sees the mark or is woken out
 * of schedule(). The waiter always retakes the bucket lock before it
 * returns, so the waker may touch the on-stack waiter and its task for as
 * long as it holds the lock, and a wake that races with a timeout or a
 * signal is reported as a wake, never dropped.
 *
 * Why no death is slept through (SHMIPC_WAIT_PEER_DEATH). A death first
 * moves the region's death count, then takes every bucket lock in turn and
 * wakes the death waiters queued there. The waiter compares the count with
 * the one it was given while it holds its bucket lock, after queueing. If
 * its lock section comes first, the killer finds it queued; if the killer's
 * comes first, the count was stored before the killer released the lock
 * that the waiter then acquired, so the waiter sees the new count.
 */

#include <linux/hash.h>
#include <linux/highmem.h>
#include <linux/hrtimer.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/string.h>
#include <linux/time_namespace.h>
#include <linux/nsproxy.h>
#include <linux/uaccess.h>

#include "internal.h"

/**
 * struct shmipc_waiter - a task asleep in SHMIPC_IOC_WAIT, on its stack
 * @node:	in its bucket's list while queued
 * @task:	the sleeper
 * @offset:	the word it waits on
 * @woken:	set by a waker under the bucket lock
 * @death:	wants to be woken by a death (SHMIPC_WAIT_PEER_DEATH)
 * @died:	woken by a death; set with @woken
 */
struct shmipc_waiter {
	struct list_head node;
	struct task_struct *task;
	u64 offset;
	bool woken;
	bool death;
	bool died;
};

/**
 * shmipc_wait_init() - prepare a new region's wait buckets
 * @r:	the region
 */
void shmipc_wait_init(struct shmipc_region *r)
{
	unsigned int i;

	atomic_set(&r->nr_waiters, 0);
	for (i = 0; i < SHMIPC_WAIT_BUCKETS; i++) {
		spin_lock_init(&r->buckets[i].lock);
		INIT_LIST_HEAD(&r->buckets[i].waiters);
	}
}

static struct shmipc_wait_bucket *shmipc_bucket(struct shmipc_region *r,
						u64 offset)
{
	return &r->buckets[hash_64(offset, SHMIPC_WAIT_HASH_BITS)];
}

/* An aligned word wholly inside the region. */
static bool shmipc_word_valid(const struct shmipc_region *r, u64 offset)
{
	return IS_ALIGNED(offset, sizeof(u32)) &&
	       offset <= r->size - sizeof(u32);
}

static u32 shmipc_read_word(struct shmipc_region *r, u64 offset)
{
	void *addr = kmap_local_page(r->pages[offset >> PAGE_SHIFT]);
	u32 val = READ_ONCE(*(u32 *)(addr + offset_in_page(offset)));

	kunmap_local(addr);
	return val;
}

/*
 * The caller's deadline on the host's CLOCK_MONOTONIC, in ns, or 0 for
 * none. An absolute deadline is read as the caller's time namespace reads
 * the clock (as futex(2) does); SHMIPC_WAIT_RELATIVE counts from now. A
 * deadline already past gives the smallest one, which expires at once.
 */
static s64 shmipc_host_deadline(const struct shmipc_wait *arg)
{
	s64 d = arg->deadline_ns, now;

	if (!d)
		return 0;
	if (arg->flags & SHMIPC_WAIT_RELATIVE) {
		now = ktime_get_ns();
		return d > S64_MAX - now ? S64_MAX : now + d;
	}
#ifdef CONFIG_TIME_NS
	d -= timespec64_to_ns(&current->nsproxy->time_ns->offsets.monotonic);
#endif
	return d > 0 ? d : 1;
}

/* Sleep until woken, a signal, or the deadline. */
static int shmipc_sleep(struct shmipc_waiter *w, s64 deadline_ns)
{
	ktime_t expires = ns_to_ktime(deadline_ns);
	bool expired = false;

	for (;;) {
		set_current_state(TASK_INTERRUPTIBLE);
		if (READ_ONCE(w->woken))
			break;
		if (signal_pending(current)) {
			__set_current_state(TASK_RUNNING);
			return -EINTR;
		}
		if (expired) {
			__set_current_state(TASK_RUNNING);
			return -ETIMEDOUT;
		}
		if (!deadline_ns)
			schedule();
		else if (!schedule_hrtimeout_range_clock(&expires,
							 current->timer_slack_ns,
							 HRTIMER_MODE_ABS,
							 CLOCK_MONOTONIC))
			expired = true;
	}
	__set_current_state(TASK_RUNNING);
	return 0;
}

/**
 * shmipc_ioctl_wait() - SHMIPC_IOC_WAIT
 * @r:		the region of the fd
 * @uarg:	struct shmipc_wait in user memory
 *
 * Return: 0, -EAGAIN, -ETIMEDOUT, -EINTR, -EOWNERDEAD, -EINVAL or -EFAULT.
 */
int shmipc_ioctl_wait(struct shmipc_region *r, struct shmipc_wait __user *uarg)
{
	struct shmipc_waiter w = { .task = current };
	struct shmipc_wait_bucket *b;
	struct shmipc_wait arg;
	int ret;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if ((arg.flags & ~SHMIPC_WAIT_FLAGS) || arg.reserved ||
	    (arg.deaths && !(arg.flags & SHMIPC_WAIT_PEER_DEATH)) ||
	    arg.deadline_ns < 0 || !shmipc_word_valid(r, arg.offset))
		return -EINVAL;

	w.offset = arg.offset;
	w.death = arg.flags & SHMIPC_WAIT_PEER_DEATH;
	b = shmipc_bucket(r, arg.offset);
	spin_lock(&b->lock);
	list_add_tail(&w.node, &b->waiters);
	/* Read only after queueing: see the comment at the top. */
	if (w.death && READ_ONCE(r->status->deaths) != arg.deaths) {
		list_del(&w.node);
		spin_unlock(&b->lock);
		return -EOWNERDEAD;
	}
	if (shmipc_read_word(r, arg.offset) != arg.expected) {
		list_del(&w.node);
		spin_unlock(&b->lock);
		return -EAGAIN;
	}
	atomic_inc(&r->nr_waiters);
	spin_unlock(&b->lock);

	ret = shmipc_sleep(&w, shmipc_host_deadline(&arg));

	spin_lock(&b->lock);
	if (w.woken)	/* a wake consumed for us is reported */
		ret = w.died ? -EOWNERDEAD : 0;
	else
		list_del(&w.node);
	atomic_dec(&r->nr_waiters);
	spin_unlock(&b->lock);
	return ret;
}

/**
 * shmipc_ioctl_wake() - SHMIPC_IOC_WAKE
 * @r:		the region of the fd
 * @uarg:	struct shmipc_wake in user memory
 *
 * Return: the number of waiters woken, -EINVAL or -EFAULT.
 */
int shmipc_ioctl_wake(struct shmipc_region *r, struct shmipc_wake __user *uarg)
{
	struct shmipc_waiter *w, *next;
	struct shmipc_wait_bucket *b;
	struct shmipc_wake arg;
	unsigned int woken = 0;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (arg.flags || arg.reserved || !shmipc_word_valid(r, arg.offset))
		return -EINVAL;
	if (!arg.count)
		return 0;

	b = shmipc_bucket(r, arg.offset);
	spin_lock(&b->lock);
	list_for_each_entry_safe(w, next, &b->waiters, node) {
		if (w->offset != arg.offset)
			continue;
		list_del_init(&w->node);
		WRITE_ONCE(w->woken, true);
		wake_up_process(w->task);
		/* The return value is an int: stop before it could wrap. */
		if (++woken == arg.count || woken == INT_MAX)
			break;
	}
	spin_unlock(&b->lock);
	return (int)woken;
}

/**
 * shmipc_wait_wake_deaths() - wake every death waiter of a region
 * @r:	the region, whose death count the caller has just moved
 *
 * See the top of the file for why a waiter cannot miss it.
 */
void shmipc_wait_wake_deaths(struct shmipc_region *r)
{
	struct shmipc_waiter *w, *next;
	unsigned int i;

	for (i = 0; i < SHMIPC_WAIT_BUCKETS; i++) {
		struct shmipc_wait_bucket *b = &r->buckets[i];

		spin_lock(&b->lock);
		list_for_each_entry_safe(w, next, &b->waiters, node) {
			if (!w->death)
				continue;
			list_del_init(&w->node);
			w->died = true;
			WRITE_ONCE(w->woken, true);
			wake_up_process(w->task);
		}
		spin_unlock(&b->lock);
	}
}
