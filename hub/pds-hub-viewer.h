/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The web viewer's static files (data/viewer, compiled into the hub as a
 * GResource so the binary is self-contained). They hold no session data and
 * are served without the bearer token: a browser navigation cannot send an
 * Authorization header. The page takes the token from its URL fragment and
 * sends it with every data request.
 */
#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

/* TRUE when @path is a viewer file ("/", "/index.html", "/viewer/…") and the
 * response was set (200, or 405 for a method other than GET/HEAD). */
gboolean pds_hub_viewer_serve(SoupServerMessage *msg, const char *path);

G_END_DECLS
