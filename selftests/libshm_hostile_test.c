// SPDX-License-Identifier: GPL-2.0-only
/*
 * A hostile peer. In each round a fresh region gets channels of every mode
 * and named buffers; WORKERS processes then send, receive, reserve, commit,
 * abort, allocate, free, create and remove buffers, open and close channels
 * and whole handles, reclaim, watch and list, while one more process writes
 * crafted values into every shared structure it can find: the header, the
 * heap's control block and block headers, the peer table, the registry,
 * the channels' control blocks and slots. Most writes flip a value to
 * something invalid and back a few microseconds later (a check and a use
 * that read it twice would see both); one in sixteen leaves garbage: huge
 * counters, offsets at and past the heap's end, tokens of nobody, claims
 * of the dead. Once a round, one worker is killed at a random instant and
 * replaced, so reclaims run on a corrupted region too.
 *
 * Calls may fail, with a negative errno. What must not happen: a crash (a
 * worker dying of a signal we did not send), an ASan or UBSan report (the
 * host runs this built with both; the library maps every region between
 * guard pages, since ASan does not watch mmap()ed memory), or a hang: every
 * call is timed by the parent, and one that takes longer than CALL_LIMIT_S
 * fails the test, naming the call.
 *
 * SHMIPC_HOSTILE_SECONDS sets the length (default 300: five minutes of
 * crafted writes); SHMIPC_HOSTILE_SEED repeats a run.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "helpers.h"
#include "kselftest_harness.h"
#include "libshm.h"
#include "internal.h"	/* the layout, to aim at it */

#define WORKERS		4
#define ROUND_S		5
#define CALL_LIMIT_S	10
#define REGION		(2u << 20)
#define NCHANS		5
#define MAX_TARGETS	4096

static const char *const chan_names[NCHANS] = { "spsc", "mpmc", "bcast", "drop", "crc" };

enum op {
	OP_SEND, OP_RECV, OP_ZERO_COPY, OP_ALLOC, OP_FREE_WILD, OP_BUFFERS,
	OP_CHAN_OPEN, OP_HANDLE, OP_RECLAIM, OP_LISTS, OP_WATCH, OP_SEND_TO,
	OP_REF, NOPS
};

static const char *const op_names[NOPS] = {
	"send", "recv", "reserve/commit/abort", "alloc/free", "free(wild)",
	"buffers", "chan_open/close", "open/close", "reclaim/peers", "lists/stats",
	"peer_watch", "send_to", "msg_ref/release",
};

/* What the parent watches: each worker's call in progress. */
struct slot {
	_Atomic int64_t start_ns;	/* 0: between calls */
	_Atomic uint32_t op;
	_Atomic uint64_t calls, errors;
};

struct shared {
	struct slot w[WORKERS];
	_Atomic uint64_t writes;
	_Atomic uint32_t stop;
};

static uint64_t rnd_state;

static uint64_t rnd(void)
{
	uint64_t x = rnd_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rnd_state = x;
}

static struct shmipc_options region_opts(unsigned int flags)
{
	return (struct shmipc_options){
		.size = REGION, .flags = flags, .registry_capacity = 16,
		.init_timeout_ms = 50, .lock_timeout_ms = 50,
	};
}

/* ---- the hostile writer ---- */

struct target {
	uint64_t off;
	uint8_t width;		/* 4 or 8 */
	uint8_t kind;		/* what a crafted value should look like */
};

enum { T_ANY, T_OFFSET, T_TOKEN, T_COUNTER, T_SEQ, T_SIZE };

struct aim {
	struct target t[MAX_TARGETS];
	unsigned int n;
	uint64_t heap_off, heap_end, size;
	uint32_t token;
};

static void add(struct aim *a, uint64_t off, uint8_t width, uint8_t kind)
{
	if (a->n < MAX_TARGETS && off + width <= a->size && !(off % width))
		a->t[a->n++] = (struct target){ off, width, kind };
}

#define FIELD(a, base, type, field, kind) \
	add(a, (base) + offsetof(type, field), sizeof(((type *)0)->field), kind)

/* Every field worth corrupting, found while the region still made sense. */
static void aim_at(struct shmipc *shm, struct aim *a)
{
	const struct shmipc_hdr *h = shmipc_base(shm);
	uint64_t ctl = h->heap_ctl_off, reg = h->registry_off, peers = h->peers_off;
	struct shmipc_buffer bufs[16];
	unsigned int i, k;
	int n;

	a->n = 0;
	a->size = shmipc_size(shm);
	a->heap_off = h->heap_off;
	a->heap_end = h->heap_off + h->heap_size;
	a->token = shmipc_peer_id(shm);
	FIELD(a, 0, struct shmipc_hdr, magic, T_ANY);
	FIELD(a, 0, struct shmipc_hdr, state, T_TOKEN);
	FIELD(a, 0, struct shmipc_hdr, size, T_SIZE);
	FIELD(a, 0, struct shmipc_hdr, heap_off, T_OFFSET);
	FIELD(a, 0, struct shmipc_hdr, registry_off, T_OFFSET);
	FIELD(a, 0, struct shmipc_hdr, registry_capacity, T_COUNTER);
	FIELD(a, 0, struct shmipc_hdr, peer_gen, T_COUNTER);
	FIELD(a, 0, struct shmipc_hdr, watch, T_COUNTER);
	FIELD(a, 0, struct shmipc_hdr, reclaim_lock.word, T_TOKEN);
	FIELD(a, 0, struct shmipc_hdr, peers_died, T_COUNTER);
	FIELD(a, ctl, struct shmipc_heap_ctl, lock.word, T_TOKEN);
	FIELD(a, ctl, struct shmipc_heap_ctl, fl_bitmap, T_ANY);
	FIELD(a, ctl, struct shmipc_heap_ctl, free_bytes, T_COUNTER);
	FIELD(a, ctl, struct shmipc_heap_ctl, heap_size, T_SIZE);
	for (i = 0; i < 8; i++) {
		unsigned int f = (unsigned int)(rnd() % TLSF_FL_COUNT);

		FIELD(a, ctl, struct shmipc_heap_ctl, sl_bitmap[f], T_ANY);
		FIELD(a, ctl, struct shmipc_heap_ctl, heads[f][rnd() % TLSF_SL_COUNT], T_OFFSET);
	}
	for (i = 0; i < 32; i++)
		FIELD(a, peers + (rnd() % SHMIPC_PEERS) * sizeof(struct shmipc_peer_rec),
		      struct shmipc_peer_rec, idpid, T_TOKEN);
	FIELD(a, reg, struct shmipc_reg_hdr, lock.word, T_TOKEN);
	FIELD(a, reg, struct shmipc_reg_hdr, capacity, T_COUNTER);
	for (i = 0; i < 16; i++) {
		uint64_t e = reg + sizeof(struct shmipc_reg_hdr) + i * sizeof(struct shmipc_reg_entry);

		FIELD(a, e, struct shmipc_reg_entry, state_refs, T_COUNTER);
		FIELD(a, e, struct shmipc_reg_entry, offset, T_OFFSET);
		FIELD(a, e, struct shmipc_reg_entry, size, T_SIZE);
		FIELD(a, e, struct shmipc_reg_entry, kind, T_ANY);
		add(a, e + offsetof(struct shmipc_reg_entry, name) + 56, 8, T_ANY);
	}
	n = shmipc_buffer_list(shm, bufs, 16, NULL);
	for (i = 0; n > 0 && i < (unsigned int)n; i++) {
		uint64_t c = bufs[i].offset, slots;
		uint32_t cap, mode;

		add(a, c - 40, 8, T_SIZE);		/* the block header's size word */
		add(a, c - 32, 4, T_ANY);		/* its magic */
		add(a, c - 28, 4, T_TOKEN);		/* its owner word */
		if (bufs[i].kind != SHMIPC_KIND_CHANNEL)
			continue;
		FIELD(a, c, struct shmipc_chan_ctl, magic, T_ANY);
		FIELD(a, c, struct shmipc_chan_ctl, mode, T_COUNTER);
		FIELD(a, c, struct shmipc_chan_ctl, capacity, T_COUNTER);
		FIELD(a, c, struct shmipc_chan_ctl, slot_size, T_SIZE);
		FIELD(a, c, struct shmipc_chan_ctl, tx_peer, T_TOKEN);
		FIELD(a, c, struct shmipc_chan_ctl, rx_peer, T_TOKEN);
		FIELD(a, c, struct shmipc_chan_ctl, tail, T_SEQ);
		FIELD(a, c, struct shmipc_chan_ctl, head, T_SEQ);
		FIELD(a, c, struct shmipc_chan_ctl, next_seq, T_COUNTER);
		FIELD(a, c, struct shmipc_chan_ctl, not_empty.epoch, T_COUNTER);
		FIELD(a, c, struct shmipc_chan_ctl, not_empty.waiters, T_COUNTER);
		FIELD(a, c, struct shmipc_chan_ctl, not_full.waiters, T_COUNTER);
		FIELD(a, c, struct shmipc_chan_ctl, bcast_lock.word, T_TOKEN);
		FIELD(a, c, struct shmipc_chan_ctl, pub_off, T_OFFSET);
		FIELD(a, c, struct shmipc_chan_ctl, pub_pos, T_SEQ);
		for (k = 0; k < 4; k++) {
			FIELD(a, c, struct shmipc_chan_ctl, subs[k].cursor, T_SEQ);
			FIELD(a, c, struct shmipc_chan_ctl, subs[k].peer, T_TOKEN);
			FIELD(a, c, struct shmipc_chan_ctl, eps[k], T_TOKEN);
		}
		cap = ((struct shmipc_chan_ctl *)((char *)shmipc_base(shm) + c))->capacity;
		mode = ((struct shmipc_chan_ctl *)((char *)shmipc_base(shm) + c))->mode;
		slots = c + sizeof(struct shmipc_chan_ctl);
		for (k = 0; k < 16 && cap; k++) {
			uint64_t s = rnd() % cap, d;

			if (mode == SHMIPC_CHAN_BROADCAST) {
				s = slots + s * sizeof(struct shmipc_bcast_slot);
				d = s + offsetof(struct shmipc_bcast_slot, d);
				add(a, s, 8, T_SEQ);
			} else if (mode == SHMIPC_CHAN_MPMC) {
				s = slots + s * sizeof(struct shmipc_mpmc_slot);
				d = s + offsetof(struct shmipc_mpmc_slot, d);
				add(a, s, 8, T_SEQ);
			} else {
				d = slots + s * sizeof(struct shmipc_spsc_slot);
			}
			FIELD(a, d, struct shmipc_desc, offset, T_OFFSET);
			FIELD(a, d, struct shmipc_desc, size, T_SIZE);
		}
	}
}

/* A value of the kind wanted, made to be wrong in an interesting way. */
static uint64_t crafted(const struct aim *a, const struct target *t, uint64_t old)
{
	uint64_t r = rnd();

	switch (r % 4 ? t->kind : T_ANY) {
	case T_OFFSET:
		switch (r >> 8 & 7) {
		case 0: return a->heap_end;
		case 1: return a->heap_end - 16;
		case 2: return a->heap_end + 4096;
		case 3: return a->size;
		case 4: return a->heap_off - 48;
		case 5: return old + 16 * (r >> 20 & 15);
		case 6: return UINT64_MAX - 15;
		default: return a->heap_off + (r >> 16) % (a->heap_end - a->heap_off);
		}
	case T_TOKEN:
		switch (r >> 8 & 7) {
		case 0: return (r >> 16 & 0xfffff) << 9 | (r >> 40 & 511);	/* nobody */
		case 1: return a->token;
		case 2: return a->token | SHMIPC_LOCK_WAITERS;
		case 3: return 0xffffffffu;
		case 4: return old ^ 1u << 9;		/* a dead generation */
		default: return SHMIPC_Q_CLAIMED | (r >> 16 & 0xfffff) << 41 | (old & 0xffffffffu);
		}
	case T_COUNTER:
		switch (r >> 8 & 3) {
		case 0: return UINT64_MAX;
		case 1: return 1ull << 63;
		case 2: return old + (r >> 20);
		default: return 0;
		}
	case T_SEQ:
		switch (r >> 8 & 7) {
		case 0: return old + (1ull << 40);
		case 1: return old - 1;
		case 2: return old + 1;
		case 3: return UINT64_MAX;
		case 4: return SHMIPC_Q_CLAIMED | (r >> 16 & 0xfffff) << 41 | (uint32_t)old;
		case 5: return SHMIPC_Q_CLAIMED | SHMIPC_Q_READING |
			       (uint64_t)(((r >> 16) & 0xfffff) << 9 | 7) << 32 | (uint32_t)old;
		default: return old + (r >> 16) % 4096;
		}
	case T_SIZE:
		switch (r >> 8 & 3) {
		case 0: return UINT64_MAX & ~15ull;
		case 1: return a->size;
		case 2: return old + (1u << 20);
		default: return old ^ (1ull << (r >> 16 & 31));
		}
	}
	return r;
}

static void poke(unsigned char *base, const struct target *t, uint64_t v)
{
	if (t->width == 8)
		__atomic_store_n((uint64_t *)(base + t->off), v, __ATOMIC_RELAXED);
	else
		__atomic_store_n((uint32_t *)(base + t->off), (uint32_t)v, __ATOMIC_RELAXED);
}

static uint64_t peek(const unsigned char *base, const struct target *t)
{
	if (t->width == 8)
		return __atomic_load_n((const uint64_t *)(base + t->off), __ATOMIC_RELAXED);
	return __atomic_load_n((const uint32_t *)(base + t->off), __ATOMIC_RELAXED);
}

static void hostile(const char *name, struct shared *sh)
{
	struct shmipc_options o = region_opts(0);
	static struct aim a;
	unsigned char *base;
	struct shmipc *shm;
	uint64_t n = 0;

	if (shmipc_open(name, &o, &shm))
		_exit(50);
	base = shmipc_base(shm);
	aim_at(shm, &a);
	while (!atomic_load(&sh->stop)) {
		const struct target *t = &a.t[rnd() % a.n];
		uint64_t old = peek(base, t), bad = crafted(&a, t, old);
		unsigned int spin;

		poke(base, t, bad);
		if (rnd() % 16) {	/* a flip-flop: invalid, then valid again */
			for (spin = (unsigned int)(rnd() % 2000); spin; spin--)
				__asm__ __volatile__("" ::: "memory");
			poke(base, t, old);
		}
		if (!(++n % 16)) {
			atomic_fetch_add(&sh->writes, 16);
			usleep((useconds_t)(rnd() % 200));
		}
	}
	_exit(0);
}

/* ---- the workers ---- */

struct worker {
	struct shmipc *shm;
	struct shmipc_chan *ch[NCHANS];
	struct shmipc_resv resv;
	bool has_resv;
	unsigned int id;
};

static int open_chans(struct worker *w)
{
	static const enum shmipc_chan_mode modes[NCHANS] = {
		SHMIPC_CHAN_SPSC, SHMIPC_CHAN_MPMC, SHMIPC_CHAN_BROADCAST,
		SHMIPC_CHAN_BROADCAST, SHMIPC_CHAN_MPMC,
	};
	unsigned int i;

	for (i = 0; i < NCHANS; i++) {
		struct shmipc_chan_options o = { .mode = modes[i], .spin = 10 };

		if (modes[i] == SHMIPC_CHAN_BROADCAST && w->id % 2)
			o.flags = SHMIPC_CHAN_SUBSCRIBE;
		w->ch[i] = NULL;
		shmipc_chan_open(w->shm, chan_names[i], &o, &w->ch[i]);
	}
	return 0;
}

/* One call (or a few that belong together) of kind @op; 0 or -errno. */
static int one_op(struct worker *w, enum op op, const char *region)
{
	struct shmipc_chan *ch = w->ch[rnd() % NCHANS];
	static unsigned char buf[8192];
	struct shmipc_buffer b;
	struct shmipc_msg m;
	uint64_t off;
	size_t size = rnd() % 2 ? rnd() % 80 : rnd() % 5000;
	char name[16];
	int err = 0;

	switch (op) {
	case OP_SEND:
		return ch ? shmipc_send(ch, buf, size, (uint32_t)rnd(), (int)(rnd() % 20)) : 0;
	case OP_RECV:
		if (!ch)
			return 0;
		err = shmipc_recv(ch, &m, (int)(rnd() % 20));
		if (!err) {
			volatile unsigned char sum = 0;
			size_t i;

			for (i = 0; i < m.size; i++)	/* every byte it says it has */
				sum ^= ((const unsigned char *)m.data)[i];
			err = shmipc_msg_release(&m);
		}
		return err;
	case OP_ZERO_COPY:
		if (!ch)
			return 0;
		if (w->has_resv) {
			w->has_resv = false;
			return rnd() % 2 ? shmipc_commit(ch, &w->resv, 0, (int)(rnd() % 10)) :
					   shmipc_abort(ch, &w->resv);
		}
		err = shmipc_reserve(ch, size, &w->resv);
		if (!err) {
			memset(w->resv.data, 0x5a, w->resv.size);
			w->has_resv = true;
		}
		return err;
	case OP_ALLOC:
		err = rnd() % 2 ? shmipc_alloc(w->shm, size, &off) :
				  shmipc_alloc_aligned(w->shm, size, 64u << (rnd() % 6), &off);
		if (!err) {
			memset((char *)shmipc_base(w->shm) + off, 0x33, size);
			err = shmipc_free(w->shm, off);
		}
		return err;
	case OP_FREE_WILD:
		return shmipc_free(w->shm, rnd() % (2 * REGION));
	case OP_BUFFERS:
		snprintf(name, sizeof(name), "b%u", (unsigned int)(rnd() % 4));
		switch (rnd() % 4) {
		case 0:
			err = shmipc_buffer_create(w->shm, name, 1, 1 + rnd() % 3000, &b);
			return err ? err : shmipc_buffer_release(w->shm, &b);
		case 1:
			err = shmipc_buffer_take(w->shm, name, &b);
			return err ? err : shmipc_buffer_release(w->shm, &b);
		case 2:
			return shmipc_buffer_find(w->shm, name, &b);
		default:
			return shmipc_buffer_remove(w->shm, name);
		}
	case OP_CHAN_OPEN: {
		unsigned int i = (unsigned int)(rnd() % NCHANS);
		struct shmipc_chan_options o = {
			.flags = rnd() % 2 ? SHMIPC_CHAN_SUBSCRIBE : 0, .spin = 10,
		};

		if (w->ch[i])
			shmipc_chan_close(w->ch[i]);
		w->ch[i] = NULL;
		w->has_resv = false;
		return shmipc_chan_open(w->shm, chan_names[i], &o, &w->ch[i]);
	}
	case OP_HANDLE: {
		struct shmipc_options o = region_opts(0);
		struct shmipc *other;

		err = shmipc_open(region, &o, &other);
		if (!err)
			shmipc_close(other);
		return err;
	}
	case OP_RECLAIM: {
		struct shmipc_peer_info p[8];
		struct shmipc_reclaim_stats st;

		err = shmipc_reclaim(w->shm);
		shmipc_reclaim_stats(w->shm, &st);
		return err < 0 ? err : shmipc_peers(w->shm, p, 8, NULL);
	}
	case OP_LISTS: {
		struct shmipc_heap_stats hs;
		struct shmipc_chan_stats cs;
		struct shmipc_buffer l[4];

		shmipc_heap_check(w->shm);
		shmipc_heap_stats(w->shm, &hs);
		if (ch)
			shmipc_chan_stats(ch, &cs);
		shmipc_chan_list(w->shm, l, 4, NULL);
		err = shmipc_buffer_list(w->shm, l, 4, NULL);
		return err < 0 ? err : 0;
	}
	case OP_WATCH:
		return shmipc_peer_watch(w->shm, (int)(rnd() % 3));
	case OP_SEND_TO:
		return shmipc_send_to(w->shm, chan_names[rnd() % NCHANS], buf, size, 0, 1);
	case OP_REF:
		if (!ch || shmipc_recv(ch, &m, 0))
			return 0;
		err = shmipc_msg_ref(&m);
		if (err)
			return shmipc_msg_release(&m);
		if (shmipc_msg_release(&m))	/* the extra reference: local */
			_exit(62);
		err = shmipc_msg_release(&m);	/* the last: may meet garbage */
		if (shmipc_msg_release(&m) != -EINVAL)
			_exit(63);		/* a third release must be refused */
		return err;
	case NOPS:
		break;
	}
	return 0;
}

static void worker(const char *name, struct shared *sh, unsigned int id, uint64_t seed)
{
	struct shmipc_options o = region_opts(0);
	struct slot *s = &sh->w[id];
	struct worker w = { .id = id };
	unsigned int i;

	rnd_state = seed;
	/* A region already corrupted may refuse us: that is an answer too. */
	for (;;) {
		int err;

		atomic_store(&s->op, OP_HANDLE);
		atomic_store(&s->start_ns, mono_ns());
		err = shmipc_open(name, &o, &w.shm);
		atomic_store(&s->start_ns, 0);
		if (!err)
			break;
		if (err > 0 || atomic_load(&sh->stop))
			_exit(err > 0 ? 60 : 0);
		atomic_fetch_add(&s->errors, 1);
		usleep(1000);
	}
	open_chans(&w);
	while (!atomic_load(&sh->stop)) {
		enum op op = (enum op)(rnd() % NOPS);
		int err;

		atomic_store(&s->op, op);
		atomic_store(&s->start_ns, mono_ns());
		err = one_op(&w, op, name);
		atomic_store(&s->start_ns, 0);
		if (err > 0 && op != OP_RECLAIM && op != OP_WATCH)
			_exit(61);		/* only counts are positive */
		atomic_fetch_add(&s->calls, 1);
		if (err < 0)
			atomic_fetch_add(&s->errors, 1);
	}
	atomic_store(&s->op, NOPS);
	atomic_store(&s->start_ns, mono_ns());
	for (i = 0; i < NCHANS; i++)
		shmipc_chan_close(w.ch[i]);
	shmipc_close(w.shm);
	atomic_store(&s->start_ns, 0);
	_exit(0);
}

/* ---- the test ---- */

static pid_t spawn(void (*fn)(const char *, struct shared *, unsigned int, uint64_t),
		   const char *name, struct shared *sh, unsigned int id)
{
	uint64_t seed = rnd();
	pid_t pid = fork();

	if (!pid)
		fn(name, sh, id, seed);
	return pid;
}

static void hostile_entry(const char *name, struct shared *sh, unsigned int id,
			  uint64_t seed)
{
	(void)id;
	rnd_state = seed;
	hostile(name, sh);
}

/* A fresh region with something of every kind in it. */
static int setup_region(const char *name)
{
	static const enum shmipc_chan_mode modes[NCHANS] = {
		SHMIPC_CHAN_SPSC, SHMIPC_CHAN_MPMC, SHMIPC_CHAN_BROADCAST,
		SHMIPC_CHAN_BROADCAST, SHMIPC_CHAN_MPMC,
	};
	static const unsigned int flags[NCHANS] = {
		0, 0, 0, SHMIPC_CHAN_DROP_OLDEST, SHMIPC_CHAN_CRC32C,
	};
	struct shmipc_options o = region_opts(SHMIPC_OPEN_CREATE);
	struct shmipc_buffer b;
	struct shmipc *shm;
	unsigned int i;
	int err;

	shmipc_unlink(name, SHMIPC_BACKEND_AUTO);
	err = shmipc_open(name, &o, &shm);
	if (err)
		return err;
	for (i = 0; i < NCHANS && !err; i++) {
		struct shmipc_chan_options co = {
			.mode = modes[i], .capacity = i % 2 ? 16 : 8,
			.flags = SHMIPC_CHAN_CREATE | flags[i],
		};
		struct shmipc_chan *ch;

		err = shmipc_chan_open(shm, chan_names[i], &co, &ch);
		if (!err)
			shmipc_chan_close(ch);	/* named, it stays */
	}
	if (!err)
		err = shmipc_buffer_create(shm, "b0", 7, 100, &b);
	shmipc_close(shm);
	return err;
}

static void worker_entry(const char *name, struct shared *sh, unsigned int id,
			 uint64_t seed)
{
	worker(name, sh, id, seed);
}

/* Every process of the round goes, whatever state it is in. */
static void kill_all(pid_t *pids, pid_t bad)
{
	unsigned int i;

	for (i = 0; i < WORKERS; i++)
		if (pids[i] > 0) {
			kill(pids[i], SIGKILL);
			waitpid(pids[i], NULL, 0);
		}
	kill(bad, SIGKILL);
	waitpid(bad, NULL, 0);
}

/*
 * One round of ROUND_S seconds; NULL when it went well, else what went
 * wrong (in @why), with every process of the round gone.
 */
static const char *one_round(const char *name, struct shared *sh, char *why,
			     size_t len, uint64_t *kills)
{
	int64_t round_end, kill_at, now;
	pid_t pids[WORKERS], bad;
	bool killed = false;
	unsigned int i;
	int status;

	for (i = 0; i < WORKERS; i++)
		pids[i] = spawn(worker_entry, name, sh, i);
	bad = spawn(hostile_entry, name, sh, 0);
	round_end = mono_ns() + ROUND_S * 1000000000LL;
	kill_at = mono_ns() + (int64_t)(rnd() % ((ROUND_S - 1) * 1000000000ULL));
	while ((now = mono_ns()) < round_end) {
		for (i = 0; i < WORKERS; i++) {
			int64_t st = atomic_load(&sh->w[i].start_ns);
			uint32_t op = atomic_load(&sh->w[i].op);

			if (st && now - st > CALL_LIMIT_S * 1000000000LL) {
				snprintf(why, len, "worker %u: %s hung (%lld s)", i,
					 op < NOPS ? op_names[op] : "close",
					 (long long)((now - st) / 1000000000));
				kill_all(pids, bad);
				return why;
			}
			if (waitpid(pids[i], &status, WNOHANG) == pids[i]) {
				snprintf(why, len, "worker %u ended (status %#x) in %s", i,
					 status, op < NOPS ? op_names[op] : "close");
				pids[i] = 0;
				kill_all(pids, bad);
				return why;
			}
		}
		if (!killed && now >= kill_at) {
			/* A worker killed at a random instant, and replaced. */
			i = (unsigned int)(rnd() % WORKERS);
			kill(pids[i], SIGKILL);
			waitpid(pids[i], &status, 0);
			atomic_store(&sh->w[i].start_ns, 0);
			pids[i] = spawn(worker_entry, name, sh, i);
			killed = true;
			(*kills)++;
		}
		usleep(2000);
	}
	atomic_store(&sh->stop, 1);
	for (i = 0; i < WORKERS; i++) {
		int64_t end = mono_ns() + CALL_LIMIT_S * 1000000000LL;

		while (waitpid(pids[i], &status, WNOHANG) == 0) {
			if (mono_ns() > end) {
				uint32_t op = atomic_load(&sh->w[i].op);

				snprintf(why, len, "worker %u hung in %s at the end", i,
					 op < NOPS ? op_names[op] : "close");
				kill_all(pids, bad);
				return why;
			}
			usleep(1000);
		}
		pids[i] = 0;
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			snprintf(why, len, "worker %u ended with status %#x", i, status);
			kill_all(pids, bad);
			return why;
		}
	}
	waitpid(bad, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		snprintf(why, len, "the hostile writer ended with status %#x", status);
		return why;
	}
	return NULL;
}

FIXTURE(hostile) {
	int unused;
};

FIXTURE_SETUP(hostile)
{
}

FIXTURE_TEARDOWN(hostile)
{
}

/* The harness's own timeout is only a backstop: rounds time every call. */
TEST_F_TIMEOUT(hostile, peer, 7200)
{
	const char *env = getenv("SHMIPC_HOSTILE_SECONDS");
	const char *seed_env = getenv("SHMIPC_HOSTILE_SEED");
	int64_t total_ns = (env ? strtoll(env, NULL, 0) : 300) * 1000000000LL;
	uint64_t calls = 0, errors = 0, writes = 0, kills = 0;
	char name[SHMIPC_NAME_MAX], why[160];
	int64_t t0 = mono_ns();
	const char *failed;
	struct shared *sh;
	unsigned int round, i;

	rnd_state = seed_env ? strtoull(seed_env, NULL, 0) : (uint64_t)mono_ns() ^ getpid();
	if (!rnd_state)
		rnd_state = 1;
	TH_LOG("seed %#llx, %lld s, backend %s", (unsigned long long)rnd_state,
	       (long long)(total_ns / 1000000000), shmipc_default_backend());
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, sh);
	uname_of(name, "hostile");
	for (round = 0; mono_ns() - t0 < total_ns; round++) {
		memset(sh, 0, sizeof(*sh));
		ASSERT_EQ(0, setup_region(name));
		failed = one_round(name, sh, why, sizeof(why), &kills);
		shmipc_unlink(name, SHMIPC_BACKEND_AUTO);
		ASSERT_EQ(NULL, failed) TH_LOG("round %u: %s", round, failed);
		for (i = 0; i < WORKERS; i++) {
			calls += atomic_load(&sh->w[i].calls);
			errors += atomic_load(&sh->w[i].errors);
		}
		writes += atomic_load(&sh->writes);
	}
	TH_LOG("%u rounds, %llu crafted writes, %llu calls (%llu failed cleanly), %llu workers killed",
	       round, (unsigned long long)writes, (unsigned long long)calls,
	       (unsigned long long)errors, (unsigned long long)kills);
	munmap(sh, sizeof(*sh));
}

TEST_HARNESS_MAIN
