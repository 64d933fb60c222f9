/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Join: how a source that holds no certificate gets one (DESIGN.md,
 * "Security"). The session controller gives each tapped pod a single-use
 * token bound to it and the fingerprint of the session CA; the source
 * connects to the hub without a client certificate, pins the CA, sends the
 * token with a certificate request, and receives a client certificate whose
 * common name is "agent:<namespace>/<pod>".
 *
 * Token: "<namespace>/<pod>/<nonce: 16 hex>/<hex HMAC-SHA256(secret,
 * namespace "/" pod "/" nonce)>".
 */
#pragma once

#include <gio/gio.h>

#include "pds-tls.h"

G_BEGIN_DECLS

#define PDS_JOIN_ERROR (pds_join_error_quark())
GQuark pds_join_error_quark(void);

typedef enum {
	PDS_JOIN_ERROR_BAD_TOKEN, /* malformed, or the HMAC does not match */
	PDS_JOIN_ERROR_REUSED,	  /* the nonce was used before */
	PDS_JOIN_ERROR_MISMATCH,  /* the token is for another pod than the one asking */
	PDS_JOIN_ERROR_BAD_CSR,
	PDS_JOIN_ERROR_REFUSED, /* the hub refused the join (its reason in the message) */
	PDS_JOIN_ERROR_FAILED,
} PdsJoinError;

#define PDS_JOIN_NONCE_LEN 16 /* hex digits */

typedef struct {
	gchar *namespace_;
	gchar *pod;
	gchar *nonce; /* 16 lowercase hex digits */
	gchar *mac;   /* 64 lowercase hex digits */
} PdsJoinToken;

void pds_join_token_free(PdsJoinToken *token);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PdsJoinToken, pds_join_token_free)

/* A new token with a fresh random nonce. */
gchar *pds_join_token_new(const guint8 *secret,
			  gsize secret_len,
			  const char *namespace_,
			  const char *pod,
			  GError **error);
/* Splits a token; checks its shape only (PDS_JOIN_ERROR_BAD_TOKEN). */
PdsJoinToken *pds_join_token_parse(const char *text, GError **error);
/* Checks the HMAC in constant time (PDS_JOIN_ERROR_BAD_TOKEN). */
gboolean pds_join_token_verify(const PdsJoinToken *token,
			       const guint8 *secret,
			       gsize secret_len,
			       GError **error);

/* The common name a joined source's certificate carries. */
gchar *pds_join_common_name(const char *namespace_, const char *pod);
/* Splits "agent:<namespace>/<pod>"; FALSE for any other name. */
gboolean pds_join_parse_common_name(const char *common_name, gchar **namespace_, gchar **pod);

/* A new ECDSA P-256 key and a PEM certificate request for @common_name, signed by it. */
gchar *pds_join_csr_new(const char *common_name, gchar **key_pem, GError **error);
/*
 * The CA's side: checks that @csr_pem is self-signed by its key and asks for
 * @common_name, and returns a PEM client certificate (clientAuth) for it.
 * @lifetime_secs 0 = one day.
 */
gchar *pds_join_sign_csr(PdsTlsIdentity *ca,
			 const char *csr_pem,
			 const char *common_name,
			 guint lifetime_secs,
			 GError **error);

/* What a joining source knows. */
typedef struct {
	const char *hub_host;
	guint16 hub_port;
	const char *server_name; /* expected in the hub certificate; NULL = "podscope-hub" */
	const char *token;
	const char *ca_fingerprint; /* "sha256:<hex>" */
	const char *namespace_;	    /* the identity the source will claim */
	const char *pod;
	guint timeout_secs; /* for the whole exchange; 0 = 15 */
} PdsJoinRequest;

/*
 * Connects (blocking, bounded by the timeout), pins the CA, sends the token
 * and a CSR, and returns the issued identity (in memory only) and the pinned
 * CA certificate. PDS_JOIN_ERROR_REFUSED carries the hub's reason; a CA that
 * does not match the pin is PDS_TLS_ERROR_PEER_REFUSED.
 */
gboolean pds_join_run(const PdsJoinRequest *request,
		      PdsTlsIdentity **identity,
		      PdsTlsIdentity **ca,
		      GError **error);

G_END_DECLS
