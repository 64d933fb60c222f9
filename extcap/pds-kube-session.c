/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Kubernetes session controller. The order of the objects, their labels
 * and the agent's PATCH follow the Kubernetes contract of the team
 * (session namespace, ServiceAccount, ClusterRole + binding, Service,
 * Secret, Deployment, wait, port-forward, names, targets, watch, teardown).
 */
#include "config.h"

#define G_LOG_DOMAIN "PdsKube"

#include "pds-kube-session.h"

#include <errno.h>
#include <glib-unix.h>
#include <gio/gunixoutputstream.h>
#include <gnutls/crypto.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "pds-join.h"
#include "pds-kube-client.h"
#include "pds-kube-config.h"
#include "pds-kube-portforward.h"
#include "pds-kube-watch.h"
#include "pds-tls.h"

#define PDS_KUBE_MANAGED_BY	"app.kubernetes.io/managed-by"
#define PDS_KUBE_SESSION_LABEL	"podscope/session"
#define PDS_KUBE_NAME_LABEL	"app.kubernetes.io/name"
#define PDS_KUBE_HUB_NAME	"podscope-hub"
#define PDS_KUBE_SECRET_NAME	"podscope-hub-tls"
#define PDS_KUBE_INGEST_PORT	7443
#define PDS_KUBE_API_PORT	8080
#define PDS_KUBE_DEFAULT_IMAGE	"ghcr.io/podscope/podscope:" PACKAGE_VERSION
#define PDS_KUBE_TEARDOWN_SECS	25
#define PDS_KUBE_HUB_TIMEOUT	180
#define PDS_KUBE_HEALTH_TIMEOUT 30
#define PDS_KUBE_STREAM_READ	(256 * 1024)
#define PDS_KUBE_MIN_MINOR	23
/* A watch that cannot reconnect for this long means the API is gone. */
#define PDS_KUBE_API_LOST_SECS 30

G_DEFINE_QUARK(pds_kube_session_error_quark, pds_kube_session_error)

typedef struct {
	gchar *key;	   /* "ns/pod" */
	gchar *last_state; /* what was last reported about its agent */
} PdsKubeTapped;

struct _PdsKubeSession {
	GObject parent_instance;

	/* options (owned copies) */
	gchar *kubeconfig;
	gchar *context;
	gchar *target_namespace;
	gboolean all_namespaces;
	gchar *selector;
	GRegex *pod_regex;
	gchar *pod_regex_text;
	gchar *container;
	gchar *filter;
	gchar *interface;
	gchar *agent_image;
	gchar *hub_image;
	gboolean force_privileged;
	PdsKubeEnvelope envelope;
	guint hub_timeout_secs;

	PdsKubeProgressFunc progress;
	gpointer progress_data;

	/* session */
	gchar *id;
	gchar *ns; /* podscope-<id> */
	gchar *token;
	gchar *join_secret;
	gchar *ca_fingerprint;
	gchar *cluster_ip;
	gchar *hub_pod;
	gchar *server_version; /* "1.29" */
	PdsKubeClient *client;
	PdsKubePortForward *forward;
	PdsKubePortForward *viewer_forward; /* --open: the browser's own listener */
	SoupSession *http;		    /* to the hub API through the port-forward */
	PdsKubeWatch *pod_watch;
	PdsKubeWatch *svc_watch;
	GHashTable *tapped;  /* "ns/pod" -> PdsKubeTapped */
	GHashTable *refused; /* "ns/pod" -> message, pods we gave up on */
	GHashTable *names;   /* ip -> name, pushed to the hub */
	gboolean created;    /* something may exist in the cluster */
	gboolean stopped;
	gboolean api_lost;
	GError *fatal; /* a tap that must end the session (PSA restricted, no subresource) */
	gint64 api_down_since; /* monotonic µs of the first failed reconnect; 0 = up */
	gchar *api_down_reason;
	guint api_check_id;

	/* stream */
	GTask *stream_task;
	GOutputStream *out;
	GInputStream *in;
	GCancellable *stream_cancel;
	GByteArray *pending; /* bytes not yet forming whole blocks */
	guint8 *rbuf;
	gboolean big_endian; /* of the section being streamed */
	gboolean output_closed;
	guint64 bytes_streamed;
};

G_DEFINE_TYPE(PdsKubeSession, pds_kube_session, G_TYPE_OBJECT)

enum {
	SIGNAL_LOST,
	N_SIGNALS,
};
static guint signals[N_SIGNALS];

static void pds_kube_session_tap_pod(PdsKubeSession *self, JsonNode *pod);

/* ---- small helpers ---- */

static void pds_kube_progress(PdsKubeSession *self, const char *format, ...) G_GNUC_PRINTF(2, 3);

static void
pds_kube_progress(PdsKubeSession *self, const char *format, ...)
{
	va_list args;
	g_autofree gchar *line = NULL;

	va_start(args, format);
	line = g_strdup_vprintf(format, args);
	va_end(args);
	if (self->progress != NULL)
		self->progress(line, self->progress_data);
	else
		g_printerr("podscope: %s\n", line);
}

static void
pds_kube_tapped_free(gpointer data)
{
	PdsKubeTapped *t = data;
	g_free(t->key);
	g_free(t->last_state);
	g_free(t);
}

static gchar *
pds_kube_random_hex(gsize n_bytes)
{
	GString *s = g_string_sized_new(n_bytes * 2);
	g_autofree guint8 *raw = g_malloc(n_bytes);

	/* gnutls' generator: the token and the join secret guard the session. */
	if (gnutls_rnd(GNUTLS_RND_KEY, raw, n_bytes) < 0) {
		for (gsize i = 0; i < n_bytes; i++)
			raw[i] = (guint8)g_random_int();
	}
	for (gsize i = 0; i < n_bytes; i++)
		g_string_append_printf(s, "%02x", raw[i]);
	return g_string_free(s, FALSE);
}

static gboolean
pds_kube_is_status(const GError *error, guint status)
{
	return error != NULL && error->domain == PDS_KUBE_API_ERROR && (guint)error->code == status;
}

static void
pds_kube_add_labels(JsonBuilder *b, const char *session_id, const char *name_label)
{
	json_builder_set_member_name(b, "labels");
	json_builder_begin_object(b);
	json_builder_set_member_name(b, PDS_KUBE_MANAGED_BY);
	json_builder_add_string_value(b, "podscope");
	json_builder_set_member_name(b, PDS_KUBE_SESSION_LABEL);
	json_builder_add_string_value(b, session_id);
	if (name_label != NULL) {
		json_builder_set_member_name(b, PDS_KUBE_NAME_LABEL);
		json_builder_add_string_value(b, name_label);
	}
	json_builder_end_object(b);
}

/* {"apiVersion","kind","metadata":{"name","namespace","labels"... */
static void
pds_kube_begin_object(JsonBuilder *b,
		      const char *api_version,
		      const char *kind,
		      const char *name,
		      const char *ns,
		      const char *session_id)
{
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "apiVersion");
	json_builder_add_string_value(b, api_version);
	json_builder_set_member_name(b, "kind");
	json_builder_add_string_value(b, kind);
	json_builder_set_member_name(b, "metadata");
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "name");
	json_builder_add_string_value(b, name);
	if (ns != NULL) {
		json_builder_set_member_name(b, "namespace");
		json_builder_add_string_value(b, ns);
	}
	pds_kube_add_labels(b, session_id, NULL);
}

static void
pds_kube_add_string(JsonBuilder *b, const char *name, const char *value)
{
	json_builder_set_member_name(b, name);
	json_builder_add_string_value(b, value);
}

static void
pds_kube_add_env(JsonBuilder *b, const char *name, const char *value)
{
	json_builder_begin_object(b);
	pds_kube_add_string(b, "name", name);
	pds_kube_add_string(b, "value", value);
	json_builder_end_object(b);
}

static void
pds_kube_add_session_selector(JsonBuilder *b, const char *session_id)
{
	json_builder_begin_object(b);
	pds_kube_add_string(b, PDS_KUBE_NAME_LABEL, PDS_KUBE_HUB_NAME);
	pds_kube_add_string(b, PDS_KUBE_SESSION_LABEL, session_id);
	json_builder_end_object(b);
}

/* ---- manifests ---- */

static JsonNode *
pds_kube_build_namespace(PdsKubeSession *self)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	g_autofree gchar *created = g_date_time_format(now, "%Y-%m-%dT%H:%M:%SZ");
	g_autofree gchar *pid = g_strdup_printf("%d", (int)getpid());

	pds_kube_begin_object(b, "v1", "Namespace", self->ns, NULL, self->id);
	json_builder_set_member_name(b, "annotations");
	json_builder_begin_object(b);
	pds_kube_add_string(b, "podscope/owner-host", g_get_host_name());
	pds_kube_add_string(b, "podscope/owner-pid", pid);
	pds_kube_add_string(b, "podscope/created", created);
	json_builder_end_object(b);
	json_builder_end_object(b); /* metadata */
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

static JsonNode *
pds_kube_build_service_account(PdsKubeSession *self)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	pds_kube_begin_object(b, "v1", "ServiceAccount", PDS_KUBE_HUB_NAME, self->ns, self->id);
	json_builder_end_object(b);
	json_builder_set_member_name(b, "automountServiceAccountToken");
	json_builder_add_boolean_value(b, TRUE);
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

static JsonNode *
pds_kube_build_cluster_role(PdsKubeSession *self)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	pds_kube_begin_object(b, "rbac.authorization.k8s.io/v1", "ClusterRole", self->ns, NULL,
			      self->id);
	json_builder_end_object(b);
	json_builder_set_member_name(b, "rules");
	json_builder_begin_array(b);
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "apiGroups");
	json_builder_begin_array(b);
	json_builder_add_string_value(b, "");
	json_builder_end_array(b);
	json_builder_set_member_name(b, "resources");
	json_builder_begin_array(b);
	json_builder_add_string_value(b, "pods");
	json_builder_add_string_value(b, "services");
	json_builder_end_array(b);
	json_builder_set_member_name(b, "verbs");
	json_builder_begin_array(b);
	json_builder_add_string_value(b, "get");
	json_builder_add_string_value(b, "list");
	json_builder_add_string_value(b, "watch");
	json_builder_end_array(b);
	json_builder_end_object(b);
	json_builder_end_array(b);
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

static JsonNode *
pds_kube_build_cluster_role_binding(PdsKubeSession *self)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	pds_kube_begin_object(b, "rbac.authorization.k8s.io/v1", "ClusterRoleBinding", self->ns,
			      NULL, self->id);
	json_builder_end_object(b);
	json_builder_set_member_name(b, "roleRef");
	json_builder_begin_object(b);
	pds_kube_add_string(b, "apiGroup", "rbac.authorization.k8s.io");
	pds_kube_add_string(b, "kind", "ClusterRole");
	pds_kube_add_string(b, "name", self->ns);
	json_builder_end_object(b);
	json_builder_set_member_name(b, "subjects");
	json_builder_begin_array(b);
	json_builder_begin_object(b);
	pds_kube_add_string(b, "kind", "ServiceAccount");
	pds_kube_add_string(b, "name", PDS_KUBE_HUB_NAME);
	pds_kube_add_string(b, "namespace", self->ns);
	json_builder_end_object(b);
	json_builder_end_array(b);
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

static void
pds_kube_add_port(JsonBuilder *b, const char *name, guint port, gboolean service)
{
	json_builder_begin_object(b);
	pds_kube_add_string(b, "name", name);
	pds_kube_add_string(b, "protocol", "TCP");
	json_builder_set_member_name(b, service ? "port" : "containerPort");
	json_builder_add_int_value(b, port);
	if (service) {
		json_builder_set_member_name(b, "targetPort");
		json_builder_add_int_value(b, port);
	}
	json_builder_end_object(b);
}

static JsonNode *
pds_kube_build_service(PdsKubeSession *self)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	pds_kube_begin_object(b, "v1", "Service", PDS_KUBE_HUB_NAME, self->ns, self->id);
	json_builder_end_object(b);
	json_builder_set_member_name(b, "spec");
	json_builder_begin_object(b);
	pds_kube_add_string(b, "type", "ClusterIP");
	json_builder_set_member_name(b, "selector");
	pds_kube_add_session_selector(b, self->id);
	json_builder_set_member_name(b, "ports");
	json_builder_begin_array(b);
	pds_kube_add_port(b, "ingest", PDS_KUBE_INGEST_PORT, TRUE);
	pds_kube_add_port(b, "api", PDS_KUBE_API_PORT, TRUE);
	json_builder_end_array(b);
	json_builder_end_object(b);
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

static void
pds_kube_add_secret_item(JsonBuilder *b, const char *key, const char *text)
{
	g_autofree gchar *encoded = g_base64_encode((const guchar *)text, strlen(text));
	pds_kube_add_string(b, key, encoded);
}

static JsonNode *
pds_kube_build_secret(PdsKubeSession *self, PdsTlsIdentity *ca, PdsTlsIdentity *hub)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autofree gchar *ca_crt = pds_tls_identity_get_cert_pem(ca);
	g_autofree gchar *ca_key = pds_tls_identity_get_key_pem(ca);
	g_autofree gchar *hub_crt = pds_tls_identity_get_cert_pem(hub);
	g_autofree gchar *hub_key = pds_tls_identity_get_key_pem(hub);

	pds_kube_begin_object(b, "v1", "Secret", PDS_KUBE_SECRET_NAME, self->ns, self->id);
	json_builder_end_object(b);
	pds_kube_add_string(b, "type", "Opaque");
	json_builder_set_member_name(b, "data");
	json_builder_begin_object(b);
	pds_kube_add_secret_item(b, "ca.crt", ca_crt);
	pds_kube_add_secret_item(b, "ca.key", ca_key);
	pds_kube_add_secret_item(b, "hub.crt", hub_crt);
	pds_kube_add_secret_item(b, "hub.key", hub_key);
	pds_kube_add_secret_item(b, "api-token", self->token);
	pds_kube_add_secret_item(b, "join-secret", self->join_secret);
	json_builder_end_object(b);
	json_builder_end_object(b);
	memset(ca_key, 0, strlen(ca_key));
	memset(hub_key, 0, strlen(hub_key));
	return json_builder_get_root(b);
}

static void
pds_kube_add_volume_mount(JsonBuilder *b, const char *name, const char *path, gboolean ro)
{
	json_builder_begin_object(b);
	pds_kube_add_string(b, "name", name);
	pds_kube_add_string(b, "mountPath", path);
	json_builder_set_member_name(b, "readOnly");
	json_builder_add_boolean_value(b, ro);
	json_builder_end_object(b);
}

static JsonNode *
pds_kube_build_deployment(PdsKubeSession *self)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autofree gchar *ingest = g_strdup_printf("0.0.0.0:%u", PDS_KUBE_INGEST_PORT);
	g_autofree gchar *api = g_strdup_printf("0.0.0.0:%u", PDS_KUBE_API_PORT);
	const char *args[] = {"podscope-hub",
			      "--data-dir",
			      "/data",
			      "--ca",
			      "/tls/ca.crt",
			      "--ca-key",
			      "/tls/ca.key",
			      "--cert",
			      "/tls/hub.crt",
			      "--key",
			      "/tls/hub.key",
			      "--token-file",
			      "/tls/api-token",
			      "--join-secret-file",
			      "/tls/join-secret",
			      "--ingest",
			      ingest,
			      "--api",
			      api,
			      NULL};

	pds_kube_begin_object(b, "apps/v1", "Deployment", PDS_KUBE_HUB_NAME, self->ns, self->id);
	json_builder_end_object(b);
	json_builder_set_member_name(b, "spec");
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "replicas");
	json_builder_add_int_value(b, 1);
	json_builder_set_member_name(b, "selector");
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "matchLabels");
	pds_kube_add_session_selector(b, self->id);
	json_builder_end_object(b);
	json_builder_set_member_name(b, "template");
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "metadata");
	json_builder_begin_object(b);
	pds_kube_add_labels(b, self->id, PDS_KUBE_HUB_NAME);
	json_builder_end_object(b);
	json_builder_set_member_name(b, "spec");
	json_builder_begin_object(b);
	pds_kube_add_string(b, "serviceAccountName", PDS_KUBE_HUB_NAME);
	json_builder_set_member_name(b, "containers");
	json_builder_begin_array(b);
	json_builder_begin_object(b);
	pds_kube_add_string(b, "name", "hub");
	pds_kube_add_string(b, "image", self->hub_image);
	json_builder_set_member_name(b, "args");
	json_builder_begin_array(b);
	for (guint i = 0; args[i] != NULL; i++)
		json_builder_add_string_value(b, args[i]);
	json_builder_end_array(b);
	json_builder_set_member_name(b, "ports");
	json_builder_begin_array(b);
	pds_kube_add_port(b, "ingest", PDS_KUBE_INGEST_PORT, FALSE);
	pds_kube_add_port(b, "api", PDS_KUBE_API_PORT, FALSE);
	json_builder_end_array(b);
	json_builder_set_member_name(b, "volumeMounts");
	json_builder_begin_array(b);
	pds_kube_add_volume_mount(b, "tls", "/tls", TRUE);
	pds_kube_add_volume_mount(b, "data", "/data", FALSE);
	json_builder_end_array(b);
	/* Every API request needs the bearer token, httpGet probes cannot send it. */
	json_builder_set_member_name(b, "readinessProbe");
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "tcpSocket");
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "port");
	json_builder_add_int_value(b, PDS_KUBE_API_PORT);
	json_builder_end_object(b);
	json_builder_set_member_name(b, "periodSeconds");
	json_builder_add_int_value(b, 1);
	json_builder_end_object(b);
	json_builder_set_member_name(b, "securityContext");
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "readOnlyRootFilesystem");
	json_builder_add_boolean_value(b, TRUE);
	json_builder_set_member_name(b, "allowPrivilegeEscalation");
	json_builder_add_boolean_value(b, FALSE);
	json_builder_end_object(b);
	json_builder_end_object(b); /* container */
	json_builder_end_array(b);
	json_builder_set_member_name(b, "volumes");
	json_builder_begin_array(b);
	json_builder_begin_object(b);
	pds_kube_add_string(b, "name", "tls");
	json_builder_set_member_name(b, "secret");
	json_builder_begin_object(b);
	pds_kube_add_string(b, "secretName", PDS_KUBE_SECRET_NAME);
	json_builder_end_object(b);
	json_builder_end_object(b);
	json_builder_begin_object(b);
	pds_kube_add_string(b, "name", "data");
	json_builder_set_member_name(b, "emptyDir");
	json_builder_begin_object(b);
	json_builder_end_object(b);
	json_builder_end_object(b);
	json_builder_end_array(b);
	json_builder_end_object(b); /* pod spec */
	json_builder_end_object(b); /* template */
	json_builder_end_object(b); /* spec */
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

/* @security_mode: "net-raw" (capabilities.add NET_RAW), "default" (no add), "privileged". */
JsonNode *
pds_kube_session_build_ephemeral_patch(const char *session_id,
				       const char *image,
				       const char *const *args,
				       const char *hub,
				       const char *token,
				       const char *ca_fingerprint,
				       const char *pod_namespace,
				       const char *pod,
				       const char *filter,
				       const char *container,
				       const char *security_mode)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autofree gchar *name = g_strdup_printf("podscope-%s", session_id);

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "spec");
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "ephemeralContainers");
	json_builder_begin_array(b);
	json_builder_begin_object(b);
	pds_kube_add_string(b, "name", name);
	pds_kube_add_string(b, "image", image);
	json_builder_set_member_name(b, "args");
	json_builder_begin_array(b);
	for (guint i = 0; args != NULL && args[i] != NULL; i++)
		json_builder_add_string_value(b, args[i]);
	json_builder_end_array(b);
	json_builder_set_member_name(b, "env");
	json_builder_begin_array(b);
	pds_kube_add_env(b, "PODSCOPE_HUB", hub);
	pds_kube_add_env(b, "PODSCOPE_JOIN_TOKEN", token);
	pds_kube_add_env(b, "PODSCOPE_CA_FINGERPRINT", ca_fingerprint);
	pds_kube_add_env(b, "PODSCOPE_NAMESPACE", pod_namespace);
	pds_kube_add_env(b, "PODSCOPE_POD", pod);
	if (filter != NULL)
		pds_kube_add_env(b, "PODSCOPE_FILTER", filter);
	json_builder_end_array(b);
	json_builder_set_member_name(b, "securityContext");
	json_builder_begin_object(b);
	if (g_strcmp0(security_mode, "privileged") == 0) {
		json_builder_set_member_name(b, "privileged");
		json_builder_add_boolean_value(b, TRUE);
	} else {
		if (g_strcmp0(security_mode, "net-raw") == 0) {
			json_builder_set_member_name(b, "capabilities");
			json_builder_begin_object(b);
			json_builder_set_member_name(b, "add");
			json_builder_begin_array(b);
			json_builder_add_string_value(b, "NET_RAW");
			json_builder_end_array(b);
			json_builder_end_object(b);
		}
		json_builder_set_member_name(b, "readOnlyRootFilesystem");
		json_builder_add_boolean_value(b, TRUE);
		json_builder_set_member_name(b, "allowPrivilegeEscalation");
		json_builder_add_boolean_value(b, FALSE);
	}
	json_builder_end_object(b);
	if (container != NULL)
		pds_kube_add_string(b, "targetContainerName", container);
	json_builder_set_member_name(b, "stdin");
	json_builder_add_boolean_value(b, FALSE);
	json_builder_set_member_name(b, "tty");
	json_builder_add_boolean_value(b, FALSE);
	pds_kube_add_string(b, "terminationMessagePolicy", "File");
	json_builder_end_object(b);
	json_builder_end_array(b);
	json_builder_end_object(b);
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

/* ---- object life cycle ---- */

static void
pds_kube_session_finalize(GObject *object)
{
	PdsKubeSession *self = PDS_KUBE_SESSION(object);

	if (self->created && !self->stopped)
		pds_kube_session_stop(self, NULL);
	g_free(self->kubeconfig);
	g_free(self->context);
	g_free(self->target_namespace);
	g_free(self->selector);
	g_clear_pointer(&self->pod_regex, g_regex_unref);
	g_free(self->pod_regex_text);
	g_free(self->container);
	g_free(self->filter);
	g_free(self->interface);
	g_free(self->agent_image);
	g_free(self->hub_image);
	g_free(self->id);
	g_free(self->ns);
	if (self->token != NULL)
		memset(self->token, 0, strlen(self->token));
	g_free(self->token);
	if (self->join_secret != NULL)
		memset(self->join_secret, 0, strlen(self->join_secret));
	g_free(self->join_secret);
	g_free(self->ca_fingerprint);
	g_free(self->cluster_ip);
	g_free(self->hub_pod);
	g_free(self->server_version);
	g_clear_object(&self->pod_watch);
	g_clear_object(&self->svc_watch);
	g_clear_object(&self->forward);
	g_clear_object(&self->viewer_forward);
	g_clear_object(&self->http);
	g_clear_object(&self->client);
	g_hash_table_unref(self->tapped);
	g_hash_table_unref(self->refused);
	g_hash_table_unref(self->names);
	g_clear_error(&self->fatal);
	g_clear_handle_id(&self->api_check_id, g_source_remove);
	g_free(self->api_down_reason);
	g_clear_object(&self->out);
	g_clear_object(&self->in);
	g_clear_object(&self->stream_cancel);
	g_byte_array_unref(self->pending);
	g_free(self->rbuf);
	G_OBJECT_CLASS(pds_kube_session_parent_class)->finalize(object);
}

static void
pds_kube_session_class_init(PdsKubeSessionClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->finalize = pds_kube_session_finalize;
	signals[SIGNAL_LOST] = g_signal_new("lost", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
					    NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
}

static void
pds_kube_session_init(PdsKubeSession *self)
{
	self->tapped = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, pds_kube_tapped_free);
	self->refused = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	self->names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	self->pending = g_byte_array_new();
}

PdsKubeSession *
pds_kube_session_new(const PdsKubeSessionOptions *options)
{
	PdsKubeSession *self = g_object_new(PDS_TYPE_KUBE_SESSION, NULL);

	g_return_val_if_fail(options != NULL, self);
	self->kubeconfig = g_strdup(options->kubeconfig);
	self->context = g_strdup(options->context);
	self->target_namespace = g_strdup(options->namespace_);
	self->all_namespaces = options->all_namespaces;
	self->selector = g_strdup(options->selector);
	self->pod_regex_text = g_strdup(options->pod_regex);
	self->container = g_strdup(options->container);
	self->filter = g_strdup(options->filter);
	self->interface = g_strdup(options->interface != NULL ? options->interface : "eth0");
	self->agent_image = g_strdup(options->agent_image != NULL ? options->agent_image
								  : PDS_KUBE_DEFAULT_IMAGE);
	self->hub_image =
		g_strdup(options->hub_image != NULL ? options->hub_image : PDS_KUBE_DEFAULT_IMAGE);
	self->force_privileged = options->force_privileged;
	self->envelope = options->envelope;
	self->hub_timeout_secs =
		options->hub_timeout_secs != 0 ? options->hub_timeout_secs : PDS_KUBE_HUB_TIMEOUT;
	/* 8 lowercase hex characters */
	self->id = g_strdup_printf("%08x", g_random_int());
	self->ns = g_strdup_printf("podscope-%s", self->id);
	return self;
}

void
pds_kube_session_set_progress_func(PdsKubeSession *self,
				   PdsKubeProgressFunc func,
				   gpointer user_data)
{
	g_return_if_fail(PDS_IS_KUBE_SESSION(self));
	self->progress = func;
	self->progress_data = user_data;
}

const char *
pds_kube_session_get_id(PdsKubeSession *self)
{
	return self->id;
}

const char *
pds_kube_session_get_namespace(PdsKubeSession *self)
{
	return self->ns;
}

const char *
pds_kube_session_get_token(PdsKubeSession *self)
{
	return self->token;
}

gchar *
pds_kube_session_dup_api_url(PdsKubeSession *self)
{
	g_return_val_if_fail(PDS_IS_KUBE_SESSION(self), NULL);
	if (self->forward == NULL)
		return NULL;
	return g_strdup_printf("http://127.0.0.1:%u",
			       pds_kube_port_forward_get_local_port(self->forward));
}

guint16
pds_kube_session_open_viewer(PdsKubeSession *self, guint16 port, GError **error)
{
	g_return_val_if_fail(PDS_IS_KUBE_SESSION(self), 0);
	g_return_val_if_fail(self->hub_pod != NULL, 0);

	if (self->viewer_forward == NULL) {
		/* Its own listener: each browser connection becomes one WebSocket
		 * tunnel to the hub pod, independent of the capture stream's. */
		g_autoptr(PdsKubePortForward) forward = pds_kube_port_forward_new(
			self->client, self->ns, self->hub_pod, PDS_KUBE_API_PORT);
		if (!pds_kube_port_forward_listen(forward, "127.0.0.1", port, error)) {
			g_prefix_error(error,
				       "cannot listen on 127.0.0.1:%u for the web viewer: ", port);
			return 0;
		}
		self->viewer_forward = g_steal_pointer(&forward);
	}
	return pds_kube_port_forward_get_local_port(self->viewer_forward);
}

GStrv
pds_kube_session_dup_tapped(PdsKubeSession *self)
{
	g_autoptr(GStrvBuilder) b = g_strv_builder_new();
	GHashTableIter iter;
	gpointer key;

	g_hash_table_iter_init(&iter, self->tapped);
	while (g_hash_table_iter_next(&iter, &key, NULL))
		g_strv_builder_add(b, key);
	return g_strv_builder_end(b);
}

gboolean
pds_kube_session_get_output_closed(PdsKubeSession *self)
{
	return self->output_closed;
}

guint64
pds_kube_session_get_bytes_streamed(PdsKubeSession *self)
{
	return self->bytes_streamed;
}

/* ---- waiting without blocking the main context ---- */

static void
pds_kube_sleep(guint ms, GCancellable *cancellable)
{
	gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;

	while (g_get_monotonic_time() < end && !g_cancellable_is_cancelled(cancellable)) {
		if (!g_main_context_iteration(NULL, FALSE))
			g_usleep(MIN(20000, MAX(0, end - g_get_monotonic_time())));
	}
}

static gboolean
pds_kube_check_cancelled(GCancellable *cancellable, GError **error)
{
	if (!g_cancellable_is_cancelled(cancellable))
		return TRUE;
	g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_CANCELLED,
			    "interrupted before the capture started");
	return FALSE;
}

/* ---- hub API through the port-forward ---- */

static SoupMessage *
pds_kube_hub_message(PdsKubeSession *self, const char *method, const char *path)
{
	g_autofree gchar *base = pds_kube_session_dup_api_url(self);
	g_autofree gchar *url = g_strconcat(base, path, NULL);
	g_autofree gchar *auth = g_strdup_printf("Bearer %s", self->token);
	SoupMessage *msg = soup_message_new(method, url);

	soup_message_headers_replace(soup_message_get_request_headers(msg), "Authorization", auth);
	return msg;
}

typedef struct {
	gboolean done;
	GBytes *body;
	GError *error;
} PdsKubeHubCall;

static void
pds_kube_hub_call_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	PdsKubeHubCall *call = user_data;

	call->body = soup_session_send_and_read_finish(SOUP_SESSION(source), result, &call->error);
	call->done = TRUE;
}

static gboolean
pds_kube_hub_call_timeout_cb(gpointer user_data)
{
	g_cancellable_cancel(user_data);
	return G_SOURCE_REMOVE;
}

/*
 * One request to the hub API. The port-forward accepts its connections on
 * this thread's main context, so the request runs asynchronously while the
 * context is iterated; @timeout_secs bounds it.
 */
static GBytes *
pds_kube_hub_send(PdsKubeSession *self, SoupMessage *msg, guint timeout_secs, GError **error)
{
	PdsKubeHubCall call = {0};
	g_autoptr(GCancellable) cancel = g_cancellable_new();
	guint timer = g_timeout_add_seconds(timeout_secs, pds_kube_hub_call_timeout_cb, cancel);

	soup_session_send_and_read_async(self->http, msg, G_PRIORITY_DEFAULT, cancel,
					 pds_kube_hub_call_cb, &call);
	while (!call.done)
		g_main_context_iteration(NULL, TRUE);
	if (!g_cancellable_is_cancelled(cancel))
		g_source_remove(timer);
	if (call.body == NULL) {
		if (g_error_matches(call.error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
			g_clear_error(&call.error);
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
				    "no answer from the hub API within %u s", timeout_secs);
		} else {
			g_propagate_error(error, call.error);
		}
		return NULL;
	}
	return call.body;
}

static gboolean
pds_kube_hub_healthy(PdsKubeSession *self, gchar **reason)
{
	g_autoptr(SoupMessage) msg = pds_kube_hub_message(self, "GET", "/healthz");
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) body = pds_kube_hub_send(self, msg, 5, &error);

	if (body == NULL) {
		g_free(*reason);
		*reason = g_strdup(error->message);
		return FALSE;
	}
	if (soup_message_get_status(msg) != SOUP_STATUS_OK) {
		g_free(*reason);
		*reason = g_strdup_printf("HTTP %u", soup_message_get_status(msg));
		return FALSE;
	}
	return TRUE;
}

/* POST /v1/names with what changed; names already pushed are skipped. */
static void
pds_kube_push_names(PdsKubeSession *self, GPtrArray *pairs /* ip, name, ip, name... */)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) root = NULL;
	g_autofree gchar *json = NULL;
	g_autoptr(SoupMessage) msg = NULL;
	g_autoptr(GBytes) body = NULL;
	g_autoptr(GBytes) reply = NULL;
	g_autoptr(GError) error = NULL;
	guint n = 0;

	if (self->forward == NULL || self->http == NULL)
		return;
	json_builder_begin_array(b);
	for (guint i = 0; i + 1 < pairs->len; i += 2) {
		const char *ip = g_ptr_array_index(pairs, i);
		const char *name = g_ptr_array_index(pairs, i + 1);
		if (g_strcmp0(g_hash_table_lookup(self->names, ip), name) == 0)
			continue;
		g_hash_table_replace(self->names, g_strdup(ip), g_strdup(name));
		json_builder_begin_object(b);
		pds_kube_add_string(b, "ip", ip);
		pds_kube_add_string(b, "name", name);
		json_builder_end_object(b);
		n++;
	}
	json_builder_end_array(b);
	if (n == 0)
		return;
	root = json_builder_get_root(b);
	json = json_to_string(root, FALSE);
	msg = pds_kube_hub_message(self, "POST", "/v1/names");
	body = g_bytes_new(json, strlen(json));
	soup_message_set_request_body_from_bytes(msg, "application/json", body);
	reply = pds_kube_hub_send(self, msg, 10, &error);
	if (reply == NULL || soup_message_get_status(msg) != SOUP_STATUS_OK)
		g_warning("cannot give the hub %u names: %s", n,
			  reply == NULL ? error->message : soup_message_get_reason_phrase(msg));
	else
		g_debug("pushed %u names to the hub", n);
}

static void
pds_kube_collect_pod_name(GPtrArray *pairs, JsonNode *pod)
{
	const char *ip = pds_kube_json_get_string(pod, "status.podIP");
	const char *name = pds_kube_json_get_string(pod, "metadata.name");
	const char *ns = pds_kube_json_get_string(pod, "metadata.namespace");
	JsonNode *ips = pds_kube_json_get_node(pod, "status.podIPs");

	if (name == NULL || ns == NULL)
		return;
	if (ip != NULL && ip[0] != '\0') {
		g_ptr_array_add(pairs, g_strdup(ip));
		g_ptr_array_add(pairs, g_strdup_printf("%s.%s", name, ns));
	}
	if (ips != NULL && JSON_NODE_HOLDS_ARRAY(ips)) {
		JsonArray *arr = json_node_get_array(ips);
		for (guint i = 0; i < json_array_get_length(arr); i++) {
			const char *other =
				pds_kube_json_get_string(json_array_get_element(arr, i), "ip");
			if (other != NULL && g_strcmp0(other, ip) != 0) {
				g_ptr_array_add(pairs, g_strdup(other));
				g_ptr_array_add(pairs, g_strdup_printf("%s.%s", name, ns));
			}
		}
	}
}

static void
pds_kube_collect_service_name(GPtrArray *pairs, JsonNode *svc)
{
	const char *ip = pds_kube_json_get_string(svc, "spec.clusterIP");
	const char *name = pds_kube_json_get_string(svc, "metadata.name");
	const char *ns = pds_kube_json_get_string(svc, "metadata.namespace");

	if (ip == NULL || name == NULL || ns == NULL || g_strcmp0(ip, "None") == 0 || ip[0] == '\0')
		return;
	g_ptr_array_add(pairs, g_strdup(ip));
	g_ptr_array_add(pairs, g_strdup_printf("%s.%s.svc", name, ns));
}

/* ---- targets ---- */

static gchar *
pds_kube_pods_path(PdsKubeSession *self, const char *resource)
{
	if (self->all_namespaces)
		return g_strdup_printf("/api/v1/%s", resource);
	return g_strdup_printf("/api/v1/namespaces/%s/%s", self->target_namespace, resource);
}

static gboolean
pds_kube_pod_is_ready_target(PdsKubeSession *self, JsonNode *pod)
{
	const char *name = pds_kube_json_get_string(pod, "metadata.name");
	const char *ns = pds_kube_json_get_string(pod, "metadata.namespace");

	if (name == NULL || ns == NULL)
		return FALSE;
	/* Never tap our own hub (-A). */
	if (g_str_has_prefix(ns, "podscope-") &&
	    pds_kube_json_get_string(pod, "metadata.labels." PDS_KUBE_SESSION_LABEL) != NULL)
		return FALSE;
	if (pds_kube_json_get_string(pod, "metadata.deletionTimestamp") != NULL)
		return FALSE;
	if (g_strcmp0(pds_kube_json_get_string(pod, "status.phase"), "Running") != 0)
		return FALSE;
	if (self->pod_regex != NULL && !g_regex_match(self->pod_regex, name, 0, NULL))
		return FALSE;
	return TRUE;
}

/* The state of our ephemeral container in @pod, for people; NULL if absent. */
static gchar *
pds_kube_agent_state(PdsKubeSession *self, JsonNode *pod)
{
	JsonNode *statuses = pds_kube_json_get_node(pod, "status.ephemeralContainerStatuses");
	g_autofree gchar *name = g_strdup_printf("podscope-%s", self->id);
	JsonArray *arr;

	if (statuses == NULL || !JSON_NODE_HOLDS_ARRAY(statuses))
		return NULL;
	arr = json_node_get_array(statuses);
	for (guint i = 0; i < json_array_get_length(arr); i++) {
		JsonNode *st = json_array_get_element(arr, i);
		const char *reason;

		if (g_strcmp0(pds_kube_json_get_string(st, "name"), name) != 0)
			continue;
		if (pds_kube_json_get_node(st, "state.running") != NULL)
			return g_strdup("agent running");
		reason = pds_kube_json_get_string(st, "state.waiting.reason");
		if (reason != NULL) {
			const char *message = pds_kube_json_get_string(st, "state.waiting.message");
			return g_strdup_printf("agent waiting: %s%s%s", reason,
					       message != NULL ? ": " : "",
					       message != NULL ? message : "");
		}
		if (pds_kube_json_get_node(st, "state.terminated") != NULL) {
			JsonNode *code = pds_kube_json_get_node(st, "state.terminated.exitCode");
			const char *treason =
				pds_kube_json_get_string(st, "state.terminated.reason");
			const char *message =
				pds_kube_json_get_string(st, "state.terminated.message");
			return g_strdup_printf(
				"agent terminated (exit code %" G_GINT64_FORMAT ", %s)%s%s",
				code != NULL ? json_node_get_int(code) : -1,
				treason != NULL ? treason : "no reason",
				message != NULL ? ": " : "", message != NULL ? message : "");
		}
	}
	return NULL;
}

static void
pds_kube_report_agent(PdsKubeSession *self, JsonNode *pod)
{
	g_autofree gchar *key =
		g_strdup_printf("%s/%s", pds_kube_json_get_string(pod, "metadata.namespace"),
				pds_kube_json_get_string(pod, "metadata.name"));
	PdsKubeTapped *t = g_hash_table_lookup(self->tapped, key);
	g_autofree gchar *state = NULL;

	if (t == NULL)
		return;
	state = pds_kube_agent_state(self, pod);
	if (state == NULL || g_strcmp0(state, t->last_state) == 0)
		return;
	pds_kube_progress(self, "%s: %s", key, state);
	g_free(t->last_state);
	t->last_state = g_steal_pointer(&state);
}

static gboolean
pds_kube_message_has(const GError *error, const char *needle)
{
	const char *api = pds_kube_api_error_get_api_message(error);
	return (api != NULL && strstr(api, needle) != NULL) ||
	       (error != NULL && strstr(error->message, needle) != NULL);
}

/* One PATCH; TRUE when the agent was added. */
static gboolean
pds_kube_patch_agent(
	PdsKubeSession *self, const char *ns, const char *pod, const char *mode, GError **error)
{
	g_autofree gchar *token = NULL;
	g_autofree gchar *hub = g_strdup_printf("%s:%u", self->cluster_ip, PDS_KUBE_INGEST_PORT);
	g_autofree gchar *path =
		g_strdup_printf("/api/v1/namespaces/%s/pods/%s/ephemeralcontainers", ns, pod);
	const char *args[] = {"--interface", self->interface, NULL};
	g_autoptr(JsonNode) patch = NULL;
	g_autoptr(JsonNode) reply = NULL;

	token = pds_join_token_new((const guint8 *)self->join_secret, strlen(self->join_secret), ns,
				   pod, error);
	if (token == NULL)
		return FALSE;
	patch = pds_kube_session_build_ephemeral_patch(self->id, self->agent_image, args, hub,
						       token, self->ca_fingerprint, ns, pod,
						       self->filter, self->container, mode);
	reply = pds_kube_client_patch(self->client, path, PDS_KUBE_PATCH_STRATEGIC, patch, NULL,
				      error);
	return reply != NULL;
}

static void
pds_kube_session_tap_pod(PdsKubeSession *self, JsonNode *pod)
{
	const char *ns = pds_kube_json_get_string(pod, "metadata.namespace");
	const char *name = pds_kube_json_get_string(pod, "metadata.name");
	g_autofree gchar *key = NULL;
	g_autoptr(GError) error = NULL;
	PdsKubeTapped *t;
	gboolean ok;

	if (!pds_kube_pod_is_ready_target(self, pod) || self->fatal != NULL)
		return;
	key = g_strdup_printf("%s/%s", ns, name);
	if (g_hash_table_contains(self->tapped, key) || g_hash_table_contains(self->refused, key))
		return;

	if (self->force_privileged) {
		ok = pds_kube_patch_agent(self, ns, name, "privileged", &error);
	} else {
		ok = pds_kube_patch_agent(self, ns, name, "net-raw", &error);
		if (!ok && pds_kube_is_status(error, 403) &&
		    pds_kube_message_has(error, "violates PodSecurity \"baseline")) {
			/* containerd's default capability set has NET_RAW: ask for nothing */
			pds_kube_progress(self,
					  "%s: Pod Security \"baseline\" refuses capabilities.add "
					  "NET_RAW; retrying without it (the runtime's default set "
					  "usually has it)",
					  key);
			g_clear_error(&error);
			ok = pds_kube_patch_agent(self, ns, name, "default", &error);
		}
	}
	if (!ok) {
		const char *api = pds_kube_api_error_get_api_message(error);
		if (pds_kube_is_status(error, 403) &&
		    pds_kube_message_has(error, "violates PodSecurity \"restricted")) {
			self->fatal = g_error_new(
				PDS_KUBE_SESSION_ERROR, PDS_KUBE_SESSION_ERROR_POD_SECURITY,
				"cannot tap %s: %s\nPod Security \"restricted\" forbids packet "
				"capture. "
				"Run with --force-privileged where an exemption allows privileged "
				"containers, or label the namespace "
				"pod-security.kubernetes.io/enforce=baseline",
				key, api != NULL ? api : error->message);
		} else if (pds_kube_is_status(error, 404) &&
			   pds_kube_api_error_get_details_name(error) == NULL) {
			self->fatal = g_error_new(
				PDS_KUBE_SESSION_ERROR, PDS_KUBE_SESSION_ERROR_NO_EPHEMERAL,
				"ephemeral containers are not available on this cluster (server "
				"version %s from GET /version); PodScope needs Kubernetes 1.%d or "
				"later",
				self->server_version != NULL ? self->server_version : "unknown",
				PDS_KUBE_MIN_MINOR);
		} else {
			pds_kube_progress(self, "cannot tap %s: %s", key, error->message);
			g_hash_table_replace(self->refused, g_strdup(key),
					     g_strdup(error->message));
		}
		return;
	}
	t = g_new0(PdsKubeTapped, 1);
	t->key = g_steal_pointer(&key);
	g_hash_table_replace(self->tapped, t->key, t);
	pds_kube_progress(self, "%s: agent injected (ephemeral container podscope-%s)", t->key,
			  self->id);
}

/* ---- watches ---- */

static void
pds_kube_lost(PdsKubeSession *self, const GError *error)
{
	if (self->api_lost || self->stopped)
		return;
	self->api_lost = TRUE;
	pds_kube_progress(self, "lost the Kubernetes API: %s", error->message);
	g_signal_emit(self, signals[SIGNAL_LOST], 0, error);
}

static void
pds_kube_pod_event_cb(PdsKubeWatch *watch, const char *type, JsonNode *pod, gpointer user_data)
{
	PdsKubeSession *self = user_data;
	g_autoptr(GPtrArray) pairs = g_ptr_array_new_with_free_func(g_free);
	g_autofree gchar *key = NULL;

	if (self->stopped)
		return;
	key = g_strdup_printf("%s/%s", pds_kube_json_get_string(pod, "metadata.namespace"),
			      pds_kube_json_get_string(pod, "metadata.name"));
	if (g_strcmp0(type, "DELETED") == 0) {
		if (g_hash_table_remove(self->tapped, key))
			pds_kube_progress(self, "%s: pod deleted", key);
		g_hash_table_remove(self->refused, key);
		return;
	}
	pds_kube_collect_pod_name(pairs, pod);
	pds_kube_push_names(self, pairs);
	if (!g_hash_table_contains(self->tapped, key))
		pds_kube_session_tap_pod(self, pod);
	pds_kube_report_agent(self, pod);
	if (self->fatal != NULL)
		pds_kube_lost(self, self->fatal);
}

static void
pds_kube_svc_event_cb(PdsKubeWatch *watch, const char *type, JsonNode *svc, gpointer user_data)
{
	PdsKubeSession *self = user_data;
	g_autoptr(GPtrArray) pairs = g_ptr_array_new_with_free_func(g_free);

	if (self->stopped || g_strcmp0(type, "DELETED") == 0)
		return;
	pds_kube_collect_service_name(pairs, svc);
	pds_kube_push_names(self, pairs);
}

static void
pds_kube_watch_failed_cb(PdsKubeWatch *watch, const GError *error, gpointer user_data)
{
	pds_kube_lost(user_data, error);
}

static gboolean
pds_kube_api_check_cb(gpointer user_data)
{
	PdsKubeSession *self = user_data;
	g_autoptr(GError) error = NULL;

	if (self->api_down_since == 0 || g_get_monotonic_time() - self->api_down_since <
						 (gint64)PDS_KUBE_API_LOST_SECS * G_USEC_PER_SEC)
		return G_SOURCE_CONTINUE;
	self->api_check_id = 0;
	error = g_error_new(PDS_KUBE_SESSION_ERROR, PDS_KUBE_SESSION_ERROR_API_LOST,
			    "no working connection to the Kubernetes API for %d s (%s)",
			    PDS_KUBE_API_LOST_SECS,
			    self->api_down_reason != NULL ? self->api_down_reason : "no reason");
	pds_kube_lost(self, error);
	return G_SOURCE_REMOVE;
}

static void
pds_kube_watch_reconnecting_cb(PdsKubeWatch *watch, const GError *reason, gpointer user_data)
{
	PdsKubeSession *self = user_data;

	if (self->api_down_since == 0)
		self->api_down_since = g_get_monotonic_time();
	g_free(self->api_down_reason);
	self->api_down_reason = g_strdup(reason != NULL ? reason->message : NULL);
	if (self->api_check_id == 0)
		self->api_check_id = g_timeout_add_seconds(1, pds_kube_api_check_cb, self);
}

static void
pds_kube_watch_connected_cb(PdsKubeWatch *watch, gpointer user_data)
{
	PdsKubeSession *self = user_data;

	self->api_down_since = 0;
}

/* ---- start ---- */

static gboolean
pds_kube_create(PdsKubeSession *self,
		const char *what,
		const char *path,
		JsonNode *object,
		JsonNode **reply_out,
		GError **error)
{
	g_autoptr(JsonNode) reply = pds_kube_client_create(self->client, path, object, NULL, error);

	if (reply == NULL) {
		g_prefix_error(error, "cannot create the %s: ", what);
		return FALSE;
	}
	g_debug("created %s", what);
	if (reply_out != NULL)
		*reply_out = g_steal_pointer(&reply);
	return TRUE;
}

static gboolean
pds_kube_make_objects(PdsKubeSession *self, GCancellable *cancellable, GError **error)
{
	g_autoptr(JsonNode) ns = pds_kube_build_namespace(self);
	g_autoptr(JsonNode) sa = pds_kube_build_service_account(self);
	g_autoptr(JsonNode) role = pds_kube_build_cluster_role(self);
	g_autoptr(JsonNode) binding = pds_kube_build_cluster_role_binding(self);
	g_autoptr(JsonNode) svc = pds_kube_build_service(self);
	g_autoptr(JsonNode) svc_reply = NULL;
	g_autoptr(JsonNode) secret = NULL;
	g_autoptr(JsonNode) deployment = NULL;
	g_autoptr(PdsTlsIdentity) ca = NULL;
	g_autoptr(PdsTlsIdentity) hub = NULL;
	g_autofree gchar *ca_name = g_strdup_printf("PodScope session %s CA", self->id);
	g_autofree gchar *host_ns = g_strdup_printf("podscope-hub.%s", self->ns);
	g_autofree gchar *host_svc = g_strdup_printf("podscope-hub.%s.svc", self->ns);
	g_autofree gchar *ns_path = g_strdup_printf("/api/v1/namespaces/%s", self->ns);
	g_autofree gchar *path = NULL;
	const char *hosts[5];

	pds_kube_progress(self, "session %s: creating namespace %s", self->id, self->ns);
	self->created = TRUE;
	if (!pds_kube_create(self, "session namespace", "/api/v1/namespaces", ns, NULL, error))
		return FALSE;
	path = g_strdup_printf("%s/serviceaccounts", ns_path);
	if (!pds_kube_create(self, "hub service account", path, sa, NULL, error))
		return FALSE;
	if (!pds_kube_create(self, "cluster role",
			     "/apis/rbac.authorization.k8s.io/v1/clusterroles", role, NULL,
			     error) ||
	    !pds_kube_create(self, "cluster role binding",
			     "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", binding,
			     NULL, error))
		return FALSE;
	g_free(path);
	path = g_strdup_printf("%s/services", ns_path);
	if (!pds_kube_create(self, "hub service", path, svc, &svc_reply, error))
		return FALSE;
	self->cluster_ip = g_strdup(pds_kube_json_get_string(svc_reply, "spec.clusterIP"));
	if (self->cluster_ip == NULL || self->cluster_ip[0] == '\0' ||
	    g_strcmp0(self->cluster_ip, "None") == 0) {
		g_set_error(error, PDS_KUBE_SESSION_ERROR, PDS_KUBE_SESSION_ERROR_FAILED,
			    "the API gave the hub service %s/podscope-hub no clusterIP", self->ns);
		return FALSE;
	}
	if (!pds_kube_check_cancelled(cancellable, error))
		return FALSE;

	/* Session credentials: they exist only in this process and the Secret. */
	ca = pds_tls_identity_new_ca(ca_name, error);
	if (ca == NULL)
		return FALSE;
	hosts[0] = PDS_KUBE_HUB_NAME;
	hosts[1] = host_ns;
	hosts[2] = host_svc;
	hosts[3] = self->cluster_ip;
	hosts[4] = NULL;
	hub = pds_tls_identity_issue(ca, PDS_KUBE_HUB_NAME, PDS_TLS_USAGE_SERVER, hosts, 0, 0,
				     error);
	if (hub == NULL)
		return FALSE;
	self->ca_fingerprint = pds_tls_identity_get_fingerprint(ca);
	self->token = pds_kube_random_hex(32);
	self->join_secret = pds_kube_random_hex(32);
	secret = pds_kube_build_secret(self, ca, hub);
	g_free(path);
	path = g_strdup_printf("%s/secrets", ns_path);
	if (!pds_kube_create(self, "hub secret", path, secret, NULL, error))
		return FALSE;
	deployment = pds_kube_build_deployment(self);
	g_free(path);
	path = g_strdup_printf("/apis/apps/v1/namespaces/%s/deployments", self->ns);
	if (!pds_kube_create(self, "hub deployment", path, deployment, NULL, error))
		return FALSE;
	pds_kube_progress(self, "session %s: hub deployment created (service %s), image %s",
			  self->id, self->cluster_ip, self->hub_image);
	return TRUE;
}

static gboolean
pds_kube_pod_ready(JsonNode *pod)
{
	JsonNode *conds = pds_kube_json_get_node(pod, "status.conditions");

	if (conds == NULL || !JSON_NODE_HOLDS_ARRAY(conds))
		return FALSE;
	for (guint i = 0; i < json_array_get_length(json_node_get_array(conds)); i++) {
		JsonNode *c = json_array_get_element(json_node_get_array(conds), i);
		if (g_strcmp0(pds_kube_json_get_string(c, "type"), "Ready") == 0)
			return g_strcmp0(pds_kube_json_get_string(c, "status"), "True") == 0;
	}
	return FALSE;
}

/* "Pending", "Running, not ready", "waiting: ErrImagePull: ..." */
static gchar *
pds_kube_describe_hub_pod(JsonNode *pod)
{
	const char *phase = pds_kube_json_get_string(pod, "status.phase");
	JsonNode *statuses = pds_kube_json_get_node(pod, "status.containerStatuses");

	if (statuses != NULL && JSON_NODE_HOLDS_ARRAY(statuses)) {
		JsonArray *arr = json_node_get_array(statuses);
		for (guint i = 0; i < json_array_get_length(arr); i++) {
			JsonNode *st = json_array_get_element(arr, i);
			const char *reason = pds_kube_json_get_string(st, "state.waiting.reason");
			const char *treason =
				pds_kube_json_get_string(st, "state.terminated.reason");
			if (reason != NULL) {
				const char *m =
					pds_kube_json_get_string(st, "state.waiting.message");
				return g_strdup_printf("%s, waiting: %s%s%s", phase, reason,
						       m != NULL ? ": " : "", m != NULL ? m : "");
			}
			if (treason != NULL) {
				const char *m =
					pds_kube_json_get_string(st, "state.terminated.message");
				return g_strdup_printf("%s, terminated: %s%s%s", phase, treason,
						       m != NULL ? ": " : "", m != NULL ? m : "");
			}
		}
	}
	if (g_strcmp0(phase, "Running") == 0)
		return g_strdup(pds_kube_pod_ready(pod) ? "Running, ready" : "Running, not ready");
	return g_strdup(phase != NULL ? phase : "no status yet");
}

static gboolean
pds_kube_wait_hub(PdsKubeSession *self, GCancellable *cancellable, GError **error)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)self->hub_timeout_secs * G_USEC_PER_SEC;
	g_autofree gchar *path = g_strdup_printf("/api/v1/namespaces/%s/pods", self->ns);
	g_autofree gchar *selector = g_strdup_printf(PDS_KUBE_SESSION_LABEL "=%s", self->id);
	g_autofree gchar *last = NULL;

	for (;;) {
		g_autoptr(GError) local = NULL;
		g_autoptr(JsonNode) list =
			pds_kube_client_list(self->client, path, selector, NULL, NULL, &local);
		JsonNode *items = list != NULL ? pds_kube_json_get_node(list, "items") : NULL;
		g_autofree gchar *state = NULL;

		if (list == NULL) {
			g_propagate_prefixed_error(error, g_steal_pointer(&local),
						   "cannot watch the hub pod: ");
			return FALSE;
		}
		if (items != NULL && JSON_NODE_HOLDS_ARRAY(items) &&
		    json_array_get_length(json_node_get_array(items)) > 0) {
			JsonNode *pod = json_array_get_element(json_node_get_array(items), 0);
			state = pds_kube_describe_hub_pod(pod);
			if (g_strcmp0(pds_kube_json_get_string(pod, "status.phase"), "Running") ==
				    0 &&
			    pds_kube_pod_ready(pod)) {
				g_free(self->hub_pod);
				self->hub_pod =
					g_strdup(pds_kube_json_get_string(pod, "metadata.name"));
				pds_kube_progress(self, "hub pod %s is running and ready",
						  self->hub_pod);
				return TRUE;
			}
		} else {
			state = g_strdup("no pod yet");
		}
		if (g_strcmp0(state, last) != 0) {
			pds_kube_progress(self, "waiting for the hub: %s", state);
			g_free(last);
			last = g_steal_pointer(&state);
		}
		if (g_get_monotonic_time() > deadline) {
			g_set_error(
				error, PDS_KUBE_SESSION_ERROR, PDS_KUBE_SESSION_ERROR_TIMEOUT,
				"the hub pod in %s was not ready after %u s (last state: %s); "
				"check the image (--hub-image) and `kubectl -n %s describe pod`",
				self->ns, self->hub_timeout_secs, last, self->ns);
			return FALSE;
		}
		pds_kube_sleep(500, cancellable);
		if (!pds_kube_check_cancelled(cancellable, error))
			return FALSE;
	}
}

static gboolean
pds_kube_open_forward(PdsKubeSession *self, GCancellable *cancellable, GError **error)
{
	gint64 deadline = g_get_monotonic_time() + PDS_KUBE_HEALTH_TIMEOUT * G_USEC_PER_SEC;
	g_autofree gchar *reason = NULL;

	self->forward =
		pds_kube_port_forward_new(self->client, self->ns, self->hub_pod, PDS_KUBE_API_PORT);
	if (!pds_kube_port_forward_listen(self->forward, "127.0.0.1", 0, error)) {
		g_prefix_error(error, "cannot forward a local port to the hub: ");
		return FALSE;
	}
	/* No I/O timeout: the capture stream may be quiet for long; each
	 * request sets its own deadline. */
	self->http = soup_session_new();
	while (!pds_kube_hub_healthy(self, &reason)) {
		if (g_get_monotonic_time() > deadline) {
			g_set_error(error, PDS_KUBE_SESSION_ERROR, PDS_KUBE_SESSION_ERROR_TIMEOUT,
				    "the hub API did not answer through the port-forward within %d "
				    "s: %s",
				    PDS_KUBE_HEALTH_TIMEOUT, reason);
			return FALSE;
		}
		pds_kube_sleep(300, cancellable);
		if (!pds_kube_check_cancelled(cancellable, error))
			return FALSE;
	}
	pds_kube_progress(self, "hub API reachable at 127.0.0.1:%u (port-forward)",
			  pds_kube_port_forward_get_local_port(self->forward));
	return TRUE;
}

static gboolean
pds_kube_start_targets(PdsKubeSession *self, GCancellable *cancellable, GError **error)
{
	g_autofree gchar *pods_path = pds_kube_pods_path(self, "pods");
	g_autofree gchar *svc_path = pds_kube_pods_path(self, "services");
	g_autoptr(JsonNode) pods = NULL;
	g_autoptr(JsonNode) svcs = NULL;
	g_autoptr(GPtrArray) pairs = g_ptr_array_new_with_free_func(g_free);
	JsonNode *items;
	guint n_match = 0;

	pods = pds_kube_client_list(self->client, pods_path, self->selector, NULL, NULL, error);
	if (pods == NULL) {
		g_prefix_error(error, "cannot list the pods to tap: ");
		return FALSE;
	}
	svcs = pds_kube_client_list(self->client, svc_path, NULL, NULL, NULL, NULL);
	items = svcs != NULL ? pds_kube_json_get_node(svcs, "items") : NULL;
	for (guint i = 0; items != NULL && JSON_NODE_HOLDS_ARRAY(items) &&
			  i < json_array_get_length(json_node_get_array(items));
	     i++)
		pds_kube_collect_service_name(
			pairs, json_array_get_element(json_node_get_array(items), i));
	items = pds_kube_json_get_node(pods, "items");
	for (guint i = 0; items != NULL && JSON_NODE_HOLDS_ARRAY(items) &&
			  i < json_array_get_length(json_node_get_array(items));
	     i++)
		pds_kube_collect_pod_name(pairs,
					  json_array_get_element(json_node_get_array(items), i));
	/* Names first: the hub checks a joining agent's address against them. */
	pds_kube_push_names(self, pairs);

	for (guint i = 0; items != NULL && JSON_NODE_HOLDS_ARRAY(items) &&
			  i < json_array_get_length(json_node_get_array(items));
	     i++) {
		JsonNode *pod = json_array_get_element(json_node_get_array(items), i);
		if (pds_kube_pod_is_ready_target(self, pod))
			n_match++;
		pds_kube_session_tap_pod(self, pod);
		if (self->fatal != NULL) {
			g_propagate_error(error, g_steal_pointer(&self->fatal));
			return FALSE;
		}
		if (!pds_kube_check_cancelled(cancellable, error))
			return FALSE;
	}
	if (n_match == 0)
		pds_kube_progress(
			self, "no running pod matches %s%s%s in %s yet; waiting for one to appear",
			self->selector != NULL ? self->selector : "(every pod)",
			self->pod_regex_text != NULL ? " and --pod " : "",
			self->pod_regex_text != NULL ? self->pod_regex_text : "",
			self->all_namespaces ? "any namespace" : self->target_namespace);

	self->pod_watch =
		pds_kube_watch_new(self->client, pods_path, self->selector, NULL,
				   pds_kube_json_get_string(pods, "metadata.resourceVersion"));
	g_signal_connect(self->pod_watch, "event", G_CALLBACK(pds_kube_pod_event_cb), self);
	g_signal_connect(self->pod_watch, "failed", G_CALLBACK(pds_kube_watch_failed_cb), self);
	g_signal_connect(self->pod_watch, "reconnecting",
			 G_CALLBACK(pds_kube_watch_reconnecting_cb), self);
	g_signal_connect(self->pod_watch, "connected", G_CALLBACK(pds_kube_watch_connected_cb),
			 self);
	pds_kube_watch_start(self->pod_watch);
	if (svcs != NULL) {
		self->svc_watch = pds_kube_watch_new(
			self->client, svc_path, NULL, NULL,
			pds_kube_json_get_string(svcs, "metadata.resourceVersion"));
		g_signal_connect(self->svc_watch, "event", G_CALLBACK(pds_kube_svc_event_cb), self);
		pds_kube_watch_start(self->svc_watch);
	}
	return TRUE;
}

gboolean
pds_kube_session_start(PdsKubeSession *self, GCancellable *cancellable, GError **error)
{
	g_autoptr(PdsKubeConfig) config = NULL;
	g_autoptr(GError) local = NULL;
	g_autoptr(JsonNode) version = NULL;

	g_return_val_if_fail(PDS_IS_KUBE_SESSION(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	if (self->pod_regex_text != NULL) {
		self->pod_regex = g_regex_new(self->pod_regex_text, 0, 0, error);
		if (self->pod_regex == NULL) {
			g_prefix_error(error, "--pod: ");
			return FALSE;
		}
	}
	config = pds_kube_config_load(self->kubeconfig, self->context, error);
	if (config == NULL)
		return FALSE;
	self->client = pds_kube_client_new(config, error);
	if (self->client == NULL)
		return FALSE;
	if (self->target_namespace == NULL)
		self->target_namespace = g_strdup(pds_kube_client_get_namespace(self->client));
	version = pds_kube_client_get_version(self->client, &self->server_version, NULL, error);
	if (version == NULL) {
		g_prefix_error(error, "cannot reach the Kubernetes API at %s: ",
			       pds_kube_config_get_server(config));
		return FALSE;
	}
	pds_kube_progress(self, "Kubernetes %s at %s (context %s)", self->server_version,
			  pds_kube_config_get_server(config),
			  pds_kube_config_get_context_name(config));

	if (!pds_kube_make_objects(self, cancellable, &local) ||
	    !pds_kube_wait_hub(self, cancellable, &local) ||
	    !pds_kube_open_forward(self, cancellable, &local) ||
	    !pds_kube_start_targets(self, cancellable, &local)) {
		g_autoptr(GError) teardown = NULL;
		if (!pds_kube_session_stop(self, &teardown))
			g_prefix_error(&local, "%s\n", teardown->message);
		g_propagate_error(error, g_steal_pointer(&local));
		return FALSE;
	}
	return TRUE;
}

/* ---- streaming ---- */

static void pds_kube_stream_read(PdsKubeSession *self);

static void
pds_kube_stream_finish_task(PdsKubeSession *self, GError *error)
{
	GTask *task = g_steal_pointer(&self->stream_task);

	if (task == NULL) {
		if (error != NULL)
			g_error_free(error);
		return;
	}
	g_clear_object(&self->in);
	if (error != NULL)
		g_task_return_error(task, error);
	else
		g_task_return_boolean(task, TRUE);
	g_object_unref(task);
}

/* Length of the whole pcapng blocks at the start of @buf (little- or big-endian). */
static gsize
pds_kube_whole_blocks(const guint8 *buf, gsize len, gboolean *big_endian)
{
	gsize pos = 0;

	while (len - pos >= 12) {
		guint32 type, blen;
		memcpy(&type, buf + pos, 4);
		if (type == 0x0A0D0D0A) {
			guint32 magic;
			memcpy(&magic, buf + pos + 8, 4);
			*big_endian = magic == 0x4D3C2B1A;
		}
		memcpy(&blen, buf + pos + 4, 4);
		blen = *big_endian ? GUINT32_FROM_BE(blen) : GUINT32_FROM_LE(blen);
		if (blen < 12 || blen % 4 != 0)
			return pos; /* corrupt: hold it back, the reader will see the end */
		if (len - pos < blen)
			break;
		pos += blen;
	}
	return pos;
}

static void
pds_kube_stream_read_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	PdsKubeSession *self = user_data;
	g_autoptr(GError) error = NULL;
	gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), result, &error);
	gsize whole;

	if (n < 0) {
		if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED) && self->stopped)
			pds_kube_stream_finish_task(self, NULL);
		else
			pds_kube_stream_finish_task(self, g_steal_pointer(&error));
		g_object_unref(self);
		return;
	}
	if (n == 0) {
		pds_kube_stream_finish_task(self, NULL);
		g_object_unref(self);
		return;
	}
	g_byte_array_append(self->pending, self->rbuf, n);
	whole = pds_kube_whole_blocks(self->pending->data, self->pending->len, &self->big_endian);
	if (whole > 0) {
		gsize written = 0;
		if (!g_output_stream_write_all(self->out, self->pending->data, whole, &written,
					       NULL, &error) ||
		    !g_output_stream_flush(self->out, NULL, &error)) {
			if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE) ||
			    g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CLOSED)) {
				self->output_closed = TRUE;
				pds_kube_stream_finish_task(self, NULL);
			} else {
				g_prefix_error(&error, "cannot write the capture: ");
				pds_kube_stream_finish_task(self, g_steal_pointer(&error));
			}
			g_object_unref(self);
			return;
		}
		self->bytes_streamed += whole;
		g_byte_array_remove_range(self->pending, 0, whole);
	}
	pds_kube_stream_read(self);
	g_object_unref(self);
}

static void
pds_kube_stream_read(PdsKubeSession *self)
{
	g_input_stream_read_async(self->in, self->rbuf, PDS_KUBE_STREAM_READ, G_PRIORITY_DEFAULT,
				  self->stream_cancel, pds_kube_stream_read_cb, g_object_ref(self));
}

static void
pds_kube_stream_sent_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	PdsKubeSession *self = user_data;
	g_autoptr(GError) error = NULL;
	SoupMessage *msg = soup_session_get_async_result_message(SOUP_SESSION(source), result);
	GInputStream *in = soup_session_send_finish(SOUP_SESSION(source), result, &error);

	if (in == NULL) {
		if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED) && self->stopped)
			pds_kube_stream_finish_task(self, NULL);
		else {
			g_prefix_error(&error, "cannot read the capture from the hub: ");
			pds_kube_stream_finish_task(self, g_steal_pointer(&error));
		}
		g_object_unref(self);
		return;
	}
	if (soup_message_get_status(msg) != SOUP_STATUS_OK) {
		pds_kube_stream_finish_task(
			self, g_error_new(PDS_KUBE_SESSION_ERROR, PDS_KUBE_SESSION_ERROR_FAILED,
					  "the hub refused the capture stream: HTTP %u %s",
					  soup_message_get_status(msg),
					  soup_message_get_reason_phrase(msg)));
		g_object_unref(in);
		g_object_unref(self);
		return;
	}
	self->in = in;
	pds_kube_stream_read(self);
	g_object_unref(self);
}

void
pds_kube_session_stream_async(PdsKubeSession *self,
			      GOutputStream *out,
			      GCancellable *cancellable,
			      GAsyncReadyCallback callback,
			      gpointer user_data)
{
	g_autofree gchar *path = NULL;
	g_autoptr(SoupMessage) msg = NULL;

	g_return_if_fail(PDS_IS_KUBE_SESSION(self));
	g_return_if_fail(G_IS_OUTPUT_STREAM(out));

	self->stream_task = g_task_new(self, cancellable, callback, user_data);
	if (self->forward == NULL || self->stream_cancel != NULL) {
		pds_kube_stream_finish_task(
			self,
			g_error_new_literal(PDS_KUBE_SESSION_ERROR, PDS_KUBE_SESSION_ERROR_FAILED,
					    "the session is not started, or already streams"));
		return;
	}
	g_set_object(&self->out, out);
	self->rbuf = g_malloc(PDS_KUBE_STREAM_READ);
	self->stream_cancel = g_cancellable_new();
	if (cancellable != NULL)
		g_cancellable_connect(cancellable, G_CALLBACK(g_cancellable_cancel),
				      g_object_ref(self->stream_cancel), g_object_unref);
	path = g_strdup_printf("/v1/capture.pcapng?follow=1&envelope=%s",
			       self->envelope == PDS_KUBE_ENVELOPE_CUSTOM ? "custom"
									  : "exported-pdu");
	msg = pds_kube_hub_message(self, "GET", path);
	/* A long-lived stream: no whole-request timeout. */
	soup_session_send_async(self->http, msg, G_PRIORITY_DEFAULT, self->stream_cancel,
				pds_kube_stream_sent_cb, g_object_ref(self));
}

gboolean
pds_kube_session_stream_finish(PdsKubeSession *self, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
	return g_task_propagate_boolean(G_TASK(result), error);
}

/* ---- teardown ---- */

/* DELETE each path, then GET until 404; what remains after @timeout_secs goes to @error. */
static gboolean
pds_kube_delete_and_wait(PdsKubeClient *client,
			 const char *const *paths,
			 guint timeout_secs,
			 GError **error)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_secs * G_USEC_PER_SEC;
	g_autoptr(GPtrArray) pending = g_ptr_array_new();
	g_autoptr(GString) left = g_string_new(NULL);

	for (guint i = 0; paths[i] != NULL; i++) {
		g_autoptr(GError) local = NULL;
		g_autoptr(JsonNode) reply =
			pds_kube_client_delete(client, paths[i], "Background", NULL, &local);
		if (reply == NULL && pds_kube_is_status(local, 404))
			continue;
		if (reply == NULL)
			g_debug("DELETE %s: %s", paths[i], local->message);
		g_ptr_array_add(pending, (gpointer)paths[i]);
	}
	while (pending->len > 0 && g_get_monotonic_time() < deadline) {
		for (guint i = 0; i < pending->len;) {
			g_autoptr(GError) local = NULL;
			g_autoptr(JsonNode) obj = pds_kube_client_get(
				client, g_ptr_array_index(pending, i), NULL, &local);
			if (obj == NULL && pds_kube_is_status(local, 404))
				g_ptr_array_remove_index(pending, i);
			else
				i++;
		}
		if (pending->len > 0)
			pds_kube_sleep(250, NULL);
	}
	if (pending->len == 0)
		return TRUE;
	for (guint i = 0; i < pending->len; i++) {
		g_autoptr(GError) local = NULL;
		g_autoptr(JsonNode) obj =
			pds_kube_client_get(client, g_ptr_array_index(pending, i), NULL, &local);
		const char *phase =
			obj != NULL ? pds_kube_json_get_string(obj, "status.phase") : NULL;
		g_string_append_printf(
			left, "\n  %s (%s)", (const char *)g_ptr_array_index(pending, i),
			obj != NULL ? (phase != NULL ? phase : "still present") : local->message);
	}
	g_set_error(error, PDS_KUBE_SESSION_ERROR, PDS_KUBE_SESSION_ERROR_LEFTOVERS,
		    "after %u s these objects may still exist:%s\nrun `podscope clean` later, or "
		    "delete "
		    "them with kubectl",
		    timeout_secs, left->str);
	return FALSE;
}

gboolean
pds_kube_session_stop(PdsKubeSession *self, GError **error)
{
	g_autofree gchar *ns_path = NULL;
	g_autofree gchar *role_path = NULL;
	g_autofree gchar *binding_path = NULL;
	gint64 started = g_get_monotonic_time();
	gboolean ok;

	g_return_val_if_fail(PDS_IS_KUBE_SESSION(self), FALSE);

	if (self->stopped || !self->created) {
		self->stopped = TRUE;
		return TRUE;
	}
	self->stopped = TRUE;
	g_clear_handle_id(&self->api_check_id, g_source_remove);
	if (self->pod_watch != NULL)
		pds_kube_watch_stop(self->pod_watch);
	if (self->svc_watch != NULL)
		pds_kube_watch_stop(self->svc_watch);
	/*
	 * The objects go first, while the capture stream still reads: the hub
	 * pod ends, the API closes the port-forward from its side, and the
	 * stream ends at a block boundary with everything the hub sent. Closing
	 * our end of the tunnel first would leave it writing into a closed
	 * socket while the hub still sends.
	 */
	pds_kube_progress(self, "removing session %s (namespace %s and cluster role)", self->id,
			  self->ns);
	ns_path = g_strdup_printf("/api/v1/namespaces/%s", self->ns);
	role_path = g_strdup_printf("/apis/rbac.authorization.k8s.io/v1/clusterroles/%s", self->ns);
	binding_path = g_strdup_printf("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/%s",
				       self->ns);
	{
		const char *paths[] = {ns_path, binding_path, role_path, NULL};
		ok = pds_kube_delete_and_wait(self->client, paths, PDS_KUBE_TEARDOWN_SECS, error);
	}
	if (self->stream_task != NULL) {
		gint64 deadline = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;
		while (self->stream_task != NULL && g_get_monotonic_time() < deadline) {
			if (!g_main_context_iteration(NULL, FALSE))
				g_usleep(10000);
		}
	}
	if (self->stream_cancel != NULL)
		g_cancellable_cancel(self->stream_cancel);
	if (self->forward != NULL)
		pds_kube_port_forward_stop(self->forward);
	if (self->viewer_forward != NULL)
		pds_kube_port_forward_stop(self->viewer_forward);
	if (ok)
		pds_kube_progress(
			self, "session %s removed in %.1f s; agents exit once their hub is gone",
			self->id, (g_get_monotonic_time() - started) / 1e6);
	return ok;
}

/* ---- run ---- */

typedef struct {
	PdsKubeSession *self;
	GMainLoop *loop;
	GCancellable *cancel;
	gboolean stream_done;
	GError *stream_error;
	GError *lost;
	gboolean signalled;
} PdsKubeRun;

static gboolean
pds_kube_run_signal_cb(gpointer user_data)
{
	PdsKubeRun *run = user_data;

	if (!run->signalled)
		pds_kube_progress(run->self, "stopping (signal)");
	run->signalled = TRUE;
	g_cancellable_cancel(run->cancel);
	if (run->loop != NULL)
		g_main_loop_quit(run->loop);
	return G_SOURCE_CONTINUE;
}

static void
pds_kube_run_stream_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	PdsKubeRun *run = user_data;

	run->stream_done = TRUE;
	pds_kube_session_stream_finish(PDS_KUBE_SESSION(source), result, &run->stream_error);
	if (run->loop != NULL)
		g_main_loop_quit(run->loop);
}

static void
pds_kube_run_lost_cb(PdsKubeSession *self, const GError *error, gpointer user_data)
{
	PdsKubeRun *run = user_data;

	if (run->lost == NULL)
		run->lost = g_error_copy(error);
	if (run->loop != NULL)
		g_main_loop_quit(run->loop);
}

/* Streams until a signal, the end of the stream or a lost API; then tears down. */
static gboolean
pds_kube_run_capture(PdsKubeRun *run, GOutputStream *out, GError **error)
{
	PdsKubeSession *self = run->self;
	g_autoptr(GError) teardown = NULL;

	run->loop = g_main_loop_new(NULL, FALSE);
	pds_kube_session_stream_async(self, out, NULL, pds_kube_run_stream_cb, run);
	if (!run->signalled && run->lost == NULL)
		g_main_loop_run(run->loop);
	if (run->stream_done && !run->signalled)
		pds_kube_progress(self, "%s",
				  self->output_closed ? "the reader of the output went away"
						      : "the hub ended the capture stream");
	pds_kube_session_stop(self, &teardown);
	/* the stream's callback runs once its cancel is through */
	while (!run->stream_done)
		g_main_context_iteration(NULL, TRUE);
	if (teardown != NULL) {
		if (run->lost != NULL)
			g_prefix_error(&teardown, "%s\n", run->lost->message);
		g_propagate_error(error, g_steal_pointer(&teardown));
		return FALSE;
	}
	if (run->lost != NULL) {
		g_set_error(error, PDS_KUBE_SESSION_ERROR, PDS_KUBE_SESSION_ERROR_API_LOST, "%s",
			    run->lost->message);
		return FALSE;
	}
	if (run->stream_error != NULL && !run->signalled) {
		g_propagate_error(error, g_steal_pointer(&run->stream_error));
		return FALSE;
	}
	return TRUE;
}

gboolean
pds_kube_session_run(PdsKubeSession *self,
		     GOutputStream *out,
		     PdsKubeSessionStartedFunc started,
		     gpointer user_data,
		     GError **error)
{
	PdsKubeRun run = {0};
	guint sigint, sigterm;
	gulong lost_id;
	gboolean ok;

	g_return_val_if_fail(PDS_IS_KUBE_SESSION(self), FALSE);
	g_return_val_if_fail(G_IS_OUTPUT_STREAM(out), FALSE);

	run.self = self;
	run.cancel = g_cancellable_new();
	sigint = g_unix_signal_add(SIGINT, pds_kube_run_signal_cb, &run);
	sigterm = g_unix_signal_add(SIGTERM, pds_kube_run_signal_cb, &run);
	lost_id = g_signal_connect(self, "lost", G_CALLBACK(pds_kube_run_lost_cb), &run);

	ok = pds_kube_session_start(self, run.cancel, error);
	if (ok) {
		if (started != NULL)
			started(self, user_data);
		ok = pds_kube_run_capture(&run, out, error);
	}
	g_signal_handler_disconnect(self, lost_id);
	g_source_remove(sigint);
	g_source_remove(sigterm);
	g_clear_pointer(&run.loop, g_main_loop_unref);
	g_clear_object(&run.cancel);
	g_clear_error(&run.stream_error);
	g_clear_error(&run.lost);
	return ok;
}

gboolean
pds_kube_session_run_to_fd(const PdsKubeSessionOptions *options,
			   int fd,
			   PdsKubeProgressFunc progress,
			   gpointer user_data,
			   GError **error)
{
	g_autoptr(PdsKubeSession) session = NULL;
	g_autoptr(GOutputStream) out = NULL;

	g_return_val_if_fail(options != NULL, FALSE);
	g_return_val_if_fail(fd >= 0, FALSE);

	session = pds_kube_session_new(options);
	pds_kube_session_set_progress_func(session, progress, user_data);
	out = g_unix_output_stream_new(fd, FALSE);
	return pds_kube_session_run(session, out, NULL, NULL, error);
}

/* ---- podscope clean ---- */

static gboolean
pds_kube_owner_gone(JsonNode *ns, gchar **why)
{
	const char *host = pds_kube_json_get_string(ns, "metadata.annotations.podscope/owner-host");
	const char *pid_text =
		pds_kube_json_get_string(ns, "metadata.annotations.podscope/owner-pid");
	guint64 pid = 0;

	if (host == NULL || pid_text == NULL ||
	    !g_ascii_string_to_unsigned(pid_text, 10, 1, G_MAXINT32, &pid, NULL)) {
		*why = g_strdup("it names no owner");
		return TRUE;
	}
	if (g_strcmp0(host, g_get_host_name()) != 0) {
		*why = g_strdup_printf("owned by process %s on host %s", pid_text, host);
		return FALSE;
	}
	if (kill((pid_t)pid, 0) == 0 || errno == EPERM) {
		*why = g_strdup_printf("its controller (process %s) is still running", pid_text);
		return FALSE;
	}
	*why = g_strdup_printf("its controller (process %s on this host) is gone", pid_text);
	return TRUE;
}

static void
pds_kube_clean_progress(PdsKubeProgressFunc progress, gpointer user_data, const char *format, ...)
	G_GNUC_PRINTF(3, 4);

static void
pds_kube_clean_progress(PdsKubeProgressFunc progress, gpointer user_data, const char *format, ...)
{
	va_list args;
	g_autofree gchar *line = NULL;

	va_start(args, format);
	line = g_strdup_vprintf(format, args);
	va_end(args);
	if (progress != NULL)
		progress(line, user_data);
	else
		g_printerr("podscope: %s\n", line);
}

gboolean
pds_kube_clean(const char *kubeconfig,
	       const char *context,
	       gboolean all,
	       PdsKubeProgressFunc progress,
	       gpointer user_data,
	       guint *n_deleted,
	       GError **error)
{
	g_autoptr(PdsKubeConfig) config = NULL;
	g_autoptr(PdsKubeClient) client = NULL;
	g_autoptr(JsonNode) namespaces = NULL;
	g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GHashTable) live = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	const char *kinds[] = {"clusterroles", "clusterrolebindings", NULL};
	const char *selector = PDS_KUBE_MANAGED_BY "=podscope";
	JsonNode *items;
	guint sessions = 0;

	config = pds_kube_config_load(kubeconfig, context, error);
	if (config == NULL)
		return FALSE;
	client = pds_kube_client_new(config, error);
	if (client == NULL)
		return FALSE;
	namespaces =
		pds_kube_client_list(client, "/api/v1/namespaces", selector, NULL, NULL, error);
	if (namespaces == NULL) {
		g_prefix_error(error, "cannot list PodScope sessions: ");
		return FALSE;
	}
	items = pds_kube_json_get_node(namespaces, "items");
	for (guint i = 0; items != NULL && JSON_NODE_HOLDS_ARRAY(items) &&
			  i < json_array_get_length(json_node_get_array(items));
	     i++) {
		JsonNode *ns = json_array_get_element(json_node_get_array(items), i);
		const char *name = pds_kube_json_get_string(ns, "metadata.name");
		const char *id =
			pds_kube_json_get_string(ns, "metadata.labels." PDS_KUBE_SESSION_LABEL);
		g_autofree gchar *why = NULL;

		if (name == NULL)
			continue;
		if (!pds_kube_owner_gone(ns, &why) && !all) {
			pds_kube_clean_progress(progress, user_data, "keeping %s: %s", name, why);
			g_hash_table_add(live, g_strdup(id != NULL ? id : ""));
			continue;
		}
		pds_kube_clean_progress(progress, user_data, "deleting %s: %s", name,
					all ? "--all" : why);
		g_ptr_array_add(paths, g_strdup_printf("/api/v1/namespaces/%s", name));
		sessions++;
	}
	/* Cluster-scoped objects outlive their namespace: remove those of every
	 * session that is not kept. */
	for (guint k = 0; kinds[k] != NULL; k++) {
		g_autofree gchar *list_path =
			g_strdup_printf("/apis/rbac.authorization.k8s.io/v1/%s", kinds[k]);
		g_autoptr(GError) local = NULL;
		g_autoptr(JsonNode) list =
			pds_kube_client_list(client, list_path, selector, NULL, NULL, &local);
		if (list == NULL) {
			pds_kube_clean_progress(progress, user_data, "cannot list %s: %s", kinds[k],
						local->message);
			continue;
		}
		items = pds_kube_json_get_node(list, "items");
		for (guint i = 0; items != NULL && JSON_NODE_HOLDS_ARRAY(items) &&
				  i < json_array_get_length(json_node_get_array(items));
		     i++) {
			JsonNode *obj = json_array_get_element(json_node_get_array(items), i);
			const char *name = pds_kube_json_get_string(obj, "metadata.name");
			const char *id = pds_kube_json_get_string(
				obj, "metadata.labels." PDS_KUBE_SESSION_LABEL);
			if (name == NULL || g_hash_table_contains(live, id != NULL ? id : ""))
				continue;
			g_ptr_array_add(paths, g_strdup_printf("%s/%s", list_path, name));
		}
	}
	if (n_deleted != NULL)
		*n_deleted = sessions;
	if (paths->len == 0) {
		pds_kube_clean_progress(progress, user_data, "nothing to clean");
		return TRUE;
	}
	g_ptr_array_add(paths, NULL);
	if (!pds_kube_delete_and_wait(client, (const char *const *)paths->pdata,
				      PDS_KUBE_TEARDOWN_SECS, error))
		return FALSE;
	pds_kube_clean_progress(progress, user_data, "removed %u session(s) and %u object(s)",
				sessions, paths->len - 1);
	return TRUE;
}
