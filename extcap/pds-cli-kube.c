/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "PdsCli"

#include "pds-cli-kube.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixoutputstream.h>
#include <glib/gi18n.h>
#include <string.h>
#include <unistd.h>

#include "pds-cli.h"
#include "pds-cli-open.h"
#include "pds-cli-tap.h"
#include "pds-kube-session.h"

typedef struct {
	const char *output_name;
	gboolean open;
	guint16 open_port;
} PdsCliKubeRun;

gboolean
pds_cli_kube_wants_kube(int argc, char **argv)
{
	static const char *const flags[] = {"-n",	    "--namespace", "-l",
					    "--selector",   "-A",	   "--all-namespaces",
					    "--kubeconfig", "--context",   NULL};

	for (int i = 1; i < argc; i++) {
		if (g_strcmp0(argv[i], "--") == 0)
			break;
		for (guint f = 0; flags[f] != NULL; f++) {
			gsize len = strlen(flags[f]);
			if (strncmp(argv[i], flags[f], len) == 0 &&
			    (argv[i][len] == '\0' || argv[i][len] == '=' ||
			     (flags[f][1] != '-' && flags[f][2] == '\0')))
				return TRUE;
		}
	}
	return FALSE;
}

static void
pds_cli_kube_started(PdsKubeSession *session, gpointer user_data)
{
	PdsCliKubeRun *run = user_data;
	g_auto(GStrv) tapped = pds_kube_session_dup_tapped(session);

	g_printerr("podscope: %s: %u pod(s) tapped, writing to %s; Ctrl+C stops and removes "
		   "everything\n",
		   pds_kube_session_get_id(session), g_strv_length(tapped), run->output_name);
	if (run->open) {
		g_autoptr(GError) error = NULL;
		guint16 port = pds_kube_session_open_viewer(session, run->open_port, &error);
		g_autofree gchar *url = NULL;

		if (port == 0) {
			/* The capture goes on: the viewer is an extra. */
			pds_cli_print_error("tap", error->message);
			return;
		}
		url = pds_cli_open_viewer_url(port, pds_kube_session_get_token(session));
		pds_cli_open_viewer(url);
	}
}

int
pds_cli_kube_tap_main(int argc, char **argv)
{
	g_autofree gchar *namespace_ = NULL;
	g_autofree gchar *selector = NULL;
	gboolean all_namespaces = FALSE;
	g_autofree gchar *pod = NULL;
	g_autofree gchar *container = NULL;
	g_autofree gchar *kubeconfig = NULL;
	g_autofree gchar *context = NULL;
	gboolean force_privileged = FALSE;
	g_autofree gchar *agent_image = NULL;
	g_autofree gchar *hub_image = NULL;
	g_autofree gchar *output = NULL;
	g_autofree gchar *filter = NULL;
	g_autofree gchar *interface = NULL;
	g_autofree gchar *envelope = NULL;
	gint hub_timeout = 0;
	gint open_port = 0;
	gboolean verbose = FALSE;
	g_autoptr(GOptionContext) ctx = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(PdsKubeSession) session = NULL;
	g_autoptr(GOutputStream) out = NULL;
	PdsKubeSessionOptions options = {0};
	PdsCliKubeRun run = {0};
	int fd;
	const GOptionEntry entries[] = {
		{"namespace", 'n', 0, G_OPTION_ARG_STRING, &namespace_,
		 N_("Namespace of the pods to tap (default: the context's)"), "NS"},
		{"selector", 'l', 0, G_OPTION_ARG_STRING, &selector,
		 N_("Label selector of the pods to tap"), "SELECTOR"},
		{"all-namespaces", 'A', 0, G_OPTION_ARG_NONE, &all_namespaces,
		 N_("Tap matching pods in every namespace"), NULL},
		{"pod", 0, 0, G_OPTION_ARG_STRING, &pod,
		 N_("Only pods whose name matches this regular expression"), "REGEX"},
		{"container", 0, 0, G_OPTION_ARG_STRING, &container,
		 N_("Share the process namespace of this container"), "NAME"},
		{"kubeconfig", 0, 0, G_OPTION_ARG_FILENAME, &kubeconfig,
		 N_("Kubeconfig file (default: $KUBECONFIG or ~/.kube/config)"), "FILE"},
		{"context", 0, 0, G_OPTION_ARG_STRING, &context, N_("Kubeconfig context"),
		 "CONTEXT"},
		{"force-privileged", 0, 0, G_OPTION_ARG_NONE, &force_privileged,
		 N_("Run agents privileged (where Pod Security allows nothing else)"), NULL},
		{"agent-image", 0, 0, G_OPTION_ARG_STRING, &agent_image,
		 N_("Image of the agent ephemeral containers"), "IMAGE"},
		{"hub-image", 0, 0, G_OPTION_ARG_STRING, &hub_image, N_("Image of the hub"),
		 "IMAGE"},
		{"hub-timeout", 0, 0, G_OPTION_ARG_INT, &hub_timeout,
		 N_("Seconds to wait for the hub to be ready (default 180)"), "SECS"},
		{"interface", 'i', 0, G_OPTION_ARG_STRING, &interface,
		 N_("Interface the agents capture (default eth0)"), "NAME"},
		{"filter", 'f', 0, G_OPTION_ARG_STRING, &filter, N_("Capture filter (BPF)"),
		 "FILTER"},
		{"write", 'w', 0, G_OPTION_ARG_FILENAME, &output,
		 N_("Write pcapng to FILE, or - for stdout"), "FILE"},
		{"envelope", 0, 0, G_OPTION_ARG_STRING, &envelope,
		 N_("How PodScope records are written: exported-pdu (default) or custom"), "KIND"},
		{"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, N_("Log more"), NULL},
		{"open", 0, 0, G_OPTION_ARG_NONE, &run.open,
		 /* TRANSLATORS: help of --open; keep $BROWSER and xdg-open */
		 N_("Print the web viewer's address with its token and open it ($BROWSER or "
		    "xdg-open)"),
		 NULL},
		{"open-port", 0, 0, G_OPTION_ARG_INT, &open_port,
		 /* TRANSLATORS: help of --open-port */
		 N_("Local port of the web viewer's port-forward (default: any free port)"),
		 "PORT"},
		{NULL},
	};

	/* TRANSLATORS: summary of "podscope tap" in Kubernetes mode */
	ctx = g_option_context_new(_("-n NS -l SELECTOR -w FILE|- — tap Kubernetes pods"));
	g_option_context_add_main_entries(ctx, entries, GETTEXT_PACKAGE);
	if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
		pds_cli_print_usage_error("tap", error->message);
		return PDS_CLI_EXIT_USAGE;
	}
	if (output == NULL) {
		pds_cli_print_usage_error("tap", _("-w FILE or -w - (stdout) is required"));
		return PDS_CLI_EXIT_USAGE;
	}
	if (envelope != NULL && g_strcmp0(envelope, "custom") != 0 &&
	    g_strcmp0(envelope, "exported-pdu") != 0) {
		pds_cli_print_usage_error("tap", _("--envelope takes exported-pdu or custom"));
		return PDS_CLI_EXIT_USAGE;
	}
	if (hub_timeout < 0) {
		pds_cli_print_usage_error("tap", _("--hub-timeout must be positive"));
		return PDS_CLI_EXIT_USAGE;
	}
	if (open_port < 0 || open_port > 65535) {
		pds_cli_print_usage_error("tap", _("--open-port takes a port from 0 to 65535"));
		return PDS_CLI_EXIT_USAGE;
	}
	run.open_port = (guint16)open_port;
	if (verbose)
		g_setenv("G_MESSAGES_DEBUG", "PdsKube PdsCli", TRUE);

	if (g_strcmp0(output, "-") == 0) {
		if (isatty(STDOUT_FILENO)) {
			pds_cli_print_error("tap",
					    _("refusing to write pcapng to a terminal; pipe it "
					      "(| tshark -r -) or use -w FILE"));
			return PDS_CLI_EXIT_USAGE;
		}
		fd = dup(STDOUT_FILENO);
		run.output_name = "stdout";
	} else {
		fd = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		run.output_name = output;
	}
	if (fd < 0) {
		g_autofree gchar *msg =
			g_strdup_printf(_("cannot open %s: %s"), output, g_strerror(errno));
		pds_cli_print_error("tap", msg);
		return PDS_CLI_EXIT_FAILURE;
	}
	out = g_unix_output_stream_new(fd, TRUE);

	options.kubeconfig = kubeconfig;
	options.context = context;
	options.namespace_ = namespace_;
	options.all_namespaces = all_namespaces;
	options.selector = selector;
	options.pod_regex = pod;
	options.container = container;
	options.filter = filter;
	options.interface = interface;
	options.agent_image = agent_image;
	options.hub_image = hub_image;
	options.force_privileged = force_privileged;
	options.envelope = g_strcmp0(envelope, "custom") == 0 ? PDS_KUBE_ENVELOPE_CUSTOM
							      : PDS_KUBE_ENVELOPE_EXPORTED_PDU;
	options.hub_timeout_secs = (guint)hub_timeout;
	session = pds_kube_session_new(&options);
	if (!pds_kube_session_run(session, out, pds_cli_kube_started, &run, &error)) {
		g_output_stream_close(out, NULL, NULL);
		if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
			g_printerr("podscope: %s\n", error->message);
			return PDS_CLI_EXIT_FAILURE;
		}
		pds_cli_print_error("tap", error->message);
		return PDS_CLI_EXIT_FAILURE;
	}
	g_output_stream_close(out, NULL, NULL);
	g_printerr("podscope: wrote %" G_GUINT64_FORMAT " bytes to %s\n",
		   pds_kube_session_get_bytes_streamed(session), run.output_name);
	return PDS_CLI_EXIT_OK;
}

int
pds_cli_kube_clean_main(int argc, char **argv)
{
	g_autofree gchar *kubeconfig = NULL;
	g_autofree gchar *context = NULL;
	gboolean all = FALSE;
	g_autoptr(GOptionContext) ctx = NULL;
	g_autoptr(GError) error = NULL;
	guint n = 0;
	const GOptionEntry entries[] = {
		{"kubeconfig", 0, 0, G_OPTION_ARG_FILENAME, &kubeconfig,
		 N_("Kubeconfig file (default: $KUBECONFIG or ~/.kube/config)"), "FILE"},
		{"context", 0, 0, G_OPTION_ARG_STRING, &context, N_("Kubeconfig context"),
		 "CONTEXT"},
		{"all", 0, 0, G_OPTION_ARG_NONE, &all,
		 N_("Delete every PodScope session, also those whose controller still runs"), NULL},
		{NULL},
	};

	/* TRANSLATORS: summary of "podscope clean" */
	ctx = g_option_context_new(_("— remove PodScope sessions whose controller is gone"));
	g_option_context_add_main_entries(ctx, entries, GETTEXT_PACKAGE);
	if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
		pds_cli_print_usage_error("clean", error->message);
		return PDS_CLI_EXIT_USAGE;
	}
	if (!pds_kube_clean(kubeconfig, context, all, NULL, NULL, &n, &error)) {
		pds_cli_print_error("clean", error->message);
		return PDS_CLI_EXIT_FAILURE;
	}
	return PDS_CLI_EXIT_OK;
}

int
pds_cli_kube_tap_dispatch(int argc, char **argv)
{
	if (pds_cli_kube_wants_kube(argc, argv))
		return pds_cli_kube_tap_main(argc, argv);
	return pds_cli_tap_main(argc, argv);
}
