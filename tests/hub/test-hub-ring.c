/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "pds-hub-ring.h"

/* Blocks of varying size: the ring keeps the newest, in order, within its bytes. */
static void
test_ring_evicts_oldest(void)
{
	g_autoptr(PdsHubRing) ring = pds_hub_ring_new(4096);
	guint8 block[700];

	for (guint i = 0; i < 1000; i++) {
		gsize len = 16 + (i * 37) % 600;
		memset(block, i & 0xff, len);
		pds_hub_ring_append(ring, block, len);
		g_assert_cmpuint(pds_hub_ring_get_end_index(ring), ==, i + 1);
		g_assert_cmpuint(pds_hub_ring_get_bytes(ring), <=, 4096);
		/* Every held block has its own content and size. */
		for (guint64 j = pds_hub_ring_get_first_index(ring); j <= i; j++) {
			const guint8 *data;
			gsize got;
			g_assert_true(pds_hub_ring_get(ring, j, &data, &got));
			g_assert_cmpuint(got, ==, 16 + (j * 37) % 600);
			g_assert_cmpuint(data[0], ==, j & 0xff);
			g_assert_cmpuint(data[got - 1], ==, j & 0xff);
		}
		/* The newest always fits; the ring holds more than one block mostly. */
		g_assert_cmpuint(pds_hub_ring_get_first_index(ring), <=, i);
	}
	g_assert_cmpuint(pds_hub_ring_get_end_index(ring) - pds_hub_ring_get_first_index(ring), >,
			 5);
}

static void
assert_ring_holds(PdsHubRing *ring, guint64 end)
{
	g_assert_cmpuint(pds_hub_ring_get_end_index(ring), ==, end);
	for (guint64 j = pds_hub_ring_get_first_index(ring); j < end; j++) {
		const guint8 *data;
		gsize len;
		guint32 stamp;

		g_assert_true(pds_hub_ring_get(ring, j, &data, &len));
		g_assert_cmpuint(len, >=, sizeof(stamp));
		memcpy(&stamp, data, sizeof(stamp));
		g_assert_cmpuint(stamp, ==, (guint32)j);
	}
}

/* A block of @len bytes that starts with its own index. */
static void
append_stamped(PdsHubRing *ring, guint64 index, gsize len)
{
	guint8 block[4096] = {0};
	guint32 stamp = (guint32)index;

	g_assert_cmpuint(len, <=, sizeof(block));
	memcpy(block, &stamp, sizeof(stamp));
	pds_hub_ring_append(ring, block, len);
}

/*
 * Thousands of small blocks after large ones: the block index outgrows its
 * first 1024 slots while the oldest have already been evicted, so it grows
 * with its live part wrapped around the end of the array.
 */
static void
test_ring_index_grows(void)
{
	g_autoptr(PdsHubRing) ring = pds_hub_ring_new(1024 * 1024);
	guint64 index = 0;

	for (; index < 1500; index++)
		append_stamped(ring, index, 4096);
	g_assert_cmpuint(pds_hub_ring_get_first_index(ring), >, 1000);
	assert_ring_holds(ring, index);
	for (guint round = 0; round < 3; round++) {
		/* 16-byte blocks: up to 65536 of them live at once */
		for (guint i = 0; i < 40000; i++, index++)
			append_stamped(ring, index, 16 + (i % 3) * 4);
		assert_ring_holds(ring, index);
		/* and large ones again, which evict thousands of small ones at a time */
		for (guint i = 0; i < 100; i++, index++)
			append_stamped(ring, index, 4096);
		assert_ring_holds(ring, index);
	}
	g_assert_cmpuint(pds_hub_ring_get_end_index(ring) - pds_hub_ring_get_first_index(ring), >,
			 1024);
}

static void
test_ring_too_big(void)
{
	g_autoptr(PdsHubRing) ring = pds_hub_ring_new(4096);
	g_autofree guint8 *big = g_malloc0(8192);
	const guint8 *data;
	gsize len;

	pds_hub_ring_set_next_index(ring, 10);
	pds_hub_ring_append(ring, big, 100);
	pds_hub_ring_append(ring, big, 8192);
	/* The index is used up, the ring is empty and keeps counting. */
	g_assert_cmpuint(pds_hub_ring_get_end_index(ring), ==, 12);
	g_assert_cmpuint(pds_hub_ring_get_first_index(ring), ==, 12);
	g_assert_false(pds_hub_ring_get(ring, 10, &data, &len));
	pds_hub_ring_append(ring, big, 100);
	g_assert_true(pds_hub_ring_get(ring, 12, &data, &len));
	g_assert_cmpuint(len, ==, 100);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/hub/ring/evicts-oldest", test_ring_evicts_oldest);
	g_test_add_func("/hub/ring/too-big", test_ring_too_big);
	g_test_add_func("/hub/ring/index-grows", test_ring_index_grows);
	return g_test_run();
}
