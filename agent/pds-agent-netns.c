/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

/* setns() and CLONE_NEWNET */
#define _GNU_SOURCE

#define G_LOG_DOMAIN "PdsAgent"

#include "pds-agent-netns.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <sched.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

static gint
pds_agent_netns_strcmp(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

GStrv
pds_agent_netns_list_names(void)
{
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GDir) dir = g_dir_open(PDS_AGENT_NETNS_DIR, 0, NULL);

	if (dir != NULL) {
		const char *name;
		while ((name = g_dir_read_name(dir)) != NULL)
			g_ptr_array_add(names, g_strdup(name));
	}
	g_ptr_array_sort(names, pds_agent_netns_strcmp);
	g_ptr_array_add(names, NULL);
	return (GStrv)g_ptr_array_free(g_steal_pointer(&names), FALSE);
}

/* "a, b, c" or a sentence saying there are none, for error messages. */
static gchar *
pds_agent_netns_describe_existing(void)
{
	g_auto(GStrv) names = pds_agent_netns_list_names();

	if (names[0] == NULL)
		return g_strdup_printf("no named network namespaces exist in %s",
				       PDS_AGENT_NETNS_DIR);
	{
		g_autofree gchar *joined = g_strjoinv(", ", names);
		return g_strdup_printf("existing namespaces in %s: %s", PDS_AGENT_NETNS_DIR,
				       joined);
	}
}

gchar *
pds_agent_netns_display_name(const char *name_or_path)
{
	g_return_val_if_fail(name_or_path != NULL, NULL);
	return g_path_get_basename(name_or_path);
}

gchar *
pds_agent_netns_resolve(const char *name_or_path, GError **error)
{
	g_autofree gchar *path = NULL;
	struct statfs sfs;
	int fd;

	g_return_val_if_fail(name_or_path != NULL, NULL);

	if (name_or_path[0] == '\0' || g_strcmp0(name_or_path, ".") == 0 ||
	    g_strcmp0(name_or_path, "..") == 0) {
		g_autofree gchar *existing = pds_agent_netns_describe_existing();
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "'%s' is not a network namespace name; %s", name_or_path, existing);
		return NULL;
	}
	if (strchr(name_or_path, '/') != NULL)
		path = g_strdup(name_or_path);
	else
		path = g_build_filename(PDS_AGENT_NETNS_DIR, name_or_path, NULL);

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int saved = errno;
		g_autofree gchar *existing = pds_agent_netns_describe_existing();
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
			    "network namespace '%s' not found: cannot open %s: %s; %s",
			    name_or_path, path, g_strerror(saved), existing);
		return NULL;
	}
	if (fstatfs(fd, &sfs) != 0 || sfs.f_type != NSFS_MAGIC) {
		g_autofree gchar *existing = pds_agent_netns_describe_existing();
		close(fd);
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "'%s' (%s) is not a namespace file (expected a bind mount of "
			    "/proc/PID/ns/net); %s",
			    name_or_path, path, existing);
		return NULL;
	}
	close(fd);
	return g_steal_pointer(&path);
}

int
pds_agent_netns_enter(const char *path, GError **error)
{
	int saved_fd;
	int target_fd;

	g_return_val_if_fail(path != NULL, -1);

	/* The thread's own namespace, not the process's: only this thread moves. */
	saved_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (saved_fd < 0) {
		int saved = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
			    "cannot open the current network namespace (/proc/thread-self/ns/net): "
			    "%s; is /proc mounted?",
			    g_strerror(saved));
		return -1;
	}
	target_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (target_fd < 0) {
		int saved = errno;
		close(saved_fd);
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
			    "cannot open network namespace %s: %s", path, g_strerror(saved));
		return -1;
	}
	if (setns(target_fd, CLONE_NEWNET) != 0) {
		int saved = errno;
		close(target_fd);
		close(saved_fd);
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
			    "cannot enter network namespace %s: %s%s", path, g_strerror(saved),
			    saved == EPERM ? " (entering a namespace needs CAP_SYS_ADMIN)" : "");
		return -1;
	}
	close(target_fd);
	return saved_fd;
}

gboolean
pds_agent_netns_leave(int saved_fd, GError **error)
{
	g_return_val_if_fail(saved_fd >= 0, FALSE);

	if (setns(saved_fd, CLONE_NEWNET) != 0) {
		int saved = errno;
		close(saved_fd);
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
			    "cannot return to the original network namespace: %s",
			    g_strerror(saved));
		return FALSE;
	}
	close(saved_fd);
	return TRUE;
}
