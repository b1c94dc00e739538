// SPDX-License-Identifier: MIT
/*
 * shmipc peers: who is attached to a region, whether they live, what they
 * hold, and what the reclaim of dead ones has given back; --watch reports
 * deaths as they happen.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static void print_peers(struct shmipc *shm, const struct shmipc_peer_info *p,
			int n, bool json)
{
	struct shmipc_reclaim_stats rs = { 0 };
	int i;

	shmipc_reclaim_stats(shm, &rs);
	if (json) {
		printf("{\"backend\":\"%s\",\"peers\":[", shmipc_backend_name(shm));
		for (i = 0; i < n; i++)
			printf("%s{\"id\":%u,\"pid\":%u,\"alive\":%s,\"self\":%s,"
			       "\"locks\":%u,\"endpoints\":%u,\"reserved_bytes\":%" PRIu64
			       ",\"held_msgs\":%" PRIu64 ",\"held_bytes\":%" PRIu64 "}",
			       i ? "," : "", p[i].id, p[i].pid,
			       p[i].alive ? "true" : "false", p[i].self ? "true" : "false",
			       p[i].locks, p[i].endpoints, p[i].reserved_bytes,
			       p[i].held_msgs, p[i].held_bytes);
		printf("],\"peers_died\":%" PRIu64 ",\"bytes_reclaimed\":%" PRIu64
		       ",\"msgs_reclaimed\":%" PRIu64 ",\"msgs_redelivered\":%" PRIu64
		       ",\"slots_repaired\":%" PRIu64 "}\n",
		       rs.peers_died, rs.bytes_reclaimed, rs.msgs_reclaimed,
		       rs.msgs_redelivered, rs.slots_repaired);
		return;
	}
	printf("%-10s %-8s %-6s %5s %9s %14s %9s %12s\n", "ID", "PID", "STATE",
	       "LOCKS", "ENDPOINTS", "RESERVED_BYTES", "HELD_MSGS", "HELD_BYTES");
	for (i = 0; i < n; i++)
		printf("%-10u %-8u %-6s %5u %9u %14" PRIu64 " %9" PRIu64 " %12" PRIu64 "%s\n",
		       p[i].id, p[i].pid, p[i].alive ? "alive" : "dead", p[i].locks,
		       p[i].endpoints, p[i].reserved_bytes, p[i].held_msgs,
		       p[i].held_bytes, p[i].self ? "  (this tool)" : "");
	printf("reclaimed: %" PRIu64 " dead peers, %" PRIu64 " bytes, %" PRIu64
	       " messages released, %" PRIu64 " delivered again, %" PRIu64
	       " queue slots repaired\n", rs.peers_died, rs.bytes_reclaimed,
	       rs.msgs_reclaimed, rs.msgs_redelivered, rs.slots_repaired);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_death(struct shmipc *shm, uint32_t peer, uint32_t pid, void *arg)
{
	(void)shm;
	(void)arg;
	printf("peer %u (pid %u) died; reclaimed\n", peer, pid);
	fflush(stdout);
}

static int peers_run(int argc, char **argv)
{
	struct shmipc_peer_info p[512];
	const char *region = NULL;
	unsigned long watch = 0;
	bool json = false, watching = false;
	struct shmipc *shm;
	int i, n, err;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--watch") && i + 1 < argc) {
			if (parse_uint(argv[++i], 86400, &watch))
				return usage_error(&cmd_peers, "bad --watch '%s'", argv[i]);
			watching = true;
		} else if (argv[i][0] == '-' || region) {
			return usage_error(&cmd_peers, "unexpected argument '%s'", argv[i]);
		} else {
			region = argv[i];
		}
	}
	if (!region)
		return usage_error(&cmd_peers, "which REGION?");
	err = open_region(region, &shm);
	if (err)
		return fail(err, "peers %s", region);
	if (watching) {
		int64_t end = now_ms() + (int64_t)watch * 1000, left;

		shmipc_on_peer_death(shm, on_death, NULL);
		while ((left = end - now_ms()) > 0) {
			n = shmipc_peer_watch(shm, (int)left);
			if (n == -ETIMEDOUT)
				break;
			if (n < 0) {
				err = n;
				break;
			}
		}
	}
	n = err ? err : shmipc_peers(shm, p, 512, NULL);
	if (n >= 0)
		print_peers(shm, p, n, json);
	shmipc_close(shm);
	return n < 0 ? fail(n, "peers %s", region) : 0;
}

const struct cmd cmd_peers = {
	"peers", "the processes attached to a region, alive or dead, and what they hold",
	"  peers REGION [--json]          every peer: id, pid, alive or dead (not yet\n"
	"                                 reclaimed), locks, channel endpoints, bytes\n"
	"                                 reserved, messages held; and what reclaims\n"
	"                                 have given back so far\n"
	"  peers REGION --watch SECONDS   first report each death as it is reclaimed,\n"
	"                                 for that long\n",
	peers_run,
};
