// SPDX-License-Identifier: MIT
/*
 * shmipc status, shmipc module load|unload: the kernel module through
 * libkmod, and which backend the library would pick.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <libkmod.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define MODNAME		"shmipc"
#define SYSMOD		"/sys/module/" MODNAME
#define DEVICE		"/dev/shmipc"

static const char *initstate_name(int st)
{
	switch (st) {
	case KMOD_MODULE_LIVE:
		return "loaded";
	case KMOD_MODULE_COMING:
		return "loading";
	case KMOD_MODULE_GOING:
		return "unloading";
	case KMOD_MODULE_BUILTIN:
		return "built in";
	}
	return "not loaded";
}

static struct kmod_module *module_by_name(struct kmod_ctx **ctx, int *err)
{
	struct kmod_module *mod = NULL;

	*ctx = kmod_new(NULL, NULL);
	if (!*ctx) {
		*err = -ENOMEM;
		return NULL;
	}
	*err = kmod_module_new_from_name(*ctx, MODNAME, &mod);
	return mod;
}

static void read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	buf[0] = 0;
	if (f) {
		if (fgets(buf, (int)len, f))
			buf[strcspn(buf, "\n")] = 0;
		fclose(f);
	}
}

static int status_run(int argc, char **argv)
{
	bool json = argc == 2 && !strcmp(argv[1], "--json");
	char version[64], buf[128], path[300];
	const char *backend = shmipc_default_backend();
	struct kmod_module *mod;
	struct kmod_ctx *ctx;
	struct dirent *d;
	struct stat st;
	bool first = true;
	int state, err;
	DIR *dir;

	if (argc > 2 || (argc == 2 && !json))
		return usage_error(&cmd_status, "unexpected argument '%s'", argv[1]);
	mod = module_by_name(&ctx, &err);
	state = mod ? kmod_module_get_initstate(mod) : -ENOENT;
	read_line(SYSMOD "/version", version, sizeof(version));
	if (json) {
		printf("{\"module\":");
		json_string(stdout, initstate_name(state));
		printf(",\"version\":");
		json_string(stdout, version);
		printf(",\"parameters\":{");
	} else {
		printf("module:     %s%s%s\n", initstate_name(state),
		       *version ? ", version " : "", version);
	}
	dir = opendir(SYSMOD "/parameters");
	while (dir && (d = readdir(dir))) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), SYSMOD "/parameters/%s", d->d_name);
		read_line(path, buf, sizeof(buf));
		if (json) {
			printf("%s", first ? "" : ",");
			json_string(stdout, d->d_name);
			putchar(':');
			json_string(stdout, buf);
		} else {
			printf("%s%s=%s", first ? "parameters: " : " ", d->d_name, buf);
		}
		first = false;
	}
	if (dir)
		closedir(dir);
	if (!json && !first)
		putchar('\n');
	err = stat(DEVICE, &st);
	if (json) {
		printf("},\"device\":%s", err ? "null" : "");
		if (!err)
			printf("{\"path\":\"" DEVICE "\",\"mode\":\"%04o\"}", st.st_mode & 07777);
		printf(",\"backend\":");
		if (backend)
			json_string(stdout, backend);
		else
			printf("null");
		printf("}\n");
	} else {
		if (err)
			printf("device:     " DEVICE " absent\n");
		else
			printf("device:     " DEVICE ", mode %04o%s\n", st.st_mode & 07777,
			       access(DEVICE, R_OK | W_OK) ? ", not usable by you" : "");
		printf("backend:    %s\n", backend ? backend :
		       "none: SHMIPC_BACKEND names no backend (kmod or posix)");
	}
	kmod_module_unref(mod);
	kmod_unref(ctx);
	return 0;
}

const struct cmd cmd_status = {
	"status", "show the module, its parameters, the device and the backend",
	"  --json    one JSON object instead of text\n",
	status_run,
};

static int explain(int err, const char *what)
{
	switch (-err) {
	case EPERM:
	case EACCES:
		return fail(0, "%s: permission denied (needs root: CAP_SYS_MODULE)", what);
	case EEXIST:
		return fail(0, "%s: the module is already loaded", what);
	case EBUSY:
	case EAGAIN:
		return fail(0, "%s: the module is in use (region fds or mappings are open)", what);
	}
	return fail(err, "%s", what);
}

static int module_load(const char *path)
{
	struct kmod_module *mod = NULL;
	struct kmod_ctx *ctx = kmod_new(NULL, NULL);
	int err;

	if (!ctx)
		return fail(-ENOMEM, "libkmod");
	if (path) {
		if (access(path, R_OK))
			err = -errno;
		else
			err = kmod_module_new_from_path(ctx, path, &mod);
		if (!err)
			err = kmod_module_insert_module(mod, 0, NULL);
	} else {
		err = kmod_module_new_from_name(ctx, MODNAME, &mod);
		if (!err && !kmod_module_get_path(mod))
			err = -ENOENT;
		if (!err)
			err = kmod_module_probe_insert_module(mod, KMOD_PROBE_FAIL_ON_LOADED,
							      NULL, NULL, NULL, NULL);
	}
	kmod_module_unref(mod);
	kmod_unref(ctx);
	if (err == -ENOENT)
		return fail(0, "load: %s", path ? "no module file there" :
			    "shmipc.ko is not installed for this kernel; give its path");
	if (err)
		return explain(err, "load");
	printf("loaded %s\n", path ? path : MODNAME);
	return 0;
}

static int module_unload(void)
{
	struct kmod_module *mod;
	struct kmod_ctx *ctx;
	int err;

	mod = module_by_name(&ctx, &err);
	if (!err && kmod_module_get_initstate(mod) < 0)
		err = -ENOENT;
	if (!err)
		err = kmod_module_remove_module(mod, 0);
	kmod_module_unref(mod);
	kmod_unref(ctx);
	if (err == -ENOENT)
		return fail(0, "unload: the module is not loaded");
	if (err)
		return explain(err, "unload");
	printf("unloaded " MODNAME "\n");
	return 0;
}

static int module_run(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "load") && argc <= 3)
		return module_load(argc == 3 ? argv[2] : NULL);
	if (argc == 2 && !strcmp(argv[1], "unload"))
		return module_unload();
	return usage_error(&cmd_module, "expected 'load [PATH]' or 'unload'");
}

const struct cmd cmd_module = {
	"module", "load or unload the kernel module (root)",
	"  module load [PATH]   insert PATH (a shmipc.ko), or the module installed\n"
	"                       for the running kernel\n"
	"  module unload        remove it; refused while regions are open or mapped\n",
	module_run,
};
