/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <gio/gio.h>

#include "pds-snoop-config.h"

static void
test_defaults(void)
{
	g_autoptr(PdsSnoopConfig) c = pds_snoop_config_new();
	const char *env[] = {NULL};
	g_autoptr(GError) error = NULL;

	g_assert_true(pds_snoop_config_load(c, env, NULL, NULL, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(c->interval_secs, ==, 10);
	g_assert_cmpuint(c->ringbuf_size, ==, 4 * 1024 * 1024);
	g_assert_cmpstrv(c->exclude, ((const char *const[]){"/proc", "/sys", "/dev", NULL}));
	g_assert_null(c->hub);
	g_assert_false(c->stream_all);
}

static void
test_env_and_flags(void)
{
	g_autoptr(PdsSnoopConfig) c = pds_snoop_config_new();
	const char *env[] = {"SNOOP_INTERVAL=5",
			     "SNOOP_RINGBUF_SIZE=8M",
			     "SNOOP_EXCLUDE=/proc, /tmp",
			     "SNOOP_STREAM_ALL=yes",
			     "SNOOP_LABELS=app=web,tier=front",
			     "SNOOP_POD=web-1",
			     NULL};
	g_autoptr(GError) error = NULL;
	char *args[] = {(char *)"podscope-snoop", (char *)"--interval", (char *)"7", NULL};
	char **argv = args;
	int argc = 3;

	g_assert_true(pds_snoop_config_load(c, env, &argc, &argv, &error));
	g_assert_no_error(error);
	/* The flag wins over the variable. */
	g_assert_cmpuint(c->interval_secs, ==, 7);
	g_assert_cmpuint(c->ringbuf_size, ==, 8 * 1024 * 1024);
	g_assert_cmpstrv(c->exclude, ((const char *const[]){"/proc", "/tmp", NULL}));
	g_assert_true(c->stream_all);
	g_assert_cmpstrv(c->labels, ((const char *const[]){"app=web", "tier=front", NULL}));
	g_assert_cmpstr(c->pod, ==, "web-1");
}

static void
test_invalid(void)
{
	const struct {
		const char *var;
		const char *value;
		const char *form; /* part of the message */
	} cases[] = {
		{"SNOOP_INTERVAL", "soon", "whole seconds"},
		{"SNOOP_INTERVAL", "0", "whole seconds"},
		{"SNOOP_INTERVAL", "99999999", "whole seconds"},
		{"SNOOP_RINGBUF_SIZE", "3M", "power of two"},
		{"SNOOP_RINGBUF_SIZE", "1k", "power of two"},
		{"SNOOP_WAKEUP_BYTES", "lots", "bytes"},
		{"SNOOP_EXCLUDE", "proc", "absolute path"},
		{"SNOOP_LRU_SIZE", "-1", "whole number"},
		{"SNOOP_STREAM_ALL", "maybe", "true"},
		{"SNOOP_METRICS", "9090", "ADDR:PORT"},
		{"SNOOP_METRICS", "0.0.0.0:70000", "ADDR:PORT"},
		{"SNOOP_HUB", "hub", "HOST:PORT"},
		{"SNOOP_LABELS", "app", "key=value"},
		{"SNOOP_LOG_LEVEL", "loud", "debug"},
		{"SNOOP_REPORT", "", "file path"},
		{"SNOOP_RUNTIME_CONFIGS", "/run/config.json", "{id}"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(PdsSnoopConfig) c = pds_snoop_config_new();
		g_autoptr(GError) error = NULL;
		g_autofree gchar *kv = g_strdup_printf("%s=%s", cases[i].var, cases[i].value);
		const char *env[] = {kv, NULL};

		g_assert_false(pds_snoop_config_load(c, env, NULL, NULL, &error));
		g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
		g_assert_nonnull(strstr(error->message, cases[i].var));
		g_assert_nonnull(strstr(error->message, cases[i].form));
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/snoop/config/defaults", test_defaults);
	g_test_add_func("/snoop/config/env-and-flags", test_env_and_flags);
	g_test_add_func("/snoop/config/invalid", test_invalid);
	return g_test_run();
}
