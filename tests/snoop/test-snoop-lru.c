/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib.h>

#include "pds-snoop-lru.h"

static void
test_bound(void)
{
	g_autoptr(PdsSnoopLru) lru = pds_snoop_lru_new(100, g_free);

	for (guint i = 0; i < 10000; i++) {
		g_autofree gchar *key = g_strdup_printf("/f%u", i);

		pds_snoop_lru_insert(lru, key, g_strdup(key));
		g_assert_cmpuint(pds_snoop_lru_get_size(lru), <=, 100);
	}
	g_assert_cmpuint(pds_snoop_lru_get_size(lru), ==, 100);
	g_assert_cmpuint(pds_snoop_lru_get_evictions(lru), ==, 9900);
	g_assert_null(pds_snoop_lru_lookup(lru, "/f0"));
	g_assert_cmpstr(pds_snoop_lru_lookup(lru, "/f9999"), ==, "/f9999");
}

static void
test_recency(void)
{
	g_autoptr(PdsSnoopLru) lru = pds_snoop_lru_new(3, g_free);

	pds_snoop_lru_insert(lru, "a", g_strdup("A"));
	pds_snoop_lru_insert(lru, "b", g_strdup("B"));
	pds_snoop_lru_insert(lru, "c", g_strdup("C"));
	/* Touching "a" makes "b" the oldest. */
	g_assert_cmpstr(pds_snoop_lru_lookup(lru, "a"), ==, "A");
	g_assert_true(pds_snoop_lru_insert(lru, "d", g_strdup("D")));
	g_assert_null(pds_snoop_lru_lookup(lru, "b"));
	g_assert_nonnull(pds_snoop_lru_lookup(lru, "a"));
	g_assert_nonnull(pds_snoop_lru_lookup(lru, "c"));
	g_assert_nonnull(pds_snoop_lru_lookup(lru, "d"));
}

typedef struct {
	gchar *name;
} Item;

static void
item_free(Item *item)
{
	g_free(item->name);
	g_free(item);
}

static void
test_borrowed(void)
{
	g_autoptr(PdsSnoopLru) lru = pds_snoop_lru_new_borrowed(2, (GDestroyNotify)item_free);

	for (guint i = 0; i < 5; i++) {
		Item *item = g_new0(Item, 1);

		item->name = g_strdup_printf("k%u", i);
		pds_snoop_lru_insert(lru, item->name, item);
	}
	g_assert_cmpuint(pds_snoop_lru_get_size(lru), ==, 2);
	g_assert_nonnull(pds_snoop_lru_lookup(lru, "k4"));
	g_assert_null(pds_snoop_lru_lookup(lru, "k0"));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/snoop/lru/bound", test_bound);
	g_test_add_func("/snoop/lru/recency", test_recency);
	g_test_add_func("/snoop/lru/borrowed", test_borrowed);
	return g_test_run();
}
