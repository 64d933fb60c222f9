/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Session CA, certificates, PEM files and mutual TLS 1.3 between two real
 * GnuTLS sessions over a Unix socket pair, both driven without blocking.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <gnutls/x509.h>
#include <string.h>
#include <sys/stat.h>

#include "pds-test-tls-pair.h"
#include "pds-tls.h"

typedef struct {
	PdsTlsIdentity *ca;
	PdsTlsIdentity *server;
	PdsTlsIdentity *client;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
	const char *hosts[] = {"podscope-hub", "127.0.0.1", "::1", NULL};
	g_autoptr(GError) error = NULL;

	f->ca = pds_tls_identity_new_ca("podscope test CA", &error);
	g_assert_no_error(error);
	f->server = pds_tls_identity_issue(f->ca, "podscope-hub", PDS_TLS_USAGE_SERVER, hosts, 0, 0,
					   &error);
	g_assert_no_error(error);
	f->client = pds_tls_identity_issue(f->ca, "agent-1", PDS_TLS_USAGE_CLIENT, NULL, 0, 3600,
					   &error);
	g_assert_no_error(error);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
	pds_tls_identity_free(f->ca);
	pds_tls_identity_free(f->server);
	pds_tls_identity_free(f->client);
}

static void
test_ca_issue(Fixture *f, gconstpointer data)
{
	gnutls_x509_crt_t ca_crt = pds_tls_identity_get_crt(f->ca);
	gnutls_x509_crt_t crt = pds_tls_identity_get_crt(f->server);
	g_autofree gchar *fp = pds_tls_identity_get_fingerprint(f->ca);
	g_autofree gchar *fp2 = pds_tls_identity_get_fingerprint(f->server);
	unsigned int critical = 0, key_usage = 0, verify = 0;
	char oid[128];
	size_t oid_size = sizeof(oid);
	guint8 serial_a[64], serial_b[64];
	size_t serial_a_size = sizeof(serial_a), serial_b_size = sizeof(serial_b);

	g_assert_cmpstr(pds_tls_identity_get_common_name(f->ca), ==, "podscope test CA");
	g_assert_cmpstr(pds_tls_identity_get_common_name(f->server), ==, "podscope-hub");
	g_assert_cmpstr(pds_tls_identity_get_common_name(f->client), ==, "agent-1");

	/* CA: basicConstraints CA, keyUsage certSign, ECDSA P-256 */
	g_assert_cmpint(gnutls_x509_crt_get_basic_constraints(ca_crt, &critical, NULL, NULL), ==,
			1);
	g_assert_cmpint(gnutls_x509_crt_get_key_usage(ca_crt, &key_usage, &critical), >=, 0);
	g_assert_true(key_usage & GNUTLS_KEY_KEY_CERT_SIGN);
	g_assert_cmpint(gnutls_x509_crt_get_pk_algorithm(ca_crt, NULL), ==, GNUTLS_PK_ECDSA);
	g_assert_cmpint(gnutls_x509_crt_get_basic_constraints(crt, &critical, NULL, NULL), ==, 0);

	/* leaf: extendedKeyUsage serverAuth, SAN DNS + IPs, signed by the CA */
	g_assert_cmpint(gnutls_x509_crt_get_key_purpose_oid(crt, 0, oid, &oid_size, NULL), >=, 0);
	g_assert_cmpstr(oid, ==, GNUTLS_KP_TLS_WWW_SERVER);
	g_assert_true(gnutls_x509_crt_check_hostname(crt, "podscope-hub"));
	g_assert_true(gnutls_x509_crt_check_hostname(crt, "127.0.0.1"));
	g_assert_true(gnutls_x509_crt_check_hostname(crt, "::1"));
	g_assert_false(gnutls_x509_crt_check_hostname(crt, "other-host"));
	g_assert_cmpint(gnutls_x509_crt_verify(crt, &ca_crt, 1, 0, &verify), >=, 0);
	g_assert_cmpuint(verify, ==, 0);

	oid_size = sizeof(oid);
	g_assert_cmpint(gnutls_x509_crt_get_key_purpose_oid(pds_tls_identity_get_crt(f->client), 0,
							    oid, &oid_size, NULL),
			>=, 0);
	g_assert_cmpstr(oid, ==, GNUTLS_KP_TLS_WWW_CLIENT);
	/* the client was issued for one hour */
	g_assert_cmpint(
		gnutls_x509_crt_get_expiration_time(pds_tls_identity_get_crt(f->client)) -
			gnutls_x509_crt_get_activation_time(pds_tls_identity_get_crt(f->client)),
		==, 3600);

	/* serials are random: two leaves differ */
	g_assert_cmpint(gnutls_x509_crt_get_serial(crt, serial_a, &serial_a_size), >=, 0);
	g_assert_cmpint(gnutls_x509_crt_get_serial(pds_tls_identity_get_crt(f->client), serial_b,
						   &serial_b_size),
			>=, 0);
	g_assert_false(serial_a_size == serial_b_size &&
		       memcmp(serial_a, serial_b, serial_a_size) == 0);

	/* fingerprint: "sha256:" + 64 lowercase hex digits */
	g_assert_true(g_str_has_prefix(fp, "sha256:"));
	g_assert_cmpuint(strlen(fp), ==, 7 + 64);
	for (const char *p = fp + 7; *p != '\0'; p++)
		g_assert_true(g_ascii_isxdigit(*p) && !g_ascii_isupper(*p));
	g_assert_cmpstr(fp, !=, fp2);
}

static void
test_pem_roundtrip(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = g_dir_make_tmp(NULL, &error);
	g_autofree gchar *crt_path = NULL;
	g_autofree gchar *key_path = NULL;
	g_autofree gchar *fp_a = NULL;
	g_autofree gchar *fp_b = NULL;
	g_autofree gchar *other_key = NULL;
	g_autofree gchar *cert_pem = NULL;
	g_autoptr(PdsTlsIdentity) loaded = NULL;
	g_autoptr(PdsTlsIdentity) bad = NULL;
	GStatBuf st;

	g_assert_no_error(error);
	g_assert_true(pds_tls_identity_save(f->client, dir, "agent", &error));
	g_assert_no_error(error);
	crt_path = g_build_filename(dir, "agent.crt", NULL);
	key_path = g_build_filename(dir, "agent.key", NULL);
	g_assert_cmpint(g_stat(key_path, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0600);
	g_assert_cmpint(g_stat(crt_path, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0644);

	/* overwrite keeps the modes */
	g_assert_true(pds_tls_identity_save(f->client, dir, "agent", &error));
	g_assert_no_error(error);
	g_assert_cmpint(g_stat(key_path, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0600);

	loaded = pds_tls_identity_new_from_files(crt_path, key_path, &error);
	g_assert_no_error(error);
	g_assert_nonnull(loaded);
	fp_a = pds_tls_identity_get_fingerprint(f->client);
	fp_b = pds_tls_identity_get_fingerprint(loaded);
	g_assert_cmpstr(fp_a, ==, fp_b);
	g_assert_cmpstr(pds_tls_identity_get_common_name(loaded), ==, "agent-1");

	/* a key of another certificate is refused */
	other_key = pds_tls_identity_get_key_pem(f->server);
	cert_pem = pds_tls_identity_get_cert_pem(f->client);
	bad = pds_tls_identity_new_from_pem(cert_pem, other_key, &error);
	g_assert_error(error, PDS_TLS_ERROR, PDS_TLS_ERROR_INVALID_PEM);
	g_assert_null(bad);
	g_clear_error(&error);

	bad = pds_tls_identity_new_from_pem("not a certificate", other_key, &error);
	g_assert_error(error, PDS_TLS_ERROR, PDS_TLS_ERROR_INVALID_PEM);
	g_assert_null(bad);
	g_clear_error(&error);

	bad = pds_tls_identity_new_from_files("/nonexistent/agent.crt", key_path, &error);
	g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
	g_assert_null(bad);
	g_clear_error(&error);

	g_assert_cmpint(g_unlink(crt_path), ==, 0);
	g_assert_cmpint(g_unlink(key_path), ==, 0);
	g_assert_cmpint(g_rmdir(dir), ==, 0);
}

/* ---- handshakes over a socket pair ---- */

static void
pair_open(PdsTestTlsPair *p,
	  PdsTlsIdentity *server_id,
	  PdsTlsIdentity *server_ca,
	  PdsTlsIdentity *client_id,
	  PdsTlsIdentity *client_ca,
	  const char *server_name)
{
	g_autoptr(GSocket) a = NULL;
	g_autoptr(GSocket) b = NULL;
	g_autoptr(GError) error = NULL;

	memset(p, 0, sizeof(*p));
	pds_test_tls_pair_sockets(&a, &b);
	p->server = pds_tls_conn_new_server(a, server_id, server_ca, &error);
	g_assert_no_error(error);
	p->client = pds_tls_conn_new_client(b, client_id, client_ca, server_name, &error);
	g_assert_no_error(error);
}

/* Reads on @conn until data, EOF or an error; returns bytes, 0, or -1. */
static gssize
conn_read_wait(PdsTlsConn *conn, guint8 *buf, gsize len, GError **error)
{
	gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

	for (;;) {
		g_autoptr(GError) local = NULL;
		gssize n = pds_tls_conn_read(conn, buf, len, &local);
		GPollFD pfd;

		if (n >= 0)
			return n;
		if (!g_error_matches(local, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
			g_propagate_error(error, g_steal_pointer(&local));
			return -1;
		}
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		pfd.fd = g_socket_get_fd(pds_tls_conn_get_socket(conn));
		pfd.events = pds_tls_conn_get_wait_condition(conn);
		g_poll(&pfd, 1, 100);
	}
}

static void test_trust_only(Fixture *f, gconstpointer data);

static void
test_mutual_handshake(Fixture *f, gconstpointer data)
{
	PdsTestTlsPair p;
	gsize total = 1024 * 1024 + 17, written = 0, got = 0;
	g_autofree guint8 *out = g_malloc(total);
	g_autofree guint8 *in = g_malloc(total);
	gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
	g_autoptr(GError) error = NULL;
	guint8 byte;

	for (gsize i = 0; i < total; i++)
		out[i] = (guint8)(i * 31 + (i >> 11));

	pair_open(&p, f->server, f->ca, f->client, f->ca, "podscope-hub");
	pds_test_tls_pair_handshake(&p);
	g_assert_no_error(p.server_error);
	g_assert_no_error(p.client_error);
	g_assert_cmpstr(pds_tls_conn_get_peer_name(p.server), ==, "agent-1");
	g_assert_cmpstr(pds_tls_conn_get_peer_name(p.client), ==, "podscope-hub");

	/* 1 MiB one way through a socket buffer much smaller than that: the
	 * writer must see WOULD_BLOCK and partial writes and lose nothing. */
	while (got < total) {
		GPollFD fds[2];
		guint n = 0;

		while (written < total) {
			g_autoptr(GError) werr = NULL;
			gssize w =
				pds_tls_conn_write(p.client, out + written, total - written, &werr);
			if (w < 0) {
				g_assert_error(werr, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
				fds[n].fd = g_socket_get_fd(pds_tls_conn_get_socket(p.client));
				fds[n].events = pds_tls_conn_get_wait_condition(p.client);
				n++;
				break;
			}
			g_assert_cmpint(w, >, 0);
			written += w;
		}
		for (;;) {
			g_autoptr(GError) rerr = NULL;
			gssize r = pds_tls_conn_read(p.server, in + got, total - got, &rerr);
			if (r < 0) {
				g_assert_error(rerr, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
				fds[n].fd = g_socket_get_fd(pds_tls_conn_get_socket(p.server));
				fds[n].events = pds_tls_conn_get_wait_condition(p.server);
				n++;
				break;
			}
			g_assert_cmpint(r, >, 0);
			got += r;
			if (got == total)
				break;
		}
		if (got < total)
			g_poll(fds, n, 100);
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
	}
	g_assert_cmpuint(written, ==, total);
	g_assert_true(memcmp(in, out, total) == 0);

	/* and back, then an orderly close reads as 0 */
	g_assert_cmpint(pds_tls_conn_write(p.server, (const guint8 *)"!", 1, &error), ==, 1);
	g_assert_no_error(error);
	g_assert_cmpint(conn_read_wait(p.client, &byte, 1, &error), ==, 1);
	g_assert_no_error(error);
	g_assert_cmpint(byte, ==, '!');
	pds_tls_conn_close(p.client);
	g_assert_cmpint(conn_read_wait(p.server, &byte, 1, &error), ==, 0);
	g_assert_no_error(error);
	pds_test_tls_pair_clear(&p);
}

static void
test_close_without_notify(Fixture *f, gconstpointer data)
{
	PdsTestTlsPair p;
	g_autoptr(GError) error = NULL;
	guint8 byte;

	pair_open(&p, f->server, f->ca, f->client, f->ca, "podscope-hub");
	pds_test_tls_pair_handshake(&p);
	g_assert_no_error(p.server_error);
	g_assert_no_error(p.client_error);
	/* a killed peer: the socket goes away with no close_notify */
	g_clear_pointer(&p.client, pds_tls_conn_free);
	g_assert_cmpint(conn_read_wait(p.server, &byte, 1, &error), ==, 0);
	g_assert_no_error(error);
	pds_test_tls_pair_clear(&p);
}

/* The server refuses: its error says why, and the client learns it was refused. */
static void
assert_server_refuses(PdsTestTlsPair *p, const char *why)
{
	g_autoptr(GError) error = NULL;
	guint8 byte;

	pds_test_tls_pair_handshake(p);
	g_assert_error(p->server_error, PDS_TLS_ERROR, PDS_TLS_ERROR_PEER_REFUSED);
	g_test_message("server: %s", p->server_error->message);
	g_assert_nonnull(strstr(p->server_error->message, why));
	/* In TLS 1.3 the client finishes before the server judges its
	 * certificate; then its first read carries the server's alert. */
	if (p->client_error == NULL) {
		g_assert_cmpint(conn_read_wait(p->client, &byte, 1, &error), ==, -1);
		g_assert_error(error, PDS_TLS_ERROR, PDS_TLS_ERROR_PEER_REFUSED);
		g_test_message("client: %s", error->message);
	} else {
		g_test_message("client: %s", p->client_error->message);
		g_assert_true(p->client_error->domain == PDS_TLS_ERROR);
	}
	pds_test_tls_pair_clear(p);
}

static void
test_refuse_missing(Fixture *f, gconstpointer data)
{
	PdsTestTlsPair p;

	pair_open(&p, f->server, f->ca, NULL, f->ca, "podscope-hub");
	assert_server_refuses(&p, "client certificate missing");
}

static void
test_refuse_other_ca(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PdsTlsIdentity) other_ca = pds_tls_identity_new_ca("other CA", &error);
	g_autoptr(PdsTlsIdentity) stranger = NULL;
	PdsTestTlsPair p;

	g_assert_no_error(error);
	stranger = pds_tls_identity_issue(other_ca, "agent-1", PDS_TLS_USAGE_CLIENT, NULL, 0, 0,
					  &error);
	g_assert_no_error(error);
	pair_open(&p, f->server, f->ca, stranger, f->ca, "podscope-hub");
	assert_server_refuses(&p, "not signed by the session CA");
}

static void
test_refuse_expired(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	g_autoptr(PdsTlsIdentity) expired = pds_tls_identity_issue(
		f->ca, "agent-1", PDS_TLS_USAGE_CLIENT, NULL, now - 7200, 60, &error);
	PdsTestTlsPair p;

	g_assert_no_error(error);
	pair_open(&p, f->server, f->ca, expired, f->ca, "podscope-hub");
	assert_server_refuses(&p, "client certificate expired");
}

static void
test_refuse_not_yet_valid(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	g_autoptr(PdsTlsIdentity) early = pds_tls_identity_issue(
		f->ca, "agent-1", PDS_TLS_USAGE_CLIENT, NULL, now + 86400, 3600, &error);
	PdsTestTlsPair p;

	g_assert_no_error(error);
	pair_open(&p, f->server, f->ca, early, f->ca, "podscope-hub");
	assert_server_refuses(&p, "client certificate is not yet valid");
}

static void
test_refuse_server_cert_as_client(Fixture *f, gconstpointer data)
{
	PdsTestTlsPair p;

	/* a server certificate of the right CA is still not a client certificate */
	pair_open(&p, f->server, f->ca, f->server, f->ca, "podscope-hub");
	assert_server_refuses(&p, "not issued for TLS client use");
}

static void
test_refuse_server_name(Fixture *f, gconstpointer data)
{
	PdsTestTlsPair p;

	pair_open(&p, f->server, f->ca, f->client, f->ca, "some-other-hub");
	pds_test_tls_pair_handshake(&p);
	g_assert_error(p.client_error, PDS_TLS_ERROR, PDS_TLS_ERROR_PEER_REFUSED);
	g_test_message("client: %s", p.client_error->message);
	g_assert_nonnull(strstr(p.client_error->message, "does not name 'some-other-hub'"));
	g_assert_nonnull(p.server_error);
	pds_test_tls_pair_clear(&p);

	/* the IP literal in the SAN works as a name */
	pair_open(&p, f->server, f->ca, f->client, f->ca, "127.0.0.1");
	pds_test_tls_pair_handshake(&p);
	g_assert_no_error(p.client_error);
	g_assert_no_error(p.server_error);
	pds_test_tls_pair_clear(&p);
}

static void
test_refuse_untrusted_server(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PdsTlsIdentity) other_ca = pds_tls_identity_new_ca("other CA", &error);
	PdsTestTlsPair p;

	g_assert_no_error(error);
	/* the client pins another CA: the real hub is refused */
	pair_open(&p, f->server, f->ca, f->client, other_ca, "podscope-hub");
	pds_test_tls_pair_handshake(&p);
	g_assert_error(p.client_error, PDS_TLS_ERROR, PDS_TLS_ERROR_PEER_REFUSED);
	g_assert_nonnull(strstr(p.client_error->message, "server certificate is not signed"));
	pds_test_tls_pair_clear(&p);
}

/* A source holds the CA certificate only (--ca CA.crt), not its key. */
static void
test_trust_only(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = g_dir_make_tmp(NULL, &error);
	g_autofree gchar *crt_path = NULL;
	g_autofree gchar *key_path = NULL;
	g_autofree gchar *fp_a = NULL;
	g_autofree gchar *fp_b = NULL;
	g_autoptr(PdsTlsIdentity) trust = NULL;
	g_autoptr(PdsTlsIdentity) leaf = NULL;
	PdsTestTlsPair p;

	g_assert_no_error(error);
	g_assert_true(pds_tls_identity_save(f->ca, dir, "ca", &error));
	g_assert_no_error(error);
	crt_path = g_build_filename(dir, "ca.crt", NULL);
	key_path = g_build_filename(dir, "ca.key", NULL);
	trust = pds_tls_identity_new_trust_from_file(crt_path, &error);
	g_assert_no_error(error);
	fp_a = pds_tls_identity_get_fingerprint(f->ca);
	fp_b = pds_tls_identity_get_fingerprint(trust);
	g_assert_cmpstr(fp_a, ==, fp_b);
	g_assert_null(pds_tls_identity_get_key(trust));
	g_assert_null(pds_tls_identity_get_key_pem(trust));

	/* without the key it cannot sign, be saved, or serve */
	leaf = pds_tls_identity_issue(trust, "x", PDS_TLS_USAGE_CLIENT, NULL, 0, 0, &error);
	g_assert_error(error, PDS_TLS_ERROR, PDS_TLS_ERROR_FAILED);
	g_assert_null(leaf);
	g_clear_error(&error);
	g_assert_false(pds_tls_identity_save(trust, dir, "again", &error));
	g_assert_error(error, PDS_TLS_ERROR, PDS_TLS_ERROR_FAILED);
	g_clear_error(&error);

	/* but it verifies the hub, and the hub verifies us against the real CA */
	pair_open(&p, f->server, f->ca, f->client, trust, "podscope-hub");
	pds_test_tls_pair_handshake(&p);
	g_assert_no_error(p.server_error);
	g_assert_no_error(p.client_error);
	pds_test_tls_pair_clear(&p);

	g_assert_null(pds_tls_identity_new_trust_from_file("/nonexistent/ca.crt", &error));
	g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
	g_clear_error(&error);
	g_assert_null(pds_tls_identity_new_trust_from_file(key_path, &error));
	g_assert_error(error, PDS_TLS_ERROR, PDS_TLS_ERROR_INVALID_PEM);

	g_assert_cmpint(g_unlink(crt_path), ==, 0);
	g_assert_cmpint(g_unlink(key_path), ==, 0);
	g_assert_cmpint(g_rmdir(dir), ==, 0);
}

/* Reads on @conn until WOULD_BLOCK, without waiting: what one wake-up gets. */
static gsize
conn_read_available(PdsTlsConn *conn, guint8 *buf, gsize len)
{
	gsize got = 0;

	while (got < len) {
		g_autoptr(GError) error = NULL;
		gssize n = pds_tls_conn_read(conn, buf + got, len - got, &error);

		if (n <= 0) {
			if (n < 0)
				g_assert_error(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
			return got;
		}
		got += (gsize)n;
	}
	return got;
}

/*
 * Buffered connections: 1 MiB through a small socket buffer, with flushes of
 * what the writer's buffer holds; then several records that all wait in the
 * socket must all come out of one read pass (bytes read ahead do not make the
 * socket readable again, so nothing may stay behind). GnuTLS stopping with
 * AGAIN after an OpenSSL peer's session ticket, with more read ahead, is
 * covered by tests/agent/test-agent-e2e.py, whose test hub is Python's ssl.
 */
static void
test_buffered(Fixture *f, gconstpointer data)
{
	PdsTestTlsPair p;
	gsize total = 1024 * 1024 + 17, written = 0, got = 0;
	g_autofree guint8 *out = g_malloc(total);
	g_autofree guint8 *in = g_malloc(total);
	gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
	gboolean flushed = FALSE;
	guint8 small[64];

	for (gsize i = 0; i < total; i++)
		out[i] = (guint8)(i * 37 + (i >> 9));
	pair_open(&p, f->server, f->ca, f->client, f->ca, "podscope-hub");
	pds_test_tls_pair_handshake(&p);
	g_assert_no_error(p.server_error);
	g_assert_no_error(p.client_error);
	pds_tls_conn_set_buffered(p.client);
	pds_tls_conn_set_buffered(p.server);

	while (got < total) {
		GPollFD fds[2];
		guint n = 0;
		g_autoptr(GError) werr = NULL;

		while (written < total) {
			gssize w =
				pds_tls_conn_write(p.client, out + written, total - written, &werr);
			if (w < 0)
				break;
			g_assert_cmpint(w, >, 0);
			written += w;
		}
		if (written == total && werr == NULL && !flushed)
			flushed = pds_tls_conn_flush(p.client, &werr);
		if (werr != NULL) {
			g_assert_error(werr, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
			fds[n].fd = g_socket_get_fd(pds_tls_conn_get_socket(p.client));
			fds[n].events = pds_tls_conn_get_wait_condition(p.client);
			g_assert_cmpint(fds[n].events & G_IO_OUT, !=, 0);
			n++;
		}
		got += conn_read_available(p.server, in + got, total - got);
		fds[n].fd = g_socket_get_fd(pds_tls_conn_get_socket(p.server));
		fds[n].events = G_IO_IN;
		n++;
		if (got < total)
			g_poll(fds, n, 100);
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
	}
	g_assert_true(flushed);
	g_assert_true(memcmp(in, out, total) == 0);

	/* three records, each written (and sent) on its own, read in one pass */
	for (guint i = 0; i < 3; i++) {
		g_autoptr(GError) error = NULL;
		g_assert_cmpint(pds_tls_conn_write(p.server, (const guint8 *)"abc" + i, 1, &error),
				==, 1);
		g_assert_no_error(error);
		g_assert_true(pds_tls_conn_flush(p.server, &error));
	}
	g_usleep(100 * 1000);
	g_assert_cmpuint(conn_read_available(p.client, small, sizeof(small)), ==, 3);
	g_assert_cmpmem(small, 3, "abc", 3);
	pds_test_tls_pair_clear(&p);
}

/*
 * pds_tls_conn_is_drained(): never while a record waits read ahead or inside
 * GnuTLS (a reader that went back to poll() then would stall: the socket is
 * not readable for those bytes), and once everything the socket had is read.
 */
static void
test_buffered_drained(Fixture *f, gconstpointer data)
{
	PdsTestTlsPair p;
	guint8 byte;
	g_autoptr(GError) error = NULL;

	pair_open(&p, f->server, f->ca, f->client, f->ca, "podscope-hub");
	pds_test_tls_pair_handshake(&p);
	g_assert_no_error(p.server_error);
	g_assert_no_error(p.client_error);
	/* not buffered: no read-ahead to know about */
	g_assert_false(pds_tls_conn_is_drained(p.client));
	pds_tls_conn_set_buffered(p.client);
	pds_tls_conn_set_buffered(p.server);

	for (guint i = 0; i < 3; i++) {
		g_assert_cmpint(pds_tls_conn_write(p.server, (const guint8 *)"xyz" + i, 1, &error),
				==, 1);
		g_assert_no_error(error);
		g_assert_true(pds_tls_conn_flush(p.server, &error));
		g_assert_no_error(error);
	}
	g_usleep(100 * 1000);
	for (guint i = 0; i < 3; i++) {
		g_assert_cmpint(pds_tls_conn_read(p.client, &byte, 1, &error), ==, 1);
		g_assert_no_error(error);
		g_assert_cmpint(byte, ==, "xyz"[i]);
		if (i < 2)
			g_assert_false(pds_tls_conn_is_drained(p.client));
	}
	g_assert_true(pds_tls_conn_is_drained(p.client));
	g_assert_cmpint(pds_tls_conn_read(p.client, &byte, 1, &error), ==, -1);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
	g_clear_error(&error);

	/* a record of two bytes read one at a time: the second waits in GnuTLS */
	g_assert_cmpint(pds_tls_conn_write(p.server, (const guint8 *)"uv", 2, &error), ==, 2);
	g_assert_true(pds_tls_conn_flush(p.server, &error));
	g_usleep(100 * 1000);
	g_assert_cmpint(pds_tls_conn_read(p.client, &byte, 1, &error), ==, 1);
	g_assert_false(pds_tls_conn_is_drained(p.client));
	g_assert_cmpint(pds_tls_conn_read(p.client, &byte, 1, &error), ==, 1);
	g_assert_cmpint(byte, ==, 'v');
	g_assert_true(pds_tls_conn_is_drained(p.client));
	g_assert_no_error(error);
	pds_test_tls_pair_clear(&p);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);

#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
	ADD("/tls/ca-issue", test_ca_issue);
	ADD("/tls/pem-roundtrip", test_pem_roundtrip);
	ADD("/tls/mutual-handshake", test_mutual_handshake);
	ADD("/tls/buffered", test_buffered);
	ADD("/tls/buffered-drained", test_buffered_drained);
	ADD("/tls/trust-only-ca", test_trust_only);
	ADD("/tls/close-without-notify", test_close_without_notify);
	ADD("/tls/refuse/missing-client-cert", test_refuse_missing);
	ADD("/tls/refuse/other-ca", test_refuse_other_ca);
	ADD("/tls/refuse/expired", test_refuse_expired);
	ADD("/tls/refuse/not-yet-valid", test_refuse_not_yet_valid);
	ADD("/tls/refuse/server-cert-as-client", test_refuse_server_cert_as_client);
	ADD("/tls/refuse/server-name", test_refuse_server_name);
	ADD("/tls/refuse/untrusted-server", test_refuse_untrusted_server);
#undef ADD
	return g_test_run();
}
