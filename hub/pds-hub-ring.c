/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "PdsHub"

#include "pds-hub-ring.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

typedef struct {
	gsize offset;
	gsize len;
} PdsHubRingSlot;

/*
 * Blocks live in [head, tail) when not wrapped, or in [head, wrap_end) and
 * then [0, tail) when wrapped (tail <= head). Slots form a circular array in
 * index order.
 */
struct _PdsHubRing {
	guint8 *buf;
	gboolean mapped; /* buf is our own mapping, not g_malloc()'s */
	gsize size;
	gsize head;
	gsize tail;
	gsize wrap_end;
	gboolean wrapped;
	gsize used; /* bytes of live blocks */

	PdsHubRingSlot *slots;
	gsize slots_cap;
	gsize slots_first;
	gsize count;
	guint64 first_index;
};

/*
 * The ring's pages are made resident here, at start, not by the first write
 * into each of them: a 4 KiB page fault inside the ingest path cost 3 µs
 * alone and up to 12 µs with the agent and the page cache competing (the
 * first 256 MiB of a session spent 18 % of the hub's time in page faults),
 * and populating the whole ring at once takes about 0.1 s. It also means a
 * memory limit too small for the ring shows at start, not mid-capture.
 */
static void
pds_hub_ring_map(PdsHubRing *ring)
{
	void *p =
		mmap(NULL, ring->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		g_debug("ring: mmap of %" G_GSIZE_FORMAT " bytes failed (%s); allocating lazily",
			ring->size, g_strerror(errno));
		ring->buf = g_malloc(ring->size);
		return;
	}
	ring->buf = p;
	ring->mapped = TRUE;
	if (madvise(p, ring->size, MADV_POPULATE_WRITE) == 0)
		return;
	if (errno == EINVAL) {
		/* a kernel before 5.14: touch every page instead */
		for (gsize off = 0; off < ring->size; off += 4096)
			ring->buf[off] = 0;
		return;
	}
	g_debug("ring: could not populate %" G_GSIZE_FORMAT " bytes up front (%s); pages come "
		"as they are used",
		ring->size, g_strerror(errno));
}

PdsHubRing *
pds_hub_ring_new(gsize size)
{
	PdsHubRing *ring = g_new0(PdsHubRing, 1);
	ring->size = MAX(size, 4096);
	pds_hub_ring_map(ring);
	ring->slots_cap = 1024;
	ring->slots = g_new(PdsHubRingSlot, ring->slots_cap);
	return ring;
}

void
pds_hub_ring_free(PdsHubRing *ring)
{
	if (ring == NULL)
		return;
	if (ring->mapped)
		munmap(ring->buf, ring->size);
	else
		g_free(ring->buf);
	g_free(ring->slots);
	g_free(ring);
}

void
pds_hub_ring_set_next_index(PdsHubRing *ring, guint64 index)
{
	g_return_if_fail(ring->count == 0);
	ring->first_index = index;
}

static PdsHubRingSlot *
pds_hub_ring_slot(PdsHubRing *ring, gsize i)
{
	return &ring->slots[(ring->slots_first + i) % ring->slots_cap];
}

static void
pds_hub_ring_evict(PdsHubRing *ring)
{
	PdsHubRingSlot *oldest = pds_hub_ring_slot(ring, 0);

	ring->used -= oldest->len;
	ring->slots_first = (ring->slots_first + 1) % ring->slots_cap;
	ring->count--;
	ring->first_index++;
	if (ring->count == 0) {
		ring->head = ring->tail = 0;
		ring->wrapped = FALSE;
		return;
	}
	oldest = pds_hub_ring_slot(ring, 0);
	ring->head = oldest->offset;
	/* In the wrapped state upper blocks start at or above tail and lower ones
	 * below it: the oldest being below tail means the upper part is gone. */
	if (ring->wrapped && oldest->offset < ring->tail)
		ring->wrapped = FALSE;
}

/*
 * Called when every slot is in use. The array doubles in place (a large
 * realloc() remaps instead of copying) and only the slots that had wrapped
 * to its front move behind the old end: with small packets the array grows
 * to millions of slots, and copying all of them at each doubling showed in
 * the hub's profile.
 */
static void
pds_hub_ring_grow_slots(PdsHubRing *ring)
{
	gsize old_cap = ring->slots_cap;
	gsize wrapped = ring->slots_first + ring->count - old_cap;

	ring->slots = g_renew(PdsHubRingSlot, ring->slots, old_cap * 2);
	memcpy(ring->slots + old_cap, ring->slots, wrapped * sizeof(PdsHubRingSlot));
	ring->slots_cap = old_cap * 2;
}

void
pds_hub_ring_append(PdsHubRing *ring, const guint8 *data, gsize len)
{
	gsize pos;
	PdsHubRingSlot *slot;

	g_return_if_fail(ring != NULL);
	g_return_if_fail(len > 0);

	if (len > ring->size) {
		while (ring->count > 0)
			pds_hub_ring_evict(ring);
		ring->first_index++;
		return;
	}
	for (;;) {
		if (ring->count == 0) {
			ring->head = ring->tail = 0;
			ring->wrapped = FALSE;
		}
		if (!ring->wrapped) {
			if (ring->tail + len <= ring->size) {
				pos = ring->tail;
				ring->tail += len;
				break;
			}
			if (ring->count > 0 && len <= ring->head) {
				ring->wrapped = TRUE;
				ring->wrap_end = ring->tail;
				pos = 0;
				ring->tail = len;
				break;
			}
		} else if (ring->tail + len <= ring->head) {
			pos = ring->tail;
			ring->tail += len;
			break;
		}
		pds_hub_ring_evict(ring);
	}
	if (ring->count == ring->slots_cap)
		pds_hub_ring_grow_slots(ring);
	memcpy(ring->buf + pos, data, len);
	slot = pds_hub_ring_slot(ring, ring->count);
	slot->offset = pos;
	slot->len = len;
	ring->count++;
	ring->used += len;
}

guint64
pds_hub_ring_get_first_index(PdsHubRing *ring)
{
	return ring->first_index;
}

guint64
pds_hub_ring_get_end_index(PdsHubRing *ring)
{
	return ring->first_index + ring->count;
}

gsize
pds_hub_ring_get_bytes(PdsHubRing *ring)
{
	return ring->used;
}

gboolean
pds_hub_ring_get(PdsHubRing *ring, guint64 index, const guint8 **data, gsize *len)
{
	PdsHubRingSlot *slot;

	if (index < ring->first_index || index >= ring->first_index + ring->count)
		return FALSE;
	slot = pds_hub_ring_slot(ring, index - ring->first_index);
	*data = ring->buf + slot->offset;
	*len = slot->len;
	return TRUE;
}
