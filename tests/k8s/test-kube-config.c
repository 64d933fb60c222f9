/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the parts of the Kubernetes client that need no server: the
 * YAML reader, kubeconfig resolution rules and ExecCredential parsing.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "pds-kube-config.h"
#include "pds-kube-exec.h"
#include "pds-kube-yaml.h"

typedef struct {
	gchar *dir;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	f->dir = g_dir_make_tmp("pds-kube-config-XXXXXX", &error);
	g_assert_no_error(error);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
	g_autoptr(GDir) dir = g_dir_open(f->dir, 0, NULL);
	const char *name;

	while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *path = g_build_filename(f->dir, name, NULL);

		g_unlink(path);
	}
	g_rmdir(f->dir);
	g_free(f->dir);
}

static gchar *
write_file(Fixture *f, const char *name, const char *text)
{
	gchar *path = g_build_filename(f->dir, name, NULL);
	g_autoptr(GError) error = NULL;

	g_file_set_contents(path, text, -1, &error);
	g_assert_no_error(error);
	return path;
}

static void
test_yaml_shapes(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) root = pds_kube_yaml_parse("base: &b {x: 1, y: [a, 'b']}\n"
						       "copy: *b\n"
						       "empty:\n"
						       "tilde: ~\n"
						       "quoted: 'null'\n"
						       "flag: true\n"
						       "block: |\n  line1\n  line2\n",
						       -1, "t.yaml", &error);
	JsonObject *o;
	JsonObject *copy = NULL;
	JsonArray *y = NULL;
	const char *s = NULL;
	gboolean b = FALSE;

	g_assert_no_error(error);
	g_assert_nonnull(root);
	o = json_node_get_object(root);
	g_assert_true(pds_kube_yaml_get_object(o, "copy", &copy, &error));
	g_assert_nonnull(copy);
	g_assert_true(pds_kube_yaml_get_string(copy, "x", &s, &error));
	g_assert_cmpstr(s, ==, "1");
	g_assert_true(pds_kube_yaml_get_array(copy, "y", &y, &error));
	g_assert_cmpuint(json_array_get_length(y), ==, 2);
	g_assert_cmpstr(json_array_get_string_element(y, 1), ==, "b");
	g_assert_true(JSON_NODE_HOLDS_NULL(json_object_get_member(o, "empty")));
	g_assert_true(JSON_NODE_HOLDS_NULL(json_object_get_member(o, "tilde")));
	g_assert_true(pds_kube_yaml_get_string(o, "quoted", &s, &error));
	g_assert_cmpstr(s, ==, "null");
	g_assert_true(pds_kube_yaml_get_bool(o, "flag", &b, &error));
	g_assert_true(b);
	g_assert_true(pds_kube_yaml_get_string(o, "block", &s, &error));
	g_assert_cmpstr(s, ==, "line1\nline2\n");
	/* Wrong types are errors that name the field. */
	g_assert_false(pds_kube_yaml_get_bool(o, "block", &b, &error));
	g_assert_error(error, PDS_KUBE_YAML_ERROR, PDS_KUBE_YAML_ERROR_TYPE);
	g_assert_nonnull(strstr(error->message, "\"block\""));
	g_clear_error(&error);
	g_assert_false(pds_kube_yaml_get_array(o, "base", &y, &error));
	g_assert_error(error, PDS_KUBE_YAML_ERROR, PDS_KUBE_YAML_ERROR_TYPE);
}

static void
test_yaml_errors(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) bad = pds_kube_yaml_parse("a: [1,\nb: c\n", -1, "bad.yaml", &error);
	g_autoptr(GString) deep = g_string_new(NULL);
	g_autoptr(JsonNode) too_deep = NULL;
	g_autoptr(JsonNode) alias = NULL;
	g_autoptr(JsonNode) empty = NULL;

	g_assert_null(bad);
	g_assert_error(error, PDS_KUBE_YAML_ERROR, PDS_KUBE_YAML_ERROR_PARSE);
	g_assert_true(g_str_has_prefix(error->message, "bad.yaml: line "));
	g_clear_error(&error);

	for (guint i = 0; i < 100; i++)
		g_string_append_c(deep, '[');
	for (guint i = 0; i < 100; i++)
		g_string_append_c(deep, ']');
	too_deep = pds_kube_yaml_parse(deep->str, -1, "deep.yaml", &error);
	g_assert_null(too_deep);
	g_assert_error(error, PDS_KUBE_YAML_ERROR, PDS_KUBE_YAML_ERROR_PARSE);
	g_clear_error(&error);

	alias = pds_kube_yaml_parse("a: *nothing\n", -1, "alias.yaml", &error);
	g_assert_null(alias);
	g_assert_nonnull(error);
	g_clear_error(&error);

	empty = pds_kube_yaml_parse("", 0, "empty.yaml", &error);
	g_assert_no_error(error);
	g_assert_true(JSON_NODE_HOLDS_OBJECT(empty));
}

static void
test_config_rules(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *ca = write_file(f, "ca.pem", "-----BEGIN CERTIFICATE-----\n");
	g_autofree gchar *token = write_file(f, "tok", "  secret-token \n");
	g_autofree gchar *kc = write_file(
		f, "config",
		"current-context: a\n"
		"clusters:\n"
		"- name: k\n  cluster: {server: 'https://h:6443///', certificate-authority: ca.pem,"
		" extensions: [{name: client.authentication.k8s.io/exec, extension: {audience: "
		"x}}]}\n"
		"- name: both\n  cluster: {server: 'https://h', certificate-authority: ca.pem,"
		" insecure-skip-tls-verify: true}\n"
		"- name: noserver\n  cluster: {certificate-authority: ca.pem}\n"
		"users:\n"
		"- name: tf\n  user: {tokenFile: tok}\n"
		"- name: ex\n  user:\n    exec:\n      apiVersion: "
		"client.authentication.k8s.io/v1beta1\n"
		"      command: bin/helper\n      provideClusterInfo: true\n"
		"- name: old\n  user: {auth-provider: {name: gcp}}\n"
		"- name: halfcert\n  user: {client-certificate: ca.pem}\n"
		"contexts:\n"
		"- name: a\n  context: {cluster: k, user: tf, namespace: shop}\n"
		"- name: e\n  context: {cluster: k, user: ex}\n"
		"- name: both\n  context: {cluster: both, user: tf}\n"
		"- name: noserver\n  context: {cluster: noserver, user: tf}\n"
		"- name: old\n  context: {cluster: k, user: old}\n"
		"- name: half\n  context: {cluster: k, user: halfcert}\n"
		"- name: ghost\n  context: {cluster: k, user: nobody}\n");
	g_autoptr(PdsKubeConfig) a = pds_kube_config_load(kc, NULL, &error);
	g_autoptr(PdsKubeConfig) e = NULL;
	g_autofree gchar *tok = NULL;
	g_autofree gchar *helper = g_build_filename(f->dir, "bin", "helper", NULL);
	const PdsKubeExecConfig *exec;
	struct {
		const char *context;
		const char *needle;
	} bad[] = {
		{"both", "insecure-skip-tls-verify"},
		{"noserver", "no \"server\""},
		{"old", "auth-provider"},
		{"half", "client-certificate but no client-key"},
		{"ghost", "user \"nobody\", which is not defined"},
	};

	g_assert_no_error(error);
	g_assert_cmpstr(pds_kube_config_get_namespace(a), ==, "shop");
	g_assert_cmpstr(pds_kube_config_get_server(a), ==, "https://h:6443");
	g_assert_cmpuint(g_bytes_get_size(pds_kube_config_get_ca_pem(a)), ==, 28);
	tok = pds_kube_config_read_token_file(a, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(tok, ==, "secret-token");

	e = pds_kube_config_load(kc, "e", &error);
	g_assert_no_error(error);
	exec = pds_kube_config_get_exec(e);
	g_assert_nonnull(exec);
	g_assert_cmpstr(exec->command, ==, helper);
	g_assert_true(exec->provide_cluster_info);
	g_assert_cmpstr(exec->cluster_config_json, ==, "{\"audience\":\"x\"}");
	g_assert_cmpstr(pds_kube_config_get_namespace(e), ==, "default");

	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(PdsKubeConfig) c = pds_kube_config_load(kc, bad[i].context, &error);

		g_assert_null(c);
		g_assert_nonnull(error);
		if (strstr(error->message, bad[i].needle) == NULL)
			g_error("context %s: \"%s\" lacks \"%s\"", bad[i].context, error->message,
				bad[i].needle);
		g_clear_error(&error);
	}
}

static void
test_exec_credential(void)
{
	g_autoptr(GError) error = NULL;
	const char *v1 = "client.authentication.k8s.io/v1";
	g_autoptr(PdsKubeExecCredential) tok = pds_kube_exec_credential_parse(
		"{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
		"\"status\":{\"token\":\"t0k\",\"expirationTimestamp\":\"2000-01-01T00:00:00Z\"}}",
		v1, &error);
	g_autoptr(PdsKubeExecCredential) cert = NULL;
	struct {
		const char *json;
		const char *needle;
	} bad[] = {
		{"not json", "not an ExecCredential"},
		{"{\"apiVersion\":\"client.authentication.k8s.io/"
		 "v1beta1\",\"kind\":\"ExecCredential\","
		 "\"status\":{\"token\":\"x\"}}",
		 "expected an ExecCredential of client.authentication.k8s.io/v1"},
		{"{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\"}",
		 "no status"},
		{"{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
		 "\"status\":{}}",
		 "neither a token nor a client certificate"},
		{"{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
		 "\"status\":{\"clientCertificateData\":\"x\"}}",
		 "without the other"},
		{"{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
		 "\"status\":{\"token\":\"x\",\"expirationTimestamp\":\"soon\"}}",
		 "not RFC 3339"},
	};

	g_assert_no_error(error);
	g_assert_cmpstr(tok->token, ==, "t0k");
	g_assert_true(pds_kube_exec_credential_is_expired(tok, 0));

	cert = pds_kube_exec_credential_parse(
		"{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
		"\"status\":{\"clientCertificateData\":\"C\",\"clientKeyData\":\"K\"}}",
		v1, &error);
	g_assert_no_error(error);
	g_assert_null(cert->token);
	g_assert_cmpstr(cert->client_key_data, ==, "K");
	g_assert_false(pds_kube_exec_credential_is_expired(cert, 3600));

	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(PdsKubeExecCredential) c =
			pds_kube_exec_credential_parse(bad[i].json, v1, &error);

		g_assert_null(c);
		g_assert_nonnull(error);
		if (strstr(error->message, bad[i].needle) == NULL)
			g_error("case %u: \"%s\" lacks \"%s\"", i, error->message, bad[i].needle);
		g_clear_error(&error);
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/kube/yaml/shapes", test_yaml_shapes);
	g_test_add_func("/kube/yaml/errors", test_yaml_errors);
	g_test_add("/kube/config/rules", Fixture, NULL, fixture_setup, test_config_rules,
		   fixture_teardown);
	g_test_add_func("/kube/exec/credential", test_exec_credential);
	return g_test_run();
}
