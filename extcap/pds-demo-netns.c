/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

/* setns(), CLONE_NEWNET */
#define _GNU_SOURCE

#define G_LOG_DOMAIN "PdsDemo"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gi18n.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "pds-demo-netns.h"

#define PDS_DEMO_NETNS_PREFIX "pds-demo-"

static gboolean
run_ip(GError **error, ...)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_autofree gchar *err_text = NULL;
	g_autofree gchar *cmdline = NULL;
	g_autoptr(GError) error_local = NULL;
	gint status = 0;
	va_list ap;
	const char *arg;

	g_ptr_array_add(argv, (gpointer) "ip");
	va_start(ap, error);
	while ((arg = va_arg(ap, const char *)) != NULL)
		g_ptr_array_add(argv, (gpointer)arg);
	va_end(ap);
	g_ptr_array_add(argv, NULL);
	cmdline = g_strjoinv(" ", (gchar **)argv->pdata);
	g_debug("running %s", cmdline);

	if (!g_spawn_sync(NULL, (gchar **)argv->pdata, NULL,
			  G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
			  &err_text, &status, &error_local)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
			    /* TRANSLATORS: %s are a command line and the reason */
			    _("cannot run “%s”: %s (is iproute2 installed?)"), cmdline,
			    error_local->message);
		return FALSE;
	}
	if (!g_spawn_check_wait_status(status, NULL)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
			    /* TRANSLATORS: %s are a command line and its error output */
			    _("“%s” failed: %s"), cmdline,
			    err_text != NULL ? g_strstrip(err_text) : "");
		return FALSE;
	}
	return TRUE;
}

gchar *
pds_demo_netns_path(const char *name)
{
	return g_build_filename("/run/netns", name, NULL);
}

gboolean
pds_demo_netns_enter(const char *path, GError **error)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
		int saved = errno;
		if (fd >= 0)
			close(fd);
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
			    /* TRANSLATORS: %s are a path and the system's error text */
			    _("cannot enter network namespace %s: %s"), path, g_strerror(saved));
		return FALSE;
	}
	close(fd);
	return TRUE;
}

void
pds_demo_netns_sweep_stale(void)
{
	g_autoptr(GDir) dir = g_dir_open("/run/netns", 0, NULL);
	const char *name;

	if (dir == NULL)
		return;
	while ((name = g_dir_read_name(dir)) != NULL) {
		const char *p;
		g_autofree gchar *pid_text = NULL;
		guint64 pid = 0;

		if (!g_str_has_prefix(name, PDS_DEMO_NETNS_PREFIX))
			continue;
		p = name + strlen(PDS_DEMO_NETNS_PREFIX);
		pid_text = g_strndup(p, strcspn(p, "-"));
		if (!g_ascii_string_to_unsigned(pid_text, 10, 1, G_MAXINT32, &pid, NULL))
			continue;
		/* Alive (or not ours to judge): leave it. */
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		g_message("removing network namespace %s left by an earlier demo (pid "
			  "%" G_GUINT64_FORMAT " is gone)",
			  name, pid);
		if (!run_ip(NULL, "netns", "delete", name, NULL))
			g_warning("cannot remove stale network namespace %s", name);
	}
}

PdsDemoNetns *
pds_demo_netns_new(GError **error)
{
	g_autoptr(PdsDemoNetns) netns = g_new0(PdsDemoNetns, 1);
	const char *client_cidr = PDS_DEMO_CLIENT_ADDRESS "/24";
	const char *web_cidr = PDS_DEMO_WEB_ADDRESS "/24";

	netns->client = g_strdup_printf(PDS_DEMO_NETNS_PREFIX "%d-client", (int)getpid());
	netns->web = g_strdup_printf(PDS_DEMO_NETNS_PREFIX "%d-web", (int)getpid());

	if (!run_ip(error, "netns", "add", netns->client, NULL))
		return NULL;
	netns->created_client = TRUE;
	if (!run_ip(error, "netns", "add", netns->web, NULL))
		return NULL;
	netns->created_web = TRUE;
	/* Both ends are made inside their namespaces: no name can clash on the host. */
	if (!run_ip(error, "link", "add", "eth0", "netns", netns->client, "type", "veth", "peer",
		    "name", "eth0", "netns", netns->web, NULL) ||
	    !run_ip(error, "-n", netns->client, "address", "add", client_cidr, "dev", "eth0",
		    NULL) ||
	    !run_ip(error, "-n", netns->web, "address", "add", web_cidr, "dev", "eth0", NULL) ||
	    !run_ip(error, "-n", netns->client, "link", "set", "lo", "up", NULL) ||
	    !run_ip(error, "-n", netns->web, "link", "set", "lo", "up", NULL) ||
	    !run_ip(error, "-n", netns->client, "link", "set", "eth0", "up", NULL) ||
	    !run_ip(error, "-n", netns->web, "link", "set", "eth0", "up", NULL))
		return NULL;
	return g_steal_pointer(&netns);
}

gboolean
pds_demo_netns_remove(PdsDemoNetns *netns, GError **error)
{
	gboolean ok = TRUE;

	g_return_val_if_fail(netns != NULL, FALSE);
	if (netns->created_client) {
		if (run_ip(error, "netns", "delete", netns->client, NULL))
			netns->created_client = FALSE;
		else
			ok = FALSE;
	}
	if (netns->created_web) {
		if (run_ip(ok ? error : NULL, "netns", "delete", netns->web, NULL))
			netns->created_web = FALSE;
		else
			ok = FALSE;
	}
	return ok;
}

void
pds_demo_netns_free(PdsDemoNetns *netns)
{
	g_autoptr(GError) error = NULL;

	if (netns == NULL)
		return;
	if (!pds_demo_netns_remove(netns, &error))
		g_warning("%s", error->message);
	g_free(netns->client);
	g_free(netns->web);
	g_free(netns);
}
