// SPDX-License-Identifier: MIT
/*
 * A complete libshm program: a parent and a child exchange messages over
 * two channels of one region, on whichever backend is available.
 *
 *   cc pingpong.c $(pkg-config --cflags --libs libshm) -o pingpong
 *   ./pingpong [ROUNDS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libshm.h>

static int check(int err, const char *what)
{
	if (err) {
		fprintf(stderr, "pingpong: %s: %s\n", what, shmipc_strerror(err));
		exit(1);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct shmipc_options ro = { .size = 4 << 20, .flags = SHMIPC_OPEN_CREATE };
	struct shmipc_chan_options co = { .mode = SHMIPC_CHAN_SPSC, .capacity = 16,
					  .flags = SHMIPC_CHAN_CREATE };
	int rounds = argc > 1 ? atoi(argv[1]) : 1000;
	struct shmipc_chan *ping, *pong;
	struct shmipc_msg msg;
	struct shmipc *shm;
	char name[64];
	int i, status;
	pid_t pid;

	snprintf(name, sizeof(name), "example-%d", (int)getpid());
	check(shmipc_open(name, &ro, &shm), "open region");
	check(shmipc_chan_open(shm, "ping", &co, &ping), "open ping");
	check(shmipc_chan_open(shm, "pong", &co, &pong), "open pong");

	pid = fork();
	if (pid == 0) {			/* the child answers every ping */
		for (i = 0; i < rounds; i++) {
			char reply[64];

			check(shmipc_recv(ping, &msg, 5000), "child recv");
			snprintf(reply, sizeof(reply), "pong %.*s", (int)msg.size,
				 (const char *)msg.data);
			shmipc_msg_release(&msg);
			check(shmipc_send(pong, reply, strlen(reply), 2, 5000), "child send");
		}
		_exit(0);
	}
	for (i = 0; i < rounds; i++) {
		char text[32], want[40];

		snprintf(text, sizeof(text), "%d", i);
		check(shmipc_send(ping, text, strlen(text), 1, 5000), "send");
		check(shmipc_recv(pong, &msg, 5000), "recv");
		snprintf(want, sizeof(want), "pong %d", i);
		if (msg.size != strlen(want) || memcmp(msg.data, want, msg.size)) {
			fprintf(stderr, "pingpong: round %d: wrong reply\n", i);
			return 1;
		}
		shmipc_msg_release(&msg);
	}
	waitpid(pid, &status, 0);
	printf("%d round trips over %s, backend %s\n", rounds, name,
	       shmipc_backend_name(shm));
	shmipc_chan_close(ping);
	shmipc_chan_close(pong);
	shmipc_close(shm);
	shmipc_unlink(name, SHMIPC_BACKEND_AUTO);
	return WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : 1;
}
