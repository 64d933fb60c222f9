/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "PdsHub"

#include <glib-unix.h>
#include <glib/gi18n.h>
#include <locale.h>
#include <stdlib.h>

#include "pds-hub.h"

static gboolean
pds_hub_main_quit_cb(gpointer user_data)
{
	GMainLoop *loop = user_data;
	g_message("signal received, shutting down");
	g_main_loop_quit(loop);
	return G_SOURCE_CONTINUE;
}

static gboolean
pds_hub_parse_size(const char *text, guint64 *out, GError **error)
{
	gchar *end = NULL;
	guint64 value;
	guint64 mult = 1;

	value = g_ascii_strtoull(text, &end, 10);
	if (end == text) {
		g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
			    "\"%s\" is not a size in bytes (suffixes K, M, G allowed)", text);
		return FALSE;
	}
	if (g_ascii_strcasecmp(end, "k") == 0 || g_ascii_strcasecmp(end, "kib") == 0)
		mult = 1024;
	else if (g_ascii_strcasecmp(end, "m") == 0 || g_ascii_strcasecmp(end, "mib") == 0)
		mult = 1024 * 1024;
	else if (g_ascii_strcasecmp(end, "g") == 0 || g_ascii_strcasecmp(end, "gib") == 0)
		mult = 1024 * 1024 * 1024;
	else if (*end != '\0') {
		g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
			    "\"%s\" is not a size in bytes (suffixes K, M, G allowed)", text);
		return FALSE;
	}
	*out = value * mult;
	return TRUE;
}

int
main(int argc, char **argv)
{
	g_autofree gchar *data_dir = NULL;
	g_autofree gchar *ca = NULL;
	g_autofree gchar *cert = NULL;
	g_autofree gchar *key = NULL;
	g_autofree gchar *token_file = NULL;
	g_autofree gchar *ingest = NULL;
	g_autofree gchar *api = NULL;
	g_autofree gchar *chunk_size = NULL;
	g_autofree gchar *retention = NULL;
	g_autofree gchar *ring_size = NULL;
	g_autofree gchar *ready_file = NULL;
	g_autofree gchar *ca_key = NULL;
	g_autofree gchar *join_secret_file = NULL;
	g_auto(GStrv) names = NULL;
	gboolean verbose = FALSE;
	g_autofree gchar *token = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GOptionContext) context = NULL;
	g_autoptr(GMainLoop) loop = NULL;
	g_autoptr(PdsHub) hub = NULL;
	PdsHubConfig config = {0};
	const GOptionEntry entries[] = {
		{"data-dir", 0, 0, G_OPTION_ARG_FILENAME, &data_dir,
		 N_("Directory for pcapng chunk files"), "DIR"},
		{"ca", 0, 0, G_OPTION_ARG_FILENAME, &ca,
		 N_("Session CA certificate; source certificates must chain to it"), "CA.crt"},
		{"cert", 0, 0, G_OPTION_ARG_FILENAME, &cert, N_("Hub certificate"), "HUB.crt"},
		{"key", 0, 0, G_OPTION_ARG_FILENAME, &key, N_("Hub private key"), "HUB.key"},
		{"token-file", 0, 0, G_OPTION_ARG_FILENAME, &token_file,
		 N_("File holding the API bearer token"), "FILE"},
		{"ingest", 0, 0, G_OPTION_ARG_STRING, &ingest,
		 N_("Address for sources (default 0.0.0.0:7443; port 0 picks one)"), "ADDR:PORT"},
		{"api", 0, 0, G_OPTION_ARG_STRING, &api,
		 N_("Address for the API (default 0.0.0.0:8080; port 0 picks one)"), "ADDR:PORT"},
		{"chunk-size", 0, 0, G_OPTION_ARG_STRING, &chunk_size,
		 N_("Start a new chunk file after this many bytes (default 64M)"), "BYTES"},
		{"retention", 0, 0, G_OPTION_ARG_STRING, &retention,
		 N_("Keep at most this many bytes of chunk files (default 1G)"), "BYTES"},
		{"ring-size", 0, 0, G_OPTION_ARG_STRING, &ring_size,
		 N_("RAM ring size (default 256M)"), "BYTES"},
		{"name", 0, 0, G_OPTION_ARG_STRING_ARRAY, &names,
		 N_("Name an address in every capture (repeatable)"), "IP=NAME"},
		{"ready-file", 0, 0, G_OPTION_ARG_FILENAME, &ready_file,
		 N_("Write the listening ports as JSON here once ready"), "PATH"},
		{"ca-key", 0, 0, G_OPTION_ARG_FILENAME, &ca_key,
		 N_("Session CA private key: sign the certificates of joining sources"), "CA.key"},
		{"join-secret-file", 0, 0, G_OPTION_ARG_FILENAME, &join_secret_file,
		 N_("File holding the secret join tokens are signed with"), "FILE"},
		{"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, N_("Log more"), NULL},
		{NULL},
	};

	setlocale(LC_ALL, "");
	bindtextdomain(GETTEXT_PACKAGE, LOCALEDIR);
	bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
	textdomain(GETTEXT_PACKAGE);

	/* TRANSLATORS: summary of podscope-hub --help */
	context = g_option_context_new(_("- store and serve PodScope captures"));
	g_option_context_add_main_entries(context, entries, GETTEXT_PACKAGE);
	if (!g_option_context_parse(context, &argc, &argv, &error)) {
		g_printerr("podscope-hub: %s\n", error->message);
		return 1;
	}
	if (data_dir == NULL || ca == NULL || cert == NULL || key == NULL || token_file == NULL) {
		/* TRANSLATORS: the option names are literal */
		g_printerr("podscope-hub: %s\n",
			   _("--data-dir, --ca, --cert, --key and --token-file are required"));
		return 1;
	}
	if (verbose)
		g_setenv("G_MESSAGES_DEBUG", "PdsHub", FALSE);

	if (!g_file_get_contents(token_file, &token, NULL, &error)) {
		g_printerr("podscope-hub: cannot read the API token: %s\n", error->message);
		return 1;
	}
	g_strstrip(token);
	if (token[0] == '\0') {
		g_printerr("podscope-hub: the token file %s is empty\n", token_file);
		return 1;
	}

	config.data_dir = g_strdup(data_dir);
	config.ca_path = g_strdup(ca);
	config.cert_path = g_strdup(cert);
	config.key_path = g_strdup(key);
	config.token = g_strdup(token);
	config.ingest_address = g_strdup(ingest != NULL ? ingest : "0.0.0.0:7443");
	config.api_address = g_strdup(api != NULL ? api : "0.0.0.0:8080");
	config.chunk_size = 64 * 1024 * 1024;
	config.retention = 1024 * 1024 * 1024;
	config.ring_size = 256 * 1024 * 1024;
	config.names = g_strdupv(names);
	config.ca_key_path = g_strdup(ca_key);
	config.join_secret_path = g_strdup(join_secret_file);
	if ((chunk_size != NULL && !pds_hub_parse_size(chunk_size, &config.chunk_size, &error)) ||
	    (retention != NULL && !pds_hub_parse_size(retention, &config.retention, &error)) ||
	    (ring_size != NULL && !pds_hub_parse_size(ring_size, &config.ring_size, &error))) {
		g_printerr("podscope-hub: %s\n", error->message);
		pds_hub_config_clear(&config);
		return 1;
	}

	hub = pds_hub_new(&config, &error);
	pds_hub_config_clear(&config);
	if (hub == NULL || !pds_hub_start(hub, &error)) {
		g_printerr("podscope-hub: %s\n", error->message);
		return 1;
	}
	if (ready_file != NULL && !pds_hub_write_ready_file(hub, ready_file, &error)) {
		g_printerr("podscope-hub: %s\n", error->message);
		return 1;
	}

	loop = g_main_loop_new(NULL, FALSE);
	g_unix_signal_add(SIGINT, pds_hub_main_quit_cb, loop);
	g_unix_signal_add(SIGTERM, pds_hub_main_quit_cb, loop);
	g_main_loop_run(loop);
	pds_hub_stop(hub);
	return 0;
}
