/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The source side of the ingest wire (protocol in pds-uplink.h). Everything
 * runs on the caller's main loop: the socket is non-blocking, output is
 * batched into large TLS writes, and nothing here waits on the network except
 * pds_uplink_stop(), which bounds its final flush.
 */
#include "config.h"

#define G_LOG_DOMAIN "PdsUplink"

#include "pds-uplink.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/utsname.h>

#include "pds-fd-watch.h"

#define PDS_UPLINK_DEFAULT_PORT	       7443
#define PDS_UPLINK_DEFAULT_SERVER_NAME "podscope-hub"
#define PDS_UPLINK_DEFAULT_SPOOL_LIMIT (64u * 1024u * 1024u)
#define PDS_UPLINK_DEFAULT_HEARTBEAT   5
#define PDS_UPLINK_MISSED_HEARTBEATS   3
#define PDS_UPLINK_BACKOFF_MIN_MS      100
#define PDS_UPLINK_BACKOFF_MAX_MS      5000
/* One TLS write takes up to this much: many blocks per syscall, bounded memory. */
#define PDS_UPLINK_WRITE_BATCH (256u * 1024u)
/* Small sends are appended to the newest spool chunk up to this size; a chunk
 * is also the unit of memory the spool hands back once it is acknowledged. */
#define PDS_UPLINK_CHUNK_TARGET (1024u * 1024u)
/* A buffer that grew past this (one very large block) is not kept for reuse. */
#define PDS_UPLINK_POOL_MAX_BYTES (PDS_UPLINK_CHUNK_TARGET + 320u * 1024u)
/* Pooled buffers that no take needed for this long go back to the system. */
#define PDS_UPLINK_POOL_TRIM_SECS 10
#define PDS_UPLINK_READ_SIZE	  (16u * 1024u)
/* pds_uplink_stop() waits this long at most for the hub to acknowledge. */
#define PDS_UPLINK_STOP_TIMEOUT_MS 5000

typedef enum {
	PDS_UPLINK_STATE_NEW,
	PDS_UPLINK_STATE_CONNECTING,  /* TCP connect under way */
	PDS_UPLINK_STATE_HANDSHAKING, /* TLS handshake under way */
	PDS_UPLINK_STATE_WAIT_HELLO,  /* header blocks sent, waiting for the hub's HELLO */
	PDS_UPLINK_STATE_STREAMING,   /* START sent, data flowing */
	PDS_UPLINK_STATE_BACKOFF,     /* waiting to reconnect */
	PDS_UPLINK_STATE_GIVEN_UP,
	PDS_UPLINK_STATE_STOPPED,
} PdsUplinkState;

/* Consecutive queued blocks, sequences first_seq.. */
typedef struct {
	guint64 first_seq;
	guint n_blocks;
	GByteArray *data;
	GArray *offsets; /* of guint32, n_blocks + 1: where each block starts, then the end */
} PdsSpoolChunk;

struct _PdsUplink {
	GObject parent_instance;

	PdsUplinkConfig config; /* strings owned, identities borrowed */
	gchar *hub_label;	/* "host:port", for messages */
	GBytes *header_blocks;
	PdsUplinkState state;

	/* spool: every accepted block until the hub acknowledges it */
	GQueue chunks; /* of PdsSpoolChunk, in sequence order */
	guint64 next_seq;
	guint64 acked_seq;
	guint64 spool_bytes;
	guint64 dropped_blocks;
	guint64 dropped_in_episode;
	guint64 unconfirmed_at_stop; /* queued, never acknowledged when stopped */
	gboolean dropping;
	gsize room_wanted; /* emit "room" when the spool has this much again; 0: no */

	/* the current connection */
	GSocketClient *client;
	GCancellable *cancellable;
	GSocketConnection *connection;
	PdsTlsConn *tls;
	GSource *io_source;
	GIOCondition io_condition;
	/* The hub may have sent something: the watch said so, or no read has
	 * hit "would block" since. A write-only wake-up (a capture batch) then
	 * skips the read that would only return EAGAIN. */
	gboolean may_read;
	PdsPcapngReader *reader;
	GByteArray *wbuf; /* header and control blocks waiting for the socket */
	gsize wbuf_pos;	  /* bytes of wbuf already written */
	GPtrArray *pool;  /* emptied chunk buffers (GByteArray) for reuse */
	guint pool_low;	  /* fewest buffers the pool held since the last trim */
	guint trim_id;
	gboolean write_blocked;
	gsize queued_since_flush; /* bytes queued since the last flush */
	gboolean announced;	  /* "connected" was emitted for this connection */
	guint64 send_seq;	  /* first spooled block not yet wholly written */
	GList *send_link;	  /* chunk holding send_seq, or NULL to search */
	gsize send_pos;		  /* next byte of send_link's data to write */
	gint64 last_rx;		  /* monotonic µs */
	gint64 last_tx;

	guint flush_id;
	guint heartbeat_id;
	guint reconnect_id;
	guint grace_id;
	guint backoff_ms;
	gchar *last_failure;
};

enum {
	SIGNAL_CONNECTED,
	SIGNAL_DISCONNECTED,
	SIGNAL_GIVEN_UP,
	SIGNAL_DROPPING,
	SIGNAL_ROOM,
	N_SIGNALS,
};
static guint signals[N_SIGNALS];

G_DEFINE_TYPE(PdsUplink, pds_uplink, G_TYPE_OBJECT)

static void pds_uplink_connect(PdsUplink *self);
static void pds_uplink_pump(PdsUplink *self);

/* ---- control records ---- */

void
pds_uplink_write_control(GByteArray *out,
			 PdsControlKind kind,
			 guint64 seq,
			 const char *source_id,
			 const char *message)
{
	g_autoptr(PdsRecordBuilder) builder = NULL;
	g_autoptr(GBytes) record = NULL;

	g_return_if_fail(out != NULL);

	builder = pds_record_builder_new(PDS_RECORD_CONTROL, 0, (guint64)g_get_real_time() * 1000u);
	pds_record_builder_add_u8(builder, PDS_CONTROL_KIND, (guint8)kind);
	if (kind == PDS_CONTROL_HELLO || kind == PDS_CONTROL_START || kind == PDS_CONTROL_ACK ||
	    kind == PDS_CONTROL_CHECKPOINT)
		pds_record_builder_add_u64(builder, PDS_CONTROL_SEQ, seq);
	if (source_id != NULL)
		pds_record_builder_add_string(builder, PDS_CONTROL_SOURCE_ID, source_id);
	if (message != NULL)
		pds_record_builder_add_string(builder, PDS_CONTROL_MESSAGE, message);
	record = pds_record_builder_end(builder);
	pds_record_write_custom_block(out, record);
}

void
pds_uplink_control_clear(PdsUplinkControl *control)
{
	if (control == NULL)
		return;
	g_clear_pointer(&control->source_id, g_free);
	g_clear_pointer(&control->message, g_free);
	memset(control, 0, sizeof(*control));
}

gboolean
pds_uplink_parse_control(const PdsPcapngBlock *block, PdsUplinkControl *control, GError **error)
{
	PdsRecordHeader header;
	PdsRecordIter iter;
	gboolean have_kind = FALSE;
	guint16 code, len;
	const guint8 *value;

	g_return_val_if_fail(block != NULL, FALSE);
	g_return_val_if_fail(control != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	memset(control, 0, sizeof(*control));
	if ((block->type != PDS_PCAPNG_BT_CUSTOM && block->type != PDS_PCAPNG_BT_CUSTOM_NOCOPY) ||
	    block->pen != PDS_PEN || block->custom_data == NULL)
		return FALSE;
	if (!pds_record_iter_init(&iter, block->custom_data, block->custom_len, &header, error)) {
		g_prefix_error(error, "record at stream offset %" G_GUINT64_FORMAT ": ",
			       block->offset);
		return FALSE;
	}
	if (header.type != PDS_RECORD_CONTROL)
		return FALSE;
	for (;;) {
		g_autoptr(GError) local = NULL;

		if (!pds_record_iter_next(&iter, &code, &value, &len, &local)) {
			if (local != NULL) {
				pds_uplink_control_clear(control);
				g_propagate_prefixed_error(error, g_steal_pointer(&local),
							   "control record at stream offset "
							   "%" G_GUINT64_FORMAT ": ",
							   block->offset);
				return FALSE;
			}
			break;
		}
		switch (code) {
		case PDS_CONTROL_KIND: {
			guint8 kind;
			if (pds_record_value_u8(value, len, &kind)) {
				control->kind = kind;
				have_kind = TRUE;
			}
			break;
		}
		case PDS_CONTROL_SEQ:
			(void)pds_record_value_u64(value, len, &control->seq);
			break;
		case PDS_CONTROL_SOURCE_ID:
			g_free(control->source_id);
			control->source_id = pds_record_value_dup_string(value, len);
			break;
		case PDS_CONTROL_MESSAGE:
			g_free(control->message);
			control->message = pds_record_value_dup_string(value, len);
			break;
		default:
			break; /* newer fields: skip */
		}
	}
	if (!have_kind) {
		pds_uplink_control_clear(control);
		g_set_error(error, PDS_RECORD_ERROR, PDS_RECORD_ERROR_BAD_FIELD,
			    "control record at stream offset %" G_GUINT64_FORMAT
			    " has no valid kind field",
			    block->offset);
		return FALSE;
	}
	return TRUE;
}

/* ---- spool ---- */

static guint32
pds_spool_chunk_offset(const PdsSpoolChunk *chunk, guint i)
{
	return g_array_index(chunk->offsets, guint32, i);
}

/* Bytes of the blocks with sequences first..last (inclusive) of @chunk. */
static gsize
pds_spool_chunk_span(const PdsSpoolChunk *chunk, guint64 first, guint64 last)
{
	return pds_spool_chunk_offset(chunk, last - chunk->first_seq + 1) -
	       pds_spool_chunk_offset(chunk, first - chunk->first_seq);
}

/*
 * Chunk buffers are recycled: an acknowledged chunk's buffer goes to the pool
 * and the next chunk or capture batch takes it from there. Every buffer in
 * the pool was in use at the same time as the others (the spool at its
 * fullest), so keeping them costs no more memory than that peak did; a fresh
 * buffer instead costs a page fault per 4 KiB on its first fill (with a pool
 * of 8, back-pressure cost the agent 50-70 thousand page faults per 5 s).
 * Buffers that sat unused for a whole trim period go back to the system.
 */
static GByteArray *
pds_uplink_pool_take(PdsUplink *self)
{
	GByteArray *buf;

	if (self->pool->len == 0) {
		self->pool_low = 0;
		/* room for a full chunk plus one more large block: filling never reallocates */
		return g_byte_array_sized_new(PDS_UPLINK_CHUNK_TARGET + 320u * 1024u);
	}
	buf = g_ptr_array_steal_index_fast(self->pool, self->pool->len - 1);
	self->pool_low = MIN(self->pool_low, self->pool->len);
	return buf;
}

static void
pds_uplink_pool_give(PdsUplink *self, GByteArray *buf)
{
	if (buf->len <= PDS_UPLINK_POOL_MAX_BYTES) {
		g_byte_array_set_size(buf, 0);
		g_ptr_array_add(self->pool, buf);
	} else {
		g_byte_array_unref(buf);
	}
}

void
pds_uplink_trim_buffers(PdsUplink *self)
{
	g_return_if_fail(PDS_IS_UPLINK(self));

	/* the pool never went below pool_low since the last trim: those were not needed */
	g_ptr_array_remove_range(self->pool, 0, MIN(self->pool_low, self->pool->len));
	self->pool_low = self->pool->len;
}

static gboolean
pds_uplink_trim_cb(gpointer user_data)
{
	pds_uplink_trim_buffers(user_data);
	return G_SOURCE_CONTINUE;
}

guint
pds_uplink_get_pooled_buffers(PdsUplink *self)
{
	g_return_val_if_fail(PDS_IS_UPLINK(self), 0);
	return self->pool->len;
}

static PdsSpoolChunk *
pds_spool_chunk_new(guint64 first_seq, GByteArray *data)
{
	PdsSpoolChunk *chunk = g_new0(PdsSpoolChunk, 1);
	guint32 zero = 0;

	chunk->first_seq = first_seq;
	chunk->data = data;
	chunk->offsets = g_array_sized_new(FALSE, FALSE, sizeof(guint32), 1024);
	g_array_append_val(chunk->offsets, zero);
	return chunk;
}

static void
pds_spool_chunk_free(PdsUplink *self, PdsSpoolChunk *chunk)
{
	pds_uplink_pool_give(self, chunk->data);
	g_array_unref(chunk->offsets);
	g_free(chunk);
}

/* Whether @blocks are exactly @n_blocks whole little-endian blocks. */
static gboolean
pds_uplink_blocks_check(const guint8 *blocks, gsize len, guint n_blocks)
{
	gsize pos = 0;
	guint count = 0;

	while (pos < len) {
		guint32 block_len;

		if (count >= n_blocks || len - pos < 12)
			return FALSE;
		memcpy(&block_len, blocks + pos + 4, 4);
		block_len = GUINT32_FROM_LE(block_len);
		if (block_len < 12 || block_len % 4 != 0 || block_len > len - pos)
			return FALSE;
		pos += block_len;
		count++;
	}
	return count == n_blocks;
}

/*
 * Records the boundaries of the @n_blocks blocks that take @chunk's data from
 * @start to its end; the caller has checked them (pds_uplink_blocks_check).
 */
static void
pds_spool_chunk_index(PdsSpoolChunk *chunk, gsize start, guint n_blocks)
{
	const guint8 *data = chunk->data->data;
	gsize pos = start;

	while (pos < chunk->data->len) {
		guint32 block_len, end;

		memcpy(&block_len, data + pos + 4, 4);
		pos += GUINT32_FROM_LE(block_len);
		end = (guint32)pos;
		g_array_append_val(chunk->offsets, end);
	}
	chunk->n_blocks += n_blocks;
}

/* The hub has every block up to @seq: they leave the spool. */
static void
pds_uplink_spool_ack(PdsUplink *self, guint64 seq)
{
	PdsSpoolChunk *chunk;

	if (seq <= self->acked_seq)
		return;
	while ((chunk = g_queue_peek_head(&self->chunks)) != NULL) {
		guint64 last = chunk->first_seq + chunk->n_blocks - 1;
		guint64 live = MAX(chunk->first_seq, self->acked_seq + 1);

		if (chunk->n_blocks == 0)
			break;
		if (last <= seq) {
			self->spool_bytes -= pds_spool_chunk_span(chunk, live, last);
			if (self->send_link != NULL && self->send_link->data == chunk)
				self->send_link = NULL;
			g_queue_pop_head(&self->chunks);
			pds_spool_chunk_free(self, chunk);
			continue;
		}
		if (seq >= live)
			self->spool_bytes -= pds_spool_chunk_span(chunk, live, seq);
		break;
	}
	self->acked_seq = seq;
	if (self->next_seq <= seq)
		self->next_seq = seq + 1;
	if (self->room_wanted != 0 &&
	    self->spool_bytes + self->room_wanted <= self->config.spool_limit_bytes) {
		self->room_wanted = 0;
		g_signal_emit(self, signals[SIGNAL_ROOM], 0);
	}
}

/*
 * Finds the chunk holding send_seq and the byte it starts at, after a
 * reconnect or an acknowledgement freed the chunk being sent; FALSE when
 * everything queued has been written.
 */
static gboolean
pds_uplink_find_send_position(PdsUplink *self)
{
	GList *link;

	if (self->send_seq >= self->next_seq)
		return FALSE;
	if (self->send_link != NULL) {
		PdsSpoolChunk *chunk = self->send_link->data;

		if (self->send_seq < chunk->first_seq + chunk->n_blocks)
			return TRUE;
		/* that chunk is all written: the next one starts with send_seq */
		self->send_link = self->send_link->next;
		self->send_pos = 0;
		if (self->send_link != NULL &&
		    ((PdsSpoolChunk *)self->send_link->data)->first_seq == self->send_seq)
			return TRUE;
		self->send_link = NULL;
	}
	for (link = self->chunks.head; link != NULL; link = link->next) {
		PdsSpoolChunk *chunk = link->data;

		if (self->send_seq < chunk->first_seq + chunk->n_blocks) {
			if (self->send_seq < chunk->first_seq)
				break;
			self->send_link = link;
			self->send_pos = pds_spool_chunk_offset(
				chunk, (guint)(self->send_seq - chunk->first_seq));
			return TRUE;
		}
	}
	/* cannot happen: sequences are contiguous and only acknowledged
	 * blocks leave the spool */
	g_warning("spooled block %" G_GUINT64_FORMAT " is missing", self->send_seq);
	self->send_seq = self->next_seq;
	return FALSE;
}

/* @n more bytes of the current chunk were written: count the blocks they finished. */
static void
pds_uplink_advance_send_position(PdsUplink *self, gsize n)
{
	PdsSpoolChunk *chunk = self->send_link->data;

	self->send_pos += n;
	while (self->send_seq < chunk->first_seq + chunk->n_blocks &&
	       pds_spool_chunk_offset(chunk, (guint)(self->send_seq - chunk->first_seq) + 1) <=
		       self->send_pos)
		self->send_seq++;
}

/* ---- connection ---- */

static void
pds_uplink_clear_io_source(PdsUplink *self)
{
	if (self->io_source != NULL) {
		g_source_destroy(self->io_source);
		g_clear_pointer(&self->io_source, g_source_unref);
	}
	self->io_condition = 0;
}

static void
pds_uplink_teardown(PdsUplink *self)
{
	pds_uplink_clear_io_source(self);
	g_clear_handle_id(&self->flush_id, g_source_remove);
	if (self->cancellable != NULL) {
		g_cancellable_cancel(self->cancellable);
		g_clear_object(&self->cancellable);
	}
	if (self->tls != NULL) {
		pds_tls_conn_close(self->tls);
		g_clear_pointer(&self->tls, pds_tls_conn_free);
	}
	if (self->connection != NULL) {
		g_socket_close(g_socket_connection_get_socket(self->connection), NULL);
		g_clear_object(&self->connection);
	}
	g_clear_pointer(&self->reader, pds_pcapng_reader_free);
	g_byte_array_set_size(self->wbuf, 0);
	self->wbuf_pos = 0;
	self->write_blocked = FALSE;
	self->send_link = NULL;
	self->send_pos = 0;
}

static gboolean
pds_uplink_grace_cb(gpointer user_data)
{
	PdsUplink *self = PDS_UPLINK(user_data);

	self->grace_id = 0;
	pds_uplink_teardown(self);
	g_clear_handle_id(&self->reconnect_id, g_source_remove);
	g_clear_handle_id(&self->heartbeat_id, g_source_remove);
	self->state = PDS_UPLINK_STATE_GIVEN_UP;
	g_warning("no connection to the hub %s for %u s: giving up (%" G_GUINT64_FORMAT
		  " blocks were never acknowledged; last error: %s)",
		  self->hub_label, self->config.grace_secs, self->next_seq - 1 - self->acked_seq,
		  self->last_failure != NULL ? self->last_failure : "none");
	g_signal_emit(self, signals[SIGNAL_GIVEN_UP], 0);
	return G_SOURCE_REMOVE;
}

static void
pds_uplink_arm_grace(PdsUplink *self)
{
	if (self->config.grace_secs == 0 || self->grace_id != 0)
		return;
	self->grace_id = g_timeout_add(self->config.grace_secs * 1000u, pds_uplink_grace_cb, self);
}

static gboolean
pds_uplink_reconnect_cb(gpointer user_data)
{
	PdsUplink *self = PDS_UPLINK(user_data);

	self->reconnect_id = 0;
	pds_uplink_connect(self);
	return G_SOURCE_REMOVE;
}

/* Ends the connection after a failure and schedules the next attempt. */
static void
pds_uplink_fail(PdsUplink *self, const char *reason)
{
	gboolean was_announced = self->announced;
	guint delay;

	if (self->state == PDS_UPLINK_STATE_STOPPED || self->state == PDS_UPLINK_STATE_GIVEN_UP)
		return;
	pds_uplink_teardown(self);
	self->announced = FALSE;
	self->state = PDS_UPLINK_STATE_BACKOFF;

	/* Operators see a failure once, not on every retry. */
	if (was_announced) {
		g_message("lost the hub %s: %s", self->hub_label, reason);
	} else if (g_strcmp0(self->last_failure, reason) != 0) {
		g_message("cannot connect to the hub %s: %s (retrying)", self->hub_label, reason);
	} else {
		g_debug("cannot connect to the hub %s: %s", self->hub_label, reason);
	}
	g_free(self->last_failure);
	self->last_failure = g_strdup(reason);

	/* Exponential backoff with jitter, so that many sources that lost the
	 * same hub do not all come back in the same instant. */
	delay = self->backoff_ms / 2 + g_random_int_range(0, (gint32)(self->backoff_ms / 2) + 1);
	self->backoff_ms = MIN(self->backoff_ms * 2, PDS_UPLINK_BACKOFF_MAX_MS);
	self->reconnect_id = g_timeout_add(MAX(delay, 1u), pds_uplink_reconnect_cb, self);
	pds_uplink_arm_grace(self);

	if (was_announced) {
		g_object_ref(self);
		g_signal_emit(self, signals[SIGNAL_DISCONNECTED], 0, reason);
		g_object_unref(self);
	}
}

static void
pds_uplink_fail_error(PdsUplink *self, const char *what, const GError *error)
{
	g_autofree gchar *reason = g_strdup_printf("%s: %s", what, error->message);
	pds_uplink_fail(self, reason);
}

static gboolean
pds_uplink_io_cb(GSocket *socket, GIOCondition condition, gpointer user_data)
{
	PdsUplink *self = PDS_UPLINK(user_data);

	if (condition & (G_IO_IN | G_IO_HUP | G_IO_ERR))
		self->may_read = TRUE;
	g_object_ref(self);
	pds_uplink_pump(self);
	g_object_unref(self);
	/* pump replaced or kept the source through pds_uplink_watch() */
	return G_SOURCE_CONTINUE;
}

static void
pds_uplink_watch(PdsUplink *self, GIOCondition condition)
{
	if (self->io_source != NULL && self->io_condition == condition)
		return;
	pds_uplink_clear_io_source(self);
	self->io_source =
		g_socket_create_source(pds_tls_conn_get_socket(self->tls), condition, NULL);
	g_source_set_callback(self->io_source, G_SOURCE_FUNC(pds_uplink_io_cb), self, NULL);
	pds_fd_watch_attach(self->io_source, NULL);
	self->io_condition = condition;
}

/*
 * Writes wbuf (header and control blocks), then spooled blocks straight from
 * the spool's memory; FALSE when the connection failed. A control block is
 * only ever queued between whole data blocks: heartbeats wait until nothing
 * is pending, START goes before any data of its connection.
 */
static gboolean
pds_uplink_flush(PdsUplink *self)
{
	self->queued_since_flush = 0;
	for (;;) {
		g_autoptr(GError) error = NULL;
		const guint8 *data;
		gsize len;
		gboolean from_spool = FALSE;
		gssize n;

		if (self->wbuf_pos < self->wbuf->len) {
			data = self->wbuf->data + self->wbuf_pos;
			len = self->wbuf->len - self->wbuf_pos;
		} else {
			PdsSpoolChunk *chunk;
			guint i, j;

			g_byte_array_set_size(self->wbuf, 0);
			self->wbuf_pos = 0;
			if (self->state != PDS_UPLINK_STATE_STREAMING ||
			    !pds_uplink_find_send_position(self)) {
				/* nothing more to write: send what the TLS layer holds */
				if (!pds_tls_conn_flush(self->tls, &error)) {
					if (g_error_matches(error, G_IO_ERROR,
							    G_IO_ERROR_WOULD_BLOCK)) {
						self->write_blocked = TRUE;
						return TRUE;
					}
					pds_uplink_fail_error(self, "write to the hub failed",
							      error);
					return FALSE;
				}
				self->write_blocked = FALSE;
				return TRUE;
			}
			/* Up to one write batch, ending at a block boundary (or
			 * one bigger block whole). */
			chunk = self->send_link->data;
			i = (guint)(self->send_seq - chunk->first_seq);
			j = i + 1;
			while (j < chunk->n_blocks &&
			       pds_spool_chunk_offset(chunk, j + 1) - self->send_pos <=
				       PDS_UPLINK_WRITE_BATCH)
				j++;
			data = chunk->data->data + self->send_pos;
			len = pds_spool_chunk_offset(chunk, j) - self->send_pos;
			from_spool = TRUE;
		}
		n = pds_tls_conn_write(self->tls, data, len, &error);
		if (n < 0) {
			if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
				self->write_blocked = TRUE;
				return TRUE;
			}
			pds_uplink_fail_error(self, "write to the hub failed", error);
			return FALSE;
		}
		if (from_spool)
			pds_uplink_advance_send_position(self, (gsize)n);
		else
			self->wbuf_pos += n;
		self->last_tx = g_get_monotonic_time();
		self->write_blocked = FALSE;
	}
}

static void
pds_uplink_send_control(PdsUplink *self, PdsControlKind kind, guint64 seq, const char *message)
{
	pds_uplink_write_control(self->wbuf, kind, seq, self->config.source_id, message);
}

static gboolean
pds_uplink_handle_hello(PdsUplink *self, guint64 seq)
{
	guint64 last_queued = self->next_seq - 1;

	if (seq > last_queued) {
		/* The hub knows more of this source id than we ever queued:
		 * continue after its number so nothing new looks like a replay. */
		g_warning("the hub %s has blocks up to %" G_GUINT64_FORMAT
			  " for source '%s', more than the %" G_GUINT64_FORMAT
			  " queued here; continuing from its number",
			  self->hub_label, seq, self->config.source_id, last_queued);
	} else if (seq < self->acked_seq) {
		g_warning("the hub %s lost blocks %" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT
			  " it had acknowledged; they cannot be sent again",
			  self->hub_label, seq + 1, self->acked_seq);
	}
	pds_uplink_spool_ack(self, seq);
	self->send_seq = self->acked_seq + 1;
	self->send_link = NULL;
	pds_uplink_send_control(self, PDS_CONTROL_START, self->send_seq, NULL);
	self->state = PDS_UPLINK_STATE_STREAMING;
	self->backoff_ms = PDS_UPLINK_BACKOFF_MIN_MS;
	g_clear_handle_id(&self->grace_id, g_source_remove);
	g_clear_pointer(&self->last_failure, g_free);
	self->announced = TRUE;
	g_message("connected to the hub %s; resuming at block %" G_GUINT64_FORMAT
		  " (%" G_GUINT64_FORMAT " spooled)",
		  self->hub_label, self->send_seq, self->next_seq - self->send_seq);
	g_signal_emit(self, signals[SIGNAL_CONNECTED], 0);
	/* a handler may have stopped us */
	return self->tls != NULL;
}

/* Reads all the hub sent; FALSE when the connection failed. */
static gboolean
pds_uplink_read(PdsUplink *self)
{
	guint8 buf[PDS_UPLINK_READ_SIZE];

	for (;;) {
		g_autoptr(GError) error = NULL;
		gssize n = pds_tls_conn_read(self->tls, buf, sizeof(buf), &error);
		PdsPcapngBlock block;
		gboolean drained;

		if (n == 0) {
			pds_uplink_fail(self, "the hub closed the connection");
			return FALSE;
		}
		if (n < 0) {
			if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
				self->may_read = FALSE;
				return TRUE;
			}
			pds_uplink_fail_error(self, "read from the hub failed", error);
			return FALSE;
		}
		self->last_rx = g_get_monotonic_time();
		drained = pds_tls_conn_is_drained(self->tls);
		pds_pcapng_reader_feed(self->reader, buf, n);
		while (pds_pcapng_reader_next(self->reader, &block, &error)) {
			g_auto(PdsUplinkControl) control = {0};

			if (!pds_uplink_parse_control(&block, &control, &error)) {
				if (error != NULL) {
					pds_uplink_fail_error(self, "the hub sent a bad record",
							      error);
					return FALSE;
				}
				continue;
			}
			switch (control.kind) {
			case PDS_CONTROL_HELLO:
				if (self->state != PDS_UPLINK_STATE_WAIT_HELLO) {
					pds_uplink_fail(self, "the hub sent a second HELLO");
					return FALSE;
				}
				if (!pds_uplink_handle_hello(self, control.seq))
					return FALSE;
				break;
			case PDS_CONTROL_ACK:
				if (control.seq >= self->send_seq) {
					g_autofree gchar *reason = g_strdup_printf(
						"the hub acknowledged block %" G_GUINT64_FORMAT
						", which was not sent yet",
						control.seq);
					pds_uplink_fail(self, reason);
					return FALSE;
				}
				pds_uplink_spool_ack(self, control.seq);
				break;
			case PDS_CONTROL_GOODBYE: {
				g_autofree gchar *reason = g_strdup_printf(
					"the hub said goodbye: %s", control.message != NULL
									    ? control.message
									    : "no reason given");
				pds_uplink_fail(self, reason);
				return FALSE;
			}
			case PDS_CONTROL_HEARTBEAT:
			default:
				break;
			}
		}
		if (error != NULL) {
			pds_uplink_fail_error(self, "the hub sent malformed pcapng", error);
			return FALSE;
		}
		if (drained) {
			/* the watch reports what comes later */
			self->may_read = FALSE;
			return TRUE;
		}
	}
}

/* Drives the connection as far as the socket allows, then waits on it. */
static void
pds_uplink_pump(PdsUplink *self)
{
	GIOCondition condition = G_IO_IN;

	if (self->tls == NULL)
		return;
	if (self->state == PDS_UPLINK_STATE_HANDSHAKING) {
		g_autoptr(GError) error = NULL;

		if (!pds_tls_conn_handshake(self->tls, &error)) {
			if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
				pds_uplink_watch(self, pds_tls_conn_get_wait_condition(self->tls));
				return;
			}
			pds_uplink_fail_error(self, "TLS handshake with the hub failed", error);
			return;
		}
		g_debug("TLS up with %s (%s); sending %" G_GSIZE_FORMAT " header bytes",
			self->hub_label, pds_tls_conn_get_peer_name(self->tls),
			g_bytes_get_size(self->header_blocks));
		self->state = PDS_UPLINK_STATE_WAIT_HELLO;
		pds_tls_conn_set_buffered(self->tls);
		self->reader = pds_pcapng_reader_new();
		g_byte_array_append(self->wbuf, g_bytes_get_data(self->header_blocks, NULL),
				    g_bytes_get_size(self->header_blocks));
		self->last_rx = g_get_monotonic_time();
	}
	if ((self->may_read || self->state != PDS_UPLINK_STATE_STREAMING) && !pds_uplink_read(self))
		return;
	if (!pds_uplink_flush(self))
		return;
	if (self->write_blocked)
		condition |= pds_tls_conn_get_wait_condition(self->tls);
	pds_uplink_watch(self, condition);
}

static void
pds_uplink_connected_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GSocketConnection) connection =
		g_socket_client_connect_finish(G_SOCKET_CLIENT(source), result, &error);
	PdsUplink *self;
	GSocket *socket;
	int one = 1;

	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return; /* torn down (or disposed) meanwhile: self may be gone */
	self = PDS_UPLINK(user_data);
	if (connection == NULL) {
		pds_uplink_fail_error(self, "TCP connect failed", error);
		return;
	}
	g_clear_object(&self->cancellable);
	socket = g_socket_connection_get_socket(connection);
	/* We batch ourselves; small control messages must not wait for Nagle. */
	if (!g_socket_set_option(socket, IPPROTO_TCP, TCP_NODELAY, one, &error)) {
		g_debug("TCP_NODELAY: %s", error->message);
		g_clear_error(&error);
	}
	g_socket_set_timeout(socket, 0);
	self->tls = pds_tls_conn_new_client(socket, self->config.identity, self->config.ca,
					    self->config.server_name, &error);
	if (self->tls == NULL) {
		pds_uplink_fail_error(self, "cannot set up TLS", error);
		return;
	}
	self->connection = g_steal_pointer(&connection);
	self->state = PDS_UPLINK_STATE_HANDSHAKING;
	self->last_rx = g_get_monotonic_time();
	self->may_read = TRUE;
	pds_uplink_pump(self);
}

static void
pds_uplink_connect(PdsUplink *self)
{
	g_autoptr(GSocketConnectable) address = NULL;

	pds_uplink_teardown(self);
	self->state = PDS_UPLINK_STATE_CONNECTING;
	self->last_rx = g_get_monotonic_time();
	address = g_network_address_new(self->config.hub_host, self->config.hub_port);
	self->cancellable = g_cancellable_new();
	g_socket_client_connect_async(self->client, address, self->cancellable,
				      pds_uplink_connected_cb, self);
}

static gboolean
pds_uplink_heartbeat_cb(gpointer user_data)
{
	PdsUplink *self = PDS_UPLINK(user_data);
	gint64 now = g_get_monotonic_time();
	gint64 period = (gint64)self->config.heartbeat_secs * G_USEC_PER_SEC;

	if (self->state == PDS_UPLINK_STATE_CONNECTING ||
	    self->state == PDS_UPLINK_STATE_HANDSHAKING ||
	    self->state == PDS_UPLINK_STATE_WAIT_HELLO ||
	    self->state == PDS_UPLINK_STATE_STREAMING) {
		if (now - self->last_rx >= PDS_UPLINK_MISSED_HEARTBEATS * period) {
			g_autofree gchar *reason = g_strdup_printf(
				"nothing from the hub for %u s (%d heartbeats missed)",
				PDS_UPLINK_MISSED_HEARTBEATS * self->config.heartbeat_secs,
				PDS_UPLINK_MISSED_HEARTBEATS);
			g_object_ref(self);
			pds_uplink_fail(self, reason);
			g_object_unref(self);
			return G_SOURCE_CONTINUE;
		}
	}
	if (self->state == PDS_UPLINK_STATE_STREAMING && !self->write_blocked &&
	    self->wbuf_pos == self->wbuf->len && now - self->last_tx >= period) {
		pds_uplink_send_control(self, PDS_CONTROL_HEARTBEAT, 0, NULL);
		g_object_ref(self);
		pds_uplink_pump(self);
		g_object_unref(self);
	}
	return G_SOURCE_CONTINUE;
}

static gboolean
pds_uplink_flush_cb(gpointer user_data)
{
	PdsUplink *self = PDS_UPLINK(user_data);

	self->flush_id = 0;
	g_object_ref(self);
	pds_uplink_pump(self);
	g_object_unref(self);
	return G_SOURCE_REMOVE;
}

/* ---- public API ---- */

PdsUplink *
pds_uplink_new(const PdsUplinkConfig *config, GBytes *header_blocks)
{
	PdsUplink *self;

	g_return_val_if_fail(config != NULL, NULL);
	g_return_val_if_fail(config->hub_host != NULL, NULL);
	g_return_val_if_fail(config->ca != NULL, NULL);
	g_return_val_if_fail(config->source_id != NULL, NULL);
	g_return_val_if_fail(header_blocks != NULL, NULL);

	self = g_object_new(PDS_TYPE_UPLINK, NULL);
	self->config.hub_host = g_strdup(config->hub_host);
	self->config.hub_port = config->hub_port != 0 ? config->hub_port : PDS_UPLINK_DEFAULT_PORT;
	self->config.server_name = g_strdup(
		config->server_name != NULL ? config->server_name : PDS_UPLINK_DEFAULT_SERVER_NAME);
	self->config.identity = config->identity;
	self->config.ca = config->ca;
	self->config.source_id = g_strdup(config->source_id);
	self->config.spool_limit_bytes = config->spool_limit_bytes != 0
						 ? config->spool_limit_bytes
						 : PDS_UPLINK_DEFAULT_SPOOL_LIMIT;
	self->config.heartbeat_secs =
		config->heartbeat_secs != 0 ? config->heartbeat_secs : PDS_UPLINK_DEFAULT_HEARTBEAT;
	self->config.grace_secs = config->grace_secs;
	if (strchr(self->config.hub_host, ':') != NULL)
		self->hub_label =
			g_strdup_printf("[%s]:%u", self->config.hub_host, self->config.hub_port);
	else
		self->hub_label =
			g_strdup_printf("%s:%u", self->config.hub_host, self->config.hub_port);
	self->header_blocks = g_bytes_ref(header_blocks);
	g_socket_client_set_timeout(self->client, MAX(10u, 3u * self->config.heartbeat_secs));
	return self;
}

void
pds_uplink_start(PdsUplink *self)
{
	g_return_if_fail(PDS_IS_UPLINK(self));
	g_return_if_fail(self->state == PDS_UPLINK_STATE_NEW);

	/* ticks at half the period so a missed heartbeat is seen within half a period */
	self->heartbeat_id =
		g_timeout_add(self->config.heartbeat_secs * 500u, pds_uplink_heartbeat_cb, self);
	self->trim_id = g_timeout_add_seconds(PDS_UPLINK_POOL_TRIM_SECS, pds_uplink_trim_cb, self);
	pds_uplink_arm_grace(self);
	pds_uplink_connect(self);
}

/* Room in the spool for @len more bytes; counts and reports the drop when there is none. */
static gboolean
pds_uplink_spool_admit(PdsUplink *self, gsize len, guint n_blocks)
{
	if (self->state == PDS_UPLINK_STATE_STOPPED || self->state == PDS_UPLINK_STATE_GIVEN_UP ||
	    self->spool_bytes + len > self->config.spool_limit_bytes) {
		self->dropped_blocks += n_blocks;
		self->dropped_in_episode += n_blocks;
		if (!self->dropping && self->state != PDS_UPLINK_STATE_STOPPED &&
		    self->state != PDS_UPLINK_STATE_GIVEN_UP) {
			self->dropping = TRUE;
			g_warning("spool full (%" G_GUINT64_FORMAT " bytes waiting for the hub %s, "
				  "limit %" G_GSIZE_FORMAT "): dropping new blocks",
				  self->spool_bytes, self->hub_label,
				  self->config.spool_limit_bytes);
			g_signal_emit(self, signals[SIGNAL_DROPPING], 0, self->dropped_blocks);
		}
		return FALSE;
	}
	if (self->dropping) {
		g_warning("spool has room again: %" G_GUINT64_FORMAT " blocks were dropped while "
			  "it was full (%" G_GUINT64_FORMAT " in total)",
			  self->dropped_in_episode, self->dropped_blocks);
		self->dropping = FALSE;
		self->dropped_in_episode = 0;
	}
	return TRUE;
}

/* @len bytes of @n_blocks blocks were added to the spool: count them, schedule the write. */
static void
pds_uplink_spool_queued(PdsUplink *self, gsize len, guint n_blocks)
{
	self->next_seq += n_blocks;
	self->spool_bytes += len;

	/* Batch: write once per main-loop iteration, or at once when a full
	 * write's worth has piled up (so a busy loop cannot starve the flush). */
	if (self->state == PDS_UPLINK_STATE_STREAMING && !self->write_blocked) {
		self->queued_since_flush += len;
		if (self->queued_since_flush >= PDS_UPLINK_WRITE_BATCH) {
			g_clear_handle_id(&self->flush_id, g_source_remove);
			g_object_ref(self);
			pds_uplink_pump(self);
			g_object_unref(self);
		} else if (self->flush_id == 0) {
			self->flush_id = g_idle_add_full(G_PRIORITY_DEFAULT, pds_uplink_flush_cb,
							 self, NULL);
		}
	}
}

static void
pds_uplink_report_bad_blocks(const char *func, gsize len, guint n_blocks)
{
	g_critical("%s: %" G_GSIZE_FORMAT " bytes are not %u whole little-endian pcapng blocks",
		   func, len, n_blocks);
}

void
pds_uplink_push(PdsUplink *self)
{
	g_return_if_fail(PDS_IS_UPLINK(self));

	/* no flush pending: nothing queued, or the socket is what we wait for */
	if (self->flush_id == 0)
		return;
	g_clear_handle_id(&self->flush_id, g_source_remove);
	g_object_ref(self);
	pds_uplink_pump(self);
	g_object_unref(self);
}

void
pds_uplink_send_blocks(PdsUplink *self, const guint8 *blocks, gsize len, guint n_blocks)
{
	gsize pos = 0;
	guint placed = 0;

	g_return_if_fail(PDS_IS_UPLINK(self));
	g_return_if_fail(blocks != NULL || len == 0);
	g_return_if_fail(len <= G_MAXUINT32);

	if (n_blocks == 0)
		return;
	if (!pds_uplink_blocks_check(blocks, len, n_blocks)) {
		pds_uplink_report_bad_blocks(G_STRFUNC, len, n_blocks);
		return;
	}
	if (!pds_uplink_spool_admit(self, len, n_blocks))
		return;
	/* Copies pack the newest chunk to its target size, whole blocks only,
	 * then go on in a new one: the spool's memory stays close to its count. */
	while (pos < len) {
		PdsSpoolChunk *tail = g_queue_peek_tail(&self->chunks);
		gsize end = pos, start;
		guint k = 0;

		if (tail == NULL || tail->data->len >= PDS_UPLINK_CHUNK_TARGET) {
			tail = pds_spool_chunk_new(self->next_seq + placed,
						   pds_uplink_pool_take(self));
			g_queue_push_tail(&self->chunks, tail);
		}
		/* an empty chunk takes at least one block, however large */
		while (end < len) {
			guint32 block_len;

			memcpy(&block_len, blocks + end + 4, 4);
			block_len = GUINT32_FROM_LE(block_len);
			if (k > 0 || tail->data->len > 0) {
				if (tail->data->len + (end - pos) + block_len >
				    PDS_UPLINK_CHUNK_TARGET)
					break;
			}
			end += block_len;
			k++;
		}
		if (k == 0) {
			/* the next block does not fit what is left of the tail */
			tail = pds_spool_chunk_new(self->next_seq + placed,
						   pds_uplink_pool_take(self));
			g_queue_push_tail(&self->chunks, tail);
			continue;
		}
		start = tail->data->len;
		g_byte_array_append(tail->data, blocks + pos, (guint)(end - pos));
		pds_spool_chunk_index(tail, start, k);
		pos = end;
		placed += k;
	}
	pds_uplink_spool_queued(self, len, n_blocks);
}

GByteArray *
pds_uplink_send_batch(PdsUplink *self, GByteArray *batch, guint n_blocks)
{
	PdsSpoolChunk *chunk;
	gsize len;

	g_return_val_if_fail(PDS_IS_UPLINK(self), batch);
	g_return_val_if_fail(batch != NULL, batch);

	len = batch->len;
	if (n_blocks == 0)
		return batch;
	/* Only a full batch becomes a chunk of its own; a smaller one is copied
	 * into the newest chunk, since a chunk's buffer is as large as a full
	 * batch whatever it holds, and the spool limit counts what it holds. */
	if (len < PDS_UPLINK_CHUNK_TARGET) {
		pds_uplink_send_blocks(self, batch->data, len, n_blocks);
		g_byte_array_set_size(batch, 0);
		return batch;
	}
	if (!pds_uplink_blocks_check(batch->data, len, n_blocks)) {
		pds_uplink_report_bad_blocks(G_STRFUNC, len, n_blocks);
		g_byte_array_set_size(batch, 0);
		return batch;
	}
	if (!pds_uplink_spool_admit(self, len, n_blocks)) {
		g_byte_array_set_size(batch, 0);
		return batch;
	}
	chunk = pds_spool_chunk_new(self->next_seq, batch);
	pds_spool_chunk_index(chunk, 0, n_blocks);
	g_queue_push_tail(&self->chunks, chunk);
	pds_uplink_spool_queued(self, len, n_blocks);
	return pds_uplink_pool_take(self);
}

void
pds_uplink_set_header_blocks(PdsUplink *self, GBytes *header_blocks)
{
	g_return_if_fail(PDS_IS_UPLINK(self));
	g_return_if_fail(header_blocks != NULL);

	g_bytes_unref(self->header_blocks);
	self->header_blocks = g_bytes_ref(header_blocks);
}

void
pds_uplink_stop(PdsUplink *self)
{
	gint64 deadline = g_get_monotonic_time() + PDS_UPLINK_STOP_TIMEOUT_MS * 1000;
	gboolean was_announced;

	g_return_if_fail(PDS_IS_UPLINK(self));

	if (self->state == PDS_UPLINK_STATE_STOPPED)
		return;
	g_object_ref(self);
	g_clear_handle_id(&self->heartbeat_id, g_source_remove);
	g_clear_handle_id(&self->reconnect_id, g_source_remove);
	g_clear_handle_id(&self->grace_id, g_source_remove);
	g_clear_handle_id(&self->flush_id, g_source_remove);

	/* The last blocks are the ones an operator asked for when stopping:
	 * wait, bounded, until the hub has them all, then say goodbye. */
	while (self->state == PDS_UPLINK_STATE_STREAMING && self->acked_seq + 1 < self->next_seq &&
	       g_get_monotonic_time() < deadline) {
		GPollFD pfd;

		pds_uplink_pump(self);
		/* the pump may just have read the last ACK: do not wait for more */
		if (self->state != PDS_UPLINK_STATE_STREAMING ||
		    self->acked_seq + 1 >= self->next_seq)
			break;
		pds_uplink_clear_io_source(self);
		pfd.fd = g_socket_get_fd(pds_tls_conn_get_socket(self->tls));
		pfd.events = G_IO_IN |
			     (self->write_blocked ? pds_tls_conn_get_wait_condition(self->tls) : 0);
		pfd.revents = 0;
		g_poll(&pfd, 1, (gint)MAX((deadline - g_get_monotonic_time()) / 1000, (gint64)1));
		if (pfd.revents & (G_IO_IN | G_IO_HUP | G_IO_ERR))
			self->may_read = TRUE;
	}
	/* a failure during the flush scheduled a reconnect: not any more */
	g_clear_handle_id(&self->reconnect_id, g_source_remove);
	g_clear_handle_id(&self->grace_id, g_source_remove);
	if (self->acked_seq + 1 < self->next_seq) {
		self->unconfirmed_at_stop = self->next_seq - 1 - self->acked_seq;
		g_warning("stopping with %" G_GUINT64_FORMAT " blocks the hub %s has not "
			  "acknowledged: they may be missing from the session",
			  self->unconfirmed_at_stop, self->hub_label);
	}
	if (self->state == PDS_UPLINK_STATE_STREAMING ||
	    self->state == PDS_UPLINK_STATE_WAIT_HELLO) {
		g_autoptr(GError) error = NULL;

		/* Best effort: whatever the socket takes now. Not while a data
		 * write is half done: the goodbye would land inside a block. */
		if (!self->write_blocked)
			pds_uplink_send_control(self, PDS_CONTROL_GOODBYE, 0, "source stopping");
		if (self->tls != NULL && self->wbuf->len > self->wbuf_pos)
			(void)pds_tls_conn_write(self->tls, self->wbuf->data + self->wbuf_pos,
						 self->wbuf->len - self->wbuf_pos, &error);
		g_clear_error(&error);
		if (self->tls != NULL)
			(void)pds_tls_conn_flush(self->tls, &error);
	}
	was_announced = self->announced;
	pds_uplink_teardown(self);
	self->announced = FALSE;
	self->state = PDS_UPLINK_STATE_STOPPED;
	if (was_announced)
		g_signal_emit(self, signals[SIGNAL_DISCONNECTED], 0, "stopped");
	g_object_unref(self);
}

gboolean
pds_uplink_is_connected(PdsUplink *self)
{
	g_return_val_if_fail(PDS_IS_UPLINK(self), FALSE);
	return self->state == PDS_UPLINK_STATE_STREAMING;
}

guint64
pds_uplink_get_spool_bytes(PdsUplink *self)
{
	g_return_val_if_fail(PDS_IS_UPLINK(self), 0);
	return self->spool_bytes;
}

gsize
pds_uplink_get_spool_room(PdsUplink *self)
{
	g_return_val_if_fail(PDS_IS_UPLINK(self), 0);
	return self->spool_bytes < self->config.spool_limit_bytes
		       ? (gsize)(self->config.spool_limit_bytes - self->spool_bytes)
		       : 0;
}

void
pds_uplink_notify_room(PdsUplink *self, gsize bytes)
{
	g_return_if_fail(PDS_IS_UPLINK(self));
	self->room_wanted = MIN(bytes, self->config.spool_limit_bytes);
}

guint64
pds_uplink_get_dropped_blocks(PdsUplink *self)
{
	g_return_val_if_fail(PDS_IS_UPLINK(self), 0);
	return self->dropped_blocks;
}

guint64
pds_uplink_get_unconfirmed_blocks(PdsUplink *self)
{
	g_return_val_if_fail(PDS_IS_UPLINK(self), 0);
	return self->unconfirmed_at_stop;
}

guint64
pds_uplink_get_acked_seq(PdsUplink *self)
{
	g_return_val_if_fail(PDS_IS_UPLINK(self), 0);
	return self->acked_seq;
}

/* ---- GObject ---- */

static void
pds_uplink_dispose(GObject *object)
{
	PdsUplink *self = PDS_UPLINK(object);

	g_clear_handle_id(&self->heartbeat_id, g_source_remove);
	g_clear_handle_id(&self->reconnect_id, g_source_remove);
	g_clear_handle_id(&self->grace_id, g_source_remove);
	g_clear_handle_id(&self->trim_id, g_source_remove);
	pds_uplink_teardown(self);
	G_OBJECT_CLASS(pds_uplink_parent_class)->dispose(object);
}

static void
pds_uplink_finalize(GObject *object)
{
	PdsUplink *self = PDS_UPLINK(object);

	while (!g_queue_is_empty(&self->chunks))
		pds_spool_chunk_free(self, g_queue_pop_head(&self->chunks));
	g_clear_pointer(&self->pool, g_ptr_array_unref);
	g_clear_pointer(&self->wbuf, g_byte_array_unref);
	g_clear_pointer(&self->header_blocks, g_bytes_unref);
	g_clear_object(&self->client);
	g_free(self->config.hub_host);
	g_free(self->config.server_name);
	g_free(self->config.source_id);
	g_free(self->hub_label);
	g_free(self->last_failure);
	G_OBJECT_CLASS(pds_uplink_parent_class)->finalize(object);
}

static void
pds_uplink_class_init(PdsUplinkClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->dispose = pds_uplink_dispose;
	object_class->finalize = pds_uplink_finalize;

	signals[SIGNAL_CONNECTED] =
		g_signal_new("connected", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
			     NULL, NULL, G_TYPE_NONE, 0);
	signals[SIGNAL_DISCONNECTED] =
		g_signal_new("disconnected", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
			     NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
	signals[SIGNAL_GIVEN_UP] =
		g_signal_new("given-up", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
			     NULL, G_TYPE_NONE, 0);
	signals[SIGNAL_DROPPING] =
		g_signal_new("dropping", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
			     NULL, G_TYPE_NONE, 1, G_TYPE_UINT64);
	signals[SIGNAL_ROOM] = g_signal_new("room", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
					    NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
pds_uplink_init(PdsUplink *self)
{
	g_queue_init(&self->chunks);
	self->state = PDS_UPLINK_STATE_NEW;
	self->next_seq = 1;
	self->acked_seq = 0;
	self->send_seq = 1;
	self->wbuf = g_byte_array_sized_new(64 * 1024);
	self->pool = g_ptr_array_new_with_free_func((GDestroyNotify)g_byte_array_unref);
	self->client = g_socket_client_new();
	self->backoff_ms = PDS_UPLINK_BACKOFF_MIN_MS;
}

PdsPcapngOptions *
pds_uplink_source_shb_options_new(const char *role,
				  const char *source_id,
				  const char *namespace_,
				  const char *pod,
				  const char *node)
{
	PdsPcapngOptions *shb = pds_pcapng_options_new();
	g_autofree gchar *userappl = g_strdup_printf("podscope-%s %s", role, PACKAGE_VERSION);
	struct utsname uts;

	g_return_val_if_fail(role != NULL && source_id != NULL, shb);

	pds_pcapng_options_add_string(shb, PDS_PCAPNG_SHB_HARDWARE, node);
	if (uname(&uts) == 0) {
		g_autofree gchar *os = g_strdup_printf("%s %s", uts.sysname, uts.release);

		pds_pcapng_options_add_string(shb, PDS_PCAPNG_SHB_OS, os);
	}
	pds_pcapng_options_add_string(shb, PDS_PCAPNG_SHB_USERAPPL, userappl);
	pds_pcapng_options_add_custom_kv(shb, "source_id", source_id);
	pds_pcapng_options_add_custom_kv(shb, "role", role);
	pds_pcapng_options_add_custom_kv(shb, "namespace", namespace_);
	pds_pcapng_options_add_custom_kv(shb, "pod", pod);
	pds_pcapng_options_add_custom_kv(shb, "node", node);
	return shb;
}
