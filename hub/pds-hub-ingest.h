/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The ingest listener: accepts sources (agents, snoops) over mutual TLS,
 * speaks the ingest wire (README, "The wire") with each, re-maps their
 * interfaces into the session, and hands their blocks to the store in one
 * batch per read.
 */
#pragma once

#include <gio/gio.h>

#include "pds-hub-join.h"
#include "pds-hub-source.h"
#include "pds-hub-store.h"
#include "pds-tls.h"

G_BEGIN_DECLS

typedef struct _PdsHubIngest PdsHubIngest;

typedef struct {
	PdsTlsIdentity *identity;     /* the hub certificate (borrowed) */
	PdsTlsIdentity *ca;	      /* clients must chain to it (borrowed) */
	guint handshake_timeout_secs; /* default 10 */
	guint heartbeat_secs;	      /* default 5; dead after 3 missed */
	PdsHubJoin *join;	      /* (borrowed) NULL: every source needs a certificate */
} PdsHubIngestConfig;

PdsHubIngest *pds_hub_ingest_new(const PdsHubIngestConfig *config,
				 PdsHubStore *store,
				 PdsHubSourceTable *sources);
void pds_hub_ingest_free(PdsHubIngest *ingest);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PdsHubIngest, pds_hub_ingest_free)

/* Listens on @address ("ADDR:PORT", port 0 picks one); returns the bound port. */
gboolean
pds_hub_ingest_listen(PdsHubIngest *ingest, const char *address, guint16 *port, GError **error);
/* Sends GOODBYE to every source and closes every connection. */
void pds_hub_ingest_close_all(PdsHubIngest *ingest, const char *reason);
guint pds_hub_ingest_get_n_connections(PdsHubIngest *ingest);

/* "ADDR:PORT" -> socket address; "[v6]:port" and a bare ":port" work too. */
GSocketAddress *pds_hub_parse_address(const char *address, GError **error);

G_END_DECLS
