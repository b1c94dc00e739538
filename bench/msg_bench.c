// SPDX-License-Identifier: MIT
/*
 * make bench, messaging: one-way latency from ping-pong between two
 * processes pinned to different CPUs (busy-poll and blocking), throughput,
 * and multi-producer scaling, for shmipc channels and, in the same run,
 * for a pipe, a UNIX socket and raw shared-memory floors: a busy-polled
 * cache-line ping-pong, a futex ping-pong and a bare SPSC ring. Each
 * shmipc figure is printed with its ratio to its floor, and the issue's
 * targets are checked and reported as met or missed (never asserted).
 *
 * Usage: msg_bench [pingpong|throughput|scaling|all|demo] [--quick] [--csv|--json]
 * (--quick runs a tenth of the iterations; demo is make run's short table)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libshm.h"

#define SPIN_FOREVER	(1 << 30)

static const size_t sizes[] = { 8, 64, 4096, 65536, 1 << 20 };
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))
static int scale = 1;		/* divides iteration counts */
static char region[64];
static struct shmipc *shm;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu % (int)sysconf(_SC_NPROCESSORS_ONLN), &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void die(const char *what, int err)
{
	fprintf(stderr, "msg_bench: %s: %s\n", what, shmipc_strerror(err));
	exit(1);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* ---- transports: a way to move size bytes one way, both directions ---- */

enum kind { SHM, PIPE, UNIX, CACHELINE, FUTEX };

struct transport {
	const char *name;
	enum kind kind;
	int mode, spin;
	bool busy;			/* poll with try_recv, never sleep */
	/* state, set up before fork */
	struct shmipc_chan *out[2], *in[2];	/* [side] */
	int fd[2][2];				/* [side][0 read, 1 write] */
	_Atomic uint32_t *word;
};

static struct shmipc_chan *chan(const char *name, int mode, int spin, bool sub)
{
	struct shmipc_chan_options o = {
		.mode = mode, .capacity = 64, .spin = spin,
		.flags = SHMIPC_CHAN_CREATE | (sub ? SHMIPC_CHAN_SUBSCRIBE : 0),
	};
	struct shmipc_chan *ch;
	int err = shmipc_chan_open(shm, name, &o, &ch);

	if (err)
		die(name, err);
	return ch;
}

static void setup(struct transport *t)
{
	int sv[2], p1[2], p2[2];

	switch (t->kind) {
	case SHM:
		shmipc_chan_remove(shm, "ab");
		shmipc_chan_remove(shm, "ba");
		/* Side 0 sends on ab and receives on ba; side 1 the reverse. */
		t->out[0] = chan("ab", t->mode, t->spin, false);
		t->in[1] = chan("ab", t->mode, t->spin, t->mode == SHMIPC_CHAN_BROADCAST);
		t->out[1] = chan("ba", t->mode, t->spin, false);
		t->in[0] = chan("ba", t->mode, t->spin, t->mode == SHMIPC_CHAN_BROADCAST);
		break;
	case PIPE:
		if (pipe(p1) || pipe(p2))
			die("pipe", -errno);
		t->fd[0][1] = p1[1];
		t->fd[1][0] = p1[0];
		t->fd[1][1] = p2[1];
		t->fd[0][0] = p2[0];
		break;
	case UNIX:
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
			die("socketpair", -errno);
		t->fd[0][0] = t->fd[0][1] = sv[0];
		t->fd[1][0] = t->fd[1][1] = sv[1];
		break;
	case CACHELINE:
	case FUTEX:
		t->word = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		*t->word = 0;
		break;
	}
}

static void teardown(struct transport *t)
{
	int s;

	switch (t->kind) {
	case SHM:
		for (s = 0; s < 2; s++) {
			shmipc_chan_close(t->out[s]);
			shmipc_chan_close(t->in[s]);
		}
		shmipc_chan_remove(shm, "ab");
		shmipc_chan_remove(shm, "ba");
		break;
	case PIPE:
		close(t->fd[0][0]);
		close(t->fd[0][1]);
		close(t->fd[1][0]);
		close(t->fd[1][1]);
		break;
	case UNIX:
		close(t->fd[0][0]);
		close(t->fd[1][0]);
		break;
	default:
		munmap((void *)t->word, 4096);
	}
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w <= 0)
			die("write", -errno);
		p += w;
		n -= (size_t)w;
	}
}

static void read_all(int fd, char *p, size_t n)
{
	while (n) {
		ssize_t r = read(fd, p, n);

		if (r <= 0)
			die("read", r ? -errno : -EPIPE);
		p += r;
		n -= (size_t)r;
	}
}

static void futex_wait(_Atomic uint32_t *w, uint32_t v)
{
	syscall(SYS_futex, w, FUTEX_WAIT, v, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *w)
{
	syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* Side @s sends message number @i of @size bytes from @buf. */
static void xmit(struct transport *t, int s, const char *buf, size_t size, uint32_t i)
{
	int err;

	switch (t->kind) {
	case SHM:
		err = shmipc_send(t->out[s], buf, size, i, -1);
		if (err)
			die("send", err);
		break;
	case PIPE:
	case UNIX:
		write_all(t->fd[s][1], buf, size);
		break;
	case CACHELINE:
		atomic_store_explicit(t->word, 2 * i + 1 + (uint32_t)s, memory_order_release);
		break;
	case FUTEX:
		atomic_store_explicit(t->word, 2 * i + 1 + (uint32_t)s, memory_order_release);
		futex_wake(t->word);
		break;
	}
}

/* Side @s receives message number @i. */
static void rcv(struct transport *t, int s, char *buf, size_t size, uint32_t i)
{
	uint32_t want = 2 * i + 1 + (uint32_t)!s, v;
	struct shmipc_msg msg;
	int err;

	switch (t->kind) {
	case SHM:
		do
			err = shmipc_recv(t->in[s], &msg, t->busy ? 0 : -1);
		while (err == -EAGAIN && t->busy);
		if (err)
			die("recv", err);
		shmipc_msg_release(&msg);
		break;
	case PIPE:
	case UNIX:
		read_all(t->fd[s][0], buf, size);
		break;
	case CACHELINE:
		while (atomic_load_explicit(t->word, memory_order_acquire) != want)
			;
		break;
	case FUTEX:
		while ((v = atomic_load_explicit(t->word, memory_order_acquire)) != want)
			futex_wait(t->word, v);
		break;
	}
}

struct lat {
	double p50, p99, p999;	/* one-way, ns */
};

static struct lat pingpong(struct transport *t, size_t size)
{
	unsigned int rounds = (size <= 64 ? 20000 : size <= 4096 ? 10000 :
			       size <= 65536 ? 2000 : 300) / (unsigned int)scale;
	uint64_t *rt = calloc(rounds, sizeof(*rt));
	char *buf = malloc(size);
	struct lat l;
	unsigned int i;
	int status;
	pid_t pid;

	memset(buf, 'p', size);
	setup(t);
	pid = fork();
	if (pid < 0)
		die("fork", -errno);
	if (!pid) {
		pin(1);
		for (i = 0; i < rounds + 100; i++) {
			rcv(t, 1, buf, size, i);
			xmit(t, 1, buf, size, i);
		}
		_exit(0);
	}
	pin(0);
	for (i = 0; i < rounds + 100; i++) {	/* 100 warm-up rounds */
		uint64_t t0 = now_ns();

		xmit(t, 0, buf, size, i);
		rcv(t, 0, buf, size, i);
		if (i >= 100)
			rt[i - 100] = now_ns() - t0;
	}
	waitpid(pid, &status, 0);
	teardown(t);
	qsort(rt, rounds, sizeof(*rt), cmp_u64);
	l.p50 = rt[rounds / 2] / 2.0;
	l.p99 = rt[(size_t)rounds * 99 / 100] / 2.0;
	l.p999 = rt[(size_t)rounds * 999 / 1000] / 2.0;
	free(rt);
	free(buf);
	return l;
}

/* ---- throughput ---- */

struct bare_ring {			/* the floor: 8-byte values, no payload heap */
	_Alignas(64) _Atomic uint64_t head;
	_Alignas(64) _Atomic uint64_t tail;
	_Alignas(64) uint64_t slot[1024];
};

/* msgs/s moving @n messages of @size one way; zero_copy fills in place. */
static double throughput(struct transport *t, size_t size, unsigned long n,
			 bool zero_copy)
{
	struct bare_ring *ring = NULL;
	char *buf = malloc(size);
	struct shmipc_msg msg;
	uint64_t t0, t1;
	unsigned long i;
	int status, err;
	pid_t pid;

	memset(buf, 't', size);
	if (t)
		setup(t);
	else
		ring = mmap(NULL, sizeof(*ring), PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid = fork();
	if (!pid) {
		pin(1);
		for (i = 0; i < n; i++) {
			if (!t) {
				uint64_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);

				while (tail - atomic_load_explicit(&ring->head, memory_order_acquire) >= 1024)
					;
				ring->slot[tail & 1023] = i;
				atomic_store_explicit(&ring->tail, tail + 1, memory_order_release);
			} else if (zero_copy) {
				struct shmipc_resv r;

				while ((err = shmipc_reserve(t->out[0], size, &r)) == -ENOMEM)
					;
				if (err)
					die("reserve", err);
				memset(r.data, (int)i, size);
				if ((err = shmipc_commit(t->out[0], &r, 0, -1)))
					die("commit", err);
			} else if (t->kind == SHM) {
				if ((err = shmipc_send(t->out[0], buf, size, 0, -1)))
					die("send", err);
			} else {
				write_all(t->fd[0][1], buf, size);
			}
		}
		_exit(0);
	}
	pin(0);
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		if (!t) {
			uint64_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);

			while (atomic_load_explicit(&ring->tail, memory_order_acquire) == head)
				;
			(void)ring->slot[head & 1023];
			atomic_store_explicit(&ring->head, head + 1, memory_order_release);
		} else if (t->kind == SHM) {
			if ((err = shmipc_recv(t->in[1], &msg, -1)))
				die("recv", err);
			shmipc_msg_release(&msg);
		} else {
			read_all(t->fd[1][0], buf, size);
		}
	}
	t1 = now_ns();
	waitpid(pid, &status, 0);
	if (t)
		teardown(t);
	else
		munmap(ring, sizeof(*ring));
	free(buf);
	return (double)n * 1e9 / (double)(t1 - t0);
}

/* The producer's own bandwidth filling a 1 MiB buffer in place, bytes/s. */
static double fill_bandwidth(void)
{
	size_t size = 1 << 20;
	char *b = malloc(size);
	unsigned int i, n = 2000 / (unsigned int)scale;
	uint64_t t0;

	memset(b, 0, size);
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		memset(b, (int)i, size);
		__asm__ volatile("" : : "r"(b) : "memory");
	}
	t0 = now_ns() - t0;
	free(b);
	return (double)n * (double)size * 1e9 / (double)t0;
}

/* ---- scaling: p producers into one mpmc channel, or one spsc each ---- */

static double scaling(int producers, bool one_mpmc)
{
	unsigned long total = 400000 / (unsigned long)scale, per = total / (unsigned long)producers;
	struct shmipc_chan *in[8], *out[8];
	struct shmipc_msg msg;
	unsigned long got = 0;
	char name[16], buf[64] = { 0 };
	uint64_t t0;
	int p, status, err;
	pid_t pids[8];

	for (p = 0; p < producers; p++) {
		struct shmipc_chan_options o = {
			.mode = one_mpmc ? SHMIPC_CHAN_MPMC : SHMIPC_CHAN_SPSC,
			.capacity = 4096, .flags = SHMIPC_CHAN_CREATE,
		};

		snprintf(name, sizeof(name), "s%d", one_mpmc ? 0 : p);
		shmipc_chan_remove(shm, name);
		if ((err = shmipc_chan_open(shm, name, &o, &out[p])) ||
		    (err = shmipc_chan_open(shm, name, &o, &in[p])))
			die("scaling channel", err);
		if (one_mpmc)
			break;
	}
	t0 = now_ns();
	for (p = 0; p < producers; p++) {
		pids[p] = fork();
		if (!pids[p]) {
			struct shmipc_chan *ch = out[one_mpmc ? 0 : p];
			unsigned long i;

			pin(1 + p);
			for (i = 0; i < per; i++)
				if ((err = shmipc_send(ch, buf, sizeof(buf), 0, -1)))
					die("send", err);
			_exit(0);
		}
	}
	pin(0);
	while (got < per * (unsigned long)producers) {
		if (one_mpmc) {
			if ((err = shmipc_recv(in[0], &msg, -1)))
				die("recv", err);
			shmipc_msg_release(&msg);
			got++;
			continue;
		}
		for (p = 0; p < producers; p++)
			if (!shmipc_try_recv(in[p], &msg)) {
				shmipc_msg_release(&msg);
				got++;
			}
	}
	t0 = now_ns() - t0;
	for (p = 0; p < producers; p++)
		waitpid(pids[p], &status, 0);
	for (p = 0; p < (one_mpmc ? 1 : producers); p++) {
		shmipc_chan_close(in[p]);
		shmipc_chan_close(out[p]);
		snprintf(name, sizeof(name), "s%d", p);
		shmipc_chan_remove(shm, name);
	}
	return (double)got * 1e9 / (double)t0;
}

/* ---- output: a table as it runs, or CSV/JSON records at the end ---- */

enum fmt { TABLE, CSV, JSON };
static enum fmt fmt = TABLE;
static bool progress;

struct rec {
	const char *section, *transport, *metric;
	size_t size;
	double value;
};

static struct rec recs[512];
static unsigned int nrecs;

static void rec(const char *section, const char *transport, size_t size,
		const char *metric, double value)
{
	if (nrecs < sizeof(recs) / sizeof(recs[0]))
		recs[nrecs++] = (struct rec){ section, transport, metric, size, value };
}

__attribute__((format(printf, 1, 2))) static void say(const char *f, ...)
{
	va_list ap;

	if (fmt != TABLE)
		return;
	va_start(ap, f);
	vprintf(f, ap);
	va_end(ap);
	fflush(stdout);
}

/* A progress line on a terminal's stderr, for the long runs. */
static void step(const char *what, size_t size)
{
	if (progress)
		fprintf(stderr, "\r\033[K  running: %s, %zu B", what, size);
}

static void step_done(void)
{
	if (progress)
		fprintf(stderr, "\r\033[K");
}

static void dump(void)
{
	unsigned int i;

	if (fmt == CSV)
		printf("section,transport,size,metric,value\n");
	else if (fmt == JSON)
		printf("[");
	for (i = 0; i < nrecs; i++) {
		const struct rec *r = &recs[i];

		if (fmt == CSV)
			printf("%s,\"%s\",%zu,%s,%.6g\n", r->section, r->transport, r->size,
			       r->metric, r->value);
		else if (fmt == JSON)
			printf("%s{\"section\":\"%s\",\"transport\":\"%s\",\"size\":%zu,"
			       "\"metric\":\"%s\",\"value\":%.6g}", i ? "," : "", r->section,
			       r->transport, r->size, r->metric, r->value);
	}
	if (fmt == JSON)
		printf("]\n");
}

static void target(const char *what, double ratio, bool met)
{
	say("  %-66s %6.2f  %s\n", what, ratio, met ? "met" : "MISSED");
	rec("target", what, 0, "ratio", ratio);
	rec("target", what, 0, "met", met);
}

static struct transport lat_t[] = {
	{ .name = "cache-line ping-pong (floor, busy)", .kind = CACHELINE },
	{ .name = "futex ping-pong (floor, blocking)", .kind = FUTEX },
	{ .name = "shmipc spsc, busy-poll", .kind = SHM, .mode = SHMIPC_CHAN_SPSC, .spin = SPIN_FOREVER, .busy = true },
	{ .name = "shmipc mpmc, busy-poll", .kind = SHM, .mode = SHMIPC_CHAN_MPMC, .spin = SPIN_FOREVER, .busy = true },
	{ .name = "shmipc broadcast, busy-poll", .kind = SHM, .mode = SHMIPC_CHAN_BROADCAST, .spin = SPIN_FOREVER, .busy = true },
	{ .name = "shmipc spsc, blocking, no spin", .kind = SHM, .mode = SHMIPC_CHAN_SPSC, .spin = -1 },
	{ .name = "shmipc spsc, blocking, default spin", .kind = SHM, .mode = SHMIPC_CHAN_SPSC },
	{ .name = "shmipc mpmc, blocking, default spin", .kind = SHM, .mode = SHMIPC_CHAN_MPMC },
	{ .name = "shmipc broadcast, blocking, default spin", .kind = SHM, .mode = SHMIPC_CHAN_BROADCAST },
	{ .name = "pipe", .kind = PIPE },
	{ .name = "UNIX socket", .kind = UNIX },
};
#define NLAT (sizeof(lat_t) / sizeof(lat_t[0]))
static struct lat l[NLAT][NSIZES];

static void run_pingpong(void)
{
	unsigned int i, s;

	say("One-way latency, ns (p50 / p99 / p99.9), from ping-pong:\n");
	say("  %-42s", "transport \\ payload");
	for (s = 0; s < NSIZES; s++)
		say(" %20zu", sizes[s]);
	say("\n");
	for (i = 0; i < NLAT; i++) {
		say("  %-42s", lat_t[i].name);
		for (s = 0; s < NSIZES; s++) {
			if (lat_t[i].kind >= CACHELINE && s) {
				say(" %20s", "-");
				continue;
			}
			step(lat_t[i].name, sizes[s]);
			l[i][s] = pingpong(&lat_t[i], sizes[s]);
			step_done();
			say(" %8.0f/%5.0f/%5.0f", l[i][s].p50, l[i][s].p99, l[i][s].p999);
			rec("latency", lat_t[i].name, sizes[s], "p50_ns", l[i][s].p50);
			rec("latency", lat_t[i].name, sizes[s], "p99_ns", l[i][s].p99);
			rec("latency", lat_t[i].name, sizes[s], "p999_ns", l[i][s].p999);
		}
		say("\n");
	}
	say("  p50 over its floor (busy-poll rows: cache-line ping-pong; blocking rows: futex):\n");
	for (i = 2; i < 9; i++) {
		double floor = lat_t[i].busy ? l[0][0].p50 : l[1][0].p50;

		say("  %-42s", lat_t[i].name);
		for (s = 0; s < NSIZES; s++) {
			say(" %19.2fx", l[i][s].p50 / floor);
			rec("latency", lat_t[i].name, sizes[s], "p50_over_floor",
			    l[i][s].p50 / floor);
		}
		say("\n");
	}
	say("\n");
}

static double ring8, spsc8, zc1m, fill;

static void run_throughput(void)
{
	unsigned int i, s;

	say("Throughput, one producer to one consumer (messages/s, GB/s, messages/s over the bare ring):\n");
	step("bare SPSC ring", 8);
	ring8 = throughput(NULL, 8, 4000000 / (unsigned long)scale, false);
	step_done();
	say("  %-42s %8zu %12.0f %8.2f\n", "bare SPSC ring (floor)", (size_t)8, ring8, ring8 * 8 / 1e9);
	rec("throughput", "bare SPSC ring (floor)", 8, "msgs_per_s", ring8);
	for (i = 0; i < 5; i++) {
		static const int modes[] = { SHMIPC_CHAN_SPSC, SHMIPC_CHAN_MPMC,
					     SHMIPC_CHAN_BROADCAST, 0, 0 };
		static const char *names[] = { "shmipc spsc", "shmipc mpmc",
					       "shmipc broadcast (1 subscriber)",
					       "pipe", "UNIX socket" };
		struct transport t = {
			.name = names[i], .kind = i < 3 ? SHM : i == 3 ? PIPE : UNIX,
			.mode = modes[i],
		};

		for (s = 0; s < NSIZES; s++) {
			unsigned long n = (sizes[s] <= 64 ? 1000000 : sizes[s] <= 4096 ? 200000 :
					   sizes[s] <= 65536 ? 20000 : 2000) / (unsigned long)scale;
			double r;

			step(names[i], sizes[s]);
			r = throughput(&t, sizes[s], n, false);
			step_done();
			if (i == 0 && s == 0)
				spsc8 = r;
			say("  %-42s %8zu %12.0f %8.2f %8.3fx\n", names[i], sizes[s], r,
			    r * (double)sizes[s] / 1e9, r / ring8);
			rec("throughput", names[i], sizes[s], "msgs_per_s", r);
			rec("throughput", names[i], sizes[s], "gb_per_s", r * (double)sizes[s] / 1e9);
		}
	}
	{
		struct transport t = { .name = "zc", .kind = SHM, .mode = SHMIPC_CHAN_SPSC };

		step("shmipc spsc zero-copy", 1 << 20);
		zc1m = throughput(&t, 1 << 20, 2000 / (unsigned long)scale, true) * (1 << 20);
		fill = fill_bandwidth();	/* the same producer, just after */
		step_done();
		say("  %-42s %8d %12.0f %8.2f %8.3fx of the fill floor\n",
		    "shmipc spsc zero-copy (filled in place)",
		    1 << 20, zc1m / (1 << 20), zc1m / 1e9, zc1m / fill);
		say("  %-42s %8d %12s %8.2f\n", "producer filling 1 MiB in place (floor)",
		    1 << 20, "-", fill / 1e9);
		rec("throughput", "shmipc spsc zero-copy", 1 << 20, "gb_per_s", zc1m / 1e9);
		rec("throughput", "producer fill (floor)", 1 << 20, "gb_per_s", fill / 1e9);
	}
	say("\n");
}

static void run_scaling(void)
{
	unsigned int i;

	say("Scaling, 64 B messages, producers on CPUs 1.., consumer on CPU 0 (messages/s):\n");
	say("  %-10s %16s %22s\n", "producers", "one mpmc channel", "one spsc per producer");
	for (i = 1; i <= 8; i *= 2) {
		double m, sp;

		step("scaling", i);
		m = scaling((int)i, true);
		sp = scaling((int)i, false);
		step_done();
		say("  %-10u %16.0f %22.0f\n", i, m, sp);
		rec("scaling", "one mpmc channel", i, "msgs_per_s", m);
		rec("scaling", "one spsc per producer", i, "msgs_per_s", sp);
	}
	say("\n");
}

static void run_targets(void)
{
	double cl64 = l[0][0].p50, fx64 = l[1][0].p50, busy64 = l[2][1].p50;
	double nospin64 = l[5][1].p50, spin64 = l[6][1].p50;
	double pipe64 = l[9][1].p50, unix64 = l[10][1].p50;

	say("Targets (ratios to floors measured above):\n");
	target("busy-poll 64 B round trip / cache-line ping-pong  (<= 1.3)", busy64 / cl64,
	       busy64 / cl64 <= 1.3);
	target("blocking, spin off, 64 B / futex ping-pong  (<= 1.2)", nospin64 / fx64,
	       nospin64 / fx64 <= 1.2);
	target("pipe / blocking default-spin 64 B  (>= 2)", pipe64 / spin64, pipe64 / spin64 >= 2);
	target("UNIX socket / blocking default-spin 64 B  (>= 2)", unix64 / spin64,
	       unix64 / spin64 >= 2);
	target("8 B spsc throughput / bare ring  (>= 0.6)", spsc8 / ring8, spsc8 / ring8 >= 0.6);
	target("1 MiB zero-copy throughput / producer fill bandwidth  (>= 0.9)", zc1m / fill,
	       zc1m / fill >= 0.9);
}

static void fmt_time(char *b, size_t n, double ns)
{
	if (ns < 1000)
		snprintf(b, n, "%.0f ns", ns);
	else
		snprintf(b, n, "%.1f us", ns / 1000);
}

/* make run: a ping-pong and a stream, shmipc against a pipe and a socket. */
static void run_demo(void)
{
	struct transport t[3] = {
		{ .name = "shmipc", .kind = SHM, .mode = SHMIPC_CHAN_SPSC },
		{ .name = "pipe", .kind = PIPE },
		{ .name = "UNIX socket", .kind = UNIX },
	};
	double lat[3], thr[3];
	char b[3][32];
	unsigned int i;

	for (i = 0; i < 3; i++) {
		step(t[i].name, 64);
		lat[i] = pingpong(&t[i], 64).p50;
		step(t[i].name, 4096);
		thr[i] = throughput(&t[i], 4096, 100000 / (unsigned long)scale, false);
		step_done();
		fmt_time(b[i], sizeof(b[i]), lat[i]);
		rec("demo", t[i].name, 64, "pingpong_p50_ns", lat[i]);
		rec("demo", t[i].name, 4096, "msgs_per_s", thr[i]);
	}
	say("%-34s %12s %12s %12s\n", "", "shmipc", "pipe", "UNIX socket");
	say("%-34s %12s %12s %12s\n", "ping-pong, 64 B, one-way (p50)", b[0], b[1], b[2]);
	say("%-34s %10.2fM %10.2fM %10.2fM\n", "stream, 4 KiB messages per second",
	    thr[0] / 1e6, thr[1] / 1e6, thr[2] / 1e6);
	say("\nshmipc was %.0fx and %.0fx quicker than the pipe and the socket per message,\n"
	    "and moved %.1fx and %.1fx as many 4 KiB messages per second.\n",
	    lat[1] / lat[0], lat[2] / lat[0], thr[0] / thr[1], thr[0] / thr[2]);
}

int main(int argc, char **argv)
{
	static const char *const usage =
		"usage: msg_bench [pingpong|throughput|scaling|all|demo] [--quick] [--csv|--json]\n";
	struct shmipc_options o = { .size = 256 << 20, .flags = SHMIPC_OPEN_CREATE };
	const char *section = "all";
	int i, err;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick") || !strcmp(argv[i], "quick"))
			scale = 10;
		else if (!strcmp(argv[i], "--csv"))
			fmt = CSV;
		else if (!strcmp(argv[i], "--json"))
			fmt = JSON;
		else if (!strcmp(argv[i], "pingpong") || !strcmp(argv[i], "throughput") ||
			 !strcmp(argv[i], "scaling") || !strcmp(argv[i], "all") ||
			 !strcmp(argv[i], "demo"))
			section = argv[i];
		else {
			fputs(usage, stderr);
			return 2;
		}
	}
	progress = isatty(2);
	snprintf(region, sizeof(region), "bench-msg-%d", (int)getpid());
	err = shmipc_open(region, &o, &shm);
	if (err)
		die("open", err);
	shmipc_unlink(region, SHMIPC_BACKEND_AUTO);

	if (!strcmp(section, "demo")) {
		say("shmipc demo: two processes, pinned to CPUs 0 and 1, backend %s%s\n\n",
		    shmipc_backend_name(shm),
		    strcmp(shmipc_backend_name(shm), "kmod") ?
		    " (the kernel module is not loaded)" : " (the kernel module /dev/shmipc)");
		run_demo();
	} else {
		say("shmipc message benchmark: backend %s, %ld CPUs, processes pinned to CPUs 0 and 1\n\n",
		    shmipc_backend_name(shm), sysconf(_SC_NPROCESSORS_ONLN));
		if (!strcmp(section, "pingpong") || !strcmp(section, "all"))
			run_pingpong();
		if (!strcmp(section, "throughput") || !strcmp(section, "all"))
			run_throughput();
		if (!strcmp(section, "scaling") || !strcmp(section, "all"))
			run_scaling();
		if (!strcmp(section, "all"))
			run_targets();
	}
	dump();
	shmipc_close(shm);
	return 0;
}
