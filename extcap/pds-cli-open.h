/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podscope tap --open: the web viewer's address with the session token in
 * its fragment, printed on stderr and handed to a browser.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* "http://127.0.0.1:PORT/#token=TOKEN" */
gchar *pds_cli_open_viewer_url(guint port, const char *token);

/*
 * Prints "Web viewer: URL" on stderr, then runs $BROWSER URL when BROWSER is
 * set, else xdg-open URL when there is a display (DISPLAY or
 * WAYLAND_DISPLAY), else nothing more. The browser's stdout goes to
 * /dev/null: ours may carry pcapng.
 */
void pds_cli_open_viewer(const char *url);

G_END_DECLS
