// SPDX-License-Identifier: MIT
/*
 * Peers: who is attached to a region and whether they live. This file
 * never reclaims anything; reclaim.c does, for the dead peers it finds here.
 *
 * Identity. A handle is a peer named by a token, (generation << 9) | slot,
 * nonzero, below 2^30. The backend gives it (backend_*.c): kmod, the
 * module's attachment of the handle's region fd; posix, a slot whose byte
 * lock the handle took, with a generation from the region's counter. The
 * peer table records (pid, token) in the slot's entry, for the peers view
 * and, on posix, for liveness.
 *
 * Liveness. kmod: the module's status page lists the token. posix: the
 * slot's entry holds the token and its lock is held (by construction, a
 * process holds its slot's lock from before it writes its entry until
 * after it clears it, so a slot whose lock is free has no live peer). A
 * token that fails the check is dead; one that is not a token at all
 * (garbage a peer wrote) is treated as dead too, so that no stale claim
 * can hold anything for ever.
 *
 * Claiming a slot. The backend hands the caller a slot no live peer has;
 * its entry may still name a dead peer that nobody reclaimed yet. The
 * caller takes the entry over with a compare-and-swap and returns that
 * predecessor's token, which the API edge reclaims at once: it can no
 * longer pass for alive, since the entry now names someone else.
 *
 * fork(). A child that calls into a handle it inherited first attaches
 * again (the API edge sees the pid change): a new attachment or a new
 * slot, at the same mapping address, so its pointers into the region stay
 * good. What the parent held stays recorded under the parent's token.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define GEN_LIMIT	(SHMIPC_TOKEN_LIMIT >> 9)
#define CLAIM_TRIES	8

/*
 * The caller's pid, which every token is recorded with: cached, since
 * getpid() is a system call in glibc, and dropped in a fork()ed child.
 * (A child made by a raw clone() that bypasses the atfork handlers must not
 * use handles inherited from its parent.)
 */
_Atomic uint32_t shmipc_cached_pid;
static _Atomic uint64_t cached_pidns;

static void forget_pid(void)
{
	atomic_store_explicit(&shmipc_cached_pid, 0, memory_order_relaxed);
	atomic_store_explicit(&cached_pidns, 0, memory_order_relaxed);
}

__attribute__((constructor)) static void register_atfork(void)
{
	pthread_atfork(NULL, NULL, forget_pid);
}

/* shmipc_self_pid()'s slow path (internal.h): the first call in a process. */
uint32_t shmipc_self_pid_slow(void)
{
	uint32_t pid = (uint32_t)getpid();

	atomic_store_explicit(&shmipc_cached_pid, pid, memory_order_relaxed);
	return pid;
}

/* This process's pid namespace, or 0 where /proc does not say. */
uint64_t shmipc_self_pidns(void)
{
	uint64_t ns = atomic_load_explicit(&cached_pidns, memory_order_relaxed);
	struct stat st;

	if (!ns && !stat("/proc/self/ns/pid", &st)) {
		ns = (uint64_t)st.st_ino;
		atomic_store_explicit(&cached_pidns, ns, memory_order_relaxed);
	}
	return ns;
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void shmipc_peers_init(struct shmipc *shm, const struct shmipc_parts *p)
{
	(void)shm;
	(void)p;	/* zeroed entries are free ones */
}

int shmipc_peers_validate(struct shmipc *shm, const struct shmipc_parts *p)
{
	shm->peers = shmipc_span(shm, p->peers_off, p->peers_len);
	return shm->peers ? 0 : -EPROTO;
}

/*
 * Becomes a peer (@again: a fork()ed child replacing its parent's): the
 * backend's token, recorded in the table. *@predecessor gets the dead
 * token the entry held before, or 0 (see the top).
 */
int shmipc_peer_attach(struct shmipc *shm, bool again, uint32_t *predecessor)
{
	uint32_t gen, token, pid = shmipc_self_pid();
	struct shmipc_peer_rec *r;
	unsigned int k;
	uint64_t v;
	int err;

	*predecessor = 0;
	gen = atomic_fetch_add(&shm->hdr->peer_gen, 1) % (GEN_LIMIT - 1) + 1;
	err = shm->ops->attach(shm, again, gen, &token);
	if (err)
		return err;
	if (!shm_token_ok(token))
		return -EPROTO;
	r = &shm->peers[token & SHMIPC_PEER_MASK];
	v = atomic_load(&r->idpid);
	for (k = 0; k < CLAIM_TRIES; k++)
		if (atomic_compare_exchange_strong(&r->idpid, &v,
						   (uint64_t)pid << 32 | token))
			break;
	if (k == CLAIM_TRIES) {		/* someone keeps rewriting it */
		shm->ops->detach(shm);
		return -EAGAIN;
	}
	if ((uint32_t)v && (uint32_t)v != token)
		*predecessor = (uint32_t)v;
	atomic_store(&r->pidns, shmipc_self_pidns());
	atomic_store(&r->attached_ns, realtime_ns());
	shm->token = token;
	shm->pid = pid;
	return 0;
}

/* Leaves: the entry is cleared before the backend lets the slot go. */
void shmipc_peer_detach(struct shmipc *shm)
{
	if (!shm->peers || !shm->token || shm->pid != shmipc_self_pid())
		return;		/* a fork()ed child's copy: the parent's to end */
	shmipc_peer_release(shm, shm->token & SHMIPC_PEER_MASK, shm->token, false);
	shm->ops->detach(shm);
	shm->token = 0;
}

bool shmipc_peer_alive(struct shmipc *shm, uint32_t token)
{
	uint32_t recorded;

	if (!shm_token_ok(token))
		return false;
	if (token == shm->token && shm->pid == shmipc_self_pid())
		return true;
	recorded = (uint32_t)atomic_load(&shm->peers[token & SHMIPC_PEER_MASK].idpid);
	return shm->ops->alive(shm, token, recorded);
}

/*
 * Entry @slot, read once: false when free (then only @v->deaths is set).
 * The token may be garbage.
 */
bool shmipc_peer_get(struct shmipc *shm, uint32_t slot, struct shmipc_peer_view *v)
{
	struct shmipc_peer_rec *r = &shm->peers[slot & SHMIPC_PEER_MASK];
	uint64_t idpid = atomic_load(&r->idpid);

	v->token = (uint32_t)idpid;
	v->pid = (uint32_t)(idpid >> 32);
	v->deaths = atomic_load(&r->deaths);
	v->pidns = atomic_load(&r->pidns);
	v->attached_ns = atomic_load(&r->attached_ns);
	return idpid != 0;
}

/*
 * Frees entry @slot if it still names @token (which may be garbage); @died
 * counts a death there first, for watchers (reclaim.c). False if the entry
 * had changed.
 */
bool shmipc_peer_release(struct shmipc *shm, uint32_t slot, uint32_t token,
			 bool died)
{
	struct shmipc_peer_rec *r = &shm->peers[slot & SHMIPC_PEER_MASK];
	uint64_t v = atomic_load(&r->idpid);

	if (!v || (uint32_t)v != token)
		return false;
	if (died)
		atomic_fetch_add(&r->deaths, 1);
	return atomic_compare_exchange_strong(&r->idpid, &v, 0);
}
