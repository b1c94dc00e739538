// SPDX-License-Identifier: GPL-2.0-only
/*
 * The API edge: every public call with a NULL handle or out pointer is
 * -EINVAL (or NULL/0 where it returns no int), never a crash; a double
 * release, or a release of a struct recv never filled, is -EINVAL and
 * frees nothing; a channel handle outlives its region handle without a
 * use-after-free; after fork() exactly one process owns a subscription;
 * shmipc_peer_watch() counts deaths, not closes; and what libshm.h says
 * threads may share, they share (this suite also runs under
 * ThreadSanitizer on the host). Either backend.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "helpers.h"
#include "kselftest_harness.h"
#include "libshm.h"

FIXTURE(api) {
	char name[SHMIPC_NAME_MAX];
	struct shmipc *shm;
	uint64_t free0;
};

static uint64_t free_now(struct shmipc *shm)
{
	struct shmipc_heap_stats st;

	shmipc_reclaim(shm);
	return shmipc_heap_stats(shm, &st) ? 0 : st.free;
}

FIXTURE_SETUP(api)
{
	struct shmipc_options o = { .size = 4 << 20, .flags = SHMIPC_OPEN_CREATE };

	uname_of(self->name, "api");
	shmipc_unlink(self->name, SHMIPC_BACKEND_AUTO);
	ASSERT_EQ(0, shmipc_open(self->name, &o, &self->shm));
	self->free0 = free_now(self->shm);
}

FIXTURE_TEARDOWN(api)
{
	shmipc_close(self->shm);
	shmipc_unlink(self->name, SHMIPC_BACKEND_AUTO);
}

static struct shmipc_chan *open_chan(struct shmipc *shm, const char *name,
				     enum shmipc_chan_mode mode, unsigned int flags)
{
	struct shmipc_chan_options o = {
		.mode = mode, .capacity = 16, .flags = flags | SHMIPC_CHAN_CREATE,
	};
	struct shmipc_chan *ch = NULL;

	return shmipc_chan_open(shm, name, &o, &ch) ? NULL : ch;
}

/* Every public call, with NULL where a handle or an out pointer goes. */
TEST_F(api, null_table)
{
	struct shmipc_options huge = { .size = SIZE_MAX, .flags = SHMIPC_OPEN_CREATE };
	struct shmipc *shm = self->shm;
	struct shmipc_chan *ch = open_chan(shm, "n", SHMIPC_CHAN_MPMC, 0), *other;
	struct shmipc_heap_stats hs;
	struct shmipc_chan_stats cs;
	struct shmipc_reclaim_stats rs;
	struct shmipc_peer_info pi;
	struct shmipc_buffer b;
	struct shmipc_resv r;
	struct shmipc_msg m;
	uint64_t off;
	size_t size;

	ASSERT_NE(NULL, ch);
	/* Regions. */
	ASSERT_EQ(-EINVAL, shmipc_open(self->name, NULL, NULL));
	ASSERT_EQ(-EINVAL, shmipc_open(NULL, NULL, &shm));
	shmipc_close(NULL);
	ASSERT_EQ(-EINVAL, shmipc_unlink(NULL, SHMIPC_BACKEND_AUTO));
	ASSERT_NE(NULL, shmipc_strerror(0));
	ASSERT_EQ(NULL, shmipc_backend_name(NULL));
	ASSERT_EQ(0, shmipc_size(NULL));
	ASSERT_EQ(NULL, shmipc_base(NULL));
	ASSERT_EQ(NULL, shmipc_ptr(NULL, 0, 1));
	ASSERT_EQ(-EINVAL, shmipc_offset(NULL, shmipc_base(self->shm), &off));
	ASSERT_EQ(-EINVAL, shmipc_offset(self->shm, shmipc_base(self->shm), NULL));
	/* The heap. */
	ASSERT_EQ(-EINVAL, shmipc_alloc(NULL, 16, &off));
	ASSERT_EQ(-EINVAL, shmipc_alloc(self->shm, 16, NULL));
	ASSERT_EQ(-EINVAL, shmipc_alloc_aligned(NULL, 16, 64, &off));
	ASSERT_EQ(-EINVAL, shmipc_alloc_aligned(self->shm, 16, 64, NULL));
	ASSERT_EQ(-EINVAL, shmipc_free(NULL, 4096));
	ASSERT_EQ(-EINVAL, shmipc_alloc_size(NULL, 4096, &size));
	ASSERT_EQ(-EINVAL, shmipc_alloc_size(self->shm, 4096, NULL));
	ASSERT_EQ(-EINVAL, shmipc_heap_stats(NULL, &hs));
	ASSERT_EQ(-EINVAL, shmipc_heap_stats(self->shm, NULL));
	ASSERT_EQ(-EINVAL, shmipc_heap_check(NULL));
	/* The registry. */
	ASSERT_EQ(-EINVAL, shmipc_buffer_create(NULL, "x", 0, 8, &b));
	ASSERT_EQ(-EINVAL, shmipc_buffer_create(self->shm, NULL, 0, 8, &b));
	ASSERT_EQ(-EINVAL, shmipc_buffer_create(self->shm, "x", 0, 8, NULL));
	ASSERT_EQ(-EINVAL, shmipc_buffer_find(NULL, "x", &b));
	ASSERT_EQ(-EINVAL, shmipc_buffer_find(self->shm, NULL, &b));
	ASSERT_EQ(-EINVAL, shmipc_buffer_find(self->shm, "x", NULL));
	ASSERT_EQ(-EINVAL, shmipc_buffer_take(NULL, "x", &b));
	ASSERT_EQ(-EINVAL, shmipc_buffer_take(self->shm, "x", NULL));
	ASSERT_EQ(-EINVAL, shmipc_buffer_release(NULL, &b));
	ASSERT_EQ(-EINVAL, shmipc_buffer_release(self->shm, NULL));
	ASSERT_EQ(-EINVAL, shmipc_buffer_remove(NULL, "x"));
	ASSERT_EQ(-EINVAL, shmipc_buffer_remove(self->shm, NULL));
	ASSERT_EQ(-EINVAL, shmipc_buffer_list(NULL, &b, 1, NULL));
	ASSERT_EQ(-EINVAL, shmipc_buffer_list(self->shm, NULL, 1, NULL));
	/* Channels. */
	ASSERT_EQ(-EINVAL, shmipc_chan_open(NULL, "n", NULL, &other));
	ASSERT_EQ(-EINVAL, shmipc_chan_open(self->shm, NULL, NULL, &other));
	ASSERT_EQ(-EINVAL, shmipc_chan_open(self->shm, "n", NULL, NULL));
	shmipc_chan_close(NULL);
	ASSERT_EQ(-EINVAL, shmipc_chan_remove(NULL, "n"));
	ASSERT_EQ(-EINVAL, shmipc_chan_remove(self->shm, NULL));
	ASSERT_EQ(-EINVAL, shmipc_chan_stats(NULL, &cs));
	ASSERT_EQ(-EINVAL, shmipc_chan_stats(ch, NULL));
	ASSERT_EQ(-EINVAL, shmipc_chan_list(NULL, &b, 1, NULL));
	ASSERT_EQ(-EINVAL, shmipc_chan_list(self->shm, NULL, 1, NULL));
	ASSERT_EQ(-EINVAL, shmipc_send_to(NULL, "n", "x", 1, 0, 0));
	ASSERT_EQ(-EINVAL, shmipc_send_to(self->shm, NULL, "x", 1, 0, 0));
	ASSERT_EQ(-EINVAL, shmipc_send_to(self->shm, "n", NULL, 1, 0, 0));
	ASSERT_EQ(-EINVAL, shmipc_send(NULL, "x", 1, 0, 0));
	ASSERT_EQ(-EINVAL, shmipc_send(ch, NULL, 1, 0, 0));
	ASSERT_EQ(-EINVAL, shmipc_reserve(NULL, 8, &r));
	ASSERT_EQ(-EINVAL, shmipc_reserve(ch, 8, NULL));
	ASSERT_EQ(-EINVAL, shmipc_commit(NULL, &r, 0, 0));
	ASSERT_EQ(-EINVAL, shmipc_commit(ch, NULL, 0, 0));
	ASSERT_EQ(-EINVAL, shmipc_abort(NULL, &r));
	ASSERT_EQ(-EINVAL, shmipc_abort(ch, NULL));
	ASSERT_EQ(-EINVAL, shmipc_recv(NULL, &m, 0));
	ASSERT_EQ(-EINVAL, shmipc_recv(ch, NULL, 0));
	ASSERT_EQ(-EINVAL, shmipc_msg_ref(NULL));
	ASSERT_EQ(-EINVAL, shmipc_msg_release(NULL));
	/* Peers. */
	ASSERT_EQ(0, shmipc_peer_id(NULL));
	ASSERT_EQ(-EINVAL, shmipc_peers(NULL, &pi, 1, NULL));
	ASSERT_EQ(-EINVAL, shmipc_peers(self->shm, NULL, 1, NULL));
	ASSERT_EQ(-EINVAL, shmipc_reclaim(NULL));
	ASSERT_EQ(-EINVAL, shmipc_reclaim_stats(NULL, &rs));
	ASSERT_EQ(-EINVAL, shmipc_reclaim_stats(self->shm, NULL));
	ASSERT_EQ(-EINVAL, shmipc_peer_watch(NULL, 0));
	ASSERT_EQ(-EINVAL, shmipc_on_peer_death(NULL, NULL, NULL));
	/* Sizes that would wrap. */
	ASSERT_GT(0, shmipc_alloc(self->shm, SIZE_MAX, &off));
	ASSERT_GT(0, shmipc_reserve(ch, SIZE_MAX, &r));
	ASSERT_GT(0, shmipc_open("api-huge", &huge, &shm));
	huge.size = SIZE_MAX - 4095;
	ASSERT_GT(0, shmipc_open("api-huge", &huge, &shm));
	shmipc_chan_close(ch);
	ASSERT_EQ(0, shmipc_chan_remove(self->shm, "n"));
	ASSERT_EQ(self->free0, free_now(self->shm));
}

/* Releases are checked against the handle's held table before anything shared. */
TEST_F(api, double_and_wild_release)
{
	struct shmipc_chan *ch = open_chan(self->shm, "d", SHMIPC_CHAN_MPMC, 0);
	struct shmipc_msg m, copy, garbage;
	char big[300];
	int i;

	ASSERT_NE(NULL, ch);
	memset(big, 'b', sizeof(big));
	for (i = 0; i < 2; i++) {		/* inline, then a heap payload */
		size_t size = i ? sizeof(big) : 8;

		ASSERT_EQ(0, shmipc_send(ch, big, size, 1, 0));
		ASSERT_EQ(0, shmipc_recv(ch, &m, 0));
		copy = m;
		ASSERT_EQ(0, shmipc_msg_release(&m));
		ASSERT_EQ(-EINVAL, shmipc_msg_release(&m)) TH_LOG("second release");
		ASSERT_EQ(-EINVAL, shmipc_msg_ref(&m));
		/* A heap message's entry is gone; an inline copy is the caller's. */
		ASSERT_EQ(i ? -EINVAL : 0, shmipc_msg_release(&copy)) TH_LOG("a copy's");
	}
	/* An inline message counts its references in the struct. */
	ASSERT_EQ(0, shmipc_send(ch, "tiny", 4, 1, 0));
	ASSERT_EQ(0, shmipc_recv(ch, &m, 0));
	ASSERT_EQ(0, shmipc_msg_ref(&m));
	ASSERT_EQ(0, shmipc_msg_release(&m));
	ASSERT_EQ(0, shmipc_msg_release(&m));
	ASSERT_EQ(-EINVAL, shmipc_msg_release(&m));
	/* The slot and payload of the heap one are someone else's now. */
	ASSERT_EQ(0, shmipc_send(ch, big, sizeof(big), 2, 0));
	ASSERT_EQ(0, shmipc_send(ch, big, sizeof(big), 3, 0));
	ASSERT_EQ(0, shmipc_recv(ch, &m, 0));
	ASSERT_EQ(-EINVAL, shmipc_msg_release(&copy));
	ASSERT_EQ('b', *(char *)m.data);		/* still there */
	/* References: each one released once, then no more. */
	ASSERT_EQ(0, shmipc_msg_ref(&m));
	ASSERT_EQ(0, shmipc_msg_ref(&m));
	ASSERT_EQ(0, shmipc_msg_release(&m));
	ASSERT_EQ(0, shmipc_msg_release(&m));
	ASSERT_EQ('b', *(char *)m.data);
	ASSERT_EQ(0, shmipc_msg_release(&m));
	ASSERT_EQ(-EINVAL, shmipc_msg_release(&m));
	/* Structs recv never filled: zeroed, garbage, another handle's pointer. */
	memset(&garbage, 0, sizeof(garbage));
	ASSERT_EQ(-EINVAL, shmipc_msg_release(&garbage));
	memset(&garbage, 0xa5, sizeof(garbage));
	ASSERT_EQ(-EINVAL, shmipc_msg_release(&garbage));
	ASSERT_EQ(-EINVAL, shmipc_msg_ref(&garbage));
	garbage.shm = self->shm;		/* a live handle, garbage otherwise */
	garbage.offset = 0;
	ASSERT_EQ(-EINVAL, shmipc_msg_release(&garbage));
	garbage.offset = 4096;
	ASSERT_EQ(-EINVAL, shmipc_msg_release(&garbage));
	ASSERT_EQ(0, shmipc_recv(ch, &m, 0));
	garbage = m;
	garbage.ticket ^= 1;
	ASSERT_EQ(-EINVAL, shmipc_msg_release(&garbage));
	garbage = m;
	garbage.offset += 16;
	ASSERT_EQ(-EINVAL, shmipc_msg_release(&garbage));
	ASSERT_EQ(0, shmipc_msg_release(&m));
	shmipc_chan_close(ch);
	ASSERT_EQ(0, shmipc_chan_remove(self->shm, "d"));
	ASSERT_EQ(self->free0, free_now(self->shm));
}

/*
 * shmipc_close() gives back what the handle holds, never a named entry,
 * and leaves the caller's channel handles inert (-EBADF), to be freed.
 */
TEST_F(api, close_gives_back_and_orphans)
{
	struct shmipc_options o = { 0 };
	struct shmipc_chan *mine, *theirs;
	struct shmipc_chan_stats st;
	struct shmipc_buffer b;
	struct shmipc_resv r;
	struct shmipc_msg m;
	struct shmipc *other;
	char big[500] = { 0 };

	mine = open_chan(self->shm, "c", SHMIPC_CHAN_MPMC, 0);
	ASSERT_NE(NULL, mine);
	ASSERT_EQ(0, shmipc_open(self->name, &o, &other));
	ASSERT_EQ(0, shmipc_chan_open(other, "c", NULL, &theirs));
	ASSERT_EQ(0, shmipc_send(mine, big, sizeof(big), 1, 0));
	ASSERT_EQ(0, shmipc_send(mine, big, sizeof(big), 2, 0));
	ASSERT_EQ(0, shmipc_recv(theirs, &m, 0));	/* held, not released */
	ASSERT_EQ(0, shmipc_reserve(theirs, 1000, &r));	/* open */
	ASSERT_EQ(0, shmipc_send_to(other, "c", "t", 1, 3, 0));
	shmipc_close(other);
	/* The channel stays named, with its queued message and the send_to one. */
	ASSERT_EQ(0, shmipc_buffer_find(self->shm, "c", &b));
	ASSERT_EQ(0, shmipc_chan_stats(mine, &st));
	ASSERT_EQ(2, st.depth);
	/* The orphan: no use-after-free, clear errors, then freed. */
	ASSERT_EQ(-EBADF, shmipc_send(theirs, "x", 1, 0, 0));
	ASSERT_EQ(-EBADF, shmipc_recv(theirs, &m, 0));
	ASSERT_EQ(-EBADF, shmipc_chan_stats(theirs, &st));
	ASSERT_EQ(-EINVAL, shmipc_msg_release(&m));	/* its handle is gone */
	shmipc_chan_close(theirs);
	shmipc_chan_close(mine);
	ASSERT_EQ(0, shmipc_chan_remove(self->shm, "c"));
	/* Everything the closed handle held came back. */
	ASSERT_EQ(self->free0, free_now(self->shm));
	ASSERT_EQ(0, shmipc_heap_check(self->shm));
}

/*
 * fork(): a subscription moves to the child at its first call, and the
 * parent's handle no longer receives from it; a message the parent
 * received stays the parent's to release.
 */
TEST_F(api, fork_subscription_has_one_owner)
{
	struct shmipc_chan *pub = open_chan(self->shm, "f", SHMIPC_CHAN_BROADCAST, 0);
	struct shmipc_chan_options so = { .flags = SHMIPC_CHAN_SUBSCRIBE };
	struct shmipc_chan *sub, *p2p = open_chan(self->shm, "g", SHMIPC_CHAN_MPMC, 0);
	struct shmipc_chan_stats st;
	struct shmipc_msg m, held;
	char big[200] = { 0 };
	int status, i;
	pid_t pid;

	ASSERT_NE(NULL, pub);
	ASSERT_NE(NULL, p2p);
	ASSERT_EQ(0, shmipc_chan_open(self->shm, "f", &so, &sub));
	ASSERT_EQ(0, shmipc_send(p2p, big, sizeof(big), 0, 0));
	ASSERT_EQ(0, shmipc_recv(p2p, &held, 0));
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, shmipc_send(pub, &i, sizeof(i), 0, 0));
	ASSERT_EQ(0, shmipc_recv(sub, &m, 0));		/* the parent takes #0 */
	ASSERT_EQ(0, shmipc_msg_release(&m));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		int err = shmipc_msg_release(&held);	/* the parent's */

		if (err != -EINVAL)
			_exit(10);
		for (i = 1; i < 3; i++) {		/* #1, #2: the cursor moved with it */
			if (shmipc_recv(sub, &m, 1000) || *(int *)m.data != i)
				_exit(11);
			shmipc_msg_release(&m);
		}
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(0, WEXITSTATUS(status));
	ASSERT_EQ(-ENOTCONN, shmipc_recv(sub, &m, 0));
	ASSERT_EQ(0, shmipc_msg_release(&held));
	/* The dead child's subscription is reclaimed: nobody holds the ring. */
	shmipc_reclaim(self->shm);
	ASSERT_EQ(0, shmipc_chan_stats(pub, &st));
	ASSERT_EQ(0, st.subscribers);
	shmipc_chan_close(sub);
	shmipc_chan_close(pub);
	shmipc_chan_close(p2p);
	ASSERT_EQ(0, shmipc_chan_remove(self->shm, "f"));
	ASSERT_EQ(0, shmipc_chan_remove(self->shm, "g"));
	ASSERT_EQ(self->free0, free_now(self->shm));
}

/* A peer in a child: it tells the parent when it is one, then waits for a word. */
static pid_t peer_child(const char *name, int *to_child, int *from_child, bool do_close)
{
	struct shmipc_options o = { 0 };
	int down[2], up[2];
	struct shmipc *s;
	pid_t pid;
	char c;

	if (pipe(down) || pipe(up))
		return -1;
	pid = fork();
	if (pid) {
		close(down[0]);
		close(up[1]);
		*to_child = down[1];
		*from_child = up[0];
		return pid;
	}
	close(down[1]);
	close(up[0]);
	if (shmipc_open(name, &o, &s))
		_exit(1);
	if (write(up[1], "r", 1) != 1 || read(down[0], &c, 1) != 1)
		_exit(2);
	if (do_close)
		shmipc_close(s);	/* a close, not a death */
	_exit(0);
}

/* shmipc_peer_watch() counts the deaths it saw; a close is not one. */
TEST_F(api, peer_watch_counts_deaths)
{
	int status, cw, cr, vw, vr;
	pid_t closer, victim;
	char c;

	ASSERT_EQ(-ETIMEDOUT, shmipc_peer_watch(self->shm, 10));
	closer = peer_child(self->name, &cw, &cr, true);
	ASSERT_LT(0, closer);
	ASSERT_EQ(1, read(cr, &c, 1)) TH_LOG("the closer did not become a peer");
	victim = peer_child(self->name, &vw, &vr, false);
	ASSERT_LT(0, victim);
	ASSERT_EQ(1, read(vr, &c, 1)) TH_LOG("the victim did not become a peer");
	/* The watch has both alive; the closer leaves: no death. */
	ASSERT_EQ(1, write(cw, "x", 1));
	ASSERT_EQ(closer, waitpid(closer, &status, 0));
	ASSERT_EQ(0, WEXITSTATUS(status));
	ASSERT_EQ(-ETIMEDOUT, shmipc_peer_watch(self->shm, 50));
	kill(victim, SIGKILL);
	ASSERT_EQ(1, shmipc_peer_watch(self->shm, 5000));
	ASSERT_EQ(victim, waitpid(victim, &status, 0));
	close(cw);
	close(cr);
	close(vw);
	close(vr);
}

/* ---- threads (the ThreadSanitizer build runs these) ---- */

struct thr {
	struct shmipc *shm;
	struct shmipc_chan *ch;
	int id, result;
};

static void *send_to_thread(void *p)
{
	struct thr *t = p;
	char name[16];
	int i;

	t->result = 0;
	for (i = 0; i < 2000 && !t->result; i++) {
		snprintf(name, sizeof(name), "t%d", i % 4);
		t->result = shmipc_send_to(t->shm, name, &i, sizeof(i), (uint32_t)t->id, 100);
		if (t->result == -ENOSPC || t->result == -ETIMEDOUT)
			t->result = 0;
	}
	return NULL;
}

static void *drain_thread(void *p)
{
	struct thr *t = p;
	struct shmipc_msg m;
	int idle = 0;

	while (idle < 50) {
		if (shmipc_recv(t->ch, &m, 10)) {
			idle++;
			continue;
		}
		idle = 0;
		shmipc_msg_release(&m);
	}
	return NULL;
}

/* shmipc_send_to()'s table by name, from four threads at once. */
TEST_F(api, send_to_from_threads)
{
	struct shmipc_options o = { .flags = SHMIPC_OPEN_AUTO_CHANNELS };
	struct thr t[4], d[4];
	struct shmipc_chan *rx[4];
	struct shmipc *shm;
	pthread_t th[8];
	char name[16];
	int i;

	ASSERT_EQ(0, shmipc_open(self->name, &o, &shm));
	for (i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "t%d", i);
		rx[i] = open_chan(self->shm, name, SHMIPC_CHAN_MPMC, 0);
		ASSERT_NE(NULL, rx[i]);
		d[i] = (struct thr){ .shm = self->shm, .ch = rx[i] };
		ASSERT_EQ(0, pthread_create(&th[4 + i], NULL, drain_thread, &d[i]));
	}
	for (i = 0; i < 4; i++) {
		t[i] = (struct thr){ .shm = shm, .id = i };
		ASSERT_EQ(0, pthread_create(&th[i], NULL, send_to_thread, &t[i]));
	}
	for (i = 0; i < 8; i++)
		ASSERT_EQ(0, pthread_join(th[i], NULL));
	for (i = 0; i < 4; i++)
		ASSERT_EQ(0, t[i].result) TH_LOG("thread %d", i);
	shmipc_close(shm);
	for (i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "t%d", i);
		shmipc_chan_close(rx[i]);
		ASSERT_EQ(0, shmipc_chan_remove(self->shm, name));
	}
	ASSERT_EQ(self->free0, free_now(self->shm));
}

static void *resv_thread(void *p)
{
	struct thr *t = p;
	struct shmipc_resv r;
	int i;

	t->result = 0;
	for (i = 0; i < 5000 && !t->result; i++) {
		t->result = shmipc_reserve(t->ch, 64 + (size_t)(i % 512), &r);
		if (t->result)
			break;
		memset(r.data, t->id, r.size);
		t->result = (i + t->id) % 2 ? shmipc_abort(t->ch, &r) :
			    shmipc_commit(t->ch, &r, 0, 1000);
	}
	return NULL;
}

/* Reserve, commit and abort on one channel handle from two threads. */
TEST_F(api, reserve_abort_from_threads)
{
	struct shmipc_chan *ch = open_chan(self->shm, "z", SHMIPC_CHAN_MPMC, 0);
	struct thr t[2], d;
	pthread_t th[3];
	int i;

	ASSERT_NE(NULL, ch);
	d = (struct thr){ .shm = self->shm, .ch = ch };
	ASSERT_EQ(0, pthread_create(&th[2], NULL, drain_thread, &d));
	for (i = 0; i < 2; i++) {
		t[i] = (struct thr){ .shm = self->shm, .ch = ch, .id = i + 1 };
		ASSERT_EQ(0, pthread_create(&th[i], NULL, resv_thread, &t[i]));
	}
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, pthread_join(th[i], NULL));
	for (i = 0; i < 2; i++)
		ASSERT_EQ(0, t[i].result) TH_LOG("thread %d", i);
	shmipc_chan_close(ch);
	ASSERT_EQ(0, shmipc_chan_remove(self->shm, "z"));
	ASSERT_EQ(self->free0, free_now(self->shm));
	ASSERT_EQ(0, shmipc_heap_check(self->shm));
}

TEST_HARNESS_MAIN
