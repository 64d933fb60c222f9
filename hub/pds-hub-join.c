/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "PdsHub"

#include "pds-hub-join.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "pds-join.h"

#define PDS_HUB_JOIN_NONCES_FILE "join-nonces"

struct _PdsHubJoin {
	PdsTlsIdentity *ca; /* borrowed */
	PdsHubNames *names; /* borrowed */
	GBytes *secret;
	gchar *nonces_path;
	GHashTable *used; /* nonce -> nonce */
};

void
pds_hub_join_free(PdsHubJoin *join)
{
	if (join == NULL)
		return;
	g_clear_pointer(&join->secret, g_bytes_unref);
	g_clear_pointer(&join->used, g_hash_table_unref);
	g_free(join->nonces_path);
	g_free(join);
}

PdsHubJoin *
pds_hub_join_new(PdsTlsIdentity *ca,
		 const char *secret_path,
		 const char *data_dir,
		 PdsHubNames *names,
		 GError **error)
{
	g_autoptr(PdsHubJoin) join = g_new0(PdsHubJoin, 1);
	g_autofree gchar *secret = NULL;
	g_autofree gchar *nonces = NULL;
	g_autoptr(GError) local = NULL;

	g_return_val_if_fail(ca != NULL, NULL);
	g_return_val_if_fail(secret_path != NULL, NULL);
	g_return_val_if_fail(data_dir != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (pds_tls_identity_get_key(ca) == NULL) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				    "join needs the session CA key (--ca-key)");
		return NULL;
	}
	if (!g_file_get_contents(secret_path, &secret, NULL, error)) {
		g_prefix_error(error, "cannot read the join secret: ");
		return NULL;
	}
	g_strstrip(secret);
	if (strlen(secret) < 16) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			    "the join secret in %s is shorter than 16 characters; the session "
			    "controller writes 64 hex digits",
			    secret_path);
		return NULL;
	}
	join->ca = ca;
	join->names = names;
	join->secret = g_bytes_new(secret, strlen(secret));
	memset(secret, 0, strlen(secret));
	join->used = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	join->nonces_path = g_build_filename(data_dir, PDS_HUB_JOIN_NONCES_FILE, NULL);

	if (g_mkdir_with_parents(data_dir, 0700) != 0) {
		int errsv = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errsv),
			    "cannot create the data directory %s for used join tokens: %s",
			    data_dir, g_strerror(errsv));
		return NULL;
	}
	if (g_file_get_contents(join->nonces_path, &nonces, NULL, &local)) {
		g_auto(GStrv) lines = g_strsplit(nonces, "\n", 0);
		for (guint i = 0; lines[i] != NULL; i++) {
			g_strstrip(lines[i]);
			if (lines[i][0] != '\0')
				g_hash_table_add(join->used, g_strdup(lines[i]));
		}
		g_message("join: %u join tokens were used before this start (%s)",
			  g_hash_table_size(join->used), join->nonces_path);
	} else if (!g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
		/* Without the list, tokens could be replayed: refuse to start. */
		g_propagate_prefixed_error(error, g_steal_pointer(&local),
					   "cannot read the used join tokens: ");
		return NULL;
	}
	return g_steal_pointer(&join);
}

/* Appends @nonce to the persistent list before the certificate leaves. */
static gboolean
pds_hub_join_remember(PdsHubJoin *join, const char *nonce, GError **error)
{
	g_autofree gchar *line = g_strdup_printf("%s\n", nonce);
	gsize len = strlen(line);
	int fd;
	int errsv = 0;

	fd = g_open(join->nonces_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, line, len) != (gssize)len || fsync(fd) != 0)
		errsv = errno != 0 ? errno : EIO;
	if (fd >= 0)
		close(fd);
	if (errsv != 0) {
		g_set_error(error, PDS_JOIN_ERROR, PDS_JOIN_ERROR_FAILED,
			    "cannot record the used join token in %s (%s); refusing, since it "
			    "could be used again after a restart",
			    join->nonces_path, g_strerror(errsv));
		return FALSE;
	}
	g_hash_table_add(join->used, g_strdup(nonce));
	return TRUE;
}

/* When the controller named the pod, the connection must come from its address. */
static gboolean
pds_hub_join_check_peer(PdsHubJoin *join,
			const PdsJoinToken *token,
			GInetAddress *peer,
			GError **error)
{
	g_autofree gchar *name = g_strdup_printf("%s.%s", token->pod, token->namespace_);
	g_autoptr(GPtrArray) addrs = NULL;
	g_autofree gchar *peer_text = NULL;

	if (join->names == NULL || peer == NULL)
		return TRUE;
	addrs = pds_hub_names_lookup_addresses(join->names, name);
	if (addrs->len == 0)
		return TRUE;
	for (guint i = 0; i < addrs->len; i++) {
		if (g_inet_address_equal(g_ptr_array_index(addrs, i), peer))
			return TRUE;
	}
	peer_text = g_inet_address_to_string(peer);
	g_set_error(error, PDS_JOIN_ERROR, PDS_JOIN_ERROR_MISMATCH,
		    "the join token for %s/%s was presented from %s, which is not that pod's "
		    "address",
		    token->namespace_, token->pod, peer_text);
	return FALSE;
}

gchar *
pds_hub_join_handle(PdsHubJoin *join,
		    const char *token_text,
		    const char *csr_pem,
		    const char *claimed_namespace,
		    const char *claimed_pod,
		    GInetAddress *peer,
		    GError **error)
{
	g_autoptr(PdsJoinToken) token = NULL;
	g_autofree gchar *cn = NULL;
	g_autofree gchar *cert = NULL;
	gsize secret_len;
	const guint8 *secret;

	g_return_val_if_fail(join != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	token = pds_join_token_parse(token_text, error);
	if (token == NULL)
		return NULL;
	secret = g_bytes_get_data(join->secret, &secret_len);
	if (!pds_join_token_verify(token, secret, secret_len, error))
		return NULL;
	if (g_hash_table_contains(join->used, token->nonce)) {
		g_set_error(error, PDS_JOIN_ERROR, PDS_JOIN_ERROR_REUSED,
			    "the join token for %s/%s (nonce %s) was already used; every token "
			    "works once",
			    token->namespace_, token->pod, token->nonce);
		return NULL;
	}
	if (g_strcmp0(claimed_namespace, token->namespace_) != 0 ||
	    g_strcmp0(claimed_pod, token->pod) != 0) {
		g_set_error(error, PDS_JOIN_ERROR, PDS_JOIN_ERROR_MISMATCH,
			    "the join token is for %s/%s but the source claims to be %s/%s",
			    token->namespace_, token->pod,
			    claimed_namespace != NULL ? claimed_namespace : "(no namespace)",
			    claimed_pod != NULL ? claimed_pod : "(no pod)");
		return NULL;
	}
	if (!pds_hub_join_check_peer(join, token, peer, error))
		return NULL;
	if (csr_pem == NULL) {
		g_set_error_literal(error, PDS_JOIN_ERROR, PDS_JOIN_ERROR_BAD_CSR,
				    "the join request carries no certificate request");
		return NULL;
	}
	cn = pds_join_common_name(token->namespace_, token->pod);
	cert = pds_join_sign_csr(join->ca, csr_pem, cn, 0, error);
	if (cert == NULL)
		return NULL;
	if (!pds_hub_join_remember(join, token->nonce, error))
		return NULL;
	return g_steal_pointer(&cert);
}

guint
pds_hub_join_get_n_used(PdsHubJoin *join)
{
	g_return_val_if_fail(join != NULL, 0);
	return g_hash_table_size(join->used);
}
