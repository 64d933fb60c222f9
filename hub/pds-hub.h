/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podscope-hub: the store, the source table, the ingest listener and the API
 * on one GLib main loop.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct {
	gchar *data_dir;
	gchar *ca_path;
	gchar *cert_path;
	gchar *key_path;
	gchar *token;
	gchar *ingest_address; /* "ADDR:PORT" */
	gchar *api_address;
	guint64 chunk_size;
	guint64 retention;
	guint64 ring_size;
	gchar **names;	    /* "IP=NAME" */
	gchar *ca_key_path; /* with join_secret_path: sources may join (DESIGN.md "Security") */
	gchar *join_secret_path;
} PdsHubConfig;

void pds_hub_config_clear(PdsHubConfig *config);

typedef struct _PdsHub PdsHub;

PdsHub *pds_hub_new(const PdsHubConfig *config, GError **error);
void pds_hub_free(PdsHub *hub);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PdsHub, pds_hub_free)

/* Opens both listeners. */
gboolean pds_hub_start(PdsHub *hub, GError **error);
guint16 pds_hub_get_ingest_port(PdsHub *hub);
guint16 pds_hub_get_api_port(PdsHub *hub);
/* Atomically writes {"ingest_port":N,"api_port":M,"pid":P} to @path. */
gboolean pds_hub_write_ready_file(PdsHub *hub, const char *path, GError **error);
/* Says GOODBYE to every source and closes the chunk file. */
void pds_hub_stop(PdsHub *hub);

G_END_DECLS
