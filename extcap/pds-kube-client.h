/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Kubernetes API client on libsoup 3 + json-glib: TLS against the cluster CA
 * (or tls-server-name, or insecure-skip-tls-verify), client certificates,
 * bearer tokens, token files and exec credential plugins (cached, refreshed
 * on expiry and once on 401). Requests return the decoded JSON body; API
 * failures become PDS_KUBE_API_ERROR errors whose code is the HTTP status and
 * whose message is the Status.message plus what to do.
 *
 * Threads: requests, watches and port-forwards are driven by the
 * thread-default main context of the thread that made the client;
 * pds_kube_client_new_message() and pds_kube_client_new_session() may be
 * called from any thread (port-forward tunnels use them).
 */
#pragma once

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "pds-kube-config.h"

G_BEGIN_DECLS

/* Error code = HTTP status (401, 403, 404, 409, 410, 422, ...). */
#define PDS_KUBE_API_ERROR (pds_kube_api_error_quark())
GQuark pds_kube_api_error_quark(void);

/* For PDS_KUBE_API_ERROR errors: the parts of the API's Status. */
guint pds_kube_api_error_get_status(const GError *error);
/* Status.reason ("NotFound", "AlreadyExists", "Forbidden", "Invalid", ...) or NULL. */
const char *pds_kube_api_error_get_reason(const GError *error);
/* Status.message as the API sent it (without our hint), or NULL. */
const char *pds_kube_api_error_get_api_message(const GError *error);
/* Status.details.name / .kind; NULL when absent or empty. */
const char *pds_kube_api_error_get_details_name(const GError *error);
const char *pds_kube_api_error_get_details_kind(const GError *error);

typedef enum {
	PDS_KUBE_PATCH_STRATEGIC, /* application/strategic-merge-patch+json */
	PDS_KUBE_PATCH_MERGE,	  /* application/merge-patch+json */
	PDS_KUBE_PATCH_JSON,	  /* application/json-patch+json */
} PdsKubePatchType;

#define PDS_TYPE_KUBE_CLIENT (pds_kube_client_get_type())
G_DECLARE_FINAL_TYPE(PdsKubeClient, pds_kube_client, PDS, KUBE_CLIENT, GObject)

PdsKubeClient *pds_kube_client_new(PdsKubeConfig *config, GError **error);
PdsKubeConfig *pds_kube_client_get_config(PdsKubeClient *self);
/* The context's namespace. */
const char *pds_kube_client_get_namespace(PdsKubeClient *self);
SoupSession *pds_kube_client_get_session(PdsKubeClient *self);

/*
 * A message for @path (absolute, may carry a query) with TLS checks and
 * credentials attached; for callers that speak their own protocol on it
 * (watch streams, port-forward WebSockets). Runs an exec plugin if the cached
 * credential is missing or expired.
 */
SoupMessage *pds_kube_client_new_message(PdsKubeClient *self,
					 const char *method,
					 const char *path,
					 GError **error);
/* Forces the next credential lookup to re-run the exec plugin (after a 401). */
void pds_kube_client_invalidate_credential(PdsKubeClient *self);
/* A new session with the same TLS settings, for use in another thread/context. */
SoupSession *pds_kube_client_new_session(PdsKubeClient *self);
/* Turns a non-2xx response with @body into a PDS_KUBE_API_ERROR (or TLS/IO error). */
GError *pds_kube_client_error_from_response(
	PdsKubeClient *self, SoupMessage *msg, GBytes *body, const char *method, const char *path);

/*
 * Generic request: @body (may be NULL) is sent as @content_type (NULL =
 * application/json). Returns the decoded response (a JSON null node for an
 * empty body).
 */
JsonNode *pds_kube_client_request(PdsKubeClient *self,
				  const char *method,
				  const char *path,
				  const char *content_type,
				  JsonNode *body,
				  GCancellable *cancellable,
				  GError **error);
void pds_kube_client_request_async(PdsKubeClient *self,
				   const char *method,
				   const char *path,
				   const char *content_type,
				   JsonNode *body,
				   GCancellable *cancellable,
				   GAsyncReadyCallback callback,
				   gpointer user_data);
JsonNode *pds_kube_client_request_finish(PdsKubeClient *self, GAsyncResult *res, GError **error);

/* Helpers; the async variants finish with pds_kube_client_request_finish(). */
JsonNode *pds_kube_client_get(PdsKubeClient *self,
			      const char *path,
			      GCancellable *cancellable,
			      GError **error);
void pds_kube_client_get_async(PdsKubeClient *self,
			       const char *path,
			       GCancellable *cancellable,
			       GAsyncReadyCallback callback,
			       gpointer user_data);
/* GET a collection with optional selectors (escaped here); returns the List. */
JsonNode *pds_kube_client_list(PdsKubeClient *self,
			       const char *path,
			       const char *label_selector,
			       const char *field_selector,
			       GCancellable *cancellable,
			       GError **error);
void pds_kube_client_list_async(PdsKubeClient *self,
				const char *path,
				const char *label_selector,
				const char *field_selector,
				GCancellable *cancellable,
				GAsyncReadyCallback callback,
				gpointer user_data);
JsonNode *pds_kube_client_create(PdsKubeClient *self,
				 const char *path,
				 JsonNode *object,
				 GCancellable *cancellable,
				 GError **error);
void pds_kube_client_create_async(PdsKubeClient *self,
				  const char *path,
				  JsonNode *object,
				  GCancellable *cancellable,
				  GAsyncReadyCallback callback,
				  gpointer user_data);
JsonNode *pds_kube_client_patch(PdsKubeClient *self,
				const char *path,
				PdsKubePatchType type,
				JsonNode *patch,
				GCancellable *cancellable,
				GError **error);
void pds_kube_client_patch_async(PdsKubeClient *self,
				 const char *path,
				 PdsKubePatchType type,
				 JsonNode *patch,
				 GCancellable *cancellable,
				 GAsyncReadyCallback callback,
				 gpointer user_data);
/* @propagation_policy: NULL, "Foreground", "Background" or "Orphan". */
JsonNode *pds_kube_client_delete(PdsKubeClient *self,
				 const char *path,
				 const char *propagation_policy,
				 GCancellable *cancellable,
				 GError **error);
void pds_kube_client_delete_async(PdsKubeClient *self,
				  const char *path,
				  const char *propagation_policy,
				  GCancellable *cancellable,
				  GAsyncReadyCallback callback,
				  gpointer user_data);

/* GET /version; @major_minor (optional) gets "1.29". Returns the version object. */
JsonNode *pds_kube_client_get_version(PdsKubeClient *self,
				      gchar **major_minor,
				      GCancellable *cancellable,
				      GError **error);

/* Small JSON helpers for callers: a member path such as "metadata.name"; NULL if absent. */
const char *pds_kube_json_get_string(JsonNode *node, const char *dotted_path);
JsonNode *pds_kube_json_get_node(JsonNode *node, const char *dotted_path);

G_END_DECLS
