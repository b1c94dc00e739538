// SPDX-License-Identifier: MIT
/*
 * shmipc send, recv, rm: channels from shell scripts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define DEFAULT_REGION_SIZE	(16u << 20)

struct io_opts {
	const char *path;
	unsigned long type, count, timeout_ms, size;
	bool raw, create, timeout_set;
};

static int parse_io(const struct cmd *c, int argc, char **argv, struct io_opts *o,
		    bool sending)
{
	int i;

	memset(o, 0, sizeof(*o));
	o->count = 1;
	o->size = DEFAULT_REGION_SIZE;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--raw")) {
			o->raw = true;
		} else if (sending && !strcmp(a, "--create")) {
			o->create = true;
		} else if (sending && !strcmp(a, "--type") && i + 1 < argc) {
			if (parse_uint(argv[++i], UINT32_MAX, &o->type))
				return usage_error(c, "bad --type '%s'", argv[i]);
		} else if (sending && !strcmp(a, "--size") && i + 1 < argc) {
			if (parse_uint(argv[++i], 1ul << 40, &o->size) || !o->size)
				return usage_error(c, "bad --size '%s'", argv[i]);
		} else if (!sending && !strcmp(a, "--count") && i + 1 < argc) {
			if (parse_uint(argv[++i], 1ul << 40, &o->count) || !o->count)
				return usage_error(c, "bad --count '%s'", argv[i]);
		} else if (!strcmp(a, "--timeout") && i + 1 < argc) {
			if (parse_uint(argv[++i], 0x7fffffff, &o->timeout_ms))
				return usage_error(c, "bad --timeout '%s'", argv[i]);
			o->timeout_set = true;
		} else if (a[0] == '-' || o->path) {
			return usage_error(c, "unexpected argument '%s'", a);
		} else {
			o->path = a;
		}
	}
	if (!o->path)
		return usage_error(c, "which REGION/CHANNEL?");
	return 0;
}

static int open_chan(const struct cmd *c, const struct io_opts *o, struct shmipc **shm,
		     struct shmipc_chan **ch)
{
	struct shmipc_options ro = { .size = o->size };
	struct shmipc_chan_options co = { 0 };
	char region[64], channel[64];
	int err;

	if (split_path(o->path, region, channel) || !*channel)
		return usage_error(c, "'%s' is not REGION/CHANNEL", o->path);
	if (o->create) {
		ro.flags = SHMIPC_OPEN_CREATE;
		co.flags = SHMIPC_CHAN_CREATE;
	}
	err = shmipc_open(region, &ro, shm);
	if (err)
		return fail(err, "%s %s", c->name, region);
	err = shmipc_chan_open(*shm, channel, &co, ch);
	if (err) {
		shmipc_close(*shm);
		return fail(err, "%s %s", c->name, o->path);
	}
	return 0;
}

static int send_run(int argc, char **argv)
{
	int timeout, err = 0, ret;
	struct shmipc_chan *ch;
	struct shmipc *shm;
	struct io_opts o;
	size_t len = 0, cap = 0;
	char *buf = NULL;
	ssize_t n;

	ret = parse_io(&cmd_send, argc, argv, &o, true);
	if (ret)
		return ret;
	ret = open_chan(&cmd_send, &o, &shm, &ch);
	if (ret)
		return ret;
	timeout = o.timeout_set ? (int)o.timeout_ms : -1;
	if (o.raw) {		/* the whole input, one message */
		char chunk[65536];

		while ((n = read(0, chunk, sizeof(chunk))) > 0) {
			if (len + (size_t)n > cap) {
				char *nb = realloc(buf, cap = (len + (size_t)n) * 2);

				if (!nb) {
					err = -ENOMEM;
					break;
				}
				buf = nb;
			}
			memcpy(buf + len, chunk, (size_t)n);
			len += (size_t)n;
		}
		if (!err && n < 0)
			err = -errno;
		if (!err)
			err = shmipc_send(ch, buf, len, (uint32_t)o.type, timeout);
	} else {		/* one message per line, without its newline */
		FILE *in = stdin;

		while ((n = getline(&buf, &cap, in)) >= 0) {
			if (n && buf[n - 1] == '\n')
				n--;
			err = shmipc_send(ch, buf, (size_t)n, (uint32_t)o.type, timeout);
			if (err)
				break;
		}
	}
	free(buf);
	shmipc_chan_close(ch);
	shmipc_close(shm);
	return err ? fail(err, "send %s", o.path) : 0;
}

const struct cmd cmd_send = {
	"send", "send standard input to a channel, a message per line",
	"  send REGION/CHANNEL [--type N] [--raw] [--timeout MS] [--create [--size BYTES]]\n"
	"  Each input line is a message (without its newline); --raw sends the\n"
	"  whole input as one. --timeout bounds the wait for room (default: wait).\n"
	"  --create makes the region (BYTES, default 16 MiB) and an mpmc channel\n"
	"  when missing.\n",
	send_run,
};

static int recv_run(int argc, char **argv)
{
	struct shmipc_chan_options sub = { .flags = SHMIPC_CHAN_SUBSCRIBE };
	struct shmipc_chan_stats st;
	struct shmipc_chan *ch;
	struct shmipc_msg msg;
	struct shmipc *shm;
	struct io_opts o;
	unsigned long got;
	int timeout, err = 0, ret;

	ret = parse_io(&cmd_recv, argc, argv, &o, false);
	if (ret)
		return ret;
	ret = open_chan(&cmd_recv, &o, &shm, &ch);
	if (ret)
		return ret;
	/* A broadcast channel needs a subscription to receive. */
	if (!shmipc_chan_stats(ch, &st) && st.mode == SHMIPC_CHAN_BROADCAST) {
		char region[64], channel[64];

		split_path(o.path, region, channel);
		shmipc_chan_close(ch);
		err = shmipc_chan_open(shm, channel, &sub, &ch);
		if (err) {
			shmipc_close(shm);
			return fail(err, "recv %s", o.path);
		}
	}
	timeout = o.timeout_set ? (int)o.timeout_ms : -1;
	for (got = 0; got < o.count; got++) {
		err = shmipc_recv(ch, &msg, timeout);
		if (err)
			break;
		if (fwrite(msg.data, 1, msg.size, stdout) != msg.size ||
		    (!o.raw && putchar('\n') == EOF))
			err = -EIO;
		shmipc_msg_release(&msg);
		if (err)
			break;
	}
	fflush(stdout);
	shmipc_chan_close(ch);
	shmipc_close(shm);
	if (err == -ETIMEDOUT)
		return fail(0, "recv %s: timed out after %lu of %lu messages", o.path,
			    got, o.count);
	return err ? fail(err, "recv %s", o.path) : 0;
}

const struct cmd cmd_recv = {
	"recv", "receive messages from a channel to standard output",
	"  recv REGION/CHANNEL [--count N] [--timeout MS] [--raw]\n"
	"  Prints N messages (default 1), each followed by a newline unless --raw.\n"
	"  --timeout bounds each wait (default: wait for ever); running out is an\n"
	"  error (exit 1). A broadcast channel is subscribed to from now on.\n",
	recv_run,
};

static int rm_run(int argc, char **argv)
{
	char region[64], channel[64];
	struct shmipc *shm;
	int err;

	if (argc != 2 || argv[1][0] == '-')
		return usage_error(&cmd_rm, "expected one REGION[/CHANNEL]");
	if (split_path(argv[1], region, channel))
		return usage_error(&cmd_rm, "'%s' is not REGION[/CHANNEL]", argv[1]);
	if (!*channel) {
		err = shmipc_unlink(region, SHMIPC_BACKEND_AUTO);
		if (err == -ENOENT) {	/* maybe on the other backend */
			const char *def = shmipc_default_backend();

			err = shmipc_unlink(region, def && !strcmp(def, "kmod") ?
					    SHMIPC_BACKEND_POSIX : SHMIPC_BACKEND_KMOD);
		}
		return err ? fail(err, "rm %s", region) : 0;
	}
	err = shmipc_open(region, NULL, &shm);
	if (err)
		return fail(err, "rm %s", region);
	err = shmipc_chan_remove(shm, channel);
	if (err == -EINVAL)	/* a named buffer, not a channel */
		err = shmipc_buffer_remove(shm, channel);
	shmipc_close(shm);
	return err ? fail(err, "rm %s", argv[1]) : 0;
}

const struct cmd cmd_rm = {
	"rm", "remove a region, or a channel or buffer in one",
	"  rm REGION            unlink the region (its memory lives while mapped)\n"
	"  rm REGION/CHANNEL    remove the name; queued messages are freed with the\n"
	"                       last handle\n",
	rm_run,
};
