/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Drives the Kubernetes client library from the k8s tests: each subcommand
 * is one library call; results go to stdout as JSON or lines, errors to
 * stderr with the API error's parts on a second line, exit status 1.
 */
#include "config.h"

#define G_LOG_DOMAIN "PdsKubeTool"

#include <glib-unix.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pds-kube-client.h"
#include "pds-kube-config.h"
#include "pds-kube-portforward.h"
#include "pds-kube-watch.h"

static gchar *opt_kubeconfig;
static gchar *opt_context;
static gchar *opt_selector;
static gchar *opt_propagation;
static gboolean opt_async;
static gint opt_count = 1;
static gint opt_repeat = 1;
static gdouble opt_interval;
static gdouble opt_timeout = 30;
static gchar *opt_resource_version;
static gint opt_watch_timeout;

static const GOptionEntry entries[] = {
	{"kubeconfig", 0, 0, G_OPTION_ARG_FILENAME, &opt_kubeconfig, "kubeconfig file", "FILE"},
	{"context", 0, 0, G_OPTION_ARG_STRING, &opt_context, "context", "NAME"},
	{"selector", 'l', 0, G_OPTION_ARG_STRING, &opt_selector, "label selector", "SEL"},
	{"propagation", 0, 0, G_OPTION_ARG_STRING, &opt_propagation, "propagationPolicy", "P"},
	{"async", 0, 0, G_OPTION_ARG_NONE, &opt_async, "use the async API", NULL},
	{"count", 0, 0, G_OPTION_ARG_INT, &opt_count, "watch: events to wait for", "N"},
	{"repeat", 0, 0, G_OPTION_ARG_INT, &opt_repeat, "get: how many times", "N"},
	{"interval", 0, 0, G_OPTION_ARG_DOUBLE, &opt_interval, "get: seconds between", "S"},
	{"timeout", 0, 0, G_OPTION_ARG_DOUBLE, &opt_timeout, "watch: give up after", "S"},
	{"resource-version", 0, 0, G_OPTION_ARG_STRING, &opt_resource_version, "watch from", "RV"},
	{"watch-timeout", 0, 0, G_OPTION_ARG_INT, &opt_watch_timeout, "watch: timeoutSeconds", "S"},
	{NULL},
};

static int
fail(GError *error)
{
	fprintf(stderr, "error: %s\n", error->message);
	if (error->domain == PDS_KUBE_API_ERROR)
		fprintf(stderr, "status=%u reason=%s details_name=%s api_message=%s\n",
			pds_kube_api_error_get_status(error),
			pds_kube_api_error_get_reason(error) != NULL
				? pds_kube_api_error_get_reason(error)
				: "",
			pds_kube_api_error_get_details_name(error) != NULL
				? pds_kube_api_error_get_details_name(error)
				: "",
			pds_kube_api_error_get_api_message(error) != NULL
				? pds_kube_api_error_get_api_message(error)
				: "");
	else
		fprintf(stderr, "domain=%s code=%d\n", g_quark_to_string(error->domain),
			error->code);
	return 1;
}

static void
print_json(JsonNode *node)
{
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autofree gchar *text = NULL;

	json_generator_set_root(gen, node);
	text = json_generator_to_data(gen, NULL);
	printf("%s\n", text);
	fflush(stdout);
}

static void
add_string(JsonBuilder *b, const char *name, const char *value)
{
	json_builder_set_member_name(b, name);
	if (value != NULL)
		json_builder_add_string_value(b, value);
	else
		json_builder_add_null_value(b);
}

static int
cmd_config(PdsKubeConfig *config)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) root = NULL;
	const PdsKubeExecConfig *exec = pds_kube_config_get_exec(config);
	const char *const *files = pds_kube_config_get_files(config);

	json_builder_begin_object(b);
	add_string(b, "context", pds_kube_config_get_context_name(config));
	add_string(b, "cluster", pds_kube_config_get_cluster_name(config));
	add_string(b, "user", pds_kube_config_get_user_name(config));
	add_string(b, "namespace", pds_kube_config_get_namespace(config));
	add_string(b, "server", pds_kube_config_get_server(config));
	add_string(b, "tls_server_name", pds_kube_config_get_tls_server_name(config));
	json_builder_set_member_name(b, "insecure");
	json_builder_add_boolean_value(b, pds_kube_config_get_insecure_skip_tls_verify(config));
	json_builder_set_member_name(b, "ca_bytes");
	json_builder_add_int_value(
		b, pds_kube_config_get_ca_pem(config) != NULL
			   ? (gint64)g_bytes_get_size(pds_kube_config_get_ca_pem(config))
			   : 0);
	json_builder_set_member_name(b, "client_cert");
	json_builder_add_boolean_value(b, pds_kube_config_get_client_cert_pem(config) != NULL);
	add_string(b, "token", pds_kube_config_get_token(config));
	add_string(b, "token_file", pds_kube_config_get_token_file(config));
	add_string(b, "exec_command", exec != NULL ? exec->command : NULL);
	add_string(b, "exec_api_version", exec != NULL ? exec->api_version : NULL);
	json_builder_set_member_name(b, "files");
	json_builder_begin_array(b);
	for (guint i = 0; files[i] != NULL; i++)
		json_builder_add_string_value(b, files[i]);
	json_builder_end_array(b);
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	print_json(root);
	return 0;
}

typedef struct {
	GMainLoop *loop;
	JsonNode *result;
	GError *error;
	gint events;
	gboolean timed_out;
} ToolState;

static void
request_done_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	ToolState *st = user_data;

	st->result = pds_kube_client_request_finish(PDS_KUBE_CLIENT(source), res, &st->error);
	g_main_loop_quit(st->loop);
}

static JsonNode *
read_json_arg(const char *arg, GError **error)
{
	g_autofree gchar *text = NULL;

	if (g_strcmp0(arg, "-") == 0) {
		g_autoptr(GString) s = g_string_new(NULL);
		char buf[4096];
		size_t n;

		while ((n = fread(buf, 1, sizeof buf, stdin)) > 0)
			g_string_append_len(s, buf, (gssize)n);
		text = g_string_free(g_steal_pointer(&s), FALSE);
	} else if (arg[0] == '@') {
		if (!g_file_get_contents(arg + 1, &text, NULL, error))
			return NULL;
	} else {
		text = g_strdup(arg);
	}
	return json_from_string(text, error);
}

static int
cmd_request(PdsKubeClient *client, const char *verb, gchar **args, guint nargs)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) body = NULL;
	g_autoptr(JsonNode) result = NULL;
	PdsKubePatchType patch_type = PDS_KUBE_PATCH_STRATEGIC;
	ToolState st = {0};

	if (nargs < 1) {
		fprintf(stderr, "%s needs a PATH\n", verb);
		return 2;
	}
	if (g_strcmp0(verb, "create") == 0 || g_strcmp0(verb, "patch") == 0) {
		guint body_arg = g_strcmp0(verb, "patch") == 0 ? 2 : 1;

		if (nargs <= body_arg) {
			fprintf(stderr, "%s needs a body (JSON, @FILE or -)\n", verb);
			return 2;
		}
		if (g_strcmp0(verb, "patch") == 0) {
			if (g_strcmp0(args[1], "merge") == 0)
				patch_type = PDS_KUBE_PATCH_MERGE;
			else if (g_strcmp0(args[1], "json") == 0)
				patch_type = PDS_KUBE_PATCH_JSON;
			else if (g_strcmp0(args[1], "strategic") != 0) {
				fprintf(stderr, "patch type: strategic, merge or json\n");
				return 2;
			}
		}
		body = read_json_arg(args[body_arg], &error);
		if (body == NULL)
			return fail(error);
	}

	for (gint i = 0; i < MAX(opt_repeat, 1); i++) {
		g_clear_pointer(&result, json_node_unref);
		if (i > 0 && opt_interval > 0)
			g_usleep((gulong)(opt_interval * G_USEC_PER_SEC));
		if (opt_async) {
			st.loop = g_main_loop_new(NULL, FALSE);
			if (g_strcmp0(verb, "get") == 0)
				pds_kube_client_get_async(client, args[0], NULL, request_done_cb,
							  &st);
			else if (g_strcmp0(verb, "list") == 0)
				pds_kube_client_list_async(client, args[0], opt_selector, NULL,
							   NULL, request_done_cb, &st);
			else if (g_strcmp0(verb, "create") == 0)
				pds_kube_client_create_async(client, args[0], body, NULL,
							     request_done_cb, &st);
			else if (g_strcmp0(verb, "patch") == 0)
				pds_kube_client_patch_async(client, args[0], patch_type, body, NULL,
							    request_done_cb, &st);
			else
				pds_kube_client_delete_async(client, args[0], opt_propagation, NULL,
							     request_done_cb, &st);
			g_main_loop_run(st.loop);
			g_main_loop_unref(st.loop);
			result = st.result;
			st.result = NULL;
			if (result == NULL)
				return fail(st.error);
		} else {
			if (g_strcmp0(verb, "get") == 0)
				result = pds_kube_client_get(client, args[0], NULL, &error);
			else if (g_strcmp0(verb, "list") == 0)
				result = pds_kube_client_list(client, args[0], opt_selector, NULL,
							      NULL, &error);
			else if (g_strcmp0(verb, "create") == 0)
				result =
					pds_kube_client_create(client, args[0], body, NULL, &error);
			else if (g_strcmp0(verb, "patch") == 0)
				result = pds_kube_client_patch(client, args[0], patch_type, body,
							       NULL, &error);
			else
				result = pds_kube_client_delete(client, args[0], opt_propagation,
								NULL, &error);
			if (result == NULL)
				return fail(error);
		}
	}
	print_json(result);
	return 0;
}

static int
cmd_version(PdsKubeClient *client)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *mm = NULL;
	g_autoptr(JsonNode) v = pds_kube_client_get_version(client, &mm, NULL, &error);

	if (v == NULL)
		return fail(error);
	printf("%s\n", mm);
	return 0;
}

static void
watch_connected_cb(PdsKubeWatch *watch, gpointer user_data)
{
	printf("CONNECTED\n");
	fflush(stdout);
}

static void
watch_event_cb(PdsKubeWatch *watch, const char *type, JsonNode *object, gpointer user_data)
{
	ToolState *st = user_data;
	const char *ns = pds_kube_json_get_string(object, "metadata.namespace");

	printf("%s %s%s%s %s\n", type, ns != NULL ? ns : "", ns != NULL ? "/" : "",
	       pds_kube_json_get_string(object, "metadata.name"),
	       pds_kube_json_get_string(object, "metadata.resourceVersion"));
	fflush(stdout);
	if (++st->events >= opt_count)
		g_main_loop_quit(st->loop);
}

static void
watch_reconnecting_cb(PdsKubeWatch *watch, const GError *reason, gpointer user_data)
{
	printf("RECONNECTING %s\n", reason->message);
	fflush(stdout);
}

static void
watch_failed_cb(PdsKubeWatch *watch, const GError *error, gpointer user_data)
{
	ToolState *st = user_data;

	st->error = g_error_copy(error);
	g_main_loop_quit(st->loop);
}

static gboolean
timeout_cb(gpointer user_data)
{
	ToolState *st = user_data;

	st->timed_out = TRUE;
	g_main_loop_quit(st->loop);
	return G_SOURCE_REMOVE;
}

static int
cmd_watch(PdsKubeClient *client, gchar **args, guint nargs)
{
	g_autoptr(PdsKubeWatch) watch = NULL;
	ToolState st = {0};
	int rc = 0;

	if (nargs < 1) {
		fprintf(stderr, "watch needs a PATH\n");
		return 2;
	}
	st.loop = g_main_loop_new(NULL, FALSE);
	watch = pds_kube_watch_new(client, args[0], opt_selector, NULL, opt_resource_version);
	pds_kube_watch_set_timeout_seconds(watch, (guint)opt_watch_timeout);
	g_signal_connect(watch, "connected", G_CALLBACK(watch_connected_cb), &st);
	g_signal_connect(watch, "event", G_CALLBACK(watch_event_cb), &st);
	g_signal_connect(watch, "reconnecting", G_CALLBACK(watch_reconnecting_cb), &st);
	g_signal_connect(watch, "failed", G_CALLBACK(watch_failed_cb), &st);
	g_timeout_add((guint)(opt_timeout * 1000), timeout_cb, &st);
	pds_kube_watch_start(watch);
	g_main_loop_run(st.loop);
	pds_kube_watch_stop(watch);
	if (st.error != NULL)
		rc = fail(st.error);
	else if (st.timed_out) {
		fprintf(stderr, "error: watch got %d of %d events in %.0f s\n", st.events,
			opt_count, opt_timeout);
		rc = 1;
	}
	g_clear_error(&st.error);
	g_main_loop_unref(st.loop);
	return rc;
}

static void
pf_error_cb(PdsKubePortForward *pf, const GError *error, gpointer user_data)
{
	printf("CONNECTION-ERROR %s\n", error->message);
	fflush(stdout);
}

static gboolean
quit_cb(gpointer user_data)
{
	g_main_loop_quit(user_data);
	return G_SOURCE_REMOVE;
}

/* stdin: "active" prints the open tunnels; EOF stops. */
static gboolean
stdin_cb(gint fd, GIOCondition condition, gpointer user_data)
{
	PdsKubePortForward *pf = user_data;
	char buf[256];
	ssize_t n = read(fd, buf, sizeof buf - 1);

	if (n > 0) {
		buf[n] = '\0';
		if (strstr(buf, "active") != NULL) {
			printf("ACTIVE %u\n", pds_kube_port_forward_get_active(pf));
			fflush(stdout);
		}
		return G_SOURCE_CONTINUE;
	}
	g_main_loop_quit(g_object_get_data(G_OBJECT(pf), "loop"));
	return G_SOURCE_REMOVE;
}

static int
cmd_port_forward(PdsKubeClient *client, gchar **args, guint nargs)
{
	g_autoptr(PdsKubePortForward) pf = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
	guint64 port = 0;

	if (nargs < 3 || !g_ascii_string_to_unsigned(args[2], 10, 1, 65535, &port, NULL)) {
		fprintf(stderr, "port-forward NAMESPACE POD PORT\n");
		return 2;
	}
	pf = pds_kube_port_forward_new(client, args[0], args[1], (guint16)port);
	g_signal_connect(pf, "connection-error", G_CALLBACK(pf_error_cb), NULL);
	if (!pds_kube_port_forward_listen(pf, NULL, 0, &error))
		return fail(error);
	printf("LISTENING %u\n", pds_kube_port_forward_get_local_port(pf));
	fflush(stdout);
	g_unix_signal_add(SIGTERM, quit_cb, loop);
	g_unix_signal_add(SIGINT, quit_cb, loop);
	g_object_set_data(G_OBJECT(pf), "loop", loop);
	g_unix_fd_add(0, G_IO_IN | G_IO_HUP, stdin_cb, pf);
	g_main_loop_run(loop);
	pds_kube_port_forward_stop(pf);
	/* Let the tunnel threads finish and report before exiting. */
	for (guint i = 0; i < 100 && pds_kube_port_forward_get_active(pf) > 0; i++) {
		g_main_context_iteration(NULL, FALSE);
		g_usleep(20000);
	}
	printf("STOPPED active=%u\n", pds_kube_port_forward_get_active(pf));
	return 0;
}

int
main(int argc, char **argv)
{
	g_autoptr(GOptionContext) octx = g_option_context_new(
		"config|get|list|create|patch|delete|version|watch|port-forward ARGS");
	g_autoptr(GError) error = NULL;
	g_autoptr(PdsKubeConfig) config = NULL;
	g_autoptr(PdsKubeClient) client = NULL;
	const char *cmd;

	g_option_context_add_main_entries(octx, entries, NULL);
	if (!g_option_context_parse(octx, &argc, &argv, &error)) {
		fprintf(stderr, "%s\n", error->message);
		return 2;
	}
	if (argc < 2) {
		fprintf(stderr, "a command is needed\n");
		return 2;
	}
	cmd = argv[1];
	config = pds_kube_config_load(opt_kubeconfig, opt_context, &error);
	if (config == NULL)
		return fail(error);
	if (g_strcmp0(cmd, "config") == 0)
		return cmd_config(config);
	client = pds_kube_client_new(config, &error);
	if (client == NULL)
		return fail(error);
	if (g_strcmp0(cmd, "get") == 0 || g_strcmp0(cmd, "list") == 0 ||
	    g_strcmp0(cmd, "create") == 0 || g_strcmp0(cmd, "patch") == 0 ||
	    g_strcmp0(cmd, "delete") == 0)
		return cmd_request(client, cmd, argv + 2, (guint)argc - 2);
	if (g_strcmp0(cmd, "version") == 0)
		return cmd_version(client);
	if (g_strcmp0(cmd, "watch") == 0)
		return cmd_watch(client, argv + 2, (guint)argc - 2);
	if (g_strcmp0(cmd, "port-forward") == 0)
		return cmd_port_forward(client, argv + 2, (guint)argc - 2);
	fprintf(stderr, "unknown command %s\n", cmd);
	return 2;
}
