/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "PdsHub"

#include "pds-hub-api.h"

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <string.h>

#include "pds-hub-ingest.h"
#include "pds-hub-live.h"
#include "pds-hub-records.h"
#include "pds-hub-viewer.h"
#include "pds-pcapng-writer.h"
#include "pds-record-codec.h"

/* Bytes handed to libsoup per chunk: big enough for throughput, small enough
 * that a slow consumer holds little memory. */
#define PDS_HUB_API_CHUNK (256 * 1024)

struct _PdsHubApi {
	gchar *token;
	PdsHubStore *store;	    /* borrowed */
	PdsHubSourceTable *sources; /* borrowed */
	SoupServer *server;
	GList *consumers; /* of PdsHubConsumer */
	PdsHubLive *live;
	PdsHubRecords *records;
	GQueue record_cursors; /* of PdsHubStoreCursor, where GET /v1/records stopped */
};

/* Most records one GET /v1/records answers; the client asks again with after=. */
#define PDS_HUB_API_RECORDS_MAX 5000
/* Most blocks one GET /v1/records reads (packets included), so a request
 * never stalls ingest for long; X-PodScope-Next-Index says where to go on. */
#define PDS_HUB_API_RECORDS_SCAN 100000
/* Cursors kept where requests stopped: paging with after= goes on from
 * there instead of reading the session from its start again. */
#define PDS_HUB_API_RECORD_CURSORS 4
/* Prefix of the token in Sec-WebSocket-Protocol (browsers cannot set headers). */
#define PDS_HUB_API_WS_BEARER "podscope.bearer."

typedef struct {
	PdsHubApi *api;
	SoupServerMessage *msg;
	PdsHubStoreCursor *cursor;
	gboolean follow;
	gboolean exported_pdu;
	guint64 end_index; /* without follow: the session as it was when asked */
	guint n_ifs_sent;
	guint n_names_sent;
	gboolean paused;
	gboolean completed;
	guint watch_id;
	GByteArray *buf;
	GByteArray *scratch;
	gulong wrote_chunk_id;
	gulong finished_id;
	gulong disconnected_id;
	guint64 blocks_sent;
} PdsHubConsumer;

static void
pds_hub_consumer_free(PdsHubConsumer *c)
{
	PdsHubApi *api = c->api;

	g_debug("api: stream ended after %" G_GUINT64_FORMAT " blocks", c->blocks_sent);
	api->consumers = g_list_remove(api->consumers, c);
	pds_hub_store_remove_watch(api->store, c->watch_id);
	g_signal_handler_disconnect(c->msg, c->wrote_chunk_id);
	g_signal_handler_disconnect(c->msg, c->finished_id);
	g_signal_handler_disconnect(c->msg, c->disconnected_id);
	g_object_unref(c->msg);
	pds_hub_store_cursor_free(c->cursor);
	g_byte_array_unref(c->buf);
	g_byte_array_unref(c->scratch);
	g_free(c);
}

/* IDBs and names the consumer has not sent yet: the session grew. */
static void
pds_hub_consumer_sync_header(PdsHubConsumer *c)
{
	PdsHubStore *store = c->api->store;
	PdsHubNames *names = pds_hub_store_get_names(store);
	guint n_ifs = pds_hub_store_get_n_interfaces(store);
	guint n_names = pds_hub_names_get_count(names);

	for (; c->n_ifs_sent < n_ifs; c->n_ifs_sent++) {
		GBytes *idb = pds_hub_store_get_interface(store, c->n_ifs_sent);
		g_byte_array_append(c->buf, g_bytes_get_data(idb, NULL), g_bytes_get_size(idb));
	}
	if (c->n_names_sent < n_names) {
		pds_hub_names_write_nrb(names, c->n_names_sent, c->buf);
		c->n_names_sent = n_names;
	}
}

static void
pds_hub_consumer_append_block(PdsHubConsumer *c, const guint8 *data, gsize len)
{
	guint32 type;
	PdsRecordHeader header;

	memcpy(&type, data, sizeof(type));
	type = GUINT32_FROM_LE(type);

	if (type == PDS_PCAPNG_BT_CUSTOM && c->exported_pdu && len >= 16 + PDS_RECORD_HEADER_LEN &&
	    pds_record_parse_header(data + 12, len - 16, &header, NULL)) {
		g_byte_array_set_size(c->scratch, 0);
		pds_record_append_exported_pdu(c->scratch, data + 12, header.length);
		pds_pcapng_write_epb(c->buf, PDS_HUB_RECORDS_INTERFACE, header.timestamp_ns,
				     c->scratch->data, c->scratch->len, c->scratch->len, NULL);
		return;
	}
	g_byte_array_append(c->buf, data, len);
}

/* Fills c->buf; TRUE when a stream without follow has everything it asked for. */
static gboolean
pds_hub_consumer_fill(PdsHubConsumer *c)
{
	while (c->buf->len < PDS_HUB_API_CHUNK) {
		const guint8 *data;
		gsize len;

		if (!c->follow && pds_hub_store_cursor_get_index(c->cursor) >= c->end_index)
			return TRUE;
		if (!pds_hub_store_cursor_next(c->cursor, &data, &len))
			return !c->follow;
		pds_hub_consumer_sync_header(c);
		pds_hub_consumer_append_block(c, data, len);
		c->blocks_sent++;
	}
	return FALSE;
}

static void
pds_hub_consumer_pump(PdsHubConsumer *c)
{
	SoupMessageBody *body = soup_server_message_get_response_body(c->msg);
	gboolean at_end;

	if (c->completed)
		return;
	at_end = pds_hub_consumer_fill(c);
	if (c->follow)
		pds_hub_consumer_sync_header(c);
	if (c->buf->len > 0) {
		soup_message_body_append(body, SOUP_MEMORY_COPY, c->buf->data, c->buf->len);
		g_byte_array_set_size(c->buf, 0);
	} else if (at_end) {
		soup_message_body_complete(body);
		c->completed = TRUE;
	} else {
		if (!c->paused) {
			soup_server_message_pause(c->msg);
			c->paused = TRUE;
		}
		return;
	}
	if (c->paused) {
		c->paused = FALSE;
		soup_server_message_unpause(c->msg);
	}
}

static void
pds_hub_consumer_wrote_chunk_cb(SoupServerMessage *msg, gpointer user_data)
{
	pds_hub_consumer_pump(user_data);
}

static void
pds_hub_consumer_store_cb(gpointer user_data)
{
	PdsHubConsumer *c = user_data;
	/* While a chunk is in flight, wrote-chunk asks for the next one. */
	if (c->paused)
		pds_hub_consumer_pump(c);
}

static void
pds_hub_consumer_finished_cb(SoupServerMessage *msg, gpointer user_data)
{
	pds_hub_consumer_free(user_data);
}

/* ---- handlers ---- */

static gboolean
pds_hub_api_token_equal(const char *a, const char *b)
{
	gsize la = strlen(a), lb = strlen(b);
	guint8 diff = la != lb;
	/* Constant time in the secret's length: no early exit on a mismatch. */
	for (gsize i = 0; i < lb; i++)
		diff |= (guint8)(i < la ? a[i] : 0) ^ (guint8)b[i];
	return diff == 0;
}

static void
pds_hub_api_set_json(SoupServerMessage *msg, guint status, const char *json)
{
	soup_server_message_set_status(msg, status, NULL);
	soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_COPY, json,
					 strlen(json));
}

static void
pds_hub_api_set_error(SoupServerMessage *msg, guint status, const char *message)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) root = NULL;
	g_autofree gchar *json = NULL;

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "error");
	json_builder_add_string_value(b, message);
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	json = json_to_string(root, FALSE);
	pds_hub_api_set_json(msg, status, json);
}

/* The token of a WebSocket request's "podscope.bearer.<token>" subprotocol. */
static gchar *
pds_hub_api_dup_ws_token(SoupMessageHeaders *req)
{
	const char *list = soup_message_headers_get_list(req, "Sec-WebSocket-Protocol");
	g_auto(GStrv) items = NULL;

	if (list == NULL)
		return NULL;
	items = g_strsplit(list, ",", -1);
	for (guint i = 0; items[i] != NULL; i++) {
		const char *item = g_strstrip(items[i]);
		if (g_str_has_prefix(item, PDS_HUB_API_WS_BEARER))
			return g_strdup(item + strlen(PDS_HUB_API_WS_BEARER));
	}
	return NULL;
}

/* FALSE (and the response set) when the request may not go on. @post: the
 * resource takes POST instead of GET/HEAD. */
static gboolean
pds_hub_api_check_method(PdsHubApi *api, SoupServerMessage *msg, gboolean post)
{
	SoupMessageHeaders *req = soup_server_message_get_request_headers(msg);
	const char *auth = soup_message_headers_get_one(req, "Authorization");
	const char *method = soup_server_message_get_method(msg);
	g_autofree gchar *ws_token = pds_hub_api_dup_ws_token(req);

	const char *given = NULL;

	if (auth != NULL && g_ascii_strncasecmp(auth, "Bearer ", 7) == 0) {
		given = auth + 7;
		while (*given == ' ')
			given++;
	} else if (ws_token != NULL &&
		   soup_message_headers_header_contains(req, "Upgrade", "websocket")) {
		/* Only an upgrade may carry it there: nothing else reads that header. */
		given = ws_token;
		auth = "subprotocol";
	}
	if (given == NULL || !pds_hub_api_token_equal(given, api->token)) {
		soup_message_headers_replace(soup_server_message_get_response_headers(msg),
					     "WWW-Authenticate", "Bearer realm=\"podscope\"");
		pds_hub_api_set_error(msg, SOUP_STATUS_UNAUTHORIZED,
				      auth == NULL ? "missing bearer token (Authorization: Bearer "
						     "<token>)"
						   : "wrong bearer token");
		g_info("api: refused %s %s from %s: %s", method,
		       g_uri_get_path(soup_server_message_get_uri(msg)),
		       soup_server_message_get_remote_host(msg),
		       auth == NULL ? "no token" : "wrong token");
		return FALSE;
	}
	if (post && g_strcmp0(method, "POST") != 0) {
		soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow",
					     "POST");
		pds_hub_api_set_error(msg, SOUP_STATUS_METHOD_NOT_ALLOWED,
				      "only POST is accepted here");
		return FALSE;
	}
	if (!post && g_strcmp0(method, "GET") != 0 && g_strcmp0(method, "HEAD") != 0) {
		soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow",
					     "GET, HEAD");
		pds_hub_api_set_error(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "only GET is served");
		return FALSE;
	}
	return TRUE;
}

static gboolean
pds_hub_api_check(PdsHubApi *api, SoupServerMessage *msg)
{
	return pds_hub_api_check_method(api, msg, FALSE);
}

/* POST /v1/names: [{"ip": ..., "name": ...}] from the session controller's
 * pod and service watch; followers get the new names as an NRB at once. */
static void
pds_hub_api_names_cb(SoupServer *server,
		     SoupServerMessage *msg,
		     const char *path,
		     GHashTable *query,
		     gpointer user_data)
{
	PdsHubApi *api = user_data;
	SoupMessageBody *body;
	g_autoptr(GBytes) bytes = NULL;
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;
	g_autofree gchar *json = NULL;
	guint added = 0;

	if (!pds_hub_api_check_method(api, msg, TRUE))
		return;
	body = soup_server_message_get_request_body(msg);
	bytes = soup_message_body_flatten(body);
	if (!json_parser_load_from_data(parser, g_bytes_get_data(bytes, NULL),
					(gssize)g_bytes_get_size(bytes), &error) ||
	    !pds_hub_names_add_json(pds_hub_store_get_names(api->store),
				    json_parser_get_root(parser), &added, &error)) {
		g_autofree gchar *text = g_strdup_printf("bad names: %s", error->message);
		pds_hub_api_set_error(msg, SOUP_STATUS_BAD_REQUEST, text);
		return;
	}
	if (added > 0) {
		g_info("api: %u new names from %s", added,
		       soup_server_message_get_remote_host(msg));
		/* Wakes every follower, which sends the new names as an NRB. */
		pds_hub_store_names_changed(api->store);
	}
	json = g_strdup_printf("{\"added\":%u,\"names\":%u}", added,
			       pds_hub_names_get_count(pds_hub_store_get_names(api->store)));
	pds_hub_api_set_json(msg, SOUP_STATUS_OK, json);
}

static void
pds_hub_api_default_cb(SoupServer *server,
		       SoupServerMessage *msg,
		       const char *path,
		       GHashTable *query,
		       gpointer user_data)
{
	PdsHubApi *api = user_data;
	g_autofree gchar *text = NULL;

	/* The viewer's static files need no token (see pds-hub-viewer.h). */
	if (pds_hub_viewer_serve(msg, path))
		return;
	if (!pds_hub_api_check(api, msg))
		return;
	text = g_strdup_printf("no such resource: %s", path);
	pds_hub_api_set_error(msg, SOUP_STATUS_NOT_FOUND, text);
}

static void
pds_hub_api_healthz_cb(SoupServer *server,
		       SoupServerMessage *msg,
		       const char *path,
		       GHashTable *query,
		       gpointer user_data)
{
	PdsHubApi *api = user_data;
	const char *failure;
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) root = NULL;
	g_autofree gchar *json = NULL;
	GPtrArray *list;
	guint connected = 0;

	if (!pds_hub_api_check(api, msg))
		return;
	failure = pds_hub_store_get_failure(api->store);
	list = pds_hub_source_table_list(api->sources);
	for (guint i = 0; i < list->len; i++)
		connected += ((PdsHubSource *)g_ptr_array_index(list, i))->connected;

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "status");
	json_builder_add_string_value(b, failure == NULL ? "ok" : "degraded");
	if (failure != NULL) {
		json_builder_set_member_name(b, "reason");
		json_builder_add_string_value(b, failure);
	}
	json_builder_set_member_name(b, "persistence");
	json_builder_add_boolean_value(b, failure == NULL);
	json_builder_set_member_name(b, "sources_connected");
	json_builder_add_int_value(b, connected);
	json_builder_set_member_name(b, "blocks");
	json_builder_add_int_value(b, (gint64)pds_hub_store_get_end_index(api->store));
	json_builder_set_member_name(b, "first_block");
	json_builder_add_int_value(b, (gint64)pds_hub_store_get_first_index(api->store));
	json_builder_set_member_name(b, "ring_bytes");
	json_builder_add_int_value(b, (gint64)pds_hub_store_get_ring_bytes(api->store));
	json_builder_set_member_name(b, "chunks");
	json_builder_add_int_value(b, pds_hub_store_get_n_chunks(api->store));
	json_builder_set_member_name(b, "chunk_bytes");
	json_builder_add_int_value(b, (gint64)pds_hub_store_get_chunk_bytes(api->store));
	json_builder_set_member_name(b, "streams");
	json_builder_add_int_value(b, g_list_length(api->consumers));
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	json = json_to_string(root, TRUE);
	pds_hub_api_set_json(
		msg, failure == NULL ? SOUP_STATUS_OK : SOUP_STATUS_SERVICE_UNAVAILABLE, json);
}

static void
pds_hub_api_sources_cb(SoupServer *server,
		       SoupServerMessage *msg,
		       const char *path,
		       GHashTable *query,
		       gpointer user_data)
{
	PdsHubApi *api = user_data;
	g_autofree gchar *json = NULL;

	if (!pds_hub_api_check(api, msg))
		return;
	json = pds_hub_source_table_to_json(api->sources);
	pds_hub_api_set_json(msg, SOUP_STATUS_OK, json);
}

static gboolean
pds_hub_api_parse_bool(const char *value)
{
	return value != NULL &&
	       (g_str_equal(value, "1") || g_ascii_strcasecmp(value, "true") == 0 ||
		g_ascii_strcasecmp(value, "yes") == 0 || value[0] == '\0');
}

static void
pds_hub_api_capture_cb(SoupServer *server,
		       SoupServerMessage *msg,
		       const char *path,
		       GHashTable *query,
		       gpointer user_data)
{
	PdsHubApi *api = user_data;
	PdsHubConsumer *c;
	SoupMessageHeaders *headers;
	const char *envelope = query != NULL ? g_hash_table_lookup(query, "envelope") : NULL;
	const char *follow = query != NULL ? g_hash_table_lookup(query, "follow") : NULL;
	g_autoptr(PdsPcapngOptions) shb = NULL;

	if (!pds_hub_api_check(api, msg))
		return;
	if (envelope != NULL && g_strcmp0(envelope, "exported-pdu") != 0 &&
	    g_strcmp0(envelope, "custom") != 0) {
		pds_hub_api_set_error(msg, SOUP_STATUS_BAD_REQUEST,
				      "envelope must be \"exported-pdu\" or \"custom\"");
		return;
	}

	if (g_strcmp0(soup_server_message_get_method(msg), "HEAD") == 0) {
		headers = soup_server_message_get_response_headers(msg);
		soup_message_headers_set_content_type(headers, "application/x-pcapng", NULL);
		soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
		return;
	}

	c = g_new0(PdsHubConsumer, 1);
	c->api = api;
	c->msg = g_object_ref(msg);
	c->follow = pds_hub_api_parse_bool(follow);
	c->exported_pdu = g_strcmp0(envelope, "custom") != 0;
	c->cursor = pds_hub_store_cursor_new(api->store);
	c->end_index = pds_hub_store_get_end_index(api->store);
	c->buf = g_byte_array_sized_new(PDS_HUB_API_CHUNK + 65536);
	c->scratch = g_byte_array_new();
	api->consumers = g_list_prepend(api->consumers, c);

	soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
	headers = soup_server_message_get_response_headers(msg);
	soup_message_headers_set_content_type(headers, "application/x-pcapng", NULL);
	soup_message_headers_set_encoding(headers, SOUP_ENCODING_CHUNKED);
	soup_message_headers_replace(headers, "Content-Disposition",
				     "attachment; filename=\"podscope.pcapng\"");
	soup_message_headers_replace(headers, "Cache-Control", "no-store");
	soup_message_body_set_accumulate(soup_server_message_get_response_body(msg), FALSE);

	shb = pds_pcapng_options_new();
	pds_pcapng_options_add_string(shb, PDS_PCAPNG_SHB_USERAPPL,
				      "podscope-hub " PACKAGE_VERSION);
	pds_pcapng_write_shb(c->buf, shb);
	pds_hub_consumer_sync_header(c);

	c->wrote_chunk_id = g_signal_connect(msg, "wrote-chunk",
					     G_CALLBACK(pds_hub_consumer_wrote_chunk_cb), c);
	c->finished_id =
		g_signal_connect(msg, "finished", G_CALLBACK(pds_hub_consumer_finished_cb), c);
	c->disconnected_id =
		g_signal_connect(msg, "disconnected", G_CALLBACK(pds_hub_consumer_finished_cb), c);
	c->watch_id = pds_hub_store_add_watch(api->store, pds_hub_consumer_store_cb, c);
	g_info("api: %s stream to %s (envelope %s, %s)", c->follow ? "live" : "session",
	       soup_server_message_get_remote_host(msg),
	       c->exported_pdu ? "exported-pdu" : "custom", c->follow ? "follow" : "up to now");
	pds_hub_consumer_pump(c);
}

/* A kept cursor that stopped at @index (it reads on without searching), or a new one there. */
static PdsHubStoreCursor *
pds_hub_api_take_record_cursor(PdsHubApi *api, guint64 index)
{
	PdsHubStoreCursor *cursor;

	for (GList *l = api->record_cursors.head; l != NULL; l = l->next) {
		if (pds_hub_store_cursor_get_index(l->data) == index) {
			cursor = l->data;
			g_queue_delete_link(&api->record_cursors, l);
			return cursor;
		}
	}
	cursor = pds_hub_store_cursor_new(api->store);
	pds_hub_store_cursor_seek(cursor, index);
	return cursor;
}

/* GET /v1/records?after=N&limit=M: the viewer's records with an index above N. */
static void
pds_hub_api_records_cb(SoupServer *server,
		       SoupServerMessage *msg,
		       const char *path,
		       GHashTable *query,
		       gpointer user_data)
{
	PdsHubApi *api = user_data;
	const char *after_arg = query != NULL ? g_hash_table_lookup(query, "after") : NULL;
	const char *limit_arg = query != NULL ? g_hash_table_lookup(query, "limit") : NULL;
	g_autoptr(PdsHubStoreCursor) cursor = NULL;
	g_autoptr(GString) out = g_string_new("[");
	g_autofree gchar *next = NULL;
	guint64 after = 0, limit = 1000;
	gboolean have_after = after_arg != NULL;
	guint n = 0, scanned = 0;
	const guint8 *data;
	gsize len;

	if (!pds_hub_api_check(api, msg))
		return;
	if ((after_arg != NULL &&
	     !g_ascii_string_to_unsigned(after_arg, 10, 0, G_MAXINT64, &after, NULL)) ||
	    (limit_arg != NULL &&
	     !g_ascii_string_to_unsigned(limit_arg, 10, 1, PDS_HUB_API_RECORDS_MAX, &limit,
					 NULL))) {
		g_autofree gchar *text = g_strdup_printf(
			"after must be a block index and limit a number from 1 to %u",
			PDS_HUB_API_RECORDS_MAX);
		pds_hub_api_set_error(msg, SOUP_STATUS_BAD_REQUEST, text);
		return;
	}
	cursor = pds_hub_api_take_record_cursor(api, have_after ? after + 1 : 0);
	while (n < limit && scanned < PDS_HUB_API_RECORDS_SCAN &&
	       pds_hub_store_cursor_next(cursor, &data, &len)) {
		guint64 index = pds_hub_store_cursor_get_index(cursor) - 1;
		gsize mark = out->len;

		scanned++;
		if (have_after && index <= after)
			continue;
		if (n > 0)
			g_string_append_c(out, ',');
		if (pds_hub_records_append_json(api->records, index, data, len, out))
			n++;
		else
			g_string_truncate(out, mark);
	}
	g_string_append_c(out, ']');
	next = g_strdup_printf("%" G_GUINT64_FORMAT, pds_hub_store_cursor_get_index(cursor));
	soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Cache-Control",
				     "no-store");
	soup_message_headers_replace(soup_server_message_get_response_headers(msg),
				     "X-PodScope-Next-Index", next);
	pds_hub_api_set_json(msg, SOUP_STATUS_OK, out->str);
	g_queue_push_head(&api->record_cursors, g_steal_pointer(&cursor));
	while (g_queue_get_length(&api->record_cursors) > PDS_HUB_API_RECORD_CURSORS)
		pds_hub_store_cursor_free(g_queue_pop_tail(&api->record_cursors));
}

/* Runs before the upgrade: without a valid token the answer is 401 and
 * libsoup does not upgrade (it upgrades only while no status is set). */
static void
pds_hub_api_live_check_cb(SoupServer *server,
			  SoupServerMessage *msg,
			  const char *path,
			  GHashTable *query,
			  gpointer user_data)
{
	PdsHubApi *api = user_data;
	const char *after = query != NULL ? g_hash_table_lookup(query, "after") : NULL;
	gint64 v;

	if (!pds_hub_api_check_method(api, msg, FALSE))
		return;
	if (after != NULL && !g_ascii_string_to_signed(after, 10, -1, G_MAXINT64, &v, NULL)) {
		pds_hub_api_set_error(msg, SOUP_STATUS_BAD_REQUEST, "after must be a block index");
		return;
	}
	if (!soup_message_headers_header_contains(soup_server_message_get_request_headers(msg),
						  "Upgrade", "websocket"))
		pds_hub_api_set_error(msg, SOUP_STATUS_BAD_REQUEST,
				      "/v1/live is a WebSocket (subprotocol " PDS_HUB_LIVE_PROTOCOL
				      ")");
}

static void
pds_hub_api_live_cb(SoupServer *server,
		    SoupServerMessage *msg,
		    const char *path,
		    SoupWebsocketConnection *conn,
		    gpointer user_data)
{
	PdsHubApi *api = user_data;
	const char *query = g_uri_get_query(soup_server_message_get_uri(msg));
	g_autoptr(GHashTable) form = query != NULL ? soup_form_decode(query) : NULL;
	const char *after = form != NULL ? g_hash_table_lookup(form, "after") : NULL;
	gint64 v = -1;

	if (after != NULL && !g_ascii_string_to_signed(after, 10, -1, G_MAXINT64, &v, NULL))
		v = -1;
	g_info("api: live viewer from %s (after %" G_GINT64_FORMAT ")",
	       soup_server_message_get_remote_host(msg), v);
	pds_hub_live_add_connection(api->live, conn, v);
}

/* ---- life cycle ---- */

PdsHubApi *
pds_hub_api_new(const char *token, PdsHubStore *store, PdsHubSourceTable *sources)
{
	PdsHubApi *api;

	g_return_val_if_fail(token != NULL && token[0] != '\0', NULL);
	g_return_val_if_fail(store != NULL, NULL);
	g_return_val_if_fail(sources != NULL, NULL);

	char *protocols[] = {(char *)PDS_HUB_LIVE_PROTOCOL, NULL};

	api = g_new0(PdsHubApi, 1);
	api->token = g_strdup(token);
	api->store = store;
	api->sources = sources;
	api->live = pds_hub_live_new(store, sources);
	api->records = pds_hub_records_new(store);
	api->server = soup_server_new("server-header", "podscope-hub/" PACKAGE_VERSION " ", NULL);
	soup_server_add_handler(api->server, NULL, pds_hub_api_default_cb, api, NULL);
	soup_server_add_handler(api->server, "/healthz", pds_hub_api_healthz_cb, api, NULL);
	soup_server_add_handler(api->server, "/v1/sources", pds_hub_api_sources_cb, api, NULL);
	soup_server_add_handler(api->server, "/v1/names", pds_hub_api_names_cb, api, NULL);
	soup_server_add_handler(api->server, "/v1/capture.pcapng", pds_hub_api_capture_cb, api,
				NULL);
	soup_server_add_handler(api->server, "/v1/records", pds_hub_api_records_cb, api, NULL);
	soup_server_add_handler(api->server, "/v1/live", pds_hub_api_live_check_cb, api, NULL);
	soup_server_add_websocket_handler(api->server, "/v1/live", NULL, protocols,
					  pds_hub_api_live_cb, api, NULL);
	return api;
}

gboolean
pds_hub_api_listen(PdsHubApi *api, const char *address, guint16 *port, GError **error)
{
	g_autoptr(GSocketAddress) addr = pds_hub_parse_address(address, error);
	GSList *listeners;

	if (addr == NULL)
		return FALSE;
	if (!soup_server_listen(api->server, addr, 0, error)) {
		g_prefix_error(error, "cannot listen for API requests on %s: ", address);
		return FALSE;
	}
	listeners = soup_server_get_listeners(api->server);
	if (port != NULL && listeners != NULL) {
		g_autoptr(GSocketAddress) local =
			g_socket_get_local_address(G_SOCKET(g_slist_last(listeners)->data), error);
		g_slist_free(listeners);
		if (local == NULL)
			return FALSE;
		*port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local));
		return TRUE;
	}
	g_slist_free(listeners);
	return TRUE;
}

guint
pds_hub_api_get_n_streams(PdsHubApi *api)
{
	return g_list_length(api->consumers);
}

void
pds_hub_api_free(PdsHubApi *api)
{
	if (api == NULL)
		return;
	while (api->consumers != NULL)
		pds_hub_consumer_free(api->consumers->data);
	pds_hub_live_free(api->live);
	pds_hub_records_free(api->records);
	g_queue_clear_full(&api->record_cursors, (GDestroyNotify)pds_hub_store_cursor_free);
	soup_server_disconnect(api->server);
	g_object_unref(api->server);
	g_free(api->token);
	g_free(api);
}
