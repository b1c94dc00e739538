// SPDX-License-Identifier: MIT
/*
 * shmipc ls, stat, top: regions of both backends, and the buffers and
 * channels inside one, with the channels' live statistics.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/shmipc.h>

#include "cli.h"

#define POSIX_PREFIX	"shmipc."

struct region_row {
	const char *backend;
	char name[64];
	unsigned long long size;
	unsigned int uid, gid, mode;
	int fds, maps, procs;		/* -1: not known for this backend */
};

static const char *mode_name(uint32_t mode)
{
	switch (mode) {
	case SHMIPC_CHAN_SPSC:
		return "spsc";
	case SHMIPC_CHAN_MPMC:
		return "mpmc";
	case SHMIPC_CHAN_BROADCAST:
		return "broadcast";
	}
	return "?";
}

/* Processes whose mappings include /dev/shm/shmipc.<name> (those we may read). */
static int posix_procs(const char *name)
{
	char path[300], want[128], line[512];
	struct dirent *d;
	int n = 0;
	DIR *dir = opendir("/proc");

	snprintf(want, sizeof(want), "/dev/shm/" POSIX_PREFIX "%s", name);
	while (dir && (d = readdir(dir))) {
		FILE *f;

		if (d->d_name[0] < '1' || d->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/maps", d->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f)) {
			char *p = strstr(line, want);

			if (p && (p[strlen(want)] == '\n' || p[strlen(want)] == ' ')) {
				n++;
				break;
			}
		}
		fclose(f);
	}
	if (dir)
		closedir(dir);
	return n;
}

/* Every region of both backends; returns how many, rows malloc'ed. */
static int list_regions(struct region_row **out)
{
	struct region_row *rows = NULL;
	int n = 0, dev;
	struct dirent *d;
	DIR *dir;

	dev = open("/dev/shmipc", O_RDWR | O_CLOEXEC);
	if (dev >= 0) {
		struct shmipc_list l = { 0 };
		struct shmipc_list_entry *e = NULL;

		if (!ioctl(dev, SHMIPC_IOC_LIST, &l) && l.total) {
			e = calloc(l.total, sizeof(*e));
			l.entries = (uintptr_t)e;
			l.capacity = e ? l.total : 0;
			if (e && !ioctl(dev, SHMIPC_IOC_LIST, &l)) {
				rows = calloc(l.count + 1, sizeof(*rows));
				for (; rows && (unsigned int)n < l.count; n++) {
					rows[n] = (struct region_row){
						.backend = "kmod", .size = e[n].size,
						.uid = e[n].uid, .gid = e[n].gid,
						.mode = e[n].mode, .fds = (int)e[n].nr_fds,
						.maps = (int)e[n].nr_mappings, .procs = -1,
					};
					memcpy(rows[n].name, e[n].name, 64);
				}
			}
			free(e);
		}
		close(dev);
	}
	dir = opendir("/dev/shm");
	while (dir && (d = readdir(dir))) {
		struct region_row *r;
		struct stat st;
		char path[512];

		if (strncmp(d->d_name, POSIX_PREFIX, strlen(POSIX_PREFIX)) ||
		    strlen(d->d_name + strlen(POSIX_PREFIX)) >= 64)
			continue;
		snprintf(path, sizeof(path), "/dev/shm/%s", d->d_name);
		if (stat(path, &st))
			continue;
		r = realloc(rows, (size_t)(n + 1) * sizeof(*rows));
		if (!r)
			break;
		rows = r;
		rows[n] = (struct region_row){
			.backend = "posix", .size = (unsigned long long)st.st_size,
			.uid = st.st_uid, .gid = st.st_gid, .mode = st.st_mode & 0777,
			.fds = -1, .maps = -1,
		};
		strcpy(rows[n].name, d->d_name + strlen(POSIX_PREFIX));
		rows[n].procs = posix_procs(rows[n].name);
		n++;
	}
	if (dir)
		closedir(dir);
	*out = rows;
	return n;
}

/* Opens REGION on the backend it lives on (the default one first). */
/* Opens @name on the default backend, else on the other one. */
int open_region(const char *name, struct shmipc **shm)
{
	struct shmipc_options o = { .init_timeout_ms = 1000, .lock_timeout_ms = 1000 };
	int err = shmipc_open(name, &o, shm);

	if (err == -ENOENT) {	/* maybe on the other backend */
		const char *def = shmipc_default_backend();

		o.backend = def && !strcmp(def, "kmod") ? SHMIPC_BACKEND_POSIX :
							  SHMIPC_BACKEND_KMOD;
		if (!shmipc_open(name, &o, shm))
			return 0;
	}
	return err;
}

static int ls_regions(bool json)
{
	struct region_row *rows;
	int n = list_regions(&rows), i;

	if (json)
		printf("[");
	else if (n)
		printf("%-7s %-24s %12s %6s %6s %5s  %s\n", "BACKEND", "NAME", "SIZE",
		       "UID", "GID", "MODE", "ATTACHED");
	for (i = 0; i < n; i++) {
		struct region_row *r = &rows[i];

		if (json) {
			printf("%s{\"backend\":\"%s\",\"name\":", i ? "," : "", r->backend);
			json_string(stdout, r->name);
			printf(",\"size\":%llu,\"uid\":%u,\"gid\":%u,\"mode\":\"%04o\"",
			       r->size, r->uid, r->gid, r->mode);
			if (r->fds >= 0)
				printf(",\"fds\":%d,\"mappings\":%d", r->fds, r->maps);
			else
				printf(",\"processes\":%d", r->procs);
			printf("}");
		} else if (r->fds >= 0) {
			printf("%-7s %-24s %12llu %6u %6u  %04o  %d fds, %d mappings\n",
			       r->backend, r->name, r->size, r->uid, r->gid, r->mode,
			       r->fds, r->maps);
		} else {
			printf("%-7s %-24s %12llu %6u %6u  %04o  %d processes\n",
			       r->backend, r->name, r->size, r->uid, r->gid, r->mode,
			       r->procs);
		}
	}
	if (json)
		printf("]\n");
	else if (!n)
		printf("no regions\n");
	free(rows);
	return 0;
}

static int ls_region(const char *name, bool json)
{
	struct shmipc_buffer *b;
	struct shmipc *shm;
	unsigned int total;
	int n, i, err;

	err = open_region(name, &shm);
	if (err)
		return fail(err, "ls %s", name);
	b = calloc(65536, sizeof(*b));
	n = b ? shmipc_buffer_list(shm, b, 65536, &total) : -ENOMEM;
	if (n < 0) {
		free(b);
		shmipc_close(shm);
		return fail(n, "ls %s", name);
	}
	if (json)
		printf("{\"region\":");
	if (json)
		json_string(stdout, name);
	if (json)
		printf(",\"backend\":\"%s\",\"entries\":[", shmipc_backend_name(shm));
	else
		printf("region %s (%s backend, %zu bytes)\n%-24s %-10s %10s %5s %8s  %s\n",
		       name, shmipc_backend_name(shm), shmipc_size(shm), "NAME", "KIND",
		       "SIZE", "REFS", "CREATOR", "DETAIL");
	for (i = 0; i < n; i++) {
		struct shmipc_chan_stats st;
		struct shmipc_chan *ch = NULL;
		bool chan = b[i].kind == 0x4e414843u;	/* "CHAN" */
		char kind[16];

		if (chan && shmipc_chan_open(shm, b[i].name, NULL, &ch))
			ch = NULL;
		if (ch)
			shmipc_chan_stats(ch, &st);
		snprintf(kind, sizeof(kind), chan ? "channel" : "buffer:%u", b[i].kind);
		if (json) {
			printf("%s{\"name\":", i ? "," : "");
			json_string(stdout, b[i].name);
			printf(",\"kind\":\"%s\",\"size\":%llu,\"refs\":%u,\"creator\":%u,\"removed\":%s",
			       kind, (unsigned long long)b[i].size, b[i].refs,
			       b[i].creator_pid, b[i].state == SHMIPC_BUFFER_REMOVED ? "true" : "false");
			if (ch)
				printf(",\"mode\":\"%s\",\"capacity\":%u,\"depth\":%llu",
				       mode_name(st.mode), st.capacity,
				       (unsigned long long)st.depth);
			printf("}");
		} else {
			printf("%-24s %-10s %10llu %5u %8u  ", b[i].name, kind,
			       (unsigned long long)b[i].size, b[i].refs, b[i].creator_pid);
			if (ch)
				printf("%s, capacity %u, depth %llu", mode_name(st.mode),
				       st.capacity, (unsigned long long)st.depth);
			printf("%s\n", b[i].state == SHMIPC_BUFFER_REMOVED ? " (removed)" : "");
		}
		shmipc_chan_close(ch);
	}
	if (json)
		printf("]}\n");
	free(b);
	shmipc_close(shm);
	return 0;
}

static int ls_run(int argc, char **argv)
{
	bool json = false;
	const char *name = NULL;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (argv[i][0] == '-' || name)
			return usage_error(&cmd_ls, "unexpected argument '%s'", argv[i]);
		else
			name = argv[i];
	}
	if (name && strchr(name, '/'))
		return usage_error(&cmd_ls, "'%s' is not a region name", name);
	return name ? ls_region(name, json) : ls_regions(json);
}

const struct cmd cmd_ls = {
	"ls", "list regions, or the buffers and channels of one",
	"  ls [--json]            every region of both backends: size, owner, mode,\n"
	"                         attached fds and mappings (kmod) or processes (posix)\n"
	"  ls REGION [--json]     its buffers and channels\n",
	ls_run,
};

static void print_chan_stats(const char *region, const char *name,
			     const struct shmipc_chan_stats *st, bool json)
{
	if (json) {
		printf("{\"region\":");
		json_string(stdout, region);
		printf(",\"channel\":");
		json_string(stdout, name);
		printf(",\"mode\":\"%s\",\"capacity\":%u,\"depth\":%llu,\"msgs_in\":%llu,"
		       "\"bytes_in\":%llu,\"msgs_out\":%llu,\"bytes_out\":%llu,\"full\":%llu,"
		       "\"overruns\":%llu,\"bad\":%llu,\"subscribers\":%u,\"waiters\":%u,"
		       "\"last_sender\":%u,\"last_receiver\":%u}\n",
		       mode_name(st->mode), st->capacity, (unsigned long long)st->depth,
		       (unsigned long long)st->msgs_in, (unsigned long long)st->bytes_in,
		       (unsigned long long)st->msgs_out, (unsigned long long)st->bytes_out,
		       (unsigned long long)st->full, (unsigned long long)st->overruns,
		       (unsigned long long)st->bad, st->subscribers, st->waiters,
		       st->last_sender, st->last_receiver);
		return;
	}
	printf("channel %s/%s: %s, capacity %u\n", region, name, mode_name(st->mode),
	       st->capacity);
	printf("  depth %llu, sent %llu (%llu bytes), received %llu (%llu bytes)\n",
	       (unsigned long long)st->depth, (unsigned long long)st->msgs_in,
	       (unsigned long long)st->bytes_in, (unsigned long long)st->msgs_out,
	       (unsigned long long)st->bytes_out);
	printf("  full %llu, overruns %llu, corrupted %llu, subscribers %u, waiters %u\n",
	       (unsigned long long)st->full, (unsigned long long)st->overruns,
	       (unsigned long long)st->bad, st->subscribers, st->waiters);
	printf("  last sender %u, last receiver %u\n", st->last_sender, st->last_receiver);
}

static int stat_run(int argc, char **argv)
{
	char region[64], channel[64];
	struct shmipc_heap_stats hs;
	struct shmipc_chan_stats st;
	struct shmipc_chan *ch;
	struct shmipc *shm;
	const char *path = NULL;
	unsigned int total = 0;
	bool json = false;
	int i, err;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (argv[i][0] == '-' || path)
			return usage_error(&cmd_stat, "unexpected argument '%s'", argv[i]);
		else
			path = argv[i];
	}
	if (!path)
		return usage_error(&cmd_stat, "which REGION[/CHANNEL]?");
	if (split_path(path, region, channel))
		return usage_error(&cmd_stat, "'%s' is not REGION[/CHANNEL]", path);
	err = open_region(region, &shm);
	if (err)
		return fail(err, "stat %s", region);
	if (*channel) {
		err = shmipc_chan_open(shm, channel, NULL, &ch);
		if (!err) {
			shmipc_chan_stats(ch, &st);
			print_chan_stats(region, channel, &st, json);
			shmipc_chan_close(ch);
		}
	} else {
		err = shmipc_heap_stats(shm, &hs);
		if (!err)
			shmipc_buffer_list(shm, NULL, 0, &total);
		if (!err && json) {
			printf("{\"region\":");
			json_string(stdout, region);
			printf(",\"backend\":\"%s\",\"size\":%zu,\"heap_total\":%llu,"
			       "\"heap_free\":%llu,\"largest_free\":%llu,\"allocations\":%llu,"
			       "\"failures\":%llu,\"used_blocks\":%llu,\"recoveries\":%llu,"
			       "\"entries\":%u}\n", shmipc_backend_name(shm), shmipc_size(shm),
			       (unsigned long long)hs.total, (unsigned long long)hs.free,
			       (unsigned long long)hs.largest_free,
			       (unsigned long long)hs.allocations,
			       (unsigned long long)hs.failures,
			       (unsigned long long)hs.used_blocks,
			       (unsigned long long)hs.recoveries, total);
		} else if (!err) {
			printf("region %s: %s backend, %zu bytes, %u named entries\n", region,
			       shmipc_backend_name(shm), shmipc_size(shm), total);
			printf("  heap %llu bytes, %llu free (largest %llu), %llu blocks in use\n",
			       (unsigned long long)hs.total, (unsigned long long)hs.free,
			       (unsigned long long)hs.largest_free,
			       (unsigned long long)hs.used_blocks);
			printf("  %llu allocations, %llu failed, %llu lock recoveries\n",
			       (unsigned long long)hs.allocations,
			       (unsigned long long)hs.failures,
			       (unsigned long long)hs.recoveries);
		}
	}
	shmipc_close(shm);
	return err ? fail(err, "stat %s", path) : 0;
}

const struct cmd cmd_stat = {
	"stat", "statistics of a region's heap, or of one channel",
	"  stat REGION [--json]           heap and registry of the region\n"
	"  stat REGION/CHANNEL [--json]   depth, messages and bytes in and out, full,\n"
	"                                 overruns, waiters, last sender and receiver\n",
	stat_run,
};

struct top_row {
	char region[64], channel[64];
	struct shmipc_chan_stats st;
};

/* Snapshot of every channel of @only (or of every region). */
static int top_snapshot(const char *only, struct top_row **out)
{
	struct region_row *regions = NULL;
	struct top_row *rows = NULL;
	int nr, n = 0, i, j;

	if (only) {
		regions = calloc(1, sizeof(*regions));
		if (!regions)
			return 0;
		strcpy(regions[0].name, only);
		nr = 1;
	} else {
		nr = list_regions(&regions);
	}
	for (i = 0; i < nr; i++) {
		struct shmipc_buffer b[256];
		struct shmipc *shm;
		int nb;

		if (open_region(regions[i].name, &shm))
			continue;
		nb = shmipc_chan_list(shm, b, 256, NULL);
		for (j = 0; j < nb; j++) {
			struct shmipc_chan *ch;
			struct top_row *r;

			if (shmipc_chan_open(shm, b[j].name, NULL, &ch))
				continue;
			r = realloc(rows, (size_t)(n + 1) * sizeof(*rows));
			if (!r) {
				shmipc_chan_close(ch);
				break;
			}
			rows = r;
			strcpy(rows[n].region, regions[i].name);
			strcpy(rows[n].channel, b[j].name);
			shmipc_chan_stats(ch, &rows[n].st);
			shmipc_chan_close(ch);
			n++;
		}
		shmipc_close(shm);
	}
	free(regions);
	*out = rows;
	return n;
}

static int top_run(int argc, char **argv)
{
	unsigned long interval = 1000, iterations = 0, it, v;
	struct top_row *prev = NULL, *cur;
	const char *only = NULL;
	bool json = false, tty = isatty(1);
	int i, np = 0, nc, k;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--interval") && i + 1 < argc) {
			if (parse_uint(argv[++i], 3600000, &v) || !v)
				return usage_error(&cmd_top, "bad --interval '%s'", argv[i]);
			interval = v;
		} else if (!strcmp(argv[i], "--iterations") && i + 1 < argc) {
			if (parse_uint(argv[++i], 1000000000, &v) || !v)
				return usage_error(&cmd_top, "bad --iterations '%s'", argv[i]);
			iterations = v;
		} else if (argv[i][0] == '-' || only || strchr(argv[i], '/')) {
			return usage_error(&cmd_top, "unexpected argument '%s'", argv[i]);
		} else {
			only = argv[i];
		}
	}
	if (only) {
		struct shmipc *shm;
		int err = open_region(only, &shm);

		if (err)
			return fail(err, "top %s", only);
		shmipc_close(shm);
	}
	for (it = 0; !iterations || it < iterations; it++) {
		struct timespec ts = { (time_t)(interval / 1000),
				       (long)(interval % 1000) * 1000000 };

		nc = top_snapshot(only, &cur);
		if (tty && !json)
			printf("\033[H\033[2J");
		if (!json)
			printf("%-16s %-16s %-9s %7s %11s %13s %7s %8s %8s\n", "REGION",
			       "CHANNEL", "MODE", "DEPTH", "MSG/S", "BYTES/S", "WAITERS",
			       "SENDER", "RECEIVER");
		for (k = 0; k < nc; k++) {
			struct shmipc_chan_stats *s = &cur[k].st;
			double rate = 0, brate = 0;
			int p;

			for (p = 0; p < np; p++)
				if (!strcmp(prev[p].region, cur[k].region) &&
				    !strcmp(prev[p].channel, cur[k].channel)) {
					rate = (double)(s->msgs_in - prev[p].st.msgs_in) * 1000 / interval;
					brate = (double)(s->bytes_in - prev[p].st.bytes_in) * 1000 / interval;
				}
			if (json) {
				printf("{\"region\":");
				json_string(stdout, cur[k].region);
				printf(",\"channel\":");
				json_string(stdout, cur[k].channel);
				printf(",\"mode\":\"%s\",\"depth\":%llu,\"msgs_per_s\":%.0f,"
				       "\"bytes_per_s\":%.0f,\"waiters\":%u,\"last_sender\":%u,"
				       "\"last_receiver\":%u}\n", mode_name(s->mode),
				       (unsigned long long)s->depth, rate, brate, s->waiters,
				       s->last_sender, s->last_receiver);
			} else {
				printf("%-16s %-16s %-9s %7llu %11.0f %13.0f %7u %8u %8u\n",
				       cur[k].region, cur[k].channel, mode_name(s->mode),
				       (unsigned long long)s->depth, rate, brate, s->waiters,
				       s->last_sender, s->last_receiver);
			}
		}
		fflush(stdout);
		free(prev);
		prev = cur;
		np = nc;
		if (!iterations || it + 1 < iterations)
			nanosleep(&ts, NULL);
	}
	free(prev);
	return 0;
}

const struct cmd cmd_top = {
	"top", "live depth and rates of every channel, refreshed",
	"  top [REGION] [--interval MS] [--iterations N] [--json]\n"
	"  Rates are messages and bytes sent per second over the last interval\n"
	"  (the first screen shows 0). --json prints one object per channel and\n"
	"  refresh instead of a screen.\n",
	top_run,
};
