// SPDX-License-Identifier: MIT
/*
 * Event counts: how a receiver sleeps on an empty queue (and a sender on a
 * full one) without lost wake-ups, and a waker pays a system call only when
 * someone sleeps.
 *
 *   waiter                               waker
 *   rmw(waiters += 1)    (acq_rel)       make the queue change visible
 *   e = epoch            (acquire)       if rmw(waiters += 0) > 0:  (acq_rel)
 *   re-check the queue; done if ready        epoch += 1          (release)
 *   futex-wait(epoch, e)                     futex-wake(epoch)
 *   waiters -= 1
 *
 * The two read-modify-writes of waiters are ordered in its modification
 * order. If the waker's comes second, it reads waiters > 0 and wakes. If it
 * comes first, the waiter's reads from it, so (release/acquire) the queue
 * change happens before the waiter's re-check, which sees it. A waiter that
 * read e after the bump re-checks too (epoch is release/acquire); one that
 * read it before sleeps on e, which the bump has changed, so the futex wait
 * returns at once or is woken. (Read-modify-writes rather than seq_cst
 * fences, which ThreadSanitizer cannot check.)
 *
 * Both words are shared: a peer that writes garbage into them can cost a
 * spurious wake-up or a system call, never a sleep past the caller's
 * deadline, which the futex wait is given (shared.h, rule 6).
 */
#define _GNU_SOURCE
#include <errno.h>

#include "internal.h"

void shmipc_ev_signal(struct shmipc *shm, struct shmipc_evcount *ev, uint32_t n)
{
	if (atomic_fetch_add_explicit(&ev->waiters, 0, memory_order_acq_rel)) {
		atomic_fetch_add_explicit(&ev->epoch, 1, memory_order_release);
		shm->ops->wake(shm, &ev->epoch, n);
	}
}

uint32_t shmipc_ev_prepare(struct shmipc_evcount *ev)
{
	atomic_fetch_add_explicit(&ev->waiters, 1, memory_order_acq_rel);
	return atomic_load_explicit(&ev->epoch, memory_order_acquire);
}

void shmipc_ev_cancel(struct shmipc_evcount *ev)
{
	atomic_fetch_sub_explicit(&ev->waiters, 1, memory_order_relaxed);
}

/*
 * Sleeps until the epoch moves from @e, @deadline, or (kmod) a peer's
 * death, which the caller's next attempt looks into (the API edge reclaims
 * it); 0 or -ETIMEDOUT. @deaths is the death count read before the caller
 * last looked at the queue.
 */
int shmipc_ev_wait(struct shmipc *shm, struct shmipc_evcount *ev, uint32_t e,
		   int64_t deadline, uint32_t deaths)
{
	int err;

	if (shmipc_expired(deadline))
		err = -ETIMEDOUT;
	else
		err = shm->ops->wait(shm, &ev->epoch, e, deadline, &deaths);
	shmipc_ev_cancel(ev);
	if (err == -EOWNERDEAD)
		shmipc_death_seen(shm);
	return err == -ETIMEDOUT ? err : 0;
}
