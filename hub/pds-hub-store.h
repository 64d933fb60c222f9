/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The hub's session store: the merged interface list, a RAM ring of stored
 * blocks, and pcapng chunk files in a data directory.
 *
 * Blocks are kept in their stored form: little-endian, interface ids in the
 * session numbering, records as Custom Blocks. Every stored block has a
 * global index; readers walk indices through the chunk files and the ring.
 *
 * Each chunk file data-dir/chunk-NNNNNN.pcapng is a complete section: SHB,
 * every session IDB known when it was opened, an NRB of known names, then
 * blocks (and IDBs/NRBs as the session grows). A batch from a source is
 * written with one write() that ends with a CHECKPOINT record naming the
 * source and the sequence stored, so after kill -9 the store cuts the last
 * chunk back to its last checkpoint and knows what every source has stored.
 *
 * When the data directory fails (not writable, full), the store logs it
 * once, keeps every chunk already written as it was (a torn write is cut
 * back), goes on in RAM only and retries a new chunk every 10 s. Sources are
 * still acknowledged then, so they do not stall; /healthz reports it.
 */
#pragma once

#include <glib.h>

#include "pds-hub-names.h"

G_BEGIN_DECLS

typedef struct {
	const char *data_dir;
	guint64 chunk_size;
	guint64 retention;
	guint64 ring_size;
} PdsHubStoreConfig;

typedef struct _PdsHubStore PdsHubStore;
typedef struct _PdsHubStoreCursor PdsHubStoreCursor;
typedef void (*PdsHubStoreWatchFunc)(gpointer user_data);

/* Session interface 0 carries records as Exported PDUs (linktype 252). */
#define PDS_HUB_RECORDS_INTERFACE 0u

/* Recovers what the data directory holds; never fails (see get_failure()). */
PdsHubStore *pds_hub_store_new(const PdsHubStoreConfig *config, PdsHubNames *names);
void pds_hub_store_free(PdsHubStore *store);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PdsHubStore, pds_hub_store_free)

/* Why chunk files are off, or NULL while they are written. */
const char *pds_hub_store_get_failure(PdsHubStore *store);
/* Last sequence stored for @source_id (0 when unknown). */
guint64 pds_hub_store_get_checkpoint(PdsHubStore *store, const char *source_id);

/* Interfaces: @key identifies an interface of a source across reconnections. */
gboolean pds_hub_store_lookup_interface(PdsHubStore *store, const char *key, guint32 *id);
/* @idb: a complete little-endian IDB that carries @key as custom option "pds_if_key". */
guint32
pds_hub_store_add_interface(PdsHubStore *store, const char *key, const guint8 *idb, gsize len);
guint pds_hub_store_get_n_interfaces(PdsHubStore *store);
GBytes *pds_hub_store_get_interface(PdsHubStore *store, guint id);
/* Writes the IDB option that names the interface key (for add_interface). */
const char *pds_hub_store_interface_key_option(void);

/* Call after names were added to the names table. */
void pds_hub_store_names_changed(PdsHubStore *store);
PdsHubNames *pds_hub_store_get_names(PdsHubStore *store);

/*
 * Stores @batch (complete stored-form blocks, possibly none) from
 * @source_id, which has now stored everything up to @seq. @batch is left as
 * given.
 */
void pds_hub_store_append_batch(PdsHubStore *store,
				GByteArray *batch,
				const char *source_id,
				guint64 seq);

/* Indices [first, end) are the session so far (some may be lost). */
guint64 pds_hub_store_get_first_index(PdsHubStore *store);
guint64 pds_hub_store_get_end_index(PdsHubStore *store);
guint64 pds_hub_store_get_ring_first_index(PdsHubStore *store);
gsize pds_hub_store_get_ring_bytes(PdsHubStore *store);
guint pds_hub_store_get_n_chunks(PdsHubStore *store);
guint64 pds_hub_store_get_chunk_bytes(PdsHubStore *store);

/* Called after every batch and interface change. */
guint pds_hub_store_add_watch(PdsHubStore *store, PdsHubStoreWatchFunc func, gpointer user_data);
void pds_hub_store_remove_watch(PdsHubStore *store, guint id);

/* Whether a block read from a chunk file is a stored block (not a header or control). */
gboolean pds_hub_store_block_is_entry(guint32 type, guint32 pen, const guint8 *custom, gsize len);

/* A reader of stored blocks from the first index still held. */
PdsHubStoreCursor *pds_hub_store_cursor_new(PdsHubStore *store);
void pds_hub_store_cursor_free(PdsHubStoreCursor *cursor);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PdsHubStoreCursor, pds_hub_store_cursor_free)
/* The next block, valid until the next call; FALSE at the end of what is stored. */
gboolean pds_hub_store_cursor_next(PdsHubStoreCursor *cursor, const guint8 **data, gsize *len);
guint64 pds_hub_store_cursor_get_index(PdsHubStoreCursor *cursor);
/* Go on from @index (or the first index still held, if that is later). */
void pds_hub_store_cursor_seek(PdsHubStoreCursor *cursor, guint64 index);

G_END_DECLS
