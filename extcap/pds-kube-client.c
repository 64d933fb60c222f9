/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The API client. TLS verification is glib-networking's, with our CA file as
 * the session's database; tls-server-name is honoured by re-verifying the
 * chain for that name when the only complaint is the identity (libsoup has no
 * separate verification name). Credentials are attached per message so exec
 * plugin tokens can rotate; a 401 re-runs the plugin (or re-reads the token
 * file) once, as client-go does.
 */
#include "config.h"

#define _GNU_SOURCE /* memfd_create */

#define G_LOG_DOMAIN "PdsKube"

#include "pds-kube-client.h"
#include "pds-kube-exec.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Refresh exec credentials this long before they expire, so none expires in flight. */
#define PDS_KUBE_EXEC_MARGIN_SECS 2
/* I/O timeout of ordinary requests; long enough for a slow admission webhook. */
#define PDS_KUBE_IO_TIMEOUT_SECS 30

/* The API's Status, kept on PDS_KUBE_API_ERROR errors. */
typedef struct {
	guint status;
	gchar *reason;
	gchar *api_message;
	gchar *details_name;
	gchar *details_kind;
} PdsKubeApiErrorPrivate;

static void
pds_kube_api_error_private_init(PdsKubeApiErrorPrivate *priv)
{
}

static void
pds_kube_api_error_private_copy(const PdsKubeApiErrorPrivate *src, PdsKubeApiErrorPrivate *dst)
{
	/* GLib never passes NULL; the check keeps -Wnull-dereference quiet on its macro. */
	if (src == NULL || dst == NULL)
		return;
	dst->status = src->status;
	dst->reason = g_strdup(src->reason);
	dst->api_message = g_strdup(src->api_message);
	dst->details_name = g_strdup(src->details_name);
	dst->details_kind = g_strdup(src->details_kind);
}

static void
pds_kube_api_error_private_clear(PdsKubeApiErrorPrivate *priv)
{
	if (priv == NULL)
		return;
	g_free(priv->reason);
	g_free(priv->api_message);
	g_free(priv->details_name);
	g_free(priv->details_kind);
}

G_DEFINE_EXTENDED_ERROR(PdsKubeApiError, pds_kube_api_error)

guint
pds_kube_api_error_get_status(const GError *error)
{
	PdsKubeApiErrorPrivate *priv = pds_kube_api_error_get_private(error);

	return priv != NULL ? priv->status : 0;
}

const char *
pds_kube_api_error_get_reason(const GError *error)
{
	PdsKubeApiErrorPrivate *priv = pds_kube_api_error_get_private(error);

	return priv != NULL ? priv->reason : NULL;
}

const char *
pds_kube_api_error_get_api_message(const GError *error)
{
	PdsKubeApiErrorPrivate *priv = pds_kube_api_error_get_private(error);

	return priv != NULL ? priv->api_message : NULL;
}

const char *
pds_kube_api_error_get_details_name(const GError *error)
{
	PdsKubeApiErrorPrivate *priv = pds_kube_api_error_get_private(error);

	return priv != NULL ? priv->details_name : NULL;
}

const char *
pds_kube_api_error_get_details_kind(const GError *error)
{
	PdsKubeApiErrorPrivate *priv = pds_kube_api_error_get_private(error);

	return priv != NULL ? priv->details_kind : NULL;
}

struct _PdsKubeClient {
	GObject parent_instance;
	PdsKubeConfig *config;
	SoupSession *session;
	GTlsDatabase *ca_database; /* NULL: the system trust store */
	gint ca_fd;		   /* the memfd behind ca_database, or -1 */
	gchar *ca_path;		   /* or the temporary file behind it */
	GTlsCertificate *static_cert;
	/* Exec credentials: messages are also made from port-forward threads. */
	GMutex lock;
	PdsKubeExecCredential *exec_cred;
	GTlsCertificate *exec_cert;
	gboolean exec_invalid;
};

G_DEFINE_TYPE(PdsKubeClient, pds_kube_client, G_TYPE_OBJECT)

static void
pds_kube_client_finalize(GObject *object)
{
	PdsKubeClient *self = PDS_KUBE_CLIENT(object);

	g_clear_object(&self->session);
	g_clear_object(&self->ca_database);
	if (self->ca_fd >= 0)
		close(self->ca_fd);
	if (self->ca_path != NULL)
		g_unlink(self->ca_path);
	g_clear_pointer(&self->ca_path, g_free);
	g_clear_object(&self->static_cert);
	g_clear_object(&self->exec_cert);
	g_clear_pointer(&self->exec_cred, pds_kube_exec_credential_free);
	g_clear_pointer(&self->config, pds_kube_config_unref);
	g_mutex_clear(&self->lock);
	G_OBJECT_CLASS(pds_kube_client_parent_class)->finalize(object);
}

static void
pds_kube_client_class_init(PdsKubeClientClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = pds_kube_client_finalize;
}

static void
pds_kube_client_init(PdsKubeClient *self)
{
	self->ca_fd = -1;
	g_mutex_init(&self->lock);
}

/*
 * GTlsFileDatabase only reads files, and glib-networking re-reads the file
 * for every handshake, so the PEM must stay readable for as long as the
 * client lives. A memfd (opened through /proc/self/fd) never reaches the
 * disk and disappears with the process, even after a crash; a private
 * temporary file, removed on finalize, is the fallback.
 */
static GTlsDatabase *
pds_kube_client_database_from_pem(GBytes *pem, gint *fd_out, gchar **path_out, GError **error)
{
	g_autofree gchar *path = NULL;
	const guint8 *data = g_bytes_get_data(pem, NULL);
	gsize len = g_bytes_get_size(pem);
	GTlsDatabase *db;
	gint fd;

	fd = memfd_create("podscope-kube-ca", MFD_CLOEXEC);
	if (fd >= 0) {
		gsize done = 0;

		while (done < len) {
			gssize n = write(fd, data + done, len - done);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				int saved = errno;

				close(fd);
				g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
					    "cannot hold the certificate authority in memory: %s",
					    g_strerror(saved));
				return NULL;
			}
			done += (gsize)n;
		}
		path = g_strdup_printf("/proc/self/fd/%d", fd);
		db = g_tls_file_database_new(path, NULL);
		if (db != NULL) {
			*fd_out = fd;
			return db;
		}
		/* No /proc (some sandboxes): use a file. */
		close(fd);
		g_clear_pointer(&path, g_free);
	}

	fd = g_file_open_tmp("podscope-kube-ca-XXXXXX.pem", &path, error);
	if (fd < 0)
		return NULL;
	close(fd);
	if (!g_file_set_contents(path, (const gchar *)data, (gssize)len, error)) {
		g_unlink(path);
		return NULL;
	}
	db = g_tls_file_database_new(path, error);
	if (db == NULL) {
		g_unlink(path);
		return NULL;
	}
	*path_out = g_steal_pointer(&path);
	return db;
}

static GTlsCertificate *
pds_kube_client_cert_from_pem(
	const char *cert, gsize cert_len, const char *key, gsize key_len, GError **error)
{
	g_autoptr(GString) both = g_string_new_len(cert, cert_len);

	g_string_append_c(both, '\n');
	g_string_append_len(both, key, key_len);
	return g_tls_certificate_new_from_pem(both->str, both->len, error);
}

static SoupSession *
pds_kube_client_make_session(PdsKubeClient *self, guint io_timeout_secs)
{
	SoupSession *session;

	session =
		soup_session_new_with_options("user-agent", "podscope/" PACKAGE_VERSION, "timeout",
					      io_timeout_secs, "idle-timeout", 60, NULL);
	if (self->ca_database != NULL)
		soup_session_set_tls_database(session, self->ca_database);
	return session;
}

PdsKubeClient *
pds_kube_client_new(PdsKubeConfig *config, GError **error)
{
	g_autoptr(PdsKubeClient) self = NULL;
	GBytes *ca = pds_kube_config_get_ca_pem(config);
	GBytes *cert = pds_kube_config_get_client_cert_pem(config);
	GBytes *key = pds_kube_config_get_client_key_pem(config);

	g_return_val_if_fail(config != NULL, NULL);

	if (g_tls_backend_supports_tls(g_tls_backend_get_default()) == FALSE &&
	    g_str_has_prefix(pds_kube_config_get_server(config), "https:")) {
		g_set_error(error, G_TLS_ERROR, G_TLS_ERROR_UNAVAILABLE,
			    "GLib has no TLS backend, so https://%s cannot be reached; install "
			    "glib-networking",
			    pds_kube_config_get_server(config) + strlen("https://"));
		return NULL;
	}
	self = g_object_new(PDS_TYPE_KUBE_CLIENT, NULL);
	self->config = pds_kube_config_ref(config);
	if (ca != NULL) {
		self->ca_database =
			pds_kube_client_database_from_pem(ca, &self->ca_fd, &self->ca_path, error);
		if (self->ca_database == NULL) {
			g_prefix_error(error, "cluster \"%s\": certificate authority unusable: ",
				       pds_kube_config_get_cluster_name(config));
			return NULL;
		}
	}
	if (cert != NULL) {
		self->static_cert = pds_kube_client_cert_from_pem(
			g_bytes_get_data(cert, NULL), g_bytes_get_size(cert),
			g_bytes_get_data(key, NULL), g_bytes_get_size(key), error);
		if (self->static_cert == NULL) {
			g_prefix_error(error,
				       "user \"%s\": client-certificate/client-key unusable: ",
				       pds_kube_config_get_user_name(config));
			return NULL;
		}
	}
	self->session = pds_kube_client_make_session(self, PDS_KUBE_IO_TIMEOUT_SECS);
	return g_steal_pointer(&self);
}

PdsKubeConfig *
pds_kube_client_get_config(PdsKubeClient *self)
{
	g_return_val_if_fail(PDS_IS_KUBE_CLIENT(self), NULL);
	return self->config;
}

const char *
pds_kube_client_get_namespace(PdsKubeClient *self)
{
	g_return_val_if_fail(PDS_IS_KUBE_CLIENT(self), NULL);
	return pds_kube_config_get_namespace(self->config);
}

SoupSession *
pds_kube_client_get_session(PdsKubeClient *self)
{
	g_return_val_if_fail(PDS_IS_KUBE_CLIENT(self), NULL);
	return self->session;
}

SoupSession *
pds_kube_client_new_session(PdsKubeClient *self)
{
	g_return_val_if_fail(PDS_IS_KUBE_CLIENT(self), NULL);
	/* Streams (watch, port-forward) may be quiet for long: no I/O timeout. */
	return pds_kube_client_make_session(self, 0);
}

void
pds_kube_client_invalidate_credential(PdsKubeClient *self)
{
	g_return_if_fail(PDS_IS_KUBE_CLIENT(self));
	g_mutex_lock(&self->lock);
	self->exec_invalid = TRUE;
	g_mutex_unlock(&self->lock);
}

/* The token and certificate to use now; runs the exec plugin when needed. */
static gboolean
pds_kube_client_credentials(PdsKubeClient *self,
			    gchar **token,
			    GTlsCertificate **cert,
			    GError **error)
{
	const PdsKubeExecConfig *exec = pds_kube_config_get_exec(self->config);

	*token = NULL;
	*cert = self->static_cert != NULL ? g_object_ref(self->static_cert) : NULL;
	if (exec != NULL) {
		g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&self->lock);

		if (self->exec_cred == NULL || self->exec_invalid ||
		    pds_kube_exec_credential_is_expired(self->exec_cred,
							PDS_KUBE_EXEC_MARGIN_SECS)) {
			g_autoptr(PdsKubeExecCredential) cred = NULL;
			g_autoptr(GTlsCertificate) exec_cert = NULL;

			g_debug("running exec credential plugin %s (%s)", exec->command,
				self->exec_cred == NULL ? "first use"
				: self->exec_invalid	? "rejected by the server"
							: "expired");
			cred = pds_kube_exec_run(self->config, NULL, error);
			if (cred == NULL)
				return FALSE;
			if (cred->client_certificate_data != NULL) {
				exec_cert = pds_kube_client_cert_from_pem(
					cred->client_certificate_data,
					strlen(cred->client_certificate_data),
					cred->client_key_data, strlen(cred->client_key_data),
					error);
				if (exec_cert == NULL) {
					g_prefix_error(error,
						       "user \"%s\": exec credential plugin %s "
						       "returned an unusable certificate: ",
						       pds_kube_config_get_user_name(self->config),
						       exec->command);
					return FALSE;
				}
			}
			g_clear_pointer(&self->exec_cred, pds_kube_exec_credential_free);
			self->exec_cred = g_steal_pointer(&cred);
			g_set_object(&self->exec_cert, exec_cert);
			self->exec_invalid = FALSE;
		}
		if (self->exec_cred->token != NULL)
			*token = g_strdup(self->exec_cred->token);
		if (self->exec_cert != NULL) {
			g_clear_object(cert);
			*cert = g_object_ref(self->exec_cert);
		}
		if (*token != NULL || *cert != NULL)
			return TRUE;
	}
	if (pds_kube_config_get_token(self->config) != NULL) {
		*token = g_strdup(pds_kube_config_get_token(self->config));
	} else if (pds_kube_config_get_token_file(self->config) != NULL) {
		*token = pds_kube_config_read_token_file(self->config, error);
		if (*token == NULL)
			return FALSE;
	}
	return TRUE;
}

static const char *
pds_kube_tls_flags_text(GTlsCertificateFlags flags)
{
	if (flags & G_TLS_CERTIFICATE_UNKNOWN_CA)
		return "is not signed by the cluster's certificate authority";
	if (flags & G_TLS_CERTIFICATE_BAD_IDENTITY)
		return "does not name the server's host";
	if (flags & G_TLS_CERTIFICATE_EXPIRED)
		return "has expired";
	if (flags & G_TLS_CERTIFICATE_NOT_ACTIVATED)
		return "is not valid yet";
	if (flags & G_TLS_CERTIFICATE_REVOKED)
		return "is revoked";
	if (flags & G_TLS_CERTIFICATE_INSECURE)
		return "uses an insecure algorithm";
	return "was refused";
}

static gboolean
pds_kube_client_accept_certificate(SoupMessage *msg,
				   GTlsCertificate *peer,
				   GTlsCertificateFlags errors,
				   gpointer user_data)
{
	PdsKubeClient *self = PDS_KUBE_CLIENT(user_data);
	const char *server_name = pds_kube_config_get_tls_server_name(self->config);

	if (pds_kube_config_get_insecure_skip_tls_verify(self->config))
		return TRUE;
	/* The chain is fine but names another host: check it against tls-server-name. */
	if (server_name != NULL && errors == G_TLS_CERTIFICATE_BAD_IDENTITY) {
		g_autoptr(GSocketConnectable) identity = g_network_address_new(server_name, 0);
		GTlsDatabase *db = self->ca_database;
		g_autoptr(GTlsDatabase) system_db = NULL;
		GTlsCertificateFlags flags;

		if (db == NULL) {
			system_db = g_tls_backend_get_default_database(g_tls_backend_get_default());
			db = system_db;
		}
		flags = g_tls_database_verify_chain(
			db, peer, G_TLS_DATABASE_PURPOSE_AUTHENTICATE_SERVER, identity, NULL,
			G_TLS_DATABASE_VERIFY_NONE, NULL, NULL);
		if (flags == 0)
			return TRUE;
		errors = flags;
	}
	g_object_set_data(G_OBJECT(msg), "pds-kube-tls-errors", GUINT_TO_POINTER(errors));
	return FALSE;
}

SoupMessage *
pds_kube_client_new_message(PdsKubeClient *self,
			    const char *method,
			    const char *path,
			    GError **error)
{
	g_autofree gchar *url = NULL;
	g_autofree gchar *token = NULL;
	g_autoptr(GTlsCertificate) cert = NULL;
	g_autoptr(SoupMessage) msg = NULL;
	g_autoptr(GError) error_local = NULL;
	SoupMessageHeaders *headers;

	g_return_val_if_fail(PDS_IS_KUBE_CLIENT(self), NULL);
	g_return_val_if_fail(path != NULL && path[0] == '/', NULL);

	url = g_strconcat(pds_kube_config_get_server(self->config), path, NULL);
	msg = soup_message_new(method, url);
	if (msg == NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "cannot make an API request: %s is not a valid URL", url);
		return NULL;
	}
	if (!pds_kube_client_credentials(self, &token, &cert, error))
		return NULL;
	headers = soup_message_get_request_headers(msg);
	soup_message_headers_replace(headers, "Accept", "application/json");
	if (token != NULL) {
		g_autofree gchar *value = g_strdup_printf("Bearer %s", token);

		soup_message_headers_replace(headers, "Authorization", value);
	} else if (pds_kube_config_get_username(self->config) != NULL) {
		g_autofree gchar *pair =
			g_strdup_printf("%s:%s", pds_kube_config_get_username(self->config),
					pds_kube_config_get_password(self->config));
		g_autofree gchar *b64 = g_base64_encode((const guchar *)pair, strlen(pair));
		g_autofree gchar *value = g_strdup_printf("Basic %s", b64);

		soup_message_headers_replace(headers, "Authorization", value);
	}
	if (cert != NULL)
		soup_message_set_tls_client_certificate(msg, cert);
	g_signal_connect_object(msg, "accept-certificate",
				G_CALLBACK(pds_kube_client_accept_certificate), self, 0);
	return g_steal_pointer(&msg);
}

/* "verb resource" RBAC words for a request, for the 403 hint. */
static void
pds_kube_request_rbac(
	const char *method, const char *path, gchar **verb, gchar **resource, gchar **ns)
{
	g_autofree gchar *clean = g_strdup(path);
	g_auto(GStrv) parts = NULL;
	gboolean watch = strstr(path, "watch=true") != NULL || strstr(path, "watch=1") != NULL;
	guint n, i = 0;
	gboolean named;

	*verb = NULL;
	*resource = NULL;
	*ns = NULL;
	if (strchr(clean, '?') != NULL)
		*strchr(clean, '?') = '\0';
	parts = g_strsplit(clean + 1, "/", -1);
	n = g_strv_length(parts);
	/* /api/v1/... or /apis/GROUP/VERSION/... */
	if (n >= 2 && g_strcmp0(parts[0], "api") == 0)
		i = 2;
	else if (n >= 3 && g_strcmp0(parts[0], "apis") == 0)
		i = 3;
	else
		return;
	if (i + 1 < n && g_strcmp0(parts[i], "namespaces") == 0 && i + 2 < n) {
		*ns = g_strdup(parts[i + 1]);
		i += 2;
	}
	if (i >= n)
		return;
	named = i + 1 < n;
	if (i + 2 < n)
		*resource = g_strdup_printf("%s/%s", parts[i], parts[i + 2]);
	else
		*resource = g_strdup(parts[i]);
	if (g_strcmp0(method, "GET") == 0)
		*verb = g_strdup(watch ? "watch" : named ? "get" : "list");
	else if (g_strcmp0(method, "POST") == 0)
		*verb = g_strdup("create");
	else if (g_strcmp0(method, "PUT") == 0)
		*verb = g_strdup("update");
	else if (g_strcmp0(method, "PATCH") == 0)
		*verb = g_strdup("patch");
	else if (g_strcmp0(method, "DELETE") == 0)
		*verb = g_strdup(named ? "delete" : "deletecollection");
	else
		*verb = g_ascii_strdown(method, -1);
	/* Port-forward and exec upgrade a GET but RBAC checks "create". */
	if (g_str_has_suffix(*resource, "/portforward") || g_str_has_suffix(*resource, "/exec")) {
		g_free(*verb);
		*verb = g_strdup("create");
	}
}

static gchar *
pds_kube_client_hint(PdsKubeClient *self,
		     guint status,
		     const char *reason,
		     const char *api_message,
		     const char *method,
		     const char *path)
{
	const char *user = pds_kube_config_get_user_name(self->config);
	const char *context = pds_kube_config_get_context_name(self->config);

	switch (status) {
	case 401:
		return g_strdup_printf("the API server did not accept the credentials of user "
				       "\"%s\" (context \"%s\"); renew them (log in again with "
				       "your cluster's tool) and retry",
				       user != NULL ? user : "", context);
	case 403: {
		g_autofree gchar *verb = NULL;
		g_autofree gchar *resource = NULL;
		g_autofree gchar *ns = NULL;

		if (api_message != NULL && strstr(api_message, "PodSecurity") != NULL)
			return g_strdup("the namespace's Pod Security level forbids this; ask "
					"the namespace owner to relax it, or use "
					"--force-privileged where privileged pods are allowed");
		if (api_message != NULL && strstr(api_message, "being terminated") != NULL)
			return g_strdup("the namespace is being deleted; wait until it is gone");
		pds_kube_request_rbac(method, path, &verb, &resource, &ns);
		if (verb == NULL)
			return g_strdup("ask your cluster admin for the RBAC permission");
		return g_strdup_printf("ask your cluster admin for RBAC permission to %s %s%s%s "
				       "for kubeconfig user \"%s\"",
				       verb, resource,
				       ns != NULL ? " in namespace " : " (cluster-wide)",
				       ns != NULL ? ns : "", user != NULL ? user : "");
	}
	case 404:
		return g_strdup_printf("it does not exist on the cluster of context \"%s\"; "
				       "check the name and the namespace",
				       context);
	case 409:
		if (g_strcmp0(reason, "AlreadyExists") == 0)
			return g_strdup("delete the existing object first or use another name");
		return g_strdup("the object changed meanwhile; retry");
	case 410:
		return g_strdup("the resource version is too old; list again");
	case 422:
		return g_strdup("the API refused the object as invalid (see the fields named "
				"above)");
	case 429:
		return g_strdup("the API server is throttling requests; retry later");
	default:
		if (status >= 500)
			return g_strdup("the API server failed; retry, or check the cluster's "
					"control plane");
		return NULL;
	}
}

GError *
pds_kube_client_error_from_response(
	PdsKubeClient *self, SoupMessage *msg, GBytes *body, const char *method, const char *path)
{
	guint status = soup_message_get_status(msg);
	const char *phrase = soup_message_get_reason_phrase(msg);
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autofree gchar *api_message = NULL;
	g_autofree gchar *hint = NULL;
	g_autofree gchar *text = NULL;
	const char *reason = NULL;
	const char *details_name = NULL;
	const char *details_kind = NULL;
	PdsKubeApiErrorPrivate *priv;
	GError *error;
	gsize len = body != NULL ? g_bytes_get_size(body) : 0;

	if (len > 0 &&
	    json_parser_load_from_data(parser, g_bytes_get_data(body, NULL), (gssize)len, NULL) &&
	    JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
		JsonNode *root = json_parser_get_root(parser);

		if (pds_kube_json_get_string(root, "message") != NULL)
			api_message = g_strdup(pds_kube_json_get_string(root, "message"));
		reason = pds_kube_json_get_string(root, "reason");
		details_name = pds_kube_json_get_string(root, "details.name");
		details_kind = pds_kube_json_get_string(root, "details.kind");
	} else if (len > 0) {
		/* Proxies in front of the API answer in text or HTML: keep a short excerpt. */
		api_message = g_utf8_make_valid(g_bytes_get_data(body, NULL), MIN(len, 300));
		g_strstrip(api_message);
	}
	hint = pds_kube_client_hint(self, status, reason, api_message, method, path);
	text = g_strdup_printf("%s (HTTP %u %s on %s %s)%s%s",
			       api_message != NULL && *api_message != '\0' ? api_message
									   : "API request failed",
			       status, phrase != NULL ? phrase : "", method, path,
			       hint != NULL ? ": " : "", hint != NULL ? hint : "");
	error = g_error_new_literal(PDS_KUBE_API_ERROR, (gint)status, text);
	priv = pds_kube_api_error_get_private(error);
	if (priv == NULL)
		return error;
	priv->status = status;
	priv->reason = g_strdup(reason);
	priv->api_message = g_strdup(api_message);
	priv->details_name =
		details_name != NULL && *details_name != '\0' ? g_strdup(details_name) : NULL;
	priv->details_kind =
		details_kind != NULL && *details_kind != '\0' ? g_strdup(details_kind) : NULL;
	return error;
}

/* Transport failures: say which server and, for TLS, what was wrong with it. */
static GError *
pds_kube_client_transport_error(PdsKubeClient *self, SoupMessage *msg, GError *cause)
{
	const char *server = pds_kube_config_get_server(self->config);
	const char *cluster = pds_kube_config_get_cluster_name(self->config);
	GTlsCertificateFlags flags =
		GPOINTER_TO_UINT(g_object_get_data(G_OBJECT(msg), "pds-kube-tls-errors"));

	if (flags != 0 || cause->domain == G_TLS_ERROR) {
		return g_error_new(
			G_TLS_ERROR,
			cause->domain == G_TLS_ERROR ? cause->code : G_TLS_ERROR_BAD_CERTIFICATE,
			"TLS with the API server %s failed: %s%s%s; check "
			"certificate-authority%s of cluster \"%s\" in %s",
			server, flags != 0 ? "its certificate " : "",
			flags != 0 ? pds_kube_tls_flags_text(flags) : cause->message,
			flags != 0 && pds_kube_config_get_ca_pem(self->config) == NULL
				? " (the system trust store was used)"
				: "",
			(flags & G_TLS_CERTIFICATE_BAD_IDENTITY) ? " and tls-server-name" : "",
			cluster, pds_kube_config_get_cluster_file(self->config));
	}
	if (g_error_matches(cause, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return g_error_copy(cause);
	return g_error_new(cause->domain, cause->code,
			   "cannot reach the API server %s (context \"%s\"): %s", server,
			   pds_kube_config_get_context_name(self->config), cause->message);
}

static JsonNode *
pds_kube_client_decode(PdsKubeClient *self,
		       SoupMessage *msg,
		       GBytes *body,
		       const char *method,
		       const char *path,
		       GError **error)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error_local = NULL;
	guint status = soup_message_get_status(msg);

	if (!SOUP_STATUS_IS_SUCCESSFUL(status)) {
		g_propagate_error(
			error, pds_kube_client_error_from_response(self, msg, body, method, path));
		return NULL;
	}
	if (body == NULL || g_bytes_get_size(body) == 0)
		return json_node_new(JSON_NODE_NULL);
	if (!json_parser_load_from_data(parser, g_bytes_get_data(body, NULL),
					(gssize)g_bytes_get_size(body), &error_local)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			    "the API server answered %s %s with invalid JSON: %s", method, path,
			    error_local->message);
		return NULL;
	}
	return json_node_ref(json_parser_get_root(parser));
}

static GBytes *
pds_kube_json_to_bytes(JsonNode *node)
{
	g_autoptr(JsonGenerator) gen = json_generator_new();
	gsize len = 0;
	gchar *data;

	json_generator_set_root(gen, node);
	data = json_generator_to_data(gen, &len);
	return g_bytes_new_take(data, len);
}

static gboolean
pds_kube_client_can_refresh(PdsKubeClient *self)
{
	return pds_kube_config_get_exec(self->config) != NULL ||
	       pds_kube_config_get_token_file(self->config) != NULL;
}

static SoupMessage *
pds_kube_client_build(PdsKubeClient *self,
		      const char *method,
		      const char *path,
		      const char *content_type,
		      GBytes *body,
		      GError **error)
{
	SoupMessage *msg = pds_kube_client_new_message(self, method, path, error);

	if (msg != NULL && body != NULL)
		soup_message_set_request_body_from_bytes(
			msg, content_type != NULL ? content_type : "application/json", body);
	return msg;
}

JsonNode *
pds_kube_client_request(PdsKubeClient *self,
			const char *method,
			const char *path,
			const char *content_type,
			JsonNode *body,
			GCancellable *cancellable,
			GError **error)
{
	g_autoptr(GBytes) body_bytes = body != NULL ? pds_kube_json_to_bytes(body) : NULL;

	g_return_val_if_fail(PDS_IS_KUBE_CLIENT(self), NULL);

	for (guint attempt = 0;; attempt++) {
		g_autoptr(SoupMessage) msg = NULL;
		g_autoptr(GBytes) resp = NULL;
		g_autoptr(GError) error_local = NULL;

		msg = pds_kube_client_build(self, method, path, content_type, body_bytes, error);
		if (msg == NULL)
			return NULL;
		resp = soup_session_send_and_read(self->session, msg, cancellable, &error_local);
		if (resp == NULL) {
			g_propagate_error(error,
					  pds_kube_client_transport_error(self, msg, error_local));
			return NULL;
		}
		if (soup_message_get_status(msg) == SOUP_STATUS_UNAUTHORIZED && attempt == 0 &&
		    pds_kube_client_can_refresh(self)) {
			g_debug("%s %s: 401, refreshing the credential once", method, path);
			pds_kube_client_invalidate_credential(self);
			continue;
		}
		return pds_kube_client_decode(self, msg, resp, method, path, error);
	}
}

typedef struct {
	gchar *method;
	gchar *path;
	gchar *content_type;
	GBytes *body;
	SoupMessage *msg;
	guint attempt;
} PdsKubeRequest;

static void
pds_kube_request_free(PdsKubeRequest *req)
{
	g_free(req->method);
	g_free(req->path);
	g_free(req->content_type);
	g_clear_pointer(&req->body, g_bytes_unref);
	g_clear_object(&req->msg);
	g_free(req);
}

static void pds_kube_client_request_send(GTask *task);

static void
pds_kube_client_request_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	PdsKubeClient *self = g_task_get_source_object(task);
	PdsKubeRequest *req = g_task_get_task_data(task);
	g_autoptr(GBytes) resp = NULL;
	g_autoptr(GError) error_local = NULL;
	GError *error = NULL;
	JsonNode *node;

	resp = soup_session_send_and_read_finish(SOUP_SESSION(source), res, &error_local);
	if (resp == NULL) {
		g_task_return_error(task,
				    pds_kube_client_transport_error(self, req->msg, error_local));
		return;
	}
	if (soup_message_get_status(req->msg) == SOUP_STATUS_UNAUTHORIZED && req->attempt == 0 &&
	    pds_kube_client_can_refresh(self)) {
		g_debug("%s %s: 401, refreshing the credential once", req->method, req->path);
		pds_kube_client_invalidate_credential(self);
		req->attempt++;
		pds_kube_client_request_send(g_steal_pointer(&task));
		return;
	}
	node = pds_kube_client_decode(self, req->msg, resp, req->method, req->path, &error);
	if (node == NULL)
		g_task_return_error(task, error);
	else
		g_task_return_pointer(task, node, (GDestroyNotify)json_node_unref);
}

/* Takes @task. */
static void
pds_kube_client_request_send(GTask *task)
{
	PdsKubeClient *self = g_task_get_source_object(task);
	PdsKubeRequest *req = g_task_get_task_data(task);
	GError *error = NULL;

	g_clear_object(&req->msg);
	req->msg = pds_kube_client_build(self, req->method, req->path, req->content_type, req->body,
					 &error);
	if (req->msg == NULL) {
		g_task_return_error(task, error);
		g_object_unref(task);
		return;
	}
	soup_session_send_and_read_async(self->session, req->msg, G_PRIORITY_DEFAULT,
					 g_task_get_cancellable(task), pds_kube_client_request_cb,
					 task);
}

void
pds_kube_client_request_async(PdsKubeClient *self,
			      const char *method,
			      const char *path,
			      const char *content_type,
			      JsonNode *body,
			      GCancellable *cancellable,
			      GAsyncReadyCallback callback,
			      gpointer user_data)
{
	GTask *task;
	PdsKubeRequest *req;

	g_return_if_fail(PDS_IS_KUBE_CLIENT(self));
	task = g_task_new(self, cancellable, callback, user_data);
	g_task_set_source_tag(task, pds_kube_client_request_async);
	req = g_new0(PdsKubeRequest, 1);
	req->method = g_strdup(method);
	req->path = g_strdup(path);
	req->content_type = g_strdup(content_type);
	req->body = body != NULL ? pds_kube_json_to_bytes(body) : NULL;
	g_task_set_task_data(task, req, (GDestroyNotify)pds_kube_request_free);
	pds_kube_client_request_send(task);
}

JsonNode *
pds_kube_client_request_finish(PdsKubeClient *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(res, self), NULL);
	return g_task_propagate_pointer(G_TASK(res), error);
}

JsonNode *
pds_kube_client_get(PdsKubeClient *self,
		    const char *path,
		    GCancellable *cancellable,
		    GError **error)
{
	return pds_kube_client_request(self, "GET", path, NULL, NULL, cancellable, error);
}

void
pds_kube_client_get_async(PdsKubeClient *self,
			  const char *path,
			  GCancellable *cancellable,
			  GAsyncReadyCallback callback,
			  gpointer user_data)
{
	pds_kube_client_request_async(self, "GET", path, NULL, NULL, cancellable, callback,
				      user_data);
}

static gchar *
pds_kube_list_path(const char *path, const char *label_selector, const char *field_selector)
{
	GString *s = g_string_new(path);
	char sep = strchr(path, '?') != NULL ? '&' : '?';

	if (label_selector != NULL && *label_selector != '\0') {
		g_autofree gchar *esc = g_uri_escape_string(label_selector, NULL, FALSE);

		g_string_append_printf(s, "%clabelSelector=%s", sep, esc);
		sep = '&';
	}
	if (field_selector != NULL && *field_selector != '\0') {
		g_autofree gchar *esc = g_uri_escape_string(field_selector, NULL, FALSE);

		g_string_append_printf(s, "%cfieldSelector=%s", sep, esc);
	}
	return g_string_free(s, FALSE);
}

JsonNode *
pds_kube_client_list(PdsKubeClient *self,
		     const char *path,
		     const char *label_selector,
		     const char *field_selector,
		     GCancellable *cancellable,
		     GError **error)
{
	g_autofree gchar *full = pds_kube_list_path(path, label_selector, field_selector);

	return pds_kube_client_request(self, "GET", full, NULL, NULL, cancellable, error);
}

void
pds_kube_client_list_async(PdsKubeClient *self,
			   const char *path,
			   const char *label_selector,
			   const char *field_selector,
			   GCancellable *cancellable,
			   GAsyncReadyCallback callback,
			   gpointer user_data)
{
	g_autofree gchar *full = pds_kube_list_path(path, label_selector, field_selector);

	pds_kube_client_request_async(self, "GET", full, NULL, NULL, cancellable, callback,
				      user_data);
}

JsonNode *
pds_kube_client_create(PdsKubeClient *self,
		       const char *path,
		       JsonNode *object,
		       GCancellable *cancellable,
		       GError **error)
{
	return pds_kube_client_request(self, "POST", path, NULL, object, cancellable, error);
}

void
pds_kube_client_create_async(PdsKubeClient *self,
			     const char *path,
			     JsonNode *object,
			     GCancellable *cancellable,
			     GAsyncReadyCallback callback,
			     gpointer user_data)
{
	pds_kube_client_request_async(self, "POST", path, NULL, object, cancellable, callback,
				      user_data);
}

static const char *
pds_kube_patch_content_type(PdsKubePatchType type)
{
	switch (type) {
	case PDS_KUBE_PATCH_MERGE:
		return "application/merge-patch+json";
	case PDS_KUBE_PATCH_JSON:
		return "application/json-patch+json";
	case PDS_KUBE_PATCH_STRATEGIC:
	default:
		return "application/strategic-merge-patch+json";
	}
}

JsonNode *
pds_kube_client_patch(PdsKubeClient *self,
		      const char *path,
		      PdsKubePatchType type,
		      JsonNode *patch,
		      GCancellable *cancellable,
		      GError **error)
{
	return pds_kube_client_request(self, "PATCH", path, pds_kube_patch_content_type(type),
				       patch, cancellable, error);
}

void
pds_kube_client_patch_async(PdsKubeClient *self,
			    const char *path,
			    PdsKubePatchType type,
			    JsonNode *patch,
			    GCancellable *cancellable,
			    GAsyncReadyCallback callback,
			    gpointer user_data)
{
	pds_kube_client_request_async(self, "PATCH", path, pds_kube_patch_content_type(type), patch,
				      cancellable, callback, user_data);
}

static JsonNode *
pds_kube_delete_options(const char *propagation_policy)
{
	g_autoptr(JsonBuilder) b = NULL;

	if (propagation_policy == NULL)
		return NULL;
	b = json_builder_new();
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "kind");
	json_builder_add_string_value(b, "DeleteOptions");
	json_builder_set_member_name(b, "apiVersion");
	json_builder_add_string_value(b, "v1");
	json_builder_set_member_name(b, "propagationPolicy");
	json_builder_add_string_value(b, propagation_policy);
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

JsonNode *
pds_kube_client_delete(PdsKubeClient *self,
		       const char *path,
		       const char *propagation_policy,
		       GCancellable *cancellable,
		       GError **error)
{
	g_autoptr(JsonNode) options = pds_kube_delete_options(propagation_policy);

	return pds_kube_client_request(self, "DELETE", path, NULL, options, cancellable, error);
}

void
pds_kube_client_delete_async(PdsKubeClient *self,
			     const char *path,
			     const char *propagation_policy,
			     GCancellable *cancellable,
			     GAsyncReadyCallback callback,
			     gpointer user_data)
{
	g_autoptr(JsonNode) options = pds_kube_delete_options(propagation_policy);

	pds_kube_client_request_async(self, "DELETE", path, NULL, options, cancellable, callback,
				      user_data);
}

JsonNode *
pds_kube_client_get_version(PdsKubeClient *self,
			    gchar **major_minor,
			    GCancellable *cancellable,
			    GError **error)
{
	g_autoptr(JsonNode) version = pds_kube_client_get(self, "/version", cancellable, error);
	const char *major;
	const char *minor;

	if (version == NULL)
		return NULL;
	major = pds_kube_json_get_string(version, "major");
	minor = pds_kube_json_get_string(version, "minor");
	if (major == NULL || minor == NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			    "GET /version on %s returned no major/minor version",
			    pds_kube_config_get_server(self->config));
		return NULL;
	}
	if (major_minor != NULL) {
		g_autofree gchar *m = g_strdup(minor);

		/* Managed clusters say "29+"; keep the digits. */
		for (gchar *c = m; *c != '\0'; c++) {
			if (!g_ascii_isdigit(*c)) {
				*c = '\0';
				break;
			}
		}
		*major_minor = g_strdup_printf("%s.%s", major, m);
	}
	return g_steal_pointer(&version);
}

JsonNode *
pds_kube_json_get_node(JsonNode *node, const char *dotted_path)
{
	g_auto(GStrv) parts = g_strsplit(dotted_path, ".", -1);

	for (guint i = 0; node != NULL && parts[i] != NULL; i++) {
		if (!JSON_NODE_HOLDS_OBJECT(node))
			return NULL;
		node = json_object_get_member(json_node_get_object(node), parts[i]);
	}
	return node;
}

const char *
pds_kube_json_get_string(JsonNode *node, const char *dotted_path)
{
	JsonNode *value = pds_kube_json_get_node(node, dotted_path);

	if (value == NULL || !JSON_NODE_HOLDS_VALUE(value) ||
	    json_node_get_value_type(value) != G_TYPE_STRING)
		return NULL;
	return json_node_get_string(value);
}
