/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "PdsCli"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixoutputstream.h>
#include <glib-unix.h>
#include <glib/gi18n.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "pds-cli.h"
#include "pds-cli-demo.h"
#include "pds-demo-http.h"
#include "pds-demo-netns.h"
#include "pds-local-session.h"

#define PDS_DEMO_HTTP_PORT 80

typedef struct {
	GMainLoop *loop;
	PdsLocalSession *session;
	GCancellable *cancel; /* fires on SIGINT/SIGTERM */
	gboolean session_started;
	gboolean stopping;
	gboolean interrupted;
	GError *error; /* the first failure */
	PdsDemoHttpResult *client;
} DemoContext;

static void
demo_fail(DemoContext *ctx, GError *error)
{
	if (ctx->error == NULL)
		ctx->error = error;
	else
		g_error_free(error);
}

static void
demo_stop_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	DemoContext *ctx = user_data;
	GError *error = NULL;

	if (!pds_local_session_stop_finish(PDS_LOCAL_SESSION(source), result, &error))
		demo_fail(ctx, error);
	g_main_loop_quit(ctx->loop);
}

static void
demo_stop(DemoContext *ctx)
{
	if (ctx->stopping)
		return;
	ctx->stopping = TRUE;
	pds_local_session_stop_async(ctx->session, NULL, demo_stop_done_cb, ctx);
}

static void
demo_stream_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	DemoContext *ctx = user_data;
	GError *error = NULL;

	if (!pds_local_session_stream_finish(PDS_LOCAL_SESSION(source), result, &error))
		demo_fail(ctx, error);
	else if (!ctx->stopping)
		demo_fail(ctx, g_error_new_literal(G_IO_ERROR, G_IO_ERROR_FAILED,
						   _("the capture ended before the requests were "
						     "done")));
	demo_stop(ctx);
}

static void
demo_client_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	DemoContext *ctx = user_data;
	GError *error = NULL;

	ctx->client = pds_demo_http_client_run_finish(result, &error);
	if (ctx->client == NULL)
		demo_fail(ctx, error);
	demo_stop(ctx);
}

static gboolean
demo_signal_cb(gpointer user_data)
{
	DemoContext *ctx = user_data;

	ctx->interrupted = TRUE;
	g_cancellable_cancel(ctx->cancel);
	if (ctx->session_started)
		demo_stop(ctx);
	return G_SOURCE_CONTINUE;
}

/* Runs tshark on @path; its field lines in @lines. */
static gboolean
run_tshark(const char *tshark, const char *path, GPtrArray *lines, GError **error)
{
	const char *argv[] = {tshark, "-r", path,
			      /* Names come from the capture's own Name Resolution Blocks;
				 no external resolver may send a DNS query. */
			      "-N", "n", "-o", "nameres.use_external_name_resolver:FALSE", "-Y",
			      "http.request", "-T", "fields", "-E", "separator=/s", "-e",
			      "frame.number", "-e", "ip.src_host", "-e", "ip.dst_host", "-e",
			      "http.request.method", "-e", "http.request.uri", NULL};
	g_autofree gchar *out = NULL;
	g_autofree gchar *err = NULL;
	g_auto(GStrv) split = NULL;
	gint status = 0;

	if (!g_spawn_sync(NULL, (gchar **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err,
			  &status, error))
		return FALSE;
	if (!g_spawn_check_wait_status(status, NULL)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
			    /* TRANSLATORS: %s are a file and tshark's error output */
			    _("tshark could not read %s: %s"), path, g_strstrip(err));
		return FALSE;
	}
	split = g_strsplit(out, "\n", -1);
	for (guint i = 0; split[i] != NULL; i++) {
		if (split[i][0] != '\0')
			g_ptr_array_add(lines, g_strdup(split[i]));
	}
	return TRUE;
}

typedef struct {
	DemoContext ctx;
	const char *output;
	const char *tshark;
	guint requests;
	gboolean verbose;
	PdsDemoNetns *netns;
	SoupServer *server;
	PdsLocalSession *session;
	GPtrArray *tshark_lines; /* of gchar* */
} DemoRun;

/* Every step of the demo; the caller tears down whatever it made. */
static gboolean
demo_run(DemoRun *run, GError **error)
{
	DemoContext *ctx = &run->ctx;
	g_autofree gchar *web_path = NULL;
	g_autofree gchar *client_path = NULL;
	g_autofree gchar *count = NULL;
	g_autofree gchar *size = NULL;
	g_autoptr(GOutputStream) out = NULL;
	int fd;

	pds_demo_netns_sweep_stale();
	run->netns = pds_demo_netns_new(error);
	if (run->netns == NULL)
		return FALSE;
	web_path = pds_demo_netns_path(run->netns->web);
	client_path = pds_demo_netns_path(run->netns->client);
	/* TRANSLATORS: %s are two namespace names and two addresses */
	g_printerr(_("Created network namespaces %s (%s) and %s (%s).\n"), run->netns->client,
		   PDS_DEMO_CLIENT_ADDRESS, run->netns->web, PDS_DEMO_WEB_ADDRESS);

	run->server = pds_demo_http_server_new(web_path, PDS_DEMO_HTTP_PORT, error);
	if (run->server == NULL)
		return FALSE;
	/* TRANSLATORS: %s is an address, %u a port */
	g_printerr(_("HTTP server listening on %s:%u in “web”.\n"), PDS_DEMO_WEB_ADDRESS,
		   PDS_DEMO_HTTP_PORT);

	run->session = pds_local_session_new();
	ctx->session = run->session;
	pds_local_session_add_netns(run->session, run->netns->web);
	pds_local_session_add_name(run->session, PDS_DEMO_CLIENT_ADDRESS, run->netns->client);
	pds_local_session_set_verbose(run->session, run->verbose);
	if (!pds_local_session_start(run->session, ctx->cancel, error))
		return FALSE;
	ctx->session_started = TRUE;
	/* TRANSLATORS: %s are a namespace name and a file */
	g_printerr(_("Tapping %s into %s …\n"), run->netns->web, run->output);

	fd = open(run->output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		int saved = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
			    /* TRANSLATORS: %s are a path and the system's error text */
			    _("cannot open %s for writing: %s"), run->output, g_strerror(saved));
		return FALSE;
	}
	out = g_unix_output_stream_new(fd, TRUE);
	pds_local_session_stream_async(run->session, out, NULL, demo_stream_done_cb, ctx);
	pds_demo_http_client_run_async(client_path, PDS_DEMO_WEB_ADDRESS, PDS_DEMO_HTTP_PORT,
				       run->requests, ctx->cancel, demo_client_done_cb, ctx);
	g_main_loop_run(ctx->loop);

	if (ctx->interrupted) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_CANCELLED, _("interrupted"));
		return FALSE;
	}
	if (ctx->error != NULL) {
		g_propagate_error(error, g_steal_pointer(&ctx->error));
		return FALSE;
	}
	if (!g_output_stream_close(out, NULL, error))
		return FALSE;

	for (guint i = 0; i < ctx->client->lines->len; i++)
		/* TRANSLATORS: %s is one request of the demo client */
		g_print(_("  client: %s\n"),
			(const char *)g_ptr_array_index(ctx->client->lines, i));
	count = g_strdup_printf("%" G_GUINT64_FORMAT,
				pds_local_session_get_packets_streamed(run->session));
	size = g_format_size(pds_local_session_get_bytes_streamed(run->session));
	/* TRANSLATORS: %s are a packet count and a size such as "12.3 kB" */
	g_printerr(_("Captured %s packets (%s). Reading them back with tshark …\n"), count, size);
	return run_tshark(run->tshark, run->output, run->tshark_lines, error);
}

int
pds_cli_demo_main(int argc, char **argv)
{
	g_autofree gchar *output = NULL;
	gint requests = 10;
	gboolean verbose = FALSE;
	g_auto(GStrv) rest = NULL;
	const GOptionEntry entries[] = {
		{"output", 'o', 0, G_OPTION_ARG_FILENAME, &output,
		 /* TRANSLATORS: help of demo --output */
		 N_("Write the capture to FILE (default: demo.pcapng)"), N_("FILE")},
		{"requests", 'n', 0, G_OPTION_ARG_INT, &requests,
		 /* TRANSLATORS: help of demo --requests */
		 N_("Number of HTTP requests the client makes (default: 10)"), N_("N")},
		{"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose,
		 /* TRANSLATORS: help of demo --verbose */
		 N_("Show the hub's and agents' details"), NULL},
		{G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &rest, NULL, NULL},
		{NULL},
	};
	g_autoptr(GOptionContext) context = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) rm_error = NULL;
	g_autofree gchar *tshark = NULL;
	g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
	g_autoptr(GCancellable) cancel = g_cancellable_new();
	g_autoptr(GPtrArray) tshark_lines = g_ptr_array_new_with_free_func(g_free);
	DemoRun run = {{loop, NULL, cancel, FALSE, FALSE, FALSE, NULL, NULL}};
	guint sigint_id, sigterm_id;
	int exit_code = PDS_CLI_EXIT_FAILURE;
	gboolean ok;

	context = g_option_context_new(NULL);
	g_option_context_set_translation_domain(context, GETTEXT_PACKAGE);
	g_option_context_set_summary(
		context,
		/* TRANSLATORS: summary of "podscope demo --help" */
		_("Creates two network namespaces, “client” and “web”, joined by a veth pair; "
		  "runs an HTTP server in “web” and a client making requests in “client”; taps "
		  "“web” into a pcapng file and prints what tshark sees in it. The namespaces "
		  "are removed on exit. Needs root and tshark."));
	g_option_context_set_description(
		context,
		/* TRANSLATORS: end of "podscope demo --help" */
		_("Exit status: 0 when tshark finds every request the client made in the capture; "
		  "1 "
		  "when it does not, or when the demo failed; 2 for wrong options.\n"));
	g_option_context_add_main_entries(context, entries, GETTEXT_PACKAGE);
	if (!g_option_context_parse(context, &argc, &argv, &error)) {
		pds_cli_print_usage_error("demo", error->message);
		return PDS_CLI_EXIT_USAGE;
	}
	if (rest != NULL && rest[0] != NULL) {
		/* TRANSLATORS: %s is the first argument we did not expect */
		g_autofree gchar *msg = g_strdup_printf(_("unexpected argument “%s”"), rest[0]);
		pds_cli_print_usage_error("demo", msg);
		return PDS_CLI_EXIT_USAGE;
	}
	if (requests < 1 || requests > 10000) {
		pds_cli_print_usage_error("demo", _("--requests must be between 1 and 10000"));
		return PDS_CLI_EXIT_USAGE;
	}
	if (geteuid() != 0) {
		pds_cli_print_error("demo", _("the demo creates network namespaces and needs root; "
					      "run it with sudo"));
		return PDS_CLI_EXIT_FAILURE;
	}
	tshark = g_find_program_in_path("tshark");
	if (tshark == NULL) {
		pds_cli_print_error("demo", _("tshark was not found in PATH; install it (Debian: "
					      "apt install tshark)"));
		return PDS_CLI_EXIT_FAILURE;
	}

	run.output = output != NULL ? output : "demo.pcapng";
	run.tshark = tshark;
	run.requests = (guint)requests;
	run.verbose = verbose;
	run.tshark_lines = tshark_lines;
	sigint_id = g_unix_signal_add(SIGINT, demo_signal_cb, &run.ctx);
	sigterm_id = g_unix_signal_add(SIGTERM, demo_signal_cb, &run.ctx);

	ok = demo_run(&run, &error);
	if (ok) {
		guint made = run.ctx.client->requests;
		/* TRANSLATORS: %s is a file */
		g_print(_("What tshark sees in %s (frame, source, destination, method, URI):\n"),
			run.output);
		for (guint i = 0; i < tshark_lines->len; i++)
			g_print("  %s\n", (const char *)g_ptr_array_index(tshark_lines, i));
		g_print(g_dngettext(GETTEXT_PACKAGE,
				    /* TRANSLATORS: first half of the summary line; %u is a count */
				    "%u request made, ", "%u requests made, ", made),
			made);
		g_print(g_dngettext(GETTEXT_PACKAGE,
				    /* TRANSLATORS: second half of the summary line; %u is a
				       count, %s a file */
				    "%u HTTP request in %s\n", "%u HTTP requests in %s\n",
				    tshark_lines->len),
			tshark_lines->len, run.output);
		if (tshark_lines->len == made)
			exit_code = PDS_CLI_EXIT_OK;
		else
			pds_cli_print_error("demo",
					    _("the capture does not hold every request made"));
	} else {
		pds_cli_print_error("demo", error->message);
	}

	/* Tear down in order: capture, server, then the namespaces they live in. */
	g_clear_error(&run.ctx.error);
	g_clear_pointer(&run.ctx.client, pds_demo_http_result_free);
	g_clear_object(&run.session);
	g_clear_object(&run.server);
	if (run.netns != NULL) {
		if (pds_demo_netns_remove(run.netns, &rm_error)) {
			/* TRANSLATORS: %s are two namespace names */
			g_printerr(_("Removed network namespaces %s and %s.\n"), run.netns->client,
				   run.netns->web);
		} else {
			pds_cli_print_error("demo", rm_error->message);
			exit_code = PDS_CLI_EXIT_FAILURE;
		}
		g_clear_pointer(&run.netns, pds_demo_netns_free);
	}
	g_source_remove(sigint_id);
	g_source_remove(sigterm_id);
	return exit_code;
}
