// SPDX-License-Identifier: MIT
/*
 * Region locks: a futex word in the region that holds its holder's peer
 * token, so that a holder killed at any instruction is known and its lock
 * taken over.
 *
 * The word holds the holder's token, plus SHMIPC_LOCK_WAITERS while someone
 * may sleep on it. Release exchanges it with 0 and wakes one sleeper only if
 * the bit was set. A sleeper that wakes takes the lock with the bit set,
 * since it cannot know whether others still sleep (Drepper, "Futexes are
 * tricky", mutex 3). A holder that died leaves its token in the word; a
 * contender that finds it dead (peer.c) takes the lock over by a compare-
 * and-swap from that exact value, so exactly one contender does, and tells
 * its caller, which repairs what the lock protects (the heap rebuilds its
 * lists, the registry finishes a half-done removal). The take-over only
 * marks a reclaim as due: the dead peer's other holdings are reclaim.c's,
 * run by the API edge when the call leaves, never from here.
 *
 * A contender first spins a little (the lock is held for a few hundred
 * nanoseconds at most by a live holder). With the kmod backend the module
 * wakes sleepers at a death (the death
 * count is read before the holder's life is looked at, so a death in
 * between ends the sleep at once); with posix, sleeps are bounded by
 * LOCK_POLL_NS. A live holder that keeps the lock, or a word naming some
 * live peer that does not hold it (garbage), gives -ETIMEDOUT after the
 * handle's lock timeout: every attempt checks the deadline, so not even a
 * word that a peer keeps flipping makes the caller spin for ever.
 */
#define _GNU_SOURCE
#include <errno.h>

#include "internal.h"

#define LOCK_POLL_NS	5000000
#define LOCK_SPINS	200

int shmipc_lock_acquire(struct shmipc *shm, struct shmipc_lock *lock,
			uint32_t me, bool *recovered)
{
	int64_t deadline = 0;	/* read the clock only once contended */
	uint32_t take = me;
	unsigned int spins = 0;

	*recovered = false;
	for (;;) {
		uint32_t v = 0, deaths;

		if (atomic_compare_exchange_strong_explicit(&lock->word, &v, take,
							    memory_order_acquire,
							    memory_order_relaxed))
			return 0;
		/*
		 * Critical sections are short: spin a little before looking at
		 * the holder's life (a system call on posix) and sleeping.
		 */
		if (spins < LOCK_SPINS && !(v & SHMIPC_LOCK_WAITERS)) {
			spins++;
			shmipc_cpu_relax();
			continue;
		}
		if (!deadline)
			deadline = shmipc_deadline((int)shm->lock_timeout_ms);
		else if (shmipc_expired(deadline))
			return -ETIMEDOUT;
		deaths = shm->ops->deaths(shm);
		if (!shmipc_peer_alive(shm, v & ~SHMIPC_LOCK_WAITERS)) {
			if (atomic_compare_exchange_strong_explicit(
				    &lock->word, &v, me | (v & SHMIPC_LOCK_WAITERS),
				    memory_order_acquire, memory_order_relaxed)) {
				*recovered = true;
				shmipc_death_seen(shm);
				return 0;
			}
			continue;
		}
		if (!(v & SHMIPC_LOCK_WAITERS)) {
			uint32_t w = v | SHMIPC_LOCK_WAITERS;

			if (!atomic_compare_exchange_strong_explicit(
				    &lock->word, &v, w, memory_order_relaxed,
				    memory_order_relaxed))
				continue;
			v = w;
		}
		shm->ops->wait(shm, &lock->word, v, shmipc_sooner(deadline, LOCK_POLL_NS),
			       &deaths);
		take = me | SHMIPC_LOCK_WAITERS;
	}
}

void shmipc_lock_release(struct shmipc *shm, struct shmipc_lock *lock)
{
	if (atomic_exchange_explicit(&lock->word, 0, memory_order_release) &
	    SHMIPC_LOCK_WAITERS)
		shm->ops->wake(shm, &lock->word, 1);
}
