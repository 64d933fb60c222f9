/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Session credentials and mutual-TLS sessions on GnuTLS. Every GnuTLS code is
 * turned into a GError here, at the call site, so callers only see GError.
 */
#include "config.h"

#define G_LOG_DOMAIN "PdsTls"

#include "pds-tls.h"

#include <errno.h>
#include <gnutls/crypto.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

G_DEFINE_QUARK(pds_tls_error_quark, pds_tls_error)

/*
 * TLS 1.3 only: the session CA is new, so no peer needs anything older.
 * AES-128-GCM first: every captured byte is encrypted once by its source and
 * decrypted once by the hub, and on this machine's CPU it encrypts 16 KiB
 * records at 3.2-3.5 GB/s against 2.6-3.3 GB/s for AES-256-GCM (GnuTLS
 * 3.7.9, one core); both stay allowed.
 */
#define PDS_TLS_PRIORITY                                                                           \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305"

/* A CA outlives every session it serves; leaves default to one year. */
#define PDS_TLS_CA_LIFETIME_SECS   (10u * 365u * 24u * 3600u)
#define PDS_TLS_LEAF_LIFETIME_SECS (365u * 24u * 3600u)
/* Back-date certificates a little so peers with slightly late clocks accept them. */
#define PDS_TLS_BACKDATE_SECS 3600

/* Seconds beyond 9999-12-31 can only be g_get_real_time() microseconds. */
#define PDS_TLS_MAX_SECONDS G_GINT64_CONSTANT(253402300799)

struct _PdsTlsIdentity {
	gnutls_x509_crt_t crt;
	gnutls_x509_privkey_t key;
	gchar *common_name;
};

G_DEFINE_AUTO_CLEANUP_FREE_FUNC(gnutls_x509_crt_t, gnutls_x509_crt_deinit, NULL)
G_DEFINE_AUTO_CLEANUP_FREE_FUNC(gnutls_x509_privkey_t, gnutls_x509_privkey_deinit, NULL)

static gboolean
pds_tls_check(int rc, const char *what, GError **error)
{
	if (rc >= 0)
		return TRUE;
	g_set_error(error, PDS_TLS_ERROR, PDS_TLS_ERROR_FAILED, "%s: %s", what,
		    gnutls_strerror(rc));
	return FALSE;
}

static gchar *
pds_tls_crt_dup_common_name(gnutls_x509_crt_t crt)
{
	char buf[256];
	size_t size = sizeof(buf);

	if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf, &size) < 0)
		return g_strdup("");
	return g_strndup(buf, size);
}

static PdsTlsIdentity *
pds_tls_identity_new_take(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key)
{
	PdsTlsIdentity *identity = g_new0(PdsTlsIdentity, 1);

	identity->crt = crt;
	identity->key = key;
	identity->common_name = pds_tls_crt_dup_common_name(crt);
	return identity;
}

/*
 * GnuTLS parses some extensions (subjectAltName among them) only when a
 * certificate is imported, so a certificate just signed in memory answers
 * "not available" to their getters. A DER round trip gives the same
 * certificate in the state every later reader expects.
 */
static PdsTlsIdentity *
pds_tls_identity_new_signed(gnutls_x509_crt_t signed_crt, gnutls_x509_privkey_t key, GError **error)
{
	g_auto(gnutls_x509_crt_t) crt = NULL;
	gnutls_datum_t der = {NULL, 0};
	int rc;

	rc = gnutls_x509_crt_export2(signed_crt, GNUTLS_X509_FMT_DER, &der);
	if (!pds_tls_check(rc, "cannot encode the new certificate", error))
		return NULL;
	rc = gnutls_x509_crt_init(&crt);
	if (rc >= 0)
		rc = gnutls_x509_crt_import(crt, &der, GNUTLS_X509_FMT_DER);
	gnutls_free(der.data);
	if (!pds_tls_check(rc, "cannot parse the new certificate", error))
		return NULL;
	gnutls_x509_crt_deinit(signed_crt);
	return pds_tls_identity_new_take(g_steal_pointer(&crt), key);
}

void
pds_tls_identity_free(PdsTlsIdentity *identity)
{
	if (identity == NULL)
		return;
	if (identity->crt != NULL)
		gnutls_x509_crt_deinit(identity->crt);
	if (identity->key != NULL)
		gnutls_x509_privkey_deinit(identity->key);
	g_free(identity->common_name);
	g_free(identity);
}

static gnutls_x509_privkey_t
pds_tls_generate_key(GError **error)
{
	gnutls_x509_privkey_t key = NULL;
	int rc;

	rc = gnutls_x509_privkey_init(&key);
	if (!pds_tls_check(rc, "cannot allocate a private key", error))
		return NULL;
	rc = gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
					  GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
	if (!pds_tls_check(rc, "cannot generate an ECDSA P-256 key", error)) {
		gnutls_x509_privkey_deinit(key);
		return NULL;
	}
	return key;
}

/* Fields every certificate we make shares: version, subject, key, serial, validity. */
static gboolean
pds_tls_crt_setup(gnutls_x509_crt_t crt,
		  gnutls_x509_privkey_t key,
		  const char *common_name,
		  gint64 not_before,
		  guint lifetime_secs,
		  GError **error)
{
	guint8 serial[16];
	int rc;

	rc = gnutls_x509_crt_set_version(crt, 3);
	if (!pds_tls_check(rc, "cannot set the certificate version", error))
		return FALSE;
	rc = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, common_name,
					   strlen(common_name));
	if (!pds_tls_check(rc, "cannot set the certificate common name", error))
		return FALSE;
	rc = gnutls_x509_crt_set_key(crt, key);
	if (!pds_tls_check(rc, "cannot set the certificate key", error))
		return FALSE;

	/* Random serials: two certificates of one CA must never share one. The top
	 * bit is cleared so the DER integer stays positive, and the first byte is
	 * kept non-zero so the encoding keeps its full length. */
	rc = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial));
	if (!pds_tls_check(rc, "cannot draw a random serial number", error))
		return FALSE;
	serial[0] = (serial[0] & 0x7f) | 0x01;
	rc = gnutls_x509_crt_set_serial(crt, serial, sizeof(serial));
	if (!pds_tls_check(rc, "cannot set the certificate serial number", error))
		return FALSE;

	rc = gnutls_x509_crt_set_activation_time(crt, (time_t)not_before);
	if (!pds_tls_check(rc, "cannot set the certificate activation time", error))
		return FALSE;
	rc = gnutls_x509_crt_set_expiration_time(crt, (time_t)(not_before + lifetime_secs));
	if (!pds_tls_check(rc, "cannot set the certificate expiration time", error))
		return FALSE;
	return TRUE;
}

static gboolean
pds_tls_crt_set_subject_key_id(gnutls_x509_crt_t crt, GError **error)
{
	guint8 id[64];
	size_t size = sizeof(id);
	int rc;

	rc = gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA1, id, &size);
	if (!pds_tls_check(rc, "cannot compute the certificate key id", error))
		return FALSE;
	rc = gnutls_x509_crt_set_subject_key_id(crt, id, size);
	return pds_tls_check(rc, "cannot set the subject key id", error);
}

PdsTlsIdentity *
pds_tls_identity_new_ca(const char *common_name, GError **error)
{
	g_auto(gnutls_x509_crt_t) crt = NULL;
	g_auto(gnutls_x509_privkey_t) key = NULL;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	PdsTlsIdentity *identity;
	int rc;

	g_return_val_if_fail(common_name != NULL && *common_name != '\0', NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	key = pds_tls_generate_key(error);
	if (key == NULL) {
		g_prefix_error(error, "cannot create the session CA: ");
		return NULL;
	}
	rc = gnutls_x509_crt_init(&crt);
	if (!pds_tls_check(rc, "cannot create the session CA certificate", error))
		return NULL;
	if (!pds_tls_crt_setup(crt, key, common_name, now - PDS_TLS_BACKDATE_SECS,
			       PDS_TLS_CA_LIFETIME_SECS, error)) {
		g_prefix_error(error, "cannot create the session CA: ");
		return NULL;
	}
	rc = gnutls_x509_crt_set_basic_constraints(crt, 1, -1);
	if (!pds_tls_check(rc, "cannot mark the session CA as a CA", error))
		return NULL;
	rc = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN |
							GNUTLS_KEY_DIGITAL_SIGNATURE);
	if (!pds_tls_check(rc, "cannot set the session CA key usage", error))
		return NULL;
	if (!pds_tls_crt_set_subject_key_id(crt, error))
		return NULL;
	rc = gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0);
	if (!pds_tls_check(rc, "cannot self-sign the session CA", error))
		return NULL;
	identity = pds_tls_identity_new_signed(crt, key, error);
	if (identity == NULL)
		return NULL;
	crt = NULL;
	key = NULL;
	return identity;
}

static gboolean
pds_tls_crt_add_host(gnutls_x509_crt_t crt, const char *host, GError **error)
{
	g_autoptr(GInetAddress) addr = g_inet_address_new_from_string(host);
	int rc;

	if (addr != NULL) {
		rc = gnutls_x509_crt_set_subject_alt_name(
			crt, GNUTLS_SAN_IPADDRESS, g_inet_address_to_bytes(addr),
			g_inet_address_get_native_size(addr), GNUTLS_FSAN_APPEND);
	} else {
		rc = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, host,
							  strlen(host), GNUTLS_FSAN_APPEND);
	}
	if (rc < 0) {
		g_set_error(error, PDS_TLS_ERROR, PDS_TLS_ERROR_FAILED,
			    "cannot add subjectAltName '%s': %s", host, gnutls_strerror(rc));
		return FALSE;
	}
	return TRUE;
}

PdsTlsIdentity *
pds_tls_identity_issue(PdsTlsIdentity *ca,
		       const char *common_name,
		       PdsTlsUsage usage,
		       const char *const *hosts,
		       gint64 not_before,
		       guint lifetime_secs,
		       GError **error)
{
	g_auto(gnutls_x509_crt_t) crt = NULL;
	g_auto(gnutls_x509_privkey_t) key = NULL;
	guint8 ca_id[64];
	size_t ca_id_size = sizeof(ca_id);
	PdsTlsIdentity *identity;
	int rc;

	g_return_val_if_fail(ca != NULL, NULL);
	g_return_val_if_fail(common_name != NULL && *common_name != '\0', NULL);
	g_return_val_if_fail(usage == PDS_TLS_USAGE_SERVER || usage == PDS_TLS_USAGE_CLIENT, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (ca->key == NULL) {
		g_set_error(error, PDS_TLS_ERROR, PDS_TLS_ERROR_FAILED,
			    "cannot issue a certificate for '%s': the key of CA '%s' is not loaded",
			    common_name, ca->common_name);
		return NULL;
	}

	/* not_before: seconds since the epoch, 0 = now (back-dated an hour for
	 * clock skew); microseconds from g_get_real_time() are accepted too. */
	if (not_before == 0)
		not_before = g_get_real_time() / G_USEC_PER_SEC - PDS_TLS_BACKDATE_SECS;
	else if (not_before > PDS_TLS_MAX_SECONDS)
		not_before /= G_USEC_PER_SEC;
	if (lifetime_secs == 0)
		lifetime_secs = PDS_TLS_LEAF_LIFETIME_SECS;

	key = pds_tls_generate_key(error);
	if (key == NULL) {
		g_prefix_error(error, "cannot issue a certificate for '%s': ", common_name);
		return NULL;
	}
	rc = gnutls_x509_crt_init(&crt);
	if (!pds_tls_check(rc, "cannot allocate a certificate", error))
		return NULL;
	if (!pds_tls_crt_setup(crt, key, common_name, not_before, lifetime_secs, error)) {
		g_prefix_error(error, "cannot issue a certificate for '%s': ", common_name);
		return NULL;
	}
	rc = gnutls_x509_crt_set_basic_constraints(crt, 0, -1);
	if (!pds_tls_check(rc, "cannot set basic constraints", error))
		return NULL;
	rc = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE);
	if (!pds_tls_check(rc, "cannot set the key usage", error))
		return NULL;
	rc = gnutls_x509_crt_set_key_purpose_oid(
		crt,
		usage == PDS_TLS_USAGE_SERVER ? GNUTLS_KP_TLS_WWW_SERVER : GNUTLS_KP_TLS_WWW_CLIENT,
		0);
	if (!pds_tls_check(rc, "cannot set the extended key usage", error))
		return NULL;
	for (guint i = 0; hosts != NULL && hosts[i] != NULL; i++) {
		if (!pds_tls_crt_add_host(crt, hosts[i], error))
			return NULL;
	}
	if (!pds_tls_crt_set_subject_key_id(crt, error))
		return NULL;
	if (gnutls_x509_crt_get_subject_key_id(ca->crt, ca_id, &ca_id_size, NULL) >= 0) {
		rc = gnutls_x509_crt_set_authority_key_id(crt, ca_id, ca_id_size);
		if (!pds_tls_check(rc, "cannot set the authority key id", error))
			return NULL;
	}
	rc = gnutls_x509_crt_sign2(crt, ca->crt, ca->key, GNUTLS_DIG_SHA256, 0);
	if (rc < 0) {
		g_set_error(error, PDS_TLS_ERROR, PDS_TLS_ERROR_FAILED,
			    "cannot sign the certificate for '%s' with CA '%s': %s", common_name,
			    ca->common_name, gnutls_strerror(rc));
		return NULL;
	}
	identity = pds_tls_identity_new_signed(crt, key, error);
	if (identity == NULL)
		return NULL;
	crt = NULL;
	key = NULL;
	return identity;
}

PdsTlsIdentity *
pds_tls_identity_new_from_pem(const char *cert_pem, const char *key_pem, GError **error)
{
	g_auto(gnutls_x509_crt_t) crt = NULL;
	g_auto(gnutls_x509_privkey_t) key = NULL;
	gnutls_datum_t datum;
	guint8 crt_id[64], key_id[64];
	size_t crt_id_size = sizeof(crt_id), key_id_size = sizeof(key_id);
	int rc;

	g_return_val_if_fail(cert_pem != NULL, NULL);
	g_return_val_if_fail(key_pem != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	rc = gnutls_x509_crt_init(&crt);
	if (!pds_tls_check(rc, "cannot allocate a certificate", error))
		return NULL;
	datum.data = (unsigned char *)cert_pem;
	datum.size = strlen(cert_pem);
	rc = gnutls_x509_crt_import(crt, &datum, GNUTLS_X509_FMT_PEM);
	if (rc < 0) {
		g_set_error(error, PDS_TLS_ERROR, PDS_TLS_ERROR_INVALID_PEM,
			    "not a PEM certificate: %s", gnutls_strerror(rc));
		return NULL;
	}
	rc = gnutls_x509_privkey_init(&key);
	if (!pds_tls_check(rc, "cannot allocate a private key", error))
		return NULL;
	datum.data = (unsigned char *)key_pem;
	datum.size = strlen(key_pem);
	rc = gnutls_x509_privkey_import2(key, &datum, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (rc < 0) {
		g_set_error(error, PDS_TLS_ERROR, PDS_TLS_ERROR_INVALID_PEM,
			    "not an unencrypted PEM private key: %s", gnutls_strerror(rc));
		return NULL;
	}

	/* A key that does not belong to the certificate only fails later, in
	 * the handshake, with a vague message: catch it here. */
	rc = gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, crt_id, &crt_id_size);
	if (!pds_tls_check(rc, "cannot compute the certificate key id", error))
		return NULL;
	rc = gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA256, key_id, &key_id_size);
	if (!pds_tls_check(rc, "cannot compute the private key id", error))
		return NULL;
	if (crt_id_size != key_id_size || memcmp(crt_id, key_id, crt_id_size) != 0) {
		g_set_error_literal(error, PDS_TLS_ERROR, PDS_TLS_ERROR_INVALID_PEM,
				    "the private key does not belong to the certificate");
		return NULL;
	}
	return pds_tls_identity_new_take(g_steal_pointer(&crt), g_steal_pointer(&key));
}

PdsTlsIdentity *
pds_tls_identity_new_from_files(const char *cert_path, const char *key_path, GError **error)
{
	g_autofree gchar *cert_pem = NULL;
	g_autofree gchar *key_pem = NULL;
	PdsTlsIdentity *identity;

	g_return_val_if_fail(cert_path != NULL, NULL);
	g_return_val_if_fail(key_path != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (!g_file_get_contents(cert_path, &cert_pem, NULL, error)) {
		g_prefix_error(error, "cannot read certificate: ");
		return NULL;
	}
	if (!g_file_get_contents(key_path, &key_pem, NULL, error)) {
		g_prefix_error(error, "cannot read private key: ");
		return NULL;
	}
	identity = pds_tls_identity_new_from_pem(cert_pem, key_pem, error);
	if (identity == NULL)
		g_prefix_error(error, "%s and %s: ", cert_path, key_path);
	/* The key text is secret: do not leave it in freed memory. */
	memset(key_pem, 0, strlen(key_pem));
	return identity;
}

PdsTlsIdentity *
pds_tls_identity_new_trust_from_file(const char *cert_path, GError **error)
{
	g_auto(gnutls_x509_crt_t) crt = NULL;
	g_autofree gchar *cert_pem = NULL;
	gnutls_datum_t datum;
	int rc;

	g_return_val_if_fail(cert_path != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (!g_file_get_contents(cert_path, &cert_pem, NULL, error)) {
		g_prefix_error(error, "cannot read certificate: ");
		return NULL;
	}
	rc = gnutls_x509_crt_init(&crt);
	if (!pds_tls_check(rc, "cannot allocate a certificate", error))
		return NULL;
	datum.data = (unsigned char *)cert_pem;
	datum.size = strlen(cert_pem);
	rc = gnutls_x509_crt_import(crt, &datum, GNUTLS_X509_FMT_PEM);
	if (rc < 0) {
		g_set_error(error, PDS_TLS_ERROR, PDS_TLS_ERROR_INVALID_PEM,
			    "%s is not a PEM certificate: %s", cert_path, gnutls_strerror(rc));
		return NULL;
	}
	return pds_tls_identity_new_take(g_steal_pointer(&crt), NULL);
}

gchar *
pds_tls_identity_get_cert_pem(PdsTlsIdentity *identity)
{
	gnutls_datum_t out = {NULL, 0};
	gchar *pem;

	g_return_val_if_fail(identity != NULL, NULL);
	if (gnutls_x509_crt_export2(identity->crt, GNUTLS_X509_FMT_PEM, &out) < 0)
		return NULL;
	pem = g_strndup((const char *)out.data, out.size);
	gnutls_free(out.data);
	return pem;
}

gchar *
pds_tls_identity_get_key_pem(PdsTlsIdentity *identity)
{
	gnutls_datum_t out = {NULL, 0};
	gchar *pem;

	g_return_val_if_fail(identity != NULL, NULL);
	if (identity->key == NULL)
		return NULL;
	if (gnutls_x509_privkey_export2_pkcs8(identity->key, GNUTLS_X509_FMT_PEM, NULL,
					      GNUTLS_PKCS_PLAIN, &out) < 0)
		return NULL;
	pem = g_strndup((const char *)out.data, out.size);
	memset(out.data, 0, out.size);
	gnutls_free(out.data);
	return pem;
}

const char *
pds_tls_identity_get_common_name(PdsTlsIdentity *identity)
{
	g_return_val_if_fail(identity != NULL, NULL);
	return identity->common_name;
}

/* "sha256:<hex>", the form a joining agent is given and pins. */
static gchar *
pds_tls_format_fingerprint(const guint8 *digest, gsize size)
{
	GString *str = g_string_new("sha256:");

	for (gsize i = 0; i < size; i++)
		g_string_append_printf(str, "%02x", digest[i]);
	return g_string_free(str, FALSE);
}

static gchar *
pds_tls_crt_dup_fingerprint(gnutls_x509_crt_t crt)
{
	guint8 digest[32];
	size_t size = sizeof(digest);

	if (gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, digest, &size) < 0)
		return NULL;
	return pds_tls_format_fingerprint(digest, size);
}

gchar *
pds_tls_identity_get_fingerprint(PdsTlsIdentity *identity)
{
	g_return_val_if_fail(identity != NULL, NULL);
	return pds_tls_crt_dup_fingerprint(identity->crt);
}

gboolean
pds_tls_identity_save(PdsTlsIdentity *identity, const char *dir, const char *name, GError **error)
{
	g_autofree gchar *cert_pem = NULL;
	g_autofree gchar *key_pem = NULL;
	g_autofree gchar *cert_path = NULL;
	g_autofree gchar *key_path = NULL;
	g_autofree gchar *cert_name = NULL;
	g_autofree gchar *key_name = NULL;
	gboolean ok;

	g_return_val_if_fail(identity != NULL, FALSE);
	g_return_val_if_fail(dir != NULL, FALSE);
	g_return_val_if_fail(name != NULL && *name != '\0', FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	if (g_mkdir_with_parents(dir, 0755) != 0) {
		int errsv = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errsv),
			    "cannot create directory %s: %s", dir, g_strerror(errsv));
		return FALSE;
	}
	if (identity->key == NULL) {
		g_set_error(error, PDS_TLS_ERROR, PDS_TLS_ERROR_FAILED,
			    "cannot save '%s': only its certificate is loaded, not its key",
			    identity->common_name);
		return FALSE;
	}
	cert_pem = pds_tls_identity_get_cert_pem(identity);
	key_pem = pds_tls_identity_get_key_pem(identity);
	if (cert_pem == NULL || key_pem == NULL) {
		g_set_error(error, PDS_TLS_ERROR, PDS_TLS_ERROR_FAILED, "cannot encode '%s' as PEM",
			    identity->common_name);
		return FALSE;
	}
	cert_name = g_strdup_printf("%s.crt", name);
	key_name = g_strdup_printf("%s.key", name);
	cert_path = g_build_filename(dir, cert_name, NULL);
	key_path = g_build_filename(dir, key_name, NULL);

	/* Key first, created 0600 from the start (the temporary file too), so a
	 * reader never finds a certificate whose key is still missing. */
	ok = g_file_set_contents_full(key_path, key_pem, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600,
				      error);
	memset(key_pem, 0, strlen(key_pem));
	if (!ok) {
		g_prefix_error(error, "cannot write private key: ");
		return FALSE;
	}
	if (!g_file_set_contents_full(cert_path, cert_pem, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0644,
				      error)) {
		g_prefix_error(error, "cannot write certificate: ");
		return FALSE;
	}
	return TRUE;
}

gnutls_x509_crt_t
pds_tls_identity_get_crt(PdsTlsIdentity *identity)
{
	g_return_val_if_fail(identity != NULL, NULL);
	return identity->crt;
}

gnutls_x509_privkey_t
pds_tls_identity_get_key(PdsTlsIdentity *identity)
{
	g_return_val_if_fail(identity != NULL, NULL);
	return identity->key;
}

/* ---- connections ---- */

struct _PdsTlsConn {
	GSocket *socket;
	gnutls_session_t session;
	gnutls_certificate_credentials_t creds;
	gboolean is_server;
	gchar *server_name; /* client: what the server certificate must name */
	gchar *peer_name;
	gchar *refusal; /* why the verify callback refused the peer */
	gnutls_alert_description_t refusal_alert;
	gboolean handshake_done;
	gboolean cert_optional;	   /* server: a client without a certificate is let in */
	gboolean peer_verified;	   /* the peer presented a certificate that verified */
	gchar *pinned_fingerprint; /* client: "sha256:<hex>" of the CA, no CA file */
	GBytes *pinned_ca_der;	   /* client: the chain's certificate that matched the pin */

	/* pds_tls_conn_set_buffered(): records pass through these buffers */
	int fd;
	gboolean buffered;
	gboolean collecting; /* a write is under way: records go to tx, not the socket */
	GByteArray *tx;	     /* encrypted records not yet sent */
	gsize tx_pos;
	guint8 *rx; /* bytes read from the socket, not yet taken by GnuTLS */
	gsize rx_pos, rx_len;
	gboolean rx_short; /* the last recv() returned less than it asked for */
};

/* One send() takes up to this much: a 256 KiB write is one system call and
 * four 64 KiB loopback segments instead of sixteen record-sized sends. */
#define PDS_TLS_BUFFER_BYTES (256u * 1024u)

void
pds_tls_conn_free(PdsTlsConn *conn)
{
	if (conn == NULL)
		return;
	if (conn->session != NULL)
		gnutls_deinit(conn->session);
	if (conn->creds != NULL)
		gnutls_certificate_free_credentials(conn->creds);
	g_clear_object(&conn->socket);
	g_free(conn->server_name);
	g_free(conn->peer_name);
	g_free(conn->refusal);
	g_free(conn->pinned_fingerprint);
	g_clear_pointer(&conn->pinned_ca_der, g_bytes_unref);
	g_clear_pointer(&conn->tx, g_byte_array_unref);
	g_free(conn->rx);
	g_free(conn);
}

static gchar *
pds_tls_describe_status(PdsTlsConn *conn, unsigned int status)
{
	const char *who = conn->is_server ? "client certificate" : "server certificate";
	gnutls_datum_t out = {NULL, 0};
	gchar *msg;

	if (status & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNER_NOT_CA))
		return g_strdup_printf("%s is not signed by the session CA", who);
	if (status & GNUTLS_CERT_EXPIRED)
		return g_strdup_printf("%s expired", who);
	if (status & GNUTLS_CERT_NOT_ACTIVATED)
		return g_strdup_printf("%s is not yet valid", who);
	if (status & GNUTLS_CERT_UNEXPECTED_OWNER)
		return g_strdup_printf("%s does not name '%s'", who, conn->server_name);
	if (status & GNUTLS_CERT_PURPOSE_MISMATCH)
		return g_strdup_printf("%s is not issued for TLS %s use", who,
				       conn->is_server ? "client" : "server");
	if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0) < 0)
		return g_strdup_printf("%s is not trusted", who);
	msg = g_strdup_printf("%s is not trusted: %.*s", who, (int)out.size,
			      (const char *)out.data);
	gnutls_free(out.data);
	return msg;
}

static void
pds_tls_conn_refuse(PdsTlsConn *conn, gnutls_alert_description_t alert, gchar *reason)
{
	g_free(conn->refusal);
	conn->refusal = reason;
	conn->refusal_alert = alert;
}

static gchar *
pds_tls_datum_dup_fingerprint(const gnutls_datum_t *der)
{
	guint8 digest[32];
	size_t size = sizeof(digest);

	if (gnutls_fingerprint(GNUTLS_DIG_SHA256, der, digest, &size) < 0)
		return NULL;
	return pds_tls_format_fingerprint(digest, size);
}

/*
 * A client that holds no CA file but the CA's fingerprint (a joining agent):
 * the server sends its chain with the CA; the certificate of that chain whose
 * SHA-256 matches the pin, and is a CA, becomes the only trust anchor the
 * rest of the chain is verified against.
 */
static int
pds_tls_verify_pinned(PdsTlsConn *conn, gnutls_typed_vdata_st *data, unsigned int n_data)
{
	unsigned int n_certs = 0, status = 0;
	const gnutls_datum_t *certs = gnutls_certificate_get_peers(conn->session, &n_certs);
	gnutls_x509_crt_t chain[16];
	gnutls_x509_trust_list_t list = NULL;
	gnutls_x509_crt_t anchor = NULL;
	guint n_chain = 0;
	int pinned = -1;
	int rc;

	for (guint i = 0; i < n_certs && i < G_N_ELEMENTS(chain); i++) {
		g_autofree gchar *fp = pds_tls_datum_dup_fingerprint(&certs[i]);
		if (fp != NULL && g_ascii_strcasecmp(fp, conn->pinned_fingerprint) == 0)
			pinned = (int)i;
	}
	if (pinned < 0) {
		pds_tls_conn_refuse(
			conn, GNUTLS_A_UNKNOWN_CA,
			g_strdup_printf(
				"the server's certificate chain does not contain the pinned "
				"session CA %s; this is not the hub of this session",
				conn->pinned_fingerprint));
		return GNUTLS_E_CERTIFICATE_ERROR;
	}
	rc = gnutls_x509_crt_init(&anchor);
	if (rc >= 0)
		rc = gnutls_x509_crt_import(anchor, &certs[pinned], GNUTLS_X509_FMT_DER);
	if (rc < 0 || gnutls_x509_crt_get_basic_constraints(anchor, NULL, NULL, NULL) != 1) {
		if (anchor != NULL)
			gnutls_x509_crt_deinit(anchor);
		pds_tls_conn_refuse(
			conn, GNUTLS_A_BAD_CERTIFICATE,
			g_strdup("the certificate matching the pinned fingerprint is not "
				 "a CA certificate"));
		return GNUTLS_E_CERTIFICATE_ERROR;
	}
	rc = gnutls_x509_trust_list_init(&list, 0);
	if (rc >= 0)
		rc = gnutls_x509_trust_list_add_cas(list, &anchor, 1, 0);
	if (rc < 0) {
		gnutls_x509_crt_deinit(anchor);
		if (list != NULL)
			gnutls_x509_trust_list_deinit(list, 1);
		pds_tls_conn_refuse(
			conn, GNUTLS_A_INTERNAL_ERROR,
			g_strdup_printf("cannot trust the pinned CA: %s", gnutls_strerror(rc)));
		return GNUTLS_E_CERTIFICATE_ERROR;
	}
	/* The list owns the anchor now. The chain is the leaf and its issuers,
	 * without the anchor itself. */
	for (guint i = 0; i < n_certs && n_chain < G_N_ELEMENTS(chain); i++) {
		if ((int)i == pinned)
			continue;
		if (gnutls_x509_crt_init(&chain[n_chain]) < 0)
			break;
		if (gnutls_x509_crt_import(chain[n_chain], &certs[i], GNUTLS_X509_FMT_DER) < 0) {
			gnutls_x509_crt_deinit(chain[n_chain]);
			break;
		}
		n_chain++;
	}
	if (n_chain == 0) {
		rc = GNUTLS_E_NO_CERTIFICATE_FOUND;
	} else {
		rc = gnutls_x509_trust_list_verify_crt2(list, chain, n_chain, data, n_data, 0,
							&status, NULL);
	}
	for (guint i = 0; i < n_chain; i++)
		gnutls_x509_crt_deinit(chain[i]);
	gnutls_x509_trust_list_deinit(list, 1);
	if (rc < 0) {
		pds_tls_conn_refuse(conn, GNUTLS_A_BAD_CERTIFICATE,
				    g_strdup_printf("cannot verify the server certificate: %s",
						    gnutls_strerror(rc)));
		return GNUTLS_E_CERTIFICATE_ERROR;
	}
	if (status != 0) {
		pds_tls_conn_refuse(conn,
				    (status & GNUTLS_CERT_SIGNER_NOT_FOUND)
					    ? GNUTLS_A_UNKNOWN_CA
					    : GNUTLS_A_BAD_CERTIFICATE,
				    pds_tls_describe_status(conn, status));
		return GNUTLS_E_CERTIFICATE_ERROR;
	}
	g_clear_pointer(&conn->pinned_ca_der, g_bytes_unref);
	conn->pinned_ca_der = g_bytes_new(certs[pinned].data, certs[pinned].size);
	return 0;
}

/* Runs inside the handshake, so a refused peer gets an alert instead of a
 * session that we would only drop afterwards. */
static int
pds_tls_verify_cb(gnutls_session_t session)
{
	PdsTlsConn *conn = gnutls_session_get_ptr(session);
	gnutls_typed_vdata_st data[2];
	unsigned int n = 0, status = 0, list_size = 0;
	int rc;

	if (gnutls_certificate_get_peers(session, &list_size) == NULL || list_size == 0) {
		if (conn->is_server && conn->cert_optional)
			return 0;
		g_free(conn->refusal);
		conn->refusal = g_strdup(conn->is_server ? "client certificate missing"
							 : "server certificate missing");
		conn->refusal_alert = GNUTLS_A_CERTIFICATE_REQUIRED;
		return GNUTLS_E_CERTIFICATE_ERROR;
	}
	/* A client given no server name trusts any server certificate of the CA. */
	if (!conn->is_server && conn->server_name != NULL) {
		data[n].type = GNUTLS_DT_DNS_HOSTNAME;
		data[n].data = (unsigned char *)conn->server_name;
		data[n].size = 0;
		n++;
	}
	data[n].type = GNUTLS_DT_KEY_PURPOSE_OID;
	data[n].data = (unsigned char *)(conn->is_server ? GNUTLS_KP_TLS_WWW_CLIENT
							 : GNUTLS_KP_TLS_WWW_SERVER);
	data[n].size = 0;
	n++;

	if (conn->pinned_fingerprint != NULL)
		return pds_tls_verify_pinned(conn, data, n);
	rc = gnutls_certificate_verify_peers(session, data, n, &status);
	if (rc < 0) {
		g_free(conn->refusal);
		conn->refusal =
			g_strdup_printf("cannot verify the %s certificate: %s",
					conn->is_server ? "client" : "server", gnutls_strerror(rc));
		conn->refusal_alert = GNUTLS_A_BAD_CERTIFICATE;
		return GNUTLS_E_CERTIFICATE_ERROR;
	}
	if (status != 0) {
		g_free(conn->refusal);
		conn->refusal = pds_tls_describe_status(conn, status);
		if (status & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNER_NOT_CA))
			conn->refusal_alert = GNUTLS_A_UNKNOWN_CA;
		else if (status & (GNUTLS_CERT_EXPIRED | GNUTLS_CERT_NOT_ACTIVATED))
			conn->refusal_alert = GNUTLS_A_CERTIFICATE_EXPIRED;
		else
			conn->refusal_alert = GNUTLS_A_BAD_CERTIFICATE;
		return GNUTLS_E_CERTIFICATE_ERROR;
	}
	return 0;
}

/* Options of pds_tls_conn_new() beyond the plain mutual-TLS server and client. */
typedef enum {
	PDS_TLS_CONN_SEND_CA = 1 << 0, /* server: send [identity, CA] as its chain */
	PDS_TLS_CONN_CERT_OPTIONAL = 1
				     << 1, /* server: request, not require, a client certificate */
} PdsTlsConnFlags;

static PdsTlsConn *
pds_tls_conn_new(GSocket *socket,
		 PdsTlsIdentity *identity,
		 PdsTlsIdentity *ca,
		 gboolean is_server,
		 const char *server_name,
		 PdsTlsConnFlags conn_flags,
		 GError **error)
{
	g_autoptr(PdsTlsConn) conn = g_new0(PdsTlsConn, 1);
	const char *err_pos = NULL;
	unsigned int flags;
	int rc;

	conn->socket = g_object_ref(socket);
	conn->is_server = is_server;
	conn->server_name = g_strdup(server_name);
	g_socket_set_blocking(socket, FALSE);

	rc = gnutls_certificate_allocate_credentials(&conn->creds);
	if (!pds_tls_check(rc, "cannot allocate TLS credentials", error))
		return NULL;
	if (identity != NULL && identity->key == NULL) {
		g_set_error(error, PDS_TLS_ERROR, PDS_TLS_ERROR_FAILED,
			    "cannot use '%s' for TLS: its private key is not loaded",
			    identity->common_name);
		return NULL;
	}
	conn->cert_optional = (conn_flags & PDS_TLS_CONN_CERT_OPTIONAL) != 0;
	if (identity != NULL) {
		gnutls_x509_crt_t chain[2] = {identity->crt, ca != NULL ? ca->crt : NULL};
		guint n_chain = (conn_flags & PDS_TLS_CONN_SEND_CA) && ca != NULL ? 2 : 1;
		rc = gnutls_certificate_set_x509_key(conn->creds, chain, n_chain, identity->key);
		if (!pds_tls_check(rc, "cannot use the certificate and key for TLS", error))
			return NULL;
	}
	if (ca != NULL) {
		gnutls_x509_crt_t ca_crt = ca->crt;
		rc = gnutls_certificate_set_x509_trust(conn->creds, &ca_crt, 1);
		if (!pds_tls_check(rc, "cannot trust the session CA", error))
			return NULL;
	}
	gnutls_certificate_set_verify_function(conn->creds, pds_tls_verify_cb);

	/* NO_SIGNAL: a peer that vanishes must not kill a daemon with SIGPIPE. */
	flags = (is_server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL |
		GNUTLS_NO_TICKETS;
	rc = gnutls_init(&conn->session, flags);
	if (!pds_tls_check(rc, "cannot create a TLS session", error))
		return NULL;
	gnutls_session_set_ptr(conn->session, conn);
	rc = gnutls_priority_set_direct(conn->session, PDS_TLS_PRIORITY, &err_pos);
	if (!pds_tls_check(rc, "cannot set TLS 1.3 priorities", error))
		return NULL;
	rc = gnutls_credentials_set(conn->session, GNUTLS_CRD_CERTIFICATE, conn->creds);
	if (!pds_tls_check(rc, "cannot set TLS credentials", error))
		return NULL;
	if (is_server) {
		gnutls_certificate_server_set_request(conn->session, conn->cert_optional
									     ? GNUTLS_CERT_REQUEST
									     : GNUTLS_CERT_REQUIRE);
		/* Without the CA names in the request, a client holding a
		 * certificate of another CA still sends it, and is told that
		 * its CA is wrong rather than that it has no certificate. */
		gnutls_certificate_send_x509_rdn_sequence(conn->session, 1);
	} else if (server_name != NULL && !g_hostname_is_ip_address(server_name)) {
		rc = gnutls_server_name_set(conn->session, GNUTLS_NAME_DNS, server_name,
					    strlen(server_name));
		if (!pds_tls_check(rc, "cannot set the TLS server name", error))
			return NULL;
	}
	gnutls_transport_set_int(conn->session, g_socket_get_fd(socket));
	return g_steal_pointer(&conn);
}

PdsTlsConn *
pds_tls_conn_new_server(GSocket *socket,
			PdsTlsIdentity *identity,
			PdsTlsIdentity *ca,
			GError **error)
{
	g_return_val_if_fail(G_IS_SOCKET(socket), NULL);
	g_return_val_if_fail(identity != NULL, NULL);
	g_return_val_if_fail(ca != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);
	return pds_tls_conn_new(socket, identity, ca, TRUE, NULL, 0, error);
}

PdsTlsConn *
pds_tls_conn_new_client(GSocket *socket,
			PdsTlsIdentity *identity,
			PdsTlsIdentity *ca,
			const char *server_name,
			GError **error)
{
	g_return_val_if_fail(G_IS_SOCKET(socket), NULL);
	g_return_val_if_fail(ca != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);
	return pds_tls_conn_new(socket, identity, ca, FALSE, server_name, 0, error);
}

PdsTlsConn *
pds_tls_conn_new_server_optional(GSocket *socket,
				 PdsTlsIdentity *identity,
				 PdsTlsIdentity *ca,
				 GError **error)
{
	g_return_val_if_fail(G_IS_SOCKET(socket), NULL);
	g_return_val_if_fail(identity != NULL, NULL);
	g_return_val_if_fail(ca != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);
	return pds_tls_conn_new(socket, identity, ca, TRUE, NULL,
				PDS_TLS_CONN_SEND_CA | PDS_TLS_CONN_CERT_OPTIONAL, error);
}

PdsTlsConn *
pds_tls_conn_new_client_pinned(GSocket *socket,
			       const char *ca_fingerprint,
			       const char *server_name,
			       GError **error)
{
	PdsTlsConn *conn;

	g_return_val_if_fail(G_IS_SOCKET(socket), NULL);
	g_return_val_if_fail(ca_fingerprint != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (!g_str_has_prefix(ca_fingerprint, "sha256:") || strlen(ca_fingerprint) != 7 + 64) {
		g_set_error(error, PDS_TLS_ERROR, PDS_TLS_ERROR_FAILED,
			    "CA fingerprint \"%s\" is not of the form sha256:<64 hex digits>; "
			    "copy it exactly as the session controller printed it",
			    ca_fingerprint);
		return NULL;
	}
	conn = pds_tls_conn_new(socket, NULL, NULL, FALSE, server_name, 0, error);
	if (conn != NULL)
		conn->pinned_fingerprint = g_ascii_strdown(ca_fingerprint, -1);
	return conn;
}

gboolean
pds_tls_conn_get_peer_verified(PdsTlsConn *conn)
{
	g_return_val_if_fail(conn != NULL, FALSE);
	return conn->handshake_done && conn->peer_verified;
}

PdsTlsIdentity *
pds_tls_conn_dup_pinned_ca(PdsTlsConn *conn)
{
	g_auto(gnutls_x509_crt_t) crt = NULL;
	gnutls_datum_t der;

	g_return_val_if_fail(conn != NULL, NULL);
	if (conn->pinned_ca_der == NULL || gnutls_x509_crt_init(&crt) < 0)
		return NULL;
	der.data = (unsigned char *)g_bytes_get_data(conn->pinned_ca_der, NULL);
	der.size = g_bytes_get_size(conn->pinned_ca_der);
	if (gnutls_x509_crt_import(crt, &der, GNUTLS_X509_FMT_DER) < 0)
		return NULL;
	return pds_tls_identity_new_take(g_steal_pointer(&crt), NULL);
}

static gboolean
pds_tls_is_cert_alert(gnutls_alert_description_t alert)
{
	switch (alert) {
	case GNUTLS_A_BAD_CERTIFICATE:
	case GNUTLS_A_UNSUPPORTED_CERTIFICATE:
	case GNUTLS_A_CERTIFICATE_REVOKED:
	case GNUTLS_A_CERTIFICATE_EXPIRED:
	case GNUTLS_A_CERTIFICATE_UNKNOWN:
	case GNUTLS_A_UNKNOWN_CA:
	case GNUTLS_A_ACCESS_DENIED:
	case GNUTLS_A_CERTIFICATE_REQUIRED:
		return TRUE;
	default:
		return FALSE;
	}
}

/* Turns a negative GnuTLS code of @what ("handshake", "read", "write") into a GError. */
static void
pds_tls_conn_set_error(PdsTlsConn *conn, int rc, const char *what, GError **error)
{
	const char *peer = conn->is_server ? "client" : "server";

	if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK, "TLS %s would block", what);
		return;
	}
	if (conn->refusal != NULL) {
		g_set_error(error, PDS_TLS_ERROR, PDS_TLS_ERROR_PEER_REFUSED, "%s", conn->refusal);
		return;
	}
	if (conn->is_server && !conn->handshake_done &&
	    (rc == GNUTLS_E_NO_CERTIFICATE_FOUND || rc == GNUTLS_E_CERTIFICATE_REQUIRED)) {
		g_set_error_literal(error, PDS_TLS_ERROR, PDS_TLS_ERROR_PEER_REFUSED,
				    "client certificate missing");
		return;
	}
	if (rc == GNUTLS_E_FATAL_ALERT_RECEIVED) {
		gnutls_alert_description_t alert = gnutls_alert_get(conn->session);
		const char *name = gnutls_alert_get_name(alert);
		if (pds_tls_is_cert_alert(alert)) {
			g_set_error(error, PDS_TLS_ERROR, PDS_TLS_ERROR_PEER_REFUSED,
				    "the %s refused our certificate (TLS alert: %s); check that "
				    "it is signed by the session CA and still valid",
				    peer, name != NULL ? name : "unknown");
		} else {
			g_set_error(error, PDS_TLS_ERROR, PDS_TLS_ERROR_FAILED,
				    "TLS %s failed: the %s sent alert '%s'", what, peer,
				    name != NULL ? name : "unknown");
		}
		return;
	}
	if (rc == GNUTLS_E_PREMATURE_TERMINATION || rc == GNUTLS_E_PUSH_ERROR ||
	    rc == GNUTLS_E_PULL_ERROR) {
		g_set_error(error, PDS_TLS_ERROR, PDS_TLS_ERROR_CLOSED,
			    "the %s closed the connection during TLS %s (%s)", peer, what,
			    gnutls_strerror(rc));
		return;
	}
	g_set_error(error, PDS_TLS_ERROR, PDS_TLS_ERROR_FAILED, "TLS %s with the %s failed: %s",
		    what, peer, gnutls_strerror(rc));
}

gboolean
pds_tls_conn_handshake(PdsTlsConn *conn, GError **error)
{
	int rc;

	g_return_val_if_fail(conn != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	if (conn->handshake_done)
		return TRUE;
	do {
		rc = gnutls_handshake(conn->session);
	} while (rc == GNUTLS_E_WARNING_ALERT_RECEIVED);
	if (rc < 0) {
		/* GnuTLS leaves the alert to us: without one the peer only
		 * sees the connection drop and cannot tell the user why. */
		if (conn->refusal != NULL)
			(void)gnutls_alert_send(conn->session, GNUTLS_AL_FATAL,
						conn->refusal_alert);
		else if (rc != GNUTLS_E_AGAIN && rc != GNUTLS_E_INTERRUPTED)
			(void)gnutls_alert_send_appropriate(conn->session, rc);
		pds_tls_conn_set_error(conn, rc, "handshake", error);
		return FALSE;
	}
	conn->handshake_done = TRUE;
	{
		unsigned int n = 0;
		const gnutls_datum_t *certs = gnutls_certificate_get_peers(conn->session, &n);
		g_auto(gnutls_x509_crt_t) crt = NULL;
		if (certs != NULL && n > 0 && gnutls_x509_crt_init(&crt) >= 0 &&
		    gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) >= 0) {
			conn->peer_name = pds_tls_crt_dup_common_name(crt);
			/* the verify callback refused every certificate that did not verify */
			conn->peer_verified = TRUE;
		}
	}
	g_debug("TLS handshake done with %s '%s'", conn->is_server ? "client" : "server",
		conn->peer_name != NULL ? conn->peer_name : "");
	return TRUE;
}

const char *
pds_tls_conn_get_peer_name(PdsTlsConn *conn)
{
	g_return_val_if_fail(conn != NULL, NULL);
	return conn->peer_name;
}

gssize
pds_tls_conn_read(PdsTlsConn *conn, guint8 *buf, gsize len, GError **error)
{
	ssize_t rc;

	g_return_val_if_fail(conn != NULL, -1);
	g_return_val_if_fail(conn->handshake_done, -1);
	g_return_val_if_fail(error == NULL || *error == NULL, -1);

	/* Buffered: GnuTLS may stop after a post-handshake message (a session
	 * ticket) with AGAIN although more was read ahead; the socket will not
	 * wake anyone for bytes already taken from it, so go on while any wait. */
	do {
		rc = gnutls_record_recv(conn->session, buf, len);
	} while (rc == GNUTLS_E_WARNING_ALERT_RECEIVED ||
		 (conn->buffered && (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) &&
		  conn->rx_pos < conn->rx_len));
	if (rc >= 0)
		return rc;
	/* A peer that closes without close_notify (a killed process) has still
	 * ended the stream: the caller treats both like EOF. */
	if (rc == GNUTLS_E_PREMATURE_TERMINATION)
		return 0;
	pds_tls_conn_set_error(conn, (int)rc, "read", error);
	return -1;
}

/* ---- buffered transport ---- */

/* Sends what tx holds; FALSE with errno set when the socket took not all of it. */
static gboolean
pds_tls_conn_send_tx(PdsTlsConn *conn)
{
	while (conn->tx_pos < conn->tx->len) {
		ssize_t n = send(conn->fd, conn->tx->data + conn->tx_pos,
				 conn->tx->len - conn->tx_pos, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return FALSE;
		}
		conn->tx_pos += (gsize)n;
	}
	g_byte_array_set_size(conn->tx, 0);
	conn->tx_pos = 0;
	return TRUE;
}

static ssize_t
pds_tls_conn_push(gnutls_transport_ptr_t ptr, const void *data, size_t len)
{
	PdsTlsConn *conn = ptr;
	ssize_t n;

	if (conn->collecting) {
		g_byte_array_append(conn->tx, data, (guint)len);
		return (ssize_t)len;
	}
	/* Outside a write (alerts, key updates, close_notify): in order, after tx. */
	if (!pds_tls_conn_send_tx(conn)) {
		gnutls_transport_set_errno(conn->session, errno);
		return -1;
	}
	do
		n = send(conn->fd, data, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		gnutls_transport_set_errno(conn->session, errno);
	return n;
}

static ssize_t
pds_tls_conn_pull(gnutls_transport_ptr_t ptr, void *data, size_t len)
{
	PdsTlsConn *conn = ptr;
	ssize_t n;

	if (conn->rx_pos == conn->rx_len) {
		/* Read ahead: one recv() for many records (GnuTLS asks for each
		 * record's header and body separately). */
		do
			n = recv(conn->fd, conn->rx, PDS_TLS_BUFFER_BYTES, 0);
		while (n < 0 && errno == EINTR);
		if (n <= 0) {
			if (n < 0)
				gnutls_transport_set_errno(conn->session, errno);
			return n;
		}
		conn->rx_pos = 0;
		conn->rx_len = (gsize)n;
		conn->rx_short = conn->rx_len < PDS_TLS_BUFFER_BYTES;
	}
	n = (ssize_t)MIN(len, conn->rx_len - conn->rx_pos);
	memcpy(data, conn->rx + conn->rx_pos, (gsize)n);
	conn->rx_pos += (gsize)n;
	return n;
}

void
pds_tls_conn_set_buffered(PdsTlsConn *conn)
{
	g_return_if_fail(conn != NULL);

	if (conn->buffered)
		return;
	conn->buffered = TRUE;
	conn->fd = g_socket_get_fd(conn->socket);
	conn->tx = g_byte_array_sized_new(PDS_TLS_BUFFER_BYTES + 32 * 1024);
	conn->rx = g_malloc(PDS_TLS_BUFFER_BYTES);
	gnutls_transport_set_ptr(conn->session, conn);
	gnutls_transport_set_push_function(conn->session, pds_tls_conn_push);
	gnutls_transport_set_pull_function(conn->session, pds_tls_conn_pull);
}

gboolean
pds_tls_conn_is_drained(PdsTlsConn *conn)
{
	g_return_val_if_fail(conn != NULL, FALSE);

	return conn->buffered && conn->rx_short && conn->rx_pos == conn->rx_len &&
	       gnutls_record_check_pending(conn->session) == 0;
}

gboolean
pds_tls_conn_flush(PdsTlsConn *conn, GError **error)
{
	int errsv;

	g_return_val_if_fail(conn != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	if (!conn->buffered || pds_tls_conn_send_tx(conn))
		return TRUE;
	errsv = errno;
	if (errsv == EAGAIN || errsv == EWOULDBLOCK)
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK,
				    "TLS write would block");
	else
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errsv),
			    "sending to the %s failed: %s", conn->is_server ? "client" : "server",
			    g_strerror(errsv));
	return FALSE;
}

/*
 * Buffered: encrypts records into tx until @len is taken or tx holds a full
 * send's worth, then sends what the socket takes; the rest waits in tx for
 * the next write or pds_tls_conn_flush(). GnuTLS never sees a short send,
 * so a record is never left half written.
 */
static gssize
pds_tls_conn_write_buffered(PdsTlsConn *conn, const guint8 *buf, gsize len, GError **error)
{
	gsize total = 0;
	g_autoptr(GError) local = NULL;

	if (!pds_tls_conn_flush(conn, error))
		return -1;
	conn->collecting = TRUE;
	while (total < len && conn->tx->len < PDS_TLS_BUFFER_BYTES) {
		ssize_t rc = gnutls_record_send(conn->session, buf + total, len - total);
		if (rc < 0) {
			conn->collecting = FALSE;
			pds_tls_conn_set_error(conn, (int)rc, "write", error);
			return -1;
		}
		total += (gsize)rc;
	}
	conn->collecting = FALSE;
	if (!pds_tls_conn_flush(conn, &local) &&
	    !g_error_matches(local, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
		g_propagate_error(error, g_steal_pointer(&local));
		return -1;
	}
	return (gssize)total;
}

/*
 * Writes as many whole TLS records as the socket takes. When the kernel is
 * full, GnuTLS keeps the record it encrypted; the caller offers the same
 * bytes again (as with any non-blocking write) and that call flushes it first.
 */
gssize
pds_tls_conn_write(PdsTlsConn *conn, const guint8 *buf, gsize len, GError **error)
{
	gsize total = 0;

	g_return_val_if_fail(conn != NULL, -1);
	g_return_val_if_fail(conn->handshake_done, -1);
	g_return_val_if_fail(error == NULL || *error == NULL, -1);

	if (conn->buffered)
		return pds_tls_conn_write_buffered(conn, buf, len, error);
	while (total < len) {
		ssize_t rc = gnutls_record_send(conn->session, buf + total, len - total);
		if (rc > 0) {
			total += rc;
			continue;
		}
		if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) {
			if (total > 0)
				return total;
		}
		pds_tls_conn_set_error(conn, (int)rc, "write", error);
		return -1;
	}
	return total;
}

GIOCondition
pds_tls_conn_get_wait_condition(PdsTlsConn *conn)
{
	g_return_val_if_fail(conn != NULL, G_IO_IN);
	if (conn->buffered && conn->tx_pos < conn->tx->len)
		return G_IO_OUT;
	return gnutls_record_get_direction(conn->session) == 1 ? G_IO_OUT : G_IO_IN;
}

GSocket *
pds_tls_conn_get_socket(PdsTlsConn *conn)
{
	g_return_val_if_fail(conn != NULL, NULL);
	return conn->socket;
}

void
pds_tls_conn_close(PdsTlsConn *conn)
{
	g_return_if_fail(conn != NULL);

	/* Best effort close_notify: the socket is non-blocking and the peer may
	 * be gone, so whatever does not fit now is dropped. */
	if (conn->handshake_done)
		(void)gnutls_bye(conn->session, GNUTLS_SHUT_WR);
	g_socket_shutdown(conn->socket, FALSE, TRUE, NULL);
}
