/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A watch stream (GET collection?watch=true): one JSON event per line,
 * delivered as signals. The watch resumes from the last resourceVersion when
 * the stream ends or breaks, re-lists (restarts without a resourceVersion,
 * so current objects come again as ADDED) on 410 Gone, and stops with
 * "failed" on errors a retry cannot fix (401 after refresh, 403, 404).
 */
#pragma once

#include "pds-kube-client.h"

G_BEGIN_DECLS

#define PDS_TYPE_KUBE_WATCH (pds_kube_watch_get_type())
G_DECLARE_FINAL_TYPE(PdsKubeWatch, pds_kube_watch, PDS, KUBE_WATCH, GObject)

/*
 * Signals:
 *   "connected" ()                                   the stream is open (each (re)connect)
 *   "event" (const char *type, JsonNode *object)     ADDED, MODIFIED or DELETED
 *   "reconnecting" (const GError *reason)            the stream broke; retrying
 *   "failed" (const GError *error)                   the watch stopped for good
 */

/*
 * @path: a collection path such as /api/v1/namespaces/NS/pods or /api/v1/pods.
 * @resource_version: where to start (from a List), or NULL for "now, with the
 * current objects as ADDED events".
 */
PdsKubeWatch *pds_kube_watch_new(PdsKubeClient *client,
				 const char *path,
				 const char *label_selector,
				 const char *field_selector,
				 const char *resource_version);
/*
 * Asks the server to end each stream after @seconds (timeoutSeconds), as
 * client-go's reflectors do, so a silently dead connection is noticed; the
 * watch then resumes where it was. 0 (the default) leaves it to the server.
 */
void pds_kube_watch_set_timeout_seconds(PdsKubeWatch *self, guint seconds);
void pds_kube_watch_start(PdsKubeWatch *self);
void pds_kube_watch_stop(PdsKubeWatch *self);
const char *pds_kube_watch_get_resource_version(PdsKubeWatch *self);

G_END_DECLS
