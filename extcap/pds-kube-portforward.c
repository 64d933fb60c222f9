/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The port-forward WebSocket protocol as the kubelet speaks it
 * (k8s.io/kubelet/pkg/cri/streaming/portforward/websocket.go, subprotocol
 * "v4.channel.k8s.io"): every binary message is one channel byte plus
 * payload; for one port, channel 0 carries data and channel 1 errors; the
 * first message on each channel from the server is the port number as two
 * bytes little-endian. Clients send data on channel 0 only.
 *
 * Each tunnel runs in its own thread with its own GMainContext and
 * SoupSession. WebSocket messages are written to the local socket with a
 * blocking write, which stops that thread from reading the WebSocket until
 * the local reader catches up. In the other direction the next local read
 * waits until the WebSocket's socket is writable again, so at most one
 * chunk is queued in libsoup.
 */
#include "config.h"

#define G_LOG_DOMAIN "PdsKube"

#include "pds-kube-portforward.h"

#include <string.h>

#define PDS_KUBE_PF_CHUNK (32 * 1024)
/*
 * After the local side stops sending, how long the pod side may stay silent
 * before the tunnel closes: v4 cannot pass a half-close on, and a browser's
 * closed keep-alive connection would otherwise hold its tunnel for as long
 * as the server keeps the idle connection.
 */
#define PDS_KUBE_PF_LINGER_SECS	  5
#define PDS_KUBE_PF_CHANNEL_DATA  0
#define PDS_KUBE_PF_CHANNEL_ERROR 1

struct _PdsKubePortForward {
	GObject parent_instance;
	PdsKubeClient *client;
	gchar *namespace_;
	gchar *pod;
	guint16 remote_port;
	guint16 local_port;
	GSocketService *service;
	GMainContext *main_context;
	GCancellable *cancellable; /* cancelled by _stop(): ends every tunnel */
	gint active;		   /* atomic */
};

enum { SIGNAL_CONNECTION_ERROR, SIGNAL_LAST };
static guint signals[SIGNAL_LAST];

G_DEFINE_TYPE(PdsKubePortForward, pds_kube_port_forward, G_TYPE_OBJECT)

typedef struct {
	PdsKubePortForward *pf; /* strong; released in the main context */
	GSocketConnection *local;
	SoupMessage *msg;
	GMainContext *context;
	GMainLoop *loop;
	SoupSession *session;
	SoupWebsocketConnection *ws;
	GSocket *ws_socket; /* the WebSocket's TCP socket, for writability; may be NULL */
	GCancellable *cancellable;
	gulong stop_handler; /* on pf->cancellable, main context only */
	gboolean seen_port[2];
	gboolean local_eof;
	GSource *linger; /* while local_eof: closes the tunnel when the pod side is quiet */
	GString *error_text;
	GError *error;
	guint8 buf[PDS_KUBE_PF_CHUNK + 1];
} PdsKubeTunnel;

static void
pds_kube_port_forward_finalize(GObject *object)
{
	PdsKubePortForward *self = PDS_KUBE_PORT_FORWARD(object);

	pds_kube_port_forward_stop(self);
	g_clear_object(&self->cancellable);
	g_clear_object(&self->client);
	g_clear_pointer(&self->main_context, g_main_context_unref);
	g_free(self->namespace_);
	g_free(self->pod);
	G_OBJECT_CLASS(pds_kube_port_forward_parent_class)->finalize(object);
}

static void
pds_kube_port_forward_class_init(PdsKubePortForwardClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = pds_kube_port_forward_finalize;
	signals[SIGNAL_CONNECTION_ERROR] =
		g_signal_new("connection-error", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
			     NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);
}

static void
pds_kube_port_forward_init(PdsKubePortForward *self)
{
	self->cancellable = g_cancellable_new();
}

PdsKubePortForward *
pds_kube_port_forward_new(PdsKubeClient *client,
			  const char *namespace_,
			  const char *pod,
			  guint16 remote_port)
{
	PdsKubePortForward *self;

	g_return_val_if_fail(PDS_IS_KUBE_CLIENT(client), NULL);
	g_return_val_if_fail(namespace_ != NULL && pod != NULL && remote_port != 0, NULL);

	self = g_object_new(PDS_TYPE_KUBE_PORT_FORWARD, NULL);
	self->client = g_object_ref(client);
	self->namespace_ = g_strdup(namespace_);
	self->pod = g_strdup(pod);
	self->remote_port = remote_port;
	return self;
}

guint16
pds_kube_port_forward_get_local_port(PdsKubePortForward *self)
{
	g_return_val_if_fail(PDS_IS_KUBE_PORT_FORWARD(self), 0);
	return self->local_port;
}

guint
pds_kube_port_forward_get_active(PdsKubePortForward *self)
{
	g_return_val_if_fail(PDS_IS_KUBE_PORT_FORWARD(self), 0);
	return (guint)g_atomic_int_get(&self->active);
}

static void
pds_kube_tunnel_free(PdsKubeTunnel *t)
{
	g_clear_object(&t->ws);
	g_clear_object(&t->ws_socket);
	g_clear_object(&t->session);
	g_clear_object(&t->msg);
	g_clear_object(&t->local);
	g_clear_object(&t->cancellable);
	g_clear_pointer(&t->loop, g_main_loop_unref);
	g_clear_pointer(&t->context, g_main_context_unref);
	if (t->error_text != NULL)
		g_string_free(t->error_text, TRUE);
	g_clear_error(&t->error);
	g_free(t);
}

/* Main context: the tunnel is over. */
static gboolean
pds_kube_tunnel_done_cb(gpointer user_data)
{
	PdsKubeTunnel *t = user_data;
	PdsKubePortForward *pf = t->pf;

	g_atomic_int_add(&pf->active, -1);
	g_cancellable_disconnect(pf->cancellable, t->stop_handler);
	if (t->error != NULL && !g_cancellable_is_cancelled(pf->cancellable)) {
		g_message("%s", t->error->message);
		g_signal_emit(pf, signals[SIGNAL_CONNECTION_ERROR], 0, t->error);
	}
	pds_kube_tunnel_free(t);
	g_object_unref(pf);
	return G_SOURCE_REMOVE;
}

static void
pds_kube_tunnel_set_error(PdsKubeTunnel *t, GQuark domain, gint code, const char *fmt, ...)
	G_GNUC_PRINTF(4, 5);

static void
pds_kube_tunnel_set_error(PdsKubeTunnel *t, GQuark domain, gint code, const char *fmt, ...)
{
	g_autofree gchar *text = NULL;
	va_list ap;

	if (t->error != NULL)
		return;
	va_start(ap, fmt);
	text = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	t->error = g_error_new(domain, code, "port-forward to pod %s/%s port %u: %s",
			       t->pf->namespace_, t->pf->pod, t->pf->remote_port, text);
}

static void
pds_kube_tunnel_finish(PdsKubeTunnel *t)
{
	g_main_loop_quit(t->loop);
}

static gboolean
pds_kube_tunnel_linger_cb(gpointer user_data)
{
	PdsKubeTunnel *t = user_data;

	g_debug("port-forward %s/%s:%u: local side gone and pod side quiet; closing",
		t->pf->namespace_, t->pf->pod, t->pf->remote_port);
	pds_kube_tunnel_finish(t);
	return G_SOURCE_CONTINUE;
}

/* (Re)starts the linger timer once the local side has stopped sending. */
static void
pds_kube_tunnel_linger(PdsKubeTunnel *t)
{
	if (!t->local_eof)
		return;
	if (t->linger != NULL) {
		g_source_destroy(t->linger);
		g_source_unref(t->linger);
	}
	t->linger = g_timeout_source_new_seconds(PDS_KUBE_PF_LINGER_SECS);
	g_source_set_callback(t->linger, pds_kube_tunnel_linger_cb, t, NULL);
	g_source_attach(t->linger, t->context);
}

static void pds_kube_tunnel_read_local(PdsKubeTunnel *t);

static gboolean
pds_kube_tunnel_writable_cb(GSocket *socket, GIOCondition condition, gpointer user_data)
{
	pds_kube_tunnel_read_local(user_data);
	return G_SOURCE_REMOVE;
}

static gboolean
pds_kube_tunnel_idle_cb(gpointer user_data)
{
	pds_kube_tunnel_read_local(user_data);
	return G_SOURCE_REMOVE;
}

/* Waits until libsoup has handed the last chunk to the kernel, then reads on. */
static void
pds_kube_tunnel_wait_writable(PdsKubeTunnel *t)
{
	g_autoptr(GSource) source = NULL;

	if (t->ws_socket == NULL) {
		source = g_idle_source_new();
		g_source_set_callback(source, pds_kube_tunnel_idle_cb, t, NULL);
	} else {
		source = g_socket_create_source(t->ws_socket, G_IO_OUT, t->cancellable);
		g_source_set_callback(
			source, (GSourceFunc)(void (*)(void))pds_kube_tunnel_writable_cb, t, NULL);
	}
	/* Below libsoup's own output source, so its queued frame goes first. */
	g_source_set_priority(source, G_PRIORITY_LOW);
	g_source_attach(source, t->context);
}

static void
pds_kube_tunnel_local_read_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	PdsKubeTunnel *t = user_data;
	g_autoptr(GError) error_local = NULL;
	gssize n;

	n = g_input_stream_read_finish(G_INPUT_STREAM(source), res, &error_local);
	if (n < 0) {
		if (!g_error_matches(error_local, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			g_debug("port-forward %s/%s:%u: local read: %s", t->pf->namespace_,
				t->pf->pod, t->pf->remote_port, error_local->message);
		pds_kube_tunnel_finish(t);
		return;
	}
	if (n == 0) {
		/*
		 * v4.channel.k8s.io cannot half-close: keep the WebSocket until the
		 * pod side closes, so a client that shuts down its sending side
		 * still gets its answer.
		 */
		g_debug("port-forward %s/%s:%u: local side finished sending", t->pf->namespace_,
			t->pf->pod, t->pf->remote_port);
		t->local_eof = TRUE;
		pds_kube_tunnel_linger(t);
		return;
	}
	if (t->ws == NULL ||
	    soup_websocket_connection_get_state(t->ws) != SOUP_WEBSOCKET_STATE_OPEN) {
		pds_kube_tunnel_finish(t);
		return;
	}
	memmove(t->buf + 1, t->buf, (gsize)n);
	t->buf[0] = PDS_KUBE_PF_CHANNEL_DATA;
	soup_websocket_connection_send_binary(t->ws, t->buf, (gsize)n + 1);
	pds_kube_tunnel_wait_writable(t);
}

static void
pds_kube_tunnel_read_local(PdsKubeTunnel *t)
{
	GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(t->local));

	/* Read into buf[0..]: the channel byte is made room for after the read. */
	g_input_stream_read_async(in, t->buf, PDS_KUBE_PF_CHUNK, G_PRIORITY_DEFAULT, t->cancellable,
				  pds_kube_tunnel_local_read_cb, t);
}

/*
 * Messages already received are still delivered after a close has begun; closing
 * twice is a programmer error in libsoup, so close only an open connection.
 */
static void
pds_kube_tunnel_close_ws(SoupWebsocketConnection *ws, gushort code)
{
	if (soup_websocket_connection_get_state(ws) == SOUP_WEBSOCKET_STATE_OPEN)
		soup_websocket_connection_close(ws, code, NULL);
}

static void
pds_kube_tunnel_message_cb(SoupWebsocketConnection *ws,
			   gint type,
			   GBytes *message,
			   gpointer user_data)
{
	PdsKubeTunnel *t = user_data;
	gsize len = 0;
	const guint8 *data = g_bytes_get_data(message, &len);
	guint channel;
	g_autoptr(GError) error_local = NULL;

	/* A connection being closed has nowhere to deliver data any more. */
	if (len < 1 || soup_websocket_connection_get_state(ws) != SOUP_WEBSOCKET_STATE_OPEN)
		return;
	channel = data[0];
	data++;
	len--;
	if (channel > PDS_KUBE_PF_CHANNEL_ERROR) {
		pds_kube_tunnel_set_error(t, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
					  "the API server used unknown channel %u", channel);
		pds_kube_tunnel_close_ws(ws, SOUP_WEBSOCKET_CLOSE_PROTOCOL_ERROR);
		return;
	}
	if (!t->seen_port[channel]) {
		guint16 port;

		if (len < 2) {
			pds_kube_tunnel_set_error(t, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
						  "the first message on channel %u has no port",
						  channel);
			pds_kube_tunnel_close_ws(ws, SOUP_WEBSOCKET_CLOSE_PROTOCOL_ERROR);
			return;
		}
		port = (guint16)(data[0] | (data[1] << 8));
		if (port != t->pf->remote_port)
			g_debug("port-forward: channel %u announces port %u, expected %u", channel,
				port, t->pf->remote_port);
		t->seen_port[channel] = TRUE;
		data += 2;
		len -= 2;
	}
	if (len == 0)
		return;
	pds_kube_tunnel_linger(t);
	if (channel == PDS_KUBE_PF_CHANNEL_ERROR) {
		g_string_append_len(t->error_text, (const char *)data, (gssize)len);
		pds_kube_tunnel_set_error(t, G_IO_ERROR, G_IO_ERROR_FAILED, "%s",
					  t->error_text->str);
		/* The kubelet reports a failed dial here; this connection is dead. */
		pds_kube_tunnel_close_ws(ws, SOUP_WEBSOCKET_CLOSE_NORMAL);
		return;
	}
	/* Blocking on purpose: see the file comment (backpressure). */
	if (!g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(t->local)), data,
				       len, NULL, t->cancellable, &error_local)) {
		g_debug("port-forward %s/%s:%u: local write: %s", t->pf->namespace_, t->pf->pod,
			t->pf->remote_port, error_local->message);
		pds_kube_tunnel_close_ws(ws, SOUP_WEBSOCKET_CLOSE_NORMAL);
	}
}

static void
pds_kube_tunnel_closed_cb(SoupWebsocketConnection *ws, gpointer user_data)
{
	pds_kube_tunnel_finish(user_data);
}

static void
pds_kube_tunnel_ws_error_cb(SoupWebsocketConnection *ws, GError *error, gpointer user_data)
{
	PdsKubeTunnel *t = user_data;

	/*
	 * The API server may drop the TCP connection right after its close
	 * frame; our close reply then fails. That is an ordinary end.
	 */
	if (soup_websocket_connection_get_close_code(ws) != 0 ||
	    g_error_matches(error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE) ||
	    g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED)) {
		g_debug("port-forward %s/%s:%u: WebSocket ended: %s", t->pf->namespace_, t->pf->pod,
			t->pf->remote_port, error->message);
		return;
	}
	pds_kube_tunnel_set_error(t, error->domain, error->code, "WebSocket: %s", error->message);
}

/* The TCP socket under the WebSocket (through TLS and libsoup's wrappers). */
static GSocket *
pds_kube_tunnel_find_socket(GIOStream *stream)
{
	for (guint depth = 0; stream != NULL && depth < 8; depth++) {
		GParamSpec *pspec;
		GIOStream *base = NULL;

		if (G_IS_SOCKET_CONNECTION(stream))
			return g_object_ref(
				g_socket_connection_get_socket(G_SOCKET_CONNECTION(stream)));
		pspec = g_object_class_find_property(G_OBJECT_GET_CLASS(stream), "base-io-stream");
		if (pspec == NULL)
			pspec = g_object_class_find_property(G_OBJECT_GET_CLASS(stream),
							     "base-iostream");
		if (pspec == NULL || pspec->value_type == G_TYPE_NONE ||
		    !g_type_is_a(pspec->value_type, G_TYPE_IO_STREAM))
			return NULL;
		g_object_get(stream, pspec->name, &base, NULL);
		/* The wrapper keeps its base alive for as long as we use it. */
		if (base != NULL)
			g_object_unref(base);
		stream = base;
	}
	return NULL;
}

/*
 * libsoup drops the body of a refused WebSocket handshake, and with it the
 * API's Status. For a 404 ask for the pod itself, whose Status says what is
 * missing ('pods "x" not found', or the namespace).
 */
static GError *
pds_kube_tunnel_explain(PdsKubeTunnel *t, guint status)
{
	g_autofree gchar *pod_path = NULL;
	g_autoptr(SoupMessage) msg = NULL;
	g_autoptr(GBytes) body = NULL;
	const char *path = g_uri_get_path(soup_message_get_uri(t->msg));

	if (status == SOUP_STATUS_NOT_FOUND) {
		pod_path = g_strdup_printf("/api/v1/namespaces/%s/pods/%s", t->pf->namespace_,
					   t->pf->pod);
		msg = pds_kube_client_new_message(t->pf->client, "GET", pod_path, NULL);
		if (msg != NULL)
			body = soup_session_send_and_read(t->session, msg, t->cancellable, NULL);
		if (body != NULL && soup_message_get_status(msg) == SOUP_STATUS_NOT_FOUND)
			return pds_kube_client_error_from_response(t->pf->client, msg, body, "GET",
								   pod_path);
	}
	return pds_kube_client_error_from_response(t->pf->client, t->msg, NULL, "GET", path);
}

static void
pds_kube_tunnel_connect_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	PdsKubeTunnel *t = user_data;
	g_autoptr(GError) error_local = NULL;

	t->ws = soup_session_websocket_connect_finish(SOUP_SESSION(source), res, &error_local);
	if (t->ws == NULL) {
		guint status = soup_message_get_status(t->msg);

		if (g_error_matches(error_local, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
			/* stopped */
		} else if (status >= 300) {
			g_autoptr(GError) api = pds_kube_tunnel_explain(t, status);

			pds_kube_tunnel_set_error(t, api->domain, api->code, "%s", api->message);
		} else {
			pds_kube_tunnel_set_error(t, error_local->domain, error_local->code, "%s",
						  error_local->message);
		}
		pds_kube_tunnel_finish(t);
		return;
	}
	t->ws_socket = pds_kube_tunnel_find_socket(soup_websocket_connection_get_io_stream(t->ws));
	if (t->ws_socket == NULL)
		g_debug("port-forward: no socket under the WebSocket; no output pacing");
	/* The kubelet's frames are small, but nothing bounds them in the protocol. */
	soup_websocket_connection_set_max_incoming_payload_size(t->ws, 16 * 1024 * 1024);
	g_signal_connect(t->ws, "message", G_CALLBACK(pds_kube_tunnel_message_cb), t);
	g_signal_connect(t->ws, "closed", G_CALLBACK(pds_kube_tunnel_closed_cb), t);
	g_signal_connect(t->ws, "error", G_CALLBACK(pds_kube_tunnel_ws_error_cb), t);
	pds_kube_tunnel_read_local(t);
}

static gboolean
pds_kube_tunnel_cancelled_cb(gpointer user_data)
{
	pds_kube_tunnel_finish(user_data);
	return G_SOURCE_REMOVE;
}

static gpointer
pds_kube_tunnel_thread(gpointer user_data)
{
	PdsKubeTunnel *t = user_data;
	const char *protocols[] = {"v4.channel.k8s.io", NULL};
	g_autoptr(GSource) cancel_source = NULL;
	g_autoptr(GSource) done = NULL;

	g_main_context_push_thread_default(t->context);
	t->session = pds_kube_client_new_session(t->pf->client);
	cancel_source = g_cancellable_source_new(t->cancellable);
	g_source_set_callback(cancel_source, pds_kube_tunnel_cancelled_cb, t, NULL);
	g_source_attach(cancel_source, t->context);

	soup_session_websocket_connect_async(t->session, t->msg, NULL, (char **)protocols,
					     G_PRIORITY_DEFAULT, t->cancellable,
					     pds_kube_tunnel_connect_cb, t);
	g_main_loop_run(t->loop);

	g_source_destroy(cancel_source);
	if (t->linger != NULL) {
		g_source_destroy(t->linger);
		g_clear_pointer(&t->linger, g_source_unref);
	}
	if (t->ws != NULL) {
		g_signal_handlers_disconnect_by_data(t->ws, t);
		if (soup_websocket_connection_get_state(t->ws) == SOUP_WEBSOCKET_STATE_OPEN)
			soup_websocket_connection_close(t->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
	}
	g_io_stream_close(G_IO_STREAM(t->local), NULL, NULL);
	/* Let pending callbacks of this context see the cancellation before we drop it. */
	g_cancellable_cancel(t->cancellable);
	while (g_main_context_iteration(t->context, FALSE))
		;
	g_clear_object(&t->ws);
	g_clear_object(&t->session);
	while (g_main_context_iteration(t->context, FALSE))
		;
	g_main_context_pop_thread_default(t->context);

	done = g_idle_source_new();
	g_source_set_callback(done, pds_kube_tunnel_done_cb, t, NULL);
	g_source_attach(done, t->pf->main_context);
	return NULL;
}

static gboolean
pds_kube_port_forward_incoming_cb(GSocketService *service,
				  GSocketConnection *connection,
				  GObject *source_object,
				  gpointer user_data)
{
	PdsKubePortForward *self = PDS_KUBE_PORT_FORWARD(user_data);
	g_autofree gchar *path = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GThread) thread = NULL;
	PdsKubeTunnel *t;

	path = g_strdup_printf("/api/v1/namespaces/%s/pods/%s/portforward?ports=%u",
			       self->namespace_, self->pod, self->remote_port);
	t = g_new0(PdsKubeTunnel, 1);
	t->pf = g_object_ref(self);
	t->local = g_object_ref(connection);
	t->error_text = g_string_new(NULL);
	t->context = g_main_context_new();
	t->loop = g_main_loop_new(t->context, FALSE);
	t->cancellable = g_cancellable_new();
	g_atomic_int_inc(&self->active);
	/* Credentials are resolved here, in the caller's thread (it may run a plugin). */
	t->msg = pds_kube_client_new_message(self->client, "GET", path, &error);
	if (t->msg == NULL) {
		pds_kube_tunnel_set_error(t, error->domain, error->code, "%s", error->message);
		g_io_stream_close(G_IO_STREAM(connection), NULL, NULL);
		pds_kube_tunnel_done_cb(t);
		return TRUE;
	}
	t->stop_handler = g_cancellable_connect(self->cancellable, G_CALLBACK(g_cancellable_cancel),
						g_object_ref(t->cancellable), g_object_unref);
	thread = g_thread_try_new("pds-portforward", pds_kube_tunnel_thread, t, &error);
	if (thread == NULL) {
		pds_kube_tunnel_set_error(t, error->domain, error->code,
					  "cannot start a thread: %s", error->message);
		g_io_stream_close(G_IO_STREAM(connection), NULL, NULL);
		pds_kube_tunnel_done_cb(t);
	}
	return TRUE;
}

gboolean
pds_kube_port_forward_listen(PdsKubePortForward *self,
			     const char *address,
			     guint16 port,
			     GError **error)
{
	g_autoptr(GSocketAddress) addr = NULL;
	g_autoptr(GSocketAddress) effective = NULL;

	g_return_val_if_fail(PDS_IS_KUBE_PORT_FORWARD(self), FALSE);
	g_return_val_if_fail(self->service == NULL, FALSE);

	addr = g_inet_socket_address_new_from_string(address != NULL ? address : "127.0.0.1", port);
	if (addr == NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "port-forward to pod %s/%s: \"%s\" is not an IP address to listen on",
			    self->namespace_, self->pod, address);
		return FALSE;
	}
	self->service = g_socket_service_new();
	if (!g_socket_listener_add_address(G_SOCKET_LISTENER(self->service), addr,
					   G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL,
					   (GSocketAddress **)&effective, error)) {
		g_prefix_error(error, "port-forward to pod %s/%s port %u: cannot listen on %s:%u: ",
			       self->namespace_, self->pod, self->remote_port,
			       address != NULL ? address : "127.0.0.1", port);
		g_clear_object(&self->service);
		return FALSE;
	}
	self->local_port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(effective));
	g_clear_pointer(&self->main_context, g_main_context_unref);
	self->main_context = g_main_context_ref_thread_default();
	g_signal_connect(self->service, "incoming", G_CALLBACK(pds_kube_port_forward_incoming_cb),
			 self);
	g_socket_service_start(self->service);
	g_debug("port-forward: 127.0.0.1:%u -> pod %s/%s port %u", self->local_port,
		self->namespace_, self->pod, self->remote_port);
	return TRUE;
}

void
pds_kube_port_forward_stop(PdsKubePortForward *self)
{
	g_return_if_fail(PDS_IS_KUBE_PORT_FORWARD(self));
	if (self->service != NULL) {
		g_socket_service_stop(self->service);
		g_socket_listener_close(G_SOCKET_LISTENER(self->service));
		g_signal_handlers_disconnect_by_data(self->service, self);
		g_clear_object(&self->service);
	}
	g_cancellable_cancel(self->cancellable);
}
