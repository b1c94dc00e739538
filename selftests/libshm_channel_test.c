// SPDX-License-Identifier: GPL-2.0-only
/*
 * libshm channels: send/receive in every mode, zero-copy, references,
 * timeouts, errors, corrupted descriptors and payloads, broadcast overruns,
 * wake-ups, dead peers, and multi-process stress. Either backend; the
 * threads test is also built with ThreadSanitizer on the host.
 *
 * SHMIPC_STRESS_MSGS sets the three stress tests' message count (default
 * 1,000,000; the ASan, TSan and VM runs use fewer, see scripts/).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "helpers.h"
#include "kselftest_harness.h"
#include "libshm.h"
#include "internal.h"	/* to corrupt descriptors and fake a dead claimer */

#define REGION_SIZE	(64u << 20)

/*
 * Free heap bytes once every process the test forked is gone: what the
 * dead ones (killed, or exited without closing) held is reclaimed first.
 */
static uint64_t free_now(struct shmipc *shm)
{
	struct shmipc_heap_stats st;

	shmipc_reclaim(shm);
	return shmipc_heap_stats(shm, &st) ? 0 : st.free;
}

FIXTURE(chan) {
	char name[SHMIPC_NAME_MAX];
	struct shmipc *shm;
	uint64_t free0;
};

FIXTURE_SETUP(chan)
{
	struct shmipc_options o = { .size = REGION_SIZE, .flags = SHMIPC_OPEN_CREATE };

	uname_of(self->name, "chan");
	shmipc_unlink(self->name, SHMIPC_BACKEND_AUTO);
	ASSERT_EQ(0, shmipc_open(self->name, &o, &self->shm));
	self->free0 = free_now(self->shm);
}

FIXTURE_TEARDOWN(chan)
{
	shmipc_close(self->shm);
	shmipc_unlink(self->name, SHMIPC_BACKEND_AUTO);
}

static struct shmipc_chan *open_chan(struct shmipc *shm, const char *name,
				     int mode, unsigned int cap,
				     unsigned int flags)
{
	struct shmipc_chan_options o = {
		.mode = mode, .capacity = cap, .flags = flags | SHMIPC_CHAN_CREATE,
	};
	struct shmipc_chan *ch = NULL;

	return shmipc_chan_open(shm, name, &o, &ch) ? NULL : ch;
}

/* Every mode: the full capacity is usable, order and fields are kept. */
TEST_F(chan, send_recv_each_mode)
{
	static const int modes[] = { SHMIPC_CHAN_SPSC, SHMIPC_CHAN_MPMC,
				     SHMIPC_CHAN_BROADCAST };
	unsigned int m, i;

	for (m = 0; m < 3; m++) {
		struct shmipc_chan_options so = { .flags = SHMIPC_CHAN_SUBSCRIBE };
		struct shmipc_chan *tx, *rx;
		struct shmipc_chan_stats st;
		struct shmipc_msg msg;
		int64_t t0 = mono_ns();
		char name[16];

		snprintf(name, sizeof(name), "c%u", m);
		tx = open_chan(self->shm, name, modes[m], 8, 0);
		ASSERT_NE(NULL, tx);
		ASSERT_EQ(0, shmipc_chan_open(self->shm, name, &so, &rx));
		ASSERT_EQ(-EAGAIN, shmipc_try_recv(rx, &msg));
		for (i = 0; i < 8; i++)
			ASSERT_EQ(0, shmipc_send(tx, &i, sizeof(i), 100 + i, 0));
		ASSERT_EQ(-ENOSPC, shmipc_send(tx, &i, sizeof(i), 0, 0));
		ASSERT_EQ(0, shmipc_chan_stats(tx, &st));
		ASSERT_EQ(8, st.depth);
		ASSERT_EQ(1, st.full);
		ASSERT_EQ(8, st.msgs_in);
		for (i = 0; i < 8; i++) {
			ASSERT_EQ(0, shmipc_try_recv(rx, &msg));
			ASSERT_EQ(sizeof(i), shmipc_msg_size(&msg));
			ASSERT_EQ(i, *(const unsigned int *)shmipc_msg_data(&msg));
			ASSERT_EQ(100 + i, shmipc_msg_type(&msg));
			ASSERT_EQ(i, shmipc_msg_seq(&msg));
			ASSERT_EQ(getpid(), shmipc_msg_sender(&msg));
			ASSERT_LE(t0, (int64_t)shmipc_msg_timestamp(&msg));
			ASSERT_GE(mono_ns(), (int64_t)shmipc_msg_timestamp(&msg));
			ASSERT_EQ(0, shmipc_msg_release(&msg));
		}
		ASSERT_EQ(-EAGAIN, shmipc_try_recv(rx, &msg));
		ASSERT_EQ(0, shmipc_chan_stats(rx, &st));
		ASSERT_EQ(8, st.msgs_out);
		ASSERT_EQ(8 * sizeof(i), st.bytes_out);
		ASSERT_EQ(getpid(), st.last_receiver);
		shmipc_chan_close(rx);
		shmipc_chan_close(tx);
		ASSERT_EQ(0, shmipc_chan_remove(self->shm, name));
	}
	ASSERT_EQ(self->free0, free_now(self->shm));
}

TEST_F(chan, zero_copy_and_refs)
{
	struct shmipc_chan *ch = open_chan(self->shm, "zc", SHMIPC_CHAN_MPMC, 16, 0);
	struct shmipc_resv r, r2, r3;
	struct shmipc_msg msg, copy;

	ASSERT_NE(NULL, ch);
	ASSERT_EQ(0, shmipc_reserve(ch, 1000, &r));
	memset(r.data, 'z', 1000);
	ASSERT_EQ(0, shmipc_commit(ch, &r, 9, 0));
	ASSERT_EQ(-EINVAL, shmipc_commit(ch, &r, 9, 0)) TH_LOG("committed twice");
	ASSERT_EQ(0, shmipc_recv(ch, &msg, 0));
	ASSERT_EQ(r.data, msg.data) TH_LOG("no copy: the data is where it was written");
	ASSERT_EQ('z', ((char *)msg.data)[999]);
	/* A second reference keeps the payload after the first release. */
	ASSERT_EQ(0, shmipc_msg_ref(&msg));
	copy = msg;
	ASSERT_EQ(0, shmipc_msg_release(&msg));
	ASSERT_EQ('z', ((char *)copy.data)[0]);
	ASSERT_EQ(0, shmipc_msg_release(&copy));

	/* Small payloads travel inline: data points into the message itself. */
	ASSERT_EQ(0, shmipc_send(ch, "small", 6, 1, 0));
	ASSERT_EQ(0, shmipc_recv(ch, &msg, 0));
	ASSERT_EQ((void *)msg.inline_data, msg.data);
	ASSERT_STREQ("small", (char *)msg.data);
	ASSERT_EQ(0, msg.offset);
	ASSERT_EQ(0, shmipc_msg_ref(&msg));
	ASSERT_EQ(0, shmipc_msg_release(&msg));
	ASSERT_EQ(0, shmipc_msg_release(&msg));

	/* Abort gives the block back; close aborts what is still open. */
	ASSERT_EQ(0, shmipc_reserve(ch, 5000, &r2));
	ASSERT_EQ(0, shmipc_abort(ch, &r2));
	ASSERT_EQ(-EINVAL, shmipc_abort(ch, &r2));
	ASSERT_EQ(0, shmipc_reserve(ch, 7000, &r3));
	ASSERT_EQ(0, shmipc_reserve(ch, 100, &r2));
	shmipc_chan_close(ch);
	ASSERT_EQ(0, shmipc_chan_remove(self->shm, "zc"));
	ASSERT_EQ(self->free0, free_now(self->shm));
	ASSERT_EQ(0, shmipc_heap_check(self->shm));
}

TEST_F(chan, timeouts_and_errors)
{
	struct shmipc_chan_options bad = { .mode = 9 };
	struct shmipc_chan *ch = open_chan(self->shm, "t", SHMIPC_CHAN_SPSC, 2, 0);
	struct shmipc_chan *other;
	struct shmipc_buffer b;
	struct shmipc_msg msg;
	int64_t t0;

	ASSERT_NE(NULL, ch);
	t0 = mono_ns();
	ASSERT_EQ(-ETIMEDOUT, shmipc_recv(ch, &msg, 50));
	ASSERT_LE(t0 + 50000000, mono_ns());
	ASSERT_EQ(0, shmipc_send(ch, "a", 1, 0, 0));
	ASSERT_EQ(0, shmipc_send(ch, "b", 1, 0, 0));
	ASSERT_EQ(-ETIMEDOUT, shmipc_send(ch, "c", 1, 0, 30));
	ASSERT_EQ(-EMSGSIZE, shmipc_send(ch, "x", (size_t)REGION_SIZE * 2, 0, 0));
	ASSERT_EQ(-ENOENT, shmipc_chan_open(self->shm, "absent", NULL, &other));
	ASSERT_EQ(-EINVAL, shmipc_chan_open(self->shm, "t2", &bad, &other));
	bad.mode = SHMIPC_CHAN_MPMC;
	bad.capacity = 3;
	ASSERT_EQ(-EINVAL, shmipc_chan_open(self->shm, "t2", &bad, &other));
	bad.capacity = 4;
	bad.flags = SHMIPC_CHAN_DROP_OLDEST;
	ASSERT_EQ(-EINVAL, shmipc_chan_open(self->shm, "t2", &bad, &other));
	bad.flags = 0;				/* "t" exists as spsc */
	ASSERT_EQ(-EINVAL, shmipc_chan_open(self->shm, "t", &bad, &other));
	/* A registry name that is not a channel. */
	ASSERT_EQ(0, shmipc_buffer_create(self->shm, "plain", 0, 64, &b));
	ASSERT_EQ(-EINVAL, shmipc_chan_open(self->shm, "plain", NULL, &other));
	ASSERT_EQ(-EINVAL, shmipc_chan_remove(self->shm, "plain"));
	ASSERT_EQ(0, shmipc_buffer_remove(self->shm, "plain"));
	ASSERT_EQ(0, shmipc_buffer_release(self->shm, &b));
	/* Broadcast: only subscribers receive. */
	other = open_chan(self->shm, "bc", SHMIPC_CHAN_BROADCAST, 4, 0);
	ASSERT_NE(NULL, other);
	ASSERT_EQ(-EINVAL, shmipc_try_recv(other, &msg));
	shmipc_chan_close(other);
	ASSERT_EQ(0, shmipc_chan_remove(self->shm, "bc"));
	/* Removing a channel with messages queued gives them back. */
	shmipc_chan_close(ch);
	ASSERT_EQ(0, shmipc_chan_remove(self->shm, "t"));
	ASSERT_EQ(self->free0, free_now(self->shm));
}

/* A corrupted payload (CRC32C) or descriptor is -EBADMSG, never a crash. */
TEST_F(chan, corruption)
{
	struct shmipc_chan *ch = open_chan(self->shm, "crc", SHMIPC_CHAN_MPMC, 8,
					   SHMIPC_CHAN_CRC32C);
	struct shmipc_mpmc_slot *slots;
	struct shmipc_chan_stats st;
	struct shmipc_msg msg;
	struct shmipc_buffer b;
	char big[100];

	ASSERT_NE(NULL, ch);
	memset(big, 'h', sizeof(big));		/* past the inline size: a heap block */
	ASSERT_EQ(0, shmipc_send(ch, big, sizeof(big), 1, 0));
	ASSERT_EQ(0, shmipc_recv(ch, &msg, 0));
	ASSERT_EQ(0, shmipc_msg_release(&msg));

	ASSERT_EQ(0, shmipc_send(ch, big, sizeof(big), 1, 0));
	ASSERT_EQ(0, shmipc_buffer_find(self->shm, "crc", &b));
	slots = (void *)((char *)shmipc_base(self->shm) + b.offset +
			 sizeof(struct shmipc_chan_ctl));
	((char *)shmipc_base(self->shm))[slots[1].d.offset + 50] ^= 1;	/* a flipped bit */
	ASSERT_EQ(-EBADMSG, shmipc_recv(ch, &msg, 0));

	ASSERT_EQ(0, shmipc_send(ch, big, sizeof(big), 1, 0));
	slots[2].d.offset = 12345;			/* a wild offset */
	ASSERT_EQ(-EBADMSG, shmipc_recv(ch, &msg, 0));
	ASSERT_EQ(0, shmipc_send(ch, big, sizeof(big), 1, 0));
	slots[3].d.size = 0x7fffffff;			/* a wild size */
	ASSERT_EQ(-EBADMSG, shmipc_recv(ch, &msg, 0));
	ASSERT_EQ(0, shmipc_send(ch, "tiny", 4, 1, 0));
	slots[4].d.size = SHMIPC_DESC_INLINE | 65;	/* inline, too long */
	ASSERT_EQ(-EBADMSG, shmipc_recv(ch, &msg, 0));
	ASSERT_EQ(0, shmipc_send(ch, "tiny", 4, 1, 0));
	slots[5].d.data[0] ^= 1;			/* inline, a flipped bit */
	ASSERT_EQ(-EBADMSG, shmipc_recv(ch, &msg, 0));
	ASSERT_EQ(0, shmipc_chan_stats(ch, &st));
	ASSERT_EQ(5, st.bad);
	/* The channel goes on working. */
	ASSERT_EQ(0, shmipc_send(ch, "again", 5, 1, 0));
	ASSERT_EQ(0, shmipc_recv(ch, &msg, 0));
	ASSERT_EQ(0, memcmp(msg.data, "again", 5));
	ASSERT_EQ(0, shmipc_msg_release(&msg));
	shmipc_chan_close(ch);
	ASSERT_EQ(0, shmipc_chan_remove(self->shm, "crc"));
	ASSERT_EQ(0, shmipc_heap_check(self->shm));
}

TEST_F(chan, broadcast_fanout_and_overrun)
{
	struct shmipc_chan_options so = { .flags = SHMIPC_CHAN_SUBSCRIBE };
	struct shmipc_chan *pub, *sub[3], *slow;
	struct shmipc_chan_stats st;
	struct shmipc_msg msg[3];
	unsigned int i, j;
	char big[200];

	pub = open_chan(self->shm, "fan", SHMIPC_CHAN_BROADCAST, 4, 0);
	ASSERT_NE(NULL, pub);
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, shmipc_chan_open(self->shm, "fan", &so, &sub[i]));
	memset(big, 'x', sizeof(big));
	ASSERT_EQ(0, shmipc_send(pub, big, sizeof(big), 7, 0));
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, shmipc_recv(sub[i], &msg[i], 0));
	/* One payload, three references: freed after the last release. */
	ASSERT_EQ(msg[0].data, msg[2].data);
	ASSERT_EQ(0, shmipc_msg_release(&msg[0]));
	ASSERT_EQ(0, shmipc_msg_release(&msg[1]));
	ASSERT_EQ('x', *(char *)msg[2].data);
	ASSERT_EQ(0, shmipc_msg_release(&msg[2]));

	/* Block mode: a subscriber 4 behind stops the publisher. */
	for (i = 0; i < 4; i++)
		ASSERT_EQ(0, shmipc_send(pub, &i, sizeof(i), 0, 0));
	ASSERT_EQ(-ENOSPC, shmipc_send(pub, &i, sizeof(i), 0, 0));
	ASSERT_EQ(0, shmipc_chan_stats(pub, &st));
	ASSERT_EQ(3, st.subscribers);
	ASSERT_EQ(4, st.depth);
	for (i = 0; i < 3; i++)
		shmipc_chan_close(sub[i]);	/* unread messages go back */
	shmipc_chan_close(pub);
	ASSERT_EQ(0, shmipc_chan_remove(self->shm, "fan"));
	ASSERT_EQ(self->free0, free_now(self->shm));

	/* Drop-oldest: the slow subscriber loses the oldest, counted. */
	pub = open_chan(self->shm, "drop", SHMIPC_CHAN_BROADCAST, 4,
			SHMIPC_CHAN_DROP_OLDEST);
	ASSERT_NE(NULL, pub);
	ASSERT_EQ(0, shmipc_chan_open(self->shm, "drop", &so, &slow));
	for (i = 0; i < 10; i++)
		ASSERT_EQ(0, shmipc_send(pub, &i, sizeof(i), 0, 0));
	for (i = 6; i < 10; i++) {
		ASSERT_EQ(0, shmipc_recv(slow, &msg[0], 0));
		j = *(unsigned int *)msg[0].data;
		ASSERT_EQ(i, j);
		ASSERT_EQ(0, shmipc_msg_release(&msg[0]));
	}
	ASSERT_EQ(0, shmipc_chan_stats(pub, &st));
	ASSERT_EQ(6, st.overruns);
	shmipc_chan_close(slow);
	shmipc_chan_close(pub);
	ASSERT_EQ(0, shmipc_chan_remove(self->shm, "drop"));
	ASSERT_EQ(self->free0, free_now(self->shm));
}

/* send_to keeps a handle per name; AUTO_CHANNELS creates missing ones. */
TEST_F(chan, send_to_and_list)
{
	struct shmipc_options ao = { .flags = SHMIPC_OPEN_AUTO_CHANNELS };
	struct shmipc_buffer list[4], plain;
	struct shmipc_chan *rx;
	struct shmipc *auto_shm, *plain_shm;
	struct shmipc_msg msg;
	unsigned int total;

	ASSERT_EQ(-ENOENT, shmipc_send_to(self->shm, "named", "a", 1, 0, 0));
	ASSERT_EQ(0, shmipc_open(self->name, &ao, &auto_shm));
	ASSERT_EQ(0, shmipc_send_to(auto_shm, "named", "a", 1, 0, 0));
	ASSERT_EQ(0, shmipc_send_to(auto_shm, "named", "b", 1, 0, 0));
	ASSERT_EQ(0, shmipc_chan_open(self->shm, "named", NULL, &rx));
	ASSERT_EQ(0, shmipc_recv(rx, &msg, 0));
	ASSERT_EQ('a', *(char *)msg.data);
	ASSERT_EQ(0, shmipc_recv(rx, &msg, 0));
	ASSERT_EQ('b', *(char *)msg.data);
	/* Now it exists, a handle without the option can send to it too. */
	ASSERT_EQ(0, shmipc_open(self->name, NULL, &plain_shm));
	ASSERT_EQ(0, shmipc_send_to(plain_shm, "named", "c", 1, 0, 0));
	ASSERT_EQ(0, shmipc_recv(rx, &msg, 0));
	ASSERT_EQ('c', *(char *)msg.data);
	shmipc_close(plain_shm);

	ASSERT_EQ(0, shmipc_buffer_create(self->shm, "not-a-channel", 0, 8, &plain));
	ASSERT_EQ(1, shmipc_chan_list(self->shm, list, 4, &total));
	ASSERT_EQ(1, total);
	ASSERT_STREQ("named", list[0].name);
	ASSERT_EQ(0, shmipc_buffer_remove(self->shm, "not-a-channel"));
	ASSERT_EQ(0, shmipc_buffer_release(self->shm, &plain));
	shmipc_close(auto_shm);		/* closes its table's handle */
	shmipc_chan_close(rx);
	ASSERT_EQ(0, shmipc_chan_remove(self->shm, "named"));
	ASSERT_EQ(self->free0, free_now(self->shm));
}

/*
 * Claims left by dead peers: a producer's becomes a skip, a consumer's
 * message is delivered again; neither wedges the queue.
 */
TEST_F(chan, dead_claimers_repaired)
{
	struct shmipc_chan *ch = open_chan(self->shm, "dc", SHMIPC_CHAN_MPMC, 8, 0);
	struct shmipc_mpmc_slot *slots;
	struct shmipc_chan_ctl *c;
	struct shmipc_buffer b;
	struct shmipc_reclaim_stats st;
	struct shmipc_msg msg;
	/* A token no live peer has: slot 511 of generation 1. */
	uint64_t dead = 1u << 9 | 511, pos, claim;

	ASSERT_NE(NULL, ch);
	ASSERT_EQ(0, shmipc_buffer_find(self->shm, "dc", &b));
	c = (void *)((char *)shmipc_base(self->shm) + b.offset);
	slots = (void *)(c + 1);
	/* What a producer killed between its claim and its publication leaves. */
	atomic_store(&slots[0].seq, SHMIPC_Q_CLAIMED | dead << 32 | 0);
	ASSERT_EQ(0, shmipc_send(ch, "after", 5, 0, 0));
	ASSERT_EQ(0, shmipc_recv(ch, &msg, 1000));
	ASSERT_EQ(0, memcmp(msg.data, "after", 5));
	ASSERT_EQ(0, shmipc_msg_release(&msg));
	ASSERT_EQ(0, shmipc_reclaim_stats(self->shm, &st));
	ASSERT_LE(1, st.slots_repaired);

	/*
	 * What a consumer killed while taking a message out leaves: the slot
	 * claimed for reading, head past it. The message is delivered again.
	 */
	ASSERT_EQ(0, shmipc_send(ch, "again!", 6, 0, 0));
	pos = atomic_load(&c->head);
	ASSERT_EQ(pos + 1, atomic_load(&slots[pos & 7].seq));
	claim = SHMIPC_Q_CLAIMED | SHMIPC_Q_READING | dead << 32 | (uint32_t)pos;
	atomic_store(&slots[pos & 7].seq, claim);
	atomic_store(&c->head, pos + 1);
	ASSERT_EQ(-EAGAIN, shmipc_recv(ch, &msg, 0));
	ASSERT_EQ(0, shmipc_recv(ch, &msg, 1000));	/* found before sleeping */
	ASSERT_EQ(0, memcmp(msg.data, "again!", 6));
	ASSERT_EQ(0, shmipc_msg_release(&msg));
	ASSERT_EQ(0, shmipc_reclaim_stats(self->shm, &st));
	ASSERT_LE(1, st.msgs_redelivered);
	shmipc_chan_close(ch);
	ASSERT_EQ(0, shmipc_chan_remove(self->shm, "dc"));
	ASSERT_EQ(self->free0, free_now(self->shm));
}

/* 100,000 round trips with no spinning: every receive sleeps and is woken. */
TEST_F_TIMEOUT(chan, wakeup_stress, 900)
{
	struct shmipc_chan_options o = {
		.mode = SHMIPC_CHAN_SPSC, .capacity = 4, .spin = -1,
		.flags = SHMIPC_CHAN_CREATE,
	};
	const unsigned int rounds = 100000;
	struct shmipc_chan *ping, *pong;
	struct shmipc_msg msg;
	unsigned int i;
	int status;
	pid_t pid;

	ASSERT_EQ(0, shmipc_chan_open(self->shm, "ping", &o, &ping));
	ASSERT_EQ(0, shmipc_chan_open(self->shm, "pong", &o, &pong));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		for (i = 0; i < rounds; i++) {
			if (shmipc_recv(ping, &msg, 10000))
				_exit(1);
			shmipc_msg_release(&msg);
			if (shmipc_send(pong, &i, sizeof(i), 0, 10000))
				_exit(2);
		}
		_exit(0);
	}
	for (i = 0; i < rounds; i++) {
		ASSERT_EQ(0, shmipc_send(ping, &i, sizeof(i), 0, 10000));
		ASSERT_EQ(0, shmipc_recv(pong, &msg, 10000)) TH_LOG("round %u", i);
		ASSERT_EQ(i, *(unsigned int *)msg.data);
		ASSERT_EQ(0, shmipc_msg_release(&msg));
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(0, WEXITSTATUS(status));
	TH_LOG("%u round trips, every receive without spinning", rounds);
	shmipc_chan_close(ping);
	shmipc_chan_close(pong);
	shmipc_chan_remove(self->shm, "ping");
	shmipc_chan_remove(self->shm, "pong");
	ASSERT_EQ(self->free0, free_now(self->shm));
}

/* Dead peers: a consumer killed holding messages, a producer killed mid-reservation. */
TEST_F(chan, killed_peers)
{
	struct shmipc_chan *ch = open_chan(self->shm, "kp", SHMIPC_CHAN_MPMC, 64, 0);
	struct shmipc_msg msg;
	unsigned int i;
	int status;
	pid_t pid;

	ASSERT_NE(NULL, ch);
	for (i = 0; i < 20; i++)
		ASSERT_EQ(0, shmipc_send(ch, &i, sizeof(i), 0, 0));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		for (i = 0; i < 10; i++)	/* received, never released */
			if (shmipc_recv(ch, &msg, 0))
				_exit(1);
		raise(SIGKILL);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFSIGNALED(status));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		struct shmipc_resv r;

		if (shmipc_reserve(ch, 4096, &r))
			_exit(1);
		memset(r.data, 1, 4096);
		raise(SIGKILL);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFSIGNALED(status));
	/* The rest of the queue, and new traffic, flow as before. */
	for (i = 10; i < 20; i++) {
		ASSERT_EQ(0, shmipc_recv(ch, &msg, 1000));
		ASSERT_EQ(i, *(unsigned int *)msg.data);
		ASSERT_EQ(0, shmipc_msg_release(&msg));
	}
	for (i = 0; i < 1000; i++) {
		ASSERT_EQ(0, shmipc_send(ch, &i, sizeof(i), 0, 1000));
		ASSERT_EQ(0, shmipc_recv(ch, &msg, 1000));
		ASSERT_EQ(0, shmipc_msg_release(&msg));
	}
	ASSERT_EQ(0, shmipc_heap_check(self->shm));
	shmipc_chan_close(ch);
	ASSERT_EQ(0, shmipc_chan_remove(self->shm, "kp"));
}

/* A subscriber that died with its backlog does not hold the publisher up. */
TEST_F(chan, dead_subscriber_released)
{
	struct shmipc_chan *pub = open_chan(self->shm, "ds", SHMIPC_CHAN_BROADCAST, 4, 0);
	char big[200];
	unsigned int i;
	int status;
	pid_t pid;

	ASSERT_NE(NULL, pub);
	memset(big, 'd', sizeof(big));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		struct shmipc_chan_options so = { .flags = SHMIPC_CHAN_SUBSCRIBE };
		struct shmipc_chan *sub;

		if (shmipc_chan_open(self->shm, "ds", &so, &sub))
			_exit(1);
		_exit(0);	/* subscribed, then gone without a word */
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(0, WEXITSTATUS(status));
	for (i = 0; i < 20; i++)	/* 5 laps of a 4-slot ring */
		ASSERT_EQ(0, shmipc_send(pub, big, sizeof(big), 0, 0)) TH_LOG("message %u", i);
	shmipc_chan_close(pub);
	ASSERT_EQ(0, shmipc_chan_remove(self->shm, "ds"));
	/*
	 * Its messages went back, but the channel's own block stays: the dead
	 * process still holds a registry reference (the process-death work
	 * reclaims those).
	 */
	ASSERT_EQ(0, shmipc_heap_check(self->shm));
}

/* ---- multi-process stress ---- */

struct stress_shared {			/* an anonymous shared mapping */
	_Atomic uint64_t received;	/* messages taken, all consumers */
	_Atomic uint32_t ready;		/* subscribers in place */
	_Atomic uint8_t seen[];		/* [producer * per + n]: times received */
};

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

/* Log-uniform sizes, 1 B to 64 KiB: every size class gets traffic. */
static size_t stress_size(uint64_t r)
{
	unsigned int bits = (unsigned int)(r % 17);	/* 0..16 */
	size_t size = ((size_t)1 << bits) + (size_t)(mix(r) % ((size_t)1 << bits));

	return size > 65536 ? 65536 : size;
}

/* The message's identity travels in its type: producer << 24 | number. */
static uint32_t ident(uint32_t prod, uint64_t n)
{
	return prod << 24 | (uint32_t)n;
}

/* Every byte derives from the identity: a checksum the consumer recomputes. */
static void fill(unsigned char *p, size_t size, uint32_t id)
{
	uint64_t h = mix(id);
	size_t i;

	for (i = 0; i < size; i++)
		p[i] = (unsigned char)(h >> (8 * (i % 8)) ^ i);
}

static int check(const unsigned char *p, size_t size, uint32_t id)
{
	uint64_t h = mix(id);
	size_t i;

	for (i = 0; i < size; i++)
		if (p[i] != (unsigned char)(h >> (8 * (i % 8)) ^ i))
			return -1;
	return 0;
}

static int producer(struct shmipc *shm, const char *chan, uint32_t id,
		    uint64_t count)
{
	struct shmipc_chan *ch;
	uint64_t n;

	if (shmipc_chan_open(shm, chan, NULL, &ch))
		return 20;
	for (n = 0; n < count; n++) {
		size_t size = stress_size(mix(id * 7919ULL + n));
		struct shmipc_resv r;

		if (n % 2) {		/* half copied, half zero-copy */
			unsigned char buf[65536];

			fill(buf, size, ident(id, n));
			if (shmipc_send(ch, buf, size, ident(id, n), 30000))
				return 21;
		} else {
			int err;

			while ((err = shmipc_reserve(ch, size, &r)) == -ENOMEM)
				usleep(100);
			if (err)
				return 22;
			fill(r.data, size, ident(id, n));
			if (shmipc_commit(ch, &r, ident(id, n), 30000))
				return 23;
		}
	}
	shmipc_chan_close(ch);
	return 0;
}

static int consumer(struct shmipc *shm, const char *chan, struct stress_shared *ss,
		    uint64_t per, unsigned int producers, uint64_t total, bool subscribe)
{
	struct shmipc_chan_options o = { .flags = subscribe ? SHMIPC_CHAN_SUBSCRIBE : 0 };
	uint64_t last[8], got = 0;
	struct shmipc_chan *ch;
	struct shmipc_msg msg;
	unsigned int i;

	for (i = 0; i < 8; i++)
		last[i] = UINT64_MAX;
	if (shmipc_chan_open(shm, chan, &o, &ch))
		return 30;
	atomic_fetch_add(&ss->ready, 1);
	for (;;) {
		uint32_t prod;
		uint64_t n;
		int err;

		if (subscribe ? got == total : atomic_load(&ss->received) >= total)
			break;
		err = shmipc_recv(ch, &msg, 100);
		if (err == -ETIMEDOUT)
			continue;
		if (err)
			return 31;
		prod = msg.type >> 24;
		n = msg.type & 0xffffff;
		if (prod >= producers || n >= per ||
		    msg.size != stress_size(mix(prod * 7919ULL + n)) ||
		    check(msg.data, msg.size, msg.type))
			return 32;		/* corrupted payload */
		if (last[prod] != UINT64_MAX && n <= last[prod])
			return 33;		/* out of per-producer order */
		last[prod] = n;
		if (!subscribe && atomic_fetch_add(&ss->seen[prod * per + n], 1))
			return 34;		/* duplicate */
		if (shmipc_msg_release(&msg))
			return 35;
		got++;
		atomic_fetch_add(&ss->received, 1);
	}
	shmipc_chan_close(ch);
	return 0;
}

static void stress(struct __test_metadata *_metadata, FIXTURE_DATA(chan) *self,
		   int mode, unsigned int producers, unsigned int consumers,
		   unsigned int flags)
{
	const char *env = getenv("SHMIPC_STRESS_MSGS");
	uint64_t total = env ? strtoull(env, NULL, 0) : 1000000;
	uint64_t per = total / producers, expect;
	bool bcast = mode == SHMIPC_CHAN_BROADCAST;
	struct stress_shared *ss;
	struct shmipc_chan *ch;
	pid_t pids[16];
	unsigned int i, n = 0;
	size_t ss_size;
	int status;
	int64_t t0;

	total = per * producers;
	ASSERT_GT(1u << 24, per);	/* numbers fit the type's low 24 bits */
	expect = bcast ? total * consumers : total;
	ss_size = sizeof(*ss) + total;
	ss = mmap(NULL, ss_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ss);
	ch = open_chan(self->shm, "stress", mode, 1024, flags);
	ASSERT_NE(NULL, ch);
	t0 = mono_ns();
	for (i = 0; i < consumers; i++) {
		pids[n] = fork();
		ASSERT_LE(0, pids[n]);
		if (!pids[n])
			_exit(consumer(self->shm, "stress", ss, per, producers,
				       bcast ? total : total, bcast));
		n++;
	}
	while (atomic_load(&ss->ready) < consumers)	/* subscribers first */
		usleep(1000);
	for (i = 0; i < producers; i++) {
		pids[n] = fork();
		ASSERT_LE(0, pids[n]);
		if (!pids[n])
			_exit(producer(self->shm, "stress", i, per));
		n++;
	}
	for (i = 0; i < n; i++) {
		ASSERT_EQ(pids[i], waitpid(pids[i], &status, 0));
		ASSERT_TRUE(WIFEXITED(status));
		ASSERT_EQ(0, WEXITSTATUS(status)) TH_LOG("%s %u",
			i < consumers ? "consumer" : "producer", i);
	}
	ASSERT_EQ(expect, atomic_load(&ss->received));
	if (!bcast)
		for (i = 0; i < total; i++)
			ASSERT_EQ(1, ss->seen[i]) TH_LOG("message %u", i);
	TH_LOG("%llu messages, %u x %u, in %lld ms", (unsigned long long)total,
	       producers, consumers, (long long)((mono_ns() - t0) / 1000000));
	shmipc_chan_close(ch);
	ASSERT_EQ(0, shmipc_chan_remove(self->shm, "stress"));
	ASSERT_EQ(0, shmipc_heap_check(self->shm));
	ASSERT_EQ(self->free0, free_now(self->shm));
	munmap(ss, ss_size);
}

TEST_F_TIMEOUT(chan, stress_mpmc_4x2, 1800)
{
	stress(_metadata, self, SHMIPC_CHAN_MPMC, 4, 2, 0);
}

TEST_F_TIMEOUT(chan, stress_spsc_1x1_crc, 1800)
{
	stress(_metadata, self, SHMIPC_CHAN_SPSC, 1, 1, SHMIPC_CHAN_CRC32C);
}

TEST_F_TIMEOUT(chan, stress_broadcast_1x3, 1800)
{
	stress(_metadata, self, SHMIPC_CHAN_BROADCAST, 1, 3, 0);
}

/* ---- threads sharing one mapping (the ThreadSanitizer build runs this) ---- */

struct thread_arg {
	struct shmipc *shm;
	uint32_t id;
	_Atomic uint64_t *received;
	int result;
};

static void *thread_producer(void *p)
{
	struct thread_arg *a = p;

	a->result = producer(a->shm, "threads", a->id, 20000);
	return NULL;
}

static void *thread_consumer(void *p)
{
	struct thread_arg *a = p;
	struct shmipc_chan_options o = { .spin = a->id ? -1 : 0 };
	struct shmipc_chan *ch;
	struct shmipc_msg msg;

	a->result = 40;
	if (shmipc_chan_open(a->shm, "threads", &o, &ch))
		return NULL;
	while (atomic_load(a->received) < 4 * 20000) {
		int err = shmipc_recv(ch, &msg, 50);

		if (err == -ETIMEDOUT)
			continue;
		if (err || shmipc_msg_release(&msg))
			return NULL;
		atomic_fetch_add(a->received, 1);
	}
	shmipc_chan_close(ch);
	a->result = 0;
	return NULL;
}

TEST_F_TIMEOUT(chan, threads_mpmc_4x2, 900)
{
	struct shmipc_chan *ch = open_chan(self->shm, "threads", SHMIPC_CHAN_MPMC, 64, 0);
	_Atomic uint64_t received = 0;
	struct thread_arg args[6];
	pthread_t t[6];
	unsigned int i;

	ASSERT_NE(NULL, ch);
	for (i = 0; i < 6; i++) {
		args[i] = (struct thread_arg){ self->shm, i < 4 ? i : i - 4, &received, -1 };
		ASSERT_EQ(0, pthread_create(&t[i], NULL,
					    i < 4 ? thread_producer : thread_consumer,
					    &args[i]));
	}
	for (i = 0; i < 6; i++) {
		ASSERT_EQ(0, pthread_join(t[i], NULL));
		ASSERT_EQ(0, args[i].result) TH_LOG("thread %u", i);
	}
	ASSERT_EQ(4 * 20000, atomic_load(&received));
	shmipc_chan_close(ch);
	ASSERT_EQ(0, shmipc_chan_remove(self->shm, "threads"));
	ASSERT_EQ(self->free0, free_now(self->shm));
}

TEST_HARNESS_MAIN
