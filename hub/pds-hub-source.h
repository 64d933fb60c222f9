/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The hub's table of sources (agents, snoops): identity from the SHB and
 * source records, counters for /v1/sources, the last sequence stored, and
 * the map from a connection's local interface ids to session interface ids.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
	gchar *source_id;
	gchar *role;
	gchar *namespace_;
	gchar *pod;
	gchar *node;
	gchar *version;
	gchar *interface; /* captured interface(s), comma separated */
	gchar *peer;	  /* address of the current or last connection */

	guint64 packets;
	guint64 bytes; /* original (wire) length of the packets */
	guint64 kernel_drops;
	guint64 if_drops;
	guint64 spool_drops;
	guint64 events_lost;

	gboolean seen; /* connected at least once since the hub started */
	gboolean connected;
	gint64 connected_since; /* real time, microseconds */
	gint64 last_seen;	/* real time, microseconds */

	guint64 stored_seq; /* last data block sequence stored */

	/* local interface id -> session interface id, for the current connection */
	GArray *if_map; /* of guint32 */

	gpointer conn; /* the ingest connection serving it, or NULL */
} PdsHubSource;

typedef struct _PdsHubSourceTable PdsHubSourceTable;

PdsHubSourceTable *pds_hub_source_table_new(void);
void pds_hub_source_table_free(PdsHubSourceTable *table);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PdsHubSourceTable, pds_hub_source_table_free)

PdsHubSource *pds_hub_source_table_lookup(PdsHubSourceTable *table, const char *source_id);
/* The source of @source_id, created (with @stored_seq) when unknown. */
PdsHubSource *pds_hub_source_table_ensure(PdsHubSourceTable *table,
					  const char *source_id,
					  guint64 stored_seq,
					  gboolean *created);
/* Sources seen since the hub started, in order of first connection. */
GPtrArray *pds_hub_source_table_list(PdsHubSourceTable *table);

/* Updates identity and counters from a type 3 record. */
void pds_hub_source_update_from_record(PdsHubSource *source, const guint8 *record, gsize len);
void pds_hub_source_set_string(gchar **field, const char *value);
/* Remembers a captured interface name (the last '/' component of if_name). */
void pds_hub_source_add_interface_name(PdsHubSource *source, const char *if_name);

void pds_hub_source_reset_interfaces(PdsHubSource *source);
void pds_hub_source_map_interface(PdsHubSource *source, guint32 local_id, guint32 session_id);
/* FALSE when the connection never described @local_id. */
gboolean
pds_hub_source_lookup_interface(PdsHubSource *source, guint32 local_id, guint32 *session_id);

/* JSON array for GET /v1/sources. */
gchar *pds_hub_source_table_to_json(PdsHubSourceTable *table);

G_END_DECLS
