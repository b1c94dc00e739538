// SPDX-License-Identifier: MIT
/*
 * Peers: who is attached to a region, whether they live, and reclaiming
 * what the dead ones held.
 *
 * Identity. A handle is a peer named by a token. kmod: the module's
 * attachment token of the handle's region fd, alive while the status page
 * lists it, which the module clears when the fd's file is released or its
 * opener exits. posix: a slot of the region's peer table claimed by one
 * compare-and-swap of (pid, token); alive while that pid exists and its
 * start time (from /proc) is the one recorded, so a reused pid is not taken
 * for the peer. Both record (pid, token) in the table, for the peers view.
 *
 * fork(). A child that calls into a handle it inherited first re-attaches
 * (shmipc_self()): a new attachment or table slot, at the same mapping
 * address, so its pointers into the region stay good. What the parent held
 * stays recorded under the parent's token.
 *
 * Reclaim. Dead peers are reclaimed one at a time under the region's
 * reclaim lock (itself a recoverable lock, so a reclaimer that dies is
 * taken over and its work redone: every step is idempotent). For a dead
 * token the registry pass (registry.c) removes its channel endpoints and
 * repairs the queue slots it had claimed (queue.c, channel.c, broadcast.c);
 * then the queues' payloads are read; then the heap pass (heap.c) frees the
 * blocks the token reserved or held that no queue refers to.
 *
 * Why reading the queues before the owner words is safe: a payload enters a
 * queue only by its sender's publication, and the sender is either the
 * dead peer (which no longer publishes; its half-done claims were turned
 * into skips first) or a live peer, whose payload is RESV under its own
 * token. A payload leaves a queue only after its receiver stored HELD with
 * its token in the block (release order before the slot is given back). So
 * a dead peer's block that the queue reading missed was never published by
 * it, or was taken by a receiver, whose HELD the heap pass then reads.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define GEN_LIMIT	(SHMIPC_TOKEN_LIMIT >> 9)
#define WATCH_POLL_MS	100
#define WATCH_SLEEP_NS	2000000

static pthread_mutex_t reattach_lock = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local bool in_reclaim;

static bool token_ok(uint32_t t)
{
	return t && t < SHMIPC_TOKEN_LIMIT;
}

/*
 * Start time of @pid in clock ticks after boot (field 22 of stat), or 0;
 * *@gone is set for a zombie (dead, not yet reaped by its parent).
 */
uint64_t shmipc_proc_stat(uint32_t pid, bool *gone)
{
	char path[32], buf[512], *p;
	unsigned long long st = 0;
	ssize_t n;
	int fd, i;

	*gone = false;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	p = strrchr(buf, ')');		/* the name may hold spaces and ')' */
	if (p && (p[2] == 'Z' || p[2] == 'X'))	/* field 3, the state */
		*gone = true;
	for (i = 0; p && i < 20; i++)	/* to field 22 */
		p = strchr(p + 1, ' ');
	if (p)
		sscanf(p + 1, "%llu", &st);
	return st;
}

uint64_t shmipc_start_time(uint32_t pid)
{
	bool gone;

	return shmipc_proc_stat(pid, &gone);
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Frees entry @r if it still holds @v. Its start time goes first, so that
 * the next owner's entry never shows its predecessor's start time, which
 * would make a live peer look like a reused pid.
 */
static void rec_free(struct shmipc_peer_rec *r, uint64_t v)
{
	if (atomic_load(&r->idpid) != v)
		return;
	atomic_store(&r->start_time, 0);
	atomic_compare_exchange_strong(&r->idpid, &v, 0);
}

static void rec_fill(struct shmipc_peer_rec *r, uint32_t pid)
{
	atomic_store(&r->start_time, shmipc_start_time(pid));
	r->attached_ns = realtime_ns();
}

/*
 * Claims this process's peer table entry: kmod, the slot of the module's
 * token (a dead predecessor there is reclaimed first); posix, a free slot
 * and a fresh token.
 */
static int rec_claim(struct shmipc *shm)
{
	uint64_t pid = shmipc_self_pid();
	unsigned int k, slot;

	if (shm->status) {	/* kmod */
		struct shmipc_peer_rec *r = &shm->peers[shm->token & SHMIPC_PEER_MASK];

		for (k = 0; k < 4; k++) {
			uint64_t v = 0;

			if (atomic_compare_exchange_strong(&r->idpid, &v,
							   pid << 32 | shm->token)) {
				rec_fill(r, (uint32_t)pid);
				return 0;
			}
			if ((uint32_t)v == shm->token)
				return 0;
			shmipc_reclaim(shm);	/* the module gave us a dead one's slot */
		}
		return -EUSERS;
	}
	for (k = 0, slot = (uint32_t)pid % SHMIPC_PEERS; k < SHMIPC_PEERS;
	     k++, slot = (slot + 1) % SHMIPC_PEERS) {
		struct shmipc_peer_rec *r = &shm->peers[slot];
		uint32_t gen = atomic_fetch_add(&shm->hdr->peer_gen, 1) % (GEN_LIMIT - 1) + 1;
		uint32_t tok = gen << 9 | slot;
		uint64_t v = 0;

		/* A freed entry's start time was zeroed before it was freed. */
		if (atomic_load(&r->idpid))
			continue;
		if (!atomic_compare_exchange_strong(&r->idpid, &v, pid << 32 | tok))
			continue;
		shm->token = tok;
		rec_fill(r, (uint32_t)pid);
		return 0;
	}
	return -EUSERS;
}

void shmipc_peers_init(struct shmipc *shm, uint64_t off)
{
	/* Zeroed pages are free entries. */
	shm->hdr->peers_off = off;
	shm->hdr->peers_capacity = SHMIPC_PEERS;
}

int shmipc_peers_validate(struct shmipc *shm, uint64_t off, uint64_t end,
			  uint32_t capacity)
{
	if (capacity != SHMIPC_PEERS || off % 64 || off > end ||
	    end - off < (uint64_t)SHMIPC_PEERS * sizeof(struct shmipc_peer_rec))
		return -EPROTO;
	shm->peers = (struct shmipc_peer_rec *)(shm->base + off);
	return 0;
}

/* Becomes a peer of a freshly opened region, then reclaims the dead. */
int shmipc_peer_attach(struct shmipc *shm)
{
	int err;

	shm->pid = shmipc_self_pid();
	err = shm->ops->attach(shm, false);
	if (!err)
		err = rec_claim(shm);
	if (!err)
		shmipc_reclaim(shm);
	return err;
}

/* A fork()ed child's first call: a peer of its own (see the top). */
static int reattach(struct shmipc *shm, uint32_t *token)
{
	int err = 0;

	pthread_mutex_lock(&reattach_lock);
	if (shm->pid != shmipc_self_pid()) {
		err = shm->ops->attach(shm, true);
		if (!err) {
			shm->pid = shmipc_self_pid();
			atomic_store(&shm->nextra, 0);	/* the parent's */
			shm->extra_cap = 0;
			shm->extra = NULL;
			pthread_mutex_init(&shm->refs_lock, NULL);
			err = rec_claim(shm);
		}
	}
	*token = shm->token;
	pthread_mutex_unlock(&reattach_lock);
	return err;
}

int shmipc_self(struct shmipc *shm, uint32_t *token)
{
	if (__builtin_expect(shm->pid == shmipc_self_pid(), 1)) {
		*token = shm->token;
		return 0;
	}
	return reattach(shm, token);
}

bool shmipc_peer_alive(struct shmipc *shm, uint32_t token)
{
	if (!token_ok(token))
		return false;
	if (token == shm->token && shm->pid == shmipc_self_pid())
		return true;
	return shm->ops->alive(shm, token);
}

int shmipc_reclaim_queued_add(struct shmipc_reclaim *rc, uint64_t off)
{
	if (rc->nqueued == rc->queued_cap) {
		size_t cap = rc->queued_cap ? 2 * rc->queued_cap : 256;
		uint64_t *q = realloc(rc->queued, cap * sizeof(*q));

		if (!q) {
			rc->err = -ENOMEM;
			return rc->err;
		}
		rc->queued = q;
		rc->queued_cap = cap;
	}
	rc->queued[rc->nqueued++] = off;
	return 0;
}

/* A table entry whose token is set and dead (or garbage), else false. */
static bool rec_dead(struct shmipc *shm, uint32_t i, uint64_t v)
{
	uint32_t tok = (uint32_t)v;

	if (!tok || tok == shm->token)
		return false;
	if (!token_ok(tok) || (tok & SHMIPC_PEER_MASK) != i)
		return true;
	return !shmipc_peer_alive(shm, tok);
}

struct dead_peer {
	uint32_t token, pid;
};

/* Reclaims dead token @dead; the reclaim lock is held. 0 or -errno. */
static int reclaim_one(struct shmipc *shm, uint32_t dead)
{
	struct shmipc_reclaim rc = { .dead = dead };
	struct shmipc_hdr *h = shm->hdr;
	int err;

	err = shmipc_registry_reclaim(shm, &rc);
	free(rc.queued);
	if (err)	/* corrupted: left for a later try */
		return err;
	atomic_fetch_add(&h->peers_died, 1);
	atomic_fetch_add(&h->bytes_reclaimed, rc.bytes);
	atomic_fetch_add(&h->msgs_reclaimed, rc.msgs);
	atomic_fetch_add(&h->msgs_redelivered, rc.redelivered);
	atomic_fetch_add(&h->slots_repaired, rc.repaired);
	return 0;
}

static int reclaim_lock(struct shmipc *shm)
{
	bool recovered;
	int err = shmipc_lock_acquire(shm, &shm->hdr->reclaim_lock, &recovered);

	if (!err)
		in_reclaim = true;
	return err;
}

static void reclaim_unlock(struct shmipc *shm, int n)
{
	in_reclaim = false;
	shmipc_lock_release(shm, &shm->hdr->reclaim_lock);
	if (n > 0) {	/* posix watchers sleep on this word */
		atomic_fetch_add(&shm->hdr->watch, 1);
		shm->ops->wake(shm, &shm->hdr->watch, UINT32_MAX);
	}
}

/*
 * Closing: the peer leaves. What it still holds (channel handles left
 * open, messages not released) is reclaimed as a dead peer's would be.
 */
void shmipc_peer_detach(struct shmipc *shm)
{
	struct shmipc_peer_rec *r;
	uint64_t v;

	if (!shm->peers || shm->pid != shmipc_self_pid())
		return;		/* a fork()ed child's copy: the parent's to end */
	r = &shm->peers[shm->token & SHMIPC_PEER_MASK];
	v = atomic_load(&r->idpid);
	if ((uint32_t)v != shm->token)
		return;
	if (!reclaim_lock(shm)) {
		struct shmipc_reclaim rc = { .dead = shm->token };

		shmipc_registry_reclaim(shm, &rc);
		free(rc.queued);
		reclaim_unlock(shm, 0);
	}
	rec_free(r, v);
}

SHMIPC_API int shmipc_reclaim(struct shmipc *shm)
{
	struct dead_peer dead[16];
	unsigned int ndead = 0, i, k;
	bool any = false;
	int n = 0, err;
	uint32_t me;

	if (!shm)
		return -EINVAL;
	if (in_reclaim)
		return 0;
	err = shmipc_self(shm, &me);
	if (err)
		return err;
	for (i = 0; i < SHMIPC_PEERS && !any; i++)
		any = rec_dead(shm, i, atomic_load(&shm->peers[i].idpid));
	if (!any)
		return 0;
	err = reclaim_lock(shm);
	if (err)
		return err;
	for (i = 0; i < SHMIPC_PEERS; i++) {
		struct shmipc_peer_rec *r = &shm->peers[i];
		uint64_t v = atomic_load(&r->idpid);
		uint32_t t = (uint32_t)v;

		if (!rec_dead(shm, i, v))
			continue;
		if (token_ok(t) && (t & SHMIPC_PEER_MASK) == i) {
			if (reclaim_one(shm, t))
				continue;
			n++;
			if (ndead < sizeof(dead) / sizeof(dead[0]))
				dead[ndead++] = (struct dead_peer){ t, (uint32_t)(v >> 32) };
		}
		rec_free(r, v);
	}
	reclaim_unlock(shm, n);
	for (k = 0; k < ndead && shm->on_death; k++)
		shm->on_death(shm, dead[k].token, dead[k].pid, shm->on_death_arg);
	return n;
}

/*
 * Reclaims one token met in the region (a queue claim, a lock) that is not
 * alive, whether or not the peer table has it: a peer that corrupted its
 * entry, or a token that was never a peer's, leaves no claim stuck.
 */
void shmipc_reclaim_token(struct shmipc *shm, uint32_t tok)
{
	struct shmipc_peer_rec *r;
	uint64_t v;
	int n = 0;

	if (in_reclaim || !token_ok(tok) || shmipc_peer_alive(shm, tok))
		return;
	r = &shm->peers[tok & SHMIPC_PEER_MASK];
	v = atomic_load(&r->idpid);
	if ((uint32_t)v == tok) {	/* a listed peer: the general way */
		shmipc_reclaim(shm);
		return;
	}
	if (reclaim_lock(shm))
		return;
	if (!reclaim_one(shm, tok))
		n = 1;
	reclaim_unlock(shm, n);
}

void shmipc_reclaim_due(struct shmipc *shm)
{
	if (!atomic_load_explicit(&shm->reclaim_due, memory_order_relaxed) ||
	    in_reclaim)
		return;
	atomic_store_explicit(&shm->reclaim_due, false, memory_order_relaxed);
	shmipc_reclaim(shm);
}

SHMIPC_API uint32_t shmipc_peer_id(struct shmipc *shm)
{
	uint32_t me = 0;

	return shm && !shmipc_self(shm, &me) ? me : 0;
}

SHMIPC_API int shmipc_reclaim_stats(struct shmipc *shm,
				    struct shmipc_reclaim_stats *st)
{
	if (!shm || !st)
		return -EINVAL;
	st->peers_died = atomic_load(&shm->hdr->peers_died);
	st->bytes_reclaimed = atomic_load(&shm->hdr->bytes_reclaimed);
	st->msgs_reclaimed = atomic_load(&shm->hdr->msgs_reclaimed);
	st->msgs_redelivered = atomic_load(&shm->hdr->msgs_redelivered);
	st->slots_repaired = atomic_load(&shm->hdr->slots_repaired);
	return 0;
}

SHMIPC_API int shmipc_on_peer_death(struct shmipc *shm, shmipc_death_fn fn,
				    void *arg)
{
	if (!shm)
		return -EINVAL;
	shm->on_death = fn;
	shm->on_death_arg = arg;
	return 0;
}

static void count_lock(struct shmipc_peer_info *by_slot, const struct shmipc_lock *l)
{
	uint32_t t = atomic_load(&l->word) & ~SHMIPC_LOCK_WAITERS;

	if (t && by_slot[t & SHMIPC_PEER_MASK].id == t)
		by_slot[t & SHMIPC_PEER_MASK].locks++;
}

SHMIPC_API int shmipc_peers(struct shmipc *shm, struct shmipc_peer_info *peers,
			    unsigned int cap, unsigned int *total)
{
	struct shmipc_peer_info *by_slot;
	struct shmipc_holdings *h;
	struct shmipc_buffer *chans;
	unsigned int i, n = 0, all = 0;
	int nch, err;
	uint32_t me;

	if (!shm || (cap && !peers))
		return -EINVAL;
	err = shmipc_self(shm, &me);
	if (err)
		return err;
	by_slot = calloc(SHMIPC_PEERS, sizeof(*by_slot));
	h = calloc(SHMIPC_PEERS, sizeof(*h));
	chans = calloc(shm->reg_capacity ? shm->reg_capacity : 1, sizeof(*chans));
	if (!by_slot || !h || !chans) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < SHMIPC_PEERS; i++) {
		uint64_t v = atomic_load(&shm->peers[i].idpid);
		uint32_t t = (uint32_t)v;

		if (!t || !token_ok(t) || (t & SHMIPC_PEER_MASK) != i)
			continue;
		by_slot[i].id = t;
		by_slot[i].pid = (uint32_t)(v >> 32);
		by_slot[i].alive = shmipc_peer_alive(shm, t);
		by_slot[i].self = t == me;
		by_slot[i].start_time = atomic_load(&shm->peers[i].start_time);
		h[i].token = t;
	}
	err = shmipc_heap_holdings(shm, h);
	if (err)
		goto out;
	count_lock(by_slot, &shm->heap->lock);
	count_lock(by_slot, &shm->reg->lock);
	count_lock(by_slot, &shm->hdr->reclaim_lock);
	nch = shmipc_chan_list(shm, chans, shm->reg_capacity, NULL);
	for (i = 0; nch > 0 && i < (unsigned int)nch; i++)
		shmipc_chan_holdings(shm, chans[i].offset, chans[i].size, by_slot);
	for (i = 0; i < SHMIPC_PEERS; i++) {
		if (!by_slot[i].id)
			continue;
		by_slot[i].reserved_bytes = h[i].resv_bytes;
		by_slot[i].held_msgs = h[i].held_msgs;
		by_slot[i].held_bytes = h[i].held_bytes;
		all++;
		if (n < cap)
			peers[n++] = by_slot[i];
	}
	if (total)
		*total = all;
	err = (int)n;
out:
	free(chans);
	free(h);
	free(by_slot);
	return err;
}

/* posix: sleeps until a live peer's process exits, or @ms, or a reclaim. */
static void watch_posix(struct shmipc *shm, int ms)
{
	struct pollfd fds[SHMIPC_PEERS];
	unsigned int i, n = 0;
	uint32_t w = atomic_load(&shm->hdr->watch);

#ifdef SYS_pidfd_open
	for (i = 0; i < SHMIPC_PEERS; i++) {
		uint64_t v = atomic_load(&shm->peers[i].idpid);
		uint32_t t = (uint32_t)v;
		int fd;

		if (!t || t == shm->token)
			continue;
		fd = (int)syscall(SYS_pidfd_open, (pid_t)(v >> 32), 0);
		if (fd < 0)
			continue;
		/* Opened, then checked: the pidfd is the peer's process. */
		if (!shmipc_peer_alive(shm, t)) {
			close(fd);
			ms = 0;
			continue;
		}
		fds[n].fd = fd;
		fds[n].events = POLLIN;
		n++;
	}
#endif
	if (n) {
		poll(fds, n, ms);
	} else if (ms) {
		int64_t now = shmipc_now_ns();

		shm->ops->wait(shm, &shm->hdr->watch, w,
			       now + (int64_t)(ms < 2 ? ms : 2) * 1000000, NULL);
	}
	for (i = 0; i < n; i++)
		close(fds[i].fd);
}

SHMIPC_API int shmipc_peer_watch(struct shmipc *shm, int timeout_ms)
{
	int64_t deadline;
	uint64_t died0;
	int err;

	if (!shm)
		return -EINVAL;
	deadline = timeout_ms < 0 ? 0 : shmipc_now_ns() + (int64_t)timeout_ms * 1000000;
	died0 = atomic_load(&shm->hdr->peers_died);
	for (;;) {
		uint32_t deaths = shm->ops->deaths(shm);
		uint64_t died;
		int64_t now;
		int ms;

		err = shmipc_reclaim(shm);
		if (err < 0)
			return err;
		died = atomic_load(&shm->hdr->peers_died);
		if (died != died0)
			return (int)(died - died0);
		now = shmipc_now_ns();
		if (deadline && now >= deadline)
			return -ETIMEDOUT;
		if (shm->status) {	/* kmod: the module wakes us at a death */
			err = shm->ops->wait(shm, &shm->hdr->watch,
					     atomic_load(&shm->hdr->watch), deadline,
					     &deaths);
			if (err == -EINTR)
				return err;
			continue;
		}
		ms = deadline ? (int)((deadline - now + 999999) / 1000000) : WATCH_POLL_MS;
		watch_posix(shm, ms < WATCH_POLL_MS ? ms : WATCH_POLL_MS);
	}
}
