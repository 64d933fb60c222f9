/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "PdsAgent"

#include <gio/gio.h>
#include <glib-unix.h>
#include <glib/gi18n.h>
#include <locale.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "pds-agent.h"

typedef struct {
	GMainLoop *loop;
	PdsAgent *agent;
	int status;
	guint stop_timeout_id;
} PdsAgentMain;

/*
 * A safety net: pds_agent_stop() itself waits a bounded time for the hub to
 * take what is queued; this only covers a main loop that never gets back.
 */
#define PDS_AGENT_MAIN_FLUSH_SECS 15

static gboolean
pds_agent_main_on_flush_timeout(gpointer user_data)
{
	PdsAgentMain *self = user_data;
	self->stop_timeout_id = 0;
	g_warning("the hub did not take the last blocks within %d s; exiting anyway",
		  PDS_AGENT_MAIN_FLUSH_SECS);
	g_main_loop_quit(self->loop);
	return G_SOURCE_REMOVE;
}

static void
pds_agent_main_on_stopped(PdsAgent *agent, gpointer user_data)
{
	PdsAgentMain *self = user_data;
	g_clear_handle_id(&self->stop_timeout_id, g_source_remove);
	g_main_loop_quit(self->loop);
}

static gboolean
pds_agent_main_on_signal(gpointer user_data)
{
	PdsAgentMain *self = user_data;

	if (self->stop_timeout_id != 0) {
		/* A second signal: stop waiting for the hub. */
		g_main_loop_quit(self->loop);
		return G_SOURCE_CONTINUE;
	}
	g_info("stopping: flushing to the hub");
	self->status = EXIT_SUCCESS;
	self->stop_timeout_id = g_timeout_add_seconds(PDS_AGENT_MAIN_FLUSH_SECS,
						      pds_agent_main_on_flush_timeout, self);
	pds_agent_stop(self->agent);
	return G_SOURCE_CONTINUE;
}

static void
pds_agent_main_on_given_up(PdsAgent *agent, gpointer user_data)
{
	PdsAgentMain *self = user_data;
	g_printerr("podscope-agent: %s\n",
		   /* TRANSLATORS: the agent exits because its hub is unreachable */
		   _("the hub has been unreachable for longer than the grace period; exiting"));
	self->status = 2;
	g_main_loop_quit(self->loop);
}

static void
pds_agent_main_on_failed(PdsAgent *agent, const char *message, gpointer user_data)
{
	PdsAgentMain *self = user_data;
	g_printerr("podscope-agent: %s\n", message);
	self->status = EXIT_FAILURE;
	/* What was captured before the failure still goes to the hub. */
	pds_agent_stop(self->agent);
	g_main_loop_quit(self->loop);
}

/* Flags win; the environment fills what they left unset. */
static void
pds_agent_main_env_fallback(gchar **value, const char *env)
{
	const char *v;
	if (*value != NULL)
		return;
	v = g_getenv(env);
	if (v != NULL && v[0] != '\0')
		*value = g_strdup(v);
}

/* BYTES, or with a binary suffix: 64M, 512K, 1G (KiB/MiB/GiB also read). */
static gboolean
pds_agent_main_parse_size(
	const char *text, const char *what, guint64 max, guint64 *out, GError **error)
{
	g_autofree gchar *digits = g_strdup(text);
	guint64 mult = 1;
	guint64 v;
	gsize n = strspn(digits, "0123456789");
	const char *suffix = text + n;

	if (n > 0 && suffix[0] != '\0') {
		switch (g_ascii_toupper(suffix[0])) {
		case 'K':
			mult = G_GUINT64_CONSTANT(1) << 10;
			break;
		case 'M':
			mult = G_GUINT64_CONSTANT(1) << 20;
			break;
		case 'G':
			mult = G_GUINT64_CONSTANT(1) << 30;
			break;
		default:
			mult = 0;
			break;
		}
		if (mult == 0 || (suffix[1] != '\0' && g_ascii_strcasecmp(suffix + 1, "iB") != 0 &&
				  g_ascii_strcasecmp(suffix + 1, "B") != 0)) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				    "invalid %s '%s': expected bytes, optionally with K, M or G",
				    what, text);
			return FALSE;
		}
		digits[n] = '\0';
	}
	if (!g_ascii_string_to_unsigned(digits, 10, 1, G_MAXUINT64 / mult, &v, error)) {
		g_prefix_error(error, "invalid %s '%s': ", what, text);
		return FALSE;
	}
	if (v * mult > max) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "invalid %s '%s': at most %" G_GUINT64_FORMAT " bytes", what, text,
			    max);
		return FALSE;
	}
	*out = v * mult;
	return TRUE;
}

int
main(int argc, char **argv)
{
	g_autofree gchar *hub = NULL;
	g_autofree gchar *ca = NULL;
	g_autofree gchar *cert = NULL;
	g_autofree gchar *key = NULL;
	g_autofree gchar *join_token = NULL;
	g_autofree gchar *ca_fingerprint = NULL;
	g_autofree gchar *interface = NULL;
	g_autofree gchar *netns = NULL;
	g_autofree gchar *filter = NULL;
	g_autofree gchar *namespace_ = NULL;
	g_autofree gchar *pod = NULL;
	g_autofree gchar *node = NULL;
	g_autofree gchar *snaplen = NULL;
	g_autofree gchar *buffer_size = NULL;
	g_autofree gchar *spool_limit = NULL;
	gint grace = PDS_AGENT_DEFAULT_GRACE_SECS;
	gint stats_interval = PDS_AGENT_DEFAULT_STATS_INTERVAL;
	gint buffer_timeout = PDS_AGENT_DEFAULT_BUFFER_TIMEOUT_MS;
	gboolean no_analyze = FALSE;
	gboolean verbose = FALSE;
	gboolean version = FALSE;
	guint64 snaplen_v = 0, buffer_v = 0, spool_v = 0;
	g_autoptr(GOptionContext) context = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GMainLoop) loop = NULL;
	g_autoptr(PdsAgent) agent = NULL;
	PdsAgentConfig config = {0};
	PdsAgentMain state = {0};
	const GOptionEntry entries[] = {
		{"hub", 0, 0, G_OPTION_ARG_STRING, &hub, N_("Hub ingest address"), "HOST:PORT"},
		{"ca", 0, 0, G_OPTION_ARG_FILENAME, &ca, N_("Session CA certificate"), "CA.crt"},
		{"cert", 0, 0, G_OPTION_ARG_FILENAME, &cert, N_("Client certificate"), "AGENT.crt"},
		{"key", 0, 0, G_OPTION_ARG_FILENAME, &key, N_("Client private key"), "AGENT.key"},
		{"join-token", 0, 0, G_OPTION_ARG_STRING, &join_token,
		 N_("Without --cert/--key: get a certificate from the hub with this single-use "
		    "token"),
		 "TOKEN"},
		{"ca-fingerprint", 0, 0, G_OPTION_ARG_STRING, &ca_fingerprint,
		 N_("With --join-token: the session CA's fingerprint to pin"), "sha256:HEX"},
		{"interface", 'i', 0, G_OPTION_ARG_STRING, &interface,
		 N_("Interface to capture on (default eth0; 'any' for all)"), "IFACE"},
		{"netns", 0, 0, G_OPTION_ARG_FILENAME, &netns,
		 N_("Capture inside this network namespace (/run/netns/NAME or a path)"),
		 "NAME|PATH"},
		{"filter", 'f', 0, G_OPTION_ARG_STRING, &filter, N_("Capture filter (BPF syntax)"),
		 "BPF"},
		{"snaplen", 0, 0, G_OPTION_ARG_STRING, &snaplen,
		 N_("Bytes kept of each packet (default 262144)"), "BYTES"},
		{"buffer-size", 0, 0, G_OPTION_ARG_STRING, &buffer_size,
		 N_("Kernel capture buffer (default 64 MiB)"), "BYTES"},
		{"buffer-timeout", 0, 0, G_OPTION_ARG_INT, &buffer_timeout,
		 N_("Hand packets over in blocks at least every MS milliseconds (default 10; "
		    "0 = immediate mode, one by one)"),
		 "MS"},
		{"spool-limit", 0, 0, G_OPTION_ARG_STRING, &spool_limit,
		 N_("Bytes kept while the hub is away (default 64 MiB)"), "BYTES"},
		{"grace", 0, 0, G_OPTION_ARG_INT, &grace,
		 N_("Exit after the hub has been away this long (default 60)"), "SECS"},
		{"stats-interval", 0, 0, G_OPTION_ARG_INT, &stats_interval,
		 N_("Seconds between capture statistics (default 2)"), "SECS"},
		{"namespace", 0, 0, G_OPTION_ARG_STRING, &namespace_,
		 N_("Namespace of the captured pod (default \"local\")"), "NS"},
		{"pod", 0, 0, G_OPTION_ARG_STRING, &pod,
		 N_("Name of the captured pod (default: netns name or host name)"), "POD"},
		{"node", 0, 0, G_OPTION_ARG_STRING, &node, N_("Node name (default: host name)"),
		 "NODE"},
		{"no-analyze", 0, 0, G_OPTION_ARG_NONE, &no_analyze,
		 N_("Send packets only, no TCP/TLS/HTTP flow records"), NULL},
		{"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, N_("Log more"), NULL},
		{"version", 0, 0, G_OPTION_ARG_NONE, &version, N_("Print the version and exit"),
		 NULL},
		{NULL},
	};

	setlocale(LC_ALL, "");
	bindtextdomain(GETTEXT_PACKAGE, LOCALEDIR);
	bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
	textdomain(GETTEXT_PACKAGE);

	context = g_option_context_new(NULL);
	g_option_context_set_summary(
		context, _("Capture packets in a network namespace and stream them to a "
			   "podscope hub over mutual TLS.\n\nEvery option can also come from the "
			   "environment: PODSCOPE_HUB, PODSCOPE_CA, PODSCOPE_CERT, PODSCOPE_KEY,\n"
			   "PODSCOPE_JOIN_TOKEN, PODSCOPE_CA_FINGERPRINT, PODSCOPE_INTERFACE, "
			   "PODSCOPE_FILTER, PODSCOPE_NAMESPACE, PODSCOPE_POD, "
			   "PODSCOPE_NODE\n(flags win)."));
	g_option_context_add_main_entries(context, entries, GETTEXT_PACKAGE);
	if (!g_option_context_parse(context, &argc, &argv, &error)) {
		g_printerr("podscope-agent: %s\n", error->message);
		return EXIT_FAILURE;
	}
	if (version) {
		g_print("podscope-agent %s\n", PACKAGE_VERSION);
		return EXIT_SUCCESS;
	}
	if (argc > 1) {
		g_printerr("podscope-agent: unexpected argument '%s'\n", argv[1]);
		return EXIT_FAILURE;
	}
	/* Our own debug messages only, not those of every library underneath. */
	if (verbose)
		g_setenv("G_MESSAGES_DEBUG", "PdsAgent PdsUplink PdsTls", FALSE);
	/*
	 * The hub is always reached directly: without this GIO asks the
	 * desktop's proxy settings (dconf), which a pod does not have.
	 */
	g_setenv("GIO_USE_PROXY_RESOLVER", "dummy", FALSE);

	pds_agent_main_env_fallback(&hub, "PODSCOPE_HUB");
	pds_agent_main_env_fallback(&ca, "PODSCOPE_CA");
	pds_agent_main_env_fallback(&cert, "PODSCOPE_CERT");
	pds_agent_main_env_fallback(&key, "PODSCOPE_KEY");
	pds_agent_main_env_fallback(&join_token, "PODSCOPE_JOIN_TOKEN");
	pds_agent_main_env_fallback(&ca_fingerprint, "PODSCOPE_CA_FINGERPRINT");
	pds_agent_main_env_fallback(&interface, "PODSCOPE_INTERFACE");
	pds_agent_main_env_fallback(&filter, "PODSCOPE_FILTER");
	pds_agent_main_env_fallback(&namespace_, "PODSCOPE_NAMESPACE");
	pds_agent_main_env_fallback(&pod, "PODSCOPE_POD");
	pds_agent_main_env_fallback(&node, "PODSCOPE_NODE");

	if ((snaplen != NULL &&
	     !pds_agent_main_parse_size(snaplen, "--snaplen", 262144, &snaplen_v, &error)) ||
	    (buffer_size != NULL && !pds_agent_main_parse_size(buffer_size, "--buffer-size",
							       G_MAXINT, &buffer_v, &error)) ||
	    (spool_limit != NULL && !pds_agent_main_parse_size(spool_limit, "--spool-limit",
							       G_MAXSIZE, &spool_v, &error))) {
		g_printerr("podscope-agent: %s\n", error->message);
		return EXIT_FAILURE;
	}
	if (grace < 0 || stats_interval < 1 || buffer_timeout < 0) {
		g_printerr("podscope-agent: %s\n",
			   _("--grace and --buffer-timeout must be 0 or more, --stats-interval 1 "
			     "or more"));
		return EXIT_FAILURE;
	}

	config.hub = hub;
	config.ca_path = ca;
	config.cert_path = cert;
	config.key_path = key;
	config.join_token = join_token;
	config.ca_fingerprint = ca_fingerprint;
	config.interface = interface;
	config.netns = netns;
	config.filter = filter;
	config.snaplen = (guint32)snaplen_v;
	config.buffer_size = (guint32)buffer_v;
	config.buffer_timeout_ms = (guint)buffer_timeout;
	config.no_analyze = no_analyze;
	config.spool_limit = (gsize)spool_v;
	config.grace_secs = (guint)grace;
	config.stats_interval = (guint)stats_interval;
	config.namespace_ = namespace_;
	config.pod = pod;
	config.node = node;

	/* A hub that goes away mid-write must be an error, not a kill. */
	signal(SIGPIPE, SIG_IGN);

	agent = pds_agent_new(&config, &error);
	if (agent == NULL) {
		g_printerr("podscope-agent: %s\n", error->message);
		return EXIT_FAILURE;
	}

	loop = g_main_loop_new(NULL, FALSE);
	state.loop = loop;
	state.agent = agent;
	state.status = EXIT_SUCCESS;
	g_signal_connect(agent, "given-up", G_CALLBACK(pds_agent_main_on_given_up), &state);
	g_signal_connect(agent, "failed", G_CALLBACK(pds_agent_main_on_failed), &state);
	g_signal_connect(agent, "stopped", G_CALLBACK(pds_agent_main_on_stopped), &state);
	g_unix_signal_add(SIGINT, pds_agent_main_on_signal, &state);
	g_unix_signal_add(SIGTERM, pds_agent_main_on_signal, &state);

	pds_agent_start(agent);
	g_main_loop_run(loop);
	g_clear_handle_id(&state.stop_timeout_id, g_source_remove);
	return state.status;
}
