/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The /v1/live WebSocket of the web viewer (subprotocol "podscope.v1").
 * The hub sends JSON text messages:
 *
 *   {"type":"hello","protocol":"podscope.v1","end_index":N}
 *   {"type":"records","seq":S,"records":[...]}   see pds-hub-records.h
 *   {"type":"sources","sources":[...]}           as GET /v1/sources, every
 *                                                second when it changed
 *   {"type":"skipped","count":N,"next_index":I}  records the client was too
 *                                                slow for
 *
 * and the client answers each records message with {"ack":S}. At most
 * PDS_HUB_LIVE_WINDOW records messages are unacknowledged per connection,
 * so a slow browser holds at most that much in the hub's send queue; the
 * rest stays in the store. When such a client falls more than
 * PDS_HUB_LIVE_MAX_LAG blocks behind (environment PODSCOPE_HUB_LIVE_MAX_LAG
 * overrides it: for very busy sessions, and for tests), it skips to the
 * present and is told how many records it missed.
 */
#pragma once

#include <libsoup/soup.h>

#include "pds-hub-source.h"
#include "pds-hub-store.h"

G_BEGIN_DECLS

#define PDS_HUB_LIVE_PROTOCOL "podscope.v1"
#define PDS_HUB_LIVE_WINDOW   4
#define PDS_HUB_LIVE_BATCH    (128 * 1024)
#define PDS_HUB_LIVE_MAX_LAG  100000

typedef struct _PdsHubLive PdsHubLive;

PdsHubLive *pds_hub_live_new(PdsHubStore *store, PdsHubSourceTable *sources);
void pds_hub_live_free(PdsHubLive *live);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PdsHubLive, pds_hub_live_free)

/* Serves @conn from the first record after store index @after (-1: from the start). */
void pds_hub_live_add_connection(PdsHubLive *live, SoupWebsocketConnection *conn, gint64 after);
guint pds_hub_live_get_n_connections(PdsHubLive *live);

G_END_DECLS
