/* SPDX-License-Identifier: MIT */
/*
 * The shmipc command-line tool: shared declarations of its subcommands.
 */
#ifndef SHMIPC_CLI_H
#define SHMIPC_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "libshm.h"

struct cmd {
	const char *name;
	const char *summary;
	const char *usage;	/* full --help text */
	int (*run)(int argc, char **argv);
};

/* shmipc.c */
extern const char *prog;
int fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int usage_error(const struct cmd *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
bool wants_help(int argc, char **argv, const struct cmd *c);
int split_path(const char *path, char *region, char *channel);
int parse_uint(const char *s, unsigned long max, unsigned long *out);
void json_string(FILE *f, const char *s);

/* module.c */
extern const struct cmd cmd_status, cmd_module;
/* inspect.c */
extern const struct cmd cmd_ls, cmd_stat, cmd_top;
int open_region(const char *name, struct shmipc **shm);
/* io.c */
extern const struct cmd cmd_send, cmd_recv, cmd_rm;
/* peers.c */
extern const struct cmd cmd_peers;
/* bench.c */
extern const struct cmd cmd_bench;

#endif /* SHMIPC_CLI_H */
