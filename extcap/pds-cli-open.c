/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "PdsCli"

#include "pds-cli-open.h"

#include <glib/gi18n.h>

gchar *
pds_cli_open_viewer_url(guint port, const char *token)
{
	g_return_val_if_fail(token != NULL, NULL);
	/* The fragment never leaves the browser: the page reads the token from
	 * it and keeps it in memory. */
	return g_strdup_printf("http://127.0.0.1:%u/#token=%s", port, token);
}

/* argv of the browser command: $BROWSER may hold arguments and a %s for the URL. */
static GStrv
pds_cli_open_browser_argv(const char *browser, const char *url, GError **error)
{
	g_auto(GStrv) words = NULL;
	g_autoptr(GStrvBuilder) b = g_strv_builder_new();
	gboolean placed = FALSE;

	if (!g_shell_parse_argv(browser, NULL, &words, error))
		return NULL;
	for (guint i = 0; words[i] != NULL; i++) {
		if (g_str_equal(words[i], "%s")) {
			g_strv_builder_add(b, url);
			placed = TRUE;
		} else {
			g_strv_builder_add(b, words[i]);
		}
	}
	if (!placed)
		g_strv_builder_add(b, url);
	return g_strv_builder_end(b);
}

void
pds_cli_open_viewer(const char *url)
{
	const char *browser = g_getenv("BROWSER");
	g_auto(GStrv) argv = NULL;
	g_autoptr(GError) error = NULL;

	g_return_if_fail(url != NULL);
	/* TRANSLATORS: %s is the address of the web viewer, with its token */
	g_printerr(_("Web viewer: %s\n"), url);

	if (browser != NULL && browser[0] != '\0') {
		argv = pds_cli_open_browser_argv(browser, url, &error);
	} else if (g_getenv("DISPLAY") != NULL || g_getenv("WAYLAND_DISPLAY") != NULL) {
		const char *xdg[] = {"xdg-open", url, NULL};
		argv = g_strdupv((GStrv)xdg);
	} else {
		return;
	}
	if (argv == NULL || argv[0] == NULL ||
	    !g_spawn_async(NULL, argv, NULL,
			   G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL |
				   G_SPAWN_STDIN_FROM_DEV_NULL,
			   NULL, NULL, NULL, &error)) {
		/* TRANSLATORS: %s are the browser command and the reason */
		g_printerr(_("Cannot start a browser (%s): %s; open the address above yourself.\n"),
			   argv != NULL && argv[0] != NULL ? argv[0] : browser,
			   error != NULL ? error->message : _("empty command"));
	}
}
