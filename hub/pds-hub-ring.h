/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A RAM ring of blocks bounded by bytes: one contiguous buffer, blocks laid
 * end to end and wrapping, the oldest evicted when a new one needs room.
 * Blocks carry consecutive global indices, so a reader that fell behind
 * learns exactly which blocks it must fetch elsewhere.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _PdsHubRing PdsHubRing;

PdsHubRing *pds_hub_ring_new(gsize size);
void pds_hub_ring_free(PdsHubRing *ring);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PdsHubRing, pds_hub_ring_free)

/* Only while empty: the index the next appended block gets. */
void pds_hub_ring_set_next_index(PdsHubRing *ring, guint64 index);
/* Takes index get_end_index(); a block larger than the ring empties it and is not kept. */
void pds_hub_ring_append(PdsHubRing *ring, const guint8 *data, gsize len);
guint64 pds_hub_ring_get_first_index(PdsHubRing *ring);
guint64 pds_hub_ring_get_end_index(PdsHubRing *ring);
gsize pds_hub_ring_get_bytes(PdsHubRing *ring);
/* The block of @index, valid until the next append; FALSE when not held. */
gboolean pds_hub_ring_get(PdsHubRing *ring, guint64 index, const guint8 **data, gsize *len);

G_END_DECLS
