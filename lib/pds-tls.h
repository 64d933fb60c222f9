/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Session credentials on GnuTLS: a session CA (ECDSA P-256), server and client
 * certificates it signs, PEM files, and TLS 1.3 sessions with mutual
 * authentication pinned to that CA. GnuTLS codes become GError here, once.
 */
#pragma once

#include <gio/gio.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

G_BEGIN_DECLS

#define PDS_TLS_ERROR (pds_tls_error_quark())
GQuark pds_tls_error_quark(void);

typedef enum {
	PDS_TLS_ERROR_FAILED,	    /* a GnuTLS call failed; message has gnutls_strerror */
	PDS_TLS_ERROR_PEER_REFUSED, /* certificate missing, untrusted, expired, wrong name */
	PDS_TLS_ERROR_INVALID_PEM,
	PDS_TLS_ERROR_CLOSED, /* the peer closed the connection */
} PdsTlsError;

/* A certificate and its private key, in memory. */
typedef struct _PdsTlsIdentity PdsTlsIdentity;

typedef enum {
	PDS_TLS_USAGE_SERVER,
	PDS_TLS_USAGE_CLIENT,
} PdsTlsUsage;

/* The session CA: makes identities. */
PdsTlsIdentity *pds_tls_identity_new_ca(const char *common_name, GError **error);
/*
 * Issues a leaf certificate signed by @ca. @hosts: DNS names or IP literals
 * for subjectAltName (may be NULL). @not_before/@lifetime_secs let tests make
 * expired certificates.
 */
PdsTlsIdentity *pds_tls_identity_issue(PdsTlsIdentity *ca,
				       const char *common_name,
				       PdsTlsUsage usage,
				       const char *const *hosts,
				       gint64 not_before,
				       guint lifetime_secs,
				       GError **error);
PdsTlsIdentity *
pds_tls_identity_new_from_pem(const char *cert_pem, const char *key_pem, GError **error);
PdsTlsIdentity *
pds_tls_identity_new_from_files(const char *cert_path, const char *key_path, GError **error);
/*
 * A certificate without its private key, e.g. the session CA as a source
 * receives it (--ca CA.crt): usable only as the @ca of a connection.
 */
PdsTlsIdentity *pds_tls_identity_new_trust_from_file(const char *cert_path, GError **error);
void pds_tls_identity_free(PdsTlsIdentity *identity);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PdsTlsIdentity, pds_tls_identity_free)

gchar *pds_tls_identity_get_cert_pem(PdsTlsIdentity *identity);
gchar *pds_tls_identity_get_key_pem(PdsTlsIdentity *identity);
const char *pds_tls_identity_get_common_name(PdsTlsIdentity *identity);
/* "sha256:<hex>" of the DER certificate: what a joining agent pins. */
gchar *pds_tls_identity_get_fingerprint(PdsTlsIdentity *identity);
/* Writes <dir>/<name>.crt (0644) and <dir>/<name>.key (0600) atomically. */
gboolean
pds_tls_identity_save(PdsTlsIdentity *identity, const char *dir, const char *name, GError **error);

/* Borrowed GnuTLS handles for the session code. */
gnutls_x509_crt_t pds_tls_identity_get_crt(PdsTlsIdentity *identity);
gnutls_x509_privkey_t pds_tls_identity_get_key(PdsTlsIdentity *identity);

/*
 * A TLS 1.3 connection over a connected, non-blocking socket, driven by the
 * GLib main loop. The server requires a client certificate signed by @ca; the
 * client verifies the server against @ca. Reads and writes never block:
 * they return G_IO_ERROR_WOULD_BLOCK and the caller waits on
 * pds_tls_conn_create_source().
 */
typedef struct _PdsTlsConn PdsTlsConn;

PdsTlsConn *pds_tls_conn_new_server(GSocket *socket,
				    PdsTlsIdentity *identity,
				    PdsTlsIdentity *ca,
				    GError **error);
PdsTlsConn *pds_tls_conn_new_client(GSocket *socket,
				    PdsTlsIdentity *identity,
				    PdsTlsIdentity *ca,
				    const char *server_name,
				    GError **error);
/*
 * The hub's ingest when join is on: sends its chain with @ca (so joining
 * clients can pin it) and lets a client without a certificate complete the
 * handshake; a certificate that is presented must still chain to @ca. The
 * caller checks pds_tls_conn_get_peer_verified() and allows such a connection
 * nothing but the join exchange.
 */
PdsTlsConn *pds_tls_conn_new_server_optional(GSocket *socket,
					     PdsTlsIdentity *identity,
					     PdsTlsIdentity *ca,
					     GError **error);
/*
 * A client without a client certificate and without a CA file: the server's
 * chain must contain a CA certificate whose SHA-256 fingerprint is
 * @ca_fingerprint ("sha256:<hex>", as pds_tls_identity_get_fingerprint()),
 * and the server certificate must chain to it and name @server_name.
 */
PdsTlsConn *pds_tls_conn_new_client_pinned(GSocket *socket,
					   const char *ca_fingerprint,
					   const char *server_name,
					   GError **error);
/* After the handshake: TRUE when the peer presented a certificate that verified. */
gboolean pds_tls_conn_get_peer_verified(PdsTlsConn *conn);
/* Pinned client, after the handshake: the pinned CA (certificate only), or NULL. */
PdsTlsIdentity *pds_tls_conn_dup_pinned_ca(PdsTlsConn *conn);
void pds_tls_conn_free(PdsTlsConn *conn);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PdsTlsConn, pds_tls_conn_free)

/* TRUE when done; FALSE with G_IO_ERROR_WOULD_BLOCK to retry, other errors final. */
gboolean pds_tls_conn_handshake(PdsTlsConn *conn, GError **error);
/* Common name of the verified peer certificate (after the handshake). */
const char *pds_tls_conn_get_peer_name(PdsTlsConn *conn);
/* Bytes read (0 = orderly close), or -1 with error (WOULD_BLOCK to retry). */
gssize pds_tls_conn_read(PdsTlsConn *conn, guint8 *buf, gsize len, GError **error);
gssize pds_tls_conn_write(PdsTlsConn *conn, const guint8 *buf, gsize len, GError **error);
/*
 * After the handshake: from now on records are sent and received through
 * buffers, so a stream of records costs one system call per 256 KiB rather
 * than one or two per 16 KiB record. A write may then leave encrypted records
 * waiting for the socket: the caller sends them with pds_tls_conn_flush()
 * when it has nothing more to write (WOULD_BLOCK: wait for
 * pds_tls_conn_get_wait_condition()). Reads must go on until WOULD_BLOCK
 * or until pds_tls_conn_is_drained(): data read ahead does not make the
 * socket readable.
 */
void pds_tls_conn_set_buffered(PdsTlsConn *conn);
/*
 * Buffered only: TRUE when everything read so far has been returned and the
 * last recv() got less than it asked for, so the socket had nothing more.
 * A reader may then go back to poll() instead of reading once more only to
 * learn WOULD_BLOCK (poll() reports whatever arrives later).
 */
gboolean pds_tls_conn_is_drained(PdsTlsConn *conn);
/* TRUE when nothing waits to be sent; FALSE with WOULD_BLOCK to retry, other errors final. */
gboolean pds_tls_conn_flush(PdsTlsConn *conn, GError **error);
/* Conditions to wait for, after a WOULD_BLOCK (read may need G_IO_OUT and vice versa). */
GIOCondition pds_tls_conn_get_wait_condition(PdsTlsConn *conn);
GSocket *pds_tls_conn_get_socket(PdsTlsConn *conn);
void pds_tls_conn_close(PdsTlsConn *conn);

G_END_DECLS
