/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Join against the real podscope-hub (started with --ca-key and
 * --join-secret-file): a valid token gets a certificate that then streams;
 * a reused token (also after a hub restart), a token for another pod, a token
 * signed with another secret, a connection from another address than the
 * pod's, and a certificate-less connection that does anything but join are
 * refused with the reason; a joining source refuses a hub whose CA does not
 * match its pin. Also POST /v1/names and the names it puts in the stream.
 */
#include "config.h"

#include <libsoup/soup.h>
#include <string.h>
#include <unistd.h>

#include "pds-join.h"
#include "pds-pcapng-reader.h"
#include "pds-pcapng-writer.h"
#include "pds-record-codec.h"
#include "pds-test-hub.h"
#include "pds-tls.h"
#include "pds-uplink.h"

#define TOKEN  "join-test-api-token"
#define SECRET "3f6c1d2e9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d"

typedef struct {
	gchar *dir;
	gchar *data_dir;
	PdsTlsIdentity *ca;
	gchar *fingerprint;
	GSubprocess *hub;
	guint16 ingest_port;
	guint16 api_port;
} Fixture;

static gchar *
hub_log(Fixture *f)
{
	return pds_test_hub_log(f->dir);
}

static void
hub_start(Fixture *f, guint16 ingest_port)
{
	g_autofree gchar *ingest = g_strdup_printf("127.0.0.1:%u", ingest_port);
	g_autofree gchar *ca = g_build_filename(f->dir, "ca.crt", NULL);
	g_autofree gchar *ca_key = g_build_filename(f->dir, "ca.key", NULL);
	g_autofree gchar *cert = g_build_filename(f->dir, "hub.crt", NULL);
	g_autofree gchar *key = g_build_filename(f->dir, "hub.key", NULL);
	g_autofree gchar *token = g_build_filename(f->dir, "token", NULL);
	g_autofree gchar *secret = g_build_filename(f->dir, "join-secret", NULL);
	/* clang-format off */
	const char *args[] = {"--data-dir", f->data_dir, "--ca", ca, "--ca-key", ca_key,
			      "--join-secret-file", secret, "--cert", cert, "--key", key,
			      "--token-file", token, "--ingest", ingest, "--api", "127.0.0.1:0",
			      NULL};
	/* clang-format on */

	g_assert_true(g_file_set_contents(token, TOKEN "\n", -1, NULL));
	g_assert_true(g_file_set_contents(secret, SECRET "\n", -1, NULL));
	f->hub = pds_test_hub_spawn(f->dir, args, &f->ingest_port, &f->api_port);
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	f->dir = g_dir_make_tmp(NULL, &error);
	g_assert_no_error(error);
	f->data_dir = g_build_filename(f->dir, "data", NULL);
	f->ca = pds_test_hub_make_credentials(f->dir, "join test CA", "hub");
	f->fingerprint = pds_tls_identity_get_fingerprint(f->ca);
	hub_start(f, 0);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
	pds_test_hub_stop(&f->hub);
	pds_tls_identity_free(f->ca);
	g_free(f->fingerprint);
	pds_test_hub_remove_dir(&f->dir);
	g_free(f->data_dir);
}

static gchar *
make_token(const char *secret, const char *ns, const char *pod)
{
	g_autoptr(GError) error = NULL;
	gchar *token = pds_join_token_new((const guint8 *)secret, strlen(secret), ns, pod, &error);
	g_assert_no_error(error);
	return token;
}

/* Runs a join as an agent would; returns the error (NULL on success). */
static GError *
try_join(Fixture *f,
	 const char *token,
	 const char *fingerprint,
	 const char *ns,
	 const char *pod,
	 PdsTlsIdentity **identity,
	 PdsTlsIdentity **ca)
{
	PdsJoinRequest req = {0};
	GError *error = NULL;
	PdsTlsIdentity *id = NULL, *pinned = NULL;

	req.hub_host = "127.0.0.1";
	req.hub_port = f->ingest_port;
	req.token = token;
	req.ca_fingerprint = fingerprint;
	req.namespace_ = ns;
	req.pod = pod;
	req.timeout_secs = 10;
	if (pds_join_run(&req, &id, &pinned, &error)) {
		if (identity != NULL)
			*identity = id;
		else
			pds_tls_identity_free(id);
		if (ca != NULL)
			*ca = pinned;
		else
			pds_tls_identity_free(pinned);
		return NULL;
	}
	g_assert_nonnull(error);
	return error;
}

static GBytes *
header_blocks(const char *ns, const char *pod)
{
	g_autoptr(GByteArray) out = g_byte_array_new();
	g_autoptr(PdsPcapngOptions) shb = pds_pcapng_options_new();
	g_autoptr(PdsPcapngOptions) idb = pds_pcapng_options_new();
	g_autofree gchar *id = g_strdup_printf("join-test-%s", pod);

	pds_pcapng_options_add_custom_kv(shb, "source_id", id);
	pds_pcapng_options_add_custom_kv(shb, "role", "agent");
	pds_pcapng_options_add_custom_kv(shb, "namespace", ns);
	pds_pcapng_options_add_custom_kv(shb, "pod", pod);
	pds_pcapng_write_shb(out, shb);
	pds_pcapng_options_add_string(idb, PDS_PCAPNG_IF_NAME, "eth0");
	pds_pcapng_options_add_u8(idb, PDS_PCAPNG_IF_TSRESOL, 9);
	pds_pcapng_write_idb(out, PDS_LINKTYPE_ETHERNET, 262144, idb);
	return g_byte_array_free_to_bytes(g_steal_pointer(&out));
}

typedef struct {
	gboolean connected;
	gchar *disconnect_reason;
} UplinkWatch;

static void
on_connected(PdsUplink *uplink, gpointer user_data)
{
	((UplinkWatch *)user_data)->connected = TRUE;
}

static void
on_disconnected(PdsUplink *uplink, const char *reason, gpointer user_data)
{
	UplinkWatch *w = user_data;
	if (w->disconnect_reason == NULL)
		w->disconnect_reason = g_strdup(reason);
}

/* Streams a few packets with @identity claiming @ns/@pod; returns the uplink's fate. */
static void
stream_as(Fixture *f,
	  PdsTlsIdentity *identity,
	  PdsTlsIdentity *ca,
	  const char *ns,
	  const char *pod,
	  UplinkWatch *w,
	  guint timeout_secs,
	  guint64 *acked)
{
	PdsUplinkConfig config = {0};
	g_autoptr(GBytes) header = header_blocks(ns, pod);
	g_autoptr(PdsUplink) uplink = NULL;
	g_autoptr(GByteArray) blocks = g_byte_array_new();
	g_autofree gchar *source_id = g_strdup_printf("join-test-%s", pod);
	guint8 frame[60] = {0};
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_secs * G_USEC_PER_SEC;

	config.hub_host = (gchar *)"127.0.0.1";
	config.hub_port = f->ingest_port;
	config.server_name = (gchar *)"podscope-hub";
	config.identity = identity;
	config.ca = ca;
	config.source_id = source_id;
	config.heartbeat_secs = 5;
	uplink = pds_uplink_new(&config, header);
	g_signal_connect(uplink, "connected", G_CALLBACK(on_connected), w);
	g_signal_connect(uplink, "disconnected", G_CALLBACK(on_disconnected), w);
	pds_uplink_start(uplink);
	for (guint i = 0; i < 3; i++)
		pds_pcapng_write_epb(blocks, 0, (guint64)g_get_real_time() * 1000, frame,
				     sizeof(frame), sizeof(frame), NULL);
	/* two flow records: one without names, one whose source named its client */
	for (guint i = 0; i < 2; i++) {
		g_autoptr(PdsRecordBuilder) b = pds_record_builder_new(
			PDS_RECORD_FLOW, 0, (guint64)g_get_real_time() * 1000);
		g_autoptr(GBytes) record = NULL;
		const guint8 src[4] = {10, 244, 0, 5}, dst[4] = {10, 96, 0, 10};
		pds_record_builder_add_u8(b, PDS_FLOW_EVENT, PDS_FLOW_EVENT_HTTP_EXCHANGE);
		pds_record_builder_add(b, PDS_FLOW_SRC_ADDR, src, 4);
		pds_record_builder_add(b, PDS_FLOW_DST_ADDR, dst, 4);
		if (i == 1)
			pds_record_builder_add_string(b, PDS_FLOW_SRC_NAME, "named-by-the-source");
		pds_record_builder_add_string(b, PDS_FLOW_HTTP_URI, i == 0 ? "/first" : "/second");
		record = pds_record_builder_end(g_steal_pointer(&b));
		pds_record_write_custom_block(blocks, record);
	}
	pds_uplink_send_blocks(uplink, blocks->data, blocks->len, 5);
	while (pds_uplink_get_acked_seq(uplink) < 5 && w->disconnect_reason == NULL &&
	       g_get_monotonic_time() < deadline) {
		if (!g_main_context_iteration(NULL, FALSE))
			g_usleep(2000);
	}
	*acked = pds_uplink_get_acked_seq(uplink);
	g_signal_handlers_disconnect_by_data(uplink, w);
	/* stop() flushes and warns about what is unacknowledged: only for a stream
	 * the hub took */
	if (*acked == 5)
		pds_uplink_stop(uplink);
}

static gchar *
api_request(Fixture *f, const char *method, const char *path, const char *body, guint *status)
{
	g_autoptr(SoupSession) session = soup_session_new();
	g_autofree gchar *url = g_strdup_printf("http://127.0.0.1:%u%s", f->api_port, path);
	g_autoptr(SoupMessage) msg = soup_message_new(method, url);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) reply = NULL;

	soup_message_headers_replace(soup_message_get_request_headers(msg), "Authorization",
				     "Bearer " TOKEN);
	if (body != NULL) {
		g_autoptr(GBytes) b = g_bytes_new(body, strlen(body));
		soup_message_set_request_body_from_bytes(msg, "application/json", b);
	}
	reply = soup_session_send_and_read(session, msg, NULL, &error);
	g_assert_no_error(error);
	*status = soup_message_get_status(msg);
	return g_strndup(g_bytes_get_data(reply, NULL), g_bytes_get_size(reply));
}

static void
test_valid_join(Fixture *f, gconstpointer data)
{
	g_autofree gchar *token = make_token(SECRET, "shop", "web-1");
	g_autoptr(PdsTlsIdentity) identity = NULL;
	g_autoptr(PdsTlsIdentity) ca = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *pinned_fp = NULL;
	g_autofree gchar *sources = NULL;
	g_autofree gchar *log = NULL;
	UplinkWatch w = {0};
	guint64 acked = 0;
	guint status;

	error = try_join(f, token, f->fingerprint, "shop", "web-1", &identity, &ca);
	g_assert_no_error(error);
	g_assert_cmpstr(pds_tls_identity_get_common_name(identity), ==, "agent:shop/web-1");
	pinned_fp = pds_tls_identity_get_fingerprint(ca);
	g_assert_cmpstr(pinned_fp, ==, f->fingerprint);

	/* the certificate from the join streams like any other */
	stream_as(f, identity, ca, "shop", "web-1", &w, 10, &acked);
	g_assert_null(w.disconnect_reason);
	g_assert_true(w.connected);
	g_assert_cmpuint(acked, ==, 5);
	sources = api_request(f, "GET", "/v1/sources", NULL, &status);
	g_assert_cmpuint(status, ==, 200);
	g_assert_nonnull(strstr(sources, "\"pod\" : \"web-1\""));
	log = hub_log(f);
	g_assert_nonnull(strstr(log, "issued a certificate for agent:shop/web-1"));
	g_free(w.disconnect_reason);
}

static void
test_reused_token(Fixture *f, gconstpointer data)
{
	g_autofree gchar *token = make_token(SECRET, "shop", "web-1");
	g_autoptr(GError) first = NULL;
	g_autoptr(GError) second = NULL;
	g_autoptr(GError) third = NULL;
	g_autofree gchar *nonces = NULL;
	g_autofree gchar *nonces_path = g_build_filename(f->data_dir, "join-nonces", NULL);
	guint16 port = f->ingest_port;

	first = try_join(f, token, f->fingerprint, "shop", "web-1", NULL, NULL);
	g_assert_no_error(first);
	second = try_join(f, token, f->fingerprint, "shop", "web-1", NULL, NULL);
	g_assert_error(second, PDS_JOIN_ERROR, PDS_JOIN_ERROR_REFUSED);
	g_assert_nonnull(strstr(second->message, "already used"));

	/* a hub killed and restarted on the same data still remembers */
	g_assert_true(g_file_get_contents(nonces_path, &nonces, NULL, NULL));
	g_assert_cmpuint(strlen(nonces), ==, PDS_JOIN_NONCE_LEN + 1);
	pds_test_hub_kill9(&f->hub);
	hub_start(f, port);
	third = try_join(f, token, f->fingerprint, "shop", "web-1", NULL, NULL);
	g_assert_error(third, PDS_JOIN_ERROR, PDS_JOIN_ERROR_REFUSED);
	g_assert_nonnull(strstr(third->message, "already used"));
}

static void
test_other_pod(Fixture *f, gconstpointer data)
{
	g_autofree gchar *token = make_token(SECRET, "shop", "web-2");
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) owner = NULL;

	/* web-1 presents web-2's token */
	error = try_join(f, token, f->fingerprint, "shop", "web-1", NULL, NULL);
	g_assert_error(error, PDS_JOIN_ERROR, PDS_JOIN_ERROR_REFUSED);
	g_assert_nonnull(strstr(error->message, "is for shop/web-2"));
	g_assert_nonnull(strstr(error->message, "claims to be shop/web-1"));
	/* the refusal did not burn the token for its pod */
	owner = try_join(f, token, f->fingerprint, "shop", "web-2", NULL, NULL);
	g_assert_no_error(owner);
}

static void
test_bad_hmac(Fixture *f, gconstpointer data)
{
	g_autofree gchar *token = make_token("an-attacker-guessing-the-secret", "shop", "web-1");
	g_autoptr(GError) error = NULL;
	g_autofree gchar *log = NULL;

	error = try_join(f, token, f->fingerprint, "shop", "web-1", NULL, NULL);
	g_assert_error(error, PDS_JOIN_ERROR, PDS_JOIN_ERROR_REFUSED);
	g_assert_nonnull(strstr(error->message, "wrong signature"));
	log = hub_log(f);
	g_assert_nonnull(strstr(log, "join refused"));
	g_assert_null(strstr(log, "issued a certificate"));
}

static void
test_wrong_ca(Fixture *f, gconstpointer data)
{
	g_autofree gchar *token = make_token(SECRET, "shop", "web-1");
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) later = NULL;
	g_autoptr(PdsTlsIdentity) other = pds_tls_identity_new_ca("someone else's CA", &error);
	g_autofree gchar *other_fp = pds_tls_identity_get_fingerprint(other);
	g_autofree gchar *log = NULL;

	g_assert_no_error(error);
	error = try_join(f, token, other_fp, "shop", "web-1", NULL, NULL);
	g_assert_error(error, PDS_TLS_ERROR, PDS_TLS_ERROR_PEER_REFUSED);
	g_assert_nonnull(strstr(error->message, "pinned session CA"));
	/* the token never left: it still works with the right pin */
	later = try_join(f, token, f->fingerprint, "shop", "web-1", NULL, NULL);
	g_assert_no_error(later);
	log = hub_log(f);
	g_assert_nonnull(strstr(log, "issued a certificate for agent:shop/web-1"));
}

static gchar *
agent_binary(void)
{
	const char *env = g_getenv("PODSCOPE_AGENT_BIN");
	if (env != NULL)
		return g_strdup(env);
	return g_build_filename(g_getenv("PDS_BUILD_ROOT") != NULL ? g_getenv("PDS_BUILD_ROOT")
								   : PDS_BUILD_ROOT,
				"agent", "podscope-agent", NULL);
}

/* The real podscope-agent with a token and a pin that is not the hub's CA. */
static void
test_agent_refuses_wrong_ca(Fixture *f, gconstpointer data)
{
	g_autofree gchar *bin = agent_binary();
	g_autofree gchar *token = make_token(SECRET, "shop", "web-1");
	g_autoptr(GError) error = NULL;
	g_autoptr(PdsTlsIdentity) other = pds_tls_identity_new_ca("someone else's CA", &error);
	g_autofree gchar *other_fp = pds_tls_identity_get_fingerprint(other);
	g_autofree gchar *hub = g_strdup_printf("127.0.0.1:%u", f->ingest_port);
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autoptr(GSubprocess) agent = NULL;
	g_autofree gchar *out = NULL;
	g_autofree gchar *err = NULL;
	g_autofree gchar *log = NULL;

	if (geteuid() != 0) {
		g_test_skip("the agent captures on lo: needs root");
		return;
	}
	g_assert_no_error(error);
	launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE |
					     G_SUBPROCESS_FLAGS_STDERR_PIPE);
	g_subprocess_launcher_unsetenv(launcher, "PODSCOPE_CERT");
	g_subprocess_launcher_unsetenv(launcher, "PODSCOPE_KEY");
	g_subprocess_launcher_setenv(launcher, "PODSCOPE_HUB", hub, TRUE);
	g_subprocess_launcher_setenv(launcher, "PODSCOPE_JOIN_TOKEN", token, TRUE);
	g_subprocess_launcher_setenv(launcher, "PODSCOPE_CA_FINGERPRINT", other_fp, TRUE);
	g_subprocess_launcher_setenv(launcher, "PODSCOPE_NAMESPACE", "shop", TRUE);
	g_subprocess_launcher_setenv(launcher, "PODSCOPE_POD", "web-1", TRUE);
	agent = g_subprocess_launcher_spawn(launcher, &error, bin, "--interface", "lo", "--grace",
					    "5", NULL);
	g_assert_no_error(error);
	g_assert_true(g_subprocess_communicate_utf8(agent, NULL, NULL, &out, &err, &error));
	g_assert_no_error(error);
	g_test_message("agent: %s", err);
	g_assert_true(g_subprocess_get_if_exited(agent));
	g_assert_cmpint(g_subprocess_get_exit_status(agent), ==, 1);
	g_assert_nonnull(strstr(err, "pinned session CA"));
	log = hub_log(f);
	g_assert_null(strstr(log, "issued a certificate"));
}

static void
test_identity_mismatch(Fixture *f, gconstpointer data)
{
	g_autofree gchar *token = make_token(SECRET, "shop", "web-1");
	g_autoptr(PdsTlsIdentity) identity = NULL;
	g_autoptr(PdsTlsIdentity) ca = NULL;
	g_autoptr(GError) error = NULL;
	UplinkWatch w = {0};
	guint64 acked = 0;
	g_autofree gchar *log = NULL;

	error = try_join(f, token, f->fingerprint, "shop", "web-1", &identity, &ca);
	g_assert_no_error(error);
	/* the certificate says web-1; the stream claims to be web-9 */
	stream_as(f, identity, ca, "shop", "web-9", &w, 3, &acked);
	g_assert_cmpuint(acked, ==, 0);
	g_assert_false(w.connected);
	log = hub_log(f);
	g_assert_nonnull(strstr(log, "the certificate is for shop/web-1 but the source claims to "
				     "be shop/web-9"));
	g_free(w.disconnect_reason);
}

static void
test_peer_address(Fixture *f, gconstpointer data)
{
	g_autofree gchar *token = make_token(SECRET, "shop", "web-3");
	g_autofree gchar *reply = NULL;
	g_autoptr(GError) error = NULL;
	guint status;

	/* the controller said where web-3 lives; the token comes from 127.0.0.1 */
	reply = api_request(f, "POST", "/v1/names",
			    "[{\"ip\":\"10.99.0.3\",\"name\":\"web-3.shop\"}]", &status);
	g_assert_cmpuint(status, ==, 200);
	error = try_join(f, token, f->fingerprint, "shop", "web-3", NULL, NULL);
	g_assert_error(error, PDS_JOIN_ERROR, PDS_JOIN_ERROR_REFUSED);
	g_assert_nonnull(strstr(error->message, "not that pod's address"));
}

/* A pinned TLS connection without a certificate that streams instead of joining. */
static void
test_no_certificate_no_data(Fixture *f, gconstpointer data)
{
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GSocketConnection) conn = NULL;
	g_autoptr(PdsTlsConn) tls = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) header = header_blocks("shop", "web-1");
	g_autoptr(PdsPcapngReader) reader = pds_pcapng_reader_new();
	g_autofree gchar *goodbye = NULL;
	gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	gsize off = 0;

	conn = g_socket_client_connect_to_host(client, "127.0.0.1", f->ingest_port, NULL, &error);
	g_assert_no_error(error);
	tls = pds_tls_conn_new_client_pinned(g_socket_connection_get_socket(conn), f->fingerprint,
					     "podscope-hub", &error);
	g_assert_no_error(error);
	while (!pds_tls_conn_handshake(tls, &error)) {
		g_assert_true(g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK));
		g_clear_error(&error);
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_usleep(2000);
	}
	while (off < g_bytes_get_size(header)) {
		gssize n = pds_tls_conn_write(tls,
					      (const guint8 *)g_bytes_get_data(header, NULL) + off,
					      g_bytes_get_size(header) - off, &error);
		if (n > 0) {
			off += n;
			continue;
		}
		g_clear_error(&error);
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_usleep(2000);
	}
	while (goodbye == NULL) {
		guint8 buf[4096];
		gssize n = pds_tls_conn_read(tls, buf, sizeof(buf), &error);
		PdsPcapngBlock block;

		if (n == 0)
			break;
		if (n < 0) {
			g_assert_true(g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK));
			g_clear_error(&error);
			g_assert_cmpint(g_get_monotonic_time(), <, deadline);
			g_usleep(2000);
			continue;
		}
		pds_pcapng_reader_feed(reader, buf, n);
		while (pds_pcapng_reader_next(reader, &block, &error)) {
			g_auto(PdsUplinkControl) control = {0};
			if (pds_uplink_parse_control(&block, &control, NULL) &&
			    control.kind == PDS_CONTROL_GOODBYE)
				goodbye = g_strdup(control.message);
		}
		g_assert_no_error(error);
	}
	g_assert_nonnull(goodbye);
	g_assert_nonnull(strstr(goodbye, "may only join"));
}

/* NRB records are NUL-separated binary: search the raw bytes. */
static gboolean
nrb_has(const PdsPcapngBlock *block, const char *name)
{
	gsize len = strlen(name);
	for (gsize i = 0; i + len <= block->nrb_records_len; i++) {
		if (memcmp(block->nrb_records + i, name, len) == 0)
			return TRUE;
	}
	return FALSE;
}

static void
test_names(Fixture *f, gconstpointer data)
{
	g_autofree gchar *reply = NULL;
	g_autofree gchar *url = NULL;
	g_autoptr(SoupSession) session = soup_session_new();
	g_autoptr(SoupMessage) msg = NULL;
	g_autoptr(GInputStream) stream = NULL;
	g_autoptr(PdsPcapngReader) reader = pds_pcapng_reader_new();
	g_autoptr(GError) error = NULL;
	gboolean seen_first = FALSE, seen_live = FALSE;
	gint64 deadline;
	guint status;

	/* validation and method */
	g_free(reply);
	reply = api_request(f, "POST", "/v1/names", "{\"ip\":\"10.0.0.1\"}", &status);
	g_assert_cmpuint(status, ==, 400);
	g_free(reply);
	reply = api_request(
		f, "POST", "/v1/names",
		"[{\"ip\":\"10.0.0.1\",\"name\":\"ok\"},{\"ip\":\"nope\",\"name\":\"x\"}]",
		&status);
	g_assert_cmpuint(status, ==, 400);
	g_assert_nonnull(strstr(reply, "entry 1"));
	g_free(reply);
	reply = api_request(f, "GET", "/v1/names", NULL, &status);
	g_assert_cmpuint(status, ==, 405);

	g_free(reply);
	reply = api_request(f, "POST", "/v1/names",
			    "[{\"ip\":\"10.244.0.5\",\"name\":\"web-1.shop\"},"
			    "{\"ip\":\"fd00::5\",\"name\":\"api.shop.svc\"}]",
			    &status);
	g_assert_cmpuint(status, ==, 200);
	g_assert_nonnull(strstr(reply, "\"added\":2"));

	/* a follower gets the known names, then new ones as they are posted */
	url = g_strdup_printf("http://127.0.0.1:%u/v1/capture.pcapng?follow=1", f->api_port);
	msg = soup_message_new("GET", url);
	soup_message_headers_replace(soup_message_get_request_headers(msg), "Authorization",
				     "Bearer " TOKEN);
	stream = soup_session_send(session, msg, NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(soup_message_get_status(msg), ==, 200);
	deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	while (!seen_live) {
		guint8 buf[4096];
		gssize n;
		PdsPcapngBlock block;

		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		n = g_input_stream_read(stream, buf, sizeof(buf), NULL, &error);
		g_assert_no_error(error);
		g_assert_cmpint(n, >, 0);
		pds_pcapng_reader_feed(reader, buf, n);
		while (pds_pcapng_reader_next(reader, &block, &error)) {
			if (block.type != PDS_PCAPNG_BT_NRB)
				continue;
			if (nrb_has(&block, "web-1.shop") && nrb_has(&block, "api.shop.svc"))
				seen_first = TRUE;
			if (nrb_has(&block, "db.shop"))
				seen_live = TRUE;
		}
		g_assert_no_error(error);
		if (seen_first && !seen_live) {
			g_autofree gchar *r = api_request(
				f, "POST", "/v1/names",
				"[{\"ip\":\"10.244.0.9\",\"name\":\"db.shop\"}]", &status);
			g_assert_cmpuint(status, ==, 200);
		}
	}
	g_assert_true(seen_first);
	g_input_stream_close(stream, NULL, NULL);
}

static gchar *
flow_string(const PdsPcapngBlock *block, guint16 want)
{
	PdsRecordHeader header;
	PdsRecordIter iter;
	guint16 code, len;
	const guint8 *value;

	if (!pds_record_iter_init(&iter, block->custom_data, block->custom_len, &header, NULL) ||
	    header.type != PDS_RECORD_FLOW)
		return NULL;
	while (pds_record_iter_next(&iter, &code, &value, &len, NULL)) {
		if (code == want)
			return pds_record_value_dup_string(value, len);
	}
	return NULL;
}

/* Flow records stored after the names are known carry them. */
static void
test_names_in_flows(Fixture *f, gconstpointer data)
{
	g_autofree gchar *token = make_token(SECRET, "shop", "web-1");
	g_autoptr(PdsTlsIdentity) identity = NULL;
	g_autoptr(PdsTlsIdentity) ca = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_autoptr(SoupSession) session = soup_session_new();
	g_autofree gchar *url = g_strdup_printf(
		"http://127.0.0.1:%u/v1/capture.pcapng?envelope=custom", f->api_port);
	g_autoptr(SoupMessage) msg = soup_message_new("GET", url);
	g_autoptr(GBytes) body = NULL;
	g_autoptr(PdsPcapngReader) reader = pds_pcapng_reader_new();
	PdsPcapngBlock block;
	UplinkWatch w = {0};
	guint64 acked = 0;
	guint status, n_flows = 0;

	/* joined before the names are known: the hub cannot check 127.0.0.1 against them */
	error = try_join(f, token, f->fingerprint, "shop", "web-1", &identity, &ca);
	g_assert_no_error(error);
	/* then what the controller would push: the pod's and the service's names */
	reply = api_request(f, "POST", "/v1/names",
			    "[{\"ip\":\"10.244.0.5\",\"name\":\"web-1.shop\"},"
			    "{\"ip\":\"10.96.0.10\",\"name\":\"api.shop.svc\"}]",
			    &status);
	g_assert_cmpuint(status, ==, 200);
	stream_as(f, identity, ca, "shop", "web-1", &w, 10, &acked);
	g_assert_cmpuint(acked, ==, 5);

	soup_message_headers_replace(soup_message_get_request_headers(msg), "Authorization",
				     "Bearer " TOKEN);
	body = soup_session_send_and_read(session, msg, NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(soup_message_get_status(msg), ==, 200);
	pds_pcapng_reader_feed(reader, g_bytes_get_data(body, NULL), g_bytes_get_size(body));
	while (pds_pcapng_reader_next(reader, &block, &error)) {
		g_autofree gchar *uri = NULL;
		g_autofree gchar *src = NULL;
		g_autofree gchar *dst = NULL;

		if (block.type != PDS_PCAPNG_BT_CUSTOM || block.pen != PDS_PEN)
			continue;
		uri = flow_string(&block, PDS_FLOW_HTTP_URI);
		if (uri == NULL)
			continue;
		src = flow_string(&block, PDS_FLOW_SRC_NAME);
		dst = flow_string(&block, PDS_FLOW_DST_NAME);
		n_flows++;
		g_assert_cmpstr(dst, ==, "api.shop.svc");
		if (g_strcmp0(uri, "/first") == 0)
			g_assert_cmpstr(src, ==, "web-1.shop");
		else
			g_assert_cmpstr(src, ==, "named-by-the-source");
	}
	g_assert_no_error(error);
	g_assert_cmpuint(n_flows, ==, 2);
	g_free(w.disconnect_reason);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add("/hub/join/valid", Fixture, NULL, fixture_setup, test_valid_join,
		   fixture_teardown);
	g_test_add("/hub/join/reused-token", Fixture, NULL, fixture_setup, test_reused_token,
		   fixture_teardown);
	g_test_add("/hub/join/token-of-another-pod", Fixture, NULL, fixture_setup, test_other_pod,
		   fixture_teardown);
	g_test_add("/hub/join/bad-hmac", Fixture, NULL, fixture_setup, test_bad_hmac,
		   fixture_teardown);
	g_test_add("/hub/join/wrong-ca-fingerprint", Fixture, NULL, fixture_setup, test_wrong_ca,
		   fixture_teardown);
	g_test_add("/hub/join/agent-refuses-wrong-ca", Fixture, NULL, fixture_setup,
		   test_agent_refuses_wrong_ca, fixture_teardown);
	g_test_add("/hub/join/identity-mismatch", Fixture, NULL, fixture_setup,
		   test_identity_mismatch, fixture_teardown);
	g_test_add("/hub/join/peer-address", Fixture, NULL, fixture_setup, test_peer_address,
		   fixture_teardown);
	g_test_add("/hub/join/no-certificate-no-data", Fixture, NULL, fixture_setup,
		   test_no_certificate_no_data, fixture_teardown);
	g_test_add("/hub/names/post", Fixture, NULL, fixture_setup, test_names, fixture_teardown);
	g_test_add("/hub/names/in-flow-records", Fixture, NULL, fixture_setup, test_names_in_flows,
		   fixture_teardown);
	return g_test_run();
}
