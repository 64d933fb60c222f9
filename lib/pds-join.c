/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Join tokens (HMAC-SHA256), certificate requests and their signing by the
 * session CA, and the source's side of the join exchange.
 */
#include "config.h"

#define G_LOG_DOMAIN "PdsJoin"

#include "pds-join.h"

#include <gnutls/crypto.h>
#include <string.h>

#include "pds-pcapng-reader.h"
#include "pds-pcapng-writer.h"
#include "pds-record-codec.h"

G_DEFINE_QUARK(pds_join_error_quark, pds_join_error)

#define PDS_JOIN_DEFAULT_TIMEOUT_SECS 15
#define PDS_JOIN_DEFAULT_LIFETIME     (24u * 3600u)
#define PDS_JOIN_BACKDATE_SECS	      3600
#define PDS_JOIN_MAC_LEN	      64 /* hex digits of SHA-256 */
#define PDS_JOIN_CN_PREFIX	      "agent:"

G_DEFINE_AUTO_CLEANUP_FREE_FUNC(gnutls_x509_crq_t, gnutls_x509_crq_deinit, NULL)
G_DEFINE_AUTO_CLEANUP_FREE_FUNC(gnutls_x509_privkey_t, gnutls_x509_privkey_deinit, NULL)
G_DEFINE_AUTO_CLEANUP_FREE_FUNC(gnutls_x509_crt_t, gnutls_x509_crt_deinit, NULL)

static gboolean
pds_join_check(int rc, const char *what, GError **error)
{
	if (rc >= 0)
		return TRUE;
	g_set_error(error, PDS_JOIN_ERROR, PDS_JOIN_ERROR_FAILED, "%s: %s", what,
		    gnutls_strerror(rc));
	return FALSE;
}

static gchar *
pds_join_hex(const guint8 *data, gsize len)
{
	static const char digits[] = "0123456789abcdef";
	gchar *out = g_malloc(len * 2 + 1);

	for (gsize i = 0; i < len; i++) {
		out[2 * i] = digits[data[i] >> 4];
		out[2 * i + 1] = digits[data[i] & 0xf];
	}
	out[len * 2] = '\0';
	return out;
}

static gboolean
pds_join_is_hex(const char *text, gsize len)
{
	if (strlen(text) != len)
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		if (!g_ascii_isxdigit(text[i]) || g_ascii_isupper(text[i]))
			return FALSE;
	}
	return TRUE;
}

/* Kubernetes names: namespaces are DNS labels, pods DNS subdomains. */
static gboolean
pds_join_is_name(const char *text)
{
	gsize len = strlen(text);

	if (len == 0 || len > 253)
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		char c = text[i];
		if (!(g_ascii_islower(c) || g_ascii_isdigit(c) || c == '-' || c == '.'))
			return FALSE;
	}
	return TRUE;
}

static gchar *
pds_join_mac(const guint8 *secret,
	     gsize secret_len,
	     const char *namespace_,
	     const char *pod,
	     const char *nonce,
	     GError **error)
{
	g_autofree gchar *message = g_strdup_printf("%s/%s/%s", namespace_, pod, nonce);
	guint8 digest[32];
	int rc;

	rc = gnutls_hmac_fast(GNUTLS_MAC_SHA256, secret, secret_len, message, strlen(message),
			      digest);
	if (!pds_join_check(rc, "cannot compute the join token HMAC", error))
		return NULL;
	return pds_join_hex(digest, sizeof(digest));
}

void
pds_join_token_free(PdsJoinToken *token)
{
	if (token == NULL)
		return;
	g_free(token->namespace_);
	g_free(token->pod);
	g_free(token->nonce);
	g_free(token->mac);
	g_free(token);
}

gchar *
pds_join_token_new(const guint8 *secret,
		   gsize secret_len,
		   const char *namespace_,
		   const char *pod,
		   GError **error)
{
	guint8 raw[PDS_JOIN_NONCE_LEN / 2];
	g_autofree gchar *nonce = NULL;
	g_autofree gchar *mac = NULL;
	int rc;

	g_return_val_if_fail(secret != NULL && secret_len > 0, NULL);
	g_return_val_if_fail(namespace_ != NULL && pod != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (!pds_join_is_name(namespace_) || !pds_join_is_name(pod)) {
		g_set_error(error, PDS_JOIN_ERROR, PDS_JOIN_ERROR_BAD_TOKEN,
			    "cannot make a join token for \"%s/%s\": not Kubernetes names",
			    namespace_, pod);
		return NULL;
	}
	rc = gnutls_rnd(GNUTLS_RND_NONCE, raw, sizeof(raw));
	if (!pds_join_check(rc, "cannot draw a join token nonce", error))
		return NULL;
	nonce = pds_join_hex(raw, sizeof(raw));
	mac = pds_join_mac(secret, secret_len, namespace_, pod, nonce, error);
	if (mac == NULL)
		return NULL;
	return g_strdup_printf("%s/%s/%s/%s", namespace_, pod, nonce, mac);
}

PdsJoinToken *
pds_join_token_parse(const char *text, GError **error)
{
	g_auto(GStrv) parts = NULL;
	PdsJoinToken *token;

	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (text == NULL || text[0] == '\0') {
		g_set_error_literal(error, PDS_JOIN_ERROR, PDS_JOIN_ERROR_BAD_TOKEN,
				    "the join token is empty");
		return NULL;
	}
	parts = g_strsplit(text, "/", 0);
	if (g_strv_length(parts) != 4 || !pds_join_is_name(parts[0]) ||
	    !pds_join_is_name(parts[1]) || !pds_join_is_hex(parts[2], PDS_JOIN_NONCE_LEN) ||
	    !pds_join_is_hex(parts[3], PDS_JOIN_MAC_LEN)) {
		g_set_error_literal(error, PDS_JOIN_ERROR, PDS_JOIN_ERROR_BAD_TOKEN,
				    "the join token is malformed (expected "
				    "namespace/pod/nonce/hmac)");
		return NULL;
	}
	token = g_new0(PdsJoinToken, 1);
	token->namespace_ = g_strdup(parts[0]);
	token->pod = g_strdup(parts[1]);
	token->nonce = g_strdup(parts[2]);
	token->mac = g_strdup(parts[3]);
	return token;
}

gboolean
pds_join_token_verify(const PdsJoinToken *token,
		      const guint8 *secret,
		      gsize secret_len,
		      GError **error)
{
	g_autofree gchar *expected = NULL;
	guint8 diff = 0;

	g_return_val_if_fail(token != NULL, FALSE);
	g_return_val_if_fail(secret != NULL && secret_len > 0, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	expected = pds_join_mac(secret, secret_len, token->namespace_, token->pod, token->nonce,
				error);
	if (expected == NULL)
		return FALSE;
	/* Both are 64 hex digits (checked by the parser): compare every byte, so
	 * the time taken says nothing about where they differ. */
	for (gsize i = 0; i < PDS_JOIN_MAC_LEN; i++)
		diff |= (guint8)(expected[i] ^ token->mac[i]);
	if (diff != 0) {
		g_set_error(error, PDS_JOIN_ERROR, PDS_JOIN_ERROR_BAD_TOKEN,
			    "the join token for %s/%s has a wrong signature (not made by this "
			    "session's controller)",
			    token->namespace_, token->pod);
		return FALSE;
	}
	return TRUE;
}

gchar *
pds_join_common_name(const char *namespace_, const char *pod)
{
	g_return_val_if_fail(namespace_ != NULL && pod != NULL, NULL);
	return g_strdup_printf(PDS_JOIN_CN_PREFIX "%s/%s", namespace_, pod);
}

gboolean
pds_join_parse_common_name(const char *common_name, gchar **namespace_, gchar **pod)
{
	const char *rest, *slash;

	if (common_name == NULL || !g_str_has_prefix(common_name, PDS_JOIN_CN_PREFIX))
		return FALSE;
	rest = common_name + strlen(PDS_JOIN_CN_PREFIX);
	slash = strchr(rest, '/');
	if (slash == NULL || slash == rest || slash[1] == '\0' || strchr(slash + 1, '/') != NULL)
		return FALSE;
	if (namespace_ != NULL)
		*namespace_ = g_strndup(rest, slash - rest);
	if (pod != NULL)
		*pod = g_strdup(slash + 1);
	return TRUE;
}

gchar *
pds_join_csr_new(const char *common_name, gchar **key_pem, GError **error)
{
	g_auto(gnutls_x509_privkey_t) key = NULL;
	g_auto(gnutls_x509_crq_t) crq = NULL;
	gnutls_datum_t out = {NULL, 0};
	gchar *pem;
	int rc;

	g_return_val_if_fail(common_name != NULL && *common_name != '\0', NULL);
	g_return_val_if_fail(key_pem != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	rc = gnutls_x509_privkey_init(&key);
	if (rc >= 0)
		rc = gnutls_x509_privkey_generate(
			key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
	if (!pds_join_check(rc, "cannot generate an ECDSA P-256 key", error))
		return NULL;
	rc = gnutls_x509_crq_init(&crq);
	if (rc >= 0)
		rc = gnutls_x509_crq_set_version(crq, 1);
	if (rc >= 0)
		rc = gnutls_x509_crq_set_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 0, common_name,
						   strlen(common_name));
	if (rc >= 0)
		rc = gnutls_x509_crq_set_key(crq, key);
	if (rc >= 0)
		rc = gnutls_x509_crq_set_key_purpose_oid(crq, GNUTLS_KP_TLS_WWW_CLIENT, 0);
	if (rc >= 0)
		rc = gnutls_x509_crq_sign2(crq, key, GNUTLS_DIG_SHA256, 0);
	if (!pds_join_check(rc, "cannot make the certificate request", error))
		return NULL;
	rc = gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_PEM, &out);
	if (!pds_join_check(rc, "cannot encode the certificate request", error))
		return NULL;
	pem = g_strndup((const char *)out.data, out.size);
	gnutls_free(out.data);

	rc = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN,
					       &out);
	if (rc < 0) {
		g_free(pem);
		pds_join_check(rc, "cannot encode the private key", error);
		return NULL;
	}
	*key_pem = g_strndup((const char *)out.data, out.size);
	memset(out.data, 0, out.size);
	gnutls_free(out.data);
	return pem;
}

gchar *
pds_join_sign_csr(PdsTlsIdentity *ca,
		  const char *csr_pem,
		  const char *common_name,
		  guint lifetime_secs,
		  GError **error)
{
	g_auto(gnutls_x509_crq_t) crq = NULL;
	g_auto(gnutls_x509_crt_t) crt = NULL;
	gnutls_x509_crt_t ca_crt;
	gnutls_x509_privkey_t ca_key;
	gnutls_datum_t datum;
	gnutls_datum_t out = {NULL, 0};
	char cn[256];
	size_t cn_size = sizeof(cn);
	guint8 serial[16];
	guint8 id[64];
	size_t id_size = sizeof(id);
	time_t now = (time_t)(g_get_real_time() / G_USEC_PER_SEC);
	gchar *pem;
	int rc;

	g_return_val_if_fail(ca != NULL, NULL);
	g_return_val_if_fail(csr_pem != NULL, NULL);
	g_return_val_if_fail(common_name != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	ca_crt = pds_tls_identity_get_crt(ca);
	ca_key = pds_tls_identity_get_key(ca);
	if (ca_key == NULL) {
		g_set_error_literal(error, PDS_JOIN_ERROR, PDS_JOIN_ERROR_FAILED,
				    "cannot sign certificate requests: the session CA key is not "
				    "loaded (start the hub with --ca-key)");
		return NULL;
	}
	if (lifetime_secs == 0)
		lifetime_secs = PDS_JOIN_DEFAULT_LIFETIME;

	rc = gnutls_x509_crq_init(&crq);
	if (!pds_join_check(rc, "cannot allocate a certificate request", error))
		return NULL;
	datum.data = (unsigned char *)csr_pem;
	datum.size = strlen(csr_pem);
	rc = gnutls_x509_crq_import(crq, &datum, GNUTLS_X509_FMT_PEM);
	if (rc < 0) {
		g_set_error(error, PDS_JOIN_ERROR, PDS_JOIN_ERROR_BAD_CSR,
			    "the certificate request is not PEM PKCS#10: %s", gnutls_strerror(rc));
		return NULL;
	}
	/* Proof that the requester holds the key it asks us to certify. */
	rc = gnutls_x509_crq_verify(crq, 0);
	if (rc < 0) {
		g_set_error(error, PDS_JOIN_ERROR, PDS_JOIN_ERROR_BAD_CSR,
			    "the certificate request's signature does not verify: %s",
			    gnutls_strerror(rc));
		return NULL;
	}
	rc = gnutls_x509_crq_get_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &cn_size);
	if (rc < 0 || cn_size != strlen(common_name) || memcmp(cn, common_name, cn_size) != 0) {
		g_set_error(error, PDS_JOIN_ERROR, PDS_JOIN_ERROR_MISMATCH,
			    "the certificate request asks for \"%.*s\", but the token allows only "
			    "\"%s\"",
			    rc < 0 ? 0 : (int)cn_size, cn, common_name);
		return NULL;
	}

	rc = gnutls_x509_crt_init(&crt);
	if (rc >= 0)
		rc = gnutls_x509_crt_set_crq(crt, crq);
	if (rc >= 0)
		rc = gnutls_x509_crt_set_version(crt, 3);
	if (!pds_join_check(rc, "cannot make a certificate from the request", error))
		return NULL;
	/* Random serials as for every certificate of the session CA. */
	rc = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial));
	serial[0] = (serial[0] & 0x7f) | 0x01;
	if (rc >= 0)
		rc = gnutls_x509_crt_set_serial(crt, serial, sizeof(serial));
	if (rc >= 0)
		rc = gnutls_x509_crt_set_activation_time(crt, now - PDS_JOIN_BACKDATE_SECS);
	if (rc >= 0)
		rc = gnutls_x509_crt_set_expiration_time(crt, now + lifetime_secs);
	if (rc >= 0)
		rc = gnutls_x509_crt_set_basic_constraints(crt, 0, -1);
	if (rc >= 0)
		rc = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE);
	if (rc >= 0)
		rc = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_CLIENT, 0);
	if (rc >= 0)
		rc = gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA1, id, &id_size);
	if (rc >= 0)
		rc = gnutls_x509_crt_set_subject_key_id(crt, id, id_size);
	if (!pds_join_check(rc, "cannot fill in the certificate", error))
		return NULL;
	id_size = sizeof(id);
	if (gnutls_x509_crt_get_subject_key_id(ca_crt, id, &id_size, NULL) >= 0) {
		rc = gnutls_x509_crt_set_authority_key_id(crt, id, id_size);
		if (!pds_join_check(rc, "cannot set the authority key id", error))
			return NULL;
	}
	rc = gnutls_x509_crt_sign2(crt, ca_crt, ca_key, GNUTLS_DIG_SHA256, 0);
	if (!pds_join_check(rc, "cannot sign the certificate with the session CA", error))
		return NULL;
	rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &out);
	if (!pds_join_check(rc, "cannot encode the certificate", error))
		return NULL;
	pem = g_strndup((const char *)out.data, out.size);
	gnutls_free(out.data);
	return pem;
}

/* ---- the source's side of the exchange ---- */

/* Waits for @cond on the socket until @deadline (monotonic µs). */
static gboolean
pds_join_wait(GSocket *socket, GIOCondition cond, gint64 deadline, const char *what, GError **error)
{
	gint64 left = deadline - g_get_monotonic_time();

	if (left <= 0 || !g_socket_condition_timed_wait(socket, cond, left, NULL, NULL)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
			    "the hub did not answer in time (%s)", what);
		return FALSE;
	}
	return TRUE;
}

static gboolean
pds_join_write_all(PdsTlsConn *tls, GByteArray *out, gint64 deadline, GError **error)
{
	gsize pos = 0;

	while (pos < out->len) {
		g_autoptr(GError) local = NULL;
		gssize n = pds_tls_conn_write(tls, out->data + pos, out->len - pos, &local);

		if (n > 0) {
			pos += n;
			continue;
		}
		if (!g_error_matches(local, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
			g_propagate_prefixed_error(error, g_steal_pointer(&local),
						   "cannot send the join request: ");
			return FALSE;
		}
		if (!pds_join_wait(pds_tls_conn_get_socket(tls),
				   pds_tls_conn_get_wait_condition(tls), deadline, "sending",
				   error))
			return FALSE;
	}
	return TRUE;
}

/* Reads until a JOINED (returns its certificate) or a GOODBYE (refused). */
static gchar *
pds_join_read_answer(PdsTlsConn *tls, gint64 deadline, GError **error)
{
	g_autoptr(PdsPcapngReader) reader = pds_pcapng_reader_new();
	guint8 buf[8192];

	for (;;) {
		g_autoptr(GError) local = NULL;
		gssize n = pds_tls_conn_read(tls, buf, sizeof(buf), &local);
		PdsPcapngBlock block;

		if (n == 0) {
			g_set_error_literal(error, PDS_JOIN_ERROR, PDS_JOIN_ERROR_REFUSED,
					    "the hub closed the connection without answering the "
					    "join request");
			return NULL;
		}
		if (n < 0) {
			if (!g_error_matches(local, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
				g_propagate_prefixed_error(error, g_steal_pointer(&local),
							   "no answer to the join request: ");
				return NULL;
			}
			if (!pds_join_wait(pds_tls_conn_get_socket(tls),
					   pds_tls_conn_get_wait_condition(tls), deadline,
					   "waiting for the certificate", error))
				return NULL;
			continue;
		}
		pds_pcapng_reader_feed(reader, buf, n);
		while (pds_pcapng_reader_next(reader, &block, &local)) {
			PdsRecordHeader header;
			PdsRecordIter iter;
			guint16 code, len;
			const guint8 *value;
			guint8 kind = 0;
			g_autofree gchar *cert = NULL;
			g_autofree gchar *message = NULL;

			if (block.type != PDS_PCAPNG_BT_CUSTOM || block.pen != PDS_PEN)
				continue;
			if (!pds_record_iter_init(&iter, block.custom_data, block.custom_len,
						  &header, &local))
				break;
			if (header.type != PDS_RECORD_CONTROL)
				continue;
			while (pds_record_iter_next(&iter, &code, &value, &len, &local)) {
				if (code == PDS_CONTROL_KIND)
					(void)pds_record_value_u8(value, len, &kind);
				else if (code == PDS_CONTROL_CERTIFICATE && cert == NULL)
					cert = pds_record_value_dup_string(value, len);
				else if (code == PDS_CONTROL_MESSAGE && message == NULL)
					message = pds_record_value_dup_string(value, len);
			}
			if (local != NULL)
				break;
			if (kind == PDS_CONTROL_JOINED && cert != NULL)
				return g_steal_pointer(&cert);
			if (kind == PDS_CONTROL_GOODBYE) {
				g_set_error(error, PDS_JOIN_ERROR, PDS_JOIN_ERROR_REFUSED,
					    "the hub refused the join: %s",
					    message != NULL ? message : "no reason given");
				return NULL;
			}
		}
		if (local != NULL) {
			g_propagate_prefixed_error(error, g_steal_pointer(&local),
						   "the hub's answer to the join is malformed: ");
			return NULL;
		}
	}
}

gboolean
pds_join_run(const PdsJoinRequest *request,
	     PdsTlsIdentity **identity,
	     PdsTlsIdentity **ca,
	     GError **error)
{
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GSocketConnection) connection = NULL;
	g_autoptr(PdsTlsConn) tls = NULL;
	g_autoptr(PdsTlsIdentity) pinned = NULL;
	g_autoptr(PdsTlsIdentity) issued = NULL;
	g_autoptr(PdsPcapngOptions) shb = pds_pcapng_options_new();
	g_autoptr(PdsRecordBuilder) builder = NULL;
	g_autoptr(GBytes) record = NULL;
	g_autoptr(GByteArray) out = g_byte_array_new();
	g_autofree gchar *cn = NULL;
	g_autofree gchar *csr = NULL;
	g_autofree gchar *key_pem = NULL;
	g_autofree gchar *cert_pem = NULL;
	g_autofree gchar *hub_label = NULL;
	guint timeout;
	gint64 deadline;

	g_return_val_if_fail(request != NULL, FALSE);
	g_return_val_if_fail(request->hub_host != NULL, FALSE);
	g_return_val_if_fail(request->token != NULL, FALSE);
	g_return_val_if_fail(request->ca_fingerprint != NULL, FALSE);
	g_return_val_if_fail(request->namespace_ != NULL && request->pod != NULL, FALSE);
	g_return_val_if_fail(identity != NULL && ca != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	timeout =
		request->timeout_secs != 0 ? request->timeout_secs : PDS_JOIN_DEFAULT_TIMEOUT_SECS;
	deadline = g_get_monotonic_time() + (gint64)timeout * G_USEC_PER_SEC;
	hub_label = g_strdup_printf("%s:%u", request->hub_host, request->hub_port);

	cn = pds_join_common_name(request->namespace_, request->pod);
	csr = pds_join_csr_new(cn, &key_pem, error);
	if (csr == NULL)
		return FALSE;

	g_socket_client_set_timeout(client, timeout);
	connection = g_socket_client_connect_to_host(client, request->hub_host, request->hub_port,
						     NULL, error);
	if (connection == NULL) {
		g_prefix_error(error, "cannot reach the hub %s to join: ", hub_label);
		return FALSE;
	}
	g_socket_set_timeout(g_socket_connection_get_socket(connection), 0);
	tls = pds_tls_conn_new_client_pinned(
		g_socket_connection_get_socket(connection), request->ca_fingerprint,
		request->server_name != NULL ? request->server_name : "podscope-hub", error);
	if (tls == NULL)
		return FALSE;
	for (;;) {
		g_autoptr(GError) local = NULL;

		if (pds_tls_conn_handshake(tls, &local))
			break;
		if (!g_error_matches(local, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
			g_propagate_prefixed_error(error, g_steal_pointer(&local),
						   "refusing the hub %s: ", hub_label);
			return FALSE;
		}
		if (!pds_join_wait(g_socket_connection_get_socket(connection),
				   pds_tls_conn_get_wait_condition(tls), deadline, "TLS handshake",
				   error))
			return FALSE;
	}
	pinned = pds_tls_conn_dup_pinned_ca(tls);
	if (pinned == NULL) {
		g_set_error(error, PDS_JOIN_ERROR, PDS_JOIN_ERROR_FAILED,
			    "the hub %s passed the pin check but its CA cannot be kept", hub_label);
		return FALSE;
	}

	/* The request travels as pcapng like everything on the ingest wire. */
	pds_pcapng_options_add_custom_kv(shb, "role", "agent");
	pds_pcapng_options_add_custom_kv(shb, "namespace", request->namespace_);
	pds_pcapng_options_add_custom_kv(shb, "pod", request->pod);
	pds_pcapng_write_shb(out, shb);
	builder = pds_record_builder_new(PDS_RECORD_CONTROL, 0, (guint64)g_get_real_time() * 1000u);
	pds_record_builder_add_u8(builder, PDS_CONTROL_KIND, PDS_CONTROL_JOIN);
	pds_record_builder_add_string(builder, PDS_CONTROL_MESSAGE, request->token);
	pds_record_builder_add_string(builder, PDS_CONTROL_CSR, csr);
	record = pds_record_builder_end(g_steal_pointer(&builder));
	pds_record_write_custom_block(out, record);
	if (!pds_join_write_all(tls, out, deadline, error))
		return FALSE;

	cert_pem = pds_join_read_answer(tls, deadline, error);
	pds_tls_conn_close(tls);
	if (cert_pem == NULL)
		return FALSE;
	issued = pds_tls_identity_new_from_pem(cert_pem, key_pem, error);
	memset(key_pem, 0, strlen(key_pem));
	if (issued == NULL) {
		g_prefix_error(error, "the certificate the hub issued is unusable: ");
		return FALSE;
	}
	if (g_strcmp0(pds_tls_identity_get_common_name(issued), cn) != 0) {
		g_set_error(error, PDS_JOIN_ERROR, PDS_JOIN_ERROR_FAILED,
			    "the hub issued a certificate for \"%s\" instead of \"%s\"",
			    pds_tls_identity_get_common_name(issued), cn);
		return FALSE;
	}
	{
		gnutls_x509_crt_t ca_crt = pds_tls_identity_get_crt(pinned);
		unsigned int verify = 0;
		if (gnutls_x509_crt_verify(pds_tls_identity_get_crt(issued), &ca_crt, 1, 0,
					   &verify) < 0 ||
		    verify != 0) {
			g_set_error_literal(error, PDS_JOIN_ERROR, PDS_JOIN_ERROR_FAILED,
					    "the certificate the hub issued is not signed by the "
					    "pinned session CA");
			return FALSE;
		}
	}
	g_message("joined the hub %s as \"%s\"", hub_label, cn);
	*identity = g_steal_pointer(&issued);
	*ca = g_steal_pointer(&pinned);
	return TRUE;
}
