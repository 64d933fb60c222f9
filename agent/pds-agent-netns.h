/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Network namespaces for the agent: resolve "NAME" (iproute2's /run/netns/NAME)
 * or an nsfs path, and switch the calling thread into it just long enough to
 * open a capture. A packet socket stays bound to the namespace it was created
 * in, so everything else (the hub connection) runs where the agent started.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Where iproute2 keeps named network namespaces. */
#define PDS_AGENT_NETNS_DIR "/run/netns"

/*
 * The nsfs path for @name_or_path: a value with a '/' is a path, anything
 * else a name under PDS_AGENT_NETNS_DIR. The path must open as a network
 * namespace; when it does not, the error names it and lists the named
 * namespaces that exist.
 */
gchar *pds_agent_netns_resolve(const char *name_or_path, GError **error);

/* Named network namespaces in PDS_AGENT_NETNS_DIR, sorted (NULL-terminated, maybe empty). */
GStrv pds_agent_netns_list_names(void);

/* A short name for logs and identities: the base name of the path. */
gchar *pds_agent_netns_display_name(const char *name_or_path);

/*
 * Moves the calling thread into the network namespace at @path. Returns a
 * file descriptor on the namespace the thread was in, to give to
 * pds_agent_netns_leave(), or -1 with @error set.
 */
int pds_agent_netns_enter(const char *path, GError **error);

/* Moves the calling thread back to @saved_fd's namespace and closes it. */
gboolean pds_agent_netns_leave(int saved_fd, GError **error);

G_END_DECLS
