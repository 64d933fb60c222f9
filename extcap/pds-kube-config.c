/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Kubeconfig loading and merging, following kubectl's rules
 * (k8s.io/client-go/tools/clientcmd/loader.go): files from KUBECONFIG are
 * read in order, missing ones skipped; for clusters, users and contexts the
 * first file defining a name wins; current-context comes from the first file
 * that sets it. Relative paths resolve against the directory of the file that
 * defined the entry. Data fields win over their file counterparts.
 */
#include "config.h"

#define G_LOG_DOMAIN "PdsKube"

#include "pds-kube-config.h"
#include "pds-kube-yaml.h"

#include <string.h>

/* Spelled out: clang-format would put spaces into G_DEFINE_QUARK's name. */
GQuark
pds_kube_config_error_quark(void)
{
	return g_quark_from_static_string("pds-kube-config-error-quark");
}

struct _PdsKubeConfig {
	gint ref_count;
	GStrv files;
	gchar *context_name;
	gchar *cluster_name;
	gchar *cluster_file;
	gchar *user_name;
	gchar *namespace;
	gchar *server;
	GBytes *ca_pem;
	gboolean insecure;
	gchar *tls_server_name;
	GBytes *client_cert_pem;
	GBytes *client_key_pem;
	gchar *token;
	gchar *token_file;
	gchar *username;
	gchar *password;
	PdsKubeExecConfig *exec;
	gchar *exec_cluster_config; /* JSON, from the cluster's extensions */
};

/* One named entry as merged: the entry body and the file that defined it. */
typedef struct {
	JsonObject *body; /* borrowed from the file's tree */
	const char *file;
} PdsKubeEntry;

typedef struct {
	GPtrArray *trees;     /* of JsonNode, keep bodies alive */
	GPtrArray *files;     /* of gchar*, files read */
	GHashTable *clusters; /* name -> PdsKubeEntry */
	GHashTable *users;
	GHashTable *contexts;
	gchar *current_context;
	const char *current_context_file;
} PdsKubeMerge;

static void
pds_kube_exec_config_free(PdsKubeExecConfig *exec)
{
	if (exec == NULL)
		return;
	g_free(exec->api_version);
	g_free(exec->command);
	g_strfreev(exec->args);
	g_strfreev(exec->env);
	g_free(exec->install_hint);
	g_free(exec->interactive_mode);
	g_free(exec->cluster_config_json);
	g_free(exec);
}

static void
pds_kube_merge_clear(PdsKubeMerge *m)
{
	g_clear_pointer(&m->trees, g_ptr_array_unref);
	g_clear_pointer(&m->files, g_ptr_array_unref);
	g_clear_pointer(&m->clusters, g_hash_table_unref);
	g_clear_pointer(&m->users, g_hash_table_unref);
	g_clear_pointer(&m->contexts, g_hash_table_unref);
	g_clear_pointer(&m->current_context, g_free);
}

static JsonNode *
pds_kube_config_parse_file(const char *path, GError **error)
{
	g_autofree gchar *data = NULL;
	gsize len = 0;
	const char *p;

	if (!g_file_get_contents(path, &data, &len, error)) {
		g_prefix_error(error, "cannot read kubeconfig: ");
		return NULL;
	}
	for (p = data; *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'; p++)
		;
	/* JSON kubeconfigs keep their types (booleans) through json-glib. */
	if (*p == '{') {
		g_autoptr(JsonParser) parser = json_parser_new();

		if (!json_parser_load_from_data(parser, data, (gssize)len, error)) {
			g_prefix_error(error, "kubeconfig %s is not valid JSON: ", path);
			return NULL;
		}
		return json_node_ref(json_parser_get_root(parser));
	}
	return pds_kube_yaml_parse(data, (gssize)len, path, error);
}

/* Adds clusters/users/contexts of one file; earlier files win. */
static gboolean
pds_kube_merge_list(PdsKubeMerge *m,
		    JsonObject *root,
		    const char *list_name,
		    const char *body_name,
		    GHashTable *table,
		    const char *file,
		    GError **error)
{
	JsonArray *list = NULL;
	g_autoptr(GError) error_local = NULL;

	if (!pds_kube_yaml_get_array(root, list_name, &list, &error_local)) {
		g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_INVALID,
			    "kubeconfig %s: %s", file, error_local->message);
		return FALSE;
	}
	for (guint i = 0; list != NULL && i < json_array_get_length(list); i++) {
		JsonNode *item = json_array_get_element(list, i);
		JsonObject *body = NULL;
		const char *name = NULL;
		PdsKubeEntry *entry;

		if (!JSON_NODE_HOLDS_OBJECT(item) ||
		    !pds_kube_yaml_get_string(json_node_get_object(item), "name", &name,
					      &error_local) ||
		    name == NULL || *name == '\0' ||
		    !pds_kube_yaml_get_object(json_node_get_object(item), body_name, &body,
					      &error_local)) {
			g_set_error(
				error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_INVALID,
				"kubeconfig %s: %s[%u] needs a \"name\" and a \"%s\" mapping%s%s",
				file, list_name, i, body_name, error_local != NULL ? ": " : "",
				error_local != NULL ? error_local->message : "");
			return FALSE;
		}
		if (g_hash_table_contains(table, name))
			continue;
		entry = g_new0(PdsKubeEntry, 1);
		entry->body = body;
		entry->file = file;
		g_hash_table_insert(table, g_strdup(name), entry);
	}
	return TRUE;
}

static gboolean
pds_kube_merge_file(PdsKubeMerge *m, const char *path, GError **error)
{
	g_autoptr(JsonNode) tree = NULL;
	g_autoptr(GError) error_local = NULL;
	JsonObject *root;
	const char *current = NULL;
	const char *file;

	tree = pds_kube_config_parse_file(path, error);
	if (tree == NULL)
		return FALSE;
	if (!JSON_NODE_HOLDS_OBJECT(tree)) {
		g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_INVALID,
			    "kubeconfig %s: the top level must be a mapping (a Config object)",
			    path);
		return FALSE;
	}
	/* Absolute, so entries' relative paths resolve the same from any cwd. */
	g_ptr_array_add(m->files, g_canonicalize_filename(path, NULL));
	file = g_ptr_array_index(m->files, m->files->len - 1);
	root = json_node_get_object(tree);
	if (!pds_kube_merge_list(m, root, "clusters", "cluster", m->clusters, file, error) ||
	    !pds_kube_merge_list(m, root, "users", "user", m->users, file, error) ||
	    !pds_kube_merge_list(m, root, "contexts", "context", m->contexts, file, error))
		return FALSE;
	if (!pds_kube_yaml_get_string(root, "current-context", &current, &error_local)) {
		g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_INVALID,
			    "kubeconfig %s: %s", path, error_local->message);
		return FALSE;
	}
	if (m->current_context == NULL && current != NULL && *current != '\0') {
		m->current_context = g_strdup(current);
		m->current_context_file = file;
	}
	g_ptr_array_add(m->trees, g_steal_pointer(&tree));
	return TRUE;
}

static gchar *
pds_kube_config_default_path(void)
{
	const char *home = g_getenv("HOME");

	return g_build_filename(home != NULL ? home : g_get_home_dir(), ".kube", "config", NULL);
}

static gboolean
pds_kube_merge_load(PdsKubeMerge *m, const char *kubeconfig, GError **error)
{
	const char *env = g_getenv("KUBECONFIG");

	m->trees = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
	m->files = g_ptr_array_new_with_free_func(g_free);
	m->clusters = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	m->users = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	m->contexts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);

	/* --kubeconfig names exactly one file, which must exist. */
	if (kubeconfig != NULL)
		return pds_kube_merge_file(m, kubeconfig, error);

	if (env != NULL && *env != '\0') {
		g_auto(GStrv) paths = g_strsplit(env, G_SEARCHPATH_SEPARATOR_S, -1);
		GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);

		for (guint i = 0; paths[i] != NULL; i++) {
			/* kubectl skips empty entries, duplicates and missing files. */
			if (*paths[i] == '\0' || g_hash_table_contains(seen, paths[i]))
				continue;
			g_hash_table_add(seen, paths[i]);
			if (!g_file_test(paths[i], G_FILE_TEST_EXISTS))
				continue;
			if (!pds_kube_merge_file(m, paths[i], error)) {
				g_hash_table_unref(seen);
				return FALSE;
			}
		}
		g_hash_table_unref(seen);
		if (m->files->len == 0) {
			g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_NOT_FOUND,
				    "none of the files in KUBECONFIG=%s exists; point KUBECONFIG "
				    "or --kubeconfig at your cluster's kubeconfig",
				    env);
			return FALSE;
		}
		return TRUE;
	} else {
		g_autofree gchar *path = pds_kube_config_default_path();

		if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
			g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_NOT_FOUND,
				    "no kubeconfig: %s does not exist and KUBECONFIG is not set; "
				    "pass --kubeconfig FILE or set KUBECONFIG",
				    path);
			return FALSE;
		}
		return pds_kube_merge_file(m, path, error);
	}
}

static gint
pds_kube_config_cmp(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

static gchar *
pds_kube_config_names(GHashTable *table)
{
	g_autofree const gchar **keys = (const gchar **)g_hash_table_get_keys_as_array(table, NULL);
	g_autoptr(GPtrArray) sorted = g_ptr_array_new();

	for (guint i = 0; keys[i] != NULL; i++)
		g_ptr_array_add(sorted, (gpointer)keys[i]);
	g_ptr_array_sort(sorted, pds_kube_config_cmp);
	g_ptr_array_add(sorted, NULL);
	if (sorted->len == 1)
		return g_strdup("none");
	return g_strjoinv(", ", (gchar **)sorted->pdata);
}

static gchar *
pds_kube_config_resolve_path(const char *file, const char *path)
{
	g_autofree gchar *dir = NULL;

	if (g_path_is_absolute(path))
		return g_strdup(path);
	dir = g_path_get_dirname(file);
	return g_build_filename(dir, path, NULL);
}

/* Reads @field's file or decodes @field-data of @body into PEM bytes. */
static gboolean
pds_kube_config_pem(JsonObject *body,
		    const char *field,
		    const char *where,
		    const char *file,
		    GBytes **out,
		    GError **error)
{
	g_autofree gchar *data_field = g_strdup_printf("%s-data", field);
	g_autoptr(GError) error_local = NULL;
	const char *data = NULL;
	const char *path = NULL;

	*out = NULL;
	if (!pds_kube_yaml_get_string(body, data_field, &data, &error_local) ||
	    !pds_kube_yaml_get_string(body, field, &path, &error_local)) {
		g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_INVALID,
			    "kubeconfig %s: %s: %s", file, where, error_local->message);
		return FALSE;
	}
	if (data != NULL && *data != '\0') {
		gsize len = 0;
		guchar *raw;

		/* g_base64_decode ignores garbage; check the alphabet first. */
		for (const char *c = data; *c != '\0'; c++) {
			if (!g_ascii_isalnum(*c) && strchr("+/=\r\n \t", *c) == NULL) {
				g_set_error(error, PDS_KUBE_CONFIG_ERROR,
					    PDS_KUBE_CONFIG_ERROR_INVALID,
					    "kubeconfig %s: %s: %s is not base64; it must hold the "
					    "base64 of a PEM file",
					    file, where, data_field);
				return FALSE;
			}
		}
		raw = g_base64_decode(data, &len);
		if (len == 0 || strstr((const char *)raw, "-----BEGIN") == NULL) {
			g_free(raw);
			g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_INVALID,
				    "kubeconfig %s: %s: %s does not decode to PEM data", file,
				    where, data_field);
			return FALSE;
		}
		*out = g_bytes_new_take(raw, len);
		return TRUE;
	}
	if (path != NULL && *path != '\0') {
		g_autofree gchar *full = pds_kube_config_resolve_path(file, path);
		gchar *contents = NULL;
		gsize len = 0;

		if (!g_file_get_contents(full, &contents, &len, &error_local)) {
			g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_INVALID,
				    "kubeconfig %s: %s: %s: %s", file, where, field,
				    error_local->message);
			return FALSE;
		}
		*out = g_bytes_new_take(contents, len);
	}
	return TRUE;
}

static gboolean
pds_kube_config_load_exec(
	PdsKubeConfig *self, JsonObject *exec, const char *where, const char *file, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	const char *api_version = NULL;
	const char *command = NULL;
	const char *hint = NULL;
	const char *interactive = NULL;
	JsonArray *args = NULL;
	JsonArray *env = NULL;
	g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) envv = g_ptr_array_new_with_free_func(g_free);
	PdsKubeExecConfig *cfg;

	if (!pds_kube_yaml_get_string(exec, "apiVersion", &api_version, &error_local) ||
	    !pds_kube_yaml_get_string(exec, "command", &command, &error_local) ||
	    !pds_kube_yaml_get_string(exec, "installHint", &hint, &error_local) ||
	    !pds_kube_yaml_get_string(exec, "interactiveMode", &interactive, &error_local) ||
	    !pds_kube_yaml_get_array(exec, "args", &args, &error_local) ||
	    !pds_kube_yaml_get_array(exec, "env", &env, &error_local)) {
		g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_INVALID,
			    "kubeconfig %s: %s.exec: %s", file, where, error_local->message);
		return FALSE;
	}
	if (command == NULL || *command == '\0') {
		g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_INVALID,
			    "kubeconfig %s: %s.exec.command is missing", file, where);
		return FALSE;
	}
	if (g_strcmp0(api_version, "client.authentication.k8s.io/v1") != 0 &&
	    g_strcmp0(api_version, "client.authentication.k8s.io/v1beta1") != 0) {
		g_set_error(
			error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_INVALID,
			"kubeconfig %s: %s.exec.apiVersion is \"%s\"; supported are "
			"client.authentication.k8s.io/v1 and client.authentication.k8s.io/v1beta1",
			file, where, api_version != NULL ? api_version : "");
		return FALSE;
	}
	if (interactive != NULL && g_strcmp0(interactive, "Never") != 0 &&
	    g_strcmp0(interactive, "IfAvailable") != 0 && g_strcmp0(interactive, "Always") != 0) {
		g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_INVALID,
			    "kubeconfig %s: %s.exec.interactiveMode is \"%s\"; it must be Never, "
			    "IfAvailable or Always",
			    file, where, interactive);
		return FALSE;
	}
	for (guint i = 0; args != NULL && i < json_array_get_length(args); i++) {
		JsonNode *arg = json_array_get_element(args, i);

		if (!JSON_NODE_HOLDS_VALUE(arg) || json_node_get_value_type(arg) != G_TYPE_STRING) {
			g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_INVALID,
				    "kubeconfig %s: %s.exec.args[%u] must be a string", file, where,
				    i);
			return FALSE;
		}
		g_ptr_array_add(argv, json_node_dup_string(arg));
	}
	g_ptr_array_add(argv, NULL);
	for (guint i = 0; env != NULL && i < json_array_get_length(env); i++) {
		JsonNode *item = json_array_get_element(env, i);
		const char *name = NULL;
		const char *value = NULL;

		if (!JSON_NODE_HOLDS_OBJECT(item) ||
		    !pds_kube_yaml_get_string(json_node_get_object(item), "name", &name, NULL) ||
		    !pds_kube_yaml_get_string(json_node_get_object(item), "value", &value, NULL) ||
		    name == NULL || *name == '\0' || strchr(name, '=') != NULL) {
			g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_INVALID,
				    "kubeconfig %s: %s.exec.env[%u] needs a \"name\" and a string "
				    "\"value\"",
				    file, where, i);
			return FALSE;
		}
		g_ptr_array_add(envv, g_strdup_printf("%s=%s", name, value != NULL ? value : ""));
	}
	g_ptr_array_add(envv, NULL);

	cfg = g_new0(PdsKubeExecConfig, 1);
	cfg->api_version = g_strdup(api_version);
	/* As client-go: a relative path with a separator is relative to the file. */
	if (!g_path_is_absolute(command) && strchr(command, G_DIR_SEPARATOR) != NULL)
		cfg->command = pds_kube_config_resolve_path(file, command);
	else
		cfg->command = g_strdup(command);
	cfg->args = (GStrv)g_ptr_array_steal(argv, NULL);
	cfg->env = (GStrv)g_ptr_array_steal(envv, NULL);
	cfg->install_hint = g_strdup(hint);
	cfg->interactive_mode = g_strdup(interactive != NULL ? interactive : "IfAvailable");
	if (!pds_kube_yaml_get_bool(exec, "provideClusterInfo", &cfg->provide_cluster_info,
				    &error_local)) {
		pds_kube_exec_config_free(cfg);
		g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_INVALID,
			    "kubeconfig %s: %s.exec: %s", file, where, error_local->message);
		return FALSE;
	}
	self->exec = cfg;
	return TRUE;
}

static gboolean
pds_kube_config_load_cluster(PdsKubeConfig *self, PdsKubeEntry *entry, GError **error)
{
	g_autofree gchar *where = g_strdup_printf("cluster \"%s\"", self->cluster_name);
	g_autoptr(GError) error_local = NULL;
	const char *server = NULL;
	const char *tls_server_name = NULL;
	JsonArray *extensions = NULL;

	if (!pds_kube_yaml_get_string(entry->body, "server", &server, &error_local) ||
	    !pds_kube_yaml_get_string(entry->body, "tls-server-name", &tls_server_name,
				      &error_local) ||
	    !pds_kube_yaml_get_bool(entry->body, "insecure-skip-tls-verify", &self->insecure,
				    &error_local) ||
	    !pds_kube_yaml_get_array(entry->body, "extensions", &extensions, &error_local)) {
		g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_INVALID,
			    "kubeconfig %s: %s: %s", entry->file, where, error_local->message);
		return FALSE;
	}
	if (server == NULL || *server == '\0') {
		g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_INVALID,
			    "kubeconfig %s: %s has no \"server\"", entry->file, where);
		return FALSE;
	}
	if (!g_str_has_prefix(server, "https://") && !g_str_has_prefix(server, "http://")) {
		g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_INVALID,
			    "kubeconfig %s: %s: server \"%s\" must be an https:// URL", entry->file,
			    where, server);
		return FALSE;
	}
	/* The API paths are absolute; a trailing slash would double them. */
	self->server = g_strdup(server);
	while (g_str_has_suffix(self->server, "/"))
		self->server[strlen(self->server) - 1] = '\0';
	self->tls_server_name = g_strdup(tls_server_name);
	if (!pds_kube_config_pem(entry->body, "certificate-authority", where, entry->file,
				 &self->ca_pem, error))
		return FALSE;
	if (self->insecure && self->ca_pem != NULL) {
		g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_INVALID,
			    "kubeconfig %s: %s sets both a certificate authority and "
			    "insecure-skip-tls-verify; remove one of them",
			    entry->file, where);
		return FALSE;
	}
	/* The exec plugin's per-cluster config travels in KUBERNETES_EXEC_INFO. */
	for (guint i = 0; extensions != NULL && i < json_array_get_length(extensions); i++) {
		JsonNode *ext = json_array_get_element(extensions, i);
		JsonObject *obj = JSON_NODE_HOLDS_OBJECT(ext) ? json_node_get_object(ext) : NULL;

		if (obj != NULL &&
		    g_strcmp0(json_object_get_string_member_with_default(obj, "name", ""),
			      "client.authentication.k8s.io/exec") == 0 &&
		    json_object_has_member(obj, "extension")) {
			g_autoptr(JsonGenerator) gen = json_generator_new();

			json_generator_set_root(gen, json_object_get_member(obj, "extension"));
			self->exec_cluster_config = json_generator_to_data(gen, NULL);
		}
	}
	return TRUE;
}

static gboolean
pds_kube_config_load_user(PdsKubeConfig *self, PdsKubeEntry *entry, GError **error)
{
	g_autofree gchar *where = g_strdup_printf("user \"%s\"", self->user_name);
	g_autoptr(GError) error_local = NULL;
	const char *token = NULL;
	const char *token_file = NULL;
	const char *username = NULL;
	const char *password = NULL;
	JsonObject *exec = NULL;
	JsonObject *auth_provider = NULL;

	if (!pds_kube_yaml_get_string(entry->body, "token", &token, &error_local) ||
	    !pds_kube_yaml_get_string(entry->body, "tokenFile", &token_file, &error_local) ||
	    !pds_kube_yaml_get_string(entry->body, "username", &username, &error_local) ||
	    !pds_kube_yaml_get_string(entry->body, "password", &password, &error_local) ||
	    !pds_kube_yaml_get_object(entry->body, "exec", &exec, &error_local) ||
	    !pds_kube_yaml_get_object(entry->body, "auth-provider", &auth_provider, &error_local)) {
		g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_INVALID,
			    "kubeconfig %s: %s: %s", entry->file, where, error_local->message);
		return FALSE;
	}
	if (auth_provider != NULL) {
		g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_INVALID,
			    "kubeconfig %s: %s uses auth-provider, which Kubernetes removed in "
			    "1.26; switch it to an exec credential plugin (e.g. "
			    "gke-gcloud-auth-plugin, kubelogin)",
			    entry->file, where);
		return FALSE;
	}
	if (!pds_kube_config_pem(entry->body, "client-certificate", where, entry->file,
				 &self->client_cert_pem, error) ||
	    !pds_kube_config_pem(entry->body, "client-key", where, entry->file,
				 &self->client_key_pem, error))
		return FALSE;
	if ((self->client_cert_pem == NULL) != (self->client_key_pem == NULL)) {
		g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_INVALID,
			    "kubeconfig %s: %s has a client-%s but no client-%s; both are needed",
			    entry->file, where,
			    self->client_cert_pem != NULL ? "certificate" : "key",
			    self->client_cert_pem != NULL ? "key" : "certificate");
		return FALSE;
	}
	if (token != NULL && *token != '\0')
		self->token = g_strdup(token);
	else if (token_file != NULL && *token_file != '\0')
		self->token_file = pds_kube_config_resolve_path(entry->file, token_file);
	if ((username != NULL || password != NULL) && self->token == NULL &&
	    self->token_file == NULL) {
		self->username = g_strdup(username != NULL ? username : "");
		self->password = g_strdup(password != NULL ? password : "");
	}
	if (exec != NULL) {
		if (!pds_kube_config_load_exec(self, exec, where, entry->file, error))
			return FALSE;
		self->exec->cluster_config_json = g_strdup(self->exec_cluster_config);
	}
	return TRUE;
}

static gboolean
pds_kube_config_resolve(PdsKubeConfig *self, PdsKubeMerge *m, const char *context, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	PdsKubeEntry *ctx;
	PdsKubeEntry *cluster;
	PdsKubeEntry *user;
	const char *cluster_name = NULL;
	const char *user_name = NULL;
	const char *ns = NULL;
	g_autofree gchar *files = g_strjoinv(", ", self->files);

	if (context == NULL)
		context = m->current_context;
	if (context == NULL) {
		g_autofree gchar *names = pds_kube_config_names(m->contexts);

		g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_NOT_FOUND,
			    "no context chosen: current-context is not set in %s; pass "
			    "--context NAME (contexts: %s)",
			    files, names);
		return FALSE;
	}
	ctx = g_hash_table_lookup(m->contexts, context);
	if (ctx == NULL) {
		g_autofree gchar *names = pds_kube_config_names(m->contexts);

		g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_NOT_FOUND,
			    "context \"%s\"%s%s%s is not defined in %s (contexts: %s)", context,
			    context == m->current_context ? " (current-context of " : "",
			    context == m->current_context ? m->current_context_file : "",
			    context == m->current_context ? ")" : "", files, names);
		return FALSE;
	}
	self->context_name = g_strdup(context);
	if (!pds_kube_yaml_get_string(ctx->body, "cluster", &cluster_name, &error_local) ||
	    !pds_kube_yaml_get_string(ctx->body, "user", &user_name, &error_local) ||
	    !pds_kube_yaml_get_string(ctx->body, "namespace", &ns, &error_local)) {
		g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_INVALID,
			    "kubeconfig %s: context \"%s\": %s", ctx->file, context,
			    error_local->message);
		return FALSE;
	}
	self->namespace = g_strdup(ns != NULL && *ns != '\0' ? ns : "default");
	if (cluster_name == NULL || *cluster_name == '\0') {
		g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_INVALID,
			    "kubeconfig %s: context \"%s\" names no cluster", ctx->file, context);
		return FALSE;
	}
	cluster = g_hash_table_lookup(m->clusters, cluster_name);
	if (cluster == NULL) {
		g_autofree gchar *names = pds_kube_config_names(m->clusters);

		g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_NOT_FOUND,
			    "kubeconfig %s: context \"%s\" uses cluster \"%s\", which is not "
			    "defined in %s (clusters: %s)",
			    ctx->file, context, cluster_name, files, names);
		return FALSE;
	}
	self->cluster_name = g_strdup(cluster_name);
	self->cluster_file = g_strdup(cluster->file);
	if (!pds_kube_config_load_cluster(self, cluster, error))
		return FALSE;

	/* A context without a user is anonymous access, as kubectl allows. */
	if (user_name == NULL || *user_name == '\0')
		return TRUE;
	user = g_hash_table_lookup(m->users, user_name);
	if (user == NULL) {
		g_autofree gchar *names = pds_kube_config_names(m->users);

		g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_NOT_FOUND,
			    "kubeconfig %s: context \"%s\" uses user \"%s\", which is not "
			    "defined in %s (users: %s)",
			    ctx->file, context, user_name, files, names);
		return FALSE;
	}
	self->user_name = g_strdup(user_name);
	return pds_kube_config_load_user(self, user, error);
}

PdsKubeConfig *
pds_kube_config_load(const char *kubeconfig, const char *context, GError **error)
{
	PdsKubeMerge m = {0};
	g_autoptr(PdsKubeConfig) self = g_new0(PdsKubeConfig, 1);

	self->ref_count = 1;
	if (!pds_kube_merge_load(&m, kubeconfig, error)) {
		pds_kube_merge_clear(&m);
		return NULL;
	}
	g_ptr_array_add(m.files, NULL);
	self->files = g_strdupv((gchar **)m.files->pdata);
	g_ptr_array_remove_index(m.files, m.files->len - 1);
	if (!pds_kube_config_resolve(self, &m, context, error)) {
		pds_kube_merge_clear(&m);
		return NULL;
	}
	pds_kube_merge_clear(&m);
	g_debug("kubeconfig: context %s, cluster %s (%s), user %s, namespace %s",
		self->context_name, self->cluster_name, self->server,
		self->user_name != NULL ? self->user_name : "(none)", self->namespace);
	return g_steal_pointer(&self);
}

PdsKubeConfig *
pds_kube_config_ref(PdsKubeConfig *config)
{
	g_return_val_if_fail(config != NULL, NULL);
	g_atomic_int_inc(&config->ref_count);
	return config;
}

void
pds_kube_config_unref(PdsKubeConfig *config)
{
	if (config == NULL || !g_atomic_int_dec_and_test(&config->ref_count))
		return;
	g_strfreev(config->files);
	g_free(config->context_name);
	g_free(config->cluster_name);
	g_free(config->cluster_file);
	g_free(config->user_name);
	g_free(config->namespace);
	g_free(config->server);
	g_clear_pointer(&config->ca_pem, g_bytes_unref);
	g_free(config->tls_server_name);
	g_clear_pointer(&config->client_cert_pem, g_bytes_unref);
	g_clear_pointer(&config->client_key_pem, g_bytes_unref);
	g_free(config->token);
	g_free(config->token_file);
	g_free(config->username);
	g_free(config->password);
	pds_kube_exec_config_free(config->exec);
	g_free(config->exec_cluster_config);
	g_free(config);
}

const char *const *
pds_kube_config_get_files(PdsKubeConfig *config)
{
	return (const char *const *)config->files;
}

const char *
pds_kube_config_get_context_name(PdsKubeConfig *config)
{
	return config->context_name;
}

const char *
pds_kube_config_get_cluster_name(PdsKubeConfig *config)
{
	return config->cluster_name;
}

const char *
pds_kube_config_get_cluster_file(PdsKubeConfig *config)
{
	return config->cluster_file;
}

const char *
pds_kube_config_get_user_name(PdsKubeConfig *config)
{
	return config->user_name;
}

const char *
pds_kube_config_get_namespace(PdsKubeConfig *config)
{
	return config->namespace;
}

const char *
pds_kube_config_get_server(PdsKubeConfig *config)
{
	return config->server;
}

GBytes *
pds_kube_config_get_ca_pem(PdsKubeConfig *config)
{
	return config->ca_pem;
}

gboolean
pds_kube_config_get_insecure_skip_tls_verify(PdsKubeConfig *config)
{
	return config->insecure;
}

const char *
pds_kube_config_get_tls_server_name(PdsKubeConfig *config)
{
	return config->tls_server_name;
}

GBytes *
pds_kube_config_get_client_cert_pem(PdsKubeConfig *config)
{
	return config->client_cert_pem;
}

GBytes *
pds_kube_config_get_client_key_pem(PdsKubeConfig *config)
{
	return config->client_key_pem;
}

const char *
pds_kube_config_get_token(PdsKubeConfig *config)
{
	return config->token;
}

const char *
pds_kube_config_get_token_file(PdsKubeConfig *config)
{
	return config->token_file;
}

const char *
pds_kube_config_get_username(PdsKubeConfig *config)
{
	return config->username;
}

const char *
pds_kube_config_get_password(PdsKubeConfig *config)
{
	return config->password;
}

const PdsKubeExecConfig *
pds_kube_config_get_exec(PdsKubeConfig *config)
{
	return config->exec;
}

gchar *
pds_kube_config_read_token_file(PdsKubeConfig *config, GError **error)
{
	g_autofree gchar *contents = NULL;

	g_return_val_if_fail(config->token_file != NULL, NULL);
	if (!g_file_get_contents(config->token_file, &contents, NULL, error)) {
		g_prefix_error(error, "user \"%s\": cannot read tokenFile: ", config->user_name);
		return NULL;
	}
	g_strstrip(contents);
	if (*contents == '\0') {
		g_set_error(error, PDS_KUBE_CONFIG_ERROR, PDS_KUBE_CONFIG_ERROR_INVALID,
			    "user \"%s\": tokenFile %s is empty", config->user_name,
			    config->token_file);
		return NULL;
	}
	return g_steal_pointer(&contents);
}
