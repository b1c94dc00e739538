// SPDX-License-Identifier: MIT
/*
 * shmipc bench: runs the programs behind `make bench` (installed in
 * LIBEXECDIR/shmipc, or found beside this program in a build tree) and
 * merges their CSV or JSON output.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

#ifndef SHMIPC_LIBEXECDIR
#define SHMIPC_LIBEXECDIR "/usr/local/libexec/shmipc"
#endif

/* The path of helper @name, or NULL. */
static char *helper(const char *name)
{
	const char *env = getenv("SHMIPC_LIBEXEC");
	char self[PATH_MAX], *path, *slash;
	ssize_t n;

	if (env) {
		if (asprintf(&path, "%s/%s", env, name) < 0)
			return NULL;
		if (!access(path, X_OK))
			return path;
		free(path);
		return NULL;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {		/* a build tree: build/cli/shmipc, build/bench/NAME */
		self[n] = 0;
		slash = strrchr(self, '/');
		if (slash) {
			*slash = 0;
			if (asprintf(&path, "%s/../bench/%s", self, name) >= 0) {
				if (!access(path, X_OK))
					return path;
				free(path);
			}
		}
	}
	if (asprintf(&path, SHMIPC_LIBEXECDIR "/%s", name) < 0)
		return NULL;
	if (!access(path, X_OK))
		return path;
	free(path);
	return NULL;
}

/* Runs argv; with @out, collects its standard output there. */
static int run(char *const argv[], char **out)
{
	size_t len = 0, cap = 0;
	int fds[2], status;
	char *buf = NULL;
	ssize_t n;
	pid_t pid;

	if (out && pipe(fds))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid) {
		if (out) {
			dup2(fds[1], 1);
			close(fds[0]);
			close(fds[1]);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	if (out) {
		close(fds[1]);
		for (;;) {
			if (len + 4096 + 1 > cap) {
				char *nb = realloc(buf, cap = cap ? 2 * cap : 8192);

				if (!nb)
					break;
				buf = nb;
			}
			n = read(fds[0], buf + len, cap - len - 1);
			if (n <= 0)
				break;
			len += (size_t)n;
		}
		close(fds[0]);
		if (buf)
			buf[len] = 0;
		*out = buf;
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		return -ECHILD;
	return 0;
}

static int bench_run(int argc, char **argv)
{
	const char *what = "all", *fmt = NULL;
	char *outs[2] = { NULL, NULL };
	bool quick = false;
	int i, err = 0, n = 0;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--csv") || !strcmp(argv[i], "--json"))
			fmt = argv[i];
		else if (!strcmp(argv[i], "--quick"))
			quick = true;
		else if (!strcmp(argv[i], "pingpong") || !strcmp(argv[i], "throughput") ||
			 !strcmp(argv[i], "scaling") || !strcmp(argv[i], "alloc") ||
			 !strcmp(argv[i], "all"))
			what = argv[i];
		else
			return usage_error(&cmd_bench, "unexpected argument '%s'", argv[i]);
	}
	for (i = 0; i < 2 && !err; i++) {
		const char *name = i ? "msg_bench" : "alloc_bench";
		char *args[6] = { NULL }, *path;
		int k = 1;

		if ((i == 0) != (!strcmp(what, "alloc") || !strcmp(what, "all")) ||
		    (i == 1 && !strcmp(what, "alloc")))
			continue;
		path = helper(name);
		if (!path)
			return fail(0, "bench: %s not found (set SHMIPC_LIBEXEC)", name);
		args[0] = path;
		if (i == 1)
			args[k++] = (char *)what;
		if (i == 1 && quick)
			args[k++] = "--quick";
		if (fmt)
			args[k++] = (char *)fmt;
		if (!fmt && n)
			putchar('\n');
		fflush(stdout);
		err = run(args, fmt ? &outs[n] : NULL);
		n++;
		free(path);
	}
	if (!err && fmt && !strcmp(fmt, "--csv")) {
		for (i = 0; i < n; i++) {	/* one header */
			char *body = outs[i];

			if (i && body && strchr(body, '\n'))
				body = strchr(body, '\n') + 1;
			fputs(body ? body : "", stdout);
		}
	} else if (!err && fmt) {		/* one JSON array */
		putchar('[');
		for (i = 0; i < n; i++) {
			char *a = outs[i] ? strchr(outs[i], '[') : NULL;
			char *z = outs[i] ? strrchr(outs[i], ']') : NULL;

			if (a && z && z > a + 1) {
				*z = 0;
				printf("%s%s", i && outs[0] && strlen(outs[0]) > 3 ? "," : "", a + 1);
			}
		}
		printf("]\n");
	}
	free(outs[0]);
	free(outs[1]);
	return err ? fail(err, "bench") : 0;
}

const struct cmd cmd_bench = {
	"bench", "run the benchmarks of make bench",
	"  bench [pingpong|throughput|scaling|alloc|all] [--quick] [--csv|--json]\n"
	"  pingpong: one-way latency; throughput: messages and bytes per second;\n"
	"  scaling: 1-8 producers; alloc: the shared heap against malloc; all:\n"
	"  every one, then the targets. Tables by default, with a progress line on\n"
	"  a terminal; --csv and --json print section,transport,size,metric,value\n"
	"  records. --quick runs a tenth of the iterations.\n",
	bench_run,
};
