/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* File-descriptor watches that stay in the poll set (see the header). */
#include "config.h"

#include "pds-fd-watch.h"

guint
pds_fd_watch_attach(GSource *source, GMainContext *context)
{
	g_return_val_if_fail(source != NULL, 0);

	g_source_set_can_recurse(source, TRUE);
	return g_source_attach(source, context);
}

guint
pds_fd_watch_add(gint fd, GIOCondition condition, GUnixFDSourceFunc func, gpointer user_data)
{
	g_autoptr(GSource) source = NULL;

	g_return_val_if_fail(fd >= 0, 0);
	g_return_val_if_fail(func != NULL, 0);

	source = g_unix_fd_source_new(fd, condition);
	g_source_set_callback(source, G_SOURCE_FUNC(func), user_data, NULL);
	return pds_fd_watch_attach(source, NULL);
}
