/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The demo's two network namespaces, "pds-demo-<pid>-client" and
 * "pds-demo-<pid>-web", joined by a veth pair (eth0 in each) on a private
 * /24 that exists only between them. Made and removed with iproute2.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define PDS_DEMO_CLIENT_ADDRESS "10.240.0.1"
#define PDS_DEMO_WEB_ADDRESS	"10.240.0.2"

typedef struct {
	gchar *client; /* netns name */
	gchar *web;    /* netns name */
	gboolean created_client;
	gboolean created_web;
} PdsDemoNetns;

/* Removes namespaces of earlier demos whose process is gone. */
void pds_demo_netns_sweep_stale(void);
/* Creates both namespaces and the link; on failure removes what it made. */
PdsDemoNetns *pds_demo_netns_new(GError **error);
/* Removes the namespaces (idempotent); FALSE with error when `ip` failed. */
gboolean pds_demo_netns_remove(PdsDemoNetns *netns, GError **error);
/* Removes (errors are logged) and frees. */
void pds_demo_netns_free(PdsDemoNetns *netns);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PdsDemoNetns, pds_demo_netns_free)

/* /run/netns/<name> */
gchar *pds_demo_netns_path(const char *name);
/* Moves the calling thread (only) into network namespace @path. */
gboolean pds_demo_netns_enter(const char *path, GError **error);

G_END_DECLS
