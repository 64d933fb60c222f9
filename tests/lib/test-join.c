/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Join tokens, certificate requests signed by the session CA, and the TLS
 * modes join needs (a server that lets a certificate-less client in, a
 * client that pins the CA by fingerprint), between two real GnuTLS sessions.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <gnutls/x509.h>
#include <string.h>

#include "pds-join.h"
#include "pds-test-tls-pair.h"
#include "pds-tls.h"

#define SECRET "0123456789abcdef0123456789abcdef"

typedef struct {
	PdsTlsIdentity *ca;
	PdsTlsIdentity *server;
	PdsTlsIdentity *client;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
	const char *hosts[] = {"podscope-hub", NULL};
	g_autoptr(GError) error = NULL;

	f->ca = pds_tls_identity_new_ca("join test CA", &error);
	g_assert_no_error(error);
	f->server = pds_tls_identity_issue(f->ca, "podscope-hub", PDS_TLS_USAGE_SERVER, hosts, 0, 0,
					   &error);
	g_assert_no_error(error);
	f->client =
		pds_tls_identity_issue(f->ca, "agent-1", PDS_TLS_USAGE_CLIENT, NULL, 0, 0, &error);
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
test_token(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *text2 = NULL;
	g_autofree gchar *tampered = NULL;
	g_autoptr(PdsJoinToken) token = NULL;
	g_autoptr(PdsJoinToken) bad = NULL;
	g_autoptr(PdsJoinToken) other = NULL;
	g_auto(GStrv) parts = NULL;

	text = pds_join_token_new((const guint8 *)SECRET, strlen(SECRET), "shop", "web-7d9c",
				  &error);
	g_assert_no_error(error);
	parts = g_strsplit(text, "/", 0);
	g_assert_cmpuint(g_strv_length(parts), ==, 4);
	g_assert_cmpstr(parts[0], ==, "shop");
	g_assert_cmpstr(parts[1], ==, "web-7d9c");
	g_assert_cmpuint(strlen(parts[2]), ==, 16);
	g_assert_cmpuint(strlen(parts[3]), ==, 64);

	/* nonces differ from token to token */
	text2 = pds_join_token_new((const guint8 *)SECRET, strlen(SECRET), "shop", "web-7d9c",
				   &error);
	g_assert_no_error(error);
	g_assert_cmpstr(text, !=, text2);

	token = pds_join_token_parse(text, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(token->namespace_, ==, "shop");
	g_assert_cmpstr(token->pod, ==, "web-7d9c");
	g_assert_true(pds_join_token_verify(token, (const guint8 *)SECRET, strlen(SECRET), &error));
	g_assert_no_error(error);

	/* another secret */
	g_assert_false(pds_join_token_verify(
		token, (const guint8 *)"another-secret-of-32-bytes!!!!!", 31, &error));
	g_assert_error(error, PDS_JOIN_ERROR, PDS_JOIN_ERROR_BAD_TOKEN);
	g_clear_error(&error);

	/* the pod changed, the HMAC kept: refused */
	tampered = g_strdup_printf("shop/web-other/%s/%s", parts[2], parts[3]);
	other = pds_join_token_parse(tampered, &error);
	g_assert_no_error(error);
	g_assert_false(
		pds_join_token_verify(other, (const guint8 *)SECRET, strlen(SECRET), &error));
	g_assert_error(error, PDS_JOIN_ERROR, PDS_JOIN_ERROR_BAD_TOKEN);
	g_clear_error(&error);

	/* malformed shapes */
	const char *malformed[] = {
		"",
		"shop/web",
		"shop/web/0123456789abcdef",
		"Shop/web/0123456789abcdef/" SECRET SECRET,
		"shop/web/0123456789ABCDEF/" SECRET SECRET,
		"shop/web/0123/" SECRET SECRET,
		"shop/web/0123456789abcdef/" SECRET,
		"shop/web/x/0123456789abcdef/" SECRET SECRET,
	};
	for (guint i = 0; i < G_N_ELEMENTS(malformed); i++) {
		bad = pds_join_token_parse(malformed[i], &error);
		g_assert_null(bad);
		g_assert_error(error, PDS_JOIN_ERROR, PDS_JOIN_ERROR_BAD_TOKEN);
		g_clear_error(&error);
	}
	g_assert_null(
		pds_join_token_new((const guint8 *)SECRET, strlen(SECRET), "shop", "a/b", &error));
	g_assert_error(error, PDS_JOIN_ERROR, PDS_JOIN_ERROR_BAD_TOKEN);
}

static void
test_common_name(void)
{
	g_autofree gchar *cn = pds_join_common_name("shop", "web-1");
	g_autofree gchar *ns = NULL;
	g_autofree gchar *pod = NULL;

	g_assert_cmpstr(cn, ==, "agent:shop/web-1");
	g_assert_true(pds_join_parse_common_name(cn, &ns, &pod));
	g_assert_cmpstr(ns, ==, "shop");
	g_assert_cmpstr(pod, ==, "web-1");
	g_assert_false(pds_join_parse_common_name("podscope-agent-0", NULL, NULL));
	g_assert_false(pds_join_parse_common_name("agent:shop", NULL, NULL));
	g_assert_false(pds_join_parse_common_name("agent:/web", NULL, NULL));
	g_assert_false(pds_join_parse_common_name("agent:a/b/c", NULL, NULL));
}

static void
test_csr_sign(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *key_pem = NULL;
	g_autofree gchar *csr = pds_join_csr_new("agent:shop/web-1", &key_pem, &error);
	g_autofree gchar *cert = NULL;
	g_autofree gchar *ca_pem = NULL;
	g_autoptr(PdsTlsIdentity) issued = NULL;
	g_autoptr(PdsTlsIdentity) trust = NULL;
	gnutls_x509_crt_t ca_crt;
	unsigned int verify = 1;
	char oid[128];
	size_t oid_size = sizeof(oid);
	g_autofree gchar *tampered = NULL;
	gchar *mid;

	g_assert_no_error(error);
	g_assert_true(g_str_has_prefix(csr, "-----BEGIN NEW CERTIFICATE REQUEST-----"));
	cert = pds_join_sign_csr(f->ca, csr, "agent:shop/web-1", 0, &error);
	g_assert_no_error(error);
	issued = pds_tls_identity_new_from_pem(cert, key_pem, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(pds_tls_identity_get_common_name(issued), ==, "agent:shop/web-1");
	ca_crt = pds_tls_identity_get_crt(f->ca);
	g_assert_cmpint(
		gnutls_x509_crt_verify(pds_tls_identity_get_crt(issued), &ca_crt, 1, 0, &verify),
		>=, 0);
	g_assert_cmpuint(verify, ==, 0);
	g_assert_cmpint(gnutls_x509_crt_get_key_purpose_oid(pds_tls_identity_get_crt(issued), 0,
							    oid, &oid_size, NULL),
			>=, 0);
	g_assert_cmpstr(oid, ==, GNUTLS_KP_TLS_WWW_CLIENT);
	g_assert_cmpint(gnutls_x509_crt_get_basic_constraints(pds_tls_identity_get_crt(issued),
							      NULL, NULL, NULL),
			==, 0);

	/* the request asks for another pod than the token allows */
	g_assert_null(pds_join_sign_csr(f->ca, csr, "agent:shop/web-2", 0, &error));
	g_assert_error(error, PDS_JOIN_ERROR, PDS_JOIN_ERROR_MISMATCH);
	g_clear_error(&error);

	/* garbage and a broken signature */
	g_assert_null(pds_join_sign_csr(f->ca, "not a request", "agent:shop/web-1", 0, &error));
	g_assert_error(error, PDS_JOIN_ERROR, PDS_JOIN_ERROR_BAD_CSR);
	g_clear_error(&error);
	tampered = g_strdup(csr);
	mid = tampered + strlen(tampered) - 80; /* inside the signature's base64 */
	*mid = *mid == 'A' ? 'B' : 'A';
	g_assert_null(pds_join_sign_csr(f->ca, tampered, "agent:shop/web-1", 0, &error));
	g_assert_error(error, PDS_JOIN_ERROR, PDS_JOIN_ERROR_BAD_CSR);
	g_clear_error(&error);

	/* a CA without its key signs nothing */
	ca_pem = pds_tls_identity_get_cert_pem(f->ca);
	{
		g_autofree gchar *dir = g_dir_make_tmp(NULL, &error);
		g_autofree gchar *path = g_build_filename(dir, "ca.crt", NULL);
		g_assert_no_error(error);
		g_assert_true(g_file_set_contents(path, ca_pem, -1, NULL));
		trust = pds_tls_identity_new_trust_from_file(path, &error);
		g_assert_no_error(error);
		g_unlink(path);
		g_rmdir(dir);
	}
	g_assert_null(pds_join_sign_csr(trust, csr, "agent:shop/web-1", 0, &error));
	g_assert_error(error, PDS_JOIN_ERROR, PDS_JOIN_ERROR_FAILED);
}

/* ---- TLS modes ---- */

static void
test_pinned_without_certificate(Fixture *f, gconstpointer data)
{
	g_autoptr(GSocket) a = NULL;
	g_autoptr(GSocket) b = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *fp = pds_tls_identity_get_fingerprint(f->ca);
	g_autoptr(PdsTlsIdentity) pinned = NULL;
	g_autofree gchar *pinned_fp = NULL;
	PdsTestTlsPair p = {0};

	pds_test_tls_pair_sockets(&a, &b);
	p.server = pds_tls_conn_new_server_optional(a, f->server, f->ca, &error);
	g_assert_no_error(error);
	p.client = pds_tls_conn_new_client_pinned(b, fp, "podscope-hub", &error);
	g_assert_no_error(error);
	pds_test_tls_pair_handshake(&p);
	g_assert_no_error(p.server_error);
	g_assert_no_error(p.client_error);
	/* in, but known to be without a certificate */
	g_assert_false(pds_tls_conn_get_peer_verified(p.server));
	g_assert_null(pds_tls_conn_get_peer_name(p.server));
	g_assert_true(pds_tls_conn_get_peer_verified(p.client));
	g_assert_cmpstr(pds_tls_conn_get_peer_name(p.client), ==, "podscope-hub");
	pinned = pds_tls_conn_dup_pinned_ca(p.client);
	g_assert_nonnull(pinned);
	pinned_fp = pds_tls_identity_get_fingerprint(pinned);
	g_assert_cmpstr(pinned_fp, ==, fp);
	pds_test_tls_pair_clear(&p);
}

static void
test_optional_with_certificate(Fixture *f, gconstpointer data)
{
	g_autoptr(GSocket) a = NULL;
	g_autoptr(GSocket) b = NULL;
	g_autoptr(GError) error = NULL;
	PdsTestTlsPair p = {0};

	pds_test_tls_pair_sockets(&a, &b);
	p.server = pds_tls_conn_new_server_optional(a, f->server, f->ca, &error);
	g_assert_no_error(error);
	p.client = pds_tls_conn_new_client(b, f->client, f->ca, "podscope-hub", &error);
	g_assert_no_error(error);
	pds_test_tls_pair_handshake(&p);
	g_assert_no_error(p.server_error);
	g_assert_no_error(p.client_error);
	g_assert_true(pds_tls_conn_get_peer_verified(p.server));
	g_assert_cmpstr(pds_tls_conn_get_peer_name(p.server), ==, "agent-1");
	pds_test_tls_pair_clear(&p);
}

static void
test_optional_wrong_ca(Fixture *f, gconstpointer data)
{
	g_autoptr(GSocket) a = NULL;
	g_autoptr(GSocket) b = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(PdsTlsIdentity) other_ca = pds_tls_identity_new_ca("other CA", &error);
	g_autoptr(PdsTlsIdentity) stranger = NULL;
	PdsTestTlsPair p = {0};

	g_assert_no_error(error);
	stranger = pds_tls_identity_issue(other_ca, "agent-x", PDS_TLS_USAGE_CLIENT, NULL, 0, 0,
					  &error);
	g_assert_no_error(error);
	pds_test_tls_pair_sockets(&a, &b);
	/* a presented certificate must still chain to the CA: optional is not "anything" */
	p.server = pds_tls_conn_new_server_optional(a, f->server, f->ca, &error);
	g_assert_no_error(error);
	p.client = pds_tls_conn_new_client(b, stranger, f->ca, "podscope-hub", &error);
	g_assert_no_error(error);
	pds_test_tls_pair_handshake(&p);
	/* (TLS 1.3: the client only learns of it when it next reads) */
	g_assert_error(p.server_error, PDS_TLS_ERROR, PDS_TLS_ERROR_PEER_REFUSED);
	pds_test_tls_pair_clear(&p);
}

/* The hub's identity against a client that pins @fingerprint, both handshakes run. */
static void
pinned_handshake(Fixture *f,
		 PdsTestTlsPair *p,
		 gboolean optional_client_cert,
		 const char *fingerprint,
		 const char *server_name)
{
	g_autoptr(GSocket) a = NULL;
	g_autoptr(GSocket) b = NULL;
	g_autoptr(GError) error = NULL;

	pds_test_tls_pair_sockets(&a, &b);
	p->server = optional_client_cert
			    ? pds_tls_conn_new_server_optional(a, f->server, f->ca, &error)
			    : pds_tls_conn_new_server(a, f->server, f->ca, &error);
	g_assert_no_error(error);
	p->client = pds_tls_conn_new_client_pinned(b, fingerprint, server_name, &error);
	g_assert_no_error(error);
	pds_test_tls_pair_handshake(p);
}

static void
test_pinned_wrong_fingerprint(Fixture *f, gconstpointer data)
{
	g_autoptr(GSocket) a = NULL;
	g_autoptr(GSocket) b = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(PdsTlsIdentity) other_ca = pds_tls_identity_new_ca("other CA", &error);
	g_autofree gchar *other_fp = pds_tls_identity_get_fingerprint(other_ca);
	g_autofree gchar *leaf_fp = pds_tls_identity_get_fingerprint(f->server);
	g_autofree gchar *ca_fp = pds_tls_identity_get_fingerprint(f->ca);
	PdsTestTlsPair p = {0};

	/* a hub of another CA */
	pinned_handshake(f, &p, TRUE, other_fp, "podscope-hub");
	g_assert_error(p.client_error, PDS_TLS_ERROR, PDS_TLS_ERROR_PEER_REFUSED);
	g_assert_nonnull(strstr(p.client_error->message, "pinned session CA"));
	g_assert_nonnull(p.server_error);
	pds_test_tls_pair_clear(&p);

	/* pinning the hub's own leaf: not a CA */
	pinned_handshake(f, &p, TRUE, leaf_fp, "podscope-hub");
	g_assert_error(p.client_error, PDS_TLS_ERROR, PDS_TLS_ERROR_PEER_REFUSED);
	pds_test_tls_pair_clear(&p);

	/* the right CA but a wrong server name */
	pinned_handshake(f, &p, TRUE, ca_fp, "not-the-hub");
	g_assert_error(p.client_error, PDS_TLS_ERROR, PDS_TLS_ERROR_PEER_REFUSED);
	pds_test_tls_pair_clear(&p);

	/* a plain server (no CA in its chain) cannot satisfy a pin */
	pinned_handshake(f, &p, FALSE, ca_fp, "podscope-hub");
	g_assert_nonnull(p.client_error);
	pds_test_tls_pair_clear(&p);

	/* a malformed pin is refused before any connection */
	pds_test_tls_pair_sockets(&a, &b);
	g_assert_null(pds_tls_conn_new_client_pinned(b, "md5:1234", "podscope-hub", &error));
	g_assert_error(error, PDS_TLS_ERROR, PDS_TLS_ERROR_FAILED);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/join/token", test_token);
	g_test_add_func("/join/common-name", test_common_name);
	g_test_add("/join/csr-sign", Fixture, NULL, fixture_setup, test_csr_sign, fixture_teardown);
	g_test_add("/join/tls/pinned-without-certificate", Fixture, NULL, fixture_setup,
		   test_pinned_without_certificate, fixture_teardown);
	g_test_add("/join/tls/optional-with-certificate", Fixture, NULL, fixture_setup,
		   test_optional_with_certificate, fixture_teardown);
	g_test_add("/join/tls/optional-wrong-ca", Fixture, NULL, fixture_setup,
		   test_optional_wrong_ca, fixture_teardown);
	g_test_add("/join/tls/pinned-wrong-fingerprint", Fixture, NULL, fixture_setup,
		   test_pinned_wrong_fingerprint, fixture_teardown);
	return g_test_run();
}
