/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The hub's side of join (DESIGN.md, "Security"): a source without a client
 * certificate presents a single-use token bound to its pod and a certificate
 * request; the hub checks the token's HMAC with the session's join secret,
 * that its nonce was never used (used nonces are kept in the data directory,
 * so a restarted hub still refuses them), that it names the pod the source
 * claims to be (and, when the controller told the hub the pod's address, that
 * the connection comes from it), and signs a client certificate for
 * "agent:<namespace>/<pod>" with the session CA.
 */
#pragma once

#include <gio/gio.h>

#include "pds-hub-names.h"
#include "pds-tls.h"

G_BEGIN_DECLS

typedef struct _PdsHubJoin PdsHubJoin;

/*
 * @ca: the session CA with its key (borrowed). @secret_path: the join secret
 * (its content without surrounding whitespace is the HMAC key). @data_dir:
 * where "join-nonces" is kept. @names: the hub's names (borrowed), for the
 * address check.
 */
PdsHubJoin *pds_hub_join_new(PdsTlsIdentity *ca,
			     const char *secret_path,
			     const char *data_dir,
			     PdsHubNames *names,
			     GError **error);
void pds_hub_join_free(PdsHubJoin *join);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PdsHubJoin, pds_hub_join_free)

/*
 * Checks one join request and returns the PEM certificate to send back, or
 * NULL with a PDS_JOIN_ERROR saying why it was refused. @claimed_namespace /
 * @claimed_pod: the identity the source's Section Header Block claims; @peer:
 * the address the connection comes from (may be NULL).
 */
gchar *pds_hub_join_handle(PdsHubJoin *join,
			   const char *token,
			   const char *csr_pem,
			   const char *claimed_namespace,
			   const char *claimed_pod,
			   GInetAddress *peer,
			   GError **error);
guint pds_hub_join_get_n_used(PdsHubJoin *join);

G_END_DECLS
