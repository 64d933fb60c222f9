/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "PdsCli"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixoutputstream.h>
#include <glib/gi18n.h>
#include <string.h>
#include <unistd.h>

#include "pds-cli.h"
#include "pds-cli-open.h"
#include "pds-cli-tap.h"
#include "pds-local-session.h"

typedef struct {
	gboolean progress; /* write progress lines to stderr */
	gboolean open;	   /* --open: print and open the web viewer's address */
	const char *output_name;
} TapContext;

static gboolean
parse_envelope(const char *text, PdsLocalEnvelope *envelope, GError **error)
{
	if (text == NULL || g_strcmp0(text, "exported-pdu") == 0) {
		*envelope = PDS_LOCAL_ENVELOPE_EXPORTED_PDU;
		return TRUE;
	}
	if (g_strcmp0(text, "custom") == 0) {
		*envelope = PDS_LOCAL_ENVELOPE_CUSTOM;
		return TRUE;
	}
	g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
		    /* TRANSLATORS: %s is what the user gave; keep the two keywords */
		    _("unknown envelope “%s”: use exported-pdu or custom"), text);
	return FALSE;
}

static gboolean
parse_pids(gchar **pid_args, GArray *pids, GError **error)
{
	for (guint i = 0; pid_args != NULL && pid_args[i] != NULL; i++) {
		guint64 v = 0;
		if (!g_ascii_string_to_unsigned(pid_args[i], 10, 1, G_MAXINT32, &v, NULL)) {
			g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
				    /* TRANSLATORS: %s is what the user gave for --pid */
				    _("“%s” is not a process id"), pid_args[i]);
			return FALSE;
		}
		GPid pid = (GPid)v;
		g_array_append_val(pids, pid);
	}
	return TRUE;
}

static gboolean
parse_names(gchar **name_args, GError **error)
{
	for (guint i = 0; name_args != NULL && name_args[i] != NULL; i++) {
		const char *eq = strchr(name_args[i], '=');
		if (eq == NULL || eq == name_args[i] || eq[1] == '\0') {
			g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
				    /* TRANSLATORS: %s is what the user gave for --name */
				    _("“%s” is not of the form ADDRESS=NAME"), name_args[i]);
			return FALSE;
		}
	}
	return TRUE;
}

static void
tap_started_cb(PdsLocalSession *session, gpointer user_data)
{
	TapContext *ctx = user_data;
	GPtrArray *targets = pds_local_session_get_targets(session);

	if (ctx->open) {
		/* The embedded hub listens on 127.0.0.1: its API serves the viewer. */
		g_autofree gchar *url =
			pds_cli_open_viewer_url(pds_local_session_get_api_port(session),
						pds_local_session_get_token(session));
		pds_cli_open_viewer(url);
	}
	if (!ctx->progress)
		return;
	for (guint i = 0; i < targets->len; i++) {
		PdsLocalTarget *target = g_ptr_array_index(targets, i);
		guint n = g_strv_length(target->interfaces);
		g_autofree gchar *list = g_strjoinv(", ", target->interfaces);
		g_printerr(
			g_dngettext(GETTEXT_PACKAGE,
				    /* TRANSLATORS: %s are a namespace name and interface names */
				    "Tapping netns %s (%u interface: %s) …\n",
				    "Tapping netns %s (%u interfaces: %s) …\n", n),
			target->name, n, list);
	}
	/* TRANSLATORS: %s is the output file, or "stdout" */
	g_printerr(_("Writing pcapng to %s. Press Ctrl+C to stop.\n"), ctx->output_name);
}

int
pds_cli_tap_main(int argc, char **argv)
{
	g_auto(GStrv) netns = NULL;
	g_auto(GStrv) pid_args = NULL;
	g_auto(GStrv) name_args = NULL;
	g_auto(GStrv) rest = NULL;
	g_autofree gchar *interface = NULL;
	g_autofree gchar *filter = NULL;
	g_autofree gchar *output = NULL;
	g_autofree gchar *envelope_arg = NULL;
	g_autofree gchar *log_file = NULL;
	gboolean verbose = FALSE;
	gboolean no_analyze = FALSE;
	gboolean open_viewer = FALSE;
	const GOptionEntry entries[] = {
		{"netns", 0, 0, G_OPTION_ARG_STRING_ARRAY, &netns,
		 /* TRANSLATORS: help of --netns */
		 N_("Network namespace to tap (name in /run/netns or a path); repeatable"),
		 N_("NAME")},
		{"pid", 0, 0, G_OPTION_ARG_STRING_ARRAY, &pid_args,
		 /* TRANSLATORS: help of --pid */
		 N_("Tap the network namespace of this process; repeatable"), N_("PID")},
		{"interface", 'i', 0, G_OPTION_ARG_STRING, &interface,
		 /* TRANSLATORS: help of --interface; keep "any" */
		 N_("Interface to capture in each namespace (default: every interface except "
		    "loopback, or “any”)"),
		 N_("IFACE")},
		{"filter", 'f', 0, G_OPTION_ARG_STRING, &filter,
		 /* TRANSLATORS: help of --filter */
		 N_("Capture filter in pcap-filter syntax, e.g. “tcp port 80”"), N_("BPF")},
		{"write", 'w', 0, G_OPTION_ARG_FILENAME, &output,
		 /* TRANSLATORS: help of --write; keep "-" */
		 N_("Write pcapng to FILE, or to stdout when FILE is “-”"), N_("FILE")},
		{"envelope", 0, 0, G_OPTION_ARG_STRING, &envelope_arg,
		 /* TRANSLATORS: help of --envelope; keep the two keywords */
		 N_("How PodScope records travel: exported-pdu (default) or custom"), N_("KIND")},
		{"name", 0, 0, G_OPTION_ARG_STRING_ARRAY, &name_args,
		 /* TRANSLATORS: help of --name */
		 N_("Extra address name for the capture's name resolution; repeatable"),
		 N_("ADDRESS=NAME")},
		{"no-analyze", 0, 0, G_OPTION_ARG_NONE, &no_analyze,
		 /* TRANSLATORS: help of --no-analyze */
		 N_("Do not add flow analysis records"), NULL},
		{"log-file", 0, 0, G_OPTION_ARG_FILENAME, &log_file,
		 /* TRANSLATORS: help of --log-file */
		 N_("Append the hub's and agents' messages to FILE instead of stderr"), N_("FILE")},
		{"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose,
		 /* TRANSLATORS: help of --verbose */
		 N_("Show progress and the hub's and agents' details"), NULL},
		{"open", 0, 0, G_OPTION_ARG_NONE, &open_viewer,
		 /* TRANSLATORS: help of --open; keep $BROWSER and xdg-open */
		 N_("Print the web viewer's address with its token and open it ($BROWSER or "
		    "xdg-open)"),
		 NULL},
		{G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &rest, NULL, NULL},
		{NULL},
	};
	g_autoptr(GOptionContext) context = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GArray) pids = g_array_new(FALSE, FALSE, sizeof(GPid));
	g_autoptr(PdsLocalSession) session = NULL;
	g_autoptr(GOutputStream) out = NULL;
	PdsLocalEnvelope envelope = PDS_LOCAL_ENVELOPE_EXPORTED_PDU;
	TapContext ctx = {FALSE, FALSE, NULL};
	gboolean to_stdout;
	int fd;

	/* TRANSLATORS: the parameter summary of "podscope tap --help" */
	context = g_option_context_new(_("--netns NAME… -w FILE|-"));
	g_option_context_set_translation_domain(context, GETTEXT_PACKAGE);
	g_option_context_set_summary(
		context,
		/* TRANSLATORS: summary of "podscope tap --help" */
		_("Capture the traffic of local network namespaces with an embedded podscope-hub "
		  "and one podscope-agent per interface, and write the live session as pcapng.\n"
		  "Ctrl+C stops and leaves a complete file."));
	g_option_context_set_description(
		context,
		/* TRANSLATORS: examples in "podscope tap --help"; do not translate the commands */
		_("Examples:\n"
		  "  podscope tap --netns web -w web.pcapng\n"
		  "  podscope tap --netns web -f 'tcp port 80' -w - | tshark -r -\n"
		  "\n"
		  "Exit status: 0 when stopped by Ctrl+C or SIGTERM, or when the reader of -w - "
		  "went away; 1 when the capture failed; 2 for wrong options.\n"));
	g_option_context_add_main_entries(context, entries, GETTEXT_PACKAGE);
	if (!g_option_context_parse(context, &argc, &argv, &error)) {
		pds_cli_print_usage_error("tap", error->message);
		return PDS_CLI_EXIT_USAGE;
	}
	if (rest != NULL && rest[0] != NULL) {
		/* TRANSLATORS: %s is the first argument we did not expect */
		g_autofree gchar *msg = g_strdup_printf(_("unexpected argument “%s”"), rest[0]);
		pds_cli_print_usage_error("tap", msg);
		return PDS_CLI_EXIT_USAGE;
	}
	if ((netns == NULL || netns[0] == NULL) && (pid_args == NULL || pid_args[0] == NULL)) {
		pds_cli_print_usage_error(
			"tap", _("nothing to tap: give --netns NAME or --pid PID at least once"));
		return PDS_CLI_EXIT_USAGE;
	}
	if (output == NULL) {
		pds_cli_print_usage_error("tap", _("no output: give -w FILE, or -w - for stdout"));
		return PDS_CLI_EXIT_USAGE;
	}
	if (!parse_pids(pid_args, pids, &error) || !parse_names(name_args, &error) ||
	    !parse_envelope(envelope_arg, &envelope, &error)) {
		pds_cli_print_usage_error("tap", error->message);
		return PDS_CLI_EXIT_USAGE;
	}

	to_stdout = g_strcmp0(output, "-") == 0;
	if (to_stdout && isatty(STDOUT_FILENO)) {
		pds_cli_print_usage_error("tap",
					  _("stdout is a terminal; pipe it into a program such as "
					    "“tshark -r -”, or write to a file with -w FILE"));
		return PDS_CLI_EXIT_USAGE;
	}
	ctx.progress = !to_stdout || verbose;
	ctx.open = open_viewer;
	ctx.output_name = to_stdout ? _("stdout") : output;

	session = pds_local_session_new();
	for (guint i = 0; netns != NULL && netns[i] != NULL; i++)
		pds_local_session_add_netns(session, netns[i]);
	for (guint i = 0; i < pids->len; i++)
		pds_local_session_add_pid(session, g_array_index(pids, GPid, i));
	for (guint i = 0; name_args != NULL && name_args[i] != NULL; i++) {
		g_auto(GStrv) kv = g_strsplit(name_args[i], "=", 2);
		pds_local_session_add_name(session, kv[0], kv[1]);
	}
	pds_local_session_set_filter(session, filter);
	pds_local_session_set_interface(session, interface);
	pds_local_session_set_envelope(session, envelope);
	pds_local_session_set_verbose(session, verbose);
	pds_local_session_set_analyze(session, !no_analyze);
	pds_local_session_set_log_file(session, log_file);

	if (to_stdout) {
		fd = STDOUT_FILENO;
		out = g_unix_output_stream_new(fd, FALSE);
	} else {
		/* Written in place, not renamed at the end: the file is readable while it grows. */
		fd = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			int saved = errno;
			g_autofree gchar *msg = g_strdup_printf(
				/* TRANSLATORS: %s are a path and the system's error text */
				_("cannot open %s for writing: %s"), output, g_strerror(saved));
			pds_cli_print_error("tap", msg);
			return PDS_CLI_EXIT_FAILURE;
		}
		out = g_unix_output_stream_new(fd, TRUE);
	}

	if (!pds_local_session_run(session, out, tap_started_cb, &ctx, &error)) {
		if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
			if (ctx.progress)
				g_printerr("%s\n", _("Stopped before the capture began."));
			return PDS_CLI_EXIT_FAILURE;
		}
		pds_cli_print_error("tap", error->message);
		return PDS_CLI_EXIT_FAILURE;
	}
	if (!g_output_stream_close(out, NULL, &error) &&
	    !pds_local_session_get_output_closed(session)) {
		g_autofree gchar *msg = g_strdup_printf(
			/* TRANSLATORS: %s are the output and the reason */
			_("cannot close %s: %s"), ctx.output_name, error->message);
		pds_cli_print_error("tap", msg);
		return PDS_CLI_EXIT_FAILURE;
	}
	if (ctx.progress) {
		guint64 packets = pds_local_session_get_packets_streamed(session);
		g_autofree gchar *count = g_strdup_printf("%" G_GUINT64_FORMAT, packets);
		g_autofree gchar *size =
			g_format_size(pds_local_session_get_bytes_streamed(session));
		g_printerr(g_dngettext(GETTEXT_PACKAGE,
				       /* TRANSLATORS: %s are a count, a size ("1.2 MB") and the
					  output */
				       "Stopped: %s packet (%s) written to %s.\n",
				       "Stopped: %s packets (%s) written to %s.\n",
				       packets > 1000000 ? 1000000 : (gulong)packets),
			   count, size, ctx.output_name);
	}
	return PDS_CLI_EXIT_OK;
}
