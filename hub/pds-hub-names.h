/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The hub's address -> name table (pods and services), emitted as Name
 * Resolution Blocks at the head of every chunk file and served stream.
 * Entries are only ever appended, so a consumer that has sent the first N
 * entries sends entries N.. when the table grows.
 */
#pragma once

#include <gio/gio.h>

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
/* Writes entries [from, count) as one NRB; nothing when that range is empty. */
void pds_hub_names_write_nrb(PdsHubNames *names, guint from, GByteArray *out);

G_END_DECLS
