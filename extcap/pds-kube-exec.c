/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Exec credential plugins as client-go runs them
 * (k8s.io/client-go/plugin/pkg/client/auth/exec/exec.go and the
 * client.authentication.k8s.io types): the environment gets the configured
 * env plus KUBERNETES_EXEC_INFO (an ExecCredential with spec.interactive and,
 * with provideClusterInfo, spec.cluster); stdout must be an ExecCredential of
 * the same apiVersion whose status holds a token or a client certificate and
 * key, optionally with expirationTimestamp (RFC 3339).
 */
#include "config.h"

#define G_LOG_DOMAIN "PdsKube"

#include "pds-kube-exec.h"

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <unistd.h>

void
pds_kube_exec_credential_free(PdsKubeExecCredential *cred)
{
	if (cred == NULL)
		return;
	if (cred->token != NULL)
		memset(cred->token, 0, strlen(cred->token));
	g_free(cred->token);
	g_free(cred->client_certificate_data);
	if (cred->client_key_data != NULL)
		memset(cred->client_key_data, 0, strlen(cred->client_key_data));
	g_free(cred->client_key_data);
	g_clear_pointer(&cred->expiration, g_date_time_unref);
	g_free(cred);
}

gboolean
pds_kube_exec_credential_is_expired(PdsKubeExecCredential *cred, gint64 margin_secs)
{
	g_autoptr(GDateTime) now = NULL;

	if (cred->expiration == NULL)
		return FALSE;
	now = g_date_time_new_now_utc();
	return g_date_time_difference(cred->expiration, now) <= margin_secs * G_TIME_SPAN_SECOND;
}

/* As client-go: the plugin may prompt only when stdin is a terminal and it is allowed to. */
static gboolean
pds_kube_exec_interactive(const PdsKubeExecConfig *exec)
{
	return g_strcmp0(exec->interactive_mode, "Never") != 0 && isatty(STDIN_FILENO);
}

static gchar *
pds_kube_exec_info(PdsKubeConfig *config, const PdsKubeExecConfig *exec)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autoptr(JsonNode) root = NULL;

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "apiVersion");
	json_builder_add_string_value(b, exec->api_version);
	json_builder_set_member_name(b, "kind");
	json_builder_add_string_value(b, "ExecCredential");
	json_builder_set_member_name(b, "spec");
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "interactive");
	json_builder_add_boolean_value(b, pds_kube_exec_interactive(exec));
	if (exec->provide_cluster_info) {
		GBytes *ca = pds_kube_config_get_ca_pem(config);

		json_builder_set_member_name(b, "cluster");
		json_builder_begin_object(b);
		json_builder_set_member_name(b, "server");
		json_builder_add_string_value(b, pds_kube_config_get_server(config));
		if (pds_kube_config_get_tls_server_name(config) != NULL) {
			json_builder_set_member_name(b, "tls-server-name");
			json_builder_add_string_value(b,
						      pds_kube_config_get_tls_server_name(config));
		}
		if (pds_kube_config_get_insecure_skip_tls_verify(config)) {
			json_builder_set_member_name(b, "insecure-skip-tls-verify");
			json_builder_add_boolean_value(b, TRUE);
		}
		if (ca != NULL) {
			g_autofree gchar *b64 =
				g_base64_encode(g_bytes_get_data(ca, NULL), g_bytes_get_size(ca));

			json_builder_set_member_name(b, "certificate-authority-data");
			json_builder_add_string_value(b, b64);
		}
		if (exec->cluster_config_json != NULL) {
			g_autoptr(JsonNode) ext = json_from_string(exec->cluster_config_json, NULL);

			if (ext != NULL) {
				json_builder_set_member_name(b, "config");
				json_builder_add_value(b, g_steal_pointer(&ext));
			}
		}
		json_builder_end_object(b);
	}
	json_builder_end_object(b);
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	json_generator_set_root(gen, root);
	return json_generator_to_data(gen, NULL);
}

PdsKubeExecCredential *
pds_kube_exec_credential_parse(const char *json, const char *api_version, GError **error)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(PdsKubeExecCredential) cred = g_new0(PdsKubeExecCredential, 1);
	g_autoptr(GError) error_local = NULL;
	JsonObject *root;
	JsonObject *status;
	const char *expiry;

	if (!json_parser_load_from_data(parser, json, -1, &error_local) ||
	    !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
		g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_EXEC,
			    "its output is not an ExecCredential JSON object: %s",
			    error_local != NULL ? error_local->message : "not an object");
		return NULL;
	}
	root = json_node_get_object(json_parser_get_root(parser));
	if (g_strcmp0(json_object_get_string_member_with_default(root, "kind", ""),
		      "ExecCredential") != 0 ||
	    g_strcmp0(json_object_get_string_member_with_default(root, "apiVersion", ""),
		      api_version) != 0) {
		g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_EXEC,
			    "it printed kind \"%s\" apiVersion \"%s\", expected an "
			    "ExecCredential of %s",
			    json_object_get_string_member_with_default(root, "kind", ""),
			    json_object_get_string_member_with_default(root, "apiVersion", ""),
			    api_version);
		return NULL;
	}
	status = json_object_has_member(root, "status") &&
				 JSON_NODE_HOLDS_OBJECT(json_object_get_member(root, "status"))
			 ? json_object_get_object_member(root, "status")
			 : NULL;
	if (status == NULL) {
		g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_EXEC,
			    "its ExecCredential has no status");
		return NULL;
	}
	cred->token = g_strdup(json_object_get_string_member_with_default(status, "token", NULL));
	cred->client_certificate_data = g_strdup(
		json_object_get_string_member_with_default(status, "clientCertificateData", NULL));
	cred->client_key_data =
		g_strdup(json_object_get_string_member_with_default(status, "clientKeyData", NULL));
	if (cred->token != NULL && *cred->token == '\0')
		g_clear_pointer(&cred->token, g_free);
	if ((cred->client_certificate_data == NULL) != (cred->client_key_data == NULL)) {
		g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_EXEC,
			    "its ExecCredential has clientCertificateData or clientKeyData "
			    "without the other");
		return NULL;
	}
	if (cred->token == NULL && cred->client_certificate_data == NULL) {
		g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_EXEC,
			    "its ExecCredential status has neither a token nor a client "
			    "certificate");
		return NULL;
	}
	expiry = json_object_get_string_member_with_default(status, "expirationTimestamp", NULL);
	if (expiry != NULL && *expiry != '\0') {
		cred->expiration = g_date_time_new_from_iso8601(expiry, NULL);
		if (cred->expiration == NULL) {
			g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_EXEC,
				    "its expirationTimestamp \"%s\" is not RFC 3339", expiry);
			return NULL;
		}
	}
	return g_steal_pointer(&cred);
}

PdsKubeExecCredential *
pds_kube_exec_run(PdsKubeConfig *config, GCancellable *cancellable, GError **error)
{
	const PdsKubeExecConfig *exec = pds_kube_config_get_exec(config);
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autoptr(GSubprocess) proc = NULL;
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *info = NULL;
	g_autofree gchar *out = NULL;
	g_autofree gchar *err = NULL;
	PdsKubeExecCredential *cred;

	g_return_val_if_fail(exec != NULL, NULL);

	if (g_strcmp0(exec->interactive_mode, "Always") == 0 && !pds_kube_exec_interactive(exec)) {
		g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_EXEC,
			    "user \"%s\": exec credential plugin %s needs a terminal "
			    "(interactiveMode: Always) but standard input is not one; run "
			    "podscope from a terminal or log in with the plugin first",
			    pds_kube_config_get_user_name(config), exec->command);
		return NULL;
	}
	/*
	 * An interactive plugin shares our terminal (stdin and stderr, for its
	 * prompts); otherwise stdin is /dev/null and stderr is kept for errors.
	 */
	launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE |
					     (pds_kube_exec_interactive(exec)
						      ? G_SUBPROCESS_FLAGS_STDIN_INHERIT
						      : G_SUBPROCESS_FLAGS_STDERR_PIPE));
	for (guint i = 0; exec->env != NULL && exec->env[i] != NULL; i++) {
		g_auto(GStrv) kv = g_strsplit(exec->env[i], "=", 2);

		g_subprocess_launcher_setenv(launcher, kv[0], kv[1] != NULL ? kv[1] : "", TRUE);
	}
	info = pds_kube_exec_info(config, exec);
	g_subprocess_launcher_setenv(launcher, "KUBERNETES_EXEC_INFO", info, TRUE);

	g_ptr_array_add(argv, exec->command);
	for (guint i = 0; exec->args != NULL && exec->args[i] != NULL; i++)
		g_ptr_array_add(argv, exec->args[i]);
	g_ptr_array_add(argv, NULL);
	proc = g_subprocess_launcher_spawnv(launcher, (const gchar *const *)argv->pdata,
					    &error_local);
	if (proc == NULL) {
		g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_EXEC,
			    "user \"%s\": cannot run the exec credential plugin %s: %s%s%s",
			    pds_kube_config_get_user_name(config), exec->command,
			    error_local->message, exec->install_hint != NULL ? "\n" : "",
			    exec->install_hint != NULL ? exec->install_hint : "");
		return NULL;
	}
	if (!g_subprocess_communicate_utf8(proc, NULL, cancellable, &out, &err, &error_local)) {
		g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_EXEC,
			    "user \"%s\": exec credential plugin %s: %s",
			    pds_kube_config_get_user_name(config), exec->command,
			    error_local->message);
		return NULL;
	}
	if (!g_subprocess_get_if_exited(proc) || g_subprocess_get_exit_status(proc) != 0) {
		g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_EXEC,
			    "user \"%s\": exec credential plugin %s failed (%s %d)%s%s",
			    pds_kube_config_get_user_name(config), exec->command,
			    g_subprocess_get_if_exited(proc) ? "exit status" : "signal",
			    g_subprocess_get_if_exited(proc) ? g_subprocess_get_exit_status(proc)
							     : g_subprocess_get_term_sig(proc),
			    err != NULL && *err != '\0' ? ": " : "",
			    err != NULL ? g_strstrip(err) : "");
		return NULL;
	}
	cred = pds_kube_exec_credential_parse(out, exec->api_version, &error_local);
	if (cred == NULL) {
		g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_EXEC,
			    "user \"%s\": exec credential plugin %s: %s",
			    pds_kube_config_get_user_name(config), exec->command,
			    error_local->message);
		return NULL;
	}
	g_debug("exec plugin %s: %s credential%s", exec->command,
		cred->token != NULL ? "token" : "certificate",
		cred->expiration != NULL ? " with expiry" : "");
	return cred;
}
