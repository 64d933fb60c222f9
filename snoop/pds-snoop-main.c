/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "PdsSnoop"

#include <glib/gi18n.h>
#include <locale.h>

#include "pds-snoop-config.h"
#include "pds-snoop-tools.h"
#include "pds-snoop.h"

static GLogLevelFlags pds_snoop_max_level = G_LOG_LEVEL_MESSAGE;

static GLogWriterOutput
pds_snoop_log_writer(GLogLevelFlags level,
		     const GLogField *fields,
		     gsize n_fields,
		     gpointer user_data)
{
	GLogLevelFlags l = level & G_LOG_LEVEL_MASK;

	/* Lower numeric level = more severe. */
	if (l > pds_snoop_max_level)
		return G_LOG_WRITER_HANDLED;
	return g_log_writer_default(level, fields, n_fields, user_data);
}

static GLogLevelFlags
pds_snoop_level_from_string(const char *s)
{
	if (g_strcmp0(s, "error") == 0)
		return G_LOG_LEVEL_CRITICAL;
	if (g_strcmp0(s, "warning") == 0)
		return G_LOG_LEVEL_WARNING;
	if (g_strcmp0(s, "info") == 0)
		return G_LOG_LEVEL_INFO;
	if (g_strcmp0(s, "debug") == 0)
		return G_LOG_LEVEL_DEBUG;
	return G_LOG_LEVEL_MESSAGE;
}

int
main(int argc, char **argv)
{
	g_autoptr(PdsSnoopConfig) config = NULL;
	g_autoptr(PdsSnoop) snoop = NULL;
	g_autoptr(GError) error = NULL;

	setlocale(LC_ALL, "");
	bindtextdomain(GETTEXT_PACKAGE, LOCALEDIR);
	bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
	textdomain(GETTEXT_PACKAGE);

	if (argc > 1 && pds_snoop_tools_is_command(argv[1]))
		return pds_snoop_tools_main(argc - 1, argv + 1);

	config = pds_snoop_config_new();
	if (!pds_snoop_config_load(config, NULL, &argc, &argv, &error)) {
		g_autofree gchar *help = pds_snoop_config_get_help();

		/* TRANSLATORS: the error names the variable and the form it accepts */
		g_printerr(_("podscope-snoop: %s\n"), error->message);
		g_printerr("%s", help);
		return 2;
	}
	if (argc > 1) {
		g_printerr(_("podscope-snoop: unexpected argument \"%s\"; commands are merge, "
			     "diff, summary and unused\n"),
			   argv[1]);
		return 2;
	}
	pds_snoop_max_level = pds_snoop_level_from_string(config->log_level);
	if (pds_snoop_max_level >= G_LOG_LEVEL_INFO)
		g_log_set_debug_enabled(TRUE);
	g_log_set_writer_func(pds_snoop_log_writer, NULL, NULL);

	snoop = pds_snoop_new(config, &error);
	if (snoop == NULL) {
		g_printerr(_("podscope-snoop: %s\n"), error->message);
		return 1;
	}
	return pds_snoop_run(snoop);
}
