// SPDX-License-Identifier: MIT
/*
 * shmipc: see the live state of shmipc regions and channels, manage the
 * module, and move messages from shell scripts. Every subcommand has
 * --help; errors are one line on stderr and a non-zero exit (1 for a
 * failed operation, 2 for bad arguments).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char *prog = "shmipc";

static const struct cmd *const cmds[] = {
	&cmd_status, &cmd_module, &cmd_ls, &cmd_stat, &cmd_top, &cmd_peers,
	&cmd_send, &cmd_recv, &cmd_rm, &cmd_bench,
};
#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

int fail(int err, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (err)
		fprintf(stderr, ": %s", shmipc_strerror(err));
	fputc('\n', stderr);
	return 1;
}

int usage_error(const struct cmd *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s %s: ", prog, c->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see '%s %s --help')\n", prog, c->name);
	return 2;
}

bool wants_help(int argc, char **argv, const struct cmd *c)
{
	int i;

	for (i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("usage: %s %s\n\n%s\n\n%s", prog, c->name, c->summary,
			       c->usage);
			return true;
		}
	return false;
}

/* "REGION" or "REGION/CHANNEL"; channel gets "" when absent. */
int split_path(const char *path, char *region, char *channel)
{
	const char *slash = strchr(path, '/');
	size_t rlen = slash ? (size_t)(slash - path) : strlen(path);

	if (!rlen || rlen >= 64 || (slash && (!slash[1] || strlen(slash + 1) >= 64 ||
					      strchr(slash + 1, '/'))))
		return -EINVAL;
	memcpy(region, path, rlen);
	region[rlen] = 0;
	strcpy(channel, slash ? slash + 1 : "");
	return 0;
}

int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void usage(FILE *f)
{
	unsigned int i;

	fprintf(f, "usage: %s COMMAND [ARGS]   (%s COMMAND --help for more)\n\n", prog, prog);
	for (i = 0; i < NCMDS; i++)
		fprintf(f, "  %-8s %s\n", cmds[i]->name, cmds[i]->summary);
}

int main(int argc, char **argv)
{
	unsigned int i;

	if (argc < 2) {
		fprintf(stderr, "%s: no command (see '%s --help')\n", prog, prog);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	for (i = 0; i < NCMDS; i++)
		if (!strcmp(argv[1], cmds[i]->name)) {
			if (wants_help(argc - 1, argv + 1, cmds[i]))
				return 0;
			return cmds[i]->run(argc - 1, argv + 1);
		}
	fprintf(stderr, "%s: unknown command '%s' (see '%s --help')\n", prog,
		argv[1], prog);
	return 2;
}
