/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Kubeconfig as kubectl reads it: --kubeconfig FILE, or KUBECONFIG with
 * several ':'-separated files merged (the first file to set a map key wins,
 * current-context from the first file that sets it), or ~/.kube/config.
 * A loaded PdsKubeConfig is one resolved context: cluster, user, namespace.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define PDS_KUBE_CONFIG_ERROR (pds_kube_config_error_quark())
GQuark pds_kube_config_error_quark(void);

typedef enum {
	PDS_KUBE_CONFIG_ERROR_NOT_FOUND, /* no kubeconfig file, or a named context/cluster/user
					    missing */
	PDS_KUBE_CONFIG_ERROR_INVALID,	 /* a file or field is malformed */
	PDS_KUBE_CONFIG_ERROR_EXEC,	 /* the exec credential plugin failed */
} PdsKubeConfigError;

/* users[].user.exec: a client.authentication.k8s.io credential plugin. */
typedef struct {
	gchar *api_version; /* client.authentication.k8s.io/v1 or v1beta1 */
	gchar *command;	    /* absolute when it was a relative path with a separator */
	GStrv args;
	GStrv env; /* NAME=VALUE, added to the environment of the command */
	gchar *install_hint;
	gboolean provide_cluster_info;
	gchar *interactive_mode;    /* Never, IfAvailable (default) or Always */
	gchar *cluster_config_json; /* clusters[].extensions client.authentication.k8s.io/exec */
} PdsKubeExecConfig;

typedef struct _PdsKubeConfig PdsKubeConfig;

/*
 * Loads and resolves. @kubeconfig: one file (--kubeconfig), or NULL for
 * $KUBECONFIG / ~/.kube/config. @context: NULL for current-context.
 */
PdsKubeConfig *pds_kube_config_load(const char *kubeconfig, const char *context, GError **error);
PdsKubeConfig *pds_kube_config_ref(PdsKubeConfig *config);
void pds_kube_config_unref(PdsKubeConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PdsKubeConfig, pds_kube_config_unref)

/* The files read, in merge order (for messages). */
const char *const *pds_kube_config_get_files(PdsKubeConfig *config);
const char *pds_kube_config_get_context_name(PdsKubeConfig *config);
const char *pds_kube_config_get_cluster_name(PdsKubeConfig *config);
/* The file that defined the cluster (for messages about its fields). */
const char *pds_kube_config_get_cluster_file(PdsKubeConfig *config);
const char *pds_kube_config_get_user_name(PdsKubeConfig *config);
/* The context's namespace, "default" when it has none. */
const char *pds_kube_config_get_namespace(PdsKubeConfig *config);

/* Cluster. */
const char *pds_kube_config_get_server(PdsKubeConfig *config);
/* PEM of certificate-authority(-data); NULL means the system trust store. */
GBytes *pds_kube_config_get_ca_pem(PdsKubeConfig *config);
gboolean pds_kube_config_get_insecure_skip_tls_verify(PdsKubeConfig *config);
const char *pds_kube_config_get_tls_server_name(PdsKubeConfig *config);

/* User: static parts. Any may be NULL. */
GBytes *pds_kube_config_get_client_cert_pem(PdsKubeConfig *config);
GBytes *pds_kube_config_get_client_key_pem(PdsKubeConfig *config);
const char *pds_kube_config_get_token(PdsKubeConfig *config);
const char *pds_kube_config_get_token_file(PdsKubeConfig *config);
const char *pds_kube_config_get_username(PdsKubeConfig *config);
const char *pds_kube_config_get_password(PdsKubeConfig *config);
const PdsKubeExecConfig *pds_kube_config_get_exec(PdsKubeConfig *config);

/* Reads tokenFile now (kubectl re-reads it, so rotated tokens work). */
gchar *pds_kube_config_read_token_file(PdsKubeConfig *config, GError **error);

G_END_DECLS
