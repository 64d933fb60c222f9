/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * PdsUplink against a small hub that runs in its own thread and main context
 * (as the real hub runs in its own process), over mutual TLS on loopback:
 * ordering and sequences, a hub killed and restarted mid-stream, the spool
 * limit, the grace period, heartbeats, and the final flush of stop().
 */
#include "config.h"

#include <string.h>

#include "pds-pcapng-reader.h"
#include "pds-pcapng-writer.h"
#include "pds-uplink.h"

#define PAYLOAD_LEN 64
#define BLOCK_LEN   (28 + PAYLOAD_LEN + 4) /* one EPB as the tests write it */

/*
 * The uplink's warnings are for operators (spool full, giving up): here they
 * are expected and counted, not fatal. Every other domain stays fatal.
 */
static GPtrArray *uplink_warnings; /* of gchar* */

static void
uplink_warning_handler(const gchar *log_domain,
		       GLogLevelFlags log_level,
		       const gchar *message,
		       gpointer user_data)
{
	g_ptr_array_add(uplink_warnings, g_strdup(message));
	g_test_message("%s-WARNING: %s", log_domain, message);
}

static guint
count_warnings(const char *needle)
{
	guint n = 0;

	for (guint i = 0; i < uplink_warnings->len; i++) {
		if (strstr(g_ptr_array_index(uplink_warnings, i), needle) != NULL)
			n++;
	}
	return n;
}

/* ---- the test hub (runs in its own thread) ---- */

typedef struct _TestHub TestHub;

typedef struct {
	TestHub *hub;
	GSocket *socket;
	PdsTlsConn *tls;
	GSource *source;
	GIOCondition condition;
	gboolean handshaken;
	PdsPcapngReader *reader;
	GByteArray *out;
	gsize out_pos;
	gboolean hello_sent;
	gboolean started;
	gboolean said_goodbye;
	guint64 next_seq;
} HubConn;

struct _TestHub {
	GMainContext *context;
	GMainLoop *loop;
	GThread *thread;
	PdsTlsIdentity *ca;	/* borrowed */
	PdsTlsIdentity *server; /* borrowed */
	guint16 port;

	/* hub thread only */
	GSocket *listener;
	GSource *listen_source;
	GPtrArray *conns; /* of HubConn */
	GSource *heartbeat_source;

	/* shared with the test thread, under lock */
	GMutex lock;
	GArray *indices;  /* of guint32: payload index of each stored block, in order */
	guint64 last_seq; /* stored, survives restarts like the real hub's store */
	gchar *violation; /* first protocol error seen */
	gchar *source_id;
	guint connections;
	guint heartbeats_rx;
	guint goodbyes_rx;
	gboolean silent;       /* HELLO, then never a byte more */
	guint kill_at;	       /* close every connection once this many blocks are stored */
	gboolean goodbye_once; /* answer the next START with GOODBYE */
	gboolean killed;
	gboolean running;
};

static void hub_conn_pump(HubConn *c);

static void hub_violation(TestHub *hub, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void
hub_violation(TestHub *hub, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	g_mutex_lock(&hub->lock);
	if (hub->violation == NULL)
		hub->violation = g_strdup_vprintf(fmt, ap);
	g_mutex_unlock(&hub->lock);
	va_end(ap);
}

static void
hub_conn_free(HubConn *c)
{
	if (c->source != NULL) {
		g_source_destroy(c->source);
		g_source_unref(c->source);
	}
	g_clear_pointer(&c->tls, pds_tls_conn_free);
	if (c->socket != NULL)
		g_socket_close(c->socket, NULL);
	g_clear_object(&c->socket);
	g_clear_pointer(&c->reader, pds_pcapng_reader_free);
	g_byte_array_unref(c->out);
	g_free(c);
}

/* Drops the connection without close_notify, as a crashed hub would. */
static void
hub_conn_drop(HubConn *c)
{
	g_ptr_array_remove(c->hub->conns, c);
}

static gboolean
hub_conn_io_cb(GSocket *socket, GIOCondition condition, gpointer user_data)
{
	hub_conn_pump(user_data);
	return G_SOURCE_CONTINUE;
}

static void
hub_conn_watch(HubConn *c, GIOCondition condition)
{
	if (c->source != NULL && c->condition == condition)
		return;
	if (c->source != NULL) {
		g_source_destroy(c->source);
		g_source_unref(c->source);
	}
	c->source = g_socket_create_source(c->socket, condition, NULL);
	g_source_set_callback(c->source, G_SOURCE_FUNC(hub_conn_io_cb), c, NULL);
	g_source_attach(c->source, c->hub->context);
	c->condition = condition;
}

static void
hub_kill(TestHub *hub)
{
	g_ptr_array_set_size(hub->conns, 0);
	if (hub->listen_source != NULL) {
		g_source_destroy(hub->listen_source);
		g_clear_pointer(&hub->listen_source, g_source_unref);
	}
	if (hub->listener != NULL) {
		g_socket_close(hub->listener, NULL);
		g_clear_object(&hub->listener);
	}
	g_mutex_lock(&hub->lock);
	hub->running = FALSE;
	g_mutex_unlock(&hub->lock);
}

/* FALSE when the connection was dropped. */
static gboolean
hub_conn_handle_block(HubConn *c, const PdsPcapngBlock *block)
{
	TestHub *hub = c->hub;
	g_auto(PdsUplinkControl) control = {0};
	g_autoptr(GError) error = NULL;

	switch (block->type) {
	case PDS_PCAPNG_BT_SHB: {
		g_autofree gchar *source_id = pds_pcapng_block_dup_custom_kv(block, "source_id");
		guint64 last;

		if (source_id == NULL)
			hub_violation(hub, "SHB without a source_id option");
		g_mutex_lock(&hub->lock);
		g_free(hub->source_id);
		hub->source_id = g_strdup(source_id);
		last = hub->last_seq;
		g_mutex_unlock(&hub->lock);
		pds_pcapng_write_shb(c->out, NULL);
		pds_uplink_write_control(c->out, PDS_CONTROL_HELLO, last, source_id, NULL);
		c->hello_sent = TRUE;
		return TRUE;
	}
	case PDS_PCAPNG_BT_IDB:
		return TRUE;
	case PDS_PCAPNG_BT_EPB: {
		guint32 index;
		guint64 seq = c->next_seq++;
		gboolean kill;

		if (!c->started) {
			hub_violation(hub, "data block before START");
			return TRUE;
		}
		if (c->said_goodbye)
			return TRUE; /* in flight when the source got our GOODBYE */
		if (block->caplen < 4) {
			hub_violation(hub, "short EPB");
			return TRUE;
		}
		memcpy(&index, block->packet, 4);
		g_mutex_lock(&hub->lock);
		if (seq != hub->last_seq + 1) {
			g_mutex_unlock(&hub->lock);
			hub_violation(hub,
				      "block %" G_GUINT64_FORMAT " after stored %" G_GUINT64_FORMAT,
				      seq, hub->last_seq);
			return TRUE;
		}
		hub->last_seq = seq;
		g_array_append_val(hub->indices, index);
		kill = hub->kill_at != 0 && !hub->killed && hub->indices->len >= hub->kill_at;
		if (kill)
			hub->killed = TRUE;
		g_mutex_unlock(&hub->lock);
		if (kill) {
			hub_kill(hub);
			return FALSE;
		}
		return TRUE;
	}
	default:
		break;
	}
	if (!pds_uplink_parse_control(block, &control, &error)) {
		if (error != NULL)
			hub_violation(hub, "bad control record: %s", error->message);
		return TRUE;
	}
	switch (control.kind) {
	case PDS_CONTROL_START:
		g_mutex_lock(&hub->lock);
		if (control.seq != hub->last_seq + 1) {
			g_mutex_unlock(&hub->lock);
			hub_violation(hub,
				      "START %" G_GUINT64_FORMAT " but stored %" G_GUINT64_FORMAT,
				      control.seq, hub->last_seq);
			return TRUE;
		}
		g_mutex_unlock(&hub->lock);
		if (g_strcmp0(control.source_id, hub->source_id) != 0)
			hub_violation(hub, "START for source '%s'", control.source_id);
		c->started = TRUE;
		c->next_seq = control.seq;
		g_mutex_lock(&hub->lock);
		c->said_goodbye = hub->goodbye_once;
		hub->goodbye_once = FALSE;
		g_mutex_unlock(&hub->lock);
		/* the source closes; the hub then sees EOF and drops its side */
		if (c->said_goodbye)
			pds_uplink_write_control(c->out, PDS_CONTROL_GOODBYE, 0, NULL,
						 "restarting");
		break;
	case PDS_CONTROL_HEARTBEAT:
		g_mutex_lock(&hub->lock);
		hub->heartbeats_rx++;
		g_mutex_unlock(&hub->lock);
		break;
	case PDS_CONTROL_GOODBYE:
		g_mutex_lock(&hub->lock);
		hub->goodbyes_rx++;
		g_mutex_unlock(&hub->lock);
		break;
	default:
		hub_violation(hub, "unexpected control kind %d from the source", control.kind);
		break;
	}
	return TRUE;
}

static void
hub_conn_pump(HubConn *c)
{
	TestHub *hub = c->hub;
	GIOCondition condition = G_IO_IN;
	gboolean stored = FALSE, silent;

	if (!c->handshaken) {
		g_autoptr(GError) error = NULL;
		if (!pds_tls_conn_handshake(c->tls, &error)) {
			if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
				hub_conn_watch(c, pds_tls_conn_get_wait_condition(c->tls));
				return;
			}
			hub_violation(hub, "hub handshake: %s", error->message);
			hub_conn_drop(c);
			return;
		}
		c->handshaken = TRUE;
	}
	g_mutex_lock(&hub->lock);
	silent = hub->silent;
	g_mutex_unlock(&hub->lock);

	for (;;) {
		g_autoptr(GError) error = NULL;
		guint8 buf[16384];
		gssize n = pds_tls_conn_read(c->tls, buf, sizeof(buf), &error);
		PdsPcapngBlock block;

		if (n == 0) {
			hub_conn_drop(c);
			return;
		}
		if (n < 0) {
			if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
				break;
			hub_conn_drop(c);
			return;
		}
		pds_pcapng_reader_feed(c->reader, buf, n);
		while (pds_pcapng_reader_next(c->reader, &block, &error)) {
			if (block.type == PDS_PCAPNG_BT_EPB)
				stored = TRUE;
			if (!hub_conn_handle_block(c, &block))
				return; /* killed */
		}
		if (error != NULL) {
			hub_violation(hub, "hub reader: %s", error->message);
			hub_conn_drop(c);
			return;
		}
	}
	if (stored && !silent) {
		guint64 last;
		g_mutex_lock(&hub->lock);
		last = hub->last_seq;
		g_mutex_unlock(&hub->lock);
		pds_uplink_write_control(c->out, PDS_CONTROL_ACK, last, NULL, NULL);
	}
	while (c->out_pos < c->out->len) {
		g_autoptr(GError) error = NULL;
		gssize n = pds_tls_conn_write(c->tls, c->out->data + c->out_pos,
					      c->out->len - c->out_pos, &error);
		if (n < 0) {
			if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
				condition |= pds_tls_conn_get_wait_condition(c->tls);
				break;
			}
			hub_conn_drop(c);
			return;
		}
		c->out_pos += n;
	}
	if (c->out_pos == c->out->len) {
		g_byte_array_set_size(c->out, 0);
		c->out_pos = 0;
	}
	hub_conn_watch(c, condition);
}

static gboolean
hub_accept_cb(GSocket *listener, GIOCondition condition, gpointer user_data)
{
	TestHub *hub = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GSocket) socket = g_socket_accept(listener, NULL, &error);
	HubConn *c;

	if (socket == NULL)
		return G_SOURCE_CONTINUE;
	c = g_new0(HubConn, 1);
	c->hub = hub;
	c->socket = g_steal_pointer(&socket);
	c->reader = pds_pcapng_reader_new();
	c->out = g_byte_array_new();
	c->tls = pds_tls_conn_new_server(c->socket, hub->server, hub->ca, &error);
	g_assert_no_error(error);
	g_ptr_array_add(hub->conns, c);
	g_mutex_lock(&hub->lock);
	hub->connections++;
	g_mutex_unlock(&hub->lock);
	hub_conn_pump(c);
	return G_SOURCE_CONTINUE;
}

static gboolean
hub_heartbeat_cb(gpointer user_data)
{
	TestHub *hub = user_data;
	gboolean silent;

	g_mutex_lock(&hub->lock);
	silent = hub->silent;
	g_mutex_unlock(&hub->lock);
	if (silent)
		return G_SOURCE_CONTINUE;
	for (guint i = 0; i < hub->conns->len; i++) {
		HubConn *c = g_ptr_array_index(hub->conns, i);
		if (c->hello_sent) {
			pds_uplink_write_control(c->out, PDS_CONTROL_HEARTBEAT, 0, NULL, NULL);
			hub_conn_pump(c);
			break; /* pump may drop connections: one per tick is plenty */
		}
	}
	return G_SOURCE_CONTINUE;
}

typedef struct {
	TestHub *hub;
	gboolean done;
	GMutex lock;
	GCond cond;
} HubCall;

static gboolean
hub_start_in_thread(gpointer user_data)
{
	HubCall *call = user_data;
	TestHub *hub = call->hub;
	g_autoptr(GError) error = NULL;
	g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) address = g_inet_socket_address_new(loopback, hub->port);
	g_autoptr(GSocketAddress) bound = NULL;

	hub->listener = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
				     G_SOCKET_PROTOCOL_TCP, &error);
	g_assert_no_error(error);
	g_socket_set_blocking(hub->listener, FALSE);
	g_assert_true(g_socket_bind(hub->listener, address, TRUE, &error));
	g_assert_no_error(error);
	g_assert_true(g_socket_listen(hub->listener, &error));
	g_assert_no_error(error);
	bound = g_socket_get_local_address(hub->listener, &error);
	g_assert_no_error(error);
	hub->port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
	hub->listen_source = g_socket_create_source(hub->listener, G_IO_IN, NULL);
	g_source_set_callback(hub->listen_source, G_SOURCE_FUNC(hub_accept_cb), hub, NULL);
	g_source_attach(hub->listen_source, hub->context);
	g_mutex_lock(&hub->lock);
	hub->running = TRUE;
	g_mutex_unlock(&hub->lock);

	g_mutex_lock(&call->lock);
	call->done = TRUE;
	g_cond_signal(&call->cond);
	g_mutex_unlock(&call->lock);
	return G_SOURCE_REMOVE;
}

static gboolean
hub_kill_in_thread(gpointer user_data)
{
	HubCall *call = user_data;

	hub_kill(call->hub);
	g_mutex_lock(&call->lock);
	call->done = TRUE;
	g_cond_signal(&call->cond);
	g_mutex_unlock(&call->lock);
	return G_SOURCE_REMOVE;
}

static void
hub_call(TestHub *hub, GSourceFunc func)
{
	HubCall call = {hub, FALSE};

	g_mutex_init(&call.lock);
	g_cond_init(&call.cond);
	g_main_context_invoke(hub->context, func, &call);
	g_mutex_lock(&call.lock);
	while (!call.done)
		g_cond_wait(&call.cond, &call.lock);
	g_mutex_unlock(&call.lock);
	g_mutex_clear(&call.lock);
	g_cond_clear(&call.cond);
}

static gpointer
hub_thread(gpointer user_data)
{
	TestHub *hub = user_data;

	g_main_context_push_thread_default(hub->context);
	hub->heartbeat_source = g_timeout_source_new(300);
	g_source_set_callback(hub->heartbeat_source, hub_heartbeat_cb, hub, NULL);
	g_source_attach(hub->heartbeat_source, hub->context);
	g_main_loop_run(hub->loop);
	hub_kill(hub);
	g_source_destroy(hub->heartbeat_source);
	g_source_unref(hub->heartbeat_source);
	g_main_context_pop_thread_default(hub->context);
	return NULL;
}

static TestHub *
test_hub_new(PdsTlsIdentity *ca, PdsTlsIdentity *server)
{
	TestHub *hub = g_new0(TestHub, 1);

	hub->ca = ca;
	hub->server = server;
	hub->context = g_main_context_new();
	hub->loop = g_main_loop_new(hub->context, FALSE);
	hub->conns = g_ptr_array_new_with_free_func((GDestroyNotify)hub_conn_free);
	hub->indices = g_array_new(FALSE, FALSE, sizeof(guint32));
	g_mutex_init(&hub->lock);
	hub->thread = g_thread_new("test-hub", hub_thread, hub);
	return hub;
}

/* Listens on hub->port (0 the first time: any free port). */
static void
test_hub_start(TestHub *hub)
{
	hub_call(hub, hub_start_in_thread);
	g_assert_cmpuint(hub->port, !=, 0);
}

static void
test_hub_kill(TestHub *hub)
{
	hub_call(hub, hub_kill_in_thread);
}

static void
test_hub_free(TestHub *hub)
{
	g_main_loop_quit(hub->loop);
	g_thread_join(hub->thread);
	g_ptr_array_unref(hub->conns);
	g_main_loop_unref(hub->loop);
	g_main_context_unref(hub->context);
	g_array_unref(hub->indices);
	g_free(hub->violation);
	g_free(hub->source_id);
	g_mutex_clear(&hub->lock);
	g_free(hub);
}

static guint
test_hub_stored(TestHub *hub)
{
	guint n;

	g_mutex_lock(&hub->lock);
	n = hub->indices->len;
	g_mutex_unlock(&hub->lock);
	return n;
}

static void
test_hub_assert_clean(TestHub *hub)
{
	g_mutex_lock(&hub->lock);
	g_assert_cmpstr(hub->violation, ==, NULL);
	g_mutex_unlock(&hub->lock);
}

/* ---- the source side ---- */

typedef struct {
	PdsTlsIdentity *ca;
	PdsTlsIdentity *server;
	PdsTlsIdentity *client;
	TestHub *hub;
	PdsUplink *uplink;
	guint connected;
	guint disconnected;
	guint given_up;
	guint dropping;
	guint64 dropping_total;
	gchar *last_reason;
	guint32 next_index;
} Fixture;

static void
on_connected(PdsUplink *uplink, Fixture *f)
{
	f->connected++;
}

static void
on_disconnected(PdsUplink *uplink, const char *reason, Fixture *f)
{
	f->disconnected++;
	g_free(f->last_reason);
	f->last_reason = g_strdup(reason);
	g_test_message("disconnected: %s", reason);
}

static void
on_given_up(PdsUplink *uplink, Fixture *f)
{
	f->given_up++;
}

static void
on_dropping(PdsUplink *uplink, guint64 total, Fixture *f)
{
	f->dropping++;
	f->dropping_total = total;
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
	const char *hosts[] = {"podscope-hub", "127.0.0.1", NULL};
	g_autoptr(GError) error = NULL;

	f->ca = pds_tls_identity_new_ca("uplink test CA", &error);
	g_assert_no_error(error);
	f->server = pds_tls_identity_issue(f->ca, "podscope-hub", PDS_TLS_USAGE_SERVER, hosts, 0, 0,
					   &error);
	g_assert_no_error(error);
	f->client = pds_tls_identity_issue(f->ca, "agent-test", PDS_TLS_USAGE_CLIENT, NULL, 0, 0,
					   &error);
	g_assert_no_error(error);
	f->hub = test_hub_new(f->ca, f->server);
	f->next_index = 1;
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
	if (f->uplink != NULL) {
		pds_uplink_stop(f->uplink);
		g_clear_object(&f->uplink);
	}
	test_hub_free(f->hub);
	pds_tls_identity_free(f->ca);
	pds_tls_identity_free(f->server);
	pds_tls_identity_free(f->client);
	g_free(f->last_reason);
}

static void
fixture_make_uplink(Fixture *f, gsize spool_limit, guint heartbeat_secs, guint grace_secs)
{
	PdsUplinkConfig config = {0};
	g_autoptr(PdsPcapngOptions) shb_opts = pds_pcapng_options_new();
	g_autoptr(PdsPcapngOptions) idb_opts = pds_pcapng_options_new();
	g_autoptr(GByteArray) header = g_byte_array_new();
	g_autoptr(GBytes) header_bytes = NULL;

	pds_pcapng_options_add_string(shb_opts, PDS_PCAPNG_SHB_USERAPPL, "podscope-agent test");
	pds_pcapng_options_add_custom_kv(shb_opts, "source_id", "agent-test-1");
	pds_pcapng_write_shb(header, shb_opts);
	pds_pcapng_options_add_string(idb_opts, PDS_PCAPNG_IF_NAME, "local/test/eth0");
	pds_pcapng_options_add_u8(idb_opts, PDS_PCAPNG_IF_TSRESOL, 9);
	pds_pcapng_write_idb(header, PDS_LINKTYPE_ETHERNET, 262144, idb_opts);
	header_bytes = g_byte_array_free_to_bytes(g_steal_pointer(&header));

	config.hub_host = (gchar *)"127.0.0.1";
	config.hub_port = f->hub->port;
	config.server_name = (gchar *)"podscope-hub";
	config.identity = f->client;
	config.ca = f->ca;
	config.source_id = (gchar *)"agent-test-1";
	config.spool_limit_bytes = spool_limit;
	config.heartbeat_secs = heartbeat_secs;
	config.grace_secs = grace_secs;
	f->uplink = pds_uplink_new(&config, header_bytes);
	g_signal_connect(f->uplink, "connected", G_CALLBACK(on_connected), f);
	g_signal_connect(f->uplink, "disconnected", G_CALLBACK(on_disconnected), f);
	g_signal_connect(f->uplink, "given-up", G_CALLBACK(on_given_up), f);
	g_signal_connect(f->uplink, "dropping", G_CALLBACK(on_dropping), f);
}

/*
 * Queues @n_blocks EPBs in one call; each payload starts with its index.
 * Calls of three blocks or more hand their buffer over (pds_uplink_send_batch:
 * one of 1 MiB or more becomes a spool chunk of its own, a smaller one is
 * copied), the others are copied by pds_uplink_send_blocks, packed into the
 * newest chunk and spilling into the next: the tests mix all of these.
 */
static void
send_blocks(Fixture *f, guint n_blocks)
{
	g_autoptr(GByteArray) buf = g_byte_array_new();

	for (guint i = 0; i < n_blocks; i++) {
		guint8 payload[PAYLOAD_LEN];
		guint32 index = f->next_index++;

		memset(payload, (guint8)index, sizeof(payload));
		memcpy(payload, &index, 4);
		pds_pcapng_write_epb(buf, 0, (guint64)g_get_real_time() * 1000u, payload,
				     PAYLOAD_LEN, PAYLOAD_LEN, NULL);
	}
	g_assert_cmpuint(buf->len, ==, (gsize)n_blocks * BLOCK_LEN);
	if (n_blocks >= 3) {
		GByteArray *next =
			pds_uplink_send_batch(f->uplink, g_steal_pointer(&buf), n_blocks);
		g_assert_nonnull(next);
		g_assert_cmpuint(next->len, ==, 0);
		g_byte_array_unref(next);
		return;
	}
	pds_uplink_send_blocks(f->uplink, buf->data, buf->len, n_blocks);
}

typedef gboolean (*Condition)(Fixture *f, gpointer data);

static gboolean
wake_cb(gpointer data)
{
	return G_SOURCE_CONTINUE;
}

/* Runs the main loop until @cond holds; fails the test after @timeout_ms. */
static void
run_until(Fixture *f, Condition cond, gpointer data, guint timeout_ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	guint wake = g_timeout_add(20, wake_cb, NULL);

	while (!cond(f, data)) {
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_main_context_iteration(NULL, TRUE);
	}
	g_source_remove(wake);
}

static void
run_for(guint ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)ms * 1000;
	guint wake = g_timeout_add(10, wake_cb, NULL);

	while (g_get_monotonic_time() < deadline)
		g_main_context_iteration(NULL, TRUE);
	g_source_remove(wake);
}

static gboolean
cond_acked(Fixture *f, gpointer data)
{
	return pds_uplink_get_acked_seq(f->uplink) >= GPOINTER_TO_UINT(data);
}

static gboolean
cond_connected(Fixture *f, gpointer data)
{
	return f->connected >= GPOINTER_TO_UINT(data);
}

static gboolean
cond_killed(Fixture *f, gpointer data)
{
	gboolean killed;

	g_mutex_lock(&f->hub->lock);
	killed = f->hub->killed;
	g_mutex_unlock(&f->hub->lock);
	return killed;
}

static gboolean
cond_given_up(Fixture *f, gpointer data)
{
	return f->given_up > 0;
}

static gboolean
cond_disconnected(Fixture *f, gpointer data)
{
	return f->disconnected >= GPOINTER_TO_UINT(data);
}

static void
assert_stored_in_order(Fixture *f, guint32 first, guint32 count)
{
	g_mutex_lock(&f->hub->lock);
	g_assert_cmpuint(f->hub->indices->len, ==, count);
	for (guint i = 0; i < count; i++)
		g_assert_cmpuint(g_array_index(f->hub->indices, guint32, i), ==, first + i);
	g_mutex_unlock(&f->hub->lock);
}

static void
test_in_order(Fixture *f, gconstpointer data)
{
	test_hub_start(f->hub);
	fixture_make_uplink(f, 0, 1, 0);

	/* blocks queued before the connection exists go out after START */
	send_blocks(f, 100);
	g_assert_cmpuint(pds_uplink_get_spool_bytes(f->uplink), ==, 100 * BLOCK_LEN);
	pds_uplink_start(f->uplink);
	run_until(f, cond_connected, GUINT_TO_POINTER(1), 10000);
	g_assert_true(pds_uplink_is_connected(f->uplink));
	/* then many small calls, and a few large ones, while connected */
	for (guint i = 0; i < 2000; i++)
		send_blocks(f, 1 + i % 3);
	for (guint i = 0; i < 5; i++)
		send_blocks(f, 5000);
	/* and batches of more than 1 MiB, which the spool takes without a copy */
	for (guint i = 0; i < 3; i++)
		send_blocks(f, 11000);
	run_until(f, cond_acked, GUINT_TO_POINTER(f->next_index - 1), 20000);

	g_test_message("%u blocks stored", f->next_index - 1);
	assert_stored_in_order(f, 1, f->next_index - 1);
	g_assert_cmpuint(pds_uplink_get_spool_bytes(f->uplink), ==, 0);
	g_assert_cmpuint(pds_uplink_get_dropped_blocks(f->uplink), ==, 0);
	g_assert_cmpuint(f->disconnected, ==, 0);
	g_mutex_lock(&f->hub->lock);
	g_assert_cmpstr(f->hub->source_id, ==, "agent-test-1");
	g_assert_cmpuint(f->hub->connections, ==, 1);
	g_mutex_unlock(&f->hub->lock);
	test_hub_assert_clean(f->hub);
}

typedef struct {
	Fixture *f;
	guint remaining;
} Feeder;

static gboolean
feed_cb(gpointer user_data)
{
	Feeder *feeder = user_data;

	send_blocks(feeder->f, 20);
	feeder->remaining--;
	return feeder->remaining > 0 ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static void
test_hub_restart(Fixture *f, gconstpointer data)
{
	Feeder feeder = {f, 150}; /* 3000 blocks, 20 every 2 ms */
	guint total = 150 * 20;

	f->hub->kill_at = 1000;
	test_hub_start(f->hub);
	fixture_make_uplink(f, 0, 1, 0);
	pds_uplink_start(f->uplink);
	run_until(f, cond_connected, GUINT_TO_POINTER(1), 10000);
	g_timeout_add(2, feed_cb, &feeder);

	/* the hub dies mid-stream, with blocks in flight and unacknowledged */
	run_until(f, cond_killed, NULL, 10000);
	run_until(f, cond_disconnected, GUINT_TO_POINTER(1), 10000);
	g_assert_false(pds_uplink_is_connected(f->uplink));
	g_test_message("hub killed after %u blocks; source acked up to %" G_GUINT64_FORMAT
		       ", spool %" G_GUINT64_FORMAT " bytes",
		       test_hub_stored(f->hub), pds_uplink_get_acked_seq(f->uplink),
		       pds_uplink_get_spool_bytes(f->uplink));
	g_assert_cmpuint(pds_uplink_get_acked_seq(f->uplink), <, test_hub_stored(f->hub) + 1);
	run_for(300);

	/* same port, same store: HELLO says what it has */
	test_hub_start(f->hub);
	run_until(f, cond_connected, GUINT_TO_POINTER(2), 15000);
	while (feeder.remaining > 0)
		g_main_context_iteration(NULL, TRUE);
	run_until(f, cond_acked, GUINT_TO_POINTER(total), 20000);

	assert_stored_in_order(f, 1, total);
	g_assert_cmpuint(pds_uplink_get_spool_bytes(f->uplink), ==, 0);
	g_assert_cmpuint(pds_uplink_get_dropped_blocks(f->uplink), ==, 0);
	g_mutex_lock(&f->hub->lock);
	g_assert_cmpuint(f->hub->connections, >=, 2);
	g_mutex_unlock(&f->hub->lock);
	test_hub_assert_clean(f->hub);
}

static void
on_room(PdsUplink *uplink, gpointer user_data)
{
	guint *rooms = user_data;
	(*rooms)++;
}

static void
test_spool_limit(Fixture *f, gconstpointer data)
{
	guint rooms = 0;

	/* reserve a port, then close it: the hub is down at first */
	test_hub_start(f->hub);
	test_hub_kill(f->hub);
	fixture_make_uplink(f, 200 * BLOCK_LEN, 1, 0);
	pds_uplink_start(f->uplink);

	for (guint i = 0; i < 500; i++)
		send_blocks(f, 1);
	g_assert_cmpuint(pds_uplink_get_spool_bytes(f->uplink), ==, 200 * BLOCK_LEN);
	g_assert_cmpuint(pds_uplink_get_dropped_blocks(f->uplink), ==, 300);
	g_assert_cmpuint(f->dropping, ==, 1);
	g_assert_cmpuint(f->dropping_total, ==, 1);
	g_assert_cmpuint(count_warnings("spool full"), ==, 1);
	g_assert_cmpuint(pds_uplink_get_spool_room(f->uplink), ==, 0);
	/* a producer that paused asks to hear when half the spool is free */
	g_signal_connect(f->uplink, "room", G_CALLBACK(on_room), &rooms);
	pds_uplink_notify_room(f->uplink, 100 * BLOCK_LEN);
	run_for(300); /* a few failed connection attempts */
	g_assert_cmpuint(f->connected, ==, 0);
	g_assert_cmpuint(rooms, ==, 0);

	/* the hub comes: the 200 spooled blocks arrive, the dropped ones never */
	test_hub_start(f->hub);
	run_until(f, cond_acked, GUINT_TO_POINTER(200), 15000);
	assert_stored_in_order(f, 1, 200);
	g_assert_cmpuint(pds_uplink_get_spool_bytes(f->uplink), ==, 0);
	g_assert_cmpuint(pds_uplink_get_spool_room(f->uplink), ==, 200 * BLOCK_LEN);
	/* once, however many acknowledgements followed */
	g_assert_cmpuint(rooms, ==, 1);

	/* room again: new blocks are taken, and a second episode signals again */
	send_blocks(f, 100);
	g_assert_cmpuint(count_warnings("300 blocks were dropped"), ==, 1);
	run_until(f, cond_acked, GUINT_TO_POINTER(300), 15000);
	test_hub_kill(f->hub);
	run_until(f, cond_disconnected, GUINT_TO_POINTER(1), 10000);
	for (guint i = 0; i < 250; i++)
		send_blocks(f, 1);
	g_assert_cmpuint(f->dropping, ==, 2);
	g_assert_cmpuint(pds_uplink_get_dropped_blocks(f->uplink), ==, 350);
	g_assert_cmpuint(f->dropping_total, ==, 301);
	g_assert_cmpuint(count_warnings("spool full"), ==, 2);
	test_hub_assert_clean(f->hub);
}

/*
 * Acknowledged chunk buffers are kept for the next chunks, all of them (a
 * pool with a fixed cap made fresh buffers, and page faults, under
 * back-pressure); a trim frees those that nothing took since the last one.
 */
static void
test_buffer_pool(Fixture *f, gconstpointer data)
{
	/* a batch this large is handed over, not copied: one chunk and buffer each */
	guint per_batch = (1024 * 1024 + BLOCK_LEN - 1) / BLOCK_LEN;
	guint sent = 0;

	/* the hub is down at first: all twelve chunks are in the spool at once */
	test_hub_start(f->hub);
	test_hub_kill(f->hub);
	fixture_make_uplink(f, 64 * 1024 * 1024, 5, 0);
	pds_uplink_start(f->uplink);

	for (guint i = 0; i < 12; i++, sent += per_batch)
		send_blocks(f, per_batch);
	g_assert_cmpuint(pds_uplink_get_pooled_buffers(f->uplink), ==, 0);
	test_hub_start(f->hub);
	run_until(f, cond_acked, GUINT_TO_POINTER(sent), 15000);
	g_assert_cmpuint(pds_uplink_get_pooled_buffers(f->uplink), ==, 12);

	/* the pool was empty since the last trim: every buffer was needed */
	pds_uplink_trim_buffers(f->uplink);
	g_assert_cmpuint(pds_uplink_get_pooled_buffers(f->uplink), ==, 12);

	/* one batch takes one buffer (the caller keeps it); eleven sat idle */
	send_blocks(f, per_batch);
	sent += per_batch;
	run_until(f, cond_acked, GUINT_TO_POINTER(sent), 15000);
	g_assert_cmpuint(pds_uplink_get_pooled_buffers(f->uplink), ==, 12);
	pds_uplink_trim_buffers(f->uplink);
	g_assert_cmpuint(pds_uplink_get_pooled_buffers(f->uplink), ==, 1);
	pds_uplink_trim_buffers(f->uplink);
	g_assert_cmpuint(pds_uplink_get_pooled_buffers(f->uplink), ==, 0);

	assert_stored_in_order(f, 1, sent);
	test_hub_assert_clean(f->hub);
}

static void
test_grace(Fixture *f, gconstpointer data)
{
	gint64 start;

	test_hub_start(f->hub);
	test_hub_kill(f->hub);
	fixture_make_uplink(f, 0, 1, 1);
	start = g_get_monotonic_time();
	pds_uplink_start(f->uplink);
	send_blocks(f, 10);
	run_until(f, cond_given_up, NULL, 10000);
	g_assert_cmpint(g_get_monotonic_time() - start, >=, 900 * 1000);
	g_assert_cmpuint(f->given_up, ==, 1);
	g_assert_false(pds_uplink_is_connected(f->uplink));

	/* no more attempts after giving up: a hub that comes now sees nobody */
	test_hub_start(f->hub);
	run_for(600);
	g_mutex_lock(&f->hub->lock);
	g_assert_cmpuint(f->hub->connections, ==, 0);
	g_mutex_unlock(&f->hub->lock);
}

static void
test_grace_reset_by_connection(Fixture *f, gconstpointer data)
{
	test_hub_start(f->hub);
	fixture_make_uplink(f, 0, 1, 2);
	pds_uplink_start(f->uplink);
	run_until(f, cond_connected, GUINT_TO_POINTER(1), 10000);
	/* connected longer than the grace period: no giving up */
	run_for(2500);
	g_assert_cmpuint(f->given_up, ==, 0);
	g_assert_true(pds_uplink_is_connected(f->uplink));
	/* hub gone: the clock starts now */
	test_hub_kill(f->hub);
	run_until(f, cond_given_up, NULL, 10000);
	test_hub_assert_clean(f->hub);
}

static void
test_heartbeat(Fixture *f, gconstpointer data)
{
	gint64 start;

	f->hub->silent = TRUE;
	test_hub_start(f->hub);
	fixture_make_uplink(f, 0, 1, 0);
	pds_uplink_start(f->uplink);
	run_until(f, cond_connected, GUINT_TO_POINTER(1), 10000);
	start = g_get_monotonic_time();
	send_blocks(f, 5);

	/* the hub stays silent: after 3 missed heartbeats the source gives up on
	 * this connection and reconnects */
	run_until(f, cond_disconnected, GUINT_TO_POINTER(1), 10000);
	g_assert_nonnull(strstr(f->last_reason, "heartbeats missed"));
	g_assert_cmpint(g_get_monotonic_time() - start, >=, 2000 * 1000);
	/* meanwhile the idle source sent heartbeats of its own */
	g_mutex_lock(&f->hub->lock);
	g_assert_cmpuint(f->hub->heartbeats_rx, >=, 1);
	g_assert_cmpuint(f->hub->indices->len, ==, 5);
	f->hub->silent = FALSE;
	g_mutex_unlock(&f->hub->lock);

	/* with a talking hub the blocks (stored, never acked) are acknowledged
	 * by HELLO and not sent twice */
	run_until(f, cond_connected, GUINT_TO_POINTER(2), 10000);
	run_until(f, cond_acked, GUINT_TO_POINTER(5), 10000);
	assert_stored_in_order(f, 1, 5);
	/* a hub that talks keeps the connection up past 3 heartbeat periods */
	run_for(3500);
	g_assert_cmpuint(f->disconnected, ==, 1);
	test_hub_assert_clean(f->hub);
}

/* Stopping while the hub holds blocks it never acknowledges: the stop waits
 * its bounded time, then says how many are unconfirmed. */
static void
test_stop_unconfirmed(Fixture *f, gconstpointer data)
{
	gint64 start;

	f->hub->silent = TRUE;
	test_hub_start(f->hub);
	fixture_make_uplink(f, 0, 30, 0);
	pds_uplink_start(f->uplink);
	run_until(f, cond_connected, GUINT_TO_POINTER(1), 10000);
	g_assert_cmpuint(pds_uplink_get_unconfirmed_blocks(f->uplink), ==, 0);
	send_blocks(f, 7);
	start = g_get_monotonic_time();
	g_test_expect_message("PdsUplink", G_LOG_LEVEL_WARNING,
			      "stopping with 7 blocks the hub * has not acknowledged*");
	pds_uplink_stop(f->uplink);
	g_test_assert_expected_messages();
	g_assert_cmpint(g_get_monotonic_time() - start, >=, 4 * G_USEC_PER_SEC);
	g_assert_cmpuint(pds_uplink_get_unconfirmed_blocks(f->uplink), ==, 7);
	g_assert_cmpuint(pds_uplink_get_dropped_blocks(f->uplink), ==, 0);
}

static void
test_hub_goodbye(Fixture *f, gconstpointer data)
{
	f->hub->goodbye_once = TRUE;
	test_hub_start(f->hub);
	fixture_make_uplink(f, 0, 1, 0);
	send_blocks(f, 50);
	pds_uplink_start(f->uplink);
	run_until(f, cond_disconnected, GUINT_TO_POINTER(1), 10000);
	g_assert_cmpstr(f->last_reason, ==, "the hub said goodbye: restarting");
	/* it comes back and delivers everything once */
	run_until(f, cond_connected, GUINT_TO_POINTER(2), 10000);
	run_until(f, cond_acked, GUINT_TO_POINTER(50), 10000);
	assert_stored_in_order(f, 1, 50);
	g_mutex_lock(&f->hub->lock);
	g_assert_cmpuint(f->hub->connections, ==, 2);
	g_mutex_unlock(&f->hub->lock);
	test_hub_assert_clean(f->hub);
}

static void
test_stop_flushes(Fixture *f, gconstpointer data)
{
	test_hub_start(f->hub);
	fixture_make_uplink(f, 0, 1, 0);
	pds_uplink_start(f->uplink);
	run_until(f, cond_connected, GUINT_TO_POINTER(1), 10000);
	send_blocks(f, 3000);
	/* no main loop iteration in between: stop() itself must deliver */
	pds_uplink_stop(f->uplink);
	g_assert_cmpuint(pds_uplink_get_acked_seq(f->uplink), ==, 3000);
	g_assert_cmpuint(f->disconnected, ==, 1);
	g_assert_cmpstr(f->last_reason, ==, "stopped");
	assert_stored_in_order(f, 1, 3000);
	run_for(200);
	g_mutex_lock(&f->hub->lock);
	g_assert_cmpuint(f->hub->goodbyes_rx, ==, 1);
	g_mutex_unlock(&f->hub->lock);
	test_hub_assert_clean(f->hub);
}

static void
test_control_roundtrip(void)
{
	g_autoptr(GByteArray) buf = g_byte_array_new();
	g_autoptr(PdsPcapngReader) reader = pds_pcapng_reader_new();
	g_autoptr(GError) error = NULL;
	PdsPcapngBlock block;
	const PdsControlKind kinds[] = {PDS_CONTROL_HELLO, PDS_CONTROL_ACK, PDS_CONTROL_GOODBYE};

	pds_pcapng_write_shb(buf, NULL);
	pds_uplink_write_control(buf, PDS_CONTROL_HELLO, 42, "src-1", NULL);
	pds_uplink_write_control(buf, PDS_CONTROL_ACK, G_MAXUINT64, NULL, NULL);
	pds_uplink_write_control(buf, PDS_CONTROL_GOODBYE, 7, NULL, "bye now");
	pds_pcapng_reader_feed(reader, buf->data, buf->len);

	g_assert_true(pds_pcapng_reader_next(reader, &block, &error));
	g_assert_cmpuint(block.type, ==, PDS_PCAPNG_BT_SHB);
	{
		g_auto(PdsUplinkControl) control = {0};
		g_assert_false(pds_uplink_parse_control(&block, &control, &error));
		g_assert_no_error(error);
	}
	for (guint i = 0; i < G_N_ELEMENTS(kinds); i++) {
		g_auto(PdsUplinkControl) control = {0};

		g_assert_true(pds_pcapng_reader_next(reader, &block, &error));
		g_assert_true(pds_uplink_parse_control(&block, &control, &error));
		g_assert_no_error(error);
		g_assert_cmpint(control.kind, ==, kinds[i]);
		switch (control.kind) {
		case PDS_CONTROL_HELLO:
			g_assert_cmpuint(control.seq, ==, 42);
			g_assert_cmpstr(control.source_id, ==, "src-1");
			break;
		case PDS_CONTROL_ACK:
			g_assert_cmpuint(control.seq, ==, G_MAXUINT64);
			g_assert_null(control.source_id);
			break;
		default:
			/* GOODBYE carries no sequence */
			g_assert_cmpuint(control.seq, ==, 0);
			g_assert_cmpstr(control.message, ==, "bye now");
			break;
		}
	}
	g_assert_false(pds_pcapng_reader_next(reader, &block, &error));
	g_assert_no_error(error);
}

int
main(int argc, char **argv)
{
	const char *fatal_domains[] = {
		"GLib", "GLib-GIO", "GLib-GObject", "PdsTls", "PdsPcapng", "PdsRecord", NULL};

	g_test_init(&argc, &argv, NULL);
	uplink_warnings = g_ptr_array_new_with_free_func(g_free);
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	for (guint i = 0; fatal_domains[i] != NULL; i++)
		g_log_set_fatal_mask(fatal_domains[i],
				     G_LOG_FATAL_MASK | G_LOG_LEVEL_WARNING | G_LOG_LEVEL_CRITICAL);
	g_log_set_fatal_mask(NULL, G_LOG_FATAL_MASK | G_LOG_LEVEL_WARNING | G_LOG_LEVEL_CRITICAL);
	g_log_set_handler("PdsUplink", G_LOG_LEVEL_WARNING, uplink_warning_handler, NULL);

	g_test_add_func("/uplink/control-roundtrip", test_control_roundtrip);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
	ADD("/uplink/in-order", test_in_order);
	ADD("/uplink/hub-restart", test_hub_restart);
	ADD("/uplink/spool-limit", test_spool_limit);
	ADD("/uplink/buffer-pool", test_buffer_pool);
	ADD("/uplink/grace", test_grace);
	ADD("/uplink/grace-reset-by-connection", test_grace_reset_by_connection);
	ADD("/uplink/heartbeat", test_heartbeat);
	ADD("/uplink/stop-unconfirmed", test_stop_unconfirmed);
	ADD("/uplink/hub-goodbye", test_hub_goodbye);
	ADD("/uplink/stop-flushes", test_stop_flushes);
#undef ADD
	return g_test_run();
}
