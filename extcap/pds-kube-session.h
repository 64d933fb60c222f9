/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A Kubernetes capture session (DESIGN.md "Kubernetes", "Security"): with
 * the user's kubeconfig only, the controller makes a session namespace
 * podscope-<id> with the hub (Secret with the session CA, Deployment,
 * ClusterIP Service, ServiceAccount, ClusterRole and binding), waits for it,
 * reaches its API through a port-forward, taps every running pod that
 * matches the selector with an ephemeral agent that joins the hub with a
 * single-use token, keeps tapping pods that appear, pushes pod and service
 * names to the hub, and deletes everything again on stop.
 *
 *   session = pds_kube_session_new(&options);
 *   pds_kube_session_start(session, cancellable, &error);   hub ready, targets tapped
 *   pds_kube_session_stream_async(session, out, ...);       live pcapng -> @out
 *   pds_kube_session_stop(session, &error);                  teardown; error lists leftovers
 *
 * Progress lines ("podscope: ...") go to the progress function (stderr by
 * default). Everything runs on the thread-default main context of the caller.
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define PDS_KUBE_SESSION_ERROR (pds_kube_session_error_quark())
GQuark pds_kube_session_error_quark(void);

typedef enum {
	PDS_KUBE_SESSION_ERROR_FAILED,
	PDS_KUBE_SESSION_ERROR_NO_EPHEMERAL, /* the cluster has no ephemeral containers */
	PDS_KUBE_SESSION_ERROR_POD_SECURITY, /* Pod Security Admission refused the agent */
	PDS_KUBE_SESSION_ERROR_TIMEOUT,
	PDS_KUBE_SESSION_ERROR_NO_TARGETS,
	PDS_KUBE_SESSION_ERROR_API_LOST,  /* the API went away during the session */
	PDS_KUBE_SESSION_ERROR_LEFTOVERS, /* teardown could not remove everything */
} PdsKubeSessionError;

typedef enum {
	PDS_KUBE_ENVELOPE_EXPORTED_PDU,
	PDS_KUBE_ENVELOPE_CUSTOM,
} PdsKubeEnvelope;

typedef struct {
	const char *kubeconfig;	   /* NULL: $KUBECONFIG or ~/.kube/config */
	const char *context;	   /* NULL: current-context */
	const char *namespace_;	   /* NULL: the context's namespace */
	gboolean all_namespaces;   /* -A */
	const char *selector;	   /* -l, may be NULL (every pod) */
	const char *pod_regex;	   /* --pod */
	const char *container;	   /* --container: targetContainerName */
	const char *filter;	   /* BPF for the agents */
	const char *interface;	   /* NULL: eth0 */
	const char *agent_image;   /* NULL: ghcr.io/podscope/podscope:<version> */
	const char *hub_image;	   /* NULL: the same */
	gboolean force_privileged; /* privileged: true instead of NET_RAW */
	PdsKubeEnvelope envelope;
	guint hub_timeout_secs; /* 0: 180 */
} PdsKubeSessionOptions;

typedef void (*PdsKubeProgressFunc)(const char *line, gpointer user_data);

#define PDS_TYPE_KUBE_SESSION (pds_kube_session_get_type())
G_DECLARE_FINAL_TYPE(PdsKubeSession, pds_kube_session, PDS, KUBE_SESSION, GObject)

PdsKubeSession *pds_kube_session_new(const PdsKubeSessionOptions *options);
/* NULL: stderr. The extcap sends them to its log file. */
void pds_kube_session_set_progress_func(PdsKubeSession *self,
					PdsKubeProgressFunc func,
					gpointer user_data);

/*
 * Steps 1-11 of the contract: objects, hub ready, port-forward, names,
 * targets tapped, watches running. On failure (or @cancellable) everything
 * made so far is deleted again before it returns.
 */
gboolean pds_kube_session_start(PdsKubeSession *self, GCancellable *cancellable, GError **error);

const char *pds_kube_session_get_id(PdsKubeSession *self);
/* "podscope-<id>" */
const char *pds_kube_session_get_namespace(PdsKubeSession *self);
/* After start: the hub API through the port-forward, and its bearer token. */
gchar *pds_kube_session_dup_api_url(PdsKubeSession *self);
const char *pds_kube_session_get_token(PdsKubeSession *self);
/*
 * After start: a local listener on 127.0.0.1:@port (0 picks one) whose
 * connections are port-forwarded to the hub's API, web viewer included, for
 * a browser. Returns the port (0 with @error set). Closed by stop.
 */
guint16 pds_kube_session_open_viewer(PdsKubeSession *self, guint16 port, GError **error);
/* Pods an agent was injected into, "ns/pod". */
GStrv pds_kube_session_dup_tapped(PdsKubeSession *self);

/*
 * Streams the hub's capture (GET /v1/capture.pcapng?follow=1&envelope=...)
 * into @out, whole blocks only, flushed per read. Completes when the session
 * stops or the hub ends the stream (success), when @out's reader went away
 * (success; pds_kube_session_get_output_closed() is TRUE), or on an error.
 */
void pds_kube_session_stream_async(PdsKubeSession *self,
				   GOutputStream *out,
				   GCancellable *cancellable,
				   GAsyncReadyCallback callback,
				   gpointer user_data);
gboolean pds_kube_session_stream_finish(PdsKubeSession *self, GAsyncResult *result, GError **error);
gboolean pds_kube_session_get_output_closed(PdsKubeSession *self);
guint64 pds_kube_session_get_bytes_streamed(PdsKubeSession *self);

/*
 * Emitted (signal "lost" (const GError *)) when the API connection is gone
 * for good during the session: the caller should stop.
 */

/*
 * Teardown: ends the stream, stops the port-forward and watches, deletes the
 * namespace and the cluster-scoped objects and waits (25 s at most) until
 * the API answers 404 for each. FALSE with PDS_KUBE_SESSION_ERROR_LEFTOVERS
 * naming what remains. Safe to call more than once and before start.
 */
gboolean pds_kube_session_stop(PdsKubeSession *self, GError **error);

/*
 * Convenience for the CLI: start, call @started, stream into @out until
 * SIGINT/SIGTERM, the reader goes away, the hub ends or the API is lost;
 * then stop. SIGINT/SIGTERM during start abort it (and clean up).
 */
typedef void (*PdsKubeSessionStartedFunc)(PdsKubeSession *self, gpointer user_data);
gboolean pds_kube_session_run(PdsKubeSession *self,
			      GOutputStream *out,
			      PdsKubeSessionStartedFunc started,
			      gpointer user_data,
			      GError **error);

/*
 * For the extcap: the whole session (options->envelope chooses how records
 * are written) into @fd (a fifo; left open), progress lines to @progress
 * (NULL: stderr). Returns once SIGINT/SIGTERM arrive, the reader closes the
 * fifo, the hub ends or the API is lost, after the teardown.
 */
gboolean pds_kube_session_run_to_fd(const PdsKubeSessionOptions *options,
				    int fd,
				    PdsKubeProgressFunc progress,
				    gpointer user_data,
				    GError **error);

/*
 * podscope clean: deletes every session namespace labelled as ours whose
 * owner process on this host is gone (@all: every session, whoever owns it),
 * with its cluster-scoped objects, and cluster-scoped objects whose session
 * namespace no longer exists. Waits until they are gone. @n_deleted: sessions
 * removed.
 */
gboolean pds_kube_clean(const char *kubeconfig,
			const char *context,
			gboolean all,
			PdsKubeProgressFunc progress,
			gpointer user_data,
			guint *n_deleted,
			GError **error);

/* Builders of what the controller sends (exposed for tests). */
JsonNode *pds_kube_session_build_ephemeral_patch(const char *session_id,
						 const char *image,
						 const char *const *args,
						 const char *hub,
						 const char *token,
						 const char *ca_fingerprint,
						 const char *pod_namespace,
						 const char *pod,
						 const char *filter,
						 const char *container,
						 const char *security_mode);

G_END_DECLS
