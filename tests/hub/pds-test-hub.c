/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The real podscope-hub as a child process of a C test (see the header). */
#include "config.h"

#include "pds-test-hub.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <stdio.h>

gchar *
pds_test_hub_binary(void)
{
	const char *env = g_getenv("PODSCOPE_HUB_BIN");
	const char *root = g_getenv("PDS_BUILD_ROOT");

	if (env != NULL)
		return g_strdup(env);
	return g_build_filename(root != NULL ? root : PDS_BUILD_ROOT, "hub", "podscope-hub", NULL);
}

GSubprocess *
pds_test_hub_spawn(const char *dir,
		   const char *const *args,
		   guint16 *ingest_port,
		   guint16 *api_port)
{
	g_autofree gchar *bin = pds_test_hub_binary();
	g_autofree gchar *ready = g_build_filename(dir, "ready.json", NULL);
	g_autofree gchar *log = g_build_filename(dir, "hub.log", NULL);
	g_autoptr(GSubprocessLauncher) launcher =
		g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_autoptr(GError) error = NULL;
	g_autofree gchar *json = NULL;
	g_autofree gchar *expected_pid = NULL;
	gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	GSubprocess *hub;
	guint ip = 0, ap = 0;
	int pid = 0;

	g_unlink(ready);
	g_ptr_array_add(argv, bin);
	for (guint i = 0; args[i] != NULL; i++)
		g_ptr_array_add(argv, (gpointer)args[i]);
	g_ptr_array_add(argv, "--ready-file");
	g_ptr_array_add(argv, ready);
	g_ptr_array_add(argv, NULL);
	g_subprocess_launcher_set_stderr_file_path(launcher, log);
	g_subprocess_launcher_set_stdout_file_path(launcher, log);
	hub = g_subprocess_launcher_spawnv(launcher, (const gchar *const *)argv->pdata, &error);
	g_assert_no_error(error);
	while (!g_file_get_contents(ready, &json, NULL, NULL)) {
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		/* NULL once it has exited: its log says why */
		g_assert_nonnull(g_subprocess_get_identifier(hub));
		g_usleep(10000);
	}
	g_assert_cmpint(
		sscanf(json, "{\"ingest_port\":%u,\"api_port\":%u,\"pid\":%d}", &ip, &ap, &pid), ==,
		3);
	expected_pid = g_strdup_printf("%d", pid);
	g_assert_cmpstr(g_subprocess_get_identifier(hub), ==, expected_pid);
	*ingest_port = (guint16)ip;
	*api_port = (guint16)ap;
	return hub;
}

void
pds_test_hub_kill9(GSubprocess **hub)
{
	g_subprocess_send_signal(*hub, SIGKILL);
	g_assert_true(g_subprocess_wait(*hub, NULL, NULL));
	g_clear_object(hub);
}

void
pds_test_hub_stop(GSubprocess **hub)
{
	if (*hub == NULL)
		return;
	g_subprocess_send_signal(*hub, SIGTERM);
	g_subprocess_wait(*hub, NULL, NULL);
	g_clear_object(hub);
}

PdsTlsIdentity *
pds_test_hub_make_credentials(const char *dir, const char *ca_name, const char *server_file)
{
	const char *hosts[] = {"podscope-hub", "127.0.0.1", NULL};
	g_autoptr(PdsTlsIdentity) ca = NULL;
	g_autoptr(PdsTlsIdentity) server = NULL;
	g_autoptr(GError) error = NULL;

	ca = pds_tls_identity_new_ca(ca_name, &error);
	g_assert_no_error(error);
	server = pds_tls_identity_issue(ca, "podscope-hub", PDS_TLS_USAGE_SERVER, hosts, 0, 86400,
					&error);
	g_assert_no_error(error);
	g_assert_true(pds_tls_identity_save(ca, dir, "ca", &error));
	g_assert_true(pds_tls_identity_save(server, dir, server_file, &error));
	g_assert_no_error(error);
	return g_steal_pointer(&ca);
}

void
pds_test_hub_remove_dir(gchar **dir)
{
	if (!g_test_failed()) {
		g_autofree gchar *cmd = g_strdup_printf("rm -rf '%s'", *dir);
		g_assert_true(g_spawn_command_line_sync(cmd, NULL, NULL, NULL, NULL));
	} else {
		g_test_message("work directory kept: %s", *dir);
	}
	g_clear_pointer(dir, g_free);
}

gchar *
pds_test_hub_log(const char *dir)
{
	g_autofree gchar *path = g_build_filename(dir, "hub.log", NULL);
	gchar *text = NULL;

	g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
	return text;
}
