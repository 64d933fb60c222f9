/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "PdsSnoop"

#include <string.h>

#include "pds-snoop-path.h"

/* Appends the components of @path to @parts, applying "." and "..". */
static void
pds_snoop_path_push(GPtrArray *parts, const char *path)
{
	g_auto(GStrv) comps = g_strsplit(path, "/", -1);

	for (guint i = 0; comps[i] != NULL; i++) {
		const char *c = comps[i];

		if (c[0] == '\0' || g_strcmp0(c, ".") == 0)
			continue;
		if (g_strcmp0(c, "..") == 0) {
			/* ".." at the root stays at the root, as the kernel does. */
			if (parts->len > 0)
				g_ptr_array_remove_index(parts, parts->len - 1);
			continue;
		}
		g_ptr_array_add(parts, g_strdup(c));
	}
}

gchar *
pds_snoop_path_normalize(const char *base, const char *path)
{
	g_autoptr(GPtrArray) parts = g_ptr_array_new_with_free_func(g_free);
	GString *out;

	g_return_val_if_fail(path != NULL, NULL);

	if (path[0] != '/') {
		if (base == NULL || base[0] != '/')
			return NULL;
		pds_snoop_path_push(parts, base);
	}
	pds_snoop_path_push(parts, path);

	out = g_string_new(NULL);
	for (guint i = 0; i < parts->len; i++) {
		g_string_append_c(out, '/');
		g_string_append(out, g_ptr_array_index(parts, i));
	}
	if (out->len == 0)
		g_string_append_c(out, '/');
	return g_string_free(out, FALSE);
}

gboolean
pds_snoop_path_has_prefix(const char *path, const char *prefix)
{
	gsize n = strlen(prefix);

	while (n > 1 && prefix[n - 1] == '/')
		n--;
	if (n == 1 && prefix[0] == '/')
		return path[0] == '/';
	if (strncmp(path, prefix, n) != 0)
		return FALSE;
	return path[n] == '\0' || path[n] == '/';
}

gboolean
pds_snoop_path_is_excluded(const char *path, const char *const *prefixes)
{
	if (prefixes == NULL)
		return FALSE;
	for (guint i = 0; prefixes[i] != NULL; i++) {
		if (pds_snoop_path_has_prefix(path, prefixes[i]))
			return TRUE;
	}
	return FALSE;
}
