/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The hub's address -> name table (pods and services), emitted as Name
 * Resolution Blocks at the head of every chunk file and served stream.
 * Entries are only ever appended, so a consumer that has sent the first N
 * entries sends entries N.. when the table grows.
 */
#pragma once

#include <gio/gio.h>

#include <json-glib/json-glib.h>

#include "pds-pcapng-reader.h"

G_BEGIN_DECLS

typedef struct _PdsHubNames PdsHubNames;

PdsHubNames *pds_hub_names_new(void);
void pds_hub_names_free(PdsHubNames *names);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PdsHubNames, pds_hub_names_free)

/* "IP=NAME", as given to --name. */
gboolean pds_hub_names_add_spec(PdsHubNames *names, const char *spec, GError **error);
/* @addr is 4 or 16 bytes. FALSE when the address already had this name. */
gboolean
pds_hub_names_add(PdsHubNames *names, const guint8 *addr, gsize addr_len, const char *name);
/* Learns the entries of a Name Resolution Block; returns how many were new. */
guint pds_hub_names_add_from_nrb(PdsHubNames *names, const PdsPcapngBlock *block);
guint pds_hub_names_get_count(PdsHubNames *names);
/* The current name of @addr (4 or 16 bytes), or NULL. */
const char *pds_hub_names_lookup(PdsHubNames *names, const guint8 *addr, gsize addr_len);
/*
 * Flow records name their endpoints for people: a copy of flow record
 * @record with SRC_NAME / DST_NAME added for addresses that have a name (a
 * name the source already gave is kept), or NULL when there is nothing to add.
 */
GBytes *pds_hub_names_annotate_flow(PdsHubNames *names, const guint8 *record, gsize len);
/* The addresses (GInetAddress) whose current name is @name. */
GPtrArray *pds_hub_names_lookup_addresses(PdsHubNames *names, const char *name);
/*
 * A JSON array of {"ip": "10.0.0.5", "name": "web-1.shop"} (POST /v1/names);
 * nothing is added when any entry is invalid. @n_added: entries that were new.
 */
gboolean pds_hub_names_add_json(PdsHubNames *names, JsonNode *root, guint *n_added, GError **error);
/* Writes entries [from, count) as one NRB; nothing when that range is empty. */
void pds_hub_names_write_nrb(PdsHubNames *names, guint from, GByteArray *out);

G_END_DECLS
