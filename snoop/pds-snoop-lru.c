/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "PdsSnoop"

#include "pds-snoop-lru.h"

/* One allocation per entry: the queue link is part of it (link.data = the entry). */
typedef struct {
	GList link;
	const char *key; /* owned unless the LRU borrows keys */
	gpointer value;
} PdsSnoopLruEntry;

struct _PdsSnoopLru {
	GHashTable *index; /* key (borrowed from entry) -> PdsSnoopLruEntry */
	GQueue order;	   /* links of PdsSnoopLruEntry, most recent at the head */
	guint max_entries;
	guint64 evictions;
	GDestroyNotify value_free;
	gboolean borrow_keys;
};

PdsSnoopLru *
pds_snoop_lru_new(guint max_entries, GDestroyNotify value_free)
{
	PdsSnoopLru *lru = g_new0(PdsSnoopLru, 1);

	g_return_val_if_fail(max_entries > 0, NULL);
	lru->index = g_hash_table_new(g_str_hash, g_str_equal);
	g_queue_init(&lru->order);
	lru->max_entries = max_entries;
	lru->value_free = value_free;
	return lru;
}

static void
pds_snoop_lru_entry_free(PdsSnoopLru *lru, PdsSnoopLruEntry *entry)
{
	if (!lru->borrow_keys)
		g_free((gchar *)entry->key);
	if (lru->value_free != NULL && entry->value != NULL)
		lru->value_free(entry->value);
	g_free(entry);
}

PdsSnoopLru *
pds_snoop_lru_new_borrowed(guint max_entries, GDestroyNotify value_free)
{
	PdsSnoopLru *lru = pds_snoop_lru_new(max_entries, value_free);

	if (lru != NULL)
		lru->borrow_keys = TRUE;
	return lru;
}

void
pds_snoop_lru_free(PdsSnoopLru *lru)
{
	GList *link;

	if (lru == NULL)
		return;
	g_hash_table_destroy(lru->index);
	while ((link = g_queue_pop_head_link(&lru->order)) != NULL)
		pds_snoop_lru_entry_free(lru, link->data);
	g_free(lru);
}

gpointer
pds_snoop_lru_lookup(PdsSnoopLru *lru, const char *key)
{
	PdsSnoopLruEntry *entry;

	g_return_val_if_fail(lru != NULL, NULL);
	entry = g_hash_table_lookup(lru->index, key);
	if (entry == NULL)
		return NULL;
	if (&entry->link != lru->order.head) {
		g_queue_unlink(&lru->order, &entry->link);
		g_queue_push_head_link(&lru->order, &entry->link);
	}
	return entry->value;
}

gboolean
pds_snoop_lru_insert(PdsSnoopLru *lru, const char *key, gpointer value)
{
	PdsSnoopLruEntry *entry;
	gboolean evicted = FALSE;

	g_return_val_if_fail(lru != NULL, FALSE);
	g_return_val_if_fail(!g_hash_table_contains(lru->index, key), FALSE);

	if (g_queue_get_length(&lru->order) >= lru->max_entries) {
		PdsSnoopLruEntry *oldest = g_queue_pop_tail_link(&lru->order)->data;

		g_hash_table_remove(lru->index, oldest->key);
		pds_snoop_lru_entry_free(lru, oldest);
		lru->evictions++;
		evicted = TRUE;
	}
	entry = g_new0(PdsSnoopLruEntry, 1);
	entry->link.data = entry;
	entry->key = lru->borrow_keys ? key : g_strdup(key);
	entry->value = value;
	g_queue_push_head_link(&lru->order, &entry->link);
	g_hash_table_insert(lru->index, (gpointer)entry->key, entry);
	return evicted;
}

guint
pds_snoop_lru_get_size(PdsSnoopLru *lru)
{
	return g_queue_get_length(&lru->order);
}

guint
pds_snoop_lru_get_max(PdsSnoopLru *lru)
{
	return lru->max_entries;
}

guint64
pds_snoop_lru_get_evictions(PdsSnoopLru *lru)
{
	return lru->evictions;
}

void
pds_snoop_lru_foreach(PdsSnoopLru *lru, GHFunc func, gpointer user_data)
{
	for (GList *l = lru->order.head; l != NULL; l = l->next) {
		PdsSnoopLruEntry *entry = l->data;

		func((gpointer)entry->key, entry->value, user_data);
	}
}
