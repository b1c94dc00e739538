// SPDX-License-Identifier: GPL-2.0-only
/*
 * shmipc: attachments. Every region file is an attachment: the process
 * (thread group) that made it, a token in the region's status page while it
 * lives, and a slot of the region's table.
 *
 * Death follows the process. An attachment dies when its file is released,
 * or when the thread group that made it has exited, whoever still holds
 * the file (a process it was passed to, a forked child, a clone sharing the
 * fd table, an exec'd image that closed it). The exit is seen where pidfd
 * poll sees it: each published attachment has an entry on its opener's
 * struct pid wait queue (wait_pidfd), which the kernel wakes as the thread
 * group's exit is reported to its parent (do_notify_pidfd()); the wake-up
 * function re-checks that the whole group has exited (shmipc_group_exited(),
 * as pidfd_poll() does) and records the death there and then, so that it is
 * in the status page before the parent can reap the opener. Only the
 * wake-ups of death waiters, which take every bucket lock of the region, go
 * to a work item (the wake-up runs with tasklist_lock held).
 *
 * Why no death is missed: the entry is added to the wait queue, under the
 * queue's lock, before the group is checked once more. An exit reported
 * before the entry was added stored the task's exit state before its
 * wake-up took the queue's lock, which the adding then took: the check after
 * it sees the exit. An exit reported after finds the entry queued. Why none
 * is invented: the death is recorded only once shmipc_group_exited() holds,
 * and a thread group that has exited never runs again; a thread's exit, an
 * exec (the group keeps its struct pid) or a closed fd of another process
 * wakes the entry at most, and the re-check says no. A reused pid number is
 * a new struct pid: nothing here follows numbers.
 *
 * Publishing. An attachment is made (a slot and a token) before its file
 * is, and published (its token in the status page, its wait entry armed)
 * only once the file is about to reach user space (shmipc_attach_publish()),
 * after every step that can fail: a CREATE, OPEN or ATTACH that fails goes
 * away without a death, so death waiters are woken only by real deaths.
 *
 * Fair slots: a region's table has SHMIPC_MAX_PEERS slots; other users
 * than the region's owner and holders of CAP_IPC_OWNER are refused once
 * all but SHMIPC_OWNER_SLOTS are in use, and each of them holds at most
 * SHMIPC_USER_SLOTS, so no reader can lock the owner out by filling the
 * table, nor one reader the others.
 */

#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/pid.h>
#include <linux/poll.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "internal.h"

/* Has the whole thread group that @pid names exited? (pidfd_poll()'s test.) */
static bool shmipc_group_exited(struct pid *pid)
{
	struct task_struct *task;
	bool exited;

	rcu_read_lock();
	task = pid_task(pid, PIDTYPE_PID);
	exited = !task || (READ_ONCE(task->exit_state) && thread_group_empty(task));
	rcu_read_unlock();
	return exited;
}

/**
 * shmipc_attach_alive() - is the attachment's opener still running?
 * @a:	the attachment
 *
 * Return: false once its thread group has exited, even before the work
 * item that kills the attachment has run.
 */
bool shmipc_attach_alive(struct shmipc_attach *a)
{
	return !shmipc_group_exited(a->owner);
}

/*
 * Marks @a dead: its slot is freed, its token leaves the status page, then
 * the death count moves. A reader that finds the count unchanged after
 * reading a token therefore read the token before it was cleared. Returns
 * true when this recorded a death, which the caller then announces with
 * shmipc_attach_announce(); an attachment never published leaves no trace.
 * Runs in the exit wake-up too, with interrupts off: hence the irqsave.
 */
static bool shmipc_attach_clear(struct shmipc_attach *a)
{
	struct shmipc_region *r = a->r;
	struct shmipc_status *st = r->status;
	u32 slot = a->token & SHMIPC_PEER_SLOT_MASK;
	unsigned long flags;
	bool death;

	spin_lock_irqsave(&r->attach_lock, flags);
	if (a->dead) {
		spin_unlock_irqrestore(&r->attach_lock, flags);
		return false;
	}
	a->dead = true;
	r->slots[slot] = NULL;
	death = a->published;
	if (death) {
		WRITE_ONCE(st->peers[slot], 0);
		WRITE_ONCE(st->nr_alive, st->nr_alive - 1);
		smp_wmb();	/* the token is gone before the count moves */
		WRITE_ONCE(st->deaths, st->deaths + 1);
	}
	spin_unlock_irqrestore(&r->attach_lock, flags);
	return death;
}

/*
 * Wakes every death waiter and poll()er of the region, after a death
 * moved its count; shmipc_wait_wake_deaths() explains why a waiter cannot
 * sleep through it.
 */
static void shmipc_attach_announce(struct shmipc_region *r)
{
	shmipc_wait_wake_deaths(r);
	wake_up_interruptible_poll(&r->death_wq, EPOLLPRI);
}

static void shmipc_exit_work(struct work_struct *work)
{
	shmipc_attach_announce(container_of(work, struct shmipc_attach,
					    exit_work)->r);
}

/*
 * The opener's struct pid was woken: a thread, or the whole group, exited.
 * Called under the wait queue's lock, from the exit path (with
 * tasklist_lock held and interrupts off): once the whole group has exited,
 * the death is recorded here and now, before the parent can reap the
 * opener, and only the wake-ups, which take every bucket lock of the
 * region, go to a work item.
 */
static int shmipc_exit_wake(struct wait_queue_entry *wq, unsigned int mode,
			    int sync, void *key)
{
	struct shmipc_attach *a = container_of(wq, struct shmipc_attach, exit_wait);

	if (shmipc_group_exited(a->owner) && shmipc_attach_clear(a))
		schedule_work(&a->exit_work);
	return 0;
}

/* May the caller use the slots kept for the owner? */
static bool shmipc_attach_privileged(struct shmipc_region *r, kuid_t uid)
{
	return uid_eq(uid, r->uid) || shmipc_region_capable(r, CAP_IPC_OWNER);
}

/**
 * shmipc_attach_new() - a new, unpublished attachment for the caller
 * @r:	the region
 *
 * Return: the attachment, or ERR_PTR(-ENOMEM) or ERR_PTR(-EUSERS) (no slot
 * the caller may use).
 */
struct shmipc_attach *shmipc_attach_new(struct shmipc_region *r)
{
	bool privileged = shmipc_attach_privileged(r, current_fsuid());
	u32 slot, gen, used = 0, mine = 0, free_slot = SHMIPC_MAX_PEERS;
	struct shmipc_attach *a;

	a = kzalloc(sizeof(*a), GFP_KERNEL_ACCOUNT);
	if (!a)
		return ERR_PTR(-ENOMEM);
	a->r = r;
	a->owner = get_pid(task_tgid(current));
	a->uid = current_fsuid();
	INIT_WORK(&a->exit_work, shmipc_exit_work);
	init_waitqueue_func_entry(&a->exit_wait, shmipc_exit_wake);
	spin_lock_irq(&r->attach_lock);
	for (slot = 0; slot < SHMIPC_MAX_PEERS; slot++) {
		struct shmipc_attach *p = r->slots[slot];

		if (!p) {
			if (free_slot == SHMIPC_MAX_PEERS)
				free_slot = slot;
			continue;
		}
		used++;
		if (uid_eq(p->uid, a->uid))
			mine++;
	}
	if (free_slot == SHMIPC_MAX_PEERS ||
	    (!privileged && (used >= SHMIPC_MAX_PEERS - SHMIPC_OWNER_SLOTS ||
			     mine >= SHMIPC_USER_SLOTS))) {
		spin_unlock_irq(&r->attach_lock);
		put_pid(a->owner);
		kfree(a);
		return ERR_PTR(-EUSERS);
	}
	gen = r->next_gen;
	r->next_gen = gen + 1 < BIT(30 - SHMIPC_PEER_SLOT_BITS) ? gen + 1 : 1;
	a->token = gen << SHMIPC_PEER_SLOT_BITS | free_slot;
	a->seen = r->status->deaths;
	r->slots[free_slot] = a;
	spin_unlock_irq(&r->attach_lock);
	return a;
}

/**
 * shmipc_attach_publish() - make an attachment visible, and mortal
 * @a:	an attachment of the caller's, whose file is about to be installed
 *
 * Its token enters the status page and its wait entry is armed on the
 * opener's struct pid (see the top for why no exit is missed).
 */
void shmipc_attach_publish(struct shmipc_attach *a)
{
	struct shmipc_region *r = a->r;
	u32 slot = a->token & SHMIPC_PEER_SLOT_MASK;

	spin_lock_irq(&r->attach_lock);
	if (!a->dead) {
		a->published = true;
		WRITE_ONCE(r->status->nr_alive, r->status->nr_alive + 1);
		WRITE_ONCE(r->status->peers[slot], a->token);
	}
	spin_unlock_irq(&r->attach_lock);
	add_wait_queue(&a->owner->wait_pidfd, &a->exit_wait);
	a->armed = true;
	if (shmipc_group_exited(a->owner) && shmipc_attach_clear(a))
		shmipc_attach_announce(r);
}

/**
 * shmipc_attach_release() - the attachment's file is released
 * @a:	the attachment, freed here
 */
void shmipc_attach_release(struct shmipc_attach *a)
{
	bool announce;

	if (a->armed)
		remove_wait_queue(&a->owner->wait_pidfd, &a->exit_wait);
	/* A death recorded at the exit, not yet announced, is announced here. */
	announce = cancel_work_sync(&a->exit_work);
	if (shmipc_attach_clear(a) || announce)
		shmipc_attach_announce(a->r);
	put_pid(a->owner);
	kfree(a);
}
