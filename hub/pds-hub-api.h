/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The hub's HTTP API (libsoup 3): /healthz, /v1/sources, /v1/names,
 * /v1/capture.pcapng, /v1/records and the /v1/live WebSocket, every request
 * authorised by the session's bearer token; and the web viewer's static
 * files at / and /viewer/, which need none (pds-hub-viewer.h).
 */
#pragma once

#include <gio/gio.h>

#include "pds-hub-source.h"
#include "pds-hub-store.h"

G_BEGIN_DECLS

typedef struct _PdsHubApi PdsHubApi;

PdsHubApi *pds_hub_api_new(const char *token, PdsHubStore *store, PdsHubSourceTable *sources);
void pds_hub_api_free(PdsHubApi *api);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PdsHubApi, pds_hub_api_free)

/* Listens on @address ("ADDR:PORT", port 0 picks one); returns the bound port. */
gboolean pds_hub_api_listen(PdsHubApi *api, const char *address, guint16 *port, GError **error);
guint pds_hub_api_get_n_streams(PdsHubApi *api);

G_END_DECLS
