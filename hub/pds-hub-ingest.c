/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "PdsHub"

#include "pds-hub-ingest.h"

#include <string.h>

#include "pds-fd-watch.h"
#include "pds-join.h"
#include "pds-pcapng-reader.h"
#include "pds-pcapng-writer.h"
#include "pds-record-codec.h"

/* Large reads keep syscalls and TLS records per packet low on the hot path. */
#define PDS_HUB_READ_SIZE (256 * 1024)
/* Bytes handled per wake-up before other connections get their turn. */
#define PDS_HUB_READ_BUDGET (4 * 1024 * 1024)
/* Blocks are stored (written to the chunk, copied to the ring) in batches of
 * about this size: small enough that the batch is still in the CPU cache for
 * both copies, large enough that a write() carries many blocks. */
#define PDS_HUB_COMMIT_BYTES	  (256 * 1024)
#define PDS_HUB_ACK_INTERVAL_USEC (50 * 1000)

typedef enum {
	PDS_HUB_CONN_HANDSHAKE,
	PDS_HUB_CONN_OPEN,
} PdsHubConnState;

typedef struct {
	PdsHubIngest *ingest;
	GSocketConnection *gconn;
	GSocket *socket;
	PdsTlsConn *tls;
	gchar *peer;
	PdsHubConnState state;
	GSource *io_source;
	GIOCondition io_cond;
	guint handshake_timer;
	guint tick_timer;
	guint ack_timer;
	guint resume_idle;

	PdsPcapngReader *reader;
	PdsHubSource *source;
	gboolean have_shb;
	gboolean started;
	gboolean goodbye_received;
	gboolean shb_sent;
	guint32 n_local_ifs;
	guint64 next_seq;   /* sequence of the next data block */
	guint64 stored_seq; /* blocks up to here are stored */
	guint64 batch_seq;  /* last fresh block in the pending batch */
	gboolean batch_dirty;
	guint64 acked_seq;

	/* join: a connection without a client certificate may only join */
	gboolean join_only;
	gchar *join_namespace; /* what its Section Header Block claims */
	gchar *join_pod;

	gint64 last_ack_time;
	gint64 last_rx;
	gint64 last_tx;
	GByteArray *out;
	gsize out_pos;
	gboolean tls_pending; /* encrypted bytes wait in the TLS layer for the socket */
} PdsHubConn;

struct _PdsHubIngest {
	PdsHubIngestConfig config;
	PdsHubStore *store;	    /* borrowed */
	PdsHubSourceTable *sources; /* borrowed */
	GSocketService *service;
	GList *conns; /* of PdsHubConn */
	guint8 *rbuf;
	GByteArray *batch; /* stored-form blocks of the connection being read */
};

static gboolean pds_hub_conn_flush(PdsHubConn *conn);

/* ---- life cycle ---- */

static void
pds_hub_conn_free(PdsHubConn *conn)
{
	if (conn->io_source != NULL) {
		g_source_destroy(conn->io_source);
		g_source_unref(conn->io_source);
	}
	g_clear_handle_id(&conn->handshake_timer, g_source_remove);
	g_clear_handle_id(&conn->tick_timer, g_source_remove);
	g_clear_handle_id(&conn->ack_timer, g_source_remove);
	g_clear_handle_id(&conn->resume_idle, g_source_remove);
	g_clear_pointer(&conn->tls, pds_tls_conn_free);
	g_clear_pointer(&conn->reader, pds_pcapng_reader_free);
	if (conn->gconn != NULL)
		g_io_stream_close(G_IO_STREAM(conn->gconn), NULL, NULL);
	g_clear_object(&conn->gconn);
	g_byte_array_unref(conn->out);
	g_free(conn->peer);
	g_free(conn->join_namespace);
	g_free(conn->join_pod);
	g_free(conn);
}

static const char *
pds_hub_conn_name(PdsHubConn *conn)
{
	return conn->source != NULL ? conn->source->source_id : "(no source id yet)";
}

static void pds_hub_conn_commit(PdsHubConn *conn);

static void
pds_hub_conn_write_shb(PdsHubConn *conn)
{
	g_autoptr(PdsPcapngOptions) opts = pds_pcapng_options_new();
	pds_pcapng_options_add_string(opts, PDS_PCAPNG_SHB_USERAPPL,
				      "podscope-hub " PACKAGE_VERSION);
	pds_pcapng_write_shb(conn->out, opts);
	conn->shb_sent = TRUE;
}

/* Ends the connection; @reason is logged (and sent in a GOODBYE when @goodbye). */
static void
pds_hub_conn_close(PdsHubConn *conn, const char *reason, gboolean goodbye)
{
	PdsHubIngest *ingest = conn->ingest;

	pds_hub_conn_commit(conn);
	if (conn->state == PDS_HUB_CONN_HANDSHAKE)
		g_message("ingest: refused %s: %s", conn->peer, reason);
	else
		g_message("ingest: closed connection of %s from %s: %s", pds_hub_conn_name(conn),
			  conn->peer, reason);

	if (conn->state == PDS_HUB_CONN_OPEN) {
		if (goodbye) {
			g_autoptr(PdsRecordBuilder) b = pds_record_builder_new(
				PDS_RECORD_CONTROL, G_MAXUINT32, (guint64)g_get_real_time() * 1000);
			g_autoptr(GBytes) record = NULL;
			pds_record_builder_add_u8(b, PDS_CONTROL_KIND, PDS_CONTROL_GOODBYE);
			pds_record_builder_add_string(b, PDS_CONTROL_MESSAGE, reason);
			record = pds_record_builder_end(g_steal_pointer(&b));
			/* The source reads pcapng: a GOODBYE needs a section around it. */
			if (!conn->shb_sent)
				pds_hub_conn_write_shb(conn);
			pds_record_write_custom_block(conn->out, record);
			/* Best effort: the socket is non-blocking and the peer may not read. */
			while (conn->out_pos < conn->out->len) {
				g_autoptr(GError) error = NULL;
				gssize n = pds_tls_conn_write(
					conn->tls, conn->out->data + conn->out_pos,
					conn->out->len - conn->out_pos, &error);
				if (n <= 0)
					break;
				conn->out_pos += n;
			}
		}
		pds_tls_conn_close(conn->tls);
	}
	if (conn->source != NULL && conn->source->conn == conn) {
		conn->source->connected = FALSE;
		conn->source->conn = NULL;
		conn->source->last_seen = g_get_real_time();
	}
	ingest->conns = g_list_remove(ingest->conns, conn);
	pds_hub_conn_free(conn);
}

static void pds_hub_conn_closef(PdsHubConn *conn, gboolean goodbye, const char *format, ...)
	G_GNUC_PRINTF(3, 4);

static void
pds_hub_conn_closef(PdsHubConn *conn, gboolean goodbye, const char *format, ...)
{
	va_list args;
	g_autofree gchar *reason = NULL;

	va_start(args, format);
	reason = g_strdup_vprintf(format, args);
	va_end(args);
	pds_hub_conn_close(conn, reason, goodbye);
}

/* ---- sending ---- */

static gboolean pds_hub_conn_io_cb(GSocket *socket, GIOCondition cond, gpointer user_data);

static void
pds_hub_conn_update_watch(PdsHubConn *conn)
{
	GIOCondition cond;

	if (conn->state == PDS_HUB_CONN_HANDSHAKE)
		cond = pds_tls_conn_get_wait_condition(conn->tls);
	else
		cond = G_IO_IN |
		       (conn->out_pos < conn->out->len || conn->tls_pending ? G_IO_OUT : 0);
	if (conn->io_source != NULL && cond == conn->io_cond)
		return;
	if (conn->io_source != NULL) {
		g_source_destroy(conn->io_source);
		g_source_unref(conn->io_source);
	}
	conn->io_cond = cond;
	conn->io_source = g_socket_create_source(conn->socket, cond | G_IO_HUP | G_IO_ERR, NULL);
	g_source_set_callback(conn->io_source, (GSourceFunc)(void (*)(void))pds_hub_conn_io_cb,
			      conn, NULL);
	pds_fd_watch_attach(conn->io_source, NULL);
}

/* FALSE when the connection was closed. */
static gboolean
pds_hub_conn_flush(PdsHubConn *conn)
{
	while (conn->out_pos < conn->out->len) {
		g_autoptr(GError) error = NULL;
		gssize n = pds_tls_conn_write(conn->tls, conn->out->data + conn->out_pos,
					      conn->out->len - conn->out_pos, &error);
		if (n > 0) {
			conn->out_pos += n;
			continue;
		}
		if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
			break;
		pds_hub_conn_closef(conn, FALSE, "sending failed: %s",
				    error != NULL ? error->message : "no progress");
		return FALSE;
	}
	if (conn->out_pos == conn->out->len) {
		g_autoptr(GError) error = NULL;

		g_byte_array_set_size(conn->out, 0);
		conn->out_pos = 0;
		/* what the TLS layer still holds goes out now, or when writable */
		conn->tls_pending = FALSE;
		if (!pds_tls_conn_flush(conn->tls, &error)) {
			if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
				pds_hub_conn_closef(conn, FALSE, "sending failed: %s",
						    error->message);
				return FALSE;
			}
			conn->tls_pending = TRUE;
		}
	}
	conn->last_tx = g_get_monotonic_time();
	pds_hub_conn_update_watch(conn);
	return TRUE;
}

static void
pds_hub_conn_queue_control(PdsHubConn *conn, PdsControlKind kind, guint64 seq, gboolean with_seq)
{
	g_autoptr(PdsRecordBuilder) b = pds_record_builder_new(PDS_RECORD_CONTROL, G_MAXUINT32,
							       (guint64)g_get_real_time() * 1000);
	g_autoptr(GBytes) record = NULL;

	pds_record_builder_add_u8(b, PDS_CONTROL_KIND, kind);
	if (with_seq)
		pds_record_builder_add_u64(b, PDS_CONTROL_SEQ, seq);
	if (conn->source != NULL && kind == PDS_CONTROL_HELLO)
		pds_record_builder_add_string(b, PDS_CONTROL_SOURCE_ID, conn->source->source_id);
	record = pds_record_builder_end(g_steal_pointer(&b));
	pds_record_write_custom_block(conn->out, record);
}

static gboolean
pds_hub_conn_send_ack(PdsHubConn *conn)
{
	conn->acked_seq = conn->stored_seq;
	conn->last_ack_time = g_get_monotonic_time();
	pds_hub_conn_queue_control(conn, PDS_CONTROL_ACK, conn->acked_seq, TRUE);
	return pds_hub_conn_flush(conn);
}

static gboolean
pds_hub_conn_ack_cb(gpointer user_data)
{
	PdsHubConn *conn = user_data;
	conn->ack_timer = 0;
	if (conn->stored_seq > conn->acked_seq)
		pds_hub_conn_send_ack(conn);
	return G_SOURCE_REMOVE;
}

/* ACK what is stored, at most every 50 ms so a busy source is not flooded. */
static gboolean
pds_hub_conn_maybe_ack(PdsHubConn *conn)
{
	gint64 elapsed;

	if (!conn->started || conn->stored_seq <= conn->acked_seq || conn->ack_timer != 0)
		return TRUE;
	elapsed = g_get_monotonic_time() - conn->last_ack_time;
	if (elapsed >= PDS_HUB_ACK_INTERVAL_USEC)
		return pds_hub_conn_send_ack(conn);
	conn->ack_timer = g_timeout_add(MAX(1, (PDS_HUB_ACK_INTERVAL_USEC - elapsed) / 1000),
					pds_hub_conn_ack_cb, conn);
	return TRUE;
}

/* ---- receiving ---- */

static void
pds_hub_conn_commit(PdsHubConn *conn)
{
	PdsHubIngest *ingest = conn->ingest;

	if (!conn->batch_dirty)
		return;
	pds_hub_store_append_batch(ingest->store, ingest->batch, conn->source->source_id,
				   conn->batch_seq);
	g_byte_array_set_size(ingest->batch, 0);
	conn->batch_dirty = FALSE;
	conn->stored_seq = MAX(conn->stored_seq, conn->batch_seq);
	conn->source->stored_seq = conn->stored_seq;
}

/* Numbers a data block; TRUE when it is new (not a replay of what is stored). */
static gboolean
pds_hub_conn_take_seq(PdsHubConn *conn)
{
	guint64 seq = conn->next_seq++;
	if (seq <= conn->stored_seq)
		return FALSE;
	conn->batch_seq = seq;
	conn->batch_dirty = TRUE;
	return TRUE;
}

static void
pds_hub_patch_u32(GByteArray *out, gsize offset, guint32 value)
{
	guint32 le = GUINT32_TO_LE(value);
	memcpy(out->data + offset, &le, 4);
}

/* A joined source's certificate names its pod: it may not stream as another. */
static gboolean
pds_hub_conn_check_identity(PdsHubConn *conn, const PdsPcapngBlock *block)
{
	g_autofree gchar *cert_ns = NULL;
	g_autofree gchar *cert_pod = NULL;
	g_autofree gchar *ns = NULL;
	g_autofree gchar *pod = NULL;

	if (!pds_join_parse_common_name(pds_tls_conn_get_peer_name(conn->tls), &cert_ns, &cert_pod))
		return TRUE;
	ns = pds_pcapng_block_dup_custom_kv(block, "namespace");
	pod = pds_pcapng_block_dup_custom_kv(block, "pod");
	if (g_strcmp0(ns, cert_ns) == 0 && g_strcmp0(pod, cert_pod) == 0)
		return TRUE;
	pds_hub_conn_closef(conn, TRUE,
			    "the certificate is for %s/%s but the source claims to be %s/%s",
			    cert_ns, cert_pod, ns != NULL ? ns : "(no namespace)",
			    pod != NULL ? pod : "(no pod)");
	return FALSE;
}

/* ---- join: the only thing a connection without a certificate may do ---- */

static GInetAddress *
pds_hub_conn_dup_peer_address(PdsHubConn *conn)
{
	g_autoptr(GSocketAddress) addr = g_socket_get_remote_address(conn->socket, NULL);

	if (addr == NULL || !G_IS_INET_SOCKET_ADDRESS(addr))
		return NULL;
	return g_object_ref(g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(addr)));
}

static gboolean
pds_hub_conn_handle_join(PdsHubConn *conn, const PdsPcapngBlock *block)
{
	PdsHubIngest *ingest = conn->ingest;
	PdsRecordHeader header;
	PdsRecordIter iter;
	guint16 code, vlen;
	const guint8 *value;
	guint8 kind = 0;
	g_autofree gchar *token = NULL;
	g_autofree gchar *csr = NULL;
	g_autofree gchar *cert = NULL;
	g_autoptr(GInetAddress) peer = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(PdsRecordBuilder) b = NULL;
	g_autoptr(GBytes) record = NULL;

	if (block->type == PDS_PCAPNG_BT_SHB) {
		if (conn->have_shb) {
			pds_hub_conn_close(conn, "join: a second Section Header Block", TRUE);
			return FALSE;
		}
		conn->have_shb = TRUE;
		conn->join_namespace = pds_pcapng_block_dup_custom_kv(block, "namespace");
		conn->join_pod = pds_pcapng_block_dup_custom_kv(block, "pod");
		pds_hub_conn_write_shb(conn);
		return TRUE;
	}
	if ((block->type == PDS_PCAPNG_BT_CUSTOM || block->type == PDS_PCAPNG_BT_CUSTOM_NOCOPY) &&
	    block->pen == PDS_PEN &&
	    pds_record_iter_init(&iter, block->custom_data, block->custom_len, &header, NULL) &&
	    header.type == PDS_RECORD_CONTROL) {
		while (pds_record_iter_next(&iter, &code, &value, &vlen, &error)) {
			if (code == PDS_CONTROL_KIND)
				(void)pds_record_value_u8(value, vlen, &kind);
			else if (code == PDS_CONTROL_MESSAGE && token == NULL)
				token = pds_record_value_dup_string(value, vlen);
			else if (code == PDS_CONTROL_CSR && csr == NULL)
				csr = pds_record_value_dup_string(value, vlen);
		}
		if (kind == PDS_CONTROL_HEARTBEAT || kind == PDS_CONTROL_GOODBYE)
			return TRUE;
	}
	if (kind != PDS_CONTROL_JOIN || error != NULL) {
		pds_hub_conn_close(conn,
				   "this connection has no client certificate: it may only join "
				   "with a token",
				   TRUE);
		return FALSE;
	}
	peer = pds_hub_conn_dup_peer_address(conn);
	cert = pds_hub_join_handle(ingest->config.join, token, csr, conn->join_namespace,
				   conn->join_pod, peer, &error);
	if (cert == NULL) {
		pds_hub_conn_closef(conn, TRUE, "join refused: %s", error->message);
		return FALSE;
	}
	g_message("join: issued a certificate for agent:%s/%s to %s", conn->join_namespace,
		  conn->join_pod, conn->peer);
	if (!conn->shb_sent)
		pds_hub_conn_write_shb(conn);
	b = pds_record_builder_new(PDS_RECORD_CONTROL, G_MAXUINT32,
				   (guint64)g_get_real_time() * 1000);
	pds_record_builder_add_u8(b, PDS_CONTROL_KIND, PDS_CONTROL_JOINED);
	pds_record_builder_add_string(b, PDS_CONTROL_CERTIFICATE, cert);
	record = pds_record_builder_end(g_steal_pointer(&b));
	pds_record_write_custom_block(conn->out, record);
	return pds_hub_conn_flush(conn);
}

static gboolean
pds_hub_conn_handle_shb(PdsHubConn *conn, const PdsPcapngBlock *block)
{
	PdsHubIngest *ingest = conn->ingest;
	g_autofree gchar *source_id = NULL;
	g_autofree gchar *role = NULL;
	g_autofree gchar *ns = NULL;
	g_autofree gchar *pod = NULL;
	g_autofree gchar *node = NULL;
	g_autofree gchar *appl = NULL;
	g_autofree gchar *hardware = NULL;
	PdsHubSource *source;

	if (conn->have_shb) {
		pds_hub_conn_close(
			conn, "protocol error: a second Section Header Block on one connection",
			TRUE);
		return FALSE;
	}
	source_id = pds_pcapng_block_dup_custom_kv(block, "source_id");
	if (source_id == NULL || source_id[0] == '\0') {
		pds_hub_conn_close(
			conn, "protocol error: the Section Header Block has no source_id option",
			TRUE);
		return FALSE;
	}
	if (!pds_hub_conn_check_identity(conn, block))
		return FALSE;
	source = pds_hub_source_table_lookup(ingest->sources, source_id);
	if (source != NULL && source->conn != NULL && source->conn != conn) {
		PdsHubConn *old = source->conn;
		g_autofree gchar *why =
			g_strdup_printf("replaced by a new connection from %s", conn->peer);
		pds_hub_conn_close(old, why, TRUE);
	}
	source = pds_hub_source_table_ensure(ingest->sources, source_id,
					     pds_hub_store_get_checkpoint(ingest->store, source_id),
					     NULL);
	role = pds_pcapng_block_dup_custom_kv(block, "role");
	ns = pds_pcapng_block_dup_custom_kv(block, "namespace");
	pod = pds_pcapng_block_dup_custom_kv(block, "pod");
	node = pds_pcapng_block_dup_custom_kv(block, "node");
	appl = pds_pcapng_block_dup_option_string(block, PDS_PCAPNG_SHB_USERAPPL);
	hardware = pds_pcapng_block_dup_option_string(block, PDS_PCAPNG_SHB_HARDWARE);
	pds_hub_source_set_string(&source->role, role);
	pds_hub_source_set_string(&source->namespace_, ns);
	pds_hub_source_set_string(&source->pod, pod);
	pds_hub_source_set_string(&source->node, node != NULL ? node : hardware);
	pds_hub_source_set_string(&source->version, appl);
	pds_hub_source_set_string(&source->peer, conn->peer);
	source->connected = TRUE;
	source->connected_since = g_get_real_time();
	source->last_seen = source->connected_since;
	source->conn = conn;
	pds_hub_source_reset_interfaces(source);

	conn->source = source;
	conn->have_shb = TRUE;
	conn->stored_seq = pds_hub_store_get_checkpoint(ingest->store, source_id);
	conn->acked_seq = conn->stored_seq;
	source->stored_seq = conn->stored_seq;

	pds_hub_conn_write_shb(conn);
	pds_hub_conn_queue_control(conn, PDS_CONTROL_HELLO, conn->stored_seq, TRUE);
	g_message("ingest: %s (%s %s/%s) connected from %s as '%s'; it has stored up to block "
		  "%" G_GUINT64_FORMAT,
		  source_id, role != NULL ? role : "source", ns != NULL ? ns : "-",
		  pod != NULL ? pod : "-", conn->peer,
		  pds_tls_conn_get_peer_name(conn->tls) != NULL
			  ? pds_tls_conn_get_peer_name(conn->tls)
			  : "?",
		  conn->stored_seq);
	return pds_hub_conn_flush(conn);
}

/* IDB options worth keeping in the session IDB, in little-endian. */
static void
pds_hub_copy_idb_options(const PdsPcapngBlock *block, PdsPcapngOptions *opts)
{
	PdsPcapngOptionIter iter;
	guint16 code, len;
	const guint8 *value;

	pds_pcapng_option_iter_init(&iter, block);
	while (pds_pcapng_option_iter_next(&iter, &code, &value, &len)) {
		/* if_speed, if_tsoffset, if_txspeed, if_rxspeed are 64-bit numbers. */
		if (block->big_endian && len == 8 &&
		    (code == 8 || code == 14 || code == 16 || code == 17)) {
			guint64 v = pds_pcapng_block_read_u64(block, value);
			pds_pcapng_options_add_u64(opts, code, v);
			continue;
		}
		/* The name is rewritten; custom options could fake our interface key. */
		if (code == PDS_PCAPNG_IF_NAME || code == PDS_PCAPNG_OPT_CUSTOM_STR ||
		    code == PDS_PCAPNG_OPT_CUSTOM_BIN)
			continue;
		pds_pcapng_options_add(opts, code, value, len);
	}
}

static gboolean
pds_hub_conn_handle_idb(PdsHubConn *conn, const PdsPcapngBlock *block)
{
	PdsHubIngest *ingest = conn->ingest;
	PdsHubSource *source = conn->source;
	guint32 local_id = conn->n_local_ifs++;
	g_autofree gchar *if_name = pds_pcapng_block_dup_option_string(block, PDS_PCAPNG_IF_NAME);
	g_autofree gchar *full_name = NULL;
	g_autofree gchar *key = NULL;
	guint32 session_id;

	if (if_name != NULL && strchr(if_name, '/') != NULL)
		full_name = g_strdup(if_name);
	else if (if_name != NULL)
		full_name = g_strdup_printf(
			"%s/%s/%s", source->namespace_ != NULL ? source->namespace_ : "local",
			source->pod != NULL ? source->pod : source->source_id, if_name);
	else
		full_name = g_strdup_printf(
			"%s/%s/if%u", source->namespace_ != NULL ? source->namespace_ : "local",
			source->pod != NULL ? source->pod : source->source_id, local_id);
	key = g_strdup_printf("%s/%u/%u/%s", source->source_id, local_id, block->linktype,
			      full_name);
	if (!pds_hub_store_lookup_interface(ingest->store, key, &session_id)) {
		g_autoptr(PdsPcapngOptions) opts = pds_pcapng_options_new();
		g_autoptr(GByteArray) idb = g_byte_array_new();

		pds_pcapng_options_add_string(opts, PDS_PCAPNG_IF_NAME, full_name);
		pds_hub_copy_idb_options(block, opts);
		pds_pcapng_options_add_custom_kv(opts, pds_hub_store_interface_key_option(), key);
		pds_pcapng_write_idb(idb, block->linktype, block->snaplen, opts);
		session_id = pds_hub_store_add_interface(ingest->store, key, idb->data, idb->len);
		g_info("ingest: %s interface %u '%s' is session interface %u", source->source_id,
		       local_id, full_name, session_id);
	}
	pds_hub_source_map_interface(source, local_id, session_id);
	pds_hub_source_add_interface_name(source, if_name != NULL ? if_name : full_name);
	if (conn->started)
		pds_hub_conn_take_seq(conn);
	return TRUE;
}

static gboolean
pds_hub_conn_handle_control(PdsHubConn *conn, const guint8 *record, gsize len)
{
	PdsRecordIter iter;
	PdsRecordHeader header;
	guint16 code, vlen;
	const guint8 *value;
	guint8 kind = 0;
	guint64 seq = 0;
	gboolean have_seq = FALSE;
	g_autofree gchar *message = NULL;
	g_autoptr(GError) error = NULL;

	if (!pds_record_iter_init(&iter, record, len, &header, &error)) {
		pds_hub_conn_closef(conn, TRUE, "protocol error: bad control record: %s",
				    error->message);
		return FALSE;
	}
	while (pds_record_iter_next(&iter, &code, &value, &vlen, &error)) {
		if (code == PDS_CONTROL_KIND)
			pds_record_value_u8(value, vlen, &kind);
		else if (code == PDS_CONTROL_SEQ)
			have_seq = pds_record_value_u64(value, vlen, &seq);
		else if (code == PDS_CONTROL_MESSAGE && message == NULL)
			message = pds_record_value_dup_string(value, vlen);
	}
	if (error != NULL) {
		pds_hub_conn_closef(conn, TRUE, "protocol error: bad control record: %s",
				    error->message);
		return FALSE;
	}
	switch (kind) {
	case PDS_CONTROL_START:
		if (conn->started) {
			pds_hub_conn_close(conn, "protocol error: START sent twice", TRUE);
			return FALSE;
		}
		if (!have_seq || seq == 0) {
			pds_hub_conn_close(conn, "protocol error: START without a sequence (>= 1)",
					   TRUE);
			return FALSE;
		}
		if (seq > conn->stored_seq + 1)
			g_message("ingest: %s starts at block %" G_GUINT64_FORMAT
				  "; blocks %" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT
				  " never reached the hub (dropped by the source)",
				  conn->source->source_id, seq, conn->stored_seq + 1, seq - 1);
		conn->started = TRUE;
		conn->next_seq = seq;
		break;
	case PDS_CONTROL_GOODBYE:
		g_message("ingest: %s says goodbye: %s", conn->source->source_id,
			  message != NULL ? message : "(no reason)");
		conn->goodbye_received = TRUE;
		break;
	case PDS_CONTROL_HEARTBEAT:
		break;
	default:
		g_debug("ingest: %s sent control kind %u, ignored", conn->source->source_id, kind);
		break;
	}
	return TRUE;
}

static gboolean
pds_hub_conn_data_before_start(PdsHubConn *conn, const PdsPcapngBlock *block)
{
	pds_hub_conn_closef(conn, TRUE,
			    "protocol error: data block (type 0x%08x) at byte %" G_GUINT64_FORMAT
			    " before START",
			    block->type, block->offset);
	return FALSE;
}

static gboolean
pds_hub_conn_handle_packet(PdsHubConn *conn, const PdsPcapngBlock *block)
{
	PdsHubIngest *ingest = conn->ingest;
	PdsHubSource *source = conn->source;
	guint32 session_id;
	gboolean fresh;

	if (!conn->started)
		return pds_hub_conn_data_before_start(conn, block);
	fresh = pds_hub_conn_take_seq(conn);
	if (!pds_hub_source_lookup_interface(source, block->interface_id, &session_id)) {
		pds_hub_conn_closef(conn, TRUE,
				    "protocol error: block at byte %" G_GUINT64_FORMAT
				    " uses interface %u, which the source never described",
				    block->offset, block->interface_id);
		return FALSE;
	}
	if (block->type == PDS_PCAPNG_BT_ISB) {
		guint64 v;
		if (pds_pcapng_block_get_option_u64(block, PDS_PCAPNG_ISB_OSDROP, &v))
			source->kernel_drops = MAX(source->kernel_drops, v);
		if (pds_pcapng_block_get_option_u64(block, PDS_PCAPNG_ISB_IFDROP, &v))
			source->if_drops = MAX(source->if_drops, v);
	} else if (fresh) {
		source->packets++;
		source->bytes += block->origlen;
	}
	if (!fresh)
		return TRUE;
	if (!block->big_endian && block->type != PDS_PCAPNG_BT_SPB) {
		/* Hot path: our sources write little-endian; copy and patch the id. */
		gsize start = ingest->batch->len;
		g_byte_array_append(ingest->batch, block->raw, block->length);
		pds_hub_patch_u32(ingest->batch, start + 8, session_id);
	} else {
		g_autoptr(GError) error = NULL;
		if (!pds_pcapng_block_rewrite(block, session_id, ingest->batch, &error)) {
			pds_hub_conn_closef(conn, TRUE,
					    "unusable block at byte %" G_GUINT64_FORMAT ": %s",
					    block->offset, error->message);
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean
pds_hub_conn_handle_custom(PdsHubConn *conn, const PdsPcapngBlock *block)
{
	PdsHubIngest *ingest = conn->ingest;
	PdsRecordHeader header;
	g_autoptr(GError) error = NULL;
	guint32 session_id = G_MAXUINT32;
	g_autoptr(GBytes) annotated = NULL;
	gsize start;

	if (block->pen != PDS_PEN) {
		/* Another vendor's block: numbered, not ours to store. */
		if (conn->started)
			pds_hub_conn_take_seq(conn);
		return TRUE;
	}
	if (!pds_record_parse_header(block->custom_data, block->custom_len, &header, &error)) {
		pds_hub_conn_closef(conn, TRUE,
				    "protocol error: bad record at byte %" G_GUINT64_FORMAT ": %s",
				    block->offset, error->message);
		return FALSE;
	}
	if (header.type == PDS_RECORD_CONTROL)
		return pds_hub_conn_handle_control(conn, block->custom_data, header.length);
	if (header.type == PDS_RECORD_SOURCE)
		pds_hub_source_update_from_record(conn->source, block->custom_data, header.length);
	if (!conn->started) {
		/* A source record may come with the header blocks: it only informs. */
		if (header.type == PDS_RECORD_SOURCE)
			return TRUE;
		return pds_hub_conn_data_before_start(conn, block);
	}
	if (!pds_hub_conn_take_seq(conn))
		return TRUE;
	if (header.interface_id != G_MAXUINT32 &&
	    !pds_hub_source_lookup_interface(conn->source, header.interface_id, &session_id))
		session_id = G_MAXUINT32;
	if (header.type == PDS_RECORD_FLOW)
		annotated = pds_hub_names_annotate_flow(pds_hub_store_get_names(ingest->store),
							block->custom_data, header.length);
	start = ingest->batch->len;
	if (annotated != NULL)
		pds_pcapng_write_custom(ingest->batch, PDS_PEN, g_bytes_get_data(annotated, NULL),
					g_bytes_get_size(annotated), TRUE);
	else
		pds_pcapng_write_custom(ingest->batch, PDS_PEN, block->custom_data, header.length,
					TRUE);
	/* type, length, PEN, then the record: its interface_id is at record offset 8. */
	pds_hub_patch_u32(ingest->batch, start + 12 + 8, session_id);
	return TRUE;
}

/* FALSE when the connection was closed. */
static gboolean
pds_hub_conn_handle_block(PdsHubConn *conn, const PdsPcapngBlock *block)
{
	PdsHubIngest *ingest = conn->ingest;

	if (conn->join_only)
		return pds_hub_conn_handle_join(conn, block);
	switch (block->type) {
	case PDS_PCAPNG_BT_SHB:
		if (conn->started) {
			pds_hub_conn_close(conn, "protocol error: a new section after START", TRUE);
			return FALSE;
		}
		return pds_hub_conn_handle_shb(conn, block);
	case PDS_PCAPNG_BT_IDB:
		return pds_hub_conn_handle_idb(conn, block);
	case PDS_PCAPNG_BT_EPB:
	case PDS_PCAPNG_BT_SPB:
	case PDS_PCAPNG_BT_ISB:
		return pds_hub_conn_handle_packet(conn, block);
	case PDS_PCAPNG_BT_CUSTOM:
	case PDS_PCAPNG_BT_CUSTOM_NOCOPY:
		return pds_hub_conn_handle_custom(conn, block);
	case PDS_PCAPNG_BT_NRB:
		if (pds_hub_names_add_from_nrb(pds_hub_store_get_names(ingest->store), block) > 0)
			pds_hub_store_names_changed(ingest->store);
		if (conn->started)
			pds_hub_conn_take_seq(conn);
		return TRUE;
	default:
		if (!conn->started)
			return pds_hub_conn_data_before_start(conn, block);
		pds_hub_conn_take_seq(conn);
		return TRUE;
	}
}

static gboolean
pds_hub_conn_process(PdsHubConn *conn)
{
	PdsPcapngBlock block;
	g_autoptr(GError) error = NULL;

	while (pds_pcapng_reader_next(conn->reader, &block, &error)) {
		if (!pds_hub_conn_handle_block(conn, &block))
			return FALSE;
	}
	if (error != NULL) {
		pds_hub_conn_closef(conn, TRUE, "malformed pcapng: %s", error->message);
		return FALSE;
	}
	return TRUE;
}

static gboolean pds_hub_conn_resume_cb(gpointer user_data);

/* FALSE when the connection was closed. */
static gboolean
pds_hub_conn_read(PdsHubConn *conn)
{
	PdsHubIngest *ingest = conn->ingest;
	gsize total = 0;

	while (total < PDS_HUB_READ_BUDGET) {
		g_autoptr(GError) error = NULL;
		gsize fill = 0;
		gboolean eof = FALSE;
		gboolean drained = FALSE;

		/* Many records' worth into rbuf, then parsed in place: blocks are
		 * copied once, into the batch, not into the reader first. */
		while (fill < PDS_HUB_READ_SIZE) {
			gssize n = pds_tls_conn_read(conn->tls, ingest->rbuf + fill,
						     PDS_HUB_READ_SIZE - fill, &error);
			if (n > 0)
				fill += (gsize)n;
			else if (n == 0)
				eof = TRUE;
			if (n <= 0)
				break;
			/* poll() reports what comes later: no read just for EAGAIN */
			drained = pds_tls_conn_is_drained(conn->tls);
			if (drained)
				break;
		}
		if (fill > 0) {
			total += fill;
			pds_pcapng_reader_feed_borrowed(conn->reader, ingest->rbuf, fill);
			if (!pds_hub_conn_process(conn))
				return FALSE;
			/* rbuf is shared by all connections */
			pds_pcapng_reader_release_input(conn->reader);
			if (ingest->batch->len >= PDS_HUB_COMMIT_BYTES)
				pds_hub_conn_commit(conn);
		}
		if (eof) {
			g_autoptr(GError) trunc = NULL;
			if (!pds_pcapng_reader_finish(conn->reader, &trunc))
				pds_hub_conn_closef(conn, FALSE,
						    "the stream ended inside a block: %s",
						    trunc->message);
			else
				pds_hub_conn_close(conn,
						   conn->goodbye_received
							   ? "the source said goodbye"
							   : "the source closed the connection",
						   FALSE);
			return FALSE;
		}
		if (drained)
			break;
		if (error == NULL)
			continue; /* rbuf was full: more may wait */
		if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
			break;
		pds_hub_conn_closef(conn, FALSE, "receiving failed: %s", error->message);
		return FALSE;
	}
	if (total > 0) {
		conn->last_rx = g_get_monotonic_time();
		if (conn->source != NULL)
			conn->source->last_seen = g_get_real_time();
	}
	pds_hub_conn_commit(conn);
	if (total >= PDS_HUB_READ_BUDGET && conn->resume_idle == 0)
		conn->resume_idle = g_idle_add(pds_hub_conn_resume_cb, conn);
	return pds_hub_conn_maybe_ack(conn);
}

static gboolean
pds_hub_conn_resume_cb(gpointer user_data)
{
	PdsHubConn *conn = user_data;
	conn->resume_idle = 0;
	if (pds_hub_conn_read(conn))
		pds_hub_conn_flush(conn);
	return G_SOURCE_REMOVE;
}

static gboolean
pds_hub_conn_tick_cb(gpointer user_data)
{
	PdsHubConn *conn = user_data;
	guint hb = conn->ingest->config.heartbeat_secs;
	gint64 now = g_get_monotonic_time();

	if (now - conn->last_rx > (gint64)hb * 3 * G_USEC_PER_SEC) {
		conn->tick_timer = 0;
		pds_hub_conn_closef(conn, TRUE, "nothing received for %u s (3 heartbeats)", hb * 3);
		return G_SOURCE_REMOVE;
	}
	if (now - conn->last_tx >= (gint64)hb * G_USEC_PER_SEC && conn->have_shb) {
		pds_hub_conn_queue_control(conn, PDS_CONTROL_HEARTBEAT, 0, FALSE);
		if (!pds_hub_conn_flush(conn))
			return G_SOURCE_REMOVE;
	}
	return G_SOURCE_CONTINUE;
}

static gboolean
pds_hub_conn_handshake_timeout_cb(gpointer user_data)
{
	PdsHubConn *conn = user_data;
	conn->handshake_timer = 0;
	pds_hub_conn_closef(conn, FALSE, "TLS handshake not finished within %u s",
			    conn->ingest->config.handshake_timeout_secs);
	return G_SOURCE_REMOVE;
}

static gboolean
pds_hub_conn_io_cb(GSocket *socket, GIOCondition cond, gpointer user_data)
{
	PdsHubConn *conn = user_data;

	if (conn->state == PDS_HUB_CONN_HANDSHAKE) {
		g_autoptr(GError) error = NULL;
		if (!pds_tls_conn_handshake(conn->tls, &error)) {
			if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
				pds_hub_conn_update_watch(conn);
				return G_SOURCE_CONTINUE;
			}
			pds_hub_conn_close(conn, error->message, FALSE);
			return G_SOURCE_REMOVE;
		}
		g_clear_handle_id(&conn->handshake_timer, g_source_remove);
		conn->state = PDS_HUB_CONN_OPEN;
		pds_tls_conn_set_buffered(conn->tls);
		conn->join_only = !pds_tls_conn_get_peer_verified(conn->tls);
		if (conn->join_only)
			g_info("ingest: %s has no client certificate: join only", conn->peer);
		conn->last_rx = conn->last_tx = g_get_monotonic_time();
		conn->tick_timer = g_timeout_add_seconds(1, pds_hub_conn_tick_cb, conn);
		g_debug("ingest: TLS handshake done with %s ('%s')", conn->peer,
			pds_tls_conn_get_peer_name(conn->tls));
	}
	if ((conn->out_pos < conn->out->len || conn->tls_pending) && !pds_hub_conn_flush(conn))
		return G_SOURCE_REMOVE;
	if (!pds_hub_conn_read(conn))
		return G_SOURCE_REMOVE;
	pds_hub_conn_update_watch(conn);
	return G_SOURCE_CONTINUE;
}

static gchar *
pds_hub_describe_peer(GSocketConnection *gconn)
{
	g_autoptr(GSocketAddress) addr = g_socket_connection_get_remote_address(gconn, NULL);
	g_autofree gchar *ip = NULL;

	if (addr == NULL || !G_IS_INET_SOCKET_ADDRESS(addr))
		return g_strdup("(unknown peer)");
	ip = g_inet_address_to_string(
		g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(addr)));
	if (g_inet_address_get_family(g_inet_socket_address_get_address(
		    G_INET_SOCKET_ADDRESS(addr))) == G_SOCKET_FAMILY_IPV6)
		return g_strdup_printf("[%s]:%u", ip,
				       g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(addr)));
	return g_strdup_printf("%s:%u", ip,
			       g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(addr)));
}

static gboolean
pds_hub_ingest_incoming_cb(GSocketService *service,
			   GSocketConnection *gconn,
			   GObject *source_object,
			   gpointer user_data)
{
	PdsHubIngest *ingest = user_data;
	PdsHubConn *conn = g_new0(PdsHubConn, 1);
	g_autoptr(GError) error = NULL;

	conn->ingest = ingest;
	conn->gconn = g_object_ref(gconn);
	conn->socket = g_socket_connection_get_socket(gconn);
	conn->peer = pds_hub_describe_peer(gconn);
	conn->out = g_byte_array_new();
	conn->reader = pds_pcapng_reader_new();
	conn->state = PDS_HUB_CONN_HANDSHAKE;
	ingest->conns = g_list_prepend(ingest->conns, conn);

	if (ingest->config.join != NULL)
		conn->tls = pds_tls_conn_new_server_optional(conn->socket, ingest->config.identity,
							     ingest->config.ca, &error);
	else
		conn->tls = pds_tls_conn_new_server(conn->socket, ingest->config.identity,
						    ingest->config.ca, &error);
	if (conn->tls == NULL) {
		pds_hub_conn_close(conn, error->message, FALSE);
		return TRUE;
	}
	g_socket_set_blocking(conn->socket, FALSE);
	g_debug("ingest: connection from %s", conn->peer);
	conn->handshake_timer = g_timeout_add_seconds(ingest->config.handshake_timeout_secs,
						      pds_hub_conn_handshake_timeout_cb, conn);
	/* Start at once: the ClientHello is usually already there. */
	pds_hub_conn_io_cb(conn->socket, G_IO_IN, conn);
	return TRUE;
}

/* ---- the listener ---- */

GSocketAddress *
pds_hub_parse_address(const char *address, GError **error)
{
	const char *colon;
	g_autofree gchar *host = NULL;
	guint64 port = 0;
	GSocketAddress *addr;

	g_return_val_if_fail(address != NULL, NULL);

	colon = strrchr(address, ':');
	if (colon == NULL || !g_ascii_string_to_unsigned(colon + 1, 10, 0, 65535, &port, NULL)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "address \"%s\" is not of the form ADDR:PORT (e.g. 0.0.0.0:7443)",
			    address);
		return NULL;
	}
	host = g_strndup(address, colon - address);
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		gchar *inner = g_strndup(host + 1, strlen(host) - 2);
		g_free(host);
		host = inner;
	}
	if (host[0] == '\0') {
		g_free(host);
		host = g_strdup("0.0.0.0");
	}
	addr = g_inet_socket_address_new_from_string(host, (guint)port);
	if (addr == NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "address \"%s\": \"%s\" is not an IP address", address, host);
		return NULL;
	}
	return addr;
}

PdsHubIngest *
pds_hub_ingest_new(const PdsHubIngestConfig *config, PdsHubStore *store, PdsHubSourceTable *sources)
{
	PdsHubIngest *ingest;

	g_return_val_if_fail(config != NULL, NULL);
	g_return_val_if_fail(config->identity != NULL, NULL);
	g_return_val_if_fail(config->ca != NULL, NULL);

	ingest = g_new0(PdsHubIngest, 1);
	ingest->config = *config;
	if (ingest->config.handshake_timeout_secs == 0)
		ingest->config.handshake_timeout_secs = 10;
	if (ingest->config.heartbeat_secs == 0)
		ingest->config.heartbeat_secs = 5;
	ingest->store = store;
	ingest->sources = sources;
	ingest->rbuf = g_malloc(PDS_HUB_READ_SIZE);
	ingest->batch = g_byte_array_sized_new(PDS_HUB_READ_SIZE + 4096);
	ingest->service = g_socket_service_new();
	g_signal_connect(ingest->service, "incoming", G_CALLBACK(pds_hub_ingest_incoming_cb),
			 ingest);
	return ingest;
}

gboolean
pds_hub_ingest_listen(PdsHubIngest *ingest, const char *address, guint16 *port, GError **error)
{
	g_autoptr(GSocketAddress) addr = NULL;
	g_autoptr(GSocketAddress) effective = NULL;

	addr = pds_hub_parse_address(address, error);
	if (addr == NULL)
		return FALSE;
	if (!g_socket_listener_add_address(G_SOCKET_LISTENER(ingest->service), addr,
					   G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL,
					   &effective, error)) {
		g_prefix_error(error, "cannot listen for sources on %s: ", address);
		return FALSE;
	}
	if (port != NULL)
		*port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(effective));
	g_socket_service_start(ingest->service);
	return TRUE;
}

void
pds_hub_ingest_close_all(PdsHubIngest *ingest, const char *reason)
{
	while (ingest->conns != NULL)
		pds_hub_conn_close(ingest->conns->data, reason, TRUE);
}

guint
pds_hub_ingest_get_n_connections(PdsHubIngest *ingest)
{
	return g_list_length(ingest->conns);
}

void
pds_hub_ingest_free(PdsHubIngest *ingest)
{
	if (ingest == NULL)
		return;
	pds_hub_ingest_close_all(ingest, "the hub is shutting down");
	g_socket_service_stop(ingest->service);
	g_socket_listener_close(G_SOCKET_LISTENER(ingest->service));
	g_object_unref(ingest->service);
	g_free(ingest->rbuf);
	g_byte_array_unref(ingest->batch);
	g_free(ingest);
}
