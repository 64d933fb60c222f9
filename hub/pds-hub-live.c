/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "PdsHub"

#include "pds-hub-live.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "pds-hub-records.h"
#include "pds-pcapng.h"
#include "pds-record.h"

/* Blocks one main-loop turn reads for one connection: packets are skipped
 * cheaply, but a long backlog must not stall ingest. */
#define PDS_HUB_LIVE_SCAN 20000

struct _PdsHubLive {
	PdsHubStore *store;	    /* borrowed */
	PdsHubSourceTable *sources; /* borrowed */
	PdsHubRecords *records;
	GList *clients; /* of PdsHubLiveClient */
	guint sources_timer_id;
	guint64 max_lag;
};

typedef struct {
	PdsHubLive *live;
	SoupWebsocketConnection *conn;
	PdsHubStoreCursor *cursor;
	gint64 after;
	guint64 seq_sent;
	guint64 seq_acked;
	guint64 skipped;
	guint watch_id;
	guint pump_id;
	gulong message_id;
	gulong closed_id;
	gchar *sources_sent;
	GString *batch;
} PdsHubLiveClient;

/* Stops serving @c: off the list, no watch, no signal handlers. */
static void
pds_hub_live_client_detach(PdsHubLiveClient *c)
{
	PdsHubLive *live = c->live;

	live->clients = g_list_remove(live->clients, c);
	pds_hub_store_remove_watch(live->store, c->watch_id);
	g_clear_handle_id(&c->pump_id, g_source_remove);
	g_signal_handler_disconnect(c->conn, c->message_id);
	g_signal_handler_disconnect(c->conn, c->closed_id);
}

static void
pds_hub_live_client_destroy(PdsHubLiveClient *c)
{
	g_object_unref(c->conn);
	pds_hub_store_cursor_free(c->cursor);
	g_free(c->sources_sent);
	g_string_free(c->batch, TRUE);
	g_free(c);
}

static void
pds_hub_live_client_free(PdsHubLiveClient *c)
{
	g_debug("live: connection ended after %" G_GUINT64_FORMAT " messages, %" G_GUINT64_FORMAT
		" records skipped",
		c->seq_sent, c->skipped);
	pds_hub_live_client_detach(c);
	if (soup_websocket_connection_get_state(c->conn) == SOUP_WEBSOCKET_STATE_OPEN)
		soup_websocket_connection_close(c->conn, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, NULL);
	pds_hub_live_client_destroy(c);
}

static gboolean
pds_hub_live_client_open(PdsHubLiveClient *c)
{
	return soup_websocket_connection_get_state(c->conn) == SOUP_WEBSOCKET_STATE_OPEN;
}

static void
pds_hub_live_client_send_sources(PdsHubLiveClient *c)
{
	g_autofree gchar *json = pds_hub_source_table_to_json(c->live->sources);
	g_autofree gchar *msg = NULL;

	if (!pds_hub_live_client_open(c) || g_strcmp0(json, c->sources_sent) == 0)
		return;
	msg = g_strdup_printf("{\"type\":\"sources\",\"sources\":%s}", json);
	soup_websocket_connection_send_text(c->conn, msg);
	g_free(c->sources_sent);
	c->sources_sent = g_steal_pointer(&json);
}

/* Whether the block is one the viewer is sent (counted when skipping). */
static gboolean
pds_hub_live_is_viewer_record(const guint8 *data, gsize len)
{
	guint32 type, pen;
	guint16 rtype;

	if (len < 16 + PDS_RECORD_HEADER_LEN)
		return FALSE;
	memcpy(&type, data, 4);
	memcpy(&pen, data + 8, 4);
	memcpy(&rtype, data + 12, 2);
	type = GUINT32_FROM_LE(type);
	rtype = GUINT16_FROM_LE(rtype);
	return (type == PDS_PCAPNG_BT_CUSTOM || type == PDS_PCAPNG_BT_CUSTOM_NOCOPY) &&
	       GUINT32_FROM_LE(pen) == PDS_PEN &&
	       (rtype == PDS_RECORD_FLOW || rtype == PDS_RECORD_FILE_ACCESS);
}

/* A slow client that fell too far behind jumps to the present. */
static void
pds_hub_live_client_skip(PdsHubLiveClient *c)
{
	guint64 end = pds_hub_store_get_end_index(c->live->store);
	guint64 count = 0;
	const guint8 *data;
	gsize len;
	g_autofree gchar *msg = NULL;

	while (pds_hub_store_cursor_get_index(c->cursor) < end &&
	       pds_hub_store_cursor_next(c->cursor, &data, &len)) {
		if (pds_hub_live_is_viewer_record(data, len))
			count++;
	}
	c->skipped += count;
	msg = g_strdup_printf("{\"type\":\"skipped\",\"count\":%" G_GUINT64_FORMAT
			      ",\"next_index\":%" G_GUINT64_FORMAT "}",
			      count, pds_hub_store_cursor_get_index(c->cursor));
	soup_websocket_connection_send_text(c->conn, msg);
	g_info("live: a viewer fell %" G_GUINT64_FORMAT " blocks behind; skipped %" G_GUINT64_FORMAT
	       " records",
	       end, count);
}

static void pds_hub_live_client_schedule(PdsHubLiveClient *c);

/* Sends what the window allows; reschedules itself while a backlog remains. */
static gboolean
pds_hub_live_client_pump_cb(gpointer user_data)
{
	PdsHubLiveClient *c = user_data;
	PdsHubRecords *records = c->live->records;
	guint scanned = 0;
	gboolean more = TRUE;

	c->pump_id = 0;
	if (!pds_hub_live_client_open(c))
		return G_SOURCE_REMOVE;
	if (c->seq_sent - c->seq_acked >= PDS_HUB_LIVE_WINDOW) {
		guint64 lag = pds_hub_store_get_end_index(c->live->store) -
			      pds_hub_store_cursor_get_index(c->cursor);
		if (lag > c->live->max_lag)
			pds_hub_live_client_skip(c);
		return G_SOURCE_REMOVE;
	}
	while (c->seq_sent - c->seq_acked < PDS_HUB_LIVE_WINDOW && scanned < PDS_HUB_LIVE_SCAN) {
		guint n = 0;

		g_string_assign(c->batch, "");
		g_string_append_printf(c->batch,
				       "{\"type\":\"records\",\"seq\":%" G_GUINT64_FORMAT
				       ",\"records\":[",
				       c->seq_sent + 1);
		while (c->batch->len < PDS_HUB_LIVE_BATCH && scanned < PDS_HUB_LIVE_SCAN) {
			const guint8 *data;
			gsize len;
			guint64 index;
			gsize mark = c->batch->len;

			if (!pds_hub_store_cursor_next(c->cursor, &data, &len)) {
				more = FALSE;
				break;
			}
			scanned++;
			index = pds_hub_store_cursor_get_index(c->cursor) - 1;
			if ((gint64)index <= c->after)
				continue;
			if (n > 0)
				g_string_append_c(c->batch, ',');
			if (pds_hub_records_append_json(records, index, data, len, c->batch))
				n++;
			else
				g_string_truncate(c->batch, mark);
		}
		if (n > 0) {
			g_string_append(c->batch, "]}");
			soup_websocket_connection_send_text(c->conn, c->batch->str);
			c->seq_sent++;
		}
		if (!more)
			break;
	}
	if (more && c->seq_sent - c->seq_acked < PDS_HUB_LIVE_WINDOW)
		pds_hub_live_client_schedule(c);
	return G_SOURCE_REMOVE;
}

static void
pds_hub_live_client_schedule(PdsHubLiveClient *c)
{
	if (c->pump_id == 0)
		c->pump_id = g_idle_add(pds_hub_live_client_pump_cb, c);
}

static void
pds_hub_live_client_store_cb(gpointer user_data)
{
	pds_hub_live_client_schedule(user_data);
}

static void
pds_hub_live_client_message_cb(SoupWebsocketConnection *conn,
			       gint type,
			       GBytes *message,
			       gpointer user_data)
{
	PdsHubLiveClient *c = user_data;
	g_autoptr(JsonParser) parser = json_parser_new();
	JsonNode *root;
	gsize len = 0;
	const gchar *text = g_bytes_get_data(message, &len);
	gint64 ack;

	if (type != SOUP_WEBSOCKET_DATA_TEXT ||
	    !json_parser_load_from_data(parser, text, (gssize)len, NULL))
		return;
	root = json_parser_get_root(parser);
	if (!JSON_NODE_HOLDS_OBJECT(root))
		return;
	ack = json_object_get_int_member_with_default(json_node_get_object(root), "ack", -1);
	/* Only acknowledgements of messages really sent move the window. */
	if (ack > (gint64)c->seq_acked && (guint64)ack <= c->seq_sent) {
		c->seq_acked = (guint64)ack;
		pds_hub_live_client_schedule(c);
	}
}

static void
pds_hub_live_client_closed_cb(SoupWebsocketConnection *conn, gpointer user_data)
{
	PdsHubLiveClient *c = user_data;

	g_debug("live: viewer closed after %" G_GUINT64_FORMAT " messages", c->seq_sent);
	pds_hub_live_client_detach(c);
	/* libsoup still uses the connection after "closed" returns: drop our
	 * reference from the main loop, not from inside its emission. */
	g_idle_add_once((GSourceOnceFunc)pds_hub_live_client_destroy, c);
}

static gboolean
pds_hub_live_sources_cb(gpointer user_data)
{
	PdsHubLive *live = user_data;

	for (GList *l = live->clients; l != NULL; l = l->next)
		pds_hub_live_client_send_sources(l->data);
	return G_SOURCE_CONTINUE;
}

void
pds_hub_live_add_connection(PdsHubLive *live, SoupWebsocketConnection *conn, gint64 after)
{
	PdsHubLiveClient *c;
	g_autofree gchar *hello = NULL;

	g_return_if_fail(live != NULL);
	g_return_if_fail(SOUP_IS_WEBSOCKET_CONNECTION(conn));

	c = g_new0(PdsHubLiveClient, 1);
	c->live = live;
	c->conn = g_object_ref(conn);
	c->after = after;
	c->cursor = pds_hub_store_cursor_new(live->store);
	if (after >= 0)
		pds_hub_store_cursor_seek(c->cursor, (guint64)after + 1);
	c->batch = g_string_sized_new(PDS_HUB_LIVE_BATCH + 65536);
	/* Browsers send nothing but acknowledgements. */
	soup_websocket_connection_set_max_incoming_payload_size(conn, 4096);
	soup_websocket_connection_set_keepalive_interval(conn, 15);
	c->message_id =
		g_signal_connect(conn, "message", G_CALLBACK(pds_hub_live_client_message_cb), c);
	c->closed_id =
		g_signal_connect(conn, "closed", G_CALLBACK(pds_hub_live_client_closed_cb), c);
	c->watch_id = pds_hub_store_add_watch(live->store, pds_hub_live_client_store_cb, c);
	live->clients = g_list_prepend(live->clients, c);

	hello = g_strdup_printf("{\"type\":\"hello\",\"protocol\":\"" PDS_HUB_LIVE_PROTOCOL
				"\",\"end_index\":%" G_GUINT64_FORMAT "}",
				pds_hub_store_get_end_index(live->store));
	soup_websocket_connection_send_text(conn, hello);
	pds_hub_live_client_send_sources(c);
	pds_hub_live_client_schedule(c);
}

guint
pds_hub_live_get_n_connections(PdsHubLive *live)
{
	return g_list_length(live->clients);
}

PdsHubLive *
pds_hub_live_new(PdsHubStore *store, PdsHubSourceTable *sources)
{
	PdsHubLive *live;
	const char *max_lag;

	g_return_val_if_fail(store != NULL, NULL);
	g_return_val_if_fail(sources != NULL, NULL);
	live = g_new0(PdsHubLive, 1);
	live->store = store;
	live->sources = sources;
	live->records = pds_hub_records_new(store);
	live->max_lag = PDS_HUB_LIVE_MAX_LAG;
	max_lag = g_getenv("PODSCOPE_HUB_LIVE_MAX_LAG");
	if (max_lag != NULL &&
	    !g_ascii_string_to_unsigned(max_lag, 10, 1, G_MAXUINT64, &live->max_lag, NULL)) {
		g_warning("PODSCOPE_HUB_LIVE_MAX_LAG=%s is not a positive number; using %u",
			  max_lag, PDS_HUB_LIVE_MAX_LAG);
		live->max_lag = PDS_HUB_LIVE_MAX_LAG;
	}
	live->sources_timer_id = g_timeout_add_seconds(1, pds_hub_live_sources_cb, live);
	return live;
}

void
pds_hub_live_free(PdsHubLive *live)
{
	if (live == NULL)
		return;
	while (live->clients != NULL)
		pds_hub_live_client_free(live->clients->data);
	g_clear_handle_id(&live->sources_timer_id, g_source_remove);
	pds_hub_records_free(live->records);
	g_free(live);
}
