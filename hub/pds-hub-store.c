/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "PdsHub"

#include "pds-hub-store.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "pds-hub-ring.h"
#include "pds-pcapng-reader.h"
#include "pds-pcapng-writer.h"
#include "pds-record-codec.h"

#define PDS_HUB_STORE_RETRY_USEC (10 * G_USEC_PER_SEC)
#define PDS_HUB_STORE_READ_SIZE	 (256 * 1024)
#define PDS_HUB_IF_KEY_OPTION	 "pds_if_key"
#define PDS_HUB_RECORDS_KEY	 "podscope:records"

typedef struct {
	guint number;
	gchar *path;
	guint64 first_index;
	guint64 n_entries;
	guint64 size;
} PdsHubChunk;

typedef struct {
	guint id;
	PdsHubStoreWatchFunc func;
	gpointer user_data;
} PdsHubStoreWatch;

struct _PdsHubStore {
	gchar *data_dir;
	guint64 chunk_size;
	guint64 retention;
	PdsHubNames *names; /* borrowed */

	GPtrArray *interfaces; /* of GBytes, little-endian IDBs by session id */
	GHashTable *if_keys;   /* key -> session id + 1 */

	GHashTable *checkpoints; /* source_id -> guint64 * */

	PdsHubRing *ring;
	guint64 first_index; /* first index of the oldest chunk, or of the ring */
	guint64 end_index;

	GPtrArray *chunks; /* of PdsHubChunk, oldest first */
	guint next_chunk_number;
	int fd; /* the open chunk (last of chunks) or -1 */
	guint names_in_chunk;
	guint ifs_in_chunk;

	gchar *failure;
	gint64 retry_at;

	GArray *watches; /* of PdsHubStoreWatch */
	guint next_watch_id;
	GByteArray *scratch;

	GThreadPool *closer; /* syncs and closes finished chunks off the main loop */
};

struct _PdsHubStoreCursor {
	PdsHubStore *store;
	guint64 index;
	/* reading a chunk file */
	int fd;
	guint chunk_number;
	guint64 file_index; /* index of the next entry in the file */
	PdsPcapngReader *reader;
	guint8 *buf;
	gboolean eof;
};

static void
pds_hub_chunk_free(PdsHubChunk *chunk)
{
	g_free(chunk->path);
	g_free(chunk);
}

const char *
pds_hub_store_interface_key_option(void)
{
	return PDS_HUB_IF_KEY_OPTION;
}

static guint32
pds_hub_read_le32(const guint8 *p)
{
	guint32 v;
	memcpy(&v, p, sizeof(v));
	return GUINT32_FROM_LE(v);
}

gboolean
pds_hub_store_block_is_entry(guint32 type, guint32 pen, const guint8 *custom, gsize len)
{
	guint16 rtype;

	switch (type) {
	case PDS_PCAPNG_BT_EPB:
	case PDS_PCAPNG_BT_ISB:
		return TRUE;
	case PDS_PCAPNG_BT_CUSTOM:
		if (pen != PDS_PEN || len < PDS_RECORD_HEADER_LEN)
			return FALSE;
		memcpy(&rtype, custom, sizeof(rtype));
		return GUINT16_FROM_LE(rtype) != PDS_RECORD_CONTROL;
	default:
		return FALSE;
	}
}

/* ---- chunk files ---- */

static gboolean
pds_hub_store_write_all(int fd, const guint8 *data, gsize len, int *errsv)
{
	while (len > 0) {
		gssize n = write(fd, data, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			*errsv = errno;
			return FALSE;
		}
		if (n == 0) {
			*errsv = ENOSPC;
			return FALSE;
		}
		data += n;
		len -= n;
	}
	return TRUE;
}

static PdsHubChunk *
pds_hub_store_current_chunk(PdsHubStore *store)
{
	if (store->fd < 0 || store->chunks->len == 0)
		return NULL;
	return g_ptr_array_index(store->chunks, store->chunks->len - 1);
}

typedef struct {
	int fd;
	gchar *path;
} PdsHubClosingChunk;

/* In the closer thread. */
static void
pds_hub_store_sync_and_close(gpointer data, gpointer user_data)
{
	PdsHubClosingChunk *closing = data;

	if (fdatasync(closing->fd) != 0)
		g_warning("%s may not be on the disk yet: syncing it failed: %s", closing->path,
			  g_strerror(errno));
	if (close(closing->fd) != 0)
		g_warning("closing %s: %s", closing->path, g_strerror(errno));
	g_free(closing->path);
	g_free(closing);
}

/*
 * A finished chunk is never written again: it goes to the disk once, from
 * the closer thread. In the main loop the sync of a 64 MiB chunk blocked
 * ingest for 33-67 ms, 0.76 s of every 5 s under bulk capture. A process
 * that dies meanwhile loses nothing: the page cache holds what was written.
 */
static void
pds_hub_store_close_chunk(PdsHubStore *store)
{
	PdsHubChunk *chunk = pds_hub_store_current_chunk(store);
	PdsHubClosingChunk *closing;

	if (store->fd < 0)
		return;
	closing = g_new0(PdsHubClosingChunk, 1);
	closing->fd = store->fd;
	closing->path = g_strdup(chunk != NULL ? chunk->path : "a chunk file");
	store->fd = -1;
	g_thread_pool_push(store->closer, closing, NULL);
}

static void
pds_hub_store_fail(PdsHubStore *store, const char *what, const char *path, int errsv)
{
	PdsHubChunk *chunk = pds_hub_store_current_chunk(store);

	/* Cut a torn write back so the chunk ends with a complete block. */
	if (chunk != NULL && ftruncate(store->fd, chunk->size) != 0)
		g_debug("cutting %s back to %" G_GUINT64_FORMAT " bytes: %s", chunk->path,
			chunk->size, g_strerror(errno));
	pds_hub_store_close_chunk(store);
	if (chunk != NULL && chunk->size == 0) {
		g_unlink(chunk->path);
		g_ptr_array_remove_index(store->chunks, store->chunks->len - 1);
	}
	if (store->failure == NULL) {
		store->failure = g_strdup_printf("%s %s: %s", what, path, g_strerror(errsv));
		g_warning("data directory failing, chunk files are off and blocks are kept in "
			  "RAM only (retrying every 10 s): %s",
			  store->failure);
	}
	store->retry_at = g_get_monotonic_time() + PDS_HUB_STORE_RETRY_USEC;
}

static void
pds_hub_store_apply_retention(PdsHubStore *store)
{
	guint64 total = 0;

	for (guint i = 0; i < store->chunks->len; i++)
		total += ((PdsHubChunk *)g_ptr_array_index(store->chunks, i))->size;
	while (total > store->retention && store->chunks->len > 1) {
		PdsHubChunk *oldest = g_ptr_array_index(store->chunks, 0);
		if (g_unlink(oldest->path) != 0 && errno != ENOENT) {
			g_warning("retention: cannot delete %s: %s", oldest->path,
				  g_strerror(errno));
			break;
		}
		g_info("retention: deleted %s (%" G_GUINT64_FORMAT " bytes)", oldest->path,
		       oldest->size);
		total -= oldest->size;
		g_ptr_array_remove_index(store->chunks, 0);
	}
	if (store->chunks->len > 0) {
		PdsHubChunk *oldest = g_ptr_array_index(store->chunks, 0);
		store->first_index =
			MIN(oldest->first_index, pds_hub_ring_get_first_index(store->ring));
	} else {
		store->first_index = pds_hub_ring_get_first_index(store->ring);
	}
}

static void
pds_hub_store_write_shb(GByteArray *out)
{
	g_autoptr(PdsPcapngOptions) opts = pds_pcapng_options_new();
	pds_pcapng_options_add_string(opts, PDS_PCAPNG_SHB_USERAPPL,
				      "podscope-hub " PACKAGE_VERSION);
	pds_pcapng_write_shb(out, opts);
}

static gboolean
pds_hub_store_open_chunk(PdsHubStore *store)
{
	g_autofree gchar *name = NULL;
	g_autofree gchar *path = NULL;
	PdsHubChunk *chunk;
	int fd;
	int errsv = 0;

	if (g_mkdir_with_parents(store->data_dir, 0755) != 0) {
		pds_hub_store_fail(store, "creating data directory", store->data_dir, errno);
		return FALSE;
	}
	name = g_strdup_printf("chunk-%06u.pcapng", store->next_chunk_number);
	path = g_build_filename(store->data_dir, name, NULL);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		pds_hub_store_fail(store, "creating chunk file", path, errno);
		return FALSE;
	}
	store->next_chunk_number++;

	g_byte_array_set_size(store->scratch, 0);
	pds_hub_store_write_shb(store->scratch);
	for (guint i = 0; i < store->interfaces->len; i++) {
		GBytes *idb = g_ptr_array_index(store->interfaces, i);
		g_byte_array_append(store->scratch, g_bytes_get_data(idb, NULL),
				    g_bytes_get_size(idb));
	}
	pds_hub_names_write_nrb(store->names, 0, store->scratch);

	chunk = g_new0(PdsHubChunk, 1);
	chunk->number = store->next_chunk_number - 1;
	chunk->path = g_steal_pointer(&path);
	chunk->first_index = store->end_index;
	g_ptr_array_add(store->chunks, chunk);
	store->fd = fd;

	if (!pds_hub_store_write_all(fd, store->scratch->data, store->scratch->len, &errsv)) {
		pds_hub_store_fail(store, "writing chunk file", chunk->path, errsv);
		return FALSE;
	}
	chunk->size = store->scratch->len;
	store->ifs_in_chunk = store->interfaces->len;
	store->names_in_chunk = pds_hub_names_get_count(store->names);
	if (store->failure != NULL) {
		g_message("data directory works again, chunk files resume with %s", chunk->path);
		g_clear_pointer(&store->failure, g_free);
	}
	g_debug("opened %s at index %" G_GUINT64_FORMAT, chunk->path, chunk->first_index);
	return TRUE;
}

/* Makes sure a chunk is open; FALSE while the data directory fails. */
static gboolean
pds_hub_store_ensure_chunk(PdsHubStore *store)
{
	if (store->fd >= 0)
		return TRUE;
	if (store->failure != NULL && g_get_monotonic_time() < store->retry_at)
		return FALSE;
	return pds_hub_store_open_chunk(store);
}

/* Appends @data (complete blocks) to the open chunk with one write(). */
static gboolean
pds_hub_store_write_chunk(PdsHubStore *store, const guint8 *data, gsize len, guint64 n_entries)
{
	PdsHubChunk *chunk;
	int errsv = 0;

	if (!pds_hub_store_ensure_chunk(store))
		return FALSE;
	chunk = pds_hub_store_current_chunk(store);
	if (!pds_hub_store_write_all(store->fd, data, len, &errsv)) {
		pds_hub_store_fail(store, "writing chunk file", chunk->path, errsv);
		return FALSE;
	}
	chunk->size += len;
	chunk->n_entries += n_entries;
	return TRUE;
}

/* Writes IDBs and names the open chunk lacks (the session grew). */
static void
pds_hub_store_sync_chunk_header(PdsHubStore *store)
{
	if (store->fd < 0)
		return;
	if (store->ifs_in_chunk == store->interfaces->len &&
	    store->names_in_chunk == pds_hub_names_get_count(store->names))
		return;
	g_byte_array_set_size(store->scratch, 0);
	for (guint i = store->ifs_in_chunk; i < store->interfaces->len; i++) {
		GBytes *idb = g_ptr_array_index(store->interfaces, i);
		g_byte_array_append(store->scratch, g_bytes_get_data(idb, NULL),
				    g_bytes_get_size(idb));
	}
	pds_hub_names_write_nrb(store->names, store->names_in_chunk, store->scratch);
	if (pds_hub_store_write_chunk(store, store->scratch->data, store->scratch->len, 0)) {
		store->ifs_in_chunk = store->interfaces->len;
		store->names_in_chunk = pds_hub_names_get_count(store->names);
	}
}

static void
pds_hub_store_notify(PdsHubStore *store)
{
	/* Watchers may remove themselves: walk a copy. */
	g_autoptr(GArray) copy = NULL;
	if (store->watches->len == 0)
		return;
	copy = g_array_copy(store->watches);
	for (guint i = 0; i < copy->len; i++) {
		PdsHubStoreWatch *w = &g_array_index(copy, PdsHubStoreWatch, i);
		w->func(w->user_data);
	}
}

static void
pds_hub_store_write_checkpoint(GByteArray *out, const char *source_id, guint64 seq)
{
	g_autoptr(PdsRecordBuilder) builder = pds_record_builder_new(
		PDS_RECORD_CONTROL, G_MAXUINT32, (guint64)g_get_real_time() * 1000);
	g_autoptr(GBytes) record = NULL;

	pds_record_builder_add_u8(builder, PDS_CONTROL_KIND, PDS_CONTROL_CHECKPOINT);
	pds_record_builder_add_string(builder, PDS_CONTROL_SOURCE_ID, source_id);
	pds_record_builder_add_u64(builder, PDS_CONTROL_SEQ, seq);
	record = pds_record_builder_end(g_steal_pointer(&builder));
	pds_record_write_custom_block(out, record);
}

void
pds_hub_store_append_batch(PdsHubStore *store,
			   GByteArray *batch,
			   const char *source_id,
			   guint64 seq)
{
	guint orig_len;
	guint64 n_entries = 0;
	guint64 *stored;
	gsize off;

	g_return_if_fail(store != NULL);
	g_return_if_fail(batch != NULL);
	g_return_if_fail(source_id != NULL);

	for (off = 0; off + 12 <= batch->len;) {
		guint32 blen = pds_hub_read_le32(batch->data + off + 4);
		g_return_if_fail(blen >= 12 && off + blen <= batch->len);
		n_entries++;
		off += blen;
	}

	stored = g_hash_table_lookup(store->checkpoints, source_id);
	if (stored == NULL) {
		stored = g_new0(guint64, 1);
		g_hash_table_insert(store->checkpoints, g_strdup(source_id), stored);
	}
	*stored = MAX(*stored, seq);

	if (pds_hub_store_ensure_chunk(store)) {
		pds_hub_store_sync_chunk_header(store);
		/* The checkpoint goes in the same write() as the blocks it covers. */
		orig_len = batch->len;
		pds_hub_store_write_checkpoint(batch, source_id, seq);
		pds_hub_store_write_chunk(store, batch->data, batch->len, n_entries);
		g_byte_array_set_size(batch, orig_len);
	}

	for (off = 0; off < batch->len;) {
		guint32 blen = pds_hub_read_le32(batch->data + off + 4);
		pds_hub_ring_append(store->ring, batch->data + off, blen);
		off += blen;
	}
	store->end_index += n_entries;

	if (store->fd >= 0) {
		PdsHubChunk *chunk = pds_hub_store_current_chunk(store);
		if (chunk != NULL && chunk->size >= store->chunk_size) {
			g_debug("%s full (%" G_GUINT64_FORMAT " bytes), rotating", chunk->path,
				chunk->size);
			pds_hub_store_close_chunk(store);
		}
	}
	pds_hub_store_apply_retention(store);
	if (n_entries > 0)
		pds_hub_store_notify(store);
}

/* ---- interfaces and names ---- */

gboolean
pds_hub_store_lookup_interface(PdsHubStore *store, const char *key, guint32 *id)
{
	gpointer v = g_hash_table_lookup(store->if_keys, key);
	if (v == NULL)
		return FALSE;
	*id = GPOINTER_TO_UINT(v) - 1;
	return TRUE;
}

static guint32
pds_hub_store_insert_interface(PdsHubStore *store, const char *key, GBytes *idb)
{
	guint32 id = store->interfaces->len;
	g_ptr_array_add(store->interfaces, idb);
	g_hash_table_insert(store->if_keys, g_strdup(key), GUINT_TO_POINTER(id + 1));
	return id;
}

guint32
pds_hub_store_add_interface(PdsHubStore *store, const char *key, const guint8 *idb, gsize len)
{
	guint32 id;

	g_return_val_if_fail(store != NULL, 0);
	if (pds_hub_store_lookup_interface(store, key, &id))
		return id;
	id = pds_hub_store_insert_interface(store, key, g_bytes_new(idb, len));
	pds_hub_store_sync_chunk_header(store);
	pds_hub_store_notify(store);
	return id;
}

guint
pds_hub_store_get_n_interfaces(PdsHubStore *store)
{
	return store->interfaces->len;
}

GBytes *
pds_hub_store_get_interface(PdsHubStore *store, guint id)
{
	g_return_val_if_fail(id < store->interfaces->len, NULL);
	return g_ptr_array_index(store->interfaces, id);
}

void
pds_hub_store_names_changed(PdsHubStore *store)
{
	pds_hub_store_sync_chunk_header(store);
	pds_hub_store_notify(store);
}

PdsHubNames *
pds_hub_store_get_names(PdsHubStore *store)
{
	return store->names;
}

/* ---- watches and accessors ---- */

guint
pds_hub_store_add_watch(PdsHubStore *store, PdsHubStoreWatchFunc func, gpointer user_data)
{
	PdsHubStoreWatch w = {++store->next_watch_id, func, user_data};
	g_array_append_val(store->watches, w);
	return w.id;
}

void
pds_hub_store_remove_watch(PdsHubStore *store, guint id)
{
	for (guint i = 0; i < store->watches->len; i++) {
		if (g_array_index(store->watches, PdsHubStoreWatch, i).id == id) {
			g_array_remove_index(store->watches, i);
			return;
		}
	}
}

const char *
pds_hub_store_get_failure(PdsHubStore *store)
{
	return store->failure;
}

guint64
pds_hub_store_get_checkpoint(PdsHubStore *store, const char *source_id)
{
	guint64 *seq = g_hash_table_lookup(store->checkpoints, source_id);
	return seq != NULL ? *seq : 0;
}

guint64
pds_hub_store_get_first_index(PdsHubStore *store)
{
	return store->first_index;
}

guint64
pds_hub_store_get_end_index(PdsHubStore *store)
{
	return store->end_index;
}

guint64
pds_hub_store_get_ring_first_index(PdsHubStore *store)
{
	return pds_hub_ring_get_first_index(store->ring);
}

gsize
pds_hub_store_get_ring_bytes(PdsHubStore *store)
{
	return pds_hub_ring_get_bytes(store->ring);
}

guint
pds_hub_store_get_n_chunks(PdsHubStore *store)
{
	return store->chunks->len;
}

guint64
pds_hub_store_get_chunk_bytes(PdsHubStore *store)
{
	guint64 total = 0;
	for (guint i = 0; i < store->chunks->len; i++)
		total += ((PdsHubChunk *)g_ptr_array_index(store->chunks, i))->size;
	return total;
}

/* ---- recovery ---- */

typedef struct {
	guint64 n_entries;
	guint64 header_end;
	guint64 cut;	     /* end of the last checkpoint, or of the header */
	guint64 cut_entries; /* entries before cut */
	gboolean in_header;
	GPtrArray *idbs;     /* of GBytes, before cut */
	GPtrArray *idb_keys; /* of gchar* */
	GArray *idb_offsets; /* of guint64 */
	GHashTable *checkpoints;
} PdsHubScan;

static void
pds_hub_scan_block(PdsHubStore *store, PdsHubScan *scan, const PdsPcapngBlock *block)
{
	guint64 end = block->offset + block->length;
	gboolean header_block = block->type == PDS_PCAPNG_BT_SHB ||
				block->type == PDS_PCAPNG_BT_IDB ||
				block->type == PDS_PCAPNG_BT_NRB;

	if (block->type == PDS_PCAPNG_BT_SHB && block->offset != 0) {
		/* One section per chunk: a second one means the file is not ours. */
		scan->in_header = FALSE;
		return;
	}
	if (scan->in_header && header_block) {
		scan->header_end = end;
		scan->cut = MAX(scan->cut, end);
	} else {
		scan->in_header = FALSE;
	}

	if (block->type == PDS_PCAPNG_BT_IDB) {
		g_autofree gchar *key =
			pds_pcapng_block_dup_custom_kv(block, PDS_HUB_IF_KEY_OPTION);
		g_autoptr(GByteArray) le = g_byte_array_new();
		g_autoptr(GError) error = NULL;
		if (key == NULL)
			key = g_strdup_printf("unnamed:%u", scan->idbs->len);
		if (!pds_pcapng_block_rewrite(block, 0, le, &error)) {
			g_warning("unreadable interface in chunk file: %s", error->message);
			return;
		}
		g_ptr_array_add(scan->idbs, g_byte_array_free_to_bytes(g_steal_pointer(&le)));
		g_ptr_array_add(scan->idb_keys, g_steal_pointer(&key));
		g_array_append_val(scan->idb_offsets, block->offset);
	} else if (block->type == PDS_PCAPNG_BT_NRB) {
		pds_hub_names_add_from_nrb(store->names, block);
	} else if (pds_hub_store_block_is_entry(block->type, block->pen, block->custom_data,
						block->custom_len)) {
		scan->n_entries++;
	} else if (block->type == PDS_PCAPNG_BT_CUSTOM && block->pen == PDS_PEN) {
		PdsRecordIter iter;
		PdsRecordHeader header;
		guint16 code, len;
		const guint8 *value;
		guint8 kind = 0;
		guint64 seq = 0;
		g_autofree gchar *source_id = NULL;

		if (!pds_record_iter_init(&iter, block->custom_data, block->custom_len, &header,
					  NULL) ||
		    header.type != PDS_RECORD_CONTROL)
			return;
		while (pds_record_iter_next(&iter, &code, &value, &len, NULL)) {
			if (code == PDS_CONTROL_KIND)
				pds_record_value_u8(value, len, &kind);
			else if (code == PDS_CONTROL_SEQ)
				pds_record_value_u64(value, len, &seq);
			else if (code == PDS_CONTROL_SOURCE_ID && source_id == NULL)
				source_id = pds_record_value_dup_string(value, len);
		}
		if (kind != PDS_CONTROL_CHECKPOINT || source_id == NULL)
			return;
		g_hash_table_insert(scan->checkpoints, g_steal_pointer(&source_id),
				    g_memdup2(&seq, sizeof(seq)));
		scan->cut = end;
		scan->cut_entries = scan->n_entries;
	}
}

static void
pds_hub_store_recover_chunk(PdsHubStore *store,
			    guint number,
			    const char *path,
			    GPtrArray *best_idbs,
			    GPtrArray *best_keys)
{
	g_autoptr(PdsPcapngReader) reader = pds_pcapng_reader_new();
	g_autofree guint8 *buf = g_malloc(PDS_HUB_STORE_READ_SIZE);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) idbs = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GArray) offsets = g_array_new(FALSE, FALSE, sizeof(guint64));
	g_autoptr(GHashTable) checkpoints =
		g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	PdsHubScan scan = {0};
	GHashTableIter it;
	gpointer k, v;
	guint64 file_size = 0;
	PdsHubChunk *chunk;
	int fd;

	scan.in_header = TRUE;
	scan.idbs = idbs;
	scan.idb_keys = keys;
	scan.idb_offsets = offsets;
	scan.checkpoints = checkpoints;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		g_warning("recovery: cannot open %s, skipping it: %s", path, g_strerror(errno));
		return;
	}
	for (;;) {
		PdsPcapngBlock block;
		gssize n = read(fd, buf, PDS_HUB_STORE_READ_SIZE);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			g_warning("recovery: reading %s: %s", path, g_strerror(errno));
			break;
		}
		if (n == 0) {
			if (!pds_pcapng_reader_finish(reader, &error))
				g_message("recovery: %s ends inside a block (%s)", path,
					  error->message);
			break;
		}
		file_size += n;
		pds_pcapng_reader_feed(reader, buf, n);
		while (pds_pcapng_reader_next(reader, &block, &error))
			pds_hub_scan_block(store, &scan, &block);
		if (error != NULL) {
			g_message("recovery: %s is damaged after byte %" G_GUINT64_FORMAT " (%s)",
				  path, scan.cut, error->message);
			break;
		}
	}
	close(fd);

	if (scan.header_end == 0) {
		g_message("recovery: %s has no complete header, deleting it", path);
		g_unlink(path);
		return;
	}
	if (file_size > scan.cut) {
		/* Blocks after the last checkpoint belong to a batch whose checkpoint
		 * never made it: the source will send them again. */
		g_message("recovery: cutting %s from %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT
			  " bytes (the end of its last complete batch)",
			  path, file_size, scan.cut);
		if (truncate(path, scan.cut) != 0) {
			g_warning("recovery: cannot cut %s: %s; leaving it out", path,
				  g_strerror(errno));
			return;
		}
	}
	while (offsets->len > 0 && g_array_index(offsets, guint64, offsets->len - 1) >= scan.cut) {
		g_array_set_size(offsets, offsets->len - 1);
		g_ptr_array_set_size(idbs, offsets->len);
		g_ptr_array_set_size(keys, offsets->len);
	}
	if (idbs->len > best_idbs->len) {
		g_ptr_array_set_size(best_idbs, 0);
		g_ptr_array_set_size(best_keys, 0);
		for (guint i = 0; i < idbs->len; i++) {
			g_ptr_array_add(best_idbs, g_bytes_ref(g_ptr_array_index(idbs, i)));
			g_ptr_array_add(best_keys, g_strdup(g_ptr_array_index(keys, i)));
		}
	}
	g_hash_table_iter_init(&it, checkpoints);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		g_hash_table_insert(store->checkpoints, g_strdup(k), g_memdup2(v, sizeof(guint64)));
	}

	chunk = g_new0(PdsHubChunk, 1);
	chunk->number = number;
	chunk->path = g_strdup(path);
	chunk->first_index = store->end_index;
	chunk->n_entries = scan.cut_entries;
	chunk->size = scan.cut;
	store->end_index += chunk->n_entries;
	g_ptr_array_add(store->chunks, chunk);
	g_info("recovery: %s holds %" G_GUINT64_FORMAT " blocks", path, chunk->n_entries);
}

static gint
pds_hub_store_compare_numbers(gconstpointer a, gconstpointer b)
{
	guint x = *(const guint *)a, y = *(const guint *)b;
	return x < y ? -1 : x > y;
}

static void
pds_hub_store_recover(PdsHubStore *store)
{
	g_autoptr(GDir) dir = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GArray) numbers = g_array_new(FALSE, FALSE, sizeof(guint));
	g_autoptr(GPtrArray) idbs = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func(g_free);
	const char *name;

	dir = g_dir_open(store->data_dir, 0, &error);
	if (dir == NULL)
		return;
	while ((name = g_dir_read_name(dir)) != NULL) {
		guint number;
		char tail[16];
		if (sscanf(name, "chunk-%u.%15s", &number, tail) == 2 &&
		    g_str_equal(tail, "pcapng") && strlen(name) == strlen("chunk-000000.pcapng"))
			g_array_append_val(numbers, number);
	}
	g_array_sort(numbers, pds_hub_store_compare_numbers);
	for (guint i = 0; i < numbers->len; i++) {
		guint number = g_array_index(numbers, guint, i);
		g_autofree gchar *file = g_strdup_printf("chunk-%06u.pcapng", number);
		g_autofree gchar *path = g_build_filename(store->data_dir, file, NULL);
		pds_hub_store_recover_chunk(store, number, path, idbs, keys);
		store->next_chunk_number = number + 1;
	}
	for (guint i = 0; i < idbs->len; i++)
		pds_hub_store_insert_interface(store, g_ptr_array_index(keys, i),
					       g_bytes_ref(g_ptr_array_index(idbs, i)));
	if (numbers->len > 0)
		g_message("recovered %u chunk files, %" G_GUINT64_FORMAT
			  " blocks, %u interfaces, %u sources from %s",
			  store->chunks->len, store->end_index, store->interfaces->len,
			  g_hash_table_size(store->checkpoints), store->data_dir);
}

static GBytes *
pds_hub_store_records_idb(void)
{
	g_autoptr(GByteArray) out = g_byte_array_new();
	g_autoptr(PdsPcapngOptions) opts = pds_pcapng_options_new();

	pds_pcapng_options_add_string(opts, PDS_PCAPNG_IF_NAME, "podscope");
	pds_pcapng_options_add_string(opts, PDS_PCAPNG_IF_DESCRIPTION,
				      "PodScope records (exported PDU)");
	pds_pcapng_options_add_u8(opts, PDS_PCAPNG_IF_TSRESOL, 9);
	pds_pcapng_options_add_custom_kv(opts, PDS_HUB_IF_KEY_OPTION, PDS_HUB_RECORDS_KEY);
	pds_pcapng_write_idb(out, PDS_LINKTYPE_WIRESHARK_UPPER_PDU, 0, opts);
	return g_byte_array_free_to_bytes(g_steal_pointer(&out));
}

PdsHubStore *
pds_hub_store_new(const PdsHubStoreConfig *config, PdsHubNames *names)
{
	PdsHubStore *store;

	g_return_val_if_fail(config != NULL, NULL);
	g_return_val_if_fail(config->data_dir != NULL, NULL);
	g_return_val_if_fail(names != NULL, NULL);

	store = g_new0(PdsHubStore, 1);
	store->data_dir = g_strdup(config->data_dir);
	store->chunk_size = MAX(config->chunk_size, 4096);
	store->retention = config->retention;
	store->names = names;
	store->interfaces = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	store->if_keys = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	store->checkpoints = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	store->ring = pds_hub_ring_new(config->ring_size);
	store->chunks = g_ptr_array_new_with_free_func((GDestroyNotify)pds_hub_chunk_free);
	store->fd = -1;
	store->watches = g_array_new(FALSE, FALSE, sizeof(PdsHubStoreWatch));
	store->scratch = g_byte_array_new();
	/* one thread: chunks are synced one after the other, oldest first */
	store->closer = g_thread_pool_new(pds_hub_store_sync_and_close, NULL, 1, FALSE, NULL);

	pds_hub_store_recover(store);
	if (store->interfaces->len == 0)
		pds_hub_store_insert_interface(store, PDS_HUB_RECORDS_KEY,
					       pds_hub_store_records_idb());
	pds_hub_ring_set_next_index(store->ring, store->end_index);
	pds_hub_store_open_chunk(store);
	pds_hub_store_apply_retention(store);
	return store;
}

void
pds_hub_store_free(PdsHubStore *store)
{
	if (store == NULL)
		return;
	pds_hub_store_close_chunk(store);
	/* every chunk synced and closed before we return */
	g_thread_pool_free(store->closer, FALSE, TRUE);
	g_free(store->data_dir);
	g_ptr_array_unref(store->interfaces);
	g_hash_table_unref(store->if_keys);
	g_hash_table_unref(store->checkpoints);
	pds_hub_ring_free(store->ring);
	g_ptr_array_unref(store->chunks);
	g_array_unref(store->watches);
	g_byte_array_unref(store->scratch);
	g_free(store->failure);
	g_free(store);
}

/* ---- cursors ---- */

PdsHubStoreCursor *
pds_hub_store_cursor_new(PdsHubStore *store)
{
	PdsHubStoreCursor *cursor = g_new0(PdsHubStoreCursor, 1);
	cursor->store = store;
	cursor->index = store->first_index;
	cursor->fd = -1;
	return cursor;
}

static void
pds_hub_store_cursor_close_file(PdsHubStoreCursor *cursor)
{
	if (cursor->fd >= 0)
		close(cursor->fd);
	cursor->fd = -1;
	g_clear_pointer(&cursor->reader, pds_pcapng_reader_free);
	g_clear_pointer(&cursor->buf, g_free);
}

void
pds_hub_store_cursor_free(PdsHubStoreCursor *cursor)
{
	if (cursor == NULL)
		return;
	pds_hub_store_cursor_close_file(cursor);
	g_free(cursor);
}

guint64
pds_hub_store_cursor_get_index(PdsHubStoreCursor *cursor)
{
	return cursor->index;
}

void
pds_hub_store_cursor_seek(PdsHubStoreCursor *cursor, guint64 index)
{
	/* next() finds the ring slot or the chunk file, and in a chunk skips
	 * the entries before the index without handing them out. */
	pds_hub_store_cursor_close_file(cursor);
	cursor->index = MAX(index, cursor->store->first_index);
}

/* The chunk holding @index, or the first one after it (NULL: none). */
static PdsHubChunk *
pds_hub_store_find_chunk(PdsHubStore *store, guint64 index)
{
	for (guint i = 0; i < store->chunks->len; i++) {
		PdsHubChunk *chunk = g_ptr_array_index(store->chunks, i);
		if (index < chunk->first_index + chunk->n_entries)
			return chunk;
	}
	return NULL;
}

gboolean
pds_hub_store_cursor_next(PdsHubStoreCursor *cursor, const guint8 **data, gsize *len)
{
	PdsHubStore *store = cursor->store;

	for (;;) {
		guint64 ring_first = pds_hub_ring_get_first_index(store->ring);
		PdsHubChunk *chunk;
		PdsPcapngBlock block;
		g_autoptr(GError) error = NULL;

		if (cursor->index >= store->end_index)
			return FALSE;
		if (cursor->index < store->first_index)
			cursor->index = store->first_index;
		if (cursor->index >= ring_first) {
			pds_hub_store_cursor_close_file(cursor);
			if (!pds_hub_ring_get(store->ring, cursor->index, data, len))
				return FALSE;
			cursor->index++;
			return TRUE;
		}

		if (cursor->fd < 0) {
			chunk = pds_hub_store_find_chunk(store, cursor->index);
			if (chunk == NULL) {
				/* Lost: neither on disk nor in RAM any more. */
				cursor->index = ring_first;
				continue;
			}
			if (cursor->index < chunk->first_index)
				cursor->index = chunk->first_index;
			cursor->fd = open(chunk->path, O_RDONLY | O_CLOEXEC);
			if (cursor->fd < 0) {
				g_debug("reading %s: %s", chunk->path, g_strerror(errno));
				cursor->index = chunk->first_index + chunk->n_entries;
				continue;
			}
			cursor->chunk_number = chunk->number;
			cursor->file_index = chunk->first_index;
			cursor->reader = pds_pcapng_reader_new();
			cursor->buf = g_malloc(PDS_HUB_STORE_READ_SIZE);
			cursor->eof = FALSE;
			continue;
		}

		if (pds_pcapng_reader_next(cursor->reader, &block, &error)) {
			if (!pds_hub_store_block_is_entry(block.type, block.pen, block.custom_data,
							  block.custom_len))
				continue;
			if (cursor->file_index++ < cursor->index)
				continue;
			cursor->index++;
			*data = block.raw;
			*len = block.length;
			return TRUE;
		}
		if (error == NULL && !cursor->eof) {
			gssize n = read(cursor->fd, cursor->buf, PDS_HUB_STORE_READ_SIZE);
			if (n > 0) {
				pds_pcapng_reader_feed(cursor->reader, cursor->buf, n);
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			cursor->eof = TRUE;
		}
		/* End of this file (or damage): go on after it. */
		if (error != NULL)
			g_debug("reading chunk %u: %s", cursor->chunk_number, error->message);
		pds_hub_store_cursor_close_file(cursor);
		chunk = pds_hub_store_find_chunk(store, cursor->index);
		if (chunk != NULL && chunk->number == cursor->chunk_number)
			cursor->index = chunk->first_index + chunk->n_entries;
		else if (chunk == NULL)
			cursor->index = MAX(cursor->index, ring_first);
	}
}
