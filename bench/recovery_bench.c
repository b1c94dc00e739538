// SPDX-License-Identifier: MIT
/*
 * make bench, recovery: how long after a SIGKILL the other processes of a
 * region are going again, on every backend this machine has (posix always,
 * kmod when /dev/shmipc exists; make vm-bench measures kmod in a VM).
 *
 *  lock:    the victim holds the region's heap lock; a waiter blocks in
 *           shmipc_alloc(). From kill() to the waiter's allocation
 *           returning: the takeover of the lock and the heap's repair.
 *  reclaim: the victim holds a reservation and a received message; a
 *           watcher sleeps in shmipc_peer_watch(). From kill() to the watch
 *           returning: the death noticed and everything it held reclaimed.
 *  floor:   the same kill, observed by a process polling the victim's
 *           pidfd: the fastest any process can learn of a death. Each
 *           figure above is printed with its ratio to this floor.
 *
 * Usage: recovery_bench [--quick] [--csv]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"	/* to hold the heap lock in the victim */
#include "libshm.h"

struct shared {
	_Atomic uint32_t victim_ready, waiter_ready;
	_Atomic uint64_t t_kill, t_done;
	_Atomic uint32_t victim_token;
};

static struct shared *sh;
static bool csv;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void spin_until(_Atomic uint32_t *w)
{
	uint64_t end = now_ns() + 10000000000ull;

	while (!atomic_load(w))
		if (now_ns() > end) {
			fprintf(stderr, "recovery_bench: a process never got ready\n");
			exit(1);
		} else {
			usleep(50);
		}
}

enum scenario { LOCK, RECLAIM, FLOOR };

static void victim(struct shmipc *shm, enum scenario s)
{
	if (s == LOCK) {
		bool rec;

		/* A peer of its own first (the API edge re-attaches a child). */
		uint32_t me = shmipc_peer_id(shm);

		if (!me || shmipc_lock_acquire(shm, &shm->heap->lock, me, &rec))
			_exit(1);
	} else if (s == RECLAIM) {
		struct shmipc_chan_options o = { .flags = SHMIPC_CHAN_CREATE };
		struct shmipc_chan *ch;
		struct shmipc_resv r;
		struct shmipc_msg m;
		char big[256] = { 0 };

		if (shmipc_chan_open(shm, "rb", &o, &ch) ||
		    shmipc_send(ch, big, sizeof(big), 0, 0) ||
		    shmipc_recv(ch, &m, 0) || shmipc_reserve(ch, 4096, &r))
			_exit(1);
	}
	atomic_store(&sh->victim_token, shmipc_peer_id(shm));
	atomic_store(&sh->victim_ready, 1);
	for (;;)
		pause();
}

static void waiter(struct shmipc *shm, enum scenario s, pid_t vpid)
{
	uint64_t off;
	int fd;

	switch (s) {
	case LOCK:
		atomic_store(&sh->waiter_ready, 1);
		if (shmipc_alloc(shm, 64, &off))
			_exit(2);
		break;
	case RECLAIM:
		atomic_store(&sh->waiter_ready, 1);
		fd = shmipc_peer_watch(shm, 10000);
		if (fd <= 0) {
			fprintf(stderr, "recovery_bench: watch: %s\n", shmipc_strerror(fd));
			_exit(2);
		}
		break;
	case FLOOR: {
		struct pollfd p;

		fd = (int)syscall(SYS_pidfd_open, vpid, 0);
		if (fd < 0)
			_exit(3);
		p.fd = fd;
		p.events = POLLIN;
		atomic_store(&sh->waiter_ready, 1);
		if (poll(&p, 1, 10000) != 1)
			_exit(2);
		break;
	}
	}
	atomic_store(&sh->t_done, now_ns());
	_exit(0);
}

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* One kill; the recovery time in ns, or 0 if something failed. */
static uint64_t one(const char *name, enum shmipc_backend b, enum scenario s)
{
	struct shmipc_options o = { .backend = b, .size = 1 << 20 };
	struct shmipc *shm;
	pid_t v, w;
	int st;

	memset(sh, 0, sizeof(*sh));
	if (shmipc_open(name, &o, &shm))
		return 0;
	v = fork();
	if (!v)
		victim(shm, s);
	spin_until(&sh->victim_ready);
	w = fork();
	if (!w)
		waiter(shm, s, v);
	spin_until(&sh->waiter_ready);
	usleep(3000);			/* let it block */
	atomic_store(&sh->t_kill, now_ns());
	kill(v, SIGKILL);
	waitpid(w, &st, 0);
	waitpid(v, NULL, 0);
	shmipc_chan_remove(shm, "rb");
	shmipc_reclaim(shm);
	shmipc_close(shm);
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "recovery_bench: waiter ended with status %#x\n", st);
		return 0;
	}
	return atomic_load(&sh->t_done) - atomic_load(&sh->t_kill);
}

static const char *const names[] = { "lock", "reclaim", "floor" };

static int run_backend(const char *backend, enum shmipc_backend b, int n)
{
	struct shmipc_options o = { .backend = b, .size = 1 << 20,
				    .flags = SHMIPC_OPEN_CREATE | SHMIPC_OPEN_EXCL };
	uint64_t *t = calloc((size_t)n, sizeof(*t)), med[3] = { 0 };
	char name[64];
	struct shmipc *shm;
	int s, i, err;

	snprintf(name, sizeof(name), "recovery-bench-%d", getpid());
	shmipc_unlink(name, b);
	err = shmipc_open(name, &o, &shm);
	if (err) {
		fprintf(stderr, "recovery_bench: %s: %s\n", backend, shmipc_strerror(err));
		return 1;
	}
	for (s = FLOOR; s >= LOCK; s--) {
		for (i = 0; i < n; i++) {
			t[i] = one(name, b, (enum scenario)s);
			if (!t[i]) {
				fprintf(stderr, "recovery_bench: %s %s: run %d failed\n",
					backend, names[s], i);
				return 1;
			}
		}
		qsort(t, (size_t)n, sizeof(*t), cmp);
		med[s] = t[n / 2];
		if (csv)
			printf("%s,%s,%d,%.1f,%.1f,%.1f,%.2f\n", backend, names[s], n,
			       t[n / 2] / 1e3, t[n * 99 / 100] / 1e3, t[n - 1] / 1e3,
			       (double)t[n / 2] / (double)med[FLOOR]);
		else
			printf("%-7s %-8s %6d %12.1f %12.1f %12.1f %10.2fx\n", backend,
			       names[s], n, t[n / 2] / 1e3, t[n * 99 / 100] / 1e3,
			       t[n - 1] / 1e3, (double)t[n / 2] / (double)med[FLOOR]);
	}
	shmipc_close(shm);
	shmipc_unlink(name, b);
	free(t);
	return 0;
}

int main(int argc, char **argv)
{
	int n = 200, i, err = 0;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			n = 30;
		else if (!strcmp(argv[i], "--csv"))
			csv = true;
		else {
			fprintf(stderr, "usage: recovery_bench [--quick] [--csv]\n");
			return 2;
		}
	}
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return 1;
	if (csv)
		printf("backend,scenario,kills,median_us,p99_us,max_us,vs_floor\n");
	else
		printf("Recovery after a SIGKILL: kill() to the others going again\n"
		       "%-7s %-8s %6s %12s %12s %12s %11s\n", "backend", "scenario",
		       "kills", "median_us", "p99_us", "max_us", "vs_floor");
	err |= run_backend("posix", SHMIPC_BACKEND_POSIX, n);
	if (!access("/dev/shmipc", F_OK))
		err |= run_backend("kmod", SHMIPC_BACKEND_KMOD, n);
	else if (!csv)
		printf("kmod: /dev/shmipc is not here (make vm-bench measures it in a VM)\n");
	if (!csv)
		printf("lock: heap lock holder killed, waiter in shmipc_alloc(); "
		       "reclaim: shmipc_peer_watch() returns after the reclaim;\n"
		       "floor: a pidfd poll()er learns of the death. "
		       "posix lock waits poll every 5 ms; kmod waits are woken by the module.\n");
	return err;
}
