/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "PdsHub"

#include "pds-hub-viewer.h"

#include "pds-hub-viewer-resources.h"

#define PDS_HUB_VIEWER_PREFIX "/org/podscope/viewer/"

static const struct {
	const char *path;
	const char *file;
	const char *content_type;
} viewer_files[] = {
	{"/", "index.html", "text/html; charset=utf-8"},
	{"/index.html", "index.html", "text/html; charset=utf-8"},
	{"/viewer/viewer.js", "viewer.js", "text/javascript; charset=utf-8"},
	{"/viewer/viewer.css", "viewer.css", "text/css; charset=utf-8"},
};

gboolean
pds_hub_viewer_serve(SoupServerMessage *msg, const char *path)
{
	SoupMessageHeaders *headers;
	const char *method = soup_server_message_get_method(msg);
	g_autofree gchar *resource_path = NULL;
	g_autoptr(GBytes) bytes = NULL;
	g_autoptr(GError) error = NULL;
	guint i;

	for (i = 0; i < G_N_ELEMENTS(viewer_files); i++) {
		if (g_strcmp0(path, viewer_files[i].path) == 0)
			break;
	}
	if (i == G_N_ELEMENTS(viewer_files))
		return FALSE;

	headers = soup_server_message_get_response_headers(msg);
	if (g_strcmp0(method, "GET") != 0 && g_strcmp0(method, "HEAD") != 0) {
		soup_message_headers_replace(headers, "Allow", "GET, HEAD");
		soup_server_message_set_status(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, NULL);
		return TRUE;
	}
	/* Linked from a static library: ask for the resource by name, so its
	 * object file is kept, instead of relying on its constructor. */
	resource_path = g_strconcat(PDS_HUB_VIEWER_PREFIX, viewer_files[i].file, NULL);
	bytes = g_resource_lookup_data(pds_hub_viewer_get_resource(), resource_path,
				       G_RESOURCE_LOOKUP_FLAGS_NONE, &error);
	if (bytes == NULL) {
		g_warning("viewer: %s missing from the hub's resources: %s", resource_path,
			  error->message);
		soup_server_message_set_status(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, NULL);
		return TRUE;
	}
	/* Only our own files run; the data API is the only place it talks to.
	 * The token lives in the fragment, which never leaves the browser, and
	 * no-referrer keeps the page's address out of any other request. */
	soup_message_headers_replace(headers, "Content-Security-Policy",
				     "default-src 'none'; script-src 'self'; style-src 'self'; "
				     "img-src 'self' data:; connect-src 'self'; "
				     "frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
	soup_message_headers_replace(headers, "Referrer-Policy", "no-referrer");
	soup_message_headers_replace(headers, "X-Content-Type-Options", "nosniff");
	soup_message_headers_replace(headers, "Cache-Control", "no-cache");
	soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
	soup_server_message_set_response(msg, viewer_files[i].content_type, SOUP_MEMORY_COPY,
					 g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
	return TRUE;
}
