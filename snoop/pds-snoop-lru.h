/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A bounded map from string keys to owned values that forgets the least
 * recently used entry once full: what keeps snoop's memory flat however many
 * distinct paths a container touches.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _PdsSnoopLru PdsSnoopLru;

PdsSnoopLru *pds_snoop_lru_new(guint max_entries, GDestroyNotify value_free);
/* Keys are not copied: each key must live as long as its value (e.g. a field of it). */
PdsSnoopLru *pds_snoop_lru_new_borrowed(guint max_entries, GDestroyNotify value_free);
void pds_snoop_lru_free(PdsSnoopLru *lru);
/* The value for @key, now the most recently used; NULL when absent. */
gpointer pds_snoop_lru_lookup(PdsSnoopLru *lru, const char *key);
/*
 * Adds @key (copied, unless borrowed) with @value (owned), evicting the least recently used
 * entry when full. @key must be absent. Returns TRUE when an entry was evicted.
 */
gboolean pds_snoop_lru_insert(PdsSnoopLru *lru, const char *key, gpointer value);
guint pds_snoop_lru_get_size(PdsSnoopLru *lru);
guint pds_snoop_lru_get_max(PdsSnoopLru *lru);
guint64 pds_snoop_lru_get_evictions(PdsSnoopLru *lru);
/* Calls @func on every entry, most recently used first. */
void pds_snoop_lru_foreach(PdsSnoopLru *lru, GHFunc func, gpointer user_data);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(PdsSnoopLru, pds_snoop_lru_free)

G_END_DECLS
