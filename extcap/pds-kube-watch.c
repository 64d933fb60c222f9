/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Watch streams as the API serves them (Kubernetes API concepts, "Efficient
 * detection of changes"): newline-delimited WatchEvent objects
 * {"type":..., "object":...}; BOOKMARK events only move the resourceVersion;
 * an ERROR event carries a Status, 410 meaning the version is too old.
 */
#include "config.h"

#define G_LOG_DOMAIN "PdsKube"

#include "pds-kube-watch.h"

#include <string.h>

#define PDS_KUBE_WATCH_BACKOFF_MIN_MS 500
#define PDS_KUBE_WATCH_BACKOFF_MAX_MS 30000

struct _PdsKubeWatch {
	GObject parent_instance;
	PdsKubeClient *client;
	SoupSession *session;
	gchar *path;
	gchar *label_selector;
	gchar *field_selector;
	gchar *resource_version;
	guint timeout_seconds;
	GCancellable *cancellable; /* NULL when stopped */
	SoupMessage *msg;
	GDataInputStream *stream;
	guint retry_id;
	guint backoff_ms;
	gboolean refreshed;  /* a 401 already re-ran the credential plugin */
	gint64 connected_at; /* monotonic, of the current stream */
};

enum { SIGNAL_CONNECTED, SIGNAL_EVENT, SIGNAL_RECONNECTING, SIGNAL_FAILED, SIGNAL_LAST };
static guint signals[SIGNAL_LAST];

G_DEFINE_TYPE(PdsKubeWatch, pds_kube_watch, G_TYPE_OBJECT)

static void pds_kube_watch_connect(PdsKubeWatch *self);

static void
pds_kube_watch_finalize(GObject *object)
{
	PdsKubeWatch *self = PDS_KUBE_WATCH(object);

	pds_kube_watch_stop(self);
	g_clear_object(&self->client);
	g_clear_object(&self->session);
	g_free(self->path);
	g_free(self->label_selector);
	g_free(self->field_selector);
	g_free(self->resource_version);
	G_OBJECT_CLASS(pds_kube_watch_parent_class)->finalize(object);
}

static void
pds_kube_watch_class_init(PdsKubeWatchClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = pds_kube_watch_finalize;
	signals[SIGNAL_CONNECTED] =
		g_signal_new("connected", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
			     NULL, NULL, G_TYPE_NONE, 0);
	signals[SIGNAL_EVENT] =
		g_signal_new("event", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
			     NULL, G_TYPE_NONE, 2, G_TYPE_STRING, JSON_TYPE_NODE);
	signals[SIGNAL_RECONNECTING] =
		g_signal_new("reconnecting", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
			     NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);
	signals[SIGNAL_FAILED] = g_signal_new("failed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST,
					      0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);
}

static void
pds_kube_watch_init(PdsKubeWatch *self)
{
	self->backoff_ms = PDS_KUBE_WATCH_BACKOFF_MIN_MS;
}

PdsKubeWatch *
pds_kube_watch_new(PdsKubeClient *client,
		   const char *path,
		   const char *label_selector,
		   const char *field_selector,
		   const char *resource_version)
{
	PdsKubeWatch *self;

	g_return_val_if_fail(PDS_IS_KUBE_CLIENT(client), NULL);
	g_return_val_if_fail(path != NULL && path[0] == '/' && strchr(path, '?') == NULL, NULL);

	self = g_object_new(PDS_TYPE_KUBE_WATCH, NULL);
	self->client = g_object_ref(client);
	self->session = pds_kube_client_new_session(client);
	self->path = g_strdup(path);
	self->label_selector = g_strdup(label_selector);
	self->field_selector = g_strdup(field_selector);
	self->resource_version = g_strdup(resource_version);
	return self;
}

const char *
pds_kube_watch_get_resource_version(PdsKubeWatch *self)
{
	g_return_val_if_fail(PDS_IS_KUBE_WATCH(self), NULL);
	return self->resource_version;
}

static gchar *
pds_kube_watch_url_path(PdsKubeWatch *self)
{
	GString *s = g_string_new(self->path);

	g_string_append(s, "?watch=true&allowWatchBookmarks=true");
	if (self->label_selector != NULL && *self->label_selector != '\0') {
		g_autofree gchar *esc = g_uri_escape_string(self->label_selector, NULL, FALSE);

		g_string_append_printf(s, "&labelSelector=%s", esc);
	}
	if (self->field_selector != NULL && *self->field_selector != '\0') {
		g_autofree gchar *esc = g_uri_escape_string(self->field_selector, NULL, FALSE);

		g_string_append_printf(s, "&fieldSelector=%s", esc);
	}
	if (self->timeout_seconds > 0)
		g_string_append_printf(s, "&timeoutSeconds=%u", self->timeout_seconds);
	if (self->resource_version != NULL) {
		g_autofree gchar *esc = g_uri_escape_string(self->resource_version, NULL, FALSE);

		g_string_append_printf(s, "&resourceVersion=%s", esc);
	}
	return g_string_free(s, FALSE);
}

static void
pds_kube_watch_close_stream(PdsKubeWatch *self)
{
	if (self->stream != NULL)
		g_input_stream_close(G_INPUT_STREAM(self->stream), NULL, NULL);
	g_clear_object(&self->stream);
	g_clear_object(&self->msg);
}

static void
pds_kube_watch_fail(PdsKubeWatch *self, GError *error)
{
	g_debug("watch %s stopped: %s", self->path, error->message);
	pds_kube_watch_close_stream(self);
	g_cancellable_cancel(self->cancellable);
	g_clear_object(&self->cancellable);
	g_signal_emit(self, signals[SIGNAL_FAILED], 0, error);
}

static gboolean
pds_kube_watch_retry_cb(gpointer user_data)
{
	PdsKubeWatch *self = PDS_KUBE_WATCH(user_data);

	self->retry_id = 0;
	pds_kube_watch_connect(self);
	return G_SOURCE_REMOVE;
}

static void
pds_kube_watch_schedule(PdsKubeWatch *self, GError *reason, gboolean at_once)
{
	pds_kube_watch_close_stream(self);
	if (self->cancellable == NULL)
		return;
	g_debug("watch %s: %s; reconnecting from resourceVersion %s", self->path, reason->message,
		self->resource_version != NULL ? self->resource_version : "(none)");
	g_signal_emit(self, signals[SIGNAL_RECONNECTING], 0, reason);
	if (self->cancellable == NULL || self->retry_id != 0)
		return;
	self->retry_id =
		g_timeout_add(at_once ? 0 : self->backoff_ms, pds_kube_watch_retry_cb, self);
	if (!at_once)
		self->backoff_ms = MIN(self->backoff_ms * 2, PDS_KUBE_WATCH_BACKOFF_MAX_MS);
}

static void pds_kube_watch_read_next(PdsKubeWatch *self);

static void
pds_kube_watch_handle_line(PdsKubeWatch *self, const char *line)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error_local = NULL;
	JsonNode *root;
	JsonNode *object;
	const char *type;
	const char *rv;

	if (!json_parser_load_from_data(parser, line, -1, &error_local)) {
		g_autoptr(GError) error = g_error_new(G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
						      "watch %s: invalid event line: %s",
						      self->path, error_local->message);
		pds_kube_watch_schedule(self, error, FALSE);
		return;
	}
	root = json_parser_get_root(parser);
	type = pds_kube_json_get_string(root, "type");
	object = pds_kube_json_get_node(root, "object");
	if (type == NULL || object == NULL || !JSON_NODE_HOLDS_OBJECT(object)) {
		g_autoptr(GError) error =
			g_error_new(G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
				    "watch %s: event without type or object", self->path);
		pds_kube_watch_schedule(self, error, FALSE);
		return;
	}
	if (g_strcmp0(type, "ERROR") == 0) {
		JsonNode *code = pds_kube_json_get_node(object, "code");
		gint64 status =
			code != NULL && JSON_NODE_HOLDS_VALUE(code) ? json_node_get_int(code) : 0;
		const char *message = pds_kube_json_get_string(object, "message");
		g_autoptr(GError) error =
			g_error_new(PDS_KUBE_API_ERROR, (gint)status,
				    "watch %s: %s (code %" G_GINT64_FORMAT ")", self->path,
				    message != NULL ? message : "error event", status);

		/* 410 Gone: our version was compacted away; start over with a fresh list. */
		if (status == 410)
			g_clear_pointer(&self->resource_version, g_free);
		pds_kube_watch_schedule(self, error, status == 410);
		return;
	}
	rv = pds_kube_json_get_string(object, "metadata.resourceVersion");
	if (rv != NULL) {
		g_free(self->resource_version);
		self->resource_version = g_strdup(rv);
	}
	self->backoff_ms = PDS_KUBE_WATCH_BACKOFF_MIN_MS;
	if (g_strcmp0(type, "BOOKMARK") != 0)
		g_signal_emit(self, signals[SIGNAL_EVENT], 0, type, object);
	if (self->stream != NULL)
		pds_kube_watch_read_next(self);
}

static void
pds_kube_watch_line_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(PdsKubeWatch) self = PDS_KUBE_WATCH(user_data);
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *line = NULL;
	gsize len = 0;

	line = g_data_input_stream_read_line_finish_utf8(G_DATA_INPUT_STREAM(source), res, &len,
							 &error_local);
	if (self->cancellable == NULL || G_DATA_INPUT_STREAM(source) != self->stream)
		return;
	if (line == NULL) {
		g_autoptr(GError) error = NULL;

		if (error_local == NULL) {
			/*
			 * The server ends every watch after its timeout: resume at
			 * once, unless streams keep ending as soon as they start.
			 */
			gboolean lasted =
				g_get_monotonic_time() - self->connected_at > G_USEC_PER_SEC;

			error = g_error_new(G_IO_ERROR, G_IO_ERROR_CLOSED,
					    "watch %s: the server ended the stream", self->path);
			pds_kube_watch_schedule(self, error, lasted);
		} else {
			error = g_error_new(error_local->domain, error_local->code, "watch %s: %s",
					    self->path, error_local->message);
			pds_kube_watch_schedule(self, error, FALSE);
		}
		return;
	}
	if (*g_strstrip(line) == '\0') {
		pds_kube_watch_read_next(self);
		return;
	}
	pds_kube_watch_handle_line(self, line);
}

static void
pds_kube_watch_read_next(PdsKubeWatch *self)
{
	g_data_input_stream_read_line_async(self->stream, G_PRIORITY_DEFAULT, self->cancellable,
					    pds_kube_watch_line_cb, g_object_ref(self));
}

typedef struct {
	PdsKubeWatch *self;
	SoupMessage *msg;
	gchar *url_path;
} PdsKubeWatchBody;

static void
pds_kube_watch_body_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	PdsKubeWatchBody *ctx = user_data;
	g_autoptr(PdsKubeWatch) self = ctx->self;
	g_autoptr(SoupMessage) msg = ctx->msg;
	g_autofree gchar *url_path = ctx->url_path;
	g_autoptr(GBytes) body =
		g_input_stream_read_bytes_finish(G_INPUT_STREAM(source), res, NULL);
	g_autoptr(GError) error = NULL;
	guint status = soup_message_get_status(msg);

	g_free(ctx);
	g_input_stream_close(G_INPUT_STREAM(source), NULL, NULL);
	if (self->cancellable == NULL)
		return;
	error = pds_kube_client_error_from_response(self->client, msg, body, "GET", url_path);
	if (status == SOUP_STATUS_UNAUTHORIZED && !self->refreshed) {
		self->refreshed = TRUE;
		pds_kube_client_invalidate_credential(self->client);
		pds_kube_watch_schedule(self, error, TRUE);
		return;
	}
	if (status == 410) {
		g_clear_pointer(&self->resource_version, g_free);
		pds_kube_watch_schedule(self, error, TRUE);
		return;
	}
	/* Throttling and server trouble pass; permission and existence do not. */
	if (status == 429 || status >= 500) {
		pds_kube_watch_schedule(self, error, FALSE);
		return;
	}
	pds_kube_watch_fail(self, error);
}

static void
pds_kube_watch_send_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(PdsKubeWatch) self = PDS_KUBE_WATCH(user_data);
	g_autoptr(GError) error_local = NULL;
	g_autoptr(GInputStream) stream = NULL;
	guint status;

	stream = soup_session_send_finish(SOUP_SESSION(source), res, &error_local);
	if (self->cancellable == NULL || self->msg == NULL)
		return;
	if (stream == NULL) {
		g_autoptr(GError) error =
			g_error_new(error_local->domain, error_local->code, "watch %s: %s",
				    self->path, error_local->message);

		/* A TLS refusal will not fix itself. */
		if (error_local->domain == G_TLS_ERROR)
			pds_kube_watch_fail(self, error);
		else
			pds_kube_watch_schedule(self, error, FALSE);
		return;
	}
	status = soup_message_get_status(self->msg);
	if (status != SOUP_STATUS_OK) {
		PdsKubeWatchBody *ctx = g_new0(PdsKubeWatchBody, 1);

		ctx->self = g_object_ref(self);
		ctx->msg = g_steal_pointer(&self->msg);
		ctx->url_path = pds_kube_watch_url_path(self);
		g_input_stream_read_bytes_async(stream, 65536, G_PRIORITY_DEFAULT,
						self->cancellable, pds_kube_watch_body_cb, ctx);
		return;
	}
	self->refreshed = FALSE;
	self->connected_at = g_get_monotonic_time();
	self->stream = g_data_input_stream_new(stream);
	g_data_input_stream_set_newline_type(self->stream, G_DATA_STREAM_NEWLINE_TYPE_LF);
	g_signal_emit(self, signals[SIGNAL_CONNECTED], 0);
	if (self->stream != NULL)
		pds_kube_watch_read_next(self);
}

static void
pds_kube_watch_connect(PdsKubeWatch *self)
{
	g_autofree gchar *url_path = pds_kube_watch_url_path(self);
	g_autoptr(GError) error = NULL;

	if (self->cancellable == NULL)
		return;
	pds_kube_watch_close_stream(self);
	self->msg = pds_kube_client_new_message(self->client, "GET", url_path, &error);
	if (self->msg == NULL) {
		pds_kube_watch_fail(self, error);
		return;
	}
	soup_session_send_async(self->session, self->msg, G_PRIORITY_DEFAULT, self->cancellable,
				pds_kube_watch_send_cb, g_object_ref(self));
}

void
pds_kube_watch_set_timeout_seconds(PdsKubeWatch *self, guint seconds)
{
	g_return_if_fail(PDS_IS_KUBE_WATCH(self));
	self->timeout_seconds = seconds;
}

void
pds_kube_watch_start(PdsKubeWatch *self)
{
	g_return_if_fail(PDS_IS_KUBE_WATCH(self));
	if (self->cancellable != NULL)
		return;
	self->cancellable = g_cancellable_new();
	self->backoff_ms = PDS_KUBE_WATCH_BACKOFF_MIN_MS;
	pds_kube_watch_connect(self);
}

void
pds_kube_watch_stop(PdsKubeWatch *self)
{
	g_return_if_fail(PDS_IS_KUBE_WATCH(self));
	g_clear_handle_id(&self->retry_id, g_source_remove);
	if (self->cancellable != NULL) {
		g_cancellable_cancel(self->cancellable);
		g_clear_object(&self->cancellable);
	}
	pds_kube_watch_close_stream(self);
}
