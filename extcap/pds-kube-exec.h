/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Exec credential plugins (client.authentication.k8s.io/v1 and v1beta1): run
 * the command with KUBERNETES_EXEC_INFO, read an ExecCredential from stdout.
 */
#pragma once

#include <gio/gio.h>

#include "pds-kube-config.h"

G_BEGIN_DECLS

typedef struct {
	gchar *token;			/* or NULL */
	gchar *client_certificate_data; /* PEM or NULL */
	gchar *client_key_data;		/* PEM or NULL */
	GDateTime *expiration;		/* NULL: valid until the server says 401 */
} PdsKubeExecCredential;

void pds_kube_exec_credential_free(PdsKubeExecCredential *cred);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PdsKubeExecCredential, pds_kube_exec_credential_free)

/* TRUE when @cred expires within @margin_secs from now. */
gboolean pds_kube_exec_credential_is_expired(PdsKubeExecCredential *cred, gint64 margin_secs);

/* Runs the plugin of @config's user (which must have one), blocking. */
PdsKubeExecCredential *
pds_kube_exec_run(PdsKubeConfig *config, GCancellable *cancellable, GError **error);

/* Parses an ExecCredential document; @api_version is the one requested. */
PdsKubeExecCredential *
pds_kube_exec_credential_parse(const char *json, const char *api_version, GError **error);

G_END_DECLS
